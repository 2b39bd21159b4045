import type { Color } from '../../src/core/names.js'
import type { Release } from '../../src/core/release.js'
import { isContainerOf, planRelease, type ColorContainer } from '../../src/engine/plan.js'

const V1 = 'ghcr.io/acme/web:1'
const V2 = 'ghcr.io/acme/web:2'
const V3 = 'ghcr.io/acme/web:3'

function rel(id: string, color: Color, image: string, instance = id): Release {
  return { id, instance, app: 'web', color, image, configHash: 'h', kind: 'deploy', liveSince: '2026-11-01T00:00:00.000Z', by: {} }
}

function container(color: Color, image: string, running: boolean, releaseId?: string): ColorContainer {
  return { color, exists: true, running, image, releaseId }
}

describe('planRelease: deploy', () => {
  it('starts the first deploy on blue', () => {
    expect(planRelease([], [], { kind: 'deploy', image: V1 })).toEqual({ kind: 'start-new', color: 'blue', image: V1, replicas: 1, why: 'first deploy' })
  })

  it('alternates colors: the new version goes to the color that is not live', () => {
    const onGreen = planRelease([rel('a', 'blue', V1)], [container('blue', V1, true, 'a')], { kind: 'deploy', image: V2 })
    expect(onGreen).toEqual({ kind: 'start-new', color: 'green', image: V2, replicas: 1, why: 'blue is live' })
    const onBlue = planRelease([rel('b', 'green', V2), rel('a', 'blue', V1)], [container('blue', V1, true, 'a'), container('green', V2, true, 'b')], {
      kind: 'deploy',
      image: V3
    })
    expect(onBlue).toEqual({ kind: 'start-new', color: 'blue', image: V3, replicas: 1, why: 'green is live' })
  })

  it('follows the ledger, not which containers happen to exist', () => {
    // a leftover blue container from an earlier failure does not change the target color
    const plan = planRelease([], [container('blue', V3, false)], { kind: 'deploy', image: V1 })
    expect(plan).toMatchObject({ kind: 'start-new', color: 'blue', image: V1 })
  })
})

describe('planRelease: rollback', () => {
  const releases = [rel('b', 'green', V2), rel('a', 'blue', V1)]

  it('reuses the previous container when it still runs: no start', () => {
    const plan = planRelease(releases, [container('blue', V1, true, 'a'), container('green', V2, true, 'b')], { kind: 'rollback' })
    expect(plan).toEqual({
      kind: 'reuse-standby',
      color: 'blue',
      image: V1,
      replicas: 1,
      mustStart: false,
      why: 'the previous version is still running',
      restores: releases[1]
    })
  })

  it('starts the previous container first when it is stopped', () => {
    const plan = planRelease(releases, [container('blue', V1, false, 'a'), container('green', V2, true, 'b')], { kind: 'rollback' })
    expect(plan).toMatchObject({ kind: 'reuse-standby', color: 'blue', image: V1, mustStart: true, why: 'the previous version is stopped' })
  })

  it('starts the previous image again when its container is gone', () => {
    for (const containers of [
      [container('green', V2, true, 'b')],
      [{ color: 'blue', exists: false, running: false } as ColorContainer, container('green', V2, true, 'b')]
    ]) {
      const plan = planRelease(releases, containers, { kind: 'rollback' })
      expect(plan).toMatchObject({ kind: 'start-new', color: 'blue', image: V1, restores: releases[1] })
      expect(plan.why).toMatch(/gone/)
    }
  })

  it('starts the previous image again when the container of that color belongs to another release, even with the same image', () => {
    const other = planRelease(releases, [container('blue', V3, true, 'x'), container('green', V2, true, 'b')], { kind: 'rollback' })
    expect(other).toMatchObject({ kind: 'start-new', color: 'blue', image: V1 })
    const sameImage = planRelease(releases, [container('blue', V1, true, 'x'), container('green', V2, true, 'b')], { kind: 'rollback' })
    expect(sameImage).toMatchObject({ kind: 'start-new', color: 'blue', image: V1 })
  })

  it('matches containers of versions before the ledger (no release label) by image', () => {
    expect(isContainerOf(container('blue', V1, true), rel('a', 'blue', V1))).toBe(true)
    expect(isContainerOf(container('blue', V2, true), rel('a', 'blue', V1))).toBe(false)
    expect(isContainerOf(container('green', V1, true), rel('a', 'blue', V1))).toBe(false)
  })

  it('finds a standby a rollback switched back to by its instance, so a second rollback flips forward', () => {
    // a (blue) -> b (green) -> rollback to a's container: the ledger gets a new entry whose instance is a
    const afterRollback = [rel('c', 'blue', V1, 'a'), rel('b', 'green', V2), rel('a', 'blue', V1)]
    const plan = planRelease(afterRollback, [container('blue', V1, true, 'a'), container('green', V2, true, 'b')], { kind: 'rollback' })
    expect(plan).toMatchObject({ kind: 'reuse-standby', color: 'green', image: V2, restores: afterRollback[1] })
  })

  it('rolls back N releases with to-release: an older release starts again on the idle color', () => {
    const four = [rel('d', 'green', 'web:4'), rel('c', 'blue', V3), rel('b', 'green', V2), rel('a', 'blue', V1)]
    const containers = [container('blue', V3, true, 'c'), container('green', 'web:4', true, 'd')]
    expect(planRelease(four, containers, { kind: 'rollback', toRelease: 1 })).toMatchObject({ kind: 'reuse-standby', color: 'blue', image: V3 })
    expect(planRelease(four, containers, { kind: 'rollback', toRelease: 2 })).toMatchObject({ kind: 'start-new', color: 'blue', image: V2, restores: four[2] })
    expect(planRelease(four, containers, { kind: 'rollback', toRelease: 3 })).toMatchObject({ kind: 'start-new', color: 'blue', image: V1, restores: four[3] })
    const tooFar = planRelease(four, containers, { kind: 'rollback', toRelease: 4 })
    expect(tooFar).toEqual({ kind: 'impossible', why: 'to-release 4 asks for the release 4 back, but the host records only 3 earlier release(s)' })
  })

  it('rolls back to the image given in to-image on the idle color', () => {
    const plan = planRelease(releases, [container('blue', V1, true, 'a'), container('green', V2, true, 'b')], { kind: 'rollback', toImage: V3 })
    expect(plan).toMatchObject({ kind: 'start-new', color: 'blue', image: V3 })
    expect(plan.why).toMatch(/to-image/)
    const fromBlue = planRelease([rel('a', 'blue', V1)], [container('blue', V1, true, 'a')], { kind: 'rollback', toImage: V3 })
    expect(fromBlue).toMatchObject({ kind: 'start-new', color: 'green', image: V3 })
  })

  it('can roll back to a given image on an empty host', () => {
    expect(planRelease([], [], { kind: 'rollback', toImage: V1 })).toMatchObject({ kind: 'start-new', color: 'blue', image: V1 })
  })

  it('is impossible when nothing was deployed, and says why', () => {
    const plan = planRelease([], [], { kind: 'rollback' })
    expect(plan.kind).toBe('impossible')
    expect(plan.why).toBe('nothing has been deployed on this host yet, so there is nothing to roll back to')
  })

  it('is impossible when only one version was deployed, and names it', () => {
    const plan = planRelease([rel('a', 'blue', V1)], [container('blue', V1, true, 'a')], { kind: 'rollback' })
    expect(plan.kind).toBe('impossible')
    expect(plan.why).toContain(V1)
    expect(plan.why).toMatch(/only one version .* no previous version to roll back to/)
  })
})

import type { Color } from '../../src/engine/names.js'
import { planRelease, type ColorContainer } from '../../src/engine/plan.js'
import type { RouteState } from '../../src/engine/state.js'

const V1 = 'ghcr.io/acme/web:1'
const V2 = 'ghcr.io/acme/web:2'
const V3 = 'ghcr.io/acme/web:3'

function live(color: Color, image: string, previous?: { color: Color; image: string }): RouteState {
  return { app: 'web', color, image, deployedAt: '2026-11-01T00:00:00.000Z', previous }
}

function container(color: Color, image: string, running: boolean): ColorContainer {
  return { color, exists: true, running, image }
}

describe('planRelease: deploy', () => {
  it('starts the first deploy on blue', () => {
    expect(planRelease(undefined, [], { kind: 'deploy', image: V1 })).toEqual({ kind: 'start-new', color: 'blue', image: V1, why: 'first deploy' })
  })

  it('alternates colors: the new version goes to the color that is not live', () => {
    const onGreen = planRelease(live('blue', V1), [container('blue', V1, true)], { kind: 'deploy', image: V2 })
    expect(onGreen).toEqual({ kind: 'start-new', color: 'green', image: V2, why: 'blue is live' })
    const onBlue = planRelease(live('green', V2, { color: 'blue', image: V1 }), [container('blue', V1, true), container('green', V2, true)], {
      kind: 'deploy',
      image: V3
    })
    expect(onBlue).toEqual({ kind: 'start-new', color: 'blue', image: V3, why: 'green is live' })
  })

  it('follows the recorded state, not which containers happen to exist', () => {
    // a leftover blue container from an earlier failure does not change the target color
    const plan = planRelease(undefined, [container('blue', V3, false)], { kind: 'deploy', image: V1 })
    expect(plan).toMatchObject({ kind: 'start-new', color: 'blue', image: V1 })
  })
})

describe('planRelease: rollback', () => {
  const state = live('green', V2, { color: 'blue', image: V1 })

  it('reuses the previous container when it still runs: no start', () => {
    const plan = planRelease(state, [container('blue', V1, true), container('green', V2, true)], { kind: 'rollback' })
    expect(plan).toEqual({ kind: 'reuse-standby', color: 'blue', image: V1, mustStart: false, why: 'the previous version is still running' })
  })

  it('starts the previous container first when it is stopped', () => {
    const plan = planRelease(state, [container('blue', V1, false), container('green', V2, true)], { kind: 'rollback' })
    expect(plan).toEqual({ kind: 'reuse-standby', color: 'blue', image: V1, mustStart: true, why: 'the previous version is stopped' })
  })

  it('starts the previous image again when its container is gone', () => {
    for (const containers of [[container('green', V2, true)], [{ color: 'blue', exists: false, running: false } as ColorContainer, container('green', V2, true)]]) {
      const plan = planRelease(state, containers, { kind: 'rollback' })
      expect(plan).toMatchObject({ kind: 'start-new', color: 'blue', image: V1 })
      expect(plan.why).toMatch(/gone/)
    }
  })

  it('starts the previous image again when the container of that color holds another image', () => {
    const plan = planRelease(state, [container('blue', V3, true), container('green', V2, true)], { kind: 'rollback' })
    expect(plan).toMatchObject({ kind: 'start-new', color: 'blue', image: V1 })
  })

  it('rolls back to the image given in to-image on the idle color', () => {
    const plan = planRelease(state, [container('blue', V1, true), container('green', V2, true)], { kind: 'rollback', toImage: V3 })
    expect(plan).toMatchObject({ kind: 'start-new', color: 'blue', image: V3 })
    expect(plan.why).toMatch(/to-image/)
    const fromBlue = planRelease(live('blue', V1), [container('blue', V1, true)], { kind: 'rollback', toImage: V3 })
    expect(fromBlue).toMatchObject({ kind: 'start-new', color: 'green', image: V3 })
  })

  it('can roll back to a given image on an empty host', () => {
    expect(planRelease(undefined, [], { kind: 'rollback', toImage: V1 })).toMatchObject({ kind: 'start-new', color: 'blue', image: V1 })
  })

  it('is impossible when nothing was deployed, and says why', () => {
    const plan = planRelease(undefined, [], { kind: 'rollback' })
    expect(plan.kind).toBe('impossible')
    expect(plan.why).toBe('nothing has been deployed on this host yet, so there is nothing to roll back to')
  })

  it('is impossible when only one version was deployed, and names it', () => {
    const plan = planRelease(live('blue', V1), [container('blue', V1, true)], { kind: 'rollback' })
    expect(plan.kind).toBe('impossible')
    expect(plan.why).toContain(V1)
    expect(plan.why).toMatch(/only one version .* no previous version to roll back to/)
  })
})

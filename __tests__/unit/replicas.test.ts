import type { Config } from '../../src/core/config.js'
import { containerName, replicaOf } from '../../src/core/names.js'
import { ReleaseError, type ReleaseResult } from '../../src/core/outcome.js'
import { planRelease } from '../../src/engine/plan.js'
import { EngineBed, testConfig } from '../support/engine-bed.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'

function configFor(replicas: number, more: Partial<Config> = {}): Config {
  return testConfig({
    proxy: { type: 'haproxy', name: 'cutover-proxy', image: 'haproxy', port: 80, domains: [], drainTimeoutMs: 5000 },
    strategy: { replicas },
    ...more
  })
}

class Bed extends EngineBed {
  constructor() {
    super([V1, V2])
  }

  deploy(image: string, config: Config): Promise<ReleaseResult> {
    return this.engine(config).release({ kind: 'deploy', image })
  }

  rollback(config: Config): Promise<ReleaseResult> {
    return this.engine({ ...config, mode: 'rollback' }).release({ kind: 'rollback' })
  }
}

describe('replica names', () => {
  it('keeps <app>-<color> for replica 1 and numbers the others', () => {
    expect(containerName('web', 'blue')).toBe('web-blue')
    expect(containerName('web', 'blue', 1)).toBe('web-blue')
    expect(containerName('web', 'green', 3)).toBe('web-green-3')
    expect(replicaOf('web', 'green', 'web-green')).toBe(1)
    expect(replicaOf('web', 'green', 'web-green-3')).toBe(3)
    expect(replicaOf('web', 'green', 'web-green-replaced')).toBeUndefined()
    expect(replicaOf('web', 'green', 'web-green-1')).toBeUndefined()
    expect(replicaOf('web', 'blue', 'web-green-2')).toBeUndefined()
    // another app whose name starts like this one
    expect(replicaOf('web', 'blue', 'web-blue-x')).toBeUndefined()
  })
})

describe('replicas in the engine', () => {
  it('deploys N containers per color, gates each, routes to all N and records the size', async () => {
    const bed = new Bed()
    const result = await bed.deploy(V1, configFor(3))
    expect(result.result).toBe('deployed')
    expect(bed.host.state()).toEqual({
      'web-blue': `${V1} running`,
      'web-blue-2': `${V1} running`,
      'web-blue-3': `${V1} running`
    })
    expect(bed.router.route).toMatchObject({ color: 'blue', replicas: 3 })
    expect(bed.ledger.record?.releases[0]).toMatchObject({ color: 'blue', replicas: 3 })
    // every replica was probed before the switch
    for (const n of ['web-blue', 'web-blue-2', 'web-blue-3']) expect(bed.host.restartPolicies.get(n)).toEqual({ Name: 'unless-stopped' })
    expect(bed.log.text()).toMatch(/Started web-blue-3 /)
  })

  it("reading the host asks Docker for a further replica only when the app's listing has it, and lists the app once", async () => {
    const bed = new Bed()
    await bed.deploy(V1, configFor(1))
    await bed.deploy(V2, configFor(1))
    bed.host.inspected.length = 0
    bed.host.calls.length = 0
    await bed.rollback(configFor(1))
    expect(bed.host.inspected.filter(n => /-\d$/.test(n))).toEqual([])
    // The inspect step's one listing (recover and inspect both read it), before the first container is inspected.
    const beforeRecovery = bed.host.calls.slice(0, bed.host.calls.indexOf('inspect'))
    expect(beforeRecovery.filter(c => c === 'listApp')).toHaveLength(1)

    // With three replicas, each further one is inspected (and counted).
    const three = new Bed()
    await three.deploy(V1, configFor(3))
    await three.deploy(V2, configFor(3))
    three.host.inspected.length = 0
    const r = await three.rollback(configFor(3))
    expect(r).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1 })
    expect(three.router.route).toMatchObject({ color: 'blue', replicas: 3 })
    expect(three.host.inspected).toEqual(expect.arrayContaining(['web-blue-2', 'web-blue-3', 'web-green-2', 'web-green-3']))
  })

  it('a replicas-1 release is recorded as before (no replicas field) and named <app>-<color>', async () => {
    const bed = new Bed()
    await bed.deploy(V1, configFor(1))
    expect(Object.keys(bed.host.state())).toEqual(['web-blue'])
    expect(bed.ledger.record?.releases[0].replicas).toBeUndefined()
  })

  it('one unhealthy replica fails the gate: nothing switches, every new replica goes, the live color stays', async () => {
    const bed = new Bed()
    await bed.deploy(V1, configFor(2))
    bed.host.unhealthyNames.add('web-green-2')
    const failed = bed.deploy(V2, configFor(2))
    await expect(failed).rejects.toThrow(ReleaseError)
    await expect(failed).rejects.toThrow(/web-green-2 \(registry.test\/web:2\) did not become healthy: .*blue \(registry.test\/web:1\) is still live/)
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-blue-2': `${V1} running` })
    expect(bed.router.route).toMatchObject({ color: 'blue', replicas: 2 })
  })

  it('rollback restores the previous color at its recorded size, reusing its running replicas', async () => {
    const bed = new Bed()
    await bed.deploy(V1, configFor(3))
    await bed.deploy(V2, configFor(1))
    expect(bed.router.route).toMatchObject({ color: 'green', replicas: 1 })
    const applied = bed.router.applied.length
    const result = await bed.rollback(configFor(1))
    expect(result).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1 })
    expect(bed.router.applied.length).toBe(applied + 1)
    expect(bed.router.route).toMatchObject({ color: 'blue', replicas: 3 })
    expect(bed.ledger.record?.releases[0]).toMatchObject({ color: 'blue', replicas: 3, kind: 'rollback' })
    // reused, not re-created
    expect(bed.log.text().match(/Started web-blue-2 \(/g)).toHaveLength(1)
  })

  it('rollback starts the recorded size again when the standby replicas are gone (keep-previous removed)', async () => {
    const bed = new Bed()
    const removed = (n: number) => configFor(n, { keepPrevious: 'removed' })
    await bed.deploy(V1, removed(2))
    await bed.deploy(V2, removed(3))
    // blue's two replicas were drained and removed
    expect(bed.host.state()).toEqual({ 'web-green': `${V2} running`, 'web-green-2': `${V2} running`, 'web-green-3': `${V2} running` })
    await bed.rollback(removed(3))
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-blue-2': `${V1} running` })
    expect(bed.router.route).toMatchObject({ color: 'blue', replicas: 2 })
  })

  it('keep-previous stopped stops every replica of the old color after the drain', async () => {
    const bed = new Bed()
    await bed.deploy(V1, configFor(2, { keepPrevious: 'stopped' }))
    const result = await bed.deploy(V2, configFor(2, { keepPrevious: 'stopped' }))
    expect(result.standby).toEqual({ color: 'blue', image: V1, state: 'stopped' })
    expect(bed.host.state()).toEqual({
      'web-blue': `${V1} stopped`,
      'web-blue-2': `${V1} stopped`,
      'web-green': `${V2} running`,
      'web-green-2': `${V2} running`
    })
    // a rollback starts the stopped replicas again
    await bed.rollback(configFor(2, { keepPrevious: 'stopped' }))
    expect(bed.host.state()['web-blue-2']).toBe(`${V1} running`)
    expect(bed.router.route).toMatchObject({ color: 'blue', replicas: 2 })
  })

  it('scaling down retires the replicas beyond the new size with the color they belonged to', async () => {
    const bed = new Bed()
    await bed.deploy(V1, configFor(3))
    await bed.deploy(V2, configFor(3))
    // blue (3 x V1) is the standby; the next deploy with 1 replica replaces all three
    await bed.deploy(V1, configFor(1))
    expect(bed.host.state()).toEqual({
      'web-blue': `${V1} running`,
      'web-green': `${V2} running`,
      'web-green-2': `${V2} running`,
      'web-green-3': `${V2} running`
    })
    expect(bed.router.route).toMatchObject({ color: 'blue', replicas: 1 })
  })

  it('the same image at another size is a new release, not "unchanged"', async () => {
    const bed = new Bed()
    await bed.deploy(V1, configFor(1))
    const result = await bed.deploy(V1, configFor(2))
    expect(result.result).toBe('deployed')
    expect(bed.router.route).toMatchObject({ color: 'green', replicas: 2 })
    const again = await bed.deploy(V1, configFor(2))
    expect(again.result).toBe('unchanged')
  })
})

describe('planRelease with replicas', () => {
  const release = (replicas?: number) => ({
    id: 'r1',
    instance: 'r1',
    app: 'web',
    color: 'blue' as const,
    image: V1,
    configHash: 'h',
    kind: 'deploy' as const,
    liveSince: '2026-01-01T00:00:00Z',
    by: {},
    replicas
  })
  const live = { ...release(), id: 'r2', instance: 'r2', color: 'green' as const, image: V2 }

  it('reuses a standby only when it still has its recorded size', () => {
    const standby = (replicas: number) => [{ color: 'blue' as const, exists: true, running: true, releaseId: 'r1', replicas }]
    expect(planRelease([live, release(3)], standby(3), { kind: 'rollback' })).toMatchObject({ kind: 'reuse-standby', replicas: 3 })
    expect(planRelease([live, release(3)], standby(2), { kind: 'rollback' })).toMatchObject({ kind: 'start-new', replicas: 3 })
    expect(planRelease([live, release()], standby(1), { kind: 'rollback', replicas: 4 })).toMatchObject({ kind: 'reuse-standby', replicas: 1 })
  })

  it('deploys and to-image rollbacks use the replicas asked for', () => {
    expect(planRelease([], [], { kind: 'deploy', image: V1, replicas: 4 })).toMatchObject({ kind: 'start-new', replicas: 4 })
    expect(planRelease([live], [], { kind: 'rollback', toImage: V1, replicas: 2 })).toMatchObject({ kind: 'start-new', replicas: 2 })
  })
})

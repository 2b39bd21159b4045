import type { Config } from '../../src/core/config.js'
import { Barrier } from '../../src/fleet/barrier.js'
import { fleetResult } from '../../src/fleet/outcome.js'
import { FleetRollout } from '../../src/fleet/rollout.js'
import type { FleetSettings } from '../../src/inputs/hosts.js'
import { testConfig } from '../support/engine-bed.js'
import { RecordingLog } from '../support/fakes.js'
import { FakeFleetHost as FleetHost } from '../support/fleet-fakes.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const BROKEN = 'registry.test/web:broken'

const config: Config = testConfig({
  proxy: { type: 'nginx', name: 'cutover-proxy', image: 'nginx', port: 80, domains: [], drainTimeoutMs: 0 }
})

class FakeFleetHost extends FleetHost {
  constructor(label: string) {
    super(label, config)
    for (const v of [V1, V2]) this.host.addImage(v, { bootMs: 1500 })
    this.host.addImage(BROKEN, { healthStatus: 500 })
  }
}

let runIds = 0
function fleetOf(n: number, settings: Partial<FleetSettings> = {}) {
  const hosts = Array.from({ length: n }, (_, i) => new FakeFleetHost(`root@h${i + 1}:22`))
  const log = new RecordingLog()
  const rollout = new FleetRollout(hosts, { rollout: 'atomic', batchSize: 1, rollbackOnFailure: true, ...settings }, log, () => `run${++runIds}`)
  return { hosts, rollout, log }
}

async function deployAll(hosts: FakeFleetHost[], image: string): Promise<void> {
  for (const h of hosts) await h.engine({}).release({ kind: 'deploy', image })
}

describe('Barrier', () => {
  it('opens when every participant arrived or left, not before', async () => {
    const b = new Barrier(['a', 'b', 'c'])
    let opened = false
    const a = b.arrive('a').then(() => (opened = true))
    await Promise.resolve()
    b.leave('c')
    await Promise.resolve()
    expect(opened).toBe(false)
    await b.arrive('b')
    await a
    expect(opened).toBe(true)
  })

  it('fails everyone waiting, and everyone arriving later, with the host that failed', async () => {
    const b = new Barrier(['a', 'b', 'c'])
    const a = b.arrive('a')
    b.fail('b', 'image broken')
    await expect(a).rejects.toThrow('b failed (image broken)')
    await expect(b.arrive('c')).rejects.toThrow('b failed (image broken)')
    b.fail('c', 'later')
    expect(b.failure).toEqual({ host: 'b', reason: 'image broken' })
  })

  it('a failure after it opened changes nothing', async () => {
    const b = new Barrier(['a'])
    await b.arrive('a')
    b.fail('a', 'late')
    expect(b.opened).toBe(true)
  })
})

describe('FleetRollout atomic', () => {
  it('switches every host only after all are healthy, to one release id', async () => {
    const { hosts, rollout } = fleetOf(3)
    hosts[2].host.images.set(V1, { ...hosts[2].host.images.get(V1)!, behaviour: { bootMs: 8000 } })
    // At every switch, which hosts have passed their health gate.
    const gatedAtSwitch: boolean[][] = []
    for (const h of hosts) {
      const apply = h.router.apply.bind(h.router)
      h.router.apply = async r => {
        gatedAtSwitch.push(hosts.map(x => x.timeline.steps.some(s => s.name === 'healthy' && s.ok)))
        return apply(r)
      }
    }
    const runs = await rollout.release({ kind: 'deploy', image: V1 })
    expect(runs.map(r => r.result)).toEqual(['deployed', 'deployed', 'deployed'])
    expect(gatedAtSwitch).toEqual(Array(3).fill([true, true, true]))
    expect(hosts.map(h => h.routed)).toEqual(['blue registry.test/web:1', 'blue registry.test/web:1', 'blue registry.test/web:1'])
    const ids = new Set(hosts.map(h => h.ledger.record?.releases[0].id))
    expect(ids.size).toBe(1)
    const result = fleetResult('deploy', runs)
    expect(result.result).toBe('deployed')
    expect(result.hosts?.map(h => h.release)).toEqual([...ids, ...ids, ...ids])
  })

  it('one host whose ledger is missing while the app runs there: no host switches, that host is not touched, the others are put back', async () => {
    const { hosts, rollout } = fleetOf(3)
    await deployAll(hosts, V1)
    hosts[1].ledger.record = undefined
    const before = hosts[1].host.state()
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['cancelled', 'failed', 'cancelled'])
    expect(runs[1].failure?.reason).toContain("is missing on the host, but cutover's containers for web exist: web-blue (running)")
    expect(hosts[1].host.state()).toEqual(before)
    expect(hosts[1].ledger.record).toBeUndefined()
    for (const h of hosts) {
      expect(h.routed).toBe('blue registry.test/web:1')
      expect(h.host.containers.has('web-green')).toBe(false)
    }
    for (const h of [hosts[0], hosts[2]]) expect(h.ledger.record?.releases.map(r => r.image)).toEqual([V1])
  })

  it('one host whose image is broken: no host switches, every new color is removed', async () => {
    const { hosts, rollout } = fleetOf(3)
    await deployAll(hosts, V1)
    hosts[1].host.images.set(V2, { ...hosts[1].host.images.get(BROKEN)! })
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['cancelled', 'failed', 'cancelled'])
    for (const h of hosts) {
      expect(h.routed).toBe('blue registry.test/web:1')
      expect(h.router.applied).toHaveLength(1)
      expect(h.host.containers.has('web-green')).toBe(false)
      expect(h.ledger.record?.releases[0].image).toBe(V1)
      expect(h.ledger.record?.pending).toBeUndefined()
    }
    expect(runs[0].failure?.reason).toContain('Not switched, because root@h2:22 failed (web-green (registry.test/web:2) did not become healthy')
    const result = fleetResult('deploy', runs)
    expect(result.result).toBe('failed')
    expect(result.failure?.reason).toMatch(/^root@h2:22: web-green .* did not become healthy.*Other hosts — root@h1:22, root@h3:22: not switched/)
  })

  it('a switch that fails on one host after others switched: every host is switched back', async () => {
    const { hosts, rollout } = fleetOf(3)
    await deployAll(hosts, V1)
    hosts[2].router.failApply = new Error('admin socket gone')
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['reverted', 'reverted', 'failed'])
    for (const h of hosts) {
      expect(h.routed).toBe('blue registry.test/web:1')
      expect(h.host.containers.has('web-green')).toBe(false)
      expect(h.ledger.record?.releases.map(r => r.image)).toEqual([V1])
    }
    // h1 and h2 did switch to green, then back to blue.
    expect(hosts[0].router.applied.map(r => r.color)).toEqual(['blue', 'green', 'blue'])
    expect(runs[0].failure?.reason).toContain(
      'Switching every host back, because root@h3:22 failed (The proxy could not be switched to green: admin socket gone'
    )
    expect(runs[0].failure?.reason).toContain('green was switched back to blue')
  })

  it('a verify that fails on one host: every host is switched back', async () => {
    const { hosts, rollout } = fleetOf(2)
    await deployAll(hosts, V1)
    hosts[0].router.brokenColor = 'green'
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['failed', 'reverted'])
    expect(hosts.map(h => h.routed)).toEqual(['blue registry.test/web:1', 'blue registry.test/web:1'])
  })

  it('a host where the release is already live leaves the barrier instead of blocking it', async () => {
    const { hosts, rollout } = fleetOf(2)
    await hosts[0].engine({}).release({ kind: 'deploy', image: V1 })
    const runs = await rollout.release({ kind: 'deploy', image: V1 })
    expect(runs.map(r => r.result)).toEqual(['unchanged', 'deployed'])
    expect(fleetResult('deploy', runs).result).toBe('deployed')
  })

  it('rollback across hosts brings every host back to its previous release', async () => {
    const { hosts, rollout } = fleetOf(2)
    await deployAll(hosts, V1)
    await deployAll(hosts, V2)
    const runs = await rollout.release({ kind: 'rollback' })
    expect(runs.map(r => r.result)).toEqual(['rolled-back', 'rolled-back'])
    expect(hosts.map(h => h.routed)).toEqual(['blue registry.test/web:1', 'blue registry.test/web:1'])
  })
})

describe('FleetRollout rolling', () => {
  it('batch-size 1: a failure on the third host stops and rolls the first two back', async () => {
    const { hosts, rollout } = fleetOf(4, { rollout: 'rolling', batchSize: 1 })
    await deployAll(hosts, V1)
    hosts[2].host.images.set(V2, { ...hosts[2].host.images.get(BROKEN)! })
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['reverted', 'reverted', 'failed', 'skipped'])
    expect(hosts.map(h => h.routed)).toEqual(Array(4).fill('blue registry.test/web:1'))
    // The fourth host was never touched.
    expect(hosts[3].router.applied).toHaveLength(1)
    expect(fleetResult('deploy', runs).failure?.reason).toContain('root@h4:22: not started')
  })

  it('each batch switches only after the batch before it verified', async () => {
    const { hosts, rollout } = fleetOf(4, { rollout: 'rolling', batchSize: 2 })
    const order: string[] = []
    for (const h of hosts) {
      const apply = h.router.apply.bind(h.router)
      h.router.apply = async r => {
        order.push(h.label)
        return apply(r)
      }
    }
    const runs = await rollout.release({ kind: 'deploy', image: V1 })
    expect(runs.every(r => r.result === 'deployed')).toBe(true)
    expect(order.slice(0, 2).sort()).toEqual(['root@h1:22', 'root@h2:22'])
    expect(order.slice(2).sort()).toEqual(['root@h3:22', 'root@h4:22'])
  })

  it('rollback-on-failure false: the earlier batches keep the new release', async () => {
    const { hosts, rollout } = fleetOf(2, { rollout: 'rolling', batchSize: 1, rollbackOnFailure: false })
    await deployAll(hosts, V1)
    hosts[1].host.images.set(V2, { ...hosts[1].host.images.get(BROKEN)! })
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['deployed', 'failed'])
    expect(hosts.map(h => h.routed)).toEqual(['green registry.test/web:2', 'blue registry.test/web:1'])
  })
})

describe('status across hosts', () => {
  it('reports drift when hosts run different releases', async () => {
    const { hosts, rollout } = fleetOf(2)
    await deployAll(hosts, V1)
    await hosts[1].engine({}).release({ kind: 'deploy', image: V2 })
    const result = fleetResult('status', await rollout.status())
    expect(result.drift).toBe(true)
    expect(result.hosts?.map(h => h.image)).toEqual([V1, V2])
    // The same image deployed by two separate runs: two releases, still drift.
    await hosts[0].engine({}).release({ kind: 'deploy', image: V2 })
    expect(fleetResult('status', await rollout.status()).drift).toBe(true)
  })

  it('no drift when every host has the release one run deployed', async () => {
    const { rollout } = fleetOf(3)
    await rollout.release({ kind: 'deploy', image: V1 })
    expect(fleetResult('status', await rollout.status()).drift).toBe(false)
  })
})

import type { Config } from '../../src/core/config.js'
import type { Color } from '../../src/core/names.js'
import type { ResponseCounts, VerifyResult } from '../../src/engine/ports.js'
import { MODES } from '../../src/engine/modes.js'
import { fleetResult } from '../../src/fleet/outcome.js'
import { FleetRollout } from '../../src/fleet/rollout.js'
import { testConfig } from '../support/engine-bed.js'
import { FakeRouter, RecordingLog } from '../support/fakes.js'
import { FakeFleetHost } from '../support/fleet-fakes.js'

/** Several hosts get what one host has (issue #20): release-command, canary, preview, maintenance, watch. */

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const BAD_MIGRATION = 'registry.test/web:bad-migration'

const base: Config = testConfig({ proxy: { type: 'haproxy', name: 'cutover-proxy', image: 'haproxy', port: 80, domains: [], drainTimeoutMs: 0 } })

/** A proxy that counts responses (`errorPercent` of the routed color's are 5xx) and serves a maintenance page. */
class StrategyRouter extends FakeRouter {
  errorPercent: Partial<Record<Color, number>> = {}
  maintenanceOn = false
  private totals = { responses: 0, errors: 0 }

  async responseCounts(): Promise<ResponseCounts> {
    const color = this.route?.color
    this.totals.responses += 100
    this.totals.errors += color ? (this.errorPercent[color] ?? 0) : 0
    return { ...this.totals }
  }

  async maintenance(on: boolean): Promise<VerifyResult> {
    this.maintenanceOn = on
    return { ok: true, last: { status: on ? 503 : 200, headers: {}, body: '', ms: 1 }, ms: 1 }
  }
}

class Host extends FakeFleetHost<StrategyRouter> {
  constructor(label: string) {
    super(label, base, host => new StrategyRouter(host))
    for (const v of [V1, V2]) this.host.addImage(v, { bootMs: 1500, runOutput: ['migrated'], runMs: 1000 })
    this.host.addImage(BAD_MIGRATION, { bootMs: 1500, runOutput: ['ERROR'], runExitCode: 2 })
  }
}

let runIds = 0
function fleetOf(n: number, config: Partial<Config> = {}) {
  const hosts = Array.from({ length: n }, (_, i) => new Host(`root@h${i + 1}:22`))
  for (const h of hosts) h.config = { ...base, ...config }
  const log = new RecordingLog()
  const rollout = new FleetRollout(hosts, { rollout: 'atomic', batchSize: 1, rollbackOnFailure: true }, log, () => `run${++runIds}`)
  return { hosts, rollout, log }
}

async function deployAll(hosts: Host[], image: string): Promise<void> {
  for (const h of hosts) await h.engine({}).release({ kind: 'deploy', image })
}

const withConfig = (hosts: Host[], more: Partial<Config>) => hosts.forEach(h => (h.config = { ...h.config, ...more }))

describe('release-command on several hosts', () => {
  const releaseCommand = { command: ['node', 'migrate.js'], timeoutMs: 60_000 }

  it('runs exactly once, on one host, before any host starts the new color; every host then switches', async () => {
    const { hosts, rollout, log } = fleetOf(3)
    await deployAll(hosts, V1)
    withConfig(hosts, { releaseCommand })
    const from = hosts.map(h => h.host.events.length)
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['deployed', 'deployed', 'deployed'])
    const ran = hosts.filter(h => h.host.events.includes('start web-release'))
    expect(ran).toHaveLength(1)
    expect(log.text()).toMatch(/release-command: runs once, on root@h\d:22/)
    // It finished before any host started its new color.
    const done = ran[0].host.events.indexOf('remove web-release', from[hosts.indexOf(ran[0])])
    expect(done).toBeLessThan(ran[0].host.events.indexOf('start web-green', from[hosts.indexOf(ran[0])]))
    for (const h of hosts) expect(h.routed).toBe(`green ${V2}`)
  })

  it('a failing release command stops every host before anything of the new release starts', async () => {
    const { hosts, rollout } = fleetOf(3)
    await deployAll(hosts, V1)
    withConfig(hosts, { releaseCommand })
    const runs = await rollout.release({ kind: 'deploy', image: BAD_MIGRATION })
    expect(runs.filter(r => r.result === 'failed')).toHaveLength(1)
    expect(runs.filter(r => r.result === 'cancelled')).toHaveLength(2)
    for (const h of hosts) {
      expect(h.routed).toBe(`blue ${V1}`)
      expect(h.host.containers.has('web-green')).toBe(false)
    }
    const cancelled = runs.find(r => r.result === 'cancelled')!
    expect(cancelled.failure?.reason).toMatch(/^Not started, because the release command failed on root@h\d:22 \(The release command .* exited with code 2/)
    expect(fleetResult('deploy', runs).result).toBe('failed')
  })
})

describe('canary and preview on several hosts', () => {
  it('canary-weight gives the new color its share on every host, then mode promote switches every host', async () => {
    const { hosts, rollout } = fleetOf(3)
    await deployAll(hosts, V1)
    withConfig(hosts, { strategy: { replicas: 1, canaryWeight: 20 } })
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(fleetResult('deploy', runs).result).toBe('canary')
    for (const h of hosts) expect(h.router.canaryState).toMatchObject({ weight: 20, live: { color: 'blue' }, canary: { color: 'green' } })
    withConfig(hosts, { mode: 'promote', strategy: { replicas: 1 } })
    const promoted = await rollout.mode(MODES.promote, hosts[0].config)
    expect(promoted.map(r => r.result)).toEqual(['deployed', 'deployed', 'deployed'])
    for (const h of hosts) {
      expect(h.router.canaryState).toBeUndefined()
      expect(h.routed).toBe(`green ${V2}`)
      expect(h.ledger.record?.releases[0].image).toBe(V2)
    }
    // One release id on every host's proxy and ledger.
    expect(new Set(hosts.map(h => h.ledger.record?.releases[0].id)).size).toBe(1)
  })

  it('a promote that fails on one host switches no host and ends every canary', async () => {
    const { hosts, rollout } = fleetOf(2)
    await deployAll(hosts, V1)
    withConfig(hosts, { strategy: { replicas: 1, canaryWeight: 20 } })
    await rollout.release({ kind: 'deploy', image: V2 })
    hosts[1].host.unhealthyNames.add('web-green')
    withConfig(hosts, { mode: 'promote', strategy: { replicas: 1 }, health: { ...base.health, timeoutMs: 3000 } })
    const runs = await rollout.mode(MODES.promote, hosts[0].config)
    expect(runs.map(r => r.result)).toEqual(['cancelled', 'failed'])
    for (const h of hosts) {
      expect(h.routed).toBe(`blue ${V1}`)
      expect(h.router.canaryState).toBeUndefined()
      expect(h.ledger.record?.canary).toBeUndefined()
    }
  })

  it('promote manual waits as a preview on every host; mode promote makes it live on all', async () => {
    const { hosts, rollout } = fleetOf(3)
    await deployAll(hosts, V1)
    withConfig(hosts, { strategy: { replicas: 1, promote: 'manual' } })
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(fleetResult('deploy', runs).result).toBe('preview')
    for (const h of hosts) {
      expect(h.routed).toBe(`blue ${V1}`)
      expect(h.ledger.record?.preview?.release.image).toBe(V2)
    }
    const promoted = await rollout.mode(MODES.promote, { ...hosts[0].config, mode: 'promote' })
    expect(fleetResult('promote', promoted)).toMatchObject({ result: 'deployed', previewEnded: 'promoted' })
    for (const h of hosts) expect(h.routed).toBe(`green ${V2}`)
  })
})

describe('maintenance on several hosts', () => {
  it('mode maintenance then mode live change every host', async () => {
    const { hosts, rollout } = fleetOf(3)
    await deployAll(hosts, V1)
    const on = await rollout.mode(MODES.maintenance, { ...base, mode: 'maintenance' })
    expect(fleetResult('maintenance', on).result).toBe('maintenance')
    expect(hosts.map(h => h.router.maintenanceOn)).toEqual([true, true, true])
    const off = await rollout.mode(MODES.live, { ...base, mode: 'live' })
    expect(fleetResult('live', off).result).toBe('live')
    expect(hosts.map(h => h.router.maintenanceOn)).toEqual([false, false, false])
    for (const h of hosts) expect(h.routed).toBe(`blue ${V1}`)
  })
})

describe('watch on several hosts', () => {
  it('a watch that fails on one host rolls every host back', async () => {
    const { hosts, rollout } = fleetOf(3)
    await deployAll(hosts, V1)
    withConfig(hosts, { strategy: { replicas: 1, watch: { durationMs: 20_000, maxErrorRate: 5 } } })
    // Only the second host's new color answers with errors.
    hosts[1].router.errorPercent.green = 30
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['reverted', 'failed', 'reverted'])
    for (const h of hosts) {
      expect(h.routed).toBe(`blue ${V1}`)
      expect(h.ledger.record?.releases[0].image).toBe(V1)
    }
    expect(runs[0].failure?.reason).toMatch(/the watch failed on root@h2:22 .*, so every host rolls back/)
    expect(runs[1].failure?.reason).toMatch(/^watch: .* were 5xx .*rolled back to blue/)
    expect(fleetResult('deploy', runs).result).toBe('failed')
  })

  it('every host whose watch passes waits for the others, then cleans up', async () => {
    const { hosts, rollout } = fleetOf(3)
    await deployAll(hosts, V1)
    withConfig(hosts, { strategy: { replicas: 1, watch: { durationMs: 10_000, maxErrorRate: 5 } } })
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['deployed', 'deployed', 'deployed'])
    for (const h of hosts) expect(h.routed).toBe(`green ${V2}`)
  })
})

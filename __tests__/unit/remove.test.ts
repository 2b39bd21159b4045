/** mode remove and the withdrawal of a failed first deploy's claim (issue #22), against the in-memory fakes. */
import type { Config, SharedService, WorkerRole } from '../../src/core/config.js'
import { MODES } from '../../src/engine/modes.js'
import { fleetResult } from '../../src/fleet/outcome.js'
import { FleetRollout } from '../../src/fleet/rollout.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { appMapKeys, withoutApp } from '../../src/proxy/haproxy-config.js'
import { ALL_BACKENDS_STAT, sessionsOf } from '../../src/proxy/haproxy-stats.js'
import { EngineBed, releaseFailure, testConfig } from '../support/engine-bed.js'
import { RecordingLog } from '../support/fakes.js'
import { FakeFleetHost } from '../support/fleet-fakes.js'
import { inputParser } from '../support/inputs.js'
import { sshKeyPair } from '../support/keys.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const BROKEN = 'registry.test/web:broken'
const DB = 'registry.test/db:16'
const JOBS: WorkerRole = { name: 'jobs', command: ['bin/jobs'] }
const SHARED: SharedService[] = [{ name: 'db', image: DB, env: {}, volumes: ['web_db:/data'], networks: [], labels: {}, dependsOn: [] }]

function config(more: Partial<Config> = {}): Config {
  return testConfig({
    roles: { web: true, workers: [JOBS], minUptimeMs: 0, stopTimeoutMs: 10_000, handover: 'stop-first' },
    compose: { networks: [], sharedUpdate: 'keep' },
    shared: SHARED,
    ...more
  })
}

class Bed extends EngineBed {
  constructor() {
    super([V1, V2])
    this.host.addImage(BROKEN, { healthStatus: 500 })
    this.host.addImage(DB, {})
  }
  deploy(image: string, c = config()) {
    return this.engine(c).release({ kind: 'deploy', image })
  }
  remove(c = config({ mode: 'remove' })) {
    return MODES.remove.run(this.engine(c), c)
  }
}

describe('a failed first deploy leaves no claim on the proxy', () => {
  it('verify fails after the switch: with nothing live to switch back to, the app is taken off the proxy', async () => {
    const bed = new Bed()
    bed.router.brokenColor = 'blue'
    const e = await releaseFailure(bed.deploy(V1))
    expect(bed.router.calls).toContain('apply')
    expect(bed.router.calls).toContain('withdraw')
    expect(bed.router.claimed).toBe(false)
    expect(e.failure.reason).toContain('nothing was live')
    expect(bed.ledger.record?.pending).toBeUndefined()
    expect(bed.log.text()).toContain('took it off the proxy again, so its domains are free')
  })

  it('a failed verify of a later deploy switches back, and never withdraws the live app', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    bed.router.brokenColor = 'green'
    await releaseFailure(bed.deploy(V2))
    expect(bed.router.calls).not.toContain('withdraw')
    expect(bed.router.route?.color).toBe('blue')
  })

  it('the health gate fails: the proxy was never switched, nothing to withdraw', async () => {
    const bed = new Bed()
    await releaseFailure(bed.deploy(BROKEN))
    expect(bed.router.calls).not.toContain('apply')
    expect(bed.router.claimed).toBe(false)
  })

  it('withdrawing fails too: the failure says the domains may still be claimed, and how to free them', async () => {
    const bed = new Bed()
    bed.router.brokenColor = 'blue'
    bed.router.failWithdraw = new Error('admin socket gone')
    const e = await releaseFailure(bed.deploy(V1))
    expect(e.failure.reason).toContain('taking web off the proxy failed too (admin socket gone)')
  })
})

describe('mode remove', () => {
  it('takes the route off the proxy first, drains, then removes containers, workers and networks; keeps the shared service; archives the ledger', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    bed.host.networkApps.set('web-blue_default', 'web')
    bed.host.networks.add('web-blue_default')
    const events = bed.host.events.length
    const sleeps = bed.clock.sleeps.length
    const r = await bed.remove()
    expect(r).toMatchObject({ result: 'removed', previousColor: 'green', previousImage: V2, releases: [] })
    const after = bed.host.events.slice(events)
    // The route goes before any container stops: nothing is sent to a stopping container.
    expect(after[0]).toBe('withdraw')
    expect(after).toContain('stop web-green')
    expect(after).toContain('stop web-blue')
    expect(Object.keys(bed.host.state()).sort()).toEqual(['web-db'])
    // Nothing was in flight: no wait for drain-timeout.
    expect(bed.clock.sleeps.slice(sleeps)).not.toContain(30_000)
    expect(after.indexOf('drained')).toBeLessThan(after.indexOf('stop web-green'))
    expect(bed.router.claimed).toBe(false)
    expect(bed.ledger.record).toBeUndefined()
    expect(bed.ledger.archived?.releases.map(x => x.image)).toEqual([V2, V1])
    // The app's network stays while its shared service is on it; its color network goes.
    expect(bed.host.removedNetworks).toEqual(['web-blue_default'])
    expect(bed.log.text()).toContain('Kept the shared service web-db (and its volumes): remove-data: true removes it too')
    expect(bed.log.text()).toContain('Kept the network cutover-web: web-db still uses it')
  })

  it('remove-data: the shared service and its named volume go too, then the app network', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    bed.host.volumes.add('web_db')
    await bed.remove(config({ mode: 'remove', removeData: true }))
    expect(bed.host.state()).toEqual({})
    expect(bed.host.removedVolumes).toEqual(['web_db'])
    expect(bed.host.removedNetworks).toContain('cutover-web')
  })

  it('a second remove finds nothing and says so (no failure)', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.remove(config({ mode: 'remove', removeData: true }))
    const r = await bed.remove()
    expect(r.result).toBe('removed')
    expect(bed.log.text()).toContain('Nothing of web was on this host: nothing to remove.')
  })

  it('the ledger names another proxy than proxy-name: refused before anything changes', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    const before = bed.host.state()
    const other = config({ mode: 'remove', proxy: { ...testConfig().proxy, name: 'edge-2' } })
    const e = await releaseFailure(bed.remove(other))
    expect(e.failure.reason).toBe(
      'web is routed by the proxy cutover-proxy (its release ledger says so), not edge-2: set proxy-name: cutover-proxy to remove it. Nothing was changed.'
    )
    expect(bed.router.calls).not.toContain('withdraw')
    expect(bed.host.state()).toEqual(before)
  })

  it('a proxy that cannot take the app off: the run fails saying what still serves, and removes nothing', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    bed.router.failWithdraw = new Error('HAProxy refused the new configuration')
    const e = await releaseFailure(bed.remove())
    expect(e.failure.reason).toContain(
      'The proxy could not take web off it: HAProxy refused the new configuration. Its routing is as it was; blue (registry.test/web:1) still serves'
    )
    expect(bed.host.state()['web-blue']).toBe(`${V1} running`)
    expect(bed.ledger.record?.releases[0].image).toBe(V1)
  })

  describe('the drain waits only while requests are in flight, at most drain-timeout', () => {
    async function removed(inFlight: (number | Error)[], inFlightCapability = true) {
      const bed = new Bed()
      await bed.deploy(V1)
      bed.router.inFlight = inFlight
      bed.router.capabilities = { ...bed.router.capabilities, inFlight: inFlightCapability }
      const sleeps = bed.clock.sleeps.length
      await bed.remove()
      const switched = bed.timeline!.steps.find(s => s.name === 'switch')!
      return { bed, sleeps: bed.clock.sleeps.slice(sleeps), switched, stops: bed.host.events.filter(e => e.startsWith('stop ')) }
    }

    it('nothing in flight: the containers stop at once', async () => {
      const { bed, sleeps, switched, stops } = await removed([0])
      expect(bed.router.inFlightAsked).toBe(1)
      expect(sleeps).toEqual([])
      expect(switched.ms).toBe(0)
      expect(switched.detail).toBe('its domains are free; no request in flight')
      expect(bed.log.text()).toContain('No request to web was in flight: nothing to wait for')
      expect(stops).toContain('stop web-blue')
    })

    it('requests in flight that finish: asked every 200 ms until none is left, then the containers stop', async () => {
      const { bed, sleeps, switched, stops } = await removed([3, 1, 1, 0])
      expect(bed.router.inFlightAsked).toBe(4)
      expect(sleeps).toEqual([200, 200, 200])
      expect(switched.ms).toBe(600)
      expect(switched.detail).toBe('its domains are free; requests in flight finished in 600 ms')
      expect(bed.log.text()).toContain('The requests in flight to web finished: waited 600 ms (drain-timeout 30 s)')
      expect(stops).toContain('stop web-blue')
    })

    it('still in flight at drain-timeout: the wait ends at drain-timeout, says so, and the containers stop', async () => {
      const { bed, sleeps, switched, stops } = await removed([2])
      expect(sleeps.reduce((a, b) => a + b, 0)).toBe(30_000)
      expect(Math.max(...sleeps)).toBe(200)
      expect(switched.ms).toBe(30_000)
      expect(switched.detail).toBe('its domains are free; 2 request(s) still in flight at drain-timeout')
      expect(bed.log.text()).toContain('2 request(s) to web still in flight after 30 s (drain-timeout): its containers stop now all the same')
      expect(stops).toContain('stop web-blue')
    })

    it('the proxy stops answering the count: the rest of drain-timeout is waited, with a warning', async () => {
      const { bed, sleeps, switched } = await removed([1, new Error('admin socket gone')])
      expect(sleeps).toEqual([200, 29_800])
      expect(switched.detail).toBe('its domains are free; waited 30 s (drain-timeout)')
      expect(bed.log.text()).toContain(
        'The proxy could not say how many requests to web are in flight (admin socket gone): waiting the 30 s left of drain-timeout'
      )
    })

    it('a router that cannot count requests in flight: the whole drain-timeout, said', async () => {
      const { bed, sleeps, switched } = await removed([0], false)
      expect(bed.router.inFlightAsked).toBe(0)
      expect(sleeps).toEqual([30_000])
      expect(switched.detail).toBe('its domains are free; waited 30 s (drain-timeout)')
      expect(bed.log.text()).toContain('Letting requests in flight to web finish: 30 s (drain-timeout; the proxy cannot count them) before its containers stop')
    })

    it('drain-timeout 0: no drain at all', async () => {
      const bed = new Bed()
      await bed.deploy(V1)
      bed.router.inFlight = [5]
      await bed.remove(config({ mode: 'remove', proxy: { ...testConfig().proxy, drainTimeoutMs: 0 } }))
      expect(bed.router.inFlightAsked).toBe(0)
      expect(bed.host.state()).toEqual({ 'web-db': `${DB} running` })
    })
  })

  it('changes the host (takes the deploy lock) and switches nothing in step with other hosts', () => {
    expect(MODES.remove).toMatchObject({ changes: true, switches: false })
  })
})

describe('a rollback of an app never deployed here', () => {
  it('says there is nothing to roll back to, not that another app is the default server', async () => {
    const bed = new Bed()
    bed.ledger.others = [{ app: 'shop', routing: { proxy: 'cutover-proxy', domains: [] } }]
    const e = await releaseFailure(bed.engine(config({ mode: 'rollback' })).release({ kind: 'rollback' }))
    expect(e.failure.reason).toBe('Cannot roll back web: nothing has been deployed on this host yet, so there is nothing to roll back to.')
  })
})

describe('inputs of mode remove', () => {
  const { parse, errorOf } = inputParser({
    app: 'web',
    host: 'deploy.example.com',
    'ssh-private-key': sshKeyPair().private,
    'insecure-skip-host-key-check': 'true'
  })

  it('mode remove needs no image; remove-data is read', () => {
    expect(parse({ mode: 'remove' })).toMatchObject({ mode: 'remove' })
    expect(parse({ mode: 'remove', 'remove-data': 'true' }).removeData).toBe(true)
  })

  it('remove-data without mode remove is refused', () => {
    expect(errorOf({ image: 'registry.test/web:1', 'remove-data': 'true' })).toBe(
      "Input 'remove-data' only applies to mode remove, not deploy: no data is removed by any other mode"
    )
  })
})

describe('HAProxy maps without an app', () => {
  it("drops the app's domains, wildcards, default claim and preview names; keeps every other app's", () => {
    const maps = {
      domains: '# h\ncutover.default app_web\nshop.test app_shop\nweb.test app_web\npreview.web.test app_web_preview\n',
      wildcards: '# h\n.web.test app_web\n.shop.test app_shop\n'
    }
    const out = withoutApp(maps, 'web')
    expect(out.domains).toBe('# Managed by cutover: host name -> backend.\nshop.test app_shop\n')
    expect(out.wildcards).toBe('# Managed by cutover: host name -> backend.\n.shop.test app_shop\n')
  })
})

describe("HAProxy: the app's requests in flight while it leaves the proxy", () => {
  // The header HAProxy 2.6 answers `show stat` with (a real capture), rows written field by field.
  const header = readFileSync(join(process.cwd(), '__tests__', 'fixtures', 'haproxy-show-stat.csv'), 'utf8').split('\n')[0]
  const fields = header.slice(2).split(',')
  const row = (px: string, sv: string, scur: number) => fields.map(f => (f === 'pxname' ? px : f === 'svname' ? sv : f === 'scur' ? scur : '')).join(',')

  it("counts the current sessions of the app's backend and its preview backend, not its servers' rows nor other apps'", () => {
    const csv = [header, row('app_web', 'BACKEND', 2), row('app_web', 'blue', 2), row('app_web_preview', 'BACKEND', 1), row('app_shop', 'BACKEND', 7), ''].join(
      '\n'
    )
    expect(ALL_BACKENDS_STAT).toBe('show stat -1 2 -1')
    expect(sessionsOf(csv, ['app_web', 'app_web_preview'])).toBe(3)
    expect(sessionsOf(csv, ['app_gone'])).toBe(0)
  })

  it('an answer that is no statistics table is an error, not "nothing in flight"', () => {
    expect(() => sessionsOf('Unknown command.\n', ['app_web'])).toThrow("The proxy's statistics have no header line")
  })

  it("the map keys that route to the app: its domains, wildcards, default claim and preview names, not another app's", () => {
    const domains = '# h\ncutover.default app_web\nshop.test app_shop\nweb.test app_web\npreview.web.test app_web_preview\n'
    expect(appMapKeys(domains, 'web')).toEqual(['cutover.default', 'web.test', 'preview.web.test'])
    expect(appMapKeys('# h\n.web.test app_web\n.shop.test app_shop\n', 'web')).toEqual(['.web.test'])
    expect(appMapKeys(domains, 'gone')).toEqual([])
  })
})

describe('mode remove on several hosts (the same modes table)', () => {
  it('each host takes the app off its proxy and host; the run reports removed with every host', async () => {
    const hosts = ['root@h1:22', 'root@h2:22'].map(label => {
      const h = new FakeFleetHost(label, config())
      for (const v of [V1, DB]) h.host.addImage(v, { bootMs: 1500 })
      return h
    })
    for (const h of hosts) await h.engine({}).release({ kind: 'deploy', image: V1 })
    const rollout = new FleetRollout(hosts, { rollout: 'atomic', batchSize: 1, rollbackOnFailure: true }, new RecordingLog(), () => 'run1')
    const removeConfig = config({ mode: 'remove' })
    const runs = await rollout.mode(MODES.remove, removeConfig)
    const result = fleetResult('remove', runs)
    expect(result.result).toBe('removed')
    expect(result.hosts?.map(h => `${h.host} ${h.result}`)).toEqual(['root@h1:22 removed', 'root@h2:22 removed'])
    for (const h of hosts) {
      expect(h.router.claimed).toBe(false)
      expect(Object.keys(h.host.state())).toEqual(['web-db'])
      expect(h.ledger.record).toBeUndefined()
    }
  })
})

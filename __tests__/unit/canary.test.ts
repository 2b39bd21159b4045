import type { Config } from '../../src/core/config.js'
import { canaryCommands, canaryWeights, parseCanaryComment } from '../../src/proxy/haproxy-strategy.js'
import { renderAppConfig } from '../../src/proxy/haproxy-config.js'
import { EngineBed, testConfig } from '../support/engine-bed.js'
import { FakeRouter } from '../support/fakes.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const V3 = 'registry.test/web:3'

function configFor(strategy: Partial<Config['strategy']> = {}, more: Partial<Config> = {}): Config {
  return testConfig({
    proxy: { type: 'haproxy', name: 'cutover-proxy', image: 'haproxy', port: 80, domains: [], drainTimeoutMs: 5000 },
    strategy: { replicas: 1, ...strategy },
    ...more
  })
}

class Bed extends EngineBed {
  constructor() {
    super([V1, V2, V3])
  }
  async canaryOf(weight: number, more: Partial<Config> = {}) {
    await this.engine(configFor()).release({ kind: 'deploy', image: V1 })
    return this.engine(configFor({ canaryWeight: weight }, more)).release({ kind: 'deploy', image: V2 })
  }
}

describe('canary-weight in the engine', () => {
  it('a deploy with canary-weight gates the new color and gives it that share; the live release stays live', async () => {
    const bed = new Bed()
    const result = await bed.canaryOf(10)
    expect(result).toMatchObject({ result: 'canary', color: 'green', image: V2, previousColor: 'blue', previousImage: V1 })
    expect(bed.router.canaryState).toMatchObject({ weight: 10, live: { color: 'blue' }, canary: { color: 'green', replicas: 1 } })
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V1])
    expect(bed.ledger.record?.canary).toMatchObject({ weight: 10, release: { color: 'green', image: V2 } })
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-green': `${V2} running` })
  })

  it('mode promote re-checks health, switches fully, records the canary as live; keep-previous applies to the old color', async () => {
    const bed = new Bed()
    await bed.canaryOf(25)
    const result = await bed.engine(configFor({}, { mode: 'promote', keepPrevious: 'stopped' })).promote()
    expect(result).toMatchObject({ result: 'deployed', color: 'green', image: V2, standby: { color: 'blue', state: 'stopped' } })
    expect(bed.router.canaryState).toBeUndefined()
    expect(bed.router.route).toMatchObject({ color: 'green' })
    expect(bed.ledger.record?.canary).toBeUndefined()
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V2, V1])
    expect(bed.log.text()).toMatch(/probe 1 of \/health: HTTP 200/)
  })

  it('mode promote with an unhealthy canary ends it: the live color alone serves, the run fails saying so', async () => {
    const bed = new Bed()
    await bed.canaryOf(25)
    bed.host.unhealthyNames.add('web-green')
    const promote = bed.engine(configFor({}, { mode: 'promote', health: { ...configFor().health, timeoutMs: 3000 } })).promote()
    await expect(promote).rejects.toThrow(/web-green .* did not become healthy: .* The canary was ended: blue \(registry.test\/web:1\) serves all requests\./)
    expect(bed.router.canaryState).toBeUndefined()
    expect(bed.router.route).toMatchObject({ color: 'blue' })
    expect(bed.ledger.record?.canary).toBeUndefined()
    expect(bed.ledger.record?.releases[0].image).toBe(V1)
  })

  it('mode rollback during a canary routes back to 0 % and applies keep-previous to the canary', async () => {
    const bed = new Bed()
    await bed.canaryOf(50)
    const result = await bed.engine(configFor({}, { mode: 'rollback', keepPrevious: 'removed' })).release({ kind: 'rollback' })
    expect(result).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1, standby: { color: 'green', state: 'removed' } })
    expect(bed.router.canaryState).toBeUndefined()
    expect(bed.router.route).toMatchObject({ color: 'blue' })
    expect(bed.ledger.record?.canary).toBeUndefined()
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running` })
  })

  it('a deploy right after a canary was ended lets the ended canary drain from its end before removing it', async () => {
    const bed = new Bed()
    await bed.canaryOf(20)
    // The canary served a while: long enough that the live release's own switch is no reason to wait.
    await bed.clock.sleep(60_000)
    await bed.engine(configFor({}, { mode: 'rollback' })).release({ kind: 'rollback' })
    const endedAt = Date.parse(bed.ledger.record!.endedCanary!.at)
    expect(bed.ledger.record?.endedCanary?.color).toBe('green')
    // The live release went live long before: only the canary's end says the green container still holds connections.
    await bed.engine(configFor()).release({ kind: 'deploy', image: V3 })
    expect(bed.log.text()).toMatch(
      /The replaced green container \(registry.test\/web:2\) took new requests until \d+ s ago: letting its connections drain \d s more/
    )
    const removed = bed.host.events.findIndex(e => e.startsWith('remove') && e.includes('web-green'))
    expect(removed).toBeGreaterThan(0)
    expect(bed.clock.now() - endedAt).toBeGreaterThanOrEqual(5000)
    expect(bed.host.state()['web-green']).toBe(`${V3} running`)
  })

  it('mode promote without a canary changes nothing', async () => {
    const bed = new Bed()
    await bed.engine(configFor()).release({ kind: 'deploy', image: V1 })
    await expect(bed.engine(configFor({}, { mode: 'promote' })).promote()).rejects.toThrow(/Nothing of web waits to be promoted/)
  })

  it('a failed canary start routes the live color alone and removes the new container', async () => {
    const bed = new Bed()
    await bed.engine(configFor()).release({ kind: 'deploy', image: V1 })
    bed.router.failApply = new Error('admin socket gone')
    await expect(bed.engine(configFor({ canaryWeight: 10 })).release({ kind: 'deploy', image: V2 })).rejects.toThrow(
      /could not start the canary on green: admin socket gone\. blue .* is still live/
    )
    expect(bed.router.canaryState).toBeUndefined()
    expect(bed.router.route).toMatchObject({ color: 'blue' })
    expect(bed.ledger.record?.canary).toBeUndefined()
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running` })
  })
})

describe('HAProxy canary weights', () => {
  it('weights give the canary color its share whatever the replica counts', () => {
    expect(canaryWeights(10, 1, 1)).toEqual({ live: 90, canary: 10 })
    // 3 live servers, 1 canary server: 10 % = 1*w_c / (1*w_c + 3*w_l)
    const w = canaryWeights(10, 3, 1)
    expect(w.canary / (w.canary + 3 * w.live)).toBeCloseTo(0.1, 2)
    const big = canaryWeights(99, 3, 1)
    expect(Math.max(big.live, big.canary)).toBeLessThanOrEqual(256)
    expect(big.canary / (big.canary + 3 * big.live)).toBeCloseTo(0.99, 2)
  })

  it('file and runtime commands: both colors ready at their weights, the canary recorded beside the live route', () => {
    const live = { app: 'web', color: 'blue' as const, releaseId: 'r1', appPort: 3000, replicas: 1 }
    const canary = { route: { ...live, color: 'green' as const, releaseId: 'r2' }, weight: 20 }
    const text = renderAppConfig(live, 'tok', 1, canary)
    expect(text).toContain('server blue web-blue:3000 resolvers docker init-addr last,none weight 80\n')
    expect(text).toContain('server green web-green:3000 resolvers docker init-addr last,none weight 20\n')
    expect(parseCanaryComment(text)).toEqual({ color: 'green', releaseId: 'r2', weight: 20 })
    expect(canaryCommands('app_web', live, canary, 2, ['10.0.0.9'])).toEqual([
      'set server app_web/blue weight 80',
      'set server app_web/blue state ready',
      'set server app_web/blue-2 state maint',
      'set server app_web/green addr 10.0.0.9 port 3000',
      'set server app_web/green weight 20',
      'set server app_web/green state ready',
      'set server app_web/green-2 state maint'
    ])
  })
})

describe('sticky: cookie in the engine', () => {
  class StickyRouter extends FakeRouter {
    ended: string[] = []
    async endDrain(color: 'blue' | 'green'): Promise<void> {
      this.ended.push(color)
    }
  }

  it("after a switch the old color's drain is waited out and ended, even with keep-previous running", async () => {
    const bed = new Bed()
    const router = new StickyRouter(bed.host)
    bed.router = router
    const sticky = configFor({}, { proxy: { ...configFor().proxy, sticky: true } })
    await bed.engine(sticky).release({ kind: 'deploy', image: V1 })
    const sleeps = bed.clock.sleeps.length
    const result = await bed.engine(sticky).release({ kind: 'deploy', image: V2 })
    expect(router.ended).toEqual(['blue'])
    expect(bed.clock.sleeps.slice(sleeps)).toContain(5000)
    expect(result.standby).toEqual({ color: 'blue', image: V1, state: 'running' })
    expect(bed.host.state()['web-blue']).toBe(`${V1} running`)
  })

  it('without sticky nothing waits with keep-previous running', async () => {
    const bed = new Bed()
    const router = new StickyRouter(bed.host)
    bed.router = router
    await bed.engine(configFor()).release({ kind: 'deploy', image: V1 })
    await bed.engine(configFor()).release({ kind: 'deploy', image: V2 })
    expect(router.ended).toEqual([])
    expect(bed.clock.sleeps).not.toContain(5000)
  })
})

describe('summary of a canary', () => {
  it('names the canary and the release that stays live', async () => {
    const { renderSummary } = await import('../../src/reporting/summary.js')
    const bed = new Bed()
    const result = await bed.canaryOf(10)
    const text = renderSummary({ ...result, mode: 'deploy', app: 'web', steps: [], durationMs: 1 }, 'h')
    expect(text).toContain('Canary started for `web`')
    expect(text).toContain(`| **Canary** | green | \`${V2}\``)
    expect(text).toContain(`| Live | blue | \`${V1}\` | serves the other requests |`)
  })
})

describe('the ledger with a canary', () => {
  it('a damaged canary entry makes the record unreadable rather than half-read', async () => {
    const { ledgerProblem } = await import('../../src/core/release.js')
    const release = { id: 'r1', instance: 'r1', app: 'web', color: 'blue', image: V1, configHash: 'h', kind: 'deploy', liveSince: 't', by: {} }
    const record = { version: 1, app: 'web', releases: [release] }
    expect(ledgerProblem({ ...record, canary: { release: { ...release, color: 'green' }, weight: 10, since: 't' } }, 'web')).toBeUndefined()
    expect(ledgerProblem({ ...record, canary: { weight: 10 } }, 'web')).toBe('its canary is not a release with a weight')
    expect(ledgerProblem({ ...record, canary: { release: { ...release, color: 'red' }, weight: 10 } }, 'web')).toBe('a release has color "red"')
  })
})

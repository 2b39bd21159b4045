import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config, WatchSettings } from '../../src/core/config.js'
import type { Color } from '../../src/core/names.js'
import { ReleaseError } from '../../src/core/outcome.js'
import type { ResponseCounts, Route, VerifyResult } from '../../src/engine/ports.js'
import { errorShare, MIN_RESPONSES_EARLY, MIN_RESPONSES_JUDGED, ResponseTally, watchRelease, WATCH_HEALTH_FAILURES } from '../../src/engine/watch.js'
import { proxyCapabilityProblem } from '../../src/proxy/capabilities.js'
import { responseCountsOf, statCommand } from '../../src/proxy/haproxy-stats.js'
import { EngineBed, testConfig } from '../support/engine-bed.js'
import { FakeClock, FakeHost, FakeRouter, RecordingLog } from '../support/fakes.js'
import { inputParser } from '../support/inputs.js'
import { REPO } from '../support/testbed.js'
import { sshKeyPair } from '../support/keys.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const V3 = 'registry.test/web:3'

describe('show stat: the backend row', () => {
  // Captured from HAProxy 2.6 (`show stat app_x 2 -1`): one 503 of its own (the server refused the connection).
  const captured = readFileSync(join(REPO, '__tests__', 'fixtures', 'haproxy-show-stat.csv'), 'utf8')
  const header = captured.split('\n')[0]
  const fields = header.slice(2).split(',')
  const row = (px: string, sv: string, counts: Record<string, number>) =>
    fields.map(f => (f === 'pxname' ? px : f === 'svname' ? sv : (counts[f] ?? ''))).join(',')

  it("counts HAProxy's own 5xx for the backend (a real capture)", () => {
    expect(statCommand('app_x')).toBe('show stat app_x 2 -1')
    expect(responseCountsOf(captured, 'app_x')).toEqual({ responses: 1, errors: 1 })
  })

  it("sums every status class as responses, 5xx as errors; server rows and other backends are not the app's total", () => {
    const csv = [
      header,
      row('app_web', 'blue', { hrsp_2xx: 900, hrsp_5xx: 1 }),
      row('app_web', 'BACKEND', { hrsp_1xx: 1, hrsp_2xx: 380, hrsp_3xx: 5, hrsp_4xx: 9, hrsp_5xx: 37, hrsp_other: 2 }),
      row('app_other', 'BACKEND', { hrsp_2xx: 5000, hrsp_5xx: 500 }),
      ''
    ].join('\n')
    expect(responseCountsOf(csv, 'app_web')).toEqual({ responses: 434, errors: 37 })
  })

  it('says what is wrong with an answer it cannot read', () => {
    expect(() => responseCountsOf('Unknown command\n', 'app_web')).toThrow(/no header line/)
    expect(() => responseCountsOf('# pxname,svname\n', 'app_web')).toThrow(/lack hrsp_1xx/)
    expect(() => responseCountsOf(`${header}\n${row('app_other', 'BACKEND', {})}\n`, 'app_web')).toThrow(/no row for the backend app_web/)
  })
})

describe('5xx share', () => {
  it('counts the window from the first sample; a lower sample is a reloaded proxy counting from zero', () => {
    const t = new ResponseTally()
    t.add({ responses: 10_000, errors: 40 })
    expect([t.responses, t.errors]).toEqual([0, 0])
    t.add({ responses: 10_100, errors: 45 })
    t.add({ responses: 10_300, errors: 50 })
    expect([t.responses, t.errors]).toEqual([300, 10])
    // reload: the new worker's counters start again
    t.add({ responses: 50, errors: 7 })
    t.add({ responses: 150, errors: 8 })
    expect([t.responses, t.errors]).toEqual([450, 18])
  })

  it(`is judged from ${MIN_RESPONSES_JUDGED} responses; above the limit fails, at it passes`, () => {
    expect(errorShare(2, 1, 5)).toEqual({ judged: false, percent: 50, over: false })
    expect(errorShare(0, 0, 5)).toEqual({ judged: false, percent: 0, over: false })
    expect(errorShare(MIN_RESPONSES_JUDGED, 1, 5)).toEqual({ judged: true, percent: 5, over: false })
    expect(errorShare(MIN_RESPONSES_JUDGED, 2, 5)).toEqual({ judged: true, percent: 10, over: true })
    expect(errorShare(412, 37, 5).over).toBe(true)
    expect(errorShare(412, 37, 9).over).toBe(false)
    // 0 %: any 5xx fails, once judged
    expect(errorShare(1000, 1, 0).over).toBe(true)
    expect(errorShare(1000, 0, 0).over).toBe(false)
    expect(errorShare(50, 10, 5, MIN_RESPONSES_EARLY).over).toBe(false)
  })
})

const key = sshKeyPair().private
const { parse, errorOf } = inputParser({
  app: 'web',
  host: 'deploy.example.com',
  'ssh-private-key': key,
  'insecure-skip-host-key-check': 'true',
  image: 'ghcr.io/acme/web:1'
})

describe('watch inputs', () => {
  it('off by default; a duration turns it on with 5 % unless watch-max-error-rate says otherwise', () => {
    expect(parse().strategy.watch).toBeUndefined()
    expect(parse({ watch: 'off' }).strategy.watch).toBeUndefined()
    expect(parse({ watch: '0' }).strategy.watch).toBeUndefined()
    expect(parse({ watch: '2m' }).strategy.watch).toEqual({ durationMs: 120_000, maxErrorRate: 5 })
    expect(parse({ watch: '90', 'watch-max-error-rate': '5%' }).strategy.watch).toEqual({ durationMs: 90_000, maxErrorRate: 5 })
    expect(parse({ watch: '30s', 'watch-max-error-rate': '0.5' }).strategy.watch?.maxErrorRate).toBe(0.5)
    expect(parse({ watch: '30s', 'watch-max-error-rate': '0%' }).strategy.watch?.maxErrorRate).toBe(0)
    expect(parse({ watch: '30s', 'watch-max-error-rate': '100 %' }).strategy.watch?.maxErrorRate).toBe(100)
  })

  it('refuses bad values, clearly', () => {
    expect(errorOf({ watch: 'soon' })).toBe('Input \'watch\' must be a duration such as 90s or 2m, or off, not "soon"')
    expect(errorOf({ watch: '2s' })).toBe('Input \'watch\' must be from 5s to 1h, not "2s"')
    expect(errorOf({ watch: '2h' })).toBe('Input \'watch\' must be from 5s to 1h, not "2h"')
    expect(errorOf({ watch: '1m', 'watch-max-error-rate': '101%' })).toBe(
      'Input \'watch-max-error-rate\' must be a percentage from 0 to 100 such as 5% or 0.5, not "101%"'
    )
    expect(errorOf({ watch: '1m', 'watch-max-error-rate': '-1' })).toMatch(/^Input 'watch-max-error-rate' must be a percentage/)
    expect(errorOf({ watch: '1m', 'watch-max-error-rate': '5x' })).toMatch(/^Input 'watch-max-error-rate' must be a percentage/)
    // action.yml's defaults arrive as inputs: the rate alone is fine, and still checked
    expect(parse({ watch: 'off', 'watch-max-error-rate': '5%' }).strategy.watch).toBeUndefined()
    expect(errorOf({ 'watch-max-error-rate': 'high' })).toMatch(/^Input 'watch-max-error-rate' must be a percentage/)
  })

  it('refuses modes other than deploy, a canary, a preview, nginx and several hosts', () => {
    expect(errorOf({ watch: '1m', mode: 'rollback', image: '' })).toBe("Input 'watch' only applies to mode deploy, not rollback")
    expect(errorOf({ watch: '1m', mode: 'promote' })).toBe("Input 'watch' only applies to mode deploy, not promote")
    expect(errorOf({ watch: '1m', 'canary-weight': '10' })).toMatch(/^Input 'watch' cannot be combined with 'canary-weight'/)
    expect(errorOf({ watch: '1m', promote: 'manual' })).toMatch(/^Input 'watch' cannot be combined with 'promote: manual'/)
    expect(errorOf({ watch: '1m', 'proxy-type': 'nginx' })).toMatch(
      /^Input 'watch' needs response counters, which the nginx router does not have: remove 'watch'/
    )
    expect(parse({ watch: '1m', 'proxy-type': 'haproxy' }).strategy.watch).toBeDefined()
    // proxy-type auto: asked again once the type on the host is known
    expect(
      proxyCapabilityProblem({ mode: 'deploy', strategy: { replicas: 1, watch: { durationMs: 60_000, maxErrorRate: 5 } }, proxy: { type: 'nginx' } })?.input
    ).toBe('watch')
    // Several hosts watch together: a failure on any host rolls every host back (fleet-strategies tests).
    expect(parse({ watch: '1m', host: 'a.example.com\nb.example.com' }).strategy.watch).toEqual({ durationMs: 60_000, maxErrorRate: 5 })
  })
})

/**
 * A proxy that counts responses: `rps` requests a second go to the routed color, `errorPercent[color]`
 * of them 5xx; `sick` colors fail their health path through the proxy after `sickAfter` good answers.
 */
class CountingRouter extends FakeRouter {
  rps = 20
  errorPercent: Partial<Record<Color, number>> = {}
  sick = new Set<Color>()
  sickAfter = 1
  private totals = { responses: 0, errors: 0 }
  private countedUntil?: number
  private verifies: Partial<Record<Color, number>> = {}
  readonly counterReads: number[] = []

  constructor(
    host: FakeHost,
    private readonly clock: FakeClock
  ) {
    super(host)
  }

  async responseCounts(): Promise<ResponseCounts> {
    const now = this.clock.now()
    const color = this.route?.color
    if (this.countedUntil !== undefined && color) {
      const n = ((now - this.countedUntil) / 1000) * this.rps
      this.totals.responses += n
      this.totals.errors += (n * (this.errorPercent[color] ?? 0)) / 100
    }
    this.countedUntil = now
    this.counterReads.push(now)
    // Whole responses, as the proxy counts them (the exact totals carry the fractions).
    return { responses: Math.floor(this.totals.responses + 1e-9), errors: Math.floor(this.totals.errors + 1e-9) }
  }

  override async verify(route: Route): Promise<VerifyResult> {
    const v = await super.verify(route)
    const seen = (this.verifies[route.color] = (this.verifies[route.color] ?? 0) + 1)
    if (!this.sick.has(route.color) || seen <= this.sickAfter) return v
    return { ok: false, last: { status: 503, headers: {}, body: 'Service Unavailable', ms: 1 }, ms: 2000 }
  }
}

class WatchBed extends EngineBed {
  counting = new CountingRouter(this.host, this.clock)
  constructor() {
    super([V1, V2])
    this.router = this.counting
  }
  config(watch?: WatchSettings, more: Partial<Config> = {}): Config {
    return testConfig({
      proxy: { type: 'haproxy', name: 'cutover-proxy', image: 'haproxy', port: 80, domains: [], drainTimeoutMs: 5000 },
      strategy: { replicas: 1, ...(watch ? { watch } : {}) },
      ...more
    })
  }
  async v1ThenV2(watch: WatchSettings, more: Partial<Config> = {}) {
    await this.engine(this.config()).release({ kind: 'deploy', image: V1 })
    this.host.events.length = 0
    return this.engine(this.config(watch, more)).release({ kind: 'deploy', image: V2 })
  }
}

async function failureOf(p: Promise<unknown>): Promise<ReleaseError> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(ReleaseError)
    return e as ReleaseError
  }
  throw new Error('expected the release to fail')
}

describe('watch in the engine', () => {
  const minute = { durationMs: 60_000, maxErrorRate: 5 }

  it('a healthy release passes after the whole window; keep-previous applies only after it', async () => {
    const bed = new WatchBed()
    bed.counting.errorPercent = { green: 1 }
    await bed.engine(bed.config()).release({ kind: 'deploy', image: V1 })
    const switchedAt: number[] = []
    const apply = bed.counting.apply.bind(bed.counting)
    bed.counting.apply = async r => {
      switchedAt.push(bed.clock.now())
      return apply(r)
    }
    bed.host.events.length = 0
    const result = await bed.engine(bed.config(minute, { keepPrevious: 'stopped' })).release({ kind: 'deploy', image: V2 })
    expect(result).toMatchObject({ result: 'deployed', color: 'green', image: V2, standby: { color: 'blue', state: 'stopped' } })
    expect(bed.host.events).toEqual(['start web-green', 'switch green', 'stop web-blue'])
    // watched 60 s, then drained 5 s before stopping blue
    expect(bed.clock.now() - switchedAt[0]).toBeGreaterThanOrEqual(65_000)
    const reads = bed.counting.counterReads
    expect(reads[reads.length - 1] - reads[0]).toBe(60_000)
    expect(bed.log.text()).toMatch(
      /watch: registry.test\/web:2 on green passed: 12 of 1200 responses \(1.0 %\) were 5xx \(at most 5 % allowed\); \/health answered 30 of 30 probes in 60 s\./
    )
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V2, V1])
  })

  it('too many 5xx: switched back to the previous color, recorded live again, the run fails saying what it saw', async () => {
    const bed = new WatchBed()
    bed.counting.errorPercent = { green: 10 }
    bed.counting.rps = 1
    const e = await failureOf(bed.v1ThenV2({ durationMs: 40_000, maxErrorRate: 5 }))
    expect(e.failure.reason).toBe('watch: 4 of 40 responses (10.0 %) were 5xx in 40 s, above 5 %: rolled back to blue (registry.test/web:1)')
    expect(bed.host.events).toEqual(['start web-green', 'switch green', 'switch blue'])
    expect(bed.counting.route).toMatchObject({ color: 'blue' })
    const record = bed.ledger.record!
    expect(record.pending).toBeUndefined()
    expect(record.releases.map(r => `${r.color} ${r.image}`)).toEqual(['blue registry.test/web:1', 'green registry.test/web:2'])
    expect(record.releases[0].id).toBe(bed.counting.route?.releaseId)
    expect(e.result).toMatchObject({
      result: 'auto-rolled-back',
      color: 'blue',
      image: V1,
      previousColor: 'green',
      previousImage: V2,
      standby: { color: 'green', image: V2, state: 'running' }
    })
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-green': `${V2} running` })
  })

  it(`a clearly broken release is rolled back before the window ends (from ${MIN_RESPONSES_EARLY} responses)`, async () => {
    const bed = new WatchBed()
    bed.counting.errorPercent = { green: 50 }
    bed.counting.rps = 30
    const e = await failureOf(bed.v1ThenV2({ durationMs: 600_000, maxErrorRate: 5 }))
    expect(e.failure.reason).toMatch(/^watch: 60 of 120 responses \(50.0 %\) were 5xx in 4 s, above 5 %: rolled back to blue/)
    expect(e.result?.result).toBe('auto-rolled-back')
  })

  it('a quiet app: a 1-of-2 failure is not judged, the release stays', async () => {
    const bed = new WatchBed()
    bed.counting.errorPercent = { green: 50 }
    bed.counting.rps = 2 / 60
    const result = await bed.v1ThenV2(minute)
    expect(result).toMatchObject({ result: 'deployed', color: 'green' })
    expect(bed.log.text()).toContain('1 of 2 responses were 5xx: too few to judge (fewer than 20)')
  })

  it(`a health path failing ${WATCH_HEALTH_FAILURES} times in a row through the proxy rolls back; once is not enough`, async () => {
    const bed = new WatchBed()
    bed.counting.sick.add('green')
    const e = await failureOf(bed.v1ThenV2(minute))
    expect(e.failure.reason).toMatch(
      /^watch: \/health failed 3 times in a row through the proxy \(last answer: HTTP 503: "Service Unavailable"\) after 6 s: rolled back to blue \(registry.test\/web:1\)$/
    )
    expect(bed.counting.route?.color).toBe('blue')

    const once = new WatchBed()
    let calls = 0
    const verify = once.counting.verify.bind(once.counting)
    once.counting.verify = async r => {
      const v = await verify(r)
      return r.color === 'green' && ++calls === 3 ? { ok: false, last: { status: 502, headers: {}, body: '', ms: 1 }, ms: 2000 } : v
    }
    expect(await once.v1ThenV2(minute)).toMatchObject({ result: 'deployed', color: 'green' })
  })

  it('a new color that went down during the watch is reported as a stopped standby after the rollback', async () => {
    const bed = new WatchBed()
    await bed.engine(bed.config()).release({ kind: 'deploy', image: V1 })
    const sleep = bed.clock.sleep.bind(bed.clock)
    bed.clock.sleep = async ms => {
      await sleep(ms)
      if (bed.counting.counterReads.length === 3) await bed.host.stop('web-green', 0)
    }
    const e = await failureOf(bed.engine(bed.config(minute)).release({ kind: 'deploy', image: V2 }))
    expect(e.failure.reason).toMatch(/^watch: \/health failed 3 times in a row .*: rolled back to blue/)
    expect(e.result).toMatchObject({ result: 'auto-rolled-back', color: 'blue', standby: { color: 'green', image: V2, state: 'stopped' } })
  })

  it('a failed watch of a first release has nothing to roll back to: it stays live, the run fails', async () => {
    const bed = new WatchBed()
    bed.counting.errorPercent = { blue: 50 }
    const e = await failureOf(bed.engine(bed.config(minute)).release({ kind: 'deploy', image: V1 }))
    expect(e.failure.reason).toMatch(/; there is no previous release to roll back to, so blue \(registry.test\/web:1\) stays live\.$/)
    expect(e.result).toMatchObject({ result: 'deployed', color: 'blue', image: V1 })
    expect(bed.counting.route?.color).toBe('blue')
  })

  it('a cancel during the watch stops watching and leaves the new color live (no rollback, keep-previous not applied)', async () => {
    const bed = new WatchBed()
    await bed.engine(bed.config()).release({ kind: 'deploy', image: V1 })
    const engine = bed.engine(bed.config(minute, { keepPrevious: 'removed' }))
    const sleep = bed.clock.sleep.bind(bed.clock)
    bed.clock.sleep = async ms => {
      await sleep(ms)
      if (bed.counting.counterReads.length >= 5) engine.abort('Cancelled (SIGINT)')
    }
    const e = await failureOf(engine.release({ kind: 'deploy', image: V2 }))
    expect(e.failure.reason).toMatch(
      /^Cancelled \(SIGINT\) during the watch, after \d s \(.*\): green \(registry.test\/web:2\) stays live; a cancelled watch does not roll back\.$/
    )
    expect(e.result).toMatchObject({ result: 'deployed', color: 'green', image: V2 })
    expect(bed.counting.route?.color).toBe('green')
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-green': `${V2} running` })
    expect(bed.ledger.record?.releases[0].image).toBe(V2)
  })

  it('a cancel during the watch of a deploy that replaced the standby: the set-aside container goes at once, live + standby are left (issue #22)', async () => {
    const bed = new WatchBed()
    await bed.engine(bed.config()).release({ kind: 'deploy', image: V1 })
    await bed.engine(bed.config()).release({ kind: 'deploy', image: V2 })
    // blue (v1) is the standby: the next deploy sets it aside as web-blue-replaced and starts v3 as blue.
    bed.host.addImage(V3, { bootMs: 1500 })
    const engine = bed.engine(bed.config(minute))
    const sleep = bed.clock.sleep.bind(bed.clock)
    bed.clock.sleep = async ms => {
      await sleep(ms)
      if (bed.counting.counterReads.length >= 5) engine.abort('Cancelled (SIGINT)')
    }
    const e = await failureOf(engine.release({ kind: 'deploy', image: V3 }))
    expect(e.failure.reason).toMatch(/^Cancelled \(SIGINT\) during the watch/)
    expect(bed.host.state()).toEqual({ 'web-blue': `${V3} running`, 'web-green': `${V2} running` })
    expect(bed.log.text()).toContain('Removed the replaced blue container (registry.test/web:1)')
  })

  it('counters that cannot be read: a warning, the health probes still watch', async () => {
    const clock = new FakeClock()
    const host = new FakeHost(clock)
    const router = new FakeRouter(host)
    const log = new RecordingLog()
    const route: Route = { app: 'web', color: 'green', releaseId: 'r1', appPort: 3000 }
    await router.apply(route)
    host.addImage(V2, {})
    await host.create({ name: 'web-green', image: V2, env: {}, labels: {}, network: 'n', extraNetworks: [], volumes: [] })
    await host.start('web-green')
    Object.assign(router, { responseCounts: () => Promise.reject(new Error('admin socket gone')) })
    const w = await watchRelease({
      router,
      route,
      healthPath: '/health',
      settings: { durationMs: 10_000, maxErrorRate: 5 },
      clock,
      log,
      aborted: () => undefined
    })
    expect(w).toMatchObject({ kind: 'passed', ms: 10_000 })
    expect(log.lines.filter(l => l.includes('could not read'))).toEqual(["warning: watch: could not read the proxy's response counters: admin socket gone"])
  })
})

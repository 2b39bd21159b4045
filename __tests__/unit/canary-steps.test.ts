import type { CanaryStepsSettings, Config } from '../../src/core/config.js'
import { judgeStep, StepWindow, windowMeanMs } from '../../src/engine/canary-window.js'
import { serverCountsOf } from '../../src/proxy/haproxy-stats.js'
import { Traffic } from '../support/canary-traffic.js'
import { EngineBed, releaseFailure, testConfig } from '../support/engine-bed.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'

function steps(more: Partial<CanaryStepsSettings> = {}): CanaryStepsSettings {
  return { weights: [5, 25, 50], stepMs: 30_000, maxErrorRate: 5, lowTraffic: 'hold', ...more }
}

function configFor(canarySteps?: CanaryStepsSettings, more: Partial<Config> = {}): Config {
  return testConfig({
    proxy: { type: 'haproxy', name: 'cutover-proxy', image: 'haproxy', port: 80, domains: [], drainTimeoutMs: 5000 },
    strategy: { replicas: 1, ...(canarySteps ? { canarySteps } : {}) },
    ...more
  })
}

class Bed extends EngineBed {
  traffic = new Traffic(this.clock, this.host, this.router)
  /** Every weight the canary was given, in order. */
  weights: number[] = []
  constructor() {
    super([V1, V2])
    const canary = this.router.canary.bind(this.router)
    this.router.canary = async (live, c, weight) => {
      await canary(live, c, weight)
      this.weights.push(weight)
    }
  }
  async live() {
    await this.engine(configFor()).release({ kind: 'deploy', image: V1 })
  }
  canary(s = steps(), more: Partial<Config> = {}) {
    return this.engine(configFor(s, more)).release({ kind: 'deploy', image: V2 })
  }
}

describe('canary-steps in the engine', () => {
  it('a good canary climbs 5 → 25 → 50 and is promoted: every step compared with the live color over the same window', async () => {
    const bed = new Bed()
    await bed.live()
    const result = await bed.canary()
    expect(result).toMatchObject({ result: 'deployed', color: 'green', image: V2, previousColor: 'blue' })
    expect(bed.weights).toEqual([5, 25, 50])
    expect(result.canarySteps?.map(s => [s.weight, s.verdict])).toEqual([
      [5, 'passed'],
      [25, 'passed'],
      [50, 'passed']
    ])
    // 50 requests a second for 30 s: the canary's share of them, the live color the rest.
    const [first, , last] = result.canarySteps!
    expect(first.canary.requests).toBeGreaterThanOrEqual(70)
    expect(first.canary.requests).toBeLessThanOrEqual(80)
    expect(first.live.requests).toBeGreaterThan(1300)
    expect(last.canary.requests).toBeGreaterThanOrEqual(740)
    expect(first.canary.responseMs).toBe(5)
    expect(first.ms).toBe(30_000)
    expect(bed.router.canaryState).toBeUndefined()
    expect(bed.router.route).toMatchObject({ color: 'green' })
    expect(bed.ledger.record?.canary).toBeUndefined()
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V2, V1])
  })

  it('a canary with 10 % errors is rolled back at its first step, before the step is over: the live color alone, recorded', async () => {
    const bed = new Bed()
    bed.traffic.rps = 400
    await bed.live()
    bed.traffic.behaviour.set(V2, { errorShare: 0.1 })
    const e = await releaseFailure(bed.canary())
    expect(e.message).toMatch(
      /canary-steps: at 5 %: \d+ of \d+ of the canary's responses \(10(\.0)? %\) were 5xx, above 5 % .*the canary was ended, blue \(registry.test\/web:1\) serves every request/
    )
    expect(e.result).toMatchObject({ result: 'auto-rolled-back', color: 'blue', image: V1 })
    expect(e.result?.canarySteps).toHaveLength(1)
    expect(e.result?.canarySteps?.[0]).toMatchObject({ weight: 5, verdict: 'breached' })
    // Judged early: 100 canary responses come after 5 s at 20 a second.
    expect(e.result!.canarySteps![0].ms).toBeLessThan(30_000)
    expect(bed.weights).toEqual([5])
    expect(bed.router.canaryState).toBeUndefined()
    expect(bed.router.route).toMatchObject({ color: 'blue' })
    expect(bed.ledger.record?.canary).toBeUndefined()
    expect(bed.ledger.record?.endedCanary?.color).toBe('green')
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V1])
  })

  it('a canary 300 ms slower than the live color is rolled back by watch-max-latency-increase', async () => {
    const bed = new Bed()
    await bed.live()
    // The green slot served an older release fast: its average counts from before the window too.
    bed.traffic.behaviour.set(V2, { ms: 320 })
    const e = await releaseFailure(bed.canary(steps({ maxLatencyIncrease: 50 })))
    expect(e.message).toMatch(
      /the canary's mean response time was 320 ms against 5 ms of the live color, .* above watch-max-latency-increase 50 % \(response times are window means: the fake router logs no requests\)/
    )
    expect(e.result).toMatchObject({ result: 'auto-rolled-back', color: 'blue' })
    expect(e.result?.canarySteps?.map(s => [s.weight, s.verdict])).toEqual([[5, 'breached']])
    expect(bed.router.route).toMatchObject({ color: 'blue' })
  })

  it('watch-max-latency bounds the canary absolutely; a latency breach at a later step rolls back from there', async () => {
    const bed = new Bed()
    await bed.live()
    bed.traffic.behaviour.set(V2, { ms: 150 })
    const passes = steps({ maxLatencyMs: 200 })
    const result = await bed.canary(passes)
    expect(result.result).toBe('deployed')
    const bed2 = new Bed()
    await bed2.live()
    bed2.traffic.behaviour.set(V2, { ms: 150 })
    // The canary is slow only once it takes more traffic.
    const canary = bed2.router.canary
    bed2.router.canary = async (live, c, weight) => {
      await canary(live, c, weight)
      if (weight === 25) bed2.traffic.behaviour.set(V2, { ms: 400 })
    }
    const e = await releaseFailure(bed2.canary(passes))
    expect(e.message).toMatch(/at 25 %: the canary's mean response time was \d+ ms, above watch-max-latency 200 ms \(live: 5 ms mean\)/)
    expect(e.result?.canarySteps?.map(s => s.verdict)).toEqual(['passed', 'breached'])
    expect(bed2.router.route).toMatchObject({ color: 'blue' })
  })

  it.each([
    ['promote', 'deployed', 'green'],
    ['hold', 'canary', 'blue'],
    ['fail', 'auto-rolled-back', 'blue']
  ] as const)('a step with too few requests follows canary-low-traffic: %s', async (policy, outcome, routed) => {
    const bed = new Bed()
    bed.traffic.rps = 5
    await bed.live()
    const run = bed.canary(steps({ lowTraffic: policy, weights: [5, 50], stepMs: 20_000 }))
    const result = policy === 'fail' ? (await releaseFailure(run)).result! : await run
    expect(result.result).toBe(outcome)
    expect(result.canarySteps?.[0]).toMatchObject({ weight: 5, verdict: 'low-traffic' })
    expect(result.canarySteps?.[0].why).toMatch(/the canary answered \d+ requests, too few to judge \(fewer than 20\)/)
    expect(bed.router.route).toMatchObject({ color: routed })
    if (policy === 'hold') {
      // Held at its step's weight, recorded: mode promote or rollback ends it.
      expect(bed.router.canaryState).toMatchObject({ weight: 5 })
      expect(bed.ledger.record?.canary).toMatchObject({ weight: 5, release: { image: V2 } })
      expect(result.canarySteps).toHaveLength(1)
    }
    if (policy === 'promote') expect(result.canarySteps?.map(s => s.weight)).toEqual([5, 50])
  })

  it('the ledger records each weight as it is set; a weight the proxy refuses ends the canary', async () => {
    const bed = new Bed()
    await bed.live()
    const canary = bed.router.canary
    bed.router.canary = async (live, c, weight) => {
      if (weight === 25) throw new Error('admin socket gone')
      await canary(live, c, weight)
    }
    const e = await releaseFailure(bed.canary())
    expect(e.message).toMatch(/the canary's weight could not be changed: admin socket gone: the canary was ended, blue/)
    expect(bed.ledger.writes.some(w => w.canary?.weight === 5)).toBe(true)
    expect(bed.router.route).toMatchObject({ color: 'blue' })
    expect(bed.ledger.record?.canary).toBeUndefined()
  })

  it('a proxy reload within a step (its counters from zero) and a counter read that fails do not break the judgement', async () => {
    const bed = new Bed()
    await bed.live()
    const canary = bed.router.canary
    bed.router.canary = async (live, c, weight) => {
      await canary(live, c, weight)
      if (weight === 25) {
        await bed.clock.sleep(1000)
        bed.traffic.reset()
        bed.traffic.failNext = 1
      }
    }
    const result = await bed.canary(steps({ maxLatencyIncrease: 50 }))
    expect(result.result).toBe('deployed')
    const second = result.canarySteps![1]
    expect(second.canary.requests).toBeGreaterThan(300)
    expect(second.canary.responseMs).toBe(5)
    expect(bed.log.text()).toMatch(/could not read the proxy's counters: the runtime API did not answer/)
  })

  it('a run stopped during a step leaves the canary at its weight, recorded, and says so', async () => {
    const bed = new Bed()
    await bed.live()
    const engine = bed.engine(configFor(steps()))
    const sleep = bed.clock.sleep.bind(bed.clock)
    let slept = 0
    bed.clock.sleep = async ms => {
      await sleep(ms)
      if ((slept += ms) > 40_000) engine.abort('The run was cancelled')
    }
    const e = await releaseFailure(engine.release({ kind: 'deploy', image: V2 }))
    expect(e.message).toMatch(/canary-steps: at 25 %: The run was cancelled during the step: the canary stays at 25 %; mode promote or rollback ends it/)
    expect(e.result?.result).toBe('canary')
    expect(bed.ledger.record?.canary?.weight).toBe(25)
    expect(bed.router.canaryState?.weight).toBe(25)
  })

  it('with replicas: every replica of the canary is gated, the steps carry the replica count, the promotion switches them all', async () => {
    const bed = new Bed()
    await bed.engine(configFor(undefined, { strategy: { replicas: 2 } })).release({ kind: 'deploy', image: V1 })
    const seen: (number | undefined)[] = []
    const canary = bed.router.canary
    bed.router.canary = async (live, c, weight) => {
      seen.push(c.replicas)
      await canary(live, c, weight)
    }
    const result = await bed.canary(steps(), { strategy: { replicas: 2, canarySteps: steps() } })
    expect(result).toMatchObject({ result: 'deployed', color: 'green' })
    expect(seen).toEqual([2, 2, 2])
    expect(bed.router.route).toMatchObject({ color: 'green', replicas: 2 })
    expect(bed.host.state()).toMatchObject({ 'web-green': `${V2} running`, 'web-green-2': `${V2} running` })
  })

  it('the first deploy of an app goes live at once: there is no live color to compare with', async () => {
    const bed = new Bed()
    const result = await bed.canary()
    expect(result).toMatchObject({ result: 'deployed', color: 'blue', image: V2 })
    expect(result.canarySteps).toBeUndefined()
  })
})

describe('canary-steps judgement', () => {
  const s = steps({ maxLatencyMs: 500, maxLatencyIncrease: 50 })
  const fig = (requests: number, errors: number, responseMs?: number) => ({
    requests,
    errors,
    errorPercent: requests ? Math.round((1000 * errors) / requests) / 10 : 0,
    responseMs
  })
  it.each([
    ['passed', fig(100, 2, 40), fig(1000, 10, 35)],
    ['low-traffic', fig(19, 0, 40), fig(1000, 0, 35)],
    ['breached', fig(100, 6, 40), fig(1000, 0, 35)],
    ['breached', fig(100, 0, 501), fig(1000, 0, 480)],
    ['breached', fig(100, 0, 80), fig(1000, 0, 35)],
    // 100 % more, but within the proxy's rounding: not a breach.
    ['passed', fig(100, 0, 4), fig(1000, 0, 2)],
    // The live color too quiet to compare with: only the absolute bound applies.
    ['passed', fig(100, 0, 80), fig(5, 0, 35)],
    // Slower by more than the bound only within the margins of the proxy's rounding: not a breach.
    ['passed', { ...fig(100, 0, 15), responseMarginMs: 11 }, fig(1000, 0, 0)],
    ['passed', { ...fig(100, 0, 510), responseMarginMs: 11 }, fig(1000, 0, 480)],
    ['breached', { ...fig(100, 0, 320), responseMarginMs: 11 }, { ...fig(1000, 0, 5), responseMarginMs: 1 }]
  ] as const)('%s: canary %j against live %j', (verdict, canary, live) => {
    expect(judgeStep(canary, live, s).verdict).toBe(verdict)
  })

  it('an early look judges only breaches and only from 100 responses', () => {
    expect(judgeStep(fig(60, 30, 5), fig(1000, 0, 5), s, true).verdict).toBe('low-traffic')
    expect(judgeStep(fig(100, 30, 5), fig(1000, 0, 5), s, true).verdict).toBe('breached')
  })
})

describe('response time of a window from HAProxy moving averages', () => {
  const at = (responses: number, averageMs: number) => ({
    color: 'green' as const,
    server: 'green',
    responses,
    errors: 0,
    averageMs,
    averageSamples: Math.min(responses, 512),
    averageWindow: 512
  })
  it('a server still within its first 512 responses: the plain mean of the window', () => {
    expect(windowMeanMs(at(100, 10), at(200, 55))?.ms).toBeCloseTo(100, 5)
    // Each average is rounded up to a whole ms: 300 samples' worth over 100 responses.
    expect(windowMeanMs(at(100, 10), at(200, 55))?.marginMs).toBeCloseTo(3, 5)
    expect(windowMeanMs(undefined, at(200, 55))).toEqual({ ms: 55, marginMs: 1 })
  })
  it('a saturated average: measured on HAProxy 2.6.12 (rtime 6 ms after 600 fast responses, 16 ms after 50 more at +100 ms)', () => {
    const w = windowMeanMs(at(600, 6), at(650, 16))!
    expect(w.ms).toBeGreaterThan(100)
    expect(w.ms).toBeLessThan(120)
    // 50 responses after 512: the rounding alone leaves about ±21 ms.
    expect(w.marginMs).toBeGreaterThan(15)
    expect(w.marginMs).toBeLessThan(25)
  })
  it('no responses in the window: no figure', () => {
    expect(windowMeanMs(at(600, 6), at(600, 6))).toBeUndefined()
  })
  it('the window sums replicas of a color, weighted by their responses', () => {
    const w = new StepWindow()
    w.add([at(0, 0), { ...at(0, 0), server: 'green-2' }])
    w.add([at(100, 10), { ...at(300, 30), server: 'green-2' }])
    expect(w.figures('green')).toEqual({ requests: 400, errors: 0, errorPercent: 0, responseMs: 25, responseMarginMs: 1 })
    expect(w.figures('blue')).toEqual({ requests: 0, errors: 0, errorPercent: 0 })
  })
})

describe('HAProxy per-server counters', () => {
  it('reads each server of the app backend with its color, responses, 5xx and rtime', () => {
    const csv = [
      '# pxname,svname,lbtot,req_tot,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,rtime,',
      'app_web,blue,900,900,0,880,0,10,10,0,12,',
      'app_web,green-2,40,40,0,38,0,0,2,0,300,',
      'app_web,BACKEND,940,940,0,918,0,10,12,0,20,',
      'app_other,blue,5,5,0,5,0,0,0,0,1,'
    ].join('\n')
    expect(serverCountsOf(csv, 'app_web')).toEqual([
      { color: 'blue', server: 'blue', responses: 900, errors: 10, averageMs: 12, averageSamples: 512, averageWindow: 512 },
      { color: 'green', server: 'green-2', responses: 40, errors: 2, averageMs: 300, averageSamples: 40, averageWindow: 512 }
    ])
  })
  it('says which fields are missing', () => {
    expect(() => serverCountsOf('# pxname,svname,hrsp_2xx\n', 'app_web')).toThrow(/lack hrsp_1xx, hrsp_3xx, hrsp_4xx, hrsp_5xx, hrsp_other, rtime, lbtot/)
  })
})

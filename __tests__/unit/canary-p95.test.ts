import type { CanaryStepsSettings, Config } from '../../src/core/config.js'
import { judgeStep, percentile, StepWindow } from '../../src/engine/canary-window.js'
import { REQUEST_LOG_MAP, REQUEST_RING, renderBaseConfig } from '../../src/proxy/haproxy-config.js'
import { requestLinesOf } from '../../src/proxy/haproxy-request-log.js'
import { Traffic } from '../support/canary-traffic.js'
import { EngineBed, releaseFailure, testConfig } from '../support/engine-bed.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'

function steps(more: Partial<CanaryStepsSettings> = {}): CanaryStepsSettings {
  return { weights: [5, 25, 50], stepMs: 30_000, maxErrorRate: 5, lowTraffic: 'hold', ...more }
}

function configFor(canarySteps?: CanaryStepsSettings): Config {
  return testConfig({
    proxy: { type: 'haproxy', name: 'cutover-proxy', image: 'haproxy', port: 80, domains: [], drainTimeoutMs: 5000 },
    strategy: { replicas: 1, ...(canarySteps ? { canarySteps } : {}) }
  })
}

class Bed extends EngineBed {
  traffic = new Traffic(this.clock, this.host, this.router, 200)
  constructor(ring = true) {
    super([V1, V2])
    this.traffic.logRequests(ring)
  }
  async live() {
    await this.engine(configFor()).release({ kind: 'deploy', image: V1 })
  }
  canary(s = steps()) {
    return this.engine(configFor(s)).release({ kind: 'deploy', image: V2 })
  }
}

describe('canary-steps judged by the p95 of the requests the proxy logged', () => {
  it('a canary 300 ms slower for 10 % of its requests: its mean stays under watch-max-latency, its p95 does not, and it is rolled back', async () => {
    const bed = new Bed()
    await bed.live()
    bed.traffic.behaviour.set(V2, { ms: 5, slowShare: 0.1, slowMs: 300 })
    const e = await releaseFailure(bed.canary(steps({ maxLatencyMs: 100 })))
    expect(e.message).toMatch(/at 5 %: the canary's p95 response time \(of \d+ requests\) was 305 ms, above watch-max-latency 100 ms \(live: 5 ms p95\)/)
    expect(e.result).toMatchObject({ result: 'auto-rolled-back', color: 'blue' })
    const [step] = e.result!.canarySteps!
    expect(step).toMatchObject({ weight: 5, verdict: 'breached', canary: { p95Ms: 305 }, live: { p95Ms: 5 } })
    // The mean the counters give was well under the bound: it alone would have promoted this canary.
    expect(step.canary.responseMs).toBeLessThan(100)
    expect(bed.router.route).toMatchObject({ color: 'blue' })
    // Logged for the step only: off again once it ended.
    expect(bed.traffic.tokens).toHaveLength(1)
    expect(bed.traffic.logging).toBeUndefined()
  })

  it('the same canary behind a proxy without the request log is judged by its mean, passes, and the steps say why', async () => {
    const bed = new Bed(false)
    await bed.live()
    bed.traffic.behaviour.set(V2, { ms: 5, slowShare: 0.1, slowMs: 300 })
    const result = await bed.canary(steps({ maxLatencyMs: 100 }))
    expect(result.result).toBe('deployed')
    for (const step of result.canarySteps!) {
      expect(step.canary.p95Ms).toBeUndefined()
      expect(step.why).toMatch(
        /ms mean.*\(response times are window means: the proxy's running configuration has no request log yet \(it gains one at its next reload\)\)/
      )
    }
  })

  it('a good canary: every step logged under its own token, off between steps, p95 per color in each step', async () => {
    const bed = new Bed()
    await bed.live()
    bed.traffic.behaviour.set(V2, { ms: 8 })
    const result = await bed.canary(steps({ maxLatencyMs: 100, maxLatencyIncrease: 50 }))
    expect(result.result).toBe('deployed')
    expect(new Set(bed.traffic.tokens).size).toBe(3)
    expect(bed.traffic.tokens.every(t => /^web\.(5|25|50)\.[0-9a-f]{8}$/.test(t))).toBe(true)
    expect(bed.traffic.logging).toBeUndefined()
    for (const step of result.canarySteps!) {
      expect(step.canary.p95Ms).toBe(8)
      expect(step.live.p95Ms).toBe(5)
      // Nothing overflowed the ring: every response of the window is in the p95 (the counters' start and the log's differ by nothing here).
      expect(step.canary.p95Of).toBe(step.canary.requests)
      expect(step.why).toMatch(/the canary: \d+ requests, 0 % 5xx, 8 ms p95; live: \d+ requests, 0 % 5xx, 5 ms p95$/)
    }
  })

  it('more requests between two reads than the ring holds: the p95 is over a sample of the latest ones', async () => {
    const bed = new Bed()
    bed.traffic.rps = 2000
    bed.traffic.ringSize = 1000
    await bed.live()
    bed.traffic.behaviour.set(V2, { ms: 5, slowShare: 0.1, slowMs: 300 })
    const e = await releaseFailure(bed.canary(steps({ weights: [50], maxLatencyMs: 100 })))
    const [step] = e.result!.canarySteps!
    expect(step.canary.p95Ms).toBe(305)
    // 2,000 a second, read every 2 s: 4,000 requests between reads (2,000 of them the canary's), 1,000 kept.
    expect(step.canary.requests).toBeGreaterThanOrEqual(2000)
    expect(step.canary.p95Of!).toBeLessThanOrEqual(1000 * Math.ceil(step.ms / 2000))
    expect(step.canary.p95Of!).toBeLessThan(step.canary.requests)
  })
})

describe('the p95 and the window', () => {
  it('nearest-rank percentile', () => {
    expect(percentile([1], 95)).toBe(1)
    expect(percentile([5, 1, 3, 2, 4], 95)).toBe(5)
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(hundred, 95)).toBe(95)
    expect(percentile([...Array(90).fill(5), ...Array(10).fill(305)], 95)).toBe(305)
    expect(percentile([...Array(96).fill(5), ...Array(4).fill(305)], 95)).toBe(5)
  })

  it('a line read twice counts once; lines without a response time count in no percentile', () => {
    const w = new StepWindow()
    const lines = [
      { key: '7:1', color: 'green' as const, responseMs: 10, status: 200 },
      { key: '7:2', color: 'green' as const, responseMs: 30, status: 200 },
      { key: '7:3', color: 'green' as const, status: 503 },
      { key: '7:4', color: 'blue' as const, responseMs: 4, status: 200 }
    ]
    w.addRequests(lines.slice(0, 2))
    w.addRequests(lines)
    expect(w.figures('green')).toMatchObject({ p95Ms: 30, p95Of: 2 })
    expect(w.figures('blue')).toMatchObject({ p95Ms: 4, p95Of: 1 })
  })

  it('judges the mean when fewer than 20 requests were logged; compares p95 with p95 (100 of each logged), else mean with mean', () => {
    const s = steps({ maxLatencyMs: 100, maxLatencyIncrease: 50 })
    const fig = (requests: number, responseMs: number, p95Ms?: number, p95Of = requests) => ({
      requests,
      errors: 0,
      errorPercent: 0,
      responseMs,
      ...(p95Ms === undefined ? {} : { p95Ms, p95Of })
    })
    expect(judgeStep(fig(200, 30, 300), fig(1000, 5, 6), s)).toMatchObject({ verdict: 'breached' })
    expect(judgeStep(fig(200, 30, 300, 19), fig(1000, 5, 6), s).why).toMatch(/mean response time was 30 ms against 5 ms/)
    // The live color without a p95: means on both sides (the canary's mean 12 ms is not 50 % over 10 ms + noise).
    expect(judgeStep(fig(200, 12, 90), fig(1000, 10), steps({ maxLatencyIncrease: 50 }))).toMatchObject({ verdict: 'passed' })
    expect(judgeStep(fig(200, 12, 90), fig(1000, 10, 11), steps({ maxLatencyIncrease: 50 })).why).toMatch(
      /p95 response time \(of 200 requests\) was 90 ms against 11 ms of the live color/
    )
    // 60 canary responses logged: their p95 is too few to compare with, the means are compared.
    expect(judgeStep(fig(60, 12, 90), fig(1000, 10, 11), steps({ maxLatencyIncrease: 50 }))).toMatchObject({ verdict: 'passed' })
  })
})

describe('the proxy side: the request ring', () => {
  it('the base declares a bounded ring, logs only backends the runtime map names, and formats one short line', () => {
    const base = renderBaseConfig(30, 'p')
    expect(base).toMatch(new RegExp(`ring ${REQUEST_RING}\\n  format raw\\n  maxlen 256\\n  size 262144\\n`))
    expect(base).toContain(`log ring@${REQUEST_RING} format raw local0 info`)
    expect(base).toContain('log-format "%[var(txn.cutover_step)] %pid %rt %s %Tr %ST"')
    expect(base).toContain(`map(/usr/local/etc/haproxy/cutover/${REQUEST_LOG_MAP})`)
    expect(base).toContain('http-request set-log-level silent unless { var(txn.cutover_step) -m found }')
  })

  it('reads the lines of its token, with the color of their server; the proxy own answers and other steps are left out', () => {
    const answer = [
      'web.5.aa 8 100 green 12 200',
      'web.5.aa 8 101 blue-2 3 200',
      'web.5.aa 8 102 green -1 503',
      'web.5.aa 8 103 <NOSRV> -1 503',
      'web.25.bb 8 104 green 5 200',
      '- 8 105 <NOSRV> -1 400',
      ''
    ].join('\n')
    expect(requestLinesOf(answer, 'web.5.aa')).toEqual([
      { key: '8:100', color: 'green', responseMs: 12, status: 200 },
      { key: '8:101', color: 'blue', responseMs: 3, status: 200 },
      { key: '8:102', color: 'green', responseMs: undefined, status: 503 }
    ])
    expect(() => requestLinesOf('No such event sink\n', 'web.5.aa')).toThrow(/no request ring cutover-requests/)
  })
})

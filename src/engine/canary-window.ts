import type { CanaryStepsSettings } from '../core/config.js'
import type { Color } from '../core/names.js'
import type { CanaryColorFigures } from '../core/outcome.js'
import type { RequestLine, ServerCounts } from './ports.js'
import { MIN_RESPONSES_EARLY, MIN_RESPONSES_JUDGED } from './watch.js'

/**
 * canary-steps (issue #24): what each color did over one step's window, from samples of the proxy's
 * per-server counters. Responses and 5xx are running totals: the window is their difference (a
 * sample lower than the one before means the proxy reloaded and counts from zero again).
 *
 * Response time: HAProxy 2.6 keeps no percentiles and no running sum of response times, only a
 * moving average per server (`rtime`): while a server has answered fewer than `averageWindow`
 * requests it is their plain mean, after that each response weighs 1/averageWindow. Both are
 * linear, so the mean of the window's own responses is recovered from the average at the window's
 * start and at its end and the count in between (`windowMeanMs`), whatever the server answered
 * before the window (a color's slot served older releases).
 *
 * A mean misses a slow tail (10 % of requests 300 ms slower moves it by 30 ms), so where the proxy
 * logs each request of the step (Router.requestLog) the window also has every response time, or a
 * sample of its latest ones, and their 95th percentile is what the latency rules judge.
 */

interface ServerTrack {
  /** The reading the window's response time counts from; undefined: the proxy's process started within the window. */
  base?: ServerCounts
  last: ServerCounts
  responses: number
  errors: number
}

export class StepWindow {
  private readonly servers = new Map<string, ServerTrack>()
  /** Requests logged so far (by key: a line read twice counts once) and their response times per color. */
  private readonly logged = new Set<string>()
  private readonly times: Record<Color, number[]> = { blue: [], green: [] }

  /** Lines of the proxy's request log for this window (repeats of earlier reads are skipped). */
  addRequests(lines: RequestLine[]): void {
    for (const line of lines) {
      if (this.logged.has(line.key)) continue
      this.logged.add(line.key)
      if (line.responseMs !== undefined) this.times[line.color].push(line.responseMs)
    }
  }

  /** The first sample is the window's start. */
  add(sample: ServerCounts[]): void {
    for (const s of sample) {
      const t = this.servers.get(s.server)
      if (!t) {
        this.servers.set(s.server, { base: s, last: s, responses: 0, errors: 0 })
        continue
      }
      const reset = s.responses < t.last.responses || s.errors < t.last.errors
      t.responses += reset ? s.responses : s.responses - t.last.responses
      t.errors += reset ? s.errors : s.errors - t.last.errors
      if (reset) t.base = undefined
      t.last = s
    }
  }

  figures(color: Color): CanaryColorFigures {
    let requests = 0
    let errors = 0
    let weighted = 0
    let margins = 0
    let timed = 0
    for (const t of this.servers.values()) {
      if (t.last.color !== color) continue
      requests += t.responses
      errors += t.errors
      const since = t.last.responses - (t.base?.responses ?? 0)
      const mean = since > 0 ? windowMeanMs(t.base, t.last) : undefined
      if (mean === undefined) continue
      weighted += mean.ms * since
      margins += mean.marginMs * since
      timed += since
    }
    const times = this.times[color]
    return {
      requests,
      errors,
      errorPercent: requests > 0 ? round1((100 * errors) / requests) : 0,
      ...(timed > 0 ? { responseMs: Math.round(weighted / timed), responseMarginMs: Math.ceil(margins / timed) } : {}),
      ...(times.length > 0 ? { p95Ms: percentile(times, 95), p95Of: times.length } : {})
    }
  }
}

/** The nearest-rank percentile: the smallest value that at least `p` % of the values do not exceed. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]
}

/**
 * The mean response time (ms) of the responses a server sent between two readings of its moving
 * average (`from` undefined: since its process started, from zero). With N = averageWindow and
 * d = 1 − 1/N, the proxy keeps S = average × samples: a plain sum over its first N responses, then
 * S' = d·S + v per response. Of the window's k responses the first j (up to N) are summed plainly
 * and the other k − j decay, so for a window of mean m: S_end = d^(k−j)·(S_start + j·m) +
 * m·N·(1 − d^(k−j)), which gives m. (A recency-weighted mean once the average is saturated.)
 * The proxy shows each average rounded up to a whole ms, so each S is known to within `samples`
 * ms: `marginMs` is how far m may be off for that alone (large for a few responses after many).
 */
export function windowMeanMs(from: ServerCounts | undefined, to: ServerCounts): { ms: number; marginMs: number } | undefined {
  const k = to.responses - (from?.responses ?? 0)
  if (k <= 0) return undefined
  const n = to.averageWindow
  const startSum = from ? from.averageMs * from.averageSamples : 0
  const plain = Math.max(0, Math.min(k, n - (from?.averageSamples ?? 0)))
  const decay = Math.pow(1 - 1 / n, k - plain)
  const weight = plain * decay + n * (1 - decay)
  const mean = (to.averageMs * to.averageSamples - decay * startSum) / weight
  return { ms: Math.max(0, mean), marginMs: (to.averageSamples + decay * (from?.averageSamples ?? 0)) / weight }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10
}

/** Below this difference (beyond the figures' margins) a slower canary is noise: a cold start, a busy host. */
export const LATENCY_NOISE_MS = 10

export type StepVerdict = 'passed' | 'breached' | 'low-traffic'

export interface StepJudgement {
  verdict: StepVerdict
  /** One clause: what was seen. */
  why: string
}

/**
 * A step's verdict, the canary against the bounds and against the live color over the same window.
 * `early`: judged before the step's time is up, so only from MIN_RESPONSES_EARLY responses on, and
 * only a breach counts (a pass waits for the end).
 */
export function judgeStep(canary: CanaryColorFigures, live: CanaryColorFigures, s: CanaryStepsSettings, early = false): StepJudgement {
  const enough = early ? MIN_RESPONSES_EARLY : MIN_RESPONSES_JUDGED
  if (canary.requests < enough)
    return { verdict: 'low-traffic', why: `the canary answered ${canary.requests} requests, too few to judge (fewer than ${enough})` }
  if (canary.errorPercent > s.maxErrorRate)
    return {
      verdict: 'breached',
      why: `${canary.errors} of ${canary.requests} of the canary's responses (${canary.errorPercent} %) were 5xx, above ${s.maxErrorRate} % (live: ${live.errorPercent} %)`
    }
  const canaryTime = timingOf(canary)
  if (canaryTime && s.maxLatencyMs !== undefined && canaryTime.low > s.maxLatencyMs)
    return {
      verdict: 'breached',
      why: `the canary's ${describeTiming(canaryTime)} was ${canaryTime.ms} ms, above watch-max-latency ${s.maxLatencyMs} ms (live: ${msOf(timingOf(live, canaryTime.kind))})`
    }
  const [c, l] = comparable(canary, live)
  if (c && l && s.maxLatencyIncrease !== undefined && live.requests >= MIN_RESPONSES_JUDGED) {
    if (c.low > l.high * (1 + s.maxLatencyIncrease / 100) && c.low - l.high > LATENCY_NOISE_MS)
      return {
        verdict: 'breached',
        why: `the canary's ${describeTiming(c)} was ${c.ms} ms against ${l.ms} ms of the live color, ${Math.round((100 * (c.ms - l.ms)) / Math.max(1, l.ms))} % more, above watch-max-latency-increase ${s.maxLatencyIncrease} %`
      }
  }
  return {
    verdict: 'passed',
    why: `the canary: ${canary.requests} requests, ${canary.errorPercent} % 5xx, ${msOf(canaryTime)}; live: ${live.requests} requests, ${live.errorPercent} % 5xx, ${msOf(timingOf(live, canaryTime?.kind))}`
  }
}

/** A color's response time as judged, and the bounds it surely lies within (a mean's rounding margin). */
interface Timing {
  kind: 'p95' | 'mean'
  ms: number
  low: number
  high: number
  /** p95: how many response times it is over. */
  of?: number
}

/**
 * The p95 where the proxy logged enough of the window's requests (MIN_RESPONSES_JUDGED), else the
 * window mean; `prefer` 'mean' takes the mean even then (to compare like with like).
 */
export function timingOf(f: CanaryColorFigures, prefer: 'p95' | 'mean' = 'p95'): Timing | undefined {
  if (prefer === 'p95' && f.p95Ms !== undefined && (f.p95Of ?? 0) >= MIN_RESPONSES_JUDGED)
    return { kind: 'p95', ms: f.p95Ms, low: f.p95Ms, high: f.p95Ms, of: f.p95Of }
  if (f.responseMs === undefined) return undefined
  const margin = f.responseMarginMs ?? 0
  return { kind: 'mean', ms: f.responseMs, low: f.responseMs - margin, high: f.responseMs + margin }
}

/**
 * watch-max-latency-increase compares a p95 only with a p95, and only of MIN_P95_COMPARED logged
 * responses each: of fewer it is the slowest few requests of a busy host's step, noise on either
 * side; the means (with their margins) are compared instead.
 */
export const MIN_P95_COMPARED = 100

/** Both colors' p95s when both have enough of them, else both means. */
function comparable(canary: CanaryColorFigures, live: CanaryColorFigures): [Timing | undefined, Timing | undefined] {
  const c = timingOf(canary)
  const l = timingOf(live)
  if (c?.kind === 'p95' && l?.kind === 'p95' && c.of! >= MIN_P95_COMPARED && l.of! >= MIN_P95_COMPARED) return [c, l]
  return [timingOf(canary, 'mean'), timingOf(live, 'mean')]
}

function describeTiming(t: Timing): string {
  return t.kind === 'p95' ? `p95 response time (of ${t.of} requests)` : 'mean response time'
}

function msOf(t: Timing | undefined): string {
  return t === undefined ? 'no response time' : `${t.ms} ms${t.kind === 'p95' ? ' p95' : ' mean'}`
}

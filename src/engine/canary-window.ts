import type { CanaryStepsSettings } from '../core/config.js'
import type { Color } from '../core/names.js'
import type { CanaryColorFigures } from '../core/outcome.js'
import type { ServerCounts } from './ports.js'
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
    return {
      requests,
      errors,
      errorPercent: requests > 0 ? round1((100 * errors) / requests) : 0,
      ...(timed > 0 ? { responseMs: Math.round(weighted / timed), responseMarginMs: Math.ceil(margins / timed) } : {})
    }
  }
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
  const ms = canary.responseMs
  // Judged on what the figures surely are: the canary at its lowest, the live color at its highest.
  const canaryLow = ms === undefined ? undefined : ms - (canary.responseMarginMs ?? 0)
  if (canaryLow !== undefined && s.maxLatencyMs !== undefined && canaryLow > s.maxLatencyMs)
    return {
      verdict: 'breached',
      why: `the canary's response time was ${ms} ms, above watch-max-latency ${s.maxLatencyMs} ms (live: ${msOf(live.responseMs)})`
    }
  const liveMs = live.responseMs
  if (canaryLow !== undefined && liveMs !== undefined && s.maxLatencyIncrease !== undefined && live.requests >= MIN_RESPONSES_JUDGED) {
    const liveHigh = liveMs + (live.responseMarginMs ?? 0)
    if (canaryLow > liveHigh * (1 + s.maxLatencyIncrease / 100) && canaryLow - liveHigh > LATENCY_NOISE_MS)
      return {
        verdict: 'breached',
        why: `the canary's response time was ${ms} ms against ${liveMs} ms of the live color, ${Math.round((100 * (ms! - liveMs)) / Math.max(1, liveMs))} % more, above watch-max-latency-increase ${s.maxLatencyIncrease} %`
      }
  }
  return {
    verdict: 'passed',
    why: `the canary: ${canary.requests} requests, ${canary.errorPercent} % 5xx, ${msOf(ms)}; live: ${live.requests} requests, ${live.errorPercent} % 5xx, ${msOf(liveMs)}`
  }
}

function msOf(ms: number | undefined): string {
  return ms === undefined ? 'no response time' : `${ms} ms`
}

import type { WatchSettings } from '../core/config.js'
import type { Log } from '../core/log.js'
import { describeAnswer } from './describe.js'
import type { Clock, ResponseCounts, Route, Router } from './ports.js'

/**
 * watch (issue #12): after a verified switch, the new color is observed through the proxy for a
 * while: the 5xx share of its responses, as the proxy counts them, and its health path asked
 * through the proxy. Either going wrong makes the engine switch back.
 */

/** How often the counters are read and the health path is asked. */
export const WATCH_TICK_MS = 2000
/** How soon a cancel is noticed while waiting for the next sample. */
const ABORT_SLICE_MS = 250
/** One health probe through the proxy waits at most this long for an answer from the new release. */
export const WATCH_PROBE_TIMEOUT_MS = 2000
/** Health fails the watch after this many failed probes in a row (one slow answer is not an outage). */
export const WATCH_HEALTH_FAILURES = 3
/**
 * Below this many responses in the whole window the 5xx share is not judged: 1 failure of 2
 * requests of a quiet app says nothing about the release.
 */
export const MIN_RESPONSES_JUDGED = 20
/** Before the window ends, the share is judged only once this many responses were counted (an early spike of a few errors can be noise). */
export const MIN_RESPONSES_EARLY = 100

/**
 * Running totals of responses and 5xx over the window, from samples of the proxy's counters. The
 * first sample is the baseline; a sample lower than the one before means the proxy reloaded (its
 * new process counts from zero), so that sample counts whole.
 */
export class ResponseTally {
  responses = 0
  errors = 0
  private last?: ResponseCounts

  add(sample: ResponseCounts): void {
    const last = this.last
    this.last = sample
    if (!last) return
    const reset = sample.responses < last.responses || sample.errors < last.errors
    this.responses += reset ? sample.responses : sample.responses - last.responses
    this.errors += reset ? sample.errors : sample.errors - last.errors
  }

  get started(): boolean {
    return this.last !== undefined
  }
}

export interface ErrorShare {
  /** Enough responses to judge (see MIN_RESPONSES_JUDGED). */
  judged: boolean
  /** The 5xx share in percent (0 without responses). */
  percent: number
  /** Judged and above the limit. */
  over: boolean
}

/** The 5xx share of `errors` of `responses` against `maxPercent`, judged from `minResponses` responses on. */
export function errorShare(responses: number, errors: number, maxPercent: number, minResponses = MIN_RESPONSES_JUDGED): ErrorShare {
  const percent = responses > 0 ? (100 * errors) / responses : 0
  const judged = responses >= minResponses
  return { judged, percent, over: judged && percent > maxPercent }
}

export type WatchOutcome =
  | { kind: 'passed'; ms: number; summary: string }
  /** reason: what was seen, one clause ("37 of 412 responses (9.0 %) were 5xx in 40 s, above 5 %"). */
  | { kind: 'failed'; ms: number; reason: string }
  | { kind: 'aborted'; ms: number; abortReason: string; summary: string }

export interface WatchDeps {
  router: Router
  /** The route of the new release, as switched to. */
  route: Route
  healthPath: string
  settings: WatchSettings
  clock: Clock
  log: Log
  /** Set when the run was told to stop: the watch ends at once (without a verdict). */
  aborted: () => string | undefined
  /** Several hosts: why another host's watch failed, if it did: this one then fails too, at once. */
  failedElsewhere?: () => string | undefined
}

function secondsOf(ms: number): string {
  return `${Math.round(ms / 1000)} s`
}

function percentOf(p: number): string {
  return `${p.toFixed(1)} %`
}

/** "5 %", "0.5 %": the limit as the user wrote it. */
function limitOf(p: number): string {
  return `${p} %`
}

/** Observes the new color for `settings.durationMs`; resolves with the verdict (never throws for what it sees). */
export async function watchRelease(deps: WatchDeps): Promise<WatchOutcome> {
  const { router, route, healthPath, settings, clock, log } = deps
  const counts = router.responseCounts?.bind(router)
  const started = clock.now()
  const elapsed = () => clock.now() - started
  const tally = new ResponseTally()
  let countErrors = 0
  const sample = async () => {
    if (!counts) return
    try {
      tally.add(await counts())
    } catch (e) {
      // The health probes still watch; the share is judged on the samples that came.
      if (countErrors++ === 0) log.warning(`watch: could not read the proxy's response counters: ${(e as Error).message}`)
    }
  }
  let probes = 0
  let answered = 0
  let failedInRow = 0
  const describeCounts = () => {
    if (!counts) return 'the proxy counts no responses'
    if (!tally.started) return "the proxy's response counters could not be read"
    const share = errorShare(tally.responses, tally.errors, settings.maxErrorRate)
    if (!share.judged) return `${tally.errors} of ${tally.responses} responses were 5xx: too few to judge (fewer than ${MIN_RESPONSES_JUDGED})`
    return `${tally.errors} of ${tally.responses} responses (${percentOf(share.percent)}) were 5xx (at most ${limitOf(settings.maxErrorRate)} allowed)`
  }
  const summary = () => `${describeCounts()}; ${healthPath} answered ${answered} of ${probes} probes in ${secondsOf(elapsed())}`

  log.info(
    `Watching ${route.color} for ${secondsOf(settings.durationMs)}: the 5xx share of its responses (at most ${limitOf(settings.maxErrorRate)}, judged from ${MIN_RESPONSES_JUDGED} responses) and ${healthPath} through the proxy every ${WATCH_TICK_MS / 1000} s`
  )
  await sample()
  for (;;) {
    const abort = deps.aborted()
    if (abort) return { kind: 'aborted', ms: elapsed(), abortReason: abort, summary: summary() }
    const elsewhere = deps.failedElsewhere?.()
    if (elsewhere) return { kind: 'failed', ms: elapsed(), reason: elsewhere }
    const left = settings.durationMs - elapsed()
    if (left <= 0) break
    // In slices: a cancel must end the watch well within the runner's grace after its signal.
    const until = clock.now() + Math.min(WATCH_TICK_MS, left)
    while (clock.now() < until && !deps.aborted() && !deps.failedElsewhere?.()) await clock.sleep(Math.min(ABORT_SLICE_MS, until - clock.now()))
    const stop = deps.aborted()
    if (stop) return { kind: 'aborted', ms: elapsed(), abortReason: stop, summary: summary() }

    await sample()
    const probe = await router.verify(route, healthPath, WATCH_PROBE_TIMEOUT_MS)
    probes++
    if (probe.ok) {
      answered++
      failedInRow = 0
    } else {
      failedInRow++
      log.warning(`watch: ${healthPath} through the proxy: ${describeAnswer(probe.last)} (${failedInRow}/${WATCH_HEALTH_FAILURES} in a row)`)
      if (failedInRow >= WATCH_HEALTH_FAILURES) {
        return {
          kind: 'failed',
          ms: elapsed(),
          reason: `${healthPath} failed ${failedInRow} times in a row through the proxy (last answer: ${describeAnswer(probe.last)}) after ${secondsOf(elapsed())}`
        }
      }
    }
    const early = errorShare(tally.responses, tally.errors, settings.maxErrorRate, MIN_RESPONSES_EARLY)
    if (early.over) return { kind: 'failed', ms: elapsed(), reason: overReason(tally, early.percent, elapsed(), settings) }
  }
  const share = errorShare(tally.responses, tally.errors, settings.maxErrorRate)
  if (share.over) return { kind: 'failed', ms: elapsed(), reason: overReason(tally, share.percent, elapsed(), settings) }
  return { kind: 'passed', ms: elapsed(), summary: summary() }
}

function overReason(tally: ResponseTally, percent: number, ms: number, settings: WatchSettings): string {
  return `${tally.errors} of ${tally.responses} responses (${percentOf(percent)}) were 5xx in ${secondsOf(ms)}, above ${limitOf(settings.maxErrorRate)}`
}

import type { Color } from './names.js'
import type { Release } from './release.js'

export type Mode = 'deploy' | 'rollback' | 'status' | 'maintenance' | 'live' | 'promote' | 'remove'
/**
 * maintenance / live: what mode maintenance and mode live did (unchanged when it already was so).
 * auto-rolled-back: the watch after a deploy saw too many 5xx or a failing health path and switched
 * back to the previous release (the run fails). removed: mode remove took the app off the host.
 */
export type ResultKind = 'deployed' | 'rolled-back' | 'unchanged' | 'failed' | 'maintenance' | 'live' | 'canary' | 'preview' | 'auto-rolled-back' | 'removed'

export type StepName =
  'connect' | 'lock' | 'inspect' | 'pull' | 'shared' | 'release-command' | 'boot' | 'healthy' | 'workers' | 'switch' | 'verify' | 'watch' | 'cleanup'

export interface StepRecord {
  name: StepName
  ms: number
  ok: boolean
  detail?: string
}

export interface Failure {
  /** One sentence for the annotation and the summary. */
  reason: string
  /** Last log lines of the container that failed, when one did. */
  logs?: string
  container?: string
  exitCode?: number
  oomKilled?: boolean
}

/** A worker of the live release, as the run left it. */
export interface WorkerState {
  name: string
  container: string
  state: string
}

export interface Standby {
  color: Color
  image: string
  state: 'running' | 'stopped' | 'removed'
}

/** What the engine found or did: everything of an Outcome that is not about the run itself. */
export interface ReleaseResult {
  result: ResultKind
  color?: Color
  image?: string
  containerId?: string
  /** When the live release went live. */
  deployedAt?: string
  previousColor?: Color
  previousImage?: string
  standby?: Standby
  /** The live release's workers. */
  workers?: WorkerState[]
  failure?: Failure
  /** The release live after the run, as the ledger records it. */
  release?: Release
  /** The ledger's releases after the run, newest (live) first. */
  releases?: Release[]
  /** promote manual: the release gated and waiting for mode promote (result preview, or mode status while one waits). */
  preview?: PreviewState
  /** What this run did to a waiting preview: made it live (mode promote) or discarded it (mode rollback). */
  previewEnded?: 'promoted' | 'discarded'
  /** mode status: what a request through the proxy was answered by, compared with the ledger. */
  served?: ServedCheck
  /** With several hosts: what happened on each (the fields above are the first host's). */
  hosts?: HostOutcome[]
  /** With several hosts: ms between the first and the last host's proxy switch. */
  switchSpreadMs?: number
  /** Mode status with several hosts: not every host has the same release live. */
  drift?: boolean
  /** canary-steps: each step the canary went through, in order. */
  canarySteps?: CanaryStepReport[]
}

/** One color over one canary step's window, as the proxy counted it. */
export interface CanaryColorFigures {
  requests: number
  errors: number
  /** 5xx share in percent, one decimal. */
  errorPercent: number
  /** Mean response time (ms) of the window's responses; absent without responses. */
  responseMs?: number
  /** How far responseMs may be off (±ms) for the proxy's whole-ms averages alone; judged with it in the release's favour. */
  responseMarginMs?: number
  /**
   * The 95th percentile of the window's response times (ms, until the app's response headers), from
   * the proxy's log of each request; absent when the proxy could not log them (responseMs is judged).
   */
  p95Ms?: number
  /** How many response times p95Ms is over: every one of the window, or a sample of its latest under heavy load. */
  p95Of?: number
}

/**
 * One step of canary-steps (issue #24). passed / breached / low-traffic: judged at the step's end
 * (a breach may come earlier); aborted: the run was told to stop during it; failed-elsewhere:
 * another host's step breached.
 */
export interface CanaryStepReport {
  weight: number
  ms: number
  canary: CanaryColorFigures
  live: CanaryColorFigures
  verdict: 'passed' | 'breached' | 'low-traffic' | 'aborted' | 'failed-elsewhere'
  /** What was seen, one clause. */
  why: string
}

/**
 * One host of a run with several: `cancelled` = not switched because another host failed first;
 * `reverted` = switched, then switched back because another host failed; `skipped` = a rolling
 * rollout stopped before this host's batch.
 */
export type HostResultKind = ResultKind | 'cancelled' | 'reverted' | 'skipped'

export interface HostOutcome {
  /** user@host:port */
  host: string
  result: HostResultKind
  /** What is live on the host after the run. */
  color?: Color
  image?: string
  /** The id of the live release in the host's ledger. */
  release?: string
  error?: string
  /** canary-steps: this host's steps, each judged on its own proxy's figures. */
  canarySteps?: CanaryStepReport[]
}

/** A release gated beside the live one, reachable at its preview domains only, waiting for mode promote. */
export interface PreviewState {
  color: Color
  image: string
  since: string
  /** The first preview domain as a URL; absent without preview-domains. */
  url?: string
}

export interface ServedCheck {
  /** The proxy serves the recorded live release. */
  ok: boolean
  /** One sentence saying what answered. */
  text: string
}

/** Everything reporting needs to know about one run. */
export interface Outcome extends ReleaseResult {
  mode: Mode
  app: string
  steps: StepRecord[]
  durationMs: number
}

/** A failure with what the summary should show about it. */
export class ReleaseError extends Error {
  override name = 'ReleaseError'
  /** `result`: what the host is left with when the run fails after changing it on purpose (an automatic rollback), for outputs and the summary. */
  constructor(
    readonly failure: Failure,
    readonly result?: ReleaseResult,
    /** The failure is the infrastructure's (a lost connection, an API error), not the release's own: GitHub status `error`. */
    readonly infrastructure = false
  ) {
    super(failure.reason)
  }
}

import type { Color } from './names.js'
import type { Release } from './release.js'

export type Mode = 'deploy' | 'rollback' | 'status' | 'maintenance' | 'live' | 'promote'
/** maintenance / live: what mode maintenance and mode live did (unchanged when it already was so). */
export type ResultKind = 'deployed' | 'rolled-back' | 'unchanged' | 'failed' | 'maintenance' | 'live' | 'canary'

export type StepName = 'connect' | 'lock' | 'inspect' | 'pull' | 'boot' | 'healthy' | 'switch' | 'verify' | 'cleanup'

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
  failure?: Failure
  /** The release live after the run, as the ledger records it. */
  release?: Release
  /** The ledger's releases after the run, newest (live) first. */
  releases?: Release[]
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
  constructor(readonly failure: Failure) {
    super(failure.reason)
  }
}

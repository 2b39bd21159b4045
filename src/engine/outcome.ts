import type { Mode } from '../inputs/config.js'
import type { Color } from './names.js'
import type { StepRecord } from './timeline.js'

export type ResultKind = 'deployed' | 'rolled-back' | 'unchanged' | 'failed'

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

/** Everything reporting needs to know about one run. */
export interface Outcome {
  mode: Mode
  app: string
  result: ResultKind
  color?: Color
  image?: string
  containerId?: string
  deployedAt?: string
  previousColor?: Color
  previousImage?: string
  standby?: Standby
  failure?: Failure
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

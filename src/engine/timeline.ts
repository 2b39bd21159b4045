import type { Log } from '../core/log.js'
import type { StepName, StepRecord } from '../core/outcome.js'
import { sinceStart, trace } from '../core/trace.js'

/** Times each step of a run and wraps it in a collapsible log group. */
export class Timeline {
  readonly steps: StepRecord[] = []
  readonly startedAt: number

  constructor(
    private readonly log: Log,
    private readonly now: () => number = Date.now
  ) {
    this.startedAt = now()
  }

  /**
   * `since`: when the step's work really began, if before this call (the SSH handshake starts while
   * the action loads): the step counts from then, on this timeline's clock and on the trace's.
   */
  async step<T>(name: StepName, title: string, fn: (note: (detail: string) => void) => Promise<T>, since?: { at: number; traced: number }): Promise<T> {
    const started = since?.at ?? this.now()
    const tracedFrom = since?.traced ?? sinceStart()
    let detail: string | undefined
    try {
      const value = await this.log.group(title, () => fn(d => (detail = d)))
      this.steps.push({ name, ms: this.now() - started, ok: true, detail })
      return value
    } catch (e) {
      this.steps.push({ name, ms: this.now() - started, ok: false, detail: detail ?? (e as Error).message })
      throw e
    } finally {
      trace.span(`step ${name}`, tracedFrom)
    }
  }

  elapsedMs(): number {
    return this.now() - this.startedAt
  }
}

import type { Log } from '../reporting/log.js'

export type StepName = 'connect' | 'lock' | 'inspect' | 'pull' | 'boot' | 'healthy' | 'switch' | 'verify' | 'cleanup'

export interface StepRecord {
  name: StepName
  ms: number
  ok: boolean
  detail?: string
}

/** Times each step of a run and wraps it in a collapsible log group. */
export class Timeline {
  readonly steps: StepRecord[] = []
  readonly startedAt = Date.now()

  constructor(private readonly log: Log) {}

  async step<T>(name: StepName, title: string, fn: (note: (detail: string) => void) => Promise<T>): Promise<T> {
    const started = Date.now()
    let detail: string | undefined
    try {
      const value = await this.log.group(title, () => fn(d => (detail = d)))
      this.steps.push({ name, ms: Date.now() - started, ok: true, detail })
      return value
    } catch (e) {
      this.steps.push({ name, ms: Date.now() - started, ok: false, detail: detail ?? (e as Error).message })
      throw e
    }
  }

  /** Records a step timed elsewhere (the connection is made before the timeline exists). */
  record(step: StepRecord): void {
    this.steps.push(step)
  }

  elapsedMs(): number {
    return Date.now() - this.startedAt
  }
}

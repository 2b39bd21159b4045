import { randomBytes } from 'node:crypto'
import type { StepWindow } from './canary-window.js'
import type { ExposureRun } from './exposure.js'

/**
 * canary-steps: the proxy's log of each request of one step, where the router keeps one, so the
 * step's p95 per color is known. Turned on for the step only (steady state logs nothing) and off
 * again whatever ends the step. Without it the step judges the window mean, and `note` says why.
 */
export class StepRequestLog {
  private token?: string
  private failures = 0
  /** Why the step's response times are window means (undefined while the log works). */
  note?: string

  constructor(private readonly run: ExposureRun) {}

  async start(weight: number): Promise<void> {
    const { router, app } = this.run.ctx
    if (!router.startRequestLog || !router.requestLog) {
      this.note = `the ${router.capabilities.name} router logs no requests`
      return
    }
    // One word, new for every step: lines of an earlier step (or run) never count in this one.
    const token = `${app}.${weight}.${randomBytes(4).toString('hex')}`
    try {
      if (await router.startRequestLog(token)) this.token = token
      else this.note = "the proxy's running configuration has no request log yet (it gains one at its next reload)"
    } catch (e) {
      this.note = `the proxy's request log could not be turned on (${(e as Error).message})`
    }
  }

  /** The step's requests logged so far into `window`; a failed read is noted and the next one tried. */
  async read(window: StepWindow): Promise<void> {
    if (!this.token) return
    try {
      window.addRequests(await this.run.ctx.router.requestLog!(this.token))
    } catch (e) {
      if (this.failures++ === 0) this.run.ctx.log.warning(`canary-steps: could not read the proxy's request log: ${(e as Error).message}`)
      this.note = `the proxy's request log could not be read ${this.failures} times (${(e as Error).message})`
    }
  }

  async stop(): Promise<void> {
    if (!this.token) return
    this.token = undefined
    try {
      await this.run.ctx.router.stopRequestLog?.()
    } catch (e) {
      // Harmless beyond its cost: the entry lives in the running process only and ends with its next reload.
      this.run.ctx.log.warning(`canary-steps: could not turn the proxy's request log off: ${(e as Error).message}; the proxy's next reload does`)
    }
  }
}

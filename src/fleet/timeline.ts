import type { StepName } from '../core/outcome.js'
import { Timeline } from '../engine/timeline.js'

/** A host's timeline that also keeps when its proxy switched, for the spread between hosts. */
export class StampedTimeline extends Timeline {
  switchedAt?: number

  override async step<T>(name: StepName, title: string, fn: (note: (detail: string) => void) => Promise<T>): Promise<T> {
    const value = await super.step(name, title, fn)
    if (name === 'switch') this.switchedAt = Date.now()
    return value
  }
}

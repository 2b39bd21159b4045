import { performance } from 'node:perf_hooks'

/**
 * Where a run's time goes, from the process's own start (performance.timeOrigin, set by Node
 * before it loads anything), so Node's start and the bundle's loading count as well as the steps.
 * One process runs one action: the trace is process-wide. It costs a few array pushes per run.
 */
export interface Span {
  /** What took the time: a step, a phase (`inputs`, `report`) or a call (`docker GET /containers/json`). */
  name: string
  /** Milliseconds since the process started. */
  start: number
  end: number
}

export interface TraceDump {
  /** Epoch ms of the process start, to line the trace up with clocks outside the process. */
  origin: number
  marks: Record<string, number>
  spans: Span[]
}

/** Milliseconds since the process started. */
export function sinceStart(): number {
  return performance.now()
}

class Trace {
  readonly marks: Record<string, number> = {}
  readonly spans: Span[] = []

  /** The first time something happened (a later mark of the same name is ignored). */
  mark(name: string, at = sinceStart()): void {
    this.marks[name] ??= Math.round(at * 10) / 10
  }

  span(name: string, start: number, end = sinceStart()): void {
    this.spans.push({ name, start: Math.round(start * 10) / 10, end: Math.round(end * 10) / 10 })
  }

  /** Times a promise as one span, whatever it settles to. */
  async timed<T>(name: string, work: () => Promise<T>): Promise<T> {
    const start = sinceStart()
    try {
      return await work()
    } finally {
      this.span(name, start)
    }
  }

  dump(): TraceDump {
    return { origin: Math.round(performance.timeOrigin), marks: { ...this.marks }, spans: [...this.spans] }
  }
}

export const trace = new Trace()

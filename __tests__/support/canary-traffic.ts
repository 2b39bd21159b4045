/** Steady traffic through the fake router, counted per server as HAProxy counts it (canary-steps). */
import type { Color } from '../../src/core/names.js'
import type { RequestLine, ServerCounts } from '../../src/engine/ports.js'
import type { FakeClock, FakeHost, FakeRouter } from './fakes.js'

/** How the containers of an image answer the traffic. */
export interface TrafficBehaviour {
  /** Share of 5xx answers, 0-1. */
  errorShare?: number
  /** Response time in ms. */
  ms?: number
  /** Share of requests (0-1) that take `slowMs` more. */
  slowShare?: number
  slowMs?: number
}

const WINDOW = 512

interface ServerState {
  responses: number
  errors: number
  /** average × samples, as HAProxy keeps it. */
  sum: number
  samples: number
  /** Errors owed to whole requests (fractions carried over between reads). */
  errorDebt: number
  /** Slow requests owed likewise. */
  slowDebt: number
}

/**
 * Gives `router` a serverCounts() that counts `rps` requests a second since the last read, split by
 * the canary weight (all to the routed color without a canary), answered as each color's image
 * behaves. `reset()` starts the counters from zero (a proxy reload).
 */
export class Traffic {
  private readonly servers = new Map<Color, ServerState>()
  private last: number
  readonly behaviour = new Map<string, TrafficBehaviour>()
  /** Makes the next read fail (the runtime API not answering). */
  failNext = 0
  /** logRequests(): each request's line while a step logs them, the latest `ringSize` kept (HAProxy's ring). */
  readonly ring: (RequestLine & { token: string })[] = []
  ringSize = 6000
  /** The token requests are logged under now (the router's request-log map entry). */
  logging?: string
  /** Every token a step asked to log under, in order. */
  readonly tokens: string[] = []
  private requestNumber = 0

  constructor(
    private readonly clock: FakeClock,
    private readonly host: FakeHost,
    private readonly router: FakeRouter,
    public rps = 50
  ) {
    this.last = clock.now()
    Object.assign(router, { serverCounts: () => this.read() })
  }

  /** Gives the router a request log (HAProxy's ring); `available` false: a proxy without one. */
  logRequests(available = true): void {
    Object.assign(this.router, {
      startRequestLog: async (token: string) => {
        this.flow()
        this.tokens.push(token)
        if (available) this.logging = token
        return available
      },
      stopRequestLog: async () => {
        this.flow()
        this.logging = undefined
      },
      requestLog: async (token: string) => {
        this.flow()
        return this.ring.filter(l => l.token === token)
      }
    })
  }

  reset(): void {
    this.flow()
    this.servers.clear()
  }

  private state(color: Color): ServerState {
    let s = this.servers.get(color)
    if (!s) this.servers.set(color, (s = { responses: 0, errors: 0, sum: 0, samples: 0, errorDebt: 0, slowDebt: 0 }))
    return s
  }

  /** The requests since the last read, counted. */
  private flow(): void {
    const seconds = (this.clock.now() - this.last) / 1000
    this.last = this.clock.now()
    const route = this.router.route
    if (!route) return
    const total = Math.round(seconds * this.rps)
    const canary = this.router.canaryState
    const shares: [Color, number][] = canary
      ? [
          [canary.live.color, Math.round((total * (100 - canary.weight)) / 100)],
          [canary.canary.color, Math.round((total * canary.weight) / 100)]
        ]
      : [[route.color, total]]
    for (const [color, n] of shares) {
      const image = this.host.containers.get(`${route.app}-${color}`)?.image ?? ''
      const b = this.behaviour.get(image) ?? {}
      const s = this.state(color)
      s.errorDebt += n * (b.errorShare ?? 0)
      const errors = Math.floor(s.errorDebt)
      s.errorDebt -= errors
      s.responses += n
      s.errors += errors
      for (let i = 0; i < n; i++) {
        s.slowDebt += b.slowShare ?? 0
        const slow = s.slowDebt >= 1
        if (slow) s.slowDebt -= 1
        const ms = (b.ms ?? 5) + (slow ? (b.slowMs ?? 0) : 0)
        s.sum = s.samples < WINDOW ? s.sum + ms : s.sum - s.sum / WINDOW + ms
        s.samples = Math.min(WINDOW, s.samples + 1)
        if (this.logging) this.log({ token: this.logging, key: `1:${++this.requestNumber}`, color, responseMs: ms, status: 200 })
      }
    }
  }

  private log(line: RequestLine & { token: string }): void {
    this.ring.push(line)
    if (this.ring.length > this.ringSize) this.ring.splice(0, this.ring.length - this.ringSize)
  }

  private async read(): Promise<ServerCounts[]> {
    if (this.failNext > 0) {
      this.failNext--
      throw new Error('the runtime API did not answer')
    }
    this.flow()
    return [...this.servers.entries()].map(([color, s]) => ({
      color,
      server: color,
      responses: s.responses,
      errors: s.errors,
      averageMs: s.samples ? Math.ceil(s.sum / s.samples) : 0,
      averageSamples: s.samples,
      averageWindow: WINDOW
    }))
  }
}

import type { RouteState } from '../engine/state.js'
import type { ProbeResult } from '../transport/http-probe.js'

/** The reverse proxy in front of an app's two colors. */
export interface ProxyRouter {
  /** Creates or starts the proxy as needed and joins it to the app's network. */
  ensure(network: string): Promise<void>
  /** The route recorded on the host, or undefined before the first deploy. */
  readState(): Promise<RouteState | undefined>
  /** Validates and applies a route, gracefully: in-flight requests finish on the old color. */
  switchTo(state: RouteState): Promise<void>
  /** Asks the proxy for `path` until the answer comes from this release or the time is up. */
  verify(state: RouteState, path: string, timeoutMs: number): Promise<{ ok: boolean; last: ProbeResult; ms: number }>
}

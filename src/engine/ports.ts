/**
 * What the release engine needs from the outside world, in its own words. Docker, nginx and the
 * host's files are adapters that implement these (src/host, src/proxy); unit tests use fakes.
 * Nothing here names dockerode, nginx or SSH.
 */
import type { LedgerRecord, RoutingClaim } from '../core/release.js'
import type { Color } from '../core/names.js'
import type { Healthcheck } from '../core/config.js'
import type { RouterCapabilities } from '../core/capabilities.js'

/** A container as the engine sees it. */
export interface ContainerInfo {
  id: string
  name: string
  running: boolean
  restarting: boolean
  /** created, running, paused, restarting, removing, exited or dead */
  status: string
  exitCode: number
  oomKilled: boolean
  restartCount: number
  /** The image's own HEALTHCHECK verdict, when it has one. */
  health?: { status: string; lastExitCode?: number; lastOutput?: string }
  /** ID of the image it runs. */
  imageId: string
  labels: Record<string, string>
  /** Address per network it is attached to. */
  addresses: Record<string, string>
}

export interface ContainerSummary {
  name: string
  state: string
  status: string
  image: string
  labels: Record<string, string>
  /** Set when this stands for a Swarm service, not a container: its desired tasks (undefined: global). */
  service?: { replicas?: number }
}

/** What `create` starts: one color of the app, in engine terms. */
export interface ContainerSpec {
  name: string
  image: string
  env: Record<string, string>
  command?: string[]
  labels: Record<string, string>
  /** The app's private network, shared with the proxy. */
  network: string
  /** Further networks to join. */
  extraNetworks: string[]
  volumes: string[]
  memoryBytes?: number
  nanoCpus?: number
  healthcheck?: Healthcheck
  /** Other names it is found by on `network` and its extra networks (a shared compose service's name). */
  aliases?: string[]
  /** Names it is found by on some extra networks only (a per-color compose service on its color's network). */
  networkAliases?: Record<string, string[]>
}

export interface RestartPolicy {
  Name: string
  MaximumRetryCount?: number
}

export interface ImageInfo {
  id: string
  /** `repo@sha256:...` when the image came from a registry. */
  digest?: string
}

export interface ProbeAnswer {
  /** HTTP status, or undefined when no answer came (error says why). */
  status?: number
  headers: Record<string, string | string[] | undefined>
  body: string
  error?: string
  ms: number
}

/** The Docker Engine of the target host, reached by name. Every call is bounded in time by the adapter. */
export interface ContainerHost {
  /** undefined when there is no container of that name. */
  inspect(name: string): Promise<ContainerInfo | undefined>
  /** The containers labelled as belonging to the app. */
  listApp(app: string): Promise<ContainerSummary[]>
  /**
   * What carries the app's releases, as their labels describe them: its containers on a host; on a
   * swarm its services, whose tasks run on any node (the ledger guard and its rebuild read these).
   */
  listAppUnits(app: string): Promise<ContainerSummary[]>
  /** Creates the network if it does not exist (tolerating a concurrent creation). */
  ensureNetwork(name: string, labels: Record<string, string>): Promise<void>
  /** Names of those networks that do not exist on the host. */
  missingNetworks(names: string[]): Promise<string[]>
  /** Pulls an image; progress lines go to `progress`. Throws with the registry's reason. */
  pull(image: string, progress: (line: string) => void): Promise<ImageInfo>
  /** Loads a `docker save` archive from the runner into the host's Docker (no registry involved). */
  load(archivePath: string, bytes: number, progress: (line: string) => void): Promise<void>
  /** The local copy of an image, if the host has one. */
  image(image: string): Promise<ImageInfo | undefined>
  /** Creates the container (not started) and joins its extra networks; returns its id. */
  create(spec: ContainerSpec): Promise<string>
  start(name: string): Promise<void>
  /** Stops it (SIGTERM, then SIGKILL after graceSeconds); a stopped container is fine. */
  stop(name: string, graceSeconds: number): Promise<void>
  /**
   * Follows the started container's output (stdout and stderr, line by line) until it exits, and
   * resolves with its exit code; resolves undefined when `timeoutMs` passes or `abort` fires first
   * (the container is then left running: remove it, which kills it).
   */
  waitExit(name: string, timeoutMs: number, onLine: (line: string) => void, abort?: AbortSignal): Promise<number | undefined>
  /** Removes it, running or not; a missing container is fine. */
  remove(name: string): Promise<void>
  rename(name: string, newName: string): Promise<void>
  setRestartPolicy(name: string, policy: RestartPolicy): Promise<void>
  /** Its last log lines, stdout and stderr interleaved. */
  logs(name: string, lines: number): Promise<string>
  /** An HTTP GET from the host to address:port (a container's address on its network). */
  probe(address: string, port: number, path: string, timeoutMs: number): Promise<ProbeAnswer>
  /** Removes an image unless a container still uses it. */
  removeImage(imageId: string): Promise<'removed' | 'in-use' | 'gone'>
  /** The networks labelled as belonging to the app (its own, its colors', its compose project's). */
  appNetworks(app: string): Promise<string[]>
  /**
   * Removes a network once the containers named in `disconnect` (the proxy) left it; any other
   * container still on it keeps it ('in-use', with their names).
   */
  removeNetwork(name: string, disconnect: string[]): Promise<{ result: 'removed' | 'gone' } | { result: 'in-use'; by: string[] }>
  /** The named volumes a container mounts (bind mounts of host paths are not volumes). */
  volumesOf(name: string): Promise<string[]>
  /** Removes a named volume unless a container (of any app) still uses it. */
  removeVolume(name: string): Promise<'removed' | 'in-use' | 'gone'>
}

/** Where the proxy should send an app's traffic. */
export interface Route {
  app: string
  color: Color
  /** The release id the proxy reports to cutover's own verification. */
  releaseId: string
  appPort: number
  /** Containers of the color (`<app>-<color>`, `<app>-<color>-2`, ...), balanced by the proxy; absent: 1. */
  replicas?: number
}

export interface VerifyResult {
  ok: boolean
  /** The last answer, for the failure message. */
  last: ProbeAnswer
  ms: number
}

/**
 * The reverse proxy in front of an app's colors. To add a router, implement this: see docs/development.md's
 * "Adding a router or a target".
 */
export interface Router {
  /** What this router can do: checked against the run's inputs before anything changes (core/capabilities.ts). */
  readonly capabilities: RouterCapabilities
  /** A router of several proxies switched together (target swarm): ms between the first and the last to switch, in the last switch. */
  readonly lastSpreadMs?: number
  /** Creates or starts the proxy as needed and makes the app's network reachable from it. */
  ensure(appNetwork: string): Promise<void>
  /** The release the proxy is configured to route the app to; undefined when it has no route. */
  current(): Promise<{ color: Color; releaseId: string } | undefined>
  /**
   * The release the running proxy serves the app from, where it can tell and it may differ from
   * current(): a router that switches at run time before it saves the route (HAProxy).
   */
  served?(): Promise<string | undefined>
  /** Routes the app gracefully (in-flight requests finish on the old color). On failure the previous routing is left in place. */
  apply(route: Route): Promise<void>
  /** Asks the proxy for `path` until the answer comes from this release or the time is up. */
  verify(route: Route, path: string, timeoutMs: number): Promise<VerifyResult>
  /**
   * Release strategies (issue #12), only where the router implements them (HAProxy); the engine
   * checks before it changes anything. mode maintenance (on) / live (off): the app's answers
   * replaced by `page` (HTML; undefined: the built-in page) with a 503, containers untouched; the
   * result says whether a request through the proxy confirmed it.
   */
  maintenance?(on: boolean, page: string | undefined): Promise<VerifyResult>
  /**
   * canary-weight: `canary`'s color takes `weight` % (1-99) of new requests, `live` the rest;
   * `current()` and `verify()` keep answering for `live`. apply() ends a canary either way.
   */
  canary?(live: Route, canary: Route, weight: number): Promise<void>
  /**
   * promote manual: the preview domains reach `preview`'s containers (at their current addresses);
   * `live` keeps every request of the app's own domains (a canary ends). Without a preview waiting,
   * the preview domains reach the color that is not live, and answer 503 when it does not run.
   */
  preview?(live: Route, preview: Route): Promise<void>
  /**
   * The app's colors no new request can reach and whose requests the proxy no longer holds (none
   * in flight, no WebSocket), where it can tell for certain; a color it cannot vouch for is left
   * out. A drain ends early on it: the previous color's (keep-previous), and a replaced standby's
   * (asked before the switch: after it, the new container serves under the same servers).
   */
  idleColors?(): Promise<Color[]>
  /** sticky: the drain of `color` is over: its clients' cookies no longer hold them there (established connections stay). */
  endDrain?(color: Color): Promise<void>
  /**
   * watch (issue #12): the proxy's own running totals of the app's HTTP responses, and how many of
   * them were 5xx (its own error answers for the app included). Counted since the proxy's process
   * started (a reload starts again from zero); the engine compares samples.
   */
  responseCounts?(): Promise<ResponseCounts>
  /**
   * canary-steps (issue #24): the same counters per server of the app (so per color and replica),
   * with the proxy's running average of their response times. Routers with the `stats` capability
   * implement it.
   */
  serverCounts?(): Promise<ServerCounts[]>
  /**
   * canary-steps: from now on each of the app's requests is logged under `token` (one word), so a
   * step's response times are known request by request (its p95). Resolves false when the proxy
   * cannot (the step then judges the window mean of serverCounts).
   */
  startRequestLog?(token: string): Promise<boolean>
  /** The app's requests are logged no more. */
  stopRequestLog?(): Promise<void>
  /** The requests logged under `token` that the proxy still holds (a bounded sample under heavy load). */
  requestLog?(token: string): Promise<RequestLine[]>
  /** Routers that kept the release state themselves before the ledger existed: that state, to import once. */
  legacyRecord?(): Promise<LedgerRecord | undefined>
  /** Whether the proxy's settings for the app (domains, TLS) differ from what apply(route) would write. */
  outdated?(route: Route): Promise<boolean>
  /** Routers that terminate TLS: the certificate each of the app's domains is served with. */
  certificates?(): Promise<DomainCertificate[]>
  /**
   * Takes the app off the shared proxy gracefully (mode remove, the undo of a failed first deploy):
   * its domains or its default-server claim, its backend, verify token and certificate leave the
   * proxy's files; requests in flight finish; every other app keeps serving. Resolves false when
   * the proxy had nothing of the app (or does not exist). Routers without it cannot remove an app.
   * Routers with the `inFlight` capability call `drain` once new requests no longer reach the app
   * and before anything it still serves goes, with a count of its requests in flight (mode remove
   * waits on it); without `drain` they take the app off in one go.
   */
  withdraw?(drain?: WithdrawDrain): Promise<boolean>
}

/** Given a count of the app's requests the proxy still holds, waits (bounded) while there are some. */
export type WithdrawDrain = (inFlight: () => Promise<number>) => Promise<void>

/** Responses the proxy counted for the app, as running totals. */
export interface ResponseCounts {
  responses: number
  /** Those with a 5xx status. */
  errors: number
}

/** One server of the app's backend as the proxy counts it: running totals since its process started. */
export interface ServerCounts {
  color: Color
  /** The proxy's name of the server (`green`, `green-2`). */
  server: string
  responses: number
  /** Those with a 5xx status. */
  errors: number
  /**
   * The proxy's moving average of the server's response time (ms, whole), over its last
   * `averageOver` responses: each new response weighs 1/averageOver (HAProxy: TIME_STATS_SAMPLES).
   */
  averageMs: number
  /** How many responses the average is over (fewer than `averageWindow` while the server is new to the process). */
  averageSamples: number
  averageWindow: number
}

/** One request an app answered during a canary step, as the proxy logged it. */
export interface RequestLine {
  /** Tells the line apart from every other (read again, it counts once). */
  key: string
  color: Color
  /** Until the server's response headers (ms); undefined: no response from the server. */
  responseMs?: number
  status: number
}

/** The certificate the proxy serves for one of the app's domains (issue #10). */
export interface DomainCertificate {
  domain: string
  /** Absent when the proxy has no certificate covering the domain. */
  issuer?: string
  notAfter?: string
  serial?: string
  /** With several hosts: whose proxy serves it (`user@host:port`). */
  host?: string
}

/** The per-app record of releases kept on the host, independent of the router. */
export interface Ledger {
  /** undefined when nothing was ever recorded; throws LedgerError when the record cannot be read. */
  read(): Promise<LedgerRecord | undefined>
  /** Replaces the record atomically: a crash mid-write leaves the old record. */
  write(record: LedgerRecord): Promise<void>
  /** What every other app on the host claims on its proxy (from their records; unreadable ones are skipped). */
  claims(): Promise<{ app: string; routing?: RoutingClaim }[]>
  /**
   * The images every other app's record on the host names (its releases, pending, canary, preview
   * and workers, by reference and digest): a prune leaves them (issue #22). Unreadable records are skipped.
   */
  imagesOfOtherApps(): Promise<{ app: string; image: string }[]>
  /**
   * mode remove: moves the record aside (kept on the host for reference, read by no run), so the
   * app's claims are free; returns where it went, undefined when there was no record.
   */
  archive(): Promise<string | undefined>
}

export class LedgerError extends Error {
  override name = 'LedgerError'
}

/** Time, injectable so drain and health timing are testable without waiting. */
export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: ms => new Promise(resolve => setTimeout(resolve, ms))
}

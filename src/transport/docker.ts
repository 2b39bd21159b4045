import http from 'node:http'
import { inspect } from 'node:util'
import type { Duplex } from 'node:stream'
import Docker from 'dockerode'
import type { SshSession } from './ssh.js'
import { sinceStart, trace } from '../core/trace.js'

/** A Docker API call whose answer was cut off after it began (see DockerSocketAgent.bound). */
export class DockerConnectionError extends Error {
  override name = 'DockerConnectionError'
}

/** The response a request has received so far (ClientRequest.res exists at runtime but is missing from @types/node). */
function responseOf(req: http.ClientRequest): http.IncomingMessage | undefined {
  return (req as unknown as { res?: http.IncomingMessage }).res ?? undefined
}

/** A Docker API call that got no complete answer in its time (see requestBound). */
export class DockerTimeoutError extends Error {
  override name = 'DockerTimeoutError'
}

export interface DockerTimeouts {
  /** Any call not listed below: inspect, list, version, archive, exec, network... */
  defaultMs: number
  /** Calls where dockerd does real work: create, start, remove a container or an image. */
  heavyMs: number
  /** Added to a stop/restart's own grace period (`t`), which dockerd waits before killing. */
  stopExtraMs: number
}

export const DEFAULT_TIMEOUTS: DockerTimeouts = { defaultMs: 60_000, heavyMs: 180_000, stopExtraMs: 60_000 }

/**
 * How long one Docker API request may take, from the moment it is queued to the end of its
 * answer; undefined for calls that legitimately last as long as something else does: an image
 * pull or build (bounded by pullImage's own no-progress timeout instead), waiting for a
 * container, following logs or events, attaching.
 */
export function requestBound(method: string, fullPath: string, t: DockerTimeouts = DEFAULT_TIMEOUTS): number | undefined {
  const [rawPath, query = ''] = fullPath.split('?', 2)
  const path = rawPath.replace(/^\/v\d+(\.\d+)?(?=\/)/, '')
  const params = new URLSearchParams(query)
  const m = method.toUpperCase()
  if (m === 'POST' && /^\/(images\/create|build|images\/load|session)$/.test(path)) return undefined
  if (/^\/containers\/[^/]+\/(wait|attach(\/ws)?)$/.test(path) || path === '/events') return undefined
  if (/^\/containers\/[^/]+\/logs$/.test(path) && ['1', 'true'].includes(params.get('follow') ?? '')) return undefined
  if (m === 'POST' && /^\/containers\/[^/]+\/(stop|restart)$/.test(path)) {
    const grace = Number(params.get('t') ?? '10')
    return (Number.isFinite(grace) && grace >= 0 ? grace * 1000 : 10_000) + t.stopExtraMs
  }
  if (m === 'POST' && /^\/containers\/(create|[^/]+\/start)$/.test(path)) return t.heavyMs
  if (m === 'DELETE' && /^\/(containers|images)\/[^/]+$/.test(path)) return t.heavyMs
  if (m === 'POST' && /^\/(containers|images|networks|volumes)\/prune$/.test(path)) return t.heavyMs
  return t.defaultMs
}

/**
 * An HTTP agent whose connections are SSH channels to the host's Docker socket,
 * so all Docker API calls share the run's one SSH connection.
 */
export class DockerSocketAgent extends http.Agent {
  /** SSH channels opened to the socket (HTTP connections). */
  channelsOpened = 0
  /** Docker API requests sent over them. */
  apiRequests = 0

  constructor(
    private readonly ssh: Pick<SshSession, 'openUnixSocket'>,
    private readonly socketPath: string,
    private readonly timeouts: DockerTimeouts = DEFAULT_TIMEOUTS
  ) {
    super({ keepAlive: true, maxSockets: 8 })
  }

  /**
   * docker-modem formats every request's options with util.inspect, agent included, even with
   * debug logging off; walking this agent's sockets and the SSH client behind them cost up to
   * ~250 ms per call with 10 calls in flight (measured by the benchmark).
   */
  [inspect.custom](): string {
    return 'DockerSocketAgent'
  }

  // addRequest exists at runtime on every http.Agent but is missing from @types/node.
  addRequest(req: http.ClientRequest, options: http.RequestOptions): void {
    this.apiRequests++
    this.traced(req, String(options.method ?? 'GET'), String(options.path ?? '/'))
    this.bound(req, String(options.method ?? 'GET'), String(options.path ?? '/'))
    ;(http.Agent.prototype as unknown as { addRequest: (r: unknown, o: unknown) => void }).addRequest.call(this, req, options)
  }

  /** Each call's time in the run's trace, named by method and path without the API version or query. */
  private traced(req: http.ClientRequest, method: string, path: string): void {
    const start = sinceStart()
    const name = `docker ${method} ${path.split('?')[0].replace(/^\/v\d+(\.\d+)?(?=\/)/, '')}`
    req.once('close', () => trace.span(name, start))
  }

  /**
   * A hard deadline per request, from queueing to the end of the answer (or of the hijacked
   * stream, for exec). docker-modem's own `timeout` is an idle timer set with setTimeout on the
   * socket, which SSH channels do not have: it would never fire.
   *
   * An answer cut off after its headers (the channel to the socket closed part-way) also fails the
   * call: http only destroys the response then, which neither docker-modem (it waits for the
   * body's 'end') nor a reader of a streamed body sees, and the deadline is over once the
   * request has closed, so the run would wait for the rest for ever.
   */
  private bound(req: http.ClientRequest, method: string, path: string): void {
    const ms = requestBound(method, path, this.timeouts)
    const what = `${method} ${path.split('?')[0]}`
    let upgraded: Duplex | undefined
    let failed = false
    const timer =
      ms === undefined
        ? undefined
        : setTimeout(() => {
            const error = new DockerTimeoutError(
              `The Docker API call ${what} got no complete answer within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}: the Docker daemon on the host may be stuck`
            )
            if (upgraded) return void upgraded.destroy(error)
            // A streamed body's reader learns it from the response; docker-modem from the request.
            responseOf(req)?.destroy(error)
            req.destroy(error)
          }, ms)
    const clear = () => clearTimeout(timer)
    req.on('upgrade', (_res: unknown, socket: Duplex) => {
      upgraded = socket
      socket.once('close', clear)
    })
    req.once('close', () => {
      if (upgraded) return
      clear()
      const res = responseOf(req)
      if (failed || !res || res.complete) return
      const error = new DockerConnectionError(
        `The Docker API call ${what} was cut off: the connection to the Docker socket closed before the answer ended (${res.errored?.message ?? 'aborted'})`
      )
      res.destroy(error)
      req.emit('error', error)
    })
    // The error reaches docker-modem's own listener: this one only keeps the timer from leaking.
    req.on('error', () => {
      failed = true
      if (!upgraded) clear()
    })
  }

  override createConnection(_options: unknown, callback?: (err: Error | null, socket: Duplex) => void): undefined {
    this.channelsOpened++
    this.ssh.openUnixSocket(this.socketPath).then(
      channel => callback?.(null, asSocket(channel)),
      err => callback?.(err, undefined as never)
    )
    return undefined
  }
}

/**
 * SSH channels are Duplex streams without net.Socket's tuning methods, which http calls. And
 * ssh2's Channel.destroy() ignores its error argument (it only ends and closes the channel):
 * give it net.Socket's behaviour, an 'error' event, so an HTTP request destroyed with a reason
 * (a timeout) fails at once with that reason instead of waiting for the channel to close.
 */
export function asSocket(channel: Duplex): Duplex {
  const shim = channel as Duplex & Record<string, unknown>
  for (const name of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref']) {
    if (typeof shim[name] !== 'function') shim[name] = () => shim
  }
  const destroy = channel.destroy.bind(channel)
  let errored = false
  shim.destroy = (error?: Error) => {
    if (error && !errored) {
      errored = true
      process.nextTick(() => shim.emit('error', error))
    }
    try {
      destroy()
    } catch {
      // the connection is already gone
    }
    return shim
  }
  // An 'error' with nobody listening would end the process; http adds its own while in use.
  shim.on('error', () => undefined)
  return shim
}

export interface DockerConnection {
  docker: Docker
  agent: DockerSocketAgent
}

export function dockerOverSsh(ssh: SshSession, socketPath: string, timeouts: DockerTimeouts = DEFAULT_TIMEOUTS): DockerConnection {
  const agent = new DockerSocketAgent(ssh, socketPath, timeouts)
  // docker-modem's own 'ssh' protocol would open a new SSH connection per request.
  const docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions)
  return { docker, agent }
}

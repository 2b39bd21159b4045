import http from 'node:http'
import type { Duplex } from 'node:stream'
import { sanitizeHostText } from '../transport/host-text.js'
import { ProxyError } from './proxy-container.js'

/** Opens a stream to Caddy's admin socket (over SSH: direct-streamlocal to the host's socket file). */
export type OpenAdminSocket = () => Promise<Duplex>

export class CaddyAdminError extends Error {
  override name = 'CaddyAdminError'
  constructor(
    message: string,
    /** Caddy's HTTP status, when it answered. */
    readonly status?: number
  ) {
    super(message)
  }
}

/** How long one admin request may take (a /load waits for the old servers to stop accepting, not for their drain). */
const REQUEST_TIMEOUT_MS = 15_000

/**
 * Caddy's admin API on its Unix socket. Caddy refuses any Host header it does not expect on a
 * socket, so requests carry an empty one. Every request is bounded by one hard timer (SSH channels
 * have no socket timeouts).
 */
export class CaddyAdmin {
  constructor(
    private readonly proxyName: string,
    readonly socketPath: string,
    private readonly open: OpenAdminSocket
  ) {}

  /** One request; resolves with the body of a 2xx answer, throws CaddyAdminError with Caddy's own error otherwise. */
  async request(method: 'GET' | 'POST', path: string, body?: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<string> {
    const stream = await this.open().catch((e: Error) => {
      throw new CaddyAdminError(`Could not open the admin socket ${this.socketPath} of the proxy ${this.proxyName}: ${e.message}`)
    })
    return new Promise<string>((resolve, reject) => {
      let settled = false
      const finish = (e: Error | undefined, text = '') => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        req.destroy()
        stream.destroy()
        if (e) reject(e)
        else resolve(text)
      }
      const timer = setTimeout(
        () => finish(new CaddyAdminError(`The admin API of the proxy ${this.proxyName} did not answer ${method} ${path} within ${timeoutMs} ms`)),
        timeoutMs
      )
      // setHost false: Node would otherwise put localhost:80 in place of the empty Host.
      const headers: Record<string, string> = { host: '' }
      if (body !== undefined) headers['content-type'] = 'application/json'
      const req = http.request({ method, path, headers, setHost: false, createConnection: () => stream as never }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', (e: Error) => finish(e))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) return finish(undefined, text)
          finish(new CaddyAdminError(`Caddy (${this.proxyName}) answered ${status} to ${method} ${path}: ${caddyError(text)}`, status))
        })
      })
      req.on('error', (e: Error) => finish(new CaddyAdminError(`The admin API of the proxy ${this.proxyName} failed on ${method} ${path}: ${e.message}`)))
      req.end(body)
    })
  }

  /** The running configuration (null when Caddy runs none). */
  async config(): Promise<unknown> {
    return JSON.parse((await this.request('GET', '/config/')) || 'null') as unknown
  }

  /**
   * Replaces the whole configuration: Caddy checks it, starts the new servers on the same
   * listeners and stops the old ones gracefully; a refused configuration leaves the old one running.
   */
  async load(config: unknown): Promise<void> {
    await this.request('POST', '/load', JSON.stringify(config))
  }

  /** Waits until the admin API answers (a started container takes a moment). */
  async waitForAdmin(timeoutMs: number, logs: () => Promise<string>): Promise<void> {
    const started = Date.now()
    for (;;) {
      try {
        await this.request('GET', '/config/', undefined, 5000)
        return
      } catch (e) {
        if (Date.now() - started > timeoutMs) {
          const tail = await logs().catch(() => '')
          throw new ProxyError(
            `The proxy ${this.proxyName} did not answer on its admin socket ${this.socketPath} within ${timeoutMs / 1000} s (${(e as Error).message}); ` +
              `the SSH user must be root or in the group of the host's Docker socket. Its last log lines: ${sanitizeHostText(tail, 800)}`
          )
        }
      }
      await new Promise(r => setTimeout(r, 100))
    }
  }
}

/** Caddy's `{"error": "..."}` answer as a sentence (anything else, shortened). */
export function caddyError(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown }
    if (typeof parsed.error === 'string') return sanitizeHostText(parsed.error, 600)
  } catch {
    // not JSON: quoted as it is
  }
  return sanitizeHostText(text.trim() || '(no body)', 600)
}

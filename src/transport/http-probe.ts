import http from 'node:http'
import type { Duplex } from 'node:stream'
import { sanitizeHostText } from './host-text.js'
import { SshConnectionLostError } from './ssh.js'

export interface ProbeResult {
  /** HTTP status, or undefined when no complete answer came (the error says why). */
  status?: number
  headers: http.IncomingHttpHeaders
  body: string
  error?: string
  ms: number
}

export type OpenStream = (host: string, port: number) => Promise<Duplex>

const MAX_BODY = 2048

/**
 * One HTTP GET over a stream opened by `open` (an SSH direct-tcpip channel), so probes
 * reach addresses as the host sees them and need no tool inside the app image.
 *
 * The whole probe (opening the channel, sending, the headers and the body) is bounded by one
 * hard timer that destroys the channel: http's own `timeout` relies on socket.setTimeout, which
 * SSH channels lack, so a server that accepts and never answers would hang the run.
 * Never throws, except SshConnectionLostError: a lost connection is not a probe result.
 */
export function httpGet(
  open: OpenStream,
  target: { host: string; port: number; path: string; hostHeader?: string; headers?: Record<string, string> },
  timeoutMs: number
): Promise<ProbeResult> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    let stream: Duplex | undefined
    let req: http.ClientRequest | undefined
    let done = false
    let partial: { status?: number; headers: http.IncomingHttpHeaders; body: string } | undefined
    const cleanup = () => {
      clearTimeout(timer)
      req?.destroy()
      stream?.destroy()
    }
    const finish = (r: Omit<ProbeResult, 'ms'>) => {
      if (done) return
      done = true
      cleanup()
      resolve({ ...r, ms: Date.now() - started })
    }
    const fail = (error: Error) => {
      if (done) return
      if (!(error instanceof SshConnectionLostError)) return finish({ headers: partial?.headers ?? {}, body: '', error: error.message })
      done = true
      cleanup()
      reject(error)
    }
    const timer = setTimeout(() => {
      const what = !stream
        ? `could not open a connection within ${timeoutMs} ms`
        : partial
          ? `answered HTTP ${partial.status} but the answer did not end within ${timeoutMs} ms`
          : `no answer within ${timeoutMs} ms`
      finish({ headers: partial?.headers ?? {}, body: '', error: what })
    }, timeoutMs)

    open(target.host, target.port).then(
      s => {
        if (done) {
          // the timer fired first: do not leak the channel
          s.on('error', () => undefined)
          s.destroy()
          return
        }
        stream = s
        s.on('error', (e: Error) => fail(e))
        req = http.request({
          method: 'GET',
          path: target.path,
          headers: { ...target.headers, host: target.hostHeader ?? `${target.host}:${target.port}`, connection: 'close', 'user-agent': 'cutover-probe' },
          createConnection: () => s as never
        })
        req.on('error', fail)
        req.on('response', res => {
          partial = { status: res.statusCode, headers: res.headers, body: '' }
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => {
            if (body.length < MAX_BODY) body += chunk
          })
          res.on('end', () => finish({ status: res.statusCode, headers: res.headers, body: body.slice(0, MAX_BODY) }))
          res.on('error', err => fail(err))
          res.on('aborted', () => fail(new Error(`the answer (HTTP ${res.statusCode}) was cut off`)))
        })
        req.end()
      },
      (e: Error) => fail(e)
    )
  })
}

export function describeProbe(r: ProbeResult): string {
  if (r.status === undefined) return `no HTTP answer (${sanitizeHostText(r.error ?? 'unknown error', 300)})`
  const body = sanitizeHostText(r.body, 120)
  return `HTTP ${r.status}${body ? `: "${body}"` : ''}`
}

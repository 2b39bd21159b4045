import http from 'node:http'
import type { Duplex } from 'node:stream'

export interface ProbeResult {
  /** HTTP status, or undefined when no answer came (the error says why). */
  status?: number
  headers: http.IncomingHttpHeaders
  body: string
  error?: string
  ms: number
}

export type OpenStream = (host: string, port: number) => Promise<Duplex>

/**
 * One HTTP GET over a stream opened by `open` (an SSH direct-tcpip channel), so probes
 * reach addresses as the host sees them and need no tool inside the app image.
 */
export async function httpGet(
  open: OpenStream,
  target: { host: string; port: number; path: string; hostHeader?: string; headers?: Record<string, string> },
  timeoutMs: number
): Promise<ProbeResult> {
  const started = Date.now()
  let stream: Duplex
  try {
    stream = await withTimeout(open(target.host, target.port), timeoutMs, 'connect')
  } catch (e) {
    return { headers: {}, body: '', error: (e as Error).message, ms: Date.now() - started }
  }
  return new Promise(resolve => {
    const req = http.request({
      method: 'GET',
      path: target.path,
      headers: { ...target.headers, host: target.hostHeader ?? `${target.host}:${target.port}`, connection: 'close', 'user-agent': 'cutover-probe' },
      createConnection: () => stream as never,
      timeout: timeoutMs
    })
    const finish = (r: Omit<ProbeResult, 'ms'>) => {
      resolve({ ...r, ms: Date.now() - started })
      stream.destroy()
    }
    req.on('timeout', () => {
      req.destroy()
      finish({ headers: {}, body: '', error: `no answer within ${timeoutMs} ms` })
    })
    req.on('error', err => finish({ headers: {}, body: '', error: err.message }))
    req.on('response', res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (body.length < 2048) body += chunk
      })
      res.on('end', () => finish({ status: res.statusCode, headers: res.headers, body: body.slice(0, 2048) }))
      res.on('error', err => finish({ status: res.statusCode, headers: res.headers, body, error: err.message }))
    })
    req.end()
  })
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
    p.then(
      v => (clearTimeout(t), resolve(v)),
      e => (clearTimeout(t), reject(e))
    )
  })
}

export function describeProbe(r: ProbeResult): string {
  if (r.status === undefined) return `no HTTP answer (${r.error ?? 'unknown error'})`
  const body = r.body.trim().replace(/\s+/g, ' ').slice(0, 120)
  return `HTTP ${r.status}${body ? `: "${body}"` : ''}`
}

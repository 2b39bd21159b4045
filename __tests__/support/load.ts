import http from 'node:http'
import https from 'node:https'

export interface LoadStats {
  sent: number
  ok: number
  /** Answers that were not 2xx, by status. */
  non2xx: Record<string, number>
  socketErrors: number
  /** Body of each 2xx answer (the app's version), counted. */
  bodies: Record<string, number>
  firstErrors: string[]
}

export interface Load {
  stats: LoadStats
  /** Stops sending, waits for requests in flight, returns the counts. */
  stop(): Promise<LoadStats>
  failures(): number
}

/** HTTPS load: the CA to trust, and the name sent as SNI and Host. */
export interface LoadTls {
  ca: string
  servername: string
}

/**
 * Steady GET traffic to a loopback URL from `connections` concurrent loops (each waiting `pauseMs`
 * between requests, if given). Bounded: it stops by itself after maxRequests (a million unless
 * given) or maxMs, whichever comes first; reaching either before `stop` fails the test there.
 */
export function startLoad(
  url: string,
  opts: { connections?: number; keepAlive?: boolean; maxRequests?: number; maxMs?: number; pauseMs?: number; tls?: LoadTls; host?: string } = {}
): Load {
  const target = new URL(url)
  // Loopback, or a fleet host of the test bed (a network namespace on this machine, scripts/testbed/hosts.sh).
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname) && !/^10\.231\.0\.\d+$/.test(target.hostname)) {
    throw new Error('load tests only target loopback or the test bed fleet hosts')
  }
  const connections = opts.connections ?? 8
  const keepAlive = opts.keepAlive ?? true
  const maxRequests = opts.maxRequests ?? 1_000_000
  const maxMs = opts.maxMs ?? 120_000
  const deadline = Date.now() + maxMs
  const secure = target.protocol === 'https:'
  const agent = secure
    ? new https.Agent({ keepAlive, maxSockets: connections, ca: opts.tls?.ca, servername: opts.tls?.servername })
    : new http.Agent({ keepAlive, maxSockets: connections })
  const hostHeader = opts.tls ? { host: opts.tls.servername } : opts.host ? { host: opts.host } : {}
  const stats: LoadStats = { sent: 0, ok: 0, non2xx: {}, socketErrors: 0, bodies: {}, firstErrors: [] }
  let stopped = false

  const once = () =>
    new Promise<void>(resolve => {
      stats.sent++
      const req = (secure ? https : http).get(
        url,
        { agent, headers: { ...hostHeader, ...(keepAlive ? {} : { connection: 'close' }) }, timeout: 15000 },
        res => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => (body += c))
          res.on('end', () => {
            const status = res.statusCode ?? 0
            if (status >= 200 && status < 300) {
              stats.ok++
              const key = body.trim().slice(0, 40)
              stats.bodies[key] = (stats.bodies[key] ?? 0) + 1
            } else {
              stats.non2xx[status] = (stats.non2xx[status] ?? 0) + 1
              if (stats.firstErrors.length < 5) stats.firstErrors.push(`HTTP ${status}: ${body.slice(0, 80)}`)
            }
            resolve()
          })
          res.on('error', err => {
            stats.socketErrors++
            if (stats.firstErrors.length < 5) stats.firstErrors.push(err.message)
            resolve()
          })
        }
      )
      req.on('timeout', () => req.destroy(new Error('request timed out')))
      req.on('error', err => {
        stats.socketErrors++
        if (stats.firstErrors.length < 5) stats.firstErrors.push(err.message)
        resolve()
      })
    })

  const loop = async () => {
    while (!stopped && stats.sent < maxRequests && Date.now() < deadline) {
      await once()
      // pauseMs: a steady rate that leaves the machine's cores to the proxy and the apps.
      if (opts.pauseMs) await new Promise(r => setTimeout(r, opts.pauseMs))
    }
  }
  // A loop that ends by its own bound before the test stops it left the rest of the test without load:
  // a zero-failure figure from it would not cover what the test measured.
  let ranOut = ''
  const loops = Array.from({ length: connections }, () =>
    loop().then(() => {
      if (!stopped && !ranOut) ranOut = stats.sent >= maxRequests ? `its ${maxRequests} requests` : `its ${maxMs} ms`
    })
  )
  return {
    stats,
    failures: () => stats.socketErrors + Object.values(stats.non2xx).reduce((a, b) => a + b, 0),
    async stop() {
      stopped = true
      await Promise.all(loops)
      agent.destroy()
      if (ranOut) throw new Error(`the load on ${url} ran out of ${ranOut} before the test stopped it: raise its bounds`)
      return stats
    }
  }
}

/**
 * Runs `during` under steady load on `url` (4 keep-alive connections and 2 opening a connection per
 * request), from 300 ms before until 300 ms after it; returns its result and what the load saw.
 */
export async function underSteadyLoad<T>(url: string, during: () => Promise<T>, tls?: LoadTls) {
  const keepAlive = startLoad(url, { connections: 4, keepAlive: true, maxMs: 90000, tls })
  const fresh = startLoad(url, { connections: 2, keepAlive: false, maxMs: 90000, tls })
  await new Promise(r => setTimeout(r, 300))
  const result = await during()
  await new Promise(r => setTimeout(r, 300))
  const a = await keepAlive.stop()
  const b = await fresh.stop()
  return {
    result,
    sent: a.sent + b.sent,
    bodies: { ...a.bodies, ...b.bodies },
    failures: { failures: keepAlive.failures() + fresh.failures(), errors: [...a.firstErrors, ...b.firstErrors] }
  }
}

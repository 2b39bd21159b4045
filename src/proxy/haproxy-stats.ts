import type { ResponseCounts, ServerCounts } from '../engine/ports.js'
import { RuntimeApiError } from './haproxy-runtime.js'

/** The response-code counters of `show stat` (HTTP mode); their sum is every response counted. */
const RESPONSE_FIELDS = ['hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other'] as const

/** `show stat <backend> 2 -1`: the backend's own row (type 2 = backend, -1 = every server id). */
export function statCommand(backend: string): string {
  return `show stat ${backend} 2 -1`
}

/** `show stat <backend> 4 -1`: the backend's server rows (type 4 = server). */
export function serverStatCommand(backend: string): string {
  return `show stat ${backend} 4 -1`
}

/**
 * HAProxy's TIME_STATS_SAMPLES: a server's `rtime` is the plain mean of its responses until it has
 * answered this many, then a moving average in which each new response weighs 1/512.
 */
export const HAPROXY_TIME_SAMPLES = 512

/** A server's color from its name (`green`, `green-2`: haproxy-strategy.ts's serverName). */
const SERVER_NAME = /^(blue|green)(?:-\d+)?$/

/**
 * canary-steps: each of the backend's servers' responses, 5xx and moving average response time
 * (`rtime`, ms) from `show stat` CSV. The number of responses the average is over is the server's
 * HTTP request count (`req_tot`; `lbtot` where a version leaves it empty), capped at 512.
 */
export function serverCountsOf(csv: string, backend: string): ServerCounts[] {
  const { rows, at } = table(csv, ['rtime', 'lbtot'])
  const counts: ServerCounts[] = []
  for (const row of rows) {
    const server = row[at('svname')]
    const color = SERVER_NAME.exec(server)?.[1] as ServerCounts['color'] | undefined
    if (row[at('pxname')] !== backend || !color) continue
    const count = (f: string) => (at(f) < 0 ? 0 : Number(row[at(f)]) || 0)
    const requests = count('req_tot') || count('lbtot')
    counts.push({
      color,
      server,
      responses: RESPONSE_FIELDS.reduce((sum, f) => sum + count(f), 0),
      errors: count('hrsp_5xx'),
      averageMs: count('rtime'),
      averageSamples: Math.min(requests, HAPROXY_TIME_SAMPLES),
      averageWindow: HAPROXY_TIME_SAMPLES
    })
  }
  return counts
}

/** The rows of `show stat` CSV and a field's column; throws when the header or a needed field is missing. */
function table(csv: string, needed: string[]): { rows: string[][]; at: (field: string) => number } {
  const lines = csv.split('\n').filter(l => l.trim())
  const header = lines.find(l => l.startsWith('# '))
  if (!header) throw new RuntimeApiError(`The proxy's statistics have no header line: ${JSON.stringify(csv.slice(0, 120))}`)
  const fields = header.slice(2).split(',')
  const at = (name: string) => fields.indexOf(name)
  const missing = ['pxname', 'svname', ...RESPONSE_FIELDS, ...needed].filter(f => at(f) < 0)
  if (missing.length) throw new RuntimeApiError(`The proxy's statistics lack ${missing.join(', ')}`)
  return { rows: lines.filter(l => !l.startsWith('#')).map(l => l.split(',')), at }
}

/**
 * The responses the app's backend sent and how many were 5xx, from `show stat` CSV (`# pxname,svname,...`
 * then one row per proxy/server): the BACKEND row, which also counts HAProxy's own errors for the
 * app (a 503 when its servers refuse connections), not only the app's answers. Running totals since
 * the HAProxy worker started.
 */
export function responseCountsOf(csv: string, backend: string): ResponseCounts {
  const { rows, at } = table(csv, [])
  const row = rows.find(r => r[at('pxname')] === backend && r[at('svname')] === 'BACKEND')
  if (!row) throw new RuntimeApiError(`The proxy's statistics have no row for the backend ${backend}`)
  const count = (f: string) => Number(row[at(f)]) || 0
  return { responses: RESPONSE_FIELDS.reduce((sum, f) => sum + count(f), 0), errors: count('hrsp_5xx') }
}

/** `show stat -1 2 -1`: every backend's own row. */
export const ALL_BACKENDS_STAT = 'show stat -1 2 -1'

/**
 * The sessions `backends` hold now (`scur` of their BACKEND rows): the app's requests in flight. A
 * backend without a row (none in this process) holds none.
 */
export function sessionsOf(csv: string, backends: string[]): number {
  const { rows, at } = table(csv, ['scur'])
  return rows.filter(r => r[at('svname')] === 'BACKEND' && backends.includes(r[at('pxname')])).reduce((sum, r) => sum + (Number(r[at('scur')]) || 0), 0)
}

/** `show stat -1 4 -1`: every backend's server rows. */
export const ALL_SERVERS_STAT = 'show stat -1 4 -1'

/** A color's server in one of the app's backends: its sessions (and queued requests) and its status (`UP`, `DRAIN`, `MAINT`, ...). */
export interface ServerSessions {
  color: ServerCounts['color']
  sessions: number
  status: string
}

/** The servers of `backends` that are one of the app's colors (`blue`, `green-2`), from `show stat` CSV. */
export function serverSessionsOf(csv: string, backends: string[]): ServerSessions[] {
  const { rows, at } = table(csv, ['scur', 'qcur', 'status'])
  return rows
    .filter(r => backends.includes(r[at('pxname')]) && SERVER_NAME.test(r[at('svname')]))
    .map(r => ({
      color: SERVER_NAME.exec(r[at('svname')])![1] as ServerSessions['color'],
      sessions: (Number(r[at('scur')]) || 0) + (Number(r[at('qcur')]) || 0),
      status: r[at('status')]
    }))
}

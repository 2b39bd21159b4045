import type { ResponseCounts } from '../engine/ports.js'
import { RuntimeApiError } from './haproxy-runtime.js'

/** The response-code counters of `show stat` (HTTP mode); their sum is every response counted. */
const RESPONSE_FIELDS = ['hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other'] as const

/** `show stat <backend> 2 -1`: the backend's own row (type 2 = backend, -1 = every server id). */
export function statCommand(backend: string): string {
  return `show stat ${backend} 2 -1`
}

/**
 * The responses the app's backend sent and how many were 5xx, from `show stat` CSV (`# pxname,svname,...`
 * then one row per proxy/server): the BACKEND row, which also counts HAProxy's own errors for the
 * app (a 503 when its servers refuse connections), not only the app's answers. Running totals since
 * the HAProxy worker started.
 */
export function responseCountsOf(csv: string, backend: string): ResponseCounts {
  const lines = csv.split('\n').filter(l => l.trim())
  const header = lines.find(l => l.startsWith('# '))
  if (!header) throw new RuntimeApiError(`The proxy's statistics have no header line: ${JSON.stringify(csv.slice(0, 120))}`)
  const fields = header.slice(2).split(',')
  const at = (name: string) => fields.indexOf(name)
  const missing = ['pxname', 'svname', ...RESPONSE_FIELDS].filter(f => at(f) < 0)
  if (missing.length) throw new RuntimeApiError(`The proxy's statistics lack ${missing.join(', ')}`)
  const row = lines.map(l => l.split(',')).find(r => !r[0].startsWith('#') && r[at('pxname')] === backend && r[at('svname')] === 'BACKEND')
  if (!row) throw new RuntimeApiError(`The proxy's statistics have no row for the backend ${backend}`)
  const count = (f: string) => Number(row[at(f)]) || 0
  return { responses: RESPONSE_FIELDS.reduce((sum, f) => sum + count(f), 0), errors: count('hrsp_5xx') }
}

import type { ProbeAnswer } from './ports.js'

/** One line for an HTTP answer (or the lack of one), for logs and failure messages. */
export function describeAnswer(r: ProbeAnswer): string {
  if (r.status === undefined) return `no HTTP answer (${r.error ?? 'unknown error'})`
  const body = r.body.trim().replace(/\s+/g, ' ').slice(0, 120)
  return `HTTP ${r.status}${body ? `: "${body}"` : ''}`
}

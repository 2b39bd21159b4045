import type { HostOutcome, HostResultKind, Outcome } from '../core/outcome.js'

const RESULT: Record<HostResultKind, string> = {
  deployed: '✅ deployed',
  'rolled-back': '↩️ rolled back',
  'auto-rolled-back': '↩️ rolled back by the watch',
  unchanged: '✔️ unchanged',
  failed: '❌ failed',
  cancelled: '⏹️ not switched',
  reverted: '↩️ switched back',
  skipped: '⏭️ not started',
  canary: '🐤 canary',
  preview: '👀 preview',
  maintenance: '🚧 maintenance',
  live: '✅ live',
  removed: '🗑️ removed'
}

/** The per-host rows of a run over several hosts (and the switch spread, and drift). */
export function hostsTable(outcome: Outcome, esc: (text: string) => string): string[] {
  const hosts = outcome.hosts ?? []
  // One host with several proxies (target swarm: a proxy task per node) has a spread too.
  if (hosts.length < 2)
    return outcome.switchSpreadMs === undefined ? [] : [`The proxy tasks switched within **${outcome.switchSpreadMs} ms** of each other (first to last).`, '']
  const rows = ['| host | result | live | release | |', '|---|---|---|---|---|']
  for (const h of hosts) rows.push(row(h, esc))
  rows.push('')
  if (outcome.switchSpreadMs !== undefined) rows.push(`The proxies of the hosts switched within **${outcome.switchSpreadMs} ms** of each other.`, '')
  if (outcome.drift) rows.push('> [!WARNING]', '> Drift: the hosts do not all have the same release live.', '')
  return rows
}

function row(h: HostOutcome, esc: (text: string) => string): string {
  const live = h.color ? `${h.color} \`${esc(h.image ?? '')}\`` : '—'
  return `| ${esc(h.host)} | ${RESULT[h.result]} | ${live} | ${h.release ? `\`${esc(h.release)}\`` : ''} | ${esc(h.error ?? '')} |`
}

import type { Outcome, StepRecord } from '../core/outcome.js'
import { canaryStepsSection } from './canary-chart.js'
import { hostsTable } from './hosts-table.js'

const STEP_TITLES: Record<StepRecord['name'], string> = {
  connect: 'Connect (SSH)',
  lock: 'Deploy lock',
  inspect: 'Read host state',
  pull: 'Pull image',
  shared: 'Shared services',
  'release-command': 'Release command',
  boot: 'Start container',
  healthy: 'Health gate',
  workers: 'Start workers',
  switch: 'Switch proxy',
  verify: 'Verify via proxy',
  watch: 'Watch (5xx share, health)',
  cleanup: 'Clean up'
}

const HEADLINES: Record<Outcome['result'], string> = {
  deployed: '✅ Deployed',
  'rolled-back': '↩️ Rolled back',
  'auto-rolled-back': '↩️ Rolled back automatically (watch failed):',
  unchanged: '✔️ Unchanged',
  maintenance: '🚧 Maintenance page on for',
  canary: '🐤 Canary started for',
  preview: '👀 Preview waiting for mode promote:',
  live: '✅ Back live:',
  removed: '🗑️ Removed',
  failed: '❌ Failed'
}

function escapeMarkdown(text: string): string {
  return text.replace(/[|<>]/g, c => ({ '|': '\\|', '<': '&lt;', '>': '&gt;' })[c] ?? c)
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`
}

/**
 * Replaces every secret value (and each line of a multi-line one) with ***, longest first, as the
 * runner does for the log. The runner never masks the job summary file, so this must.
 */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  const values = new Set<string>()
  for (const s of secrets) {
    if (!s.trim()) continue
    values.add(s)
    // The same rule as parseInputs' registration: lines of 4 characters or more.
    for (const line of s.split(/\r?\n/)) if (line.trim().length >= 4) values.add(line.trim())
  }
  let out = text
  for (const v of [...values].sort((a, b) => b.length - a.length)) out = out.split(v).join('***')
  return out
}

/**
 * The job summary as Markdown: what is live, what is on standby, the timeline, and any failure.
 * `secrets` are the values registered with the runner as secrets (what parseInputs masked): a
 * crashed container's last log lines may print them, and the summary is not masked by the runner.
 */
export function renderSummary(outcome: Outcome, host: string, secrets: readonly string[] = []): string {
  // Masked before escaping, so a secret with | or < in it is still found.
  const esc = (text: string) => escapeMarkdown(maskSecrets(text, secrets))
  const lines: string[] = []
  const verb =
    outcome.mode === 'status'
      ? 'Status of'
      : outcome.canarySteps?.length && outcome.result === 'auto-rolled-back'
        ? '↩️ Rolled back automatically (a canary step breached):'
        : HEADLINES[outcome.result]
  lines.push(`## ${outcome.mode === 'status' ? '🔎' : ''}${verb} \`${outcome.app}\` on ${esc(host)}`.replace('## 🔎', '## 🔎 '))
  lines.push('')
  lines.push(...hostsTable(outcome, esc))
  lines.push('| | color | image | |')
  lines.push('|---|---|---|---|')
  if (outcome.result === 'canary' && outcome.color) {
    // A canary serves beside the live release, which stays the live one until mode promote.
    lines.push(`| **Canary** | ${outcome.color} | \`${esc(outcome.image ?? '')}\` | since ${outcome.deployedAt ?? '?'} |`)
    lines.push(`| Live | ${outcome.previousColor ?? '?'} | \`${esc(outcome.previousImage ?? '')}\` | serves the other requests |`)
  } else if (outcome.result === 'preview' && outcome.color) {
    // A preview takes no live traffic: the live release serves every request until mode promote.
    lines.push(`| **Preview** | ${outcome.color} | \`${esc(outcome.image ?? '')}\` | ${previewWhere(outcome, esc)} |`)
    lines.push(`| Live | ${outcome.previousColor ?? '?'} | \`${esc(outcome.previousImage ?? '')}\` | serves every request until mode promote |`)
  } else if (outcome.result === 'removed') {
    const was = outcome.previousImage ? `\`${esc(outcome.previousImage)}\`` : 'nothing recorded'
    lines.push(`| **Removed** | ${outcome.previousColor ?? '—'} | ${was} | off the proxy and the host; its domains are free |`)
  } else if (outcome.color) {
    lines.push(`| **Live** | ${outcome.color} | \`${esc(outcome.image ?? '')}\` | since ${outcome.deployedAt ?? '?'} |`)
  } else {
    lines.push('| **Live** | — | nothing deployed | |')
  }
  if (outcome.preview && outcome.result !== 'preview') {
    const p = outcome.preview
    lines.push(`| Preview | ${p.color} | \`${esc(p.image)}\` | waiting since ${esc(p.since)}: ${previewWhere(outcome, esc)} |`)
  }
  if (outcome.standby) {
    const s = outcome.standby
    const how =
      s.state === 'running' ? 'running: instant rollback' : s.state === 'stopped' ? 'stopped: rollback starts it' : 'removed: rollback starts its image again'
    lines.push(`| Standby | ${s.color} | \`${esc(s.image)}\` | ${how} |`)
  }
  if (outcome.workers?.length) {
    const states = outcome.workers.map(w => `${esc(w.name)} (${w.state})`).join(', ')
    lines.push(`| Workers | ${outcome.color ?? ''} | ${outcome.workers.length} | ${states} |`)
  }
  lines.push('')
  if (outcome.served) {
    lines.push(outcome.served.ok ? `✅ ${esc(outcome.served.text)}` : `> [!WARNING]\n> ${esc(outcome.served.text)}`, '')
  }
  if (outcome.failure) {
    const f = outcome.failure
    lines.push(`> [!CAUTION]`)
    lines.push(`> ${esc(f.reason)}`)
    lines.push('')
    if (f.container) {
      const facts = [f.exitCode !== undefined ? `exit code ${f.exitCode}` : '', f.oomKilled ? 'killed for lack of memory' : ''].filter(Boolean)
      lines.push(`**${esc(f.container)}**${facts.length ? ` (${facts.join(', ')})` : ''}, last log lines:`)
      lines.push('')
      lines.push('```text')
      lines.push(maskSecrets(f.logs ?? '(no output)', secrets).replace(/```/g, "'''"))
      lines.push('```')
      lines.push('')
    }
  }
  lines.push(...canaryStepsSection(outcome, esc))
  if (outcome.releases?.length) lines.push(...releasesTable(outcome, esc), '')
  if (outcome.steps.length) {
    lines.push('| step | time | |')
    lines.push('|---|---:|---|')
    for (const s of outcome.steps) {
      lines.push(`| ${s.ok ? '' : '❌ '}${STEP_TITLES[s.name]} | ${seconds(s.ms)} | ${esc(s.detail ?? '')} |`)
    }
    lines.push(`| **Total** | **${seconds(outcome.durationMs)}** | |`)
    lines.push('')
  }
  // And once more over everything (app, colors, numbers): nothing registered leaves unmasked.
  return maskSecrets(lines.join('\n') + '\n', secrets)
}

/**
 * The job summary of a run refused for its inputs: what was refused, and that nothing was touched
 * (inputs are checked before any connection). `app` is the raw input, shown only when it is a valid name.
 */
export function renderInputErrorSummary(reason: string, app: string | undefined, secrets: readonly string[] = []): string {
  const esc = (text: string) => escapeMarkdown(maskSecrets(text, secrets))
  const name = app && /^[a-z0-9-]{1,63}$/.test(app) ? ` for \`${app}\`` : ''
  const lines = [
    `## ❌ Input refused${name}`,
    '',
    '> [!CAUTION]',
    `> ${esc(reason)}`,
    '',
    'Nothing was touched: cutover checks every input before it connects to any host, so no host was contacted and what was live is still live.',
    ''
  ]
  return maskSecrets(lines.join('\n') + '\n', secrets)
}

/** Where a waiting preview is reached, and what ends it. */
function previewWhere(outcome: Outcome, esc: (text: string) => string): string {
  const url = outcome.preview?.url
  return `${url ? `at ${esc(url)}` : 'no preview-domains to reach it'}; mode promote makes it live, mode rollback discards it`
}

/** The host's release ledger, newest first: what `to-release: N` counts back through. */
function releasesTable(outcome: Outcome, esc: (text: string) => string): string[] {
  const rows = ['<details' + (outcome.mode === 'status' ? ' open' : '') + '><summary>Releases recorded on the host (newest first)</summary>', '']
  rows.push('| to-release | color | image | digest | live since | by |')
  rows.push('|---:|---|---|---|---|---|')
  outcome.releases!.forEach((r, i) => {
    const digest = r.digest ? `\`${esc(r.digest.slice(r.digest.indexOf('@') + 1, r.digest.indexOf('@') + 20))}\`` : ''
    const who = [r.by.actor ? esc(r.by.actor) : '', r.by.commit ? `\`${esc(r.by.commit.slice(0, 7))}\`` : '', r.by.runUrl ? `[run](${r.by.runUrl})` : '']
      .filter(Boolean)
      .join(' ')
    const what = i === 0 ? 'live' : String(i)
    rows.push(`| ${what} | ${r.color} | \`${esc(r.image)}\`${r.kind === 'rollback' ? ' (rollback)' : ''} | ${digest} | ${esc(r.liveSince || '?')} | ${who} |`)
  })
  rows.push('', '</details>')
  return rows
}

import type { Outcome, StepRecord } from '../core/outcome.js'

const STEP_TITLES: Record<StepRecord['name'], string> = {
  connect: 'Connect (SSH)',
  lock: 'Deploy lock',
  inspect: 'Read host state',
  pull: 'Pull image',
  boot: 'Start container',
  healthy: 'Health gate',
  switch: 'Switch proxy',
  verify: 'Verify via proxy',
  cleanup: 'Clean up'
}

const HEADLINES: Record<Outcome['result'], string> = {
  deployed: '✅ Deployed',
  'rolled-back': '↩️ Rolled back',
  unchanged: '✔️ Unchanged',
  failed: '❌ Failed'
}

function esc(text: string): string {
  return text.replace(/[|<>]/g, c => ({ '|': '\\|', '<': '&lt;', '>': '&gt;' })[c] ?? c)
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`
}

/** The job summary as Markdown: what is live, what is on standby, the timeline, and any failure. */
export function renderSummary(outcome: Outcome, host: string): string {
  const lines: string[] = []
  const verb = outcome.mode === 'status' ? 'Status of' : HEADLINES[outcome.result]
  lines.push(`## ${outcome.mode === 'status' ? '🔎' : ''}${verb} \`${outcome.app}\` on ${esc(host)}`.replace('## 🔎', '## 🔎 '))
  lines.push('')
  lines.push('| | color | image | |')
  lines.push('|---|---|---|---|')
  if (outcome.color) {
    lines.push(`| **Live** | ${outcome.color} | \`${esc(outcome.image ?? '')}\` | since ${outcome.deployedAt ?? '?'} |`)
  } else {
    lines.push('| **Live** | — | nothing deployed | |')
  }
  if (outcome.standby) {
    const s = outcome.standby
    const how = s.state === 'running' ? 'running: instant rollback' : s.state === 'stopped' ? 'stopped: rollback starts it' : 'removed: rollback starts its image again'
    lines.push(`| Standby | ${s.color} | \`${esc(s.image)}\` | ${how} |`)
  }
  lines.push('')
  if (outcome.failure) {
    const f = outcome.failure
    lines.push(`> [!CAUTION]`)
    lines.push(`> ${esc(f.reason)}`)
    lines.push('')
    if (f.container) {
      const facts = [f.exitCode !== undefined ? `exit code ${f.exitCode}` : '', f.oomKilled ? 'killed for lack of memory' : ''].filter(Boolean)
      lines.push(`**${f.container}**${facts.length ? ` (${facts.join(', ')})` : ''}, last log lines:`)
      lines.push('')
      lines.push('```text')
      lines.push((f.logs ?? '(no output)').replace(/```/g, "'''"))
      lines.push('```')
      lines.push('')
    }
  }
  if (outcome.releases?.length) lines.push(...releasesTable(outcome), '')
  if (outcome.steps.length) {
    lines.push('| step | time | |')
    lines.push('|---|---:|---|')
    for (const s of outcome.steps) {
      lines.push(`| ${s.ok ? '' : '❌ '}${STEP_TITLES[s.name]} | ${seconds(s.ms)} | ${esc(s.detail ?? '')} |`)
    }
    lines.push(`| **Total** | **${seconds(outcome.durationMs)}** | |`)
    lines.push('')
  }
  return lines.join('\n') + '\n'
}

/** The host's release ledger, newest first: what `to-release: N` counts back through. */
function releasesTable(outcome: Outcome): string[] {
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

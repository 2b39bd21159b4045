import type { CanaryColorFigures, CanaryStepReport, Outcome } from '../core/outcome.js'

const VERDICT: Record<CanaryStepReport['verdict'], string> = {
  passed: '✅ passed',
  breached: '❌ breached',
  'low-traffic': '💤 too few requests',
  aborted: '⏹️ stopped',
  'failed-elsewhere': '❌ breached on another host'
}

/**
 * canary-steps (issue #24): each step as a table row (weight, requests, 5xx share and response
 * time of both colors, p95 and mean, verdict) and two Mermaid charts (GitHub renders them in job summaries):
 * the canary's figures as bars, the live color's as a line, per step.
 */
export function canaryStepsSection(outcome: Outcome, esc: (text: string) => string): string[] {
  const steps = outcome.canarySteps ?? []
  if (!steps.length) return []
  const canaryColor = outcome.result === 'deployed' ? outcome.color : outcome.result === 'canary' ? outcome.color : outcome.previousColor
  const lines = [`**Canary steps** (canary${canaryColor ? ` ${canaryColor}` : ''} against the live color over the same window)`, '']
  lines.push('| weight | held | canary requests | canary 5xx | canary time | live requests | live 5xx | live time | verdict |')
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---|')
  for (const s of steps) {
    const c = figures(s.canary)
    const l = figures(s.live)
    lines.push(`| ${s.weight} % | ${Math.round(s.ms / 1000)} s | ${c.join(' | ')} | ${l.join(' | ')} | ${VERDICT[s.verdict]}: ${esc(s.why)} |`)
  }
  lines.push('')
  const xAxis = `x-axis [${steps.map(s => `"${s.weight} %"`).join(', ')}]`
  const p95 = steps.some(s => s.canary.p95Ms !== undefined)
  lines.push(...chart(`Response time (ms${p95 ? ', p95' : ', mean'}): bars canary, line live`, xAxis, 'ms', steps, f => (p95 ? f.p95Ms : f.responseMs) ?? 0))
  lines.push(...chart('5xx share (%): bars canary, line live', xAxis, '%', steps, f => f.errorPercent))
  return lines
}

function figures(f: CanaryColorFigures): string[] {
  const margin = f.responseMarginMs && f.responseMarginMs > 1 ? ` ±${f.responseMarginMs}` : ''
  const mean = f.responseMs === undefined ? undefined : `${f.responseMs}${margin} ms mean`
  // p95 of every logged request, or of a sample of the latest ones when more came than the proxy's ring holds.
  const p95 = f.p95Ms === undefined ? undefined : `${f.p95Ms} ms p95 (of ${f.p95Of})`
  return [String(f.requests), `${f.errorPercent} %`, [p95, mean].filter(Boolean).join(', ') || '—']
}

function chart(title: string, xAxis: string, unit: string, steps: CanaryStepReport[], value: (f: CanaryColorFigures) => number): string[] {
  const canary = steps.map(s => value(s.canary))
  const live = steps.map(s => value(s.live))
  const top = Math.max(1, ...canary, ...live)
  return [
    '```mermaid',
    'xychart-beta',
    `  title "${title}"`,
    `  ${xAxis}`,
    `  y-axis "${unit}" 0 --> ${Math.ceil(top * 1.1)}`,
    `  bar [${canary.join(', ')}]`,
    `  line [${live.join(', ')}]`,
    '```',
    ''
  ]
}

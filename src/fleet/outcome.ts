import type { HostOutcome, Mode, ReleaseResult } from '../core/outcome.js'
import type { HostRun } from './rollout.js'

const NOT_OK = new Set(['failed', 'cancelled', 'reverted', 'skipped'])

export function hostOutcomeOf(run: HostRun): HostOutcome {
  const o = run.outcome
  return {
    host: run.host,
    result: run.result,
    color: o?.color,
    image: o?.image,
    release: o?.release?.id,
    error: run.failure?.reason,
    ...(o?.canarySteps ? { canarySteps: o.canarySteps } : {})
  }
}

/** The hosts whose live release differs from the first host's (nothing live counts as a release). */
export function driftOf(hosts: HostOutcome[]): boolean {
  const key = (h: HostOutcome) => `${h.image ?? ''}|${h.release ?? ''}`
  return hosts.some(h => key(h) !== key(hosts[0]))
}

/**
 * One result for the run: failed when any host did not end on the new release, deployed (or
 * rolled-back) when at least one host changed and all ended on it, unchanged otherwise. The
 * color, image and releases are the first host's; `hosts` says what happened on each.
 */
export function fleetResult(mode: Mode, runs: HostRun[]): ReleaseResult {
  const hosts = runs.map(hostOutcomeOf)
  const first = runs[0]?.outcome
  const switched = runs.map(r => r.switchedAt).filter((t): t is number => t !== undefined)
  const base: ReleaseResult = {
    result: 'unchanged',
    color: first?.color,
    image: first?.image,
    containerId: first?.containerId,
    deployedAt: first?.deployedAt,
    previousColor: first?.previousColor,
    previousImage: first?.previousImage,
    standby: first?.standby,
    release: first?.release,
    releases: first?.releases,
    hosts,
    // canary-steps: the steps of the host whose step breached, else the first host's (each host's are in `hosts`).
    canarySteps: (runs.find(r => r.result === 'failed' && r.outcome?.canarySteps) ?? runs[0])?.outcome?.canarySteps,
    switchSpreadMs: switched.length > 1 ? Math.max(...switched) - Math.min(...switched) : undefined
  }
  if (mode === 'status') {
    const failed = runs.filter(r => r.result === 'failed')
    const drift = driftOf(hosts)
    if (failed.length) return { ...base, result: 'failed', drift, failure: { reason: causes(failed) } }
    return { ...base, drift }
  }
  const causing = runs.filter(r => r.result === 'failed')
  if (runs.some(r => NOT_OK.has(r.result))) {
    const cause = causing[0] ?? runs.find(r => r.failure)
    const others = consequences(runs)
    return {
      ...base,
      result: 'failed',
      failure: {
        ...(cause?.failure ?? { reason: 'failed' }),
        reason: `${causing.length ? causes(causing) : (cause?.failure?.reason ?? 'The run failed.')}${others ? ` ${others}` : ''}`
      }
    }
  }
  // Every host left waiting or paused alike (a canary, a preview, maintenance): the run's result is that.
  const kinds = new Set(runs.map(r => r.result))
  const [only] = kinds
  if (kinds.size === 1 && (only === 'canary' || only === 'preview' || only === 'maintenance' || only === 'live' || only === 'removed')) {
    return {
      ...base,
      result: only,
      ...(first?.preview ? { preview: first.preview } : {}),
      ...(first?.previewEnded ? { previewEnded: first.previewEnded } : {})
    }
  }
  const changed = runs.some(r => r.result === 'deployed' || r.result === 'rolled-back')
  const ended = first?.previewEnded ? { previewEnded: first.previewEnded } : {}
  return { ...base, ...ended, result: changed ? (mode === 'rollback' ? 'rolled-back' : 'deployed') : 'unchanged' }
}

function causes(failed: HostRun[]): string {
  return failed.map(r => `${r.host}: ${r.failure?.reason ?? 'failed'}`).join(' ')
}

/** What the failure meant for the other hosts, in one sentence. */
function consequences(runs: HostRun[]): string {
  const by = (kind: string) => runs.filter(r => r.result === kind).map(r => r.host)
  const parts = [
    [by('cancelled'), 'not switched (their new color removed)'],
    [by('reverted'), 'switched back to their previous release'],
    [by('skipped'), 'not started (the rolling rollout stopped)'],
    [by('deployed').concat(by('rolled-back')), 'kept the new release']
  ] as const
  const text = parts.filter(([hosts]) => hosts.length).map(([hosts, what]) => `${hosts.join(', ')}: ${what}`)
  return text.length ? `Other hosts — ${text.join('; ')}.` : ''
}

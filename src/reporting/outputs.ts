import type { Outcome } from '../core/outcome.js'

/** The step's outputs, the same set in every mode ('' when not applicable); also for a run refused before it had a mode. */
export function outputsOf(outcome: Omit<Outcome, 'mode' | 'app' | 'steps'> & Partial<Outcome>, deploymentId: number | undefined): Record<string, string> {
  return {
    result: outcome.result,
    color: outcome.color ?? '',
    'previous-color': outcome.previousColor ?? '',
    image: outcome.image ?? '',
    'previous-image': outcome.previousImage ?? '',
    'container-id': outcome.containerId ?? '',
    'standby-state': outcome.standby?.state ?? '',
    workers: (outcome.workers ?? []).map(w => w.container).join(' '),
    'deployment-id': deploymentId === undefined ? '' : String(deploymentId),
    'duration-seconds': (outcome.durationMs / 1000).toFixed(1),
    hosts: JSON.stringify(outcome.hosts ?? []),
    'preview-url': outcome.preview?.url ?? '',
    'canary-steps': JSON.stringify(outcome.canarySteps ?? []),
    'switch-spread-ms': outcome.switchSpreadMs === undefined ? '' : String(outcome.switchSpreadMs),
    drift: outcome.drift === undefined ? '' : String(outcome.drift)
  }
}

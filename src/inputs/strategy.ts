import type { CanaryStepsSettings, LowTrafficPolicy, Mode, StrategySettings, WatchSettings } from '../core/config.js'
import { asideName, MAX_REPLICAS } from '../core/names.js'
import { parseDuration } from './duration.js'
import { DNS_LABEL_MAX } from './patterns.js'

/** What the strategy inputs need from the input reader (parse.ts's Reader). */
export interface StrategyReader {
  str(name: string): string
  int(name: string, fallback: number, min: number, max: number): number
}

/**
 * HAProxy sends the page from one buffer (tune.bufsize, 16 kB by default, headers included): a
 * larger page would make the proxy refuse its configuration.
 */
export const MAINTENANCE_PAGE_MAX_BYTES = 12_000

export interface StrategyParsing {
  /** Makes parse.ts's InputError. */
  invalid(input: string, message: string): Error
  /** Reads a file of the repository (parse.ts's workspace checks). */
  readFile(input: string, path: string): string
}

/** Reads the release-strategy inputs (issue #12). */
export function parseStrategy(r: StrategyReader, app: string, mode: Mode, { invalid, readFile }: StrategyParsing): StrategySettings {
  const replicas = r.int('replicas', 1, 1, MAX_REPLICAS)
  const longest = asideName(app, 'green', replicas)
  if (longest.length > DNS_LABEL_MAX) {
    throw invalid(
      'replicas',
      `is ${replicas}, which makes container names up to ${longest} (${longest.length} characters): they must fit a ${DNS_LABEL_MAX}-character DNS label; use a shorter app name`
    )
  }
  const pagePath = r.str('maintenance-page')
  let maintenancePage: string | undefined
  if (pagePath) {
    if (mode !== 'maintenance') throw invalid('maintenance-page', `only applies to mode maintenance, not ${mode}`)
    maintenancePage = readFile('maintenance-page', pagePath)
    const bytes = Buffer.byteLength(maintenancePage)
    if (bytes > MAINTENANCE_PAGE_MAX_BYTES) {
      throw invalid(
        'maintenance-page',
        `names ${pagePath}, ${bytes} bytes; at most ${MAINTENANCE_PAGE_MAX_BYTES} are allowed (HAProxy sends the page from one 16 kB buffer): link large assets instead of inlining them`
      )
    }
  }
  let canaryWeight: number | undefined
  if (r.str('canary-weight')) {
    canaryWeight = r.int('canary-weight', 0, 1, 99)
    if (mode !== 'deploy') throw invalid('canary-weight', `only applies to mode deploy, not ${mode} (mode promote and rollback end a canary)`)
  }
  const watch = parseWatch(r, mode, invalid)
  if (watch && canaryWeight !== undefined) {
    throw invalid('watch', "cannot be combined with 'canary-weight' (a canary is watched by you, then promoted or rolled back): remove one of them")
  }
  const canarySteps = parseCanarySteps(r, mode, invalid)
  if (canarySteps && canaryWeight !== undefined)
    throw invalid('canary-steps', "cannot be combined with 'canary-weight' (the steps are the canary's weights): remove one of them")
  if (canarySteps && watch)
    throw invalid(
      'canary-steps',
      "cannot be combined with 'watch' (every step is watched already, and a canary that passed them is promoted): remove one of them"
    )
  let promote: 'manual' | undefined
  if (r.str('promote')) {
    const value = r.str('promote').toLowerCase()
    if (value !== 'auto' && value !== 'manual') throw invalid('promote', `must be auto or manual, not ${JSON.stringify(r.str('promote'))}`)
    if (value === 'manual') {
      if (mode !== 'deploy')
        throw invalid('promote', `manual only applies to mode deploy, not ${mode} (mode promote makes the waiting preview live, mode rollback discards it)`)
      if (canarySteps)
        throw invalid('promote', "manual cannot be combined with 'canary-steps': a preview takes no live traffic to judge; deploy with one of them")
      if (canaryWeight !== undefined)
        throw invalid('promote', "manual cannot be combined with 'canary-weight': a preview takes no live traffic, a canary does; deploy with one of them")
      if (watch)
        throw invalid('watch', "cannot be combined with 'promote: manual' (a preview is not switched to, so there is nothing to watch): remove one of them")
      promote = 'manual'
    }
  }
  return {
    replicas,
    ...(maintenancePage !== undefined ? { maintenancePage } : {}),
    ...(canaryWeight !== undefined ? { canaryWeight } : {}),
    ...(watch ? { watch } : {}),
    ...(canarySteps ? { canarySteps } : {}),
    ...(promote ? { promote } : {})
  }
}

/** A watch shorter than this sees too few samples (one every 2 s) to judge anything. */
export const WATCH_MIN_MS = 5000
/** The run holds the deploy lock while it watches: longer watches belong in monitoring. */
export const WATCH_MAX_MS = 3_600_000

/** `watch` (a duration; '', off, 0: no watch) and `watch-max-error-rate` (percent, `5%` or `5`; checked even without watch, whose default it is). */
function parseWatch(r: StrategyReader, mode: Mode, invalid: StrategyParsing['invalid']): WatchSettings | undefined {
  const value = r.str('watch')
  const maxErrorRate = percentInput(r, 'watch-max-error-rate', invalid, 100) ?? 5
  if (value === '' || /^(off|0+(\.0*)?\s*(ms|s|m|h)?)$/i.test(value)) return undefined
  const durationMs = parseDuration(value)
  if (durationMs === undefined) throw invalid('watch', `must be a duration such as 90s or 2m, or off, not "${value}"`)
  if (durationMs < WATCH_MIN_MS || durationMs > WATCH_MAX_MS) throw invalid('watch', `must be from 5s to 1h, not "${value}"`)
  if (mode !== 'deploy') throw invalid('watch', `only applies to mode deploy, not ${mode}`)
  return { durationMs, maxErrorRate }
}

/** A percentage input (`5%` or `5`, at most `max`); undefined when empty. */
function percentInput(r: StrategyReader, name: string, invalid: StrategyParsing['invalid'], max: number): number | undefined {
  const value = r.str(name)
  if (!value) return undefined
  const m = /^(\d+(?:\.\d+)?)\s*%?$/.exec(value)
  if (!m || Number(m[1]) > max) throw invalid(name, `must be a percentage from 0 to ${max} such as 5% or 0.5, not "${value}"`)
  return Number(m[1])
}

/** A step shorter than this sees too few of the proxy's samples (one every 2 s) to judge anything. */
export const CANARY_STEP_MIN_MS = 5000
const LOW_TRAFFIC_POLICIES: readonly LowTrafficPolicy[] = ['promote', 'hold', 'fail']

/** `canary-steps` (rising percentages such as `5 25 50`) and the inputs that judge each step (issue #24). */
function parseCanarySteps(r: StrategyReader, mode: Mode, invalid: StrategyParsing['invalid']): CanaryStepsSettings | undefined {
  const value = r.str('canary-steps')
  const latencyValue = r.str('watch-max-latency')
  const maxLatencyMs = latencyValue ? parseDuration(latencyValue) : undefined
  if (latencyValue && !maxLatencyMs) throw invalid('watch-max-latency', `must be a response time such as 300ms or 1.5s, not "${latencyValue}"`)
  const maxLatencyIncrease = percentInput(r, 'watch-max-latency-increase', invalid, 10_000)
  const lowTraffic = (r.str('canary-low-traffic') || 'hold').toLowerCase() as LowTrafficPolicy
  if (!LOW_TRAFFIC_POLICIES.includes(lowTraffic))
    throw invalid('canary-low-traffic', `must be promote, hold or fail, not ${JSON.stringify(r.str('canary-low-traffic'))}`)
  const stepValue = r.str('canary-step-time') || '60s'
  const stepMs = parseDuration(stepValue)
  if (stepMs === undefined) throw invalid('canary-step-time', `must be a duration such as 60s or 5m, not "${stepValue}"`)
  if (!value) return undefined
  const words = value.split(/[\s,]+/).filter(Boolean)
  const weights = words.map(w => Number(w.replace(/%$/, '')))
  const bad = words.find((w, i) => !/^\d+%?$/.test(w) || weights[i] < 1 || weights[i] > 99)
  if (bad !== undefined) throw invalid('canary-steps', `must be percentages from 1 to 99 such as "5 25 50", not "${bad}" in "${value}"`)
  if (weights.some((w, i) => i > 0 && w <= weights[i - 1])) throw invalid('canary-steps', `must rise from step to step, as "5 25 50" does, not "${value}"`)
  if (mode !== 'deploy') throw invalid('canary-steps', `only applies to mode deploy, not ${mode}`)
  if (stepMs < CANARY_STEP_MIN_MS) throw invalid('canary-step-time', `must be at least 5s (the proxy's counters are read every 2 s), not "${stepValue}"`)
  if (stepMs * weights.length > WATCH_MAX_MS)
    throw invalid('canary-step-time', `is ${stepValue} for ${weights.length} steps, more than 1h in all (the run holds the deploy lock meanwhile)`)
  return {
    weights,
    stepMs,
    maxErrorRate: percentInput(r, 'watch-max-error-rate', invalid, 100) ?? 5,
    ...(maxLatencyMs !== undefined ? { maxLatencyMs } : {}),
    ...(maxLatencyIncrease !== undefined ? { maxLatencyIncrease } : {}),
    lowTraffic
  }
}

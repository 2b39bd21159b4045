import type { ProxyType, StrategySettings } from '../core/config.js'
import { asideName, MAX_REPLICAS } from '../core/names.js'

/** The longest container name a DNS label allows (containers find each other by name). */
const DNS_LABEL_MAX = 63

/** What the strategy inputs need from the input reader (parse.ts's Reader). */
export interface StrategyReader {
  int(name: string, fallback: number, min: number, max: number): number
}

/** Reads the release-strategy inputs (issue #12); `invalid` makes parse.ts's InputError. */
export function parseStrategy(r: StrategyReader, app: string, invalid: (input: string, message: string) => Error): StrategySettings {
  const replicas = r.int('replicas', 1, 1, MAX_REPLICAS)
  const longest = asideName(app, 'green', replicas)
  if (longest.length > DNS_LABEL_MAX) {
    throw invalid(
      'replicas',
      `is ${replicas}, which makes container names up to ${longest} (${longest.length} characters): they must fit a ${DNS_LABEL_MAX}-character DNS label; use a shorter app name`
    )
  }
  return { replicas }
}

/** The first strategy input set to something other than its default: what only the HAProxy router does. */
export function strategyInputInUse(strategy: StrategySettings): string | undefined {
  if (strategy.replicas !== 1) return 'replicas'
  return undefined
}

/**
 * Why a proxy type cannot carry the strategy asked for: the input and the rest of the sentence
 * (after "Input 'x' "), or undefined. Checked twice before anything on the host changes: at input
 * time for an explicit proxy-type, and once `auto` is settled on the host (an existing nginx proxy
 * keeps its type).
 */
export function strategyProxyProblem(strategy: StrategySettings, proxyType: ProxyType | 'auto'): { input: string; message: string } | undefined {
  if (proxyType !== 'nginx') return undefined
  const input = strategyInputInUse(strategy)
  if (!input) return undefined
  return {
    input,
    message: `needs the HAProxy proxy (proxy-type: haproxy), but this app's proxy is nginx: remove '${input}', or deploy behind an HAProxy proxy (another proxy-name, or remove the nginx proxy on the host). Nothing was changed.`
  }
}

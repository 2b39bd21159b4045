import type { Mode, ProxyInputs, StrategySettings, TlsSettings } from './config.js'
import { describeListen } from './listen.js'

/**
 * What a router can do, declared by each router (src/proxy) and checked against what a run asks
 * for before anything on a host changes. Nothing outside src/proxy names a proxy type: a third
 * router declares its capabilities and every check below applies to it unchanged.
 */
export interface RouterCapabilities {
  /** The router's name in messages ("HAProxy", "nginx"). */
  name: string
  /** Routes change without a reload (in-flight requests and WebSockets stay where they are). */
  runtimeSwitch: boolean
  /** Several replicas of a color balanced by the proxy. */
  replicas: boolean
  /** A share of new requests to another color (canary-weight). */
  weights: boolean
  /** A second backend for the idle color at other domains (promote manual, preview-domains). */
  preview: boolean
  /** The app's answers replaced by a maintenance page (modes maintenance and live). */
  maintenance: boolean
  /** TLS termination, certificates and ACME (tls, trusted-proxies). */
  tls: boolean
  /** Running totals of responses and 5xx per app (watch). */
  stats: boolean
  /** Cookie-pinned clients (sticky). */
  sticky: boolean
  /** Behind an edge proxy (issue #23): proxy-port as an address or none, proxy-networks, PROXY protocol. */
  edge: boolean
  /** Counts an app's requests in flight while it leaves the proxy: mode remove waits only as long as they last. */
  inFlight: boolean
}

export type Capability = Exclude<keyof RouterCapabilities, 'name'>

/** What each capability is, for messages: "needs <what>". */
export const CAPABILITY_WORDS: Record<Capability, string> = {
  runtimeSwitch: 'a runtime switch',
  replicas: 'load balancing over replicas',
  weights: 'weighted routing',
  preview: 'a preview backend',
  maintenance: 'a maintenance page',
  tls: 'TLS termination',
  stats: 'response counters',
  sticky: 'sticky sessions',
  edge: 'running behind an edge proxy',
  inFlight: 'a count of requests in flight'
}

/** One input (or mode) that needs a capability the chosen router lacks. */
export interface CapabilityProblem {
  input: string
  /** The capability it needs (the first of them when any one would do, as for mode promote). */
  capability: Capability
  /** The full sentence, in the one shape every such refusal has. */
  message: string
}

/**
 * The one message shape of a capability refusal: the input, the router, what it lacks and what
 * would work. `capability`: what the input needs (several: any one of them would do); `routers`:
 * the routers that have it, as a user would pick them (src/proxy/routers.ts's routersWith).
 */
export function capabilityMessage(
  input: string,
  value: string | undefined,
  capability: Capability | readonly Capability[],
  router: string,
  routers: string[]
): string {
  const what = value === undefined ? `Input '${input}'` : `Input '${input}' is ${value}, which`
  const needs = (typeof capability === 'string' ? [capability] : capability).map(c => CAPABILITY_WORDS[c]).join(' or ')
  const drop = input === 'mode' ? 'use mode deploy or rollback' : `remove '${input}'`
  const instead = routers.length
    ? `deploy behind a router that has it: ${routers.join(' or ')} (set proxy-type, or give another proxy-name if this host's proxy is ${router})`
    : 'deploy behind a router that has it (docs/development.md: capabilities per router)'
  return `${what} needs ${needs}, which the ${router} router does not have: ${drop}, or ${instead}. Nothing was changed.`
}

/** What a run asks of its router: every input the capability table reads. */
export interface RouterRequest {
  mode: Mode
  strategy: Pick<StrategySettings, 'replicas' | 'canaryWeight' | 'watch' | 'promote' | 'canarySteps'>
  sticky?: boolean
  previewDomains?: string[]
  tls?: Pick<TlsSettings, 'mode' | 'trustedProxies'>
  /** metrics: the address asked for (`127.0.0.1:9101`). */
  metrics?: string
  /** Edge mode (issue #23): proxy-port as written when not a plain port, proxy-networks, proxy-protocol. */
  edge?: { listen?: string; networks?: string[]; proxyProtocol?: boolean }
}

/** The router request of a configuration (or of its proxy once settled on a host). */
export function routerRequest(config: {
  mode: Mode
  strategy: StrategySettings
  proxy: Pick<ProxyInputs, 'sticky' | 'previewDomains' | 'tls' | 'metrics'> & Partial<Pick<ProxyInputs, EdgeInputs>>
}): RouterRequest {
  const { sticky, previewDomains, tls, metrics } = config.proxy
  const { port, hostIp, unpublished, networks, proxyProtocol } = config.proxy
  const listen = unpublished || hostIp ? describeListen({ port: port ?? 0, hostIp, unpublished }) : undefined
  const edge = listen || networks?.length || proxyProtocol ? { listen, networks, proxyProtocol } : undefined
  return {
    mode: config.mode,
    strategy: config.strategy,
    sticky,
    previewDomains,
    tls,
    ...(metrics ? { metrics: `${metrics.host}:${metrics.port}` } : {}),
    ...(edge ? { edge } : {})
  }
}

/** The proxy inputs of edge mode. */
export type EdgeInputs = 'port' | 'hostIp' | 'unpublished' | 'networks' | 'proxyProtocol'

/** One row of the table: an input, what it needs, and its value when set (undefined: not asked for). */
interface CapabilityRule {
  input: string
  /** Any one of these will do. */
  needs: readonly Capability[]
  /** The value for the message ('' when the message names the input alone); undefined when not asked for. */
  asked(request: RouterRequest): string | undefined
}

const MODE_NEEDS: Partial<Record<Mode, readonly Capability[]>> = {
  maintenance: ['maintenance'],
  live: ['maintenance'],
  // A promote ends a canary (weights) or makes a preview live (preview).
  promote: ['weights', 'preview']
}

/** Which input or mode needs which capability: the one place that says so, checked in this order. */
export const CAPABILITY_TABLE: readonly CapabilityRule[] = [
  ...Object.entries(MODE_NEEDS).map(([mode, needs]) => ({ input: 'mode', needs, asked: (r: RouterRequest) => (r.mode === mode ? mode : undefined) })),
  { input: 'replicas', needs: ['replicas'], asked: r => (r.strategy.replicas > 1 ? String(r.strategy.replicas) : undefined) },
  { input: 'canary-weight', needs: ['weights'], asked: r => (r.strategy.canaryWeight !== undefined ? String(r.strategy.canaryWeight) : undefined) },
  { input: 'watch', needs: ['stats'], asked: r => (r.strategy.watch ? '' : undefined) },
  { input: 'canary-steps', needs: ['weights'], asked: r => r.strategy.canarySteps?.weights.join(' ') },
  { input: 'canary-steps', needs: ['stats'], asked: r => r.strategy.canarySteps?.weights.join(' ') },
  { input: 'promote', needs: ['preview'], asked: r => (r.strategy.promote ? r.strategy.promote : undefined) },
  { input: 'preview-domains', needs: ['preview'], asked: r => (r.previewDomains?.length ? '' : undefined) },
  { input: 'sticky', needs: ['sticky'], asked: r => (r.sticky ? 'cookie' : undefined) },
  { input: 'tls', needs: ['tls'], asked: r => (r.tls && r.tls.mode !== 'off' ? r.tls.mode : undefined) },
  { input: 'trusted-proxies', needs: ['tls'], asked: r => (r.tls?.trustedProxies.length ? '' : undefined) },
  { input: 'metrics', needs: ['stats'], asked: r => r.metrics },
  { input: 'proxy-port', needs: ['edge'], asked: r => r.edge?.listen },
  { input: 'proxy-networks', needs: ['edge'], asked: r => (r.edge?.networks?.length ? '' : undefined) },
  { input: 'proxy-protocol', needs: ['edge'], asked: r => (r.edge?.proxyProtocol ? 'true' : undefined) }
]

/**
 * The first input the router cannot carry, or undefined. `routersWith` names the routers that have
 * a capability (for the message). Checked before anything on a host changes: at input time for an
 * explicit proxy-type, and again once proxy-type auto is settled on the host.
 */
export function capabilityProblem(
  request: RouterRequest,
  capabilities: RouterCapabilities,
  routersWith: (capability: Capability) => string[]
): CapabilityProblem | undefined {
  for (const rule of CAPABILITY_TABLE) {
    const value = rule.asked(request)
    if (value === undefined || rule.needs.some(c => capabilities[c])) continue
    const routers = [...new Set(rule.needs.flatMap(c => routersWith(c)))]
    return {
      input: rule.input,
      capability: rule.needs[0],
      message: capabilityMessage(rule.input, value || undefined, rule.needs, capabilities.name, routers)
    }
  }
  return undefined
}

import { capabilityProblem, routerRequest, type Capability, type CapabilityProblem, type EdgeInputs, type RouterCapabilities } from '../core/capabilities.js'
import type { Mode, ProxyChoice, ProxyInputs, ProxyType, StrategySettings } from '../core/config.js'

/**
 * What each router declares it can do (core/capabilities.ts), without loading the routers: the
 * inputs check a run against these before anything on a host changes.
 */

/** One HAProxy container switched through its runtime API: everything cutover asks of a router. */
export const HAPROXY_CAPABILITIES: RouterCapabilities = {
  name: 'HAProxy',
  runtimeSwitch: true,
  replicas: true,
  weights: true,
  preview: true,
  maintenance: true,
  tls: true,
  stats: true,
  sticky: true,
  edge: true,
  inFlight: true
}

/** Two nginx tiers switched by a reload: plain HTTP, one container per color. */
export const NGINX_CAPABILITIES: RouterCapabilities = {
  name: 'nginx',
  runtimeSwitch: false,
  replicas: false,
  weights: false,
  preview: false,
  maintenance: false,
  tls: false,
  stats: false,
  sticky: false,
  edge: false,
  inFlight: false
}

/**
 * target: swarm: HAProxy as a service on every node, switched through each task's runtime API
 * (proxy/swarm-proxy.ts): replicas yes, none of the strategies of one HAProxy yet.
 */
export const SWARM_CAPABILITIES: RouterCapabilities = { ...NGINX_CAPABILITIES, name: 'HAProxy on Swarm', runtimeSwitch: true, replicas: true, inFlight: true }

/**
 * One Caddy 2.6 container switched through its admin API. Caddy 2.6 changes a route only by
 * loading a new configuration (a graceful reload that closes proxied WebSockets: no runtime
 * switch), and balances without weights (weighted_round_robin came with Caddy 2.8).
 */
export const CADDY_CAPABILITIES: RouterCapabilities = {
  name: 'Caddy',
  runtimeSwitch: false,
  replicas: true,
  weights: false,
  preview: false,
  maintenance: true,
  tls: false,
  stats: false,
  sticky: false,
  edge: false,
  inFlight: false
}

/** Each proxy-type's declared capabilities. */
export const ROUTER_CAPABILITIES: Record<ProxyType, RouterCapabilities> = {
  haproxy: HAPROXY_CAPABILITIES,
  nginx: NGINX_CAPABILITIES,
  caddy: CADDY_CAPABILITIES
}

/** The routers that have a capability, as a user picks them: `HAProxy (proxy-type: haproxy)`. */
export function routersWith(capability: Capability): string[] {
  return Object.entries(ROUTER_CAPABILITIES)
    .filter(([, caps]) => caps[capability])
    .map(([type, caps]) => `${caps.name} (proxy-type: ${type})`)
}

/** What the capability check reads of a configuration (Config fits). */
export interface ProxyRun {
  mode: Mode
  strategy: StrategySettings
  proxy: Pick<ProxyInputs, 'sticky' | 'previewDomains' | 'tls' | 'metrics'> & Partial<Pick<ProxyInputs, EdgeInputs>> & { type: ProxyChoice }
}

/**
 * The first input the run's router cannot carry (its `message` is the full sentence), or
 * undefined. `type` is the router's type: the proxy-type input when explicit (checked at input
 * time), or the type settled on the host for proxy-type auto (checked again there, before anything
 * on the host changes). undefined while the type is still auto.
 */
export function proxyCapabilityProblem(run: ProxyRun, type: ProxyChoice = run.proxy.type): CapabilityProblem | undefined {
  if (type === 'auto') return undefined
  return capabilityProblem(routerRequest(run), ROUTER_CAPABILITIES[type], routersWith)
}

/** The check of the proxy's own inputs alone (tls, trusted-proxies, sticky, preview-domains): what resolveProxy knows. */
export function proxyInputsProblem(inputs: ProxyRun['proxy'], type: ProxyType): CapabilityProblem | undefined {
  return proxyCapabilityProblem({ mode: 'deploy', strategy: { replicas: 1 }, proxy: inputs }, type)
}

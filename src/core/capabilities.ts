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
}

export type Capability = Exclude<keyof RouterCapabilities, 'name'>

/** What each capability is, for messages: "<router> has no <what>". */
export const CAPABILITY_WORDS: Record<Capability, string> = {
  runtimeSwitch: 'runtime switch',
  replicas: 'load balancing over replicas',
  weights: 'weighted routing',
  preview: 'preview backend',
  maintenance: 'maintenance page',
  tls: 'TLS termination',
  stats: 'response counters',
  sticky: 'sticky sessions'
}

/** One input (or mode) that needs a capability the chosen router lacks. */
export interface CapabilityProblem {
  input: string
  capability: Capability
  /** The full sentence, in the one shape every such refusal has. */
  message: string
}

/**
 * The one message shape of a capability refusal: the input, the router, what it lacks and what
 * would work (`routers`: the names of routers that have it).
 */
export function capabilityMessage(input: string, value: string | undefined, capability: Capability, router: string, routers: string[]): string {
  const what = value === undefined ? `Input '${input}'` : `Input '${input}' is ${value}, which`
  const instead = routers.length ? `deploy behind a router that has it (${routers.join(', ')}: another proxy-name, or proxy-type)` : 'no router has it yet'
  const drop = input === 'mode' ? 'use mode deploy or rollback' : `remove '${input}'`
  return `${what} needs ${CAPABILITY_WORDS[capability]}, which the ${router} router does not have: ${drop}, or ${instead}. Nothing was changed.`
}

import { capabilityProblem, routerRequest } from '../core/capabilities.js'
import type { Config, SwarmSettings } from '../core/config.js'
import { HAPROXY_CAPABILITIES, ROUTER_CAPABILITIES, routersWith, SWARM_CAPABILITIES } from '../proxy/capabilities.js'
import { InputError } from './errors.js'
import type { Reader } from './reader.js'

const TARGETS = ['container', 'swarm'] as const
/** `node.labels.zone==a`, `node.role!=manager`, `engine.labels.x==y`: Swarm's own constraint syntax. */
const CONSTRAINT =
  /^(node\.(id|hostname|role|platform\.os|platform\.arch|labels\.[A-Za-z0-9._-]+)|engine\.labels\.[A-Za-z0-9._-]+)\s*(==|!=)\s*[A-Za-z0-9._/:-]+$/
const LABEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** What target: swarm does not carry yet, each with the input that asks for it. */
function unsupported(config: Config): { input: string; why: string } | undefined {
  if (config.fleet) return { input: 'host', why: 'names several hosts: give the one manager node (the swarm places the tasks)' }
  const type = config.proxy.type
  if (type !== 'auto' && ROUTER_CAPABILITIES[type] !== HAPROXY_CAPABILITIES)
    return { input: 'proxy-type', why: `is ${type}: the swarm proxy is HAProxy (proxy-type auto or haproxy)` }
  if (config.imageArchive) return { input: 'image-archive', why: 'is set: every node pulls the image, so it must come from a registry' }
  if (config.compose) return { input: 'compose-file', why: 'is set: compose projects are not deployed as swarm services yet' }
  if (config.releaseCommand) return { input: 'release-command', why: 'is set: not run on a swarm yet' }
  if (config.container.volumes.length) return { input: 'volumes', why: "is set: a volume is a node's own, which a task rescheduled elsewhere would not find" }
  if (config.container.networks.length) return { input: 'networks', why: "is set: only the app's own overlay network is joined on a swarm yet" }
  if (config.mode === 'maintenance' || config.mode === 'live' || config.mode === 'promote')
    return { input: 'mode', why: `is ${config.mode}: not on a swarm yet` }
  return undefined
}

/** Input 'target' and the swarm-* inputs; undefined for target container (the default). */
export function parseSwarm(r: Reader, config: Config): SwarmSettings | undefined {
  const target = r.oneOf('target', TARGETS, 'container')
  const constraints = r.lines('swarm-constraints')
  const proxyLabel = r.str('swarm-proxy-label') || undefined
  const secrets = r.lines('swarm-secrets')
  if (target !== 'swarm') {
    const stray = constraints.length ? 'swarm-constraints' : proxyLabel ? 'swarm-proxy-label' : secrets.length ? 'swarm-secrets' : undefined
    if (stray) throw new InputError(stray, 'only applies with target: swarm')
    return undefined
  }
  const bad = constraints.find(c => !CONSTRAINT.test(c))
  if (bad)
    throw new InputError(
      'swarm-constraints',
      `has ${JSON.stringify(bad)}, which is not a Swarm placement constraint such as node.labels.zone==a or node.role!=manager`
    )
  if (proxyLabel && !LABEL_NAME.test(proxyLabel))
    throw new InputError('swarm-proxy-label', `must be a node label name such as cutover.proxy, not ${JSON.stringify(proxyLabel)}`)
  const unknown = secrets.find(name => !(name in config.container.env))
  if (unknown)
    throw new InputError(
      'swarm-secrets',
      `names ${JSON.stringify(unknown)}, which neither env nor env-file sets: list the names of variables they set (${Object.keys(config.container.env).join(', ') || 'none is set'})`
    )
  if (new Set(secrets).size !== secrets.length) throw new InputError('swarm-secrets', 'names a variable twice')
  const lacking = unsupported(config)
  if (lacking) throw new InputError(lacking.input, `${lacking.why} (target: swarm)`)
  const problem = capabilityProblem(routerRequest(config), SWARM_CAPABILITIES, routersWith)
  if (problem) throw new InputError(problem.input, `${problem.message.slice(`Input '${problem.input}' `.length)} (target: swarm)`)
  return { constraints, secrets, ...(proxyLabel ? { proxyLabel } : {}) }
}

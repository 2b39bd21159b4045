import type Docker from 'dockerode'
import type { ProxyInputs, ProxySettings, ProxyType } from '../core/config.js'
import { LABEL } from '../core/names.js'
import { parseImageRef } from '../core/image-ref.js'
import { inspectIfExists, ProxyError } from './proxy-container.js'
import { proxyInputsProblem } from './capabilities.js'

/** The images a proxy of each type runs unless 'proxy-image' says otherwise. */
export const DEFAULT_PROXY_IMAGES: Record<ProxyType, string> = {
  haproxy: 'haproxy:3.0-alpine',
  nginx: 'nginx:1.28-alpine',
  caddy: 'caddy:2.6-alpine'
}

/**
 * Which proxy a host already runs under a name, from the label cutover puts on its containers:
 * HAProxy's or Caddy's one container, or nginx's edge (`<name>`) and switch (`<name>-switch`) tiers.
 * undefined: none of them exists (or the container is not cutover's: the router says so).
 */
export async function existingProxyType(docker: Docker, name: string): Promise<ProxyType | undefined> {
  const kindOf = (info: Docker.ContainerInspectInfo | undefined) => info?.Config.Labels?.[LABEL.proxy]
  const main = kindOf(await inspectIfExists(docker.getContainer(name)))
  if (main === 'haproxy') return 'haproxy'
  if (main === 'caddy') return 'caddy'
  if (main === 'edge' || main === 'switch') return 'nginx'
  if (main === undefined && kindOf(await inspectIfExists(docker.getContainer(`${name}-switch`))) === 'switch') return 'nginx'
  return undefined
}

/**
 * Settles `proxy-type: auto` (the default): an existing proxy keeps its type, so upgrading cutover
 * never replaces a proxy that serves other apps; a new proxy is HAProxy (one tier, switched without
 * a reload: docs/reliability.md "Why HAProxy"). An explicit type is taken as it is (its router refuses a
 * container of the other type, saying what to do).
 */
export async function resolveProxy(docker: Docker, inputs: ProxyInputs): Promise<{ settings: ProxySettings; existing?: ProxyType }> {
  const existing = await existingProxyType(docker, inputs.name)
  const type: ProxyType = inputs.type === 'auto' ? (existing ?? 'haproxy') : inputs.type
  const image = inputs.image ?? DEFAULT_PROXY_IMAGES[type]
  if (inputs.image && inputs.type === 'auto' && !existing) {
    // Before 0.2 the default type was nginx: a workflow that names an nginx image means that proxy.
    const other = imageKind(inputs.image)
    if (other && other !== type) {
      const an = other === 'caddy' ? 'a' : 'an'
      throw new ProxyError(
        `Input 'proxy-image' is ${inputs.image}, ${an} ${other} image, but a new proxy is HAProxy by default (proxy-type: auto). ` +
          `Set proxy-type: ${other} to keep ${an} ${other} proxy, or remove proxy-image (or name an HAProxy image).`
      )
    }
  }
  // proxy-type auto keeping an existing proxy: the proxy's own inputs (tls, sticky, preview-domains)
  // against its router, before anything on the host changes (this is only a read). The whole run
  // is checked by proxyCapabilityProblem once the type is settled.
  const problem = proxyInputsProblem(inputs, type)
  if (problem) throw new ProxyError(problem.message)
  return { settings: { ...inputs, type, image, imageGiven: !!inputs.image }, existing }
}

/** An app without a web role (app-port: none) has no proxy: settings for a router that is never called, found without asking the host. */
export function noProxy(inputs: ProxyInputs): ProxySettings {
  return { ...inputs, type: inputs.type === 'nginx' ? 'nginx' : 'haproxy', image: inputs.image ?? DEFAULT_PROXY_IMAGES.haproxy }
}

/** The proxy type an image's repository name says it is, if it says. */
function imageKind(image: string): ProxyType | undefined {
  const last = parseImageRef(image).repository.split('/').pop() ?? ''
  if (/^haproxy/.test(last)) return 'haproxy'
  if (/^nginx/.test(last)) return 'nginx'
  if (/^caddy/.test(last)) return 'caddy'
  return undefined
}

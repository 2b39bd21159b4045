import type { HealthSettings, ProxyChoice, ProxyInputs } from '../core/config.js'
import { InputError } from './errors.js'
import { parseImage } from './image.js'
import { APP_NAME, DNS_LABEL_MAX, HOSTNAME, IPV4 } from './patterns.js'
import type { Reader } from './reader.js'
import { parseTls } from './tls.js'
import { parseEdge, parseProxyPort } from './edge.js'

/** The web role's inputs: how it is health-checked and how the proxy routes to it. */

const PROXY_TYPES: ProxyChoice[] = ['auto', 'haproxy', 'nginx', 'caddy']
/** Suffixes of the proxy's containers (see src/proxy/nginx.ts): `<proxy-name>-switch`. */
const PROXY_SUFFIX = '-switch'
export const PROXY_NAME_MAX = DNS_LABEL_MAX - PROXY_SUFFIX.length
/** Visible ASCII (what an HTTP request line carries without escaping), at least one character. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/

/** The path and query probed: sent as is in an HTTP request line, so visible ASCII only. */
function parseHealthPath(value: string): string {
  if (!value.startsWith('/')) throw new InputError('health-path', `must start with /, not ${JSON.stringify(value)}`)
  if (!VISIBLE_ASCII.test(value)) {
    throw new InputError(
      'health-path',
      `must be a URL path without spaces, control or non-ASCII characters (percent-encode them, e.g. %20), not ${JSON.stringify(value)}`
    )
  }
  if (value.includes('#')) throw new InputError('health-path', `must not have a #fragment (it is never sent to the server), not ${JSON.stringify(value)}`)
  return value
}

/** Host names nginx routes to the app: valid names, each label at most 63, at most 253 in all. */
function parseDomains(value: string, input = 'domains'): string[] {
  const domains = value.split(/[\s,]+/).filter(Boolean)
  const seen = new Set<string>()
  for (const d of domains) {
    const bare = d.replace(/^\*\./, '')
    if (!HOSTNAME.test(bare) || IPV4.test(bare))
      throw new InputError(input, `has an invalid domain "${d}" (a host name such as app.example.com or *.example.com)`)
    if (d.length > 253) throw new InputError(input, `has a domain of ${d.length} characters; at most 253 are allowed: "${d.slice(0, 40)}..."`)
    if (d.startsWith('*.') && !bare.includes('.')) {
      throw new InputError(input, `has "${d}", a wildcard over a whole top-level domain; name at least two labels after *. (e.g. *.example.com)`)
    }
    const key = d.toLowerCase()
    if (seen.has(key)) throw new InputError(input, `has "${d}" twice (host names are not case-sensitive)`)
    seen.add(key)
  }
  return domains
}

/** preview-domains: exact host names (a preview URL names one host), none of them one of the app's own domains. */
function parsePreviewDomains(previewDomains: string[], domains: string[]): string[] {
  const own = new Set(domains.map(d => d.toLowerCase()))
  for (const d of previewDomains) {
    if (d.startsWith('*.')) throw new InputError('preview-domains', `has the wildcard "${d}": name each preview host exactly (e.g. green.app.example.com)`)
    if (own.has(d.toLowerCase()))
      throw new InputError('preview-domains', `has "${d}", which is also in 'domains': a preview host must reach the idle color only`)
  }
  return previewDomains
}

/** The health check; `web` false (app-port: none): nothing is probed on any port. */
export function parseHealth(r: Reader, web: boolean): HealthSettings {
  const path = parseHealthPath(r.str('health-path', '/health'))
  const expectedStatusValue = r.str('health-status')
  const expectedStatus = expectedStatusValue ? r.int('health-status', 200, 100, 599) : undefined
  return {
    port: web ? r.int('app-port', 3000, 1, 65535) : 0,
    path,
    timeoutMs: r.duration('health-timeout', '60s', 1000),
    intervalMs: r.duration('health-interval', '1s', 100),
    passes: r.int('health-passes', 1, 1, 100),
    expectedStatus
  }
}

/** The proxy as the inputs ask for it: its name, type, port, the app's domains, TLS, sticky, drain. */
export function parseProxy(r: Reader): ProxyInputs {
  const domains = parseDomains(r.str('domains'))
  const previewDomains = parsePreviewDomains(parseDomains(r.str('preview-domains'), 'preview-domains'), domains)
  const name = parseProxyName(r.str('proxy-name', 'cutover-proxy'))
  const type = r.oneOf('proxy-type', PROXY_TYPES, 'auto')
  const image = r.str('proxy-image')
  const listen = parseProxyPort(r.str('proxy-port', '80'))
  // Preview domains are served with the app's certificate: it must cover them too (tls auto asks for them).
  const certified = domains.length ? [...domains, ...previewDomains] : domains
  const proxyPort = listen.unpublished ? undefined : listen.port
  const tls = parseTls(r, (input, message) => new InputError(input, message), { proxyPort, domains: certified, checkImage: parseImage })
  return {
    type,
    name,
    image: image ? parseImage('proxy-image', image) : undefined,
    ...listen,
    ...parseEdge(r, listen, tls.trustedProxies),
    domains,
    ...(r.oneOf('sticky', ['off', 'cookie'], 'off') === 'cookie' ? { sticky: true } : {}),
    ...(previewDomains.length ? { previewDomains } : {}),
    drainTimeoutMs: r.duration('drain-timeout', '30s'),
    tls,
    ...metricsOf(r.str('metrics'))
  }
}

/** `metrics`: a port (published on 127.0.0.1), or an IP address and a port; '' or off: the proxy as it is. */
function metricsOf(value: string): Pick<ProxyInputs, 'metrics'> {
  if (value === '' || value.toLowerCase() === 'off') return {}
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):)?(\d{1,5})$/.exec(value.trim())
  const port = Number(m?.[2])
  if (!m || port < 1 || port > 65535)
    throw new InputError(
      'metrics',
      `must be a port (published on 127.0.0.1, e.g. 9101) or an IP address and a port (e.g. 10.0.0.5:9101; 0.0.0.0:9101 publishes it on every interface), or off, not "${value}"`
    )
  return { metrics: { host: m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1', port } }
}

function parseProxyName(name: string): string {
  if (!APP_NAME.test(name)) {
    throw new InputError(
      'proxy-name',
      `must be lower-case letters, digits and dashes, not starting or ending with a dash (the edge finds ${name}${PROXY_SUFFIX} by DNS name), not "${name}"`
    )
  }
  if (name.length > PROXY_NAME_MAX) {
    throw new InputError(
      'proxy-name',
      `is ${name.length} characters long; at most ${PROXY_NAME_MAX} are allowed, so that ${'<proxy-name>' + PROXY_SUFFIX} fits a ${DNS_LABEL_MAX}-character DNS label`
    )
  }
  return name
}

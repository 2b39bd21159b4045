import type { Route } from '../engine/ports.js'
import { ACME_CHALLENGE_PORT, ACME_PATH, certFile, HAPROXY_CONF_DIR, HAPROXY_RUN_DIR, HAPROXY_SOCKET } from '../acme/layout.js'
import { routeComment } from './nginx-config.js'
import { canaryComment, renderMaintenanceRule, renderServers, renderStickiness, SERVER_RESOLVE, type Canary } from './haproxy-strategy.js'
import { previewBackendName, renderPreviewBackend } from './haproxy-preview.js'
import { HOLDER_OFF_VAR } from './haproxy-holder-config.js'

/**
 * One HAProxy container in front of every app on the host (issue #15, bench/PROXY-DESIGN.md):
 * a switch is two `set server` lines on its admin socket (no reload: every connection stays where
 * it is); a reload (an app or a domain added) is HAProxy's master-worker reload with
 * `option idle-close-on-response`, which drops nothing either.
 *
 * Files, in a config directory HAProxy loads in name order (only `*.cfg`):
 * - 00-base.cfg: global settings, defaults, the resolver and the one frontend (shared);
 * - domains.map, wildcards.map: host name -> backend (shared);
 * - app-<app>.cfg: the app's backend, its live color enabled, the other `disabled`;
 * - verify-<app>.map: cutover's verify token -> release id.
 */
// The files and paths the renewer container shares with the proxy (src/acme/layout.ts).
export { ACME_CHALLENGE_PORT, ACME_PATH, certFile, HAPROXY_CONF_DIR, HAPROXY_RUN_DIR, HAPROXY_SOCKET }

export const HAPROXY_PORT = 80
/** The container port HAProxy terminates TLS on (published at https-port). */
export const HAPROXY_HTTPS_PORT = 443
/**
 * HTTPS relayed by `<proxy>-https` (issue #22) for a proxy created without an HTTPS port: TLS behind
 * the relay's PROXY protocol header, never published, accepted only from the proxy's own network.
 */
export const HAPROXY_RELAYED_HTTPS_PORT = 8443

/** The proxy's network as its relayed HTTPS listener trusts it: the relay's subnets, less the gateways (the host). */
export interface RelayNetwork {
  subnets: string[]
  gateways: string[]
}
/** metrics (issue #24): the Prometheus endpoint inside the container, published only at the address 'metrics' gives. */
export const HAPROXY_METRICS_PORT = 8405
/** metrics: each app's live release as Prometheus labels (`<app> color="green",release="..."`), kept by the runtime API. */
export const RELEASES_MAP = 'releases.map'
export const EMPTY_RELEASES_MAP = '# Managed by cutover: app -> its live release as Prometheus labels.\n'
/**
 * canary-steps (issue #24): a bounded in-memory ring of one short line per request, written only
 * for an app's backend that has an entry in REQUEST_LOG_MAP (set through the runtime API for the
 * length of a canary step, never in the file): every other request is logged nowhere.
 */
export const REQUEST_RING = 'cutover-requests'
/** The ring's bytes: at ~40 bytes a line it keeps the latest ~6,000 requests (see haproxy-request-log.ts). */
export const REQUEST_RING_BYTES = 262_144
export const REQUEST_LOG_MAP = 'request-log.map'
export const EMPTY_REQUEST_LOG_MAP = '# Managed by cutover: backend -> the canary step its requests are logged under (runtime API only).\n'
export const BASE_FILE = '00-base.cfg'
export const DOMAINS_MAP = 'domains.map'
export const WILDCARDS_MAP = 'wildcards.map'
/** The key of domains.map that names the app deployed without domains (not a valid host name of another app). */
export const DEFAULT_KEY = 'cutover.default'
export const NOT_FOUND_BACKEND = 'cutover_not_found'
/** crt-list of every app's certificate (issue #10); empty until an app has TLS. */
export const CERTS_LIST = 'certs.list'
/** Host names whose certificates come from ACME: their HTTP-01 challenges go to the renewer. */
export const ACME_MAP = 'acme.map'
export const ACME_BACKEND = 'cutover_acme'
/**
 * The servers' state (addresses above all) handed from a process to the one a reload starts
 * (`init-addr last`). Written just before a reload and emptied right after it, so a proxy that
 * starts (or restarts) never takes stale addresses: its servers wait for Docker's DNS instead.
 * Not a *.cfg: HAProxy does not read it as configuration.
 */
export const SERVER_STATE_FILE = 'servers.state'
/**
 * Sources whose connections start with a PROXY protocol header (v1 or v2; issue #23): the
 * trusted-proxies of every app with proxy-protocol true (src/proxy/haproxy-edge.ts). From any other
 * source a connection is plain HTTP, as before.
 */
export const PROXY_PROTOCOL_MAP = 'proxy-protocol.map'
/**
 * cutover's own checks through the proxy when no public port serves them plainly (proxy-port none,
 * proxy-protocol): the same frontend, never published and never expecting a PROXY header, reached
 * at the proxy's address on its own network.
 */
export const HAPROXY_PROBE_PORT = 8406
/** A state file naming no server (its format version only). */
export const EMPTY_SERVER_STATE = '1\n'

/** The renewer container of a proxy (tls auto). */
export function acmeContainerName(proxyName: string): string {
  return `${proxyName}-acme`
}

/** The host directory (bind-mounted at HAPROXY_RUN_DIR) that holds the proxy's admin socket. */
export function hostRunDir(proxyName: string): string {
  return `/run/cutover/${proxyName}`
}

export function backendName(app: string): string {
  return `app_${app}`
}

export function appFile(app: string): string {
  return `app-${app}.cfg`
}

export function verifyMapFile(app: string): string {
  return `verify-${app}.map`
}

/** A release id as the verify map carries it: one word (map values and CLI arguments split on spaces). */
export function encodeRelease(releaseId: string): string {
  return encodeURIComponent(releaseId)
}

export function decodeRelease(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string') return undefined
  try {
    return decodeURIComponent(value)
  } catch {
    return undefined
  }
}

/** What the base config depends on besides the drain and the proxy's name. */
export interface BaseOptions {
  /** The numeric group of the host's Docker socket: it may open the admin socket besides root. */
  adminGroup?: number
  /** The host's CPUs online (undefined: not known, HAProxy's default of one thread per CPU). */
  cpus?: number
  /** metrics published: the metrics frontend is declared. */
  metrics?: boolean
  /** HTTPS through the relay: its listener is declared. */
  httpsRelay?: RelayNetwork
}

/**
 * HAProxy's threads on a host of `cpus` CPUs: one on two CPUs or fewer, HAProxy's default (one per
 * CPU) above. The proxy shares the host with the apps it serves; with the second core busy with
 * them, a second thread cost ~10 % more CPU per request in every load of bench/steady.mjs
 * (docs/benchmark.md). Hosts with more CPUs were not measured, so they keep the default.
 */
export function proxyThreads(cpus: number | undefined): number | undefined {
  return cpus !== undefined && cpus <= 2 ? 1 : undefined
}

/**
 * Global settings, defaults, the DNS resolver and the frontend. `hardStopAfterS` bounds how long a
 * process left behind by a reload keeps WebSockets: at least drain-timeout.
 */
export function renderBaseConfig(hardStopAfterS: number, proxyName: string, { adminGroup, cpus, metrics = false, httpsRelay }: BaseOptions = {}): string {
  const dir = HAPROXY_CONF_DIR
  const threads = proxyThreads(cpus)
  // Root, and the group of the Docker socket when it has one: whoever may use Docker may switch.
  const access = adminGroup ? `mode 660 gid ${adminGroup}` : 'mode 600'
  return `# Managed by cutover: settings shared by every app on this proxy.
global
  maxconn 8000
${threads ? `  # one thread on a host of ${cpus} CPU${cpus === 1 ? '' : 's'}: see proxyThreads in cutover's source\n  nbthread ${threads}\n` : ''}  # The admin socket is in a host directory, reached over SSH only: never on a network the apps share.
  # A holder handing over to a generation (haproxy-holder.ts) keeps neither the socket nor a listener.
.if !defined(${HOLDER_OFF_VAR})
  stats socket ${HAPROXY_RUN_DIR}/${HAPROXY_SOCKET} ${access} level admin expose-fd listeners
.endif
  stats timeout 1m
  # A process left behind by a reload keeps WebSockets this long (>= drain-timeout).
  hard-stop-after ${Math.max(5, Math.ceil(hardStopAfterS))}s
  # What a reload hands on (servers' addresses): see SERVER_STATE_FILE.
  server-state-file ${dir}/${SERVER_STATE_FILE}

# canary-steps: one line per request of an app in a canary step (step, pid, request number, server,
# response time, status), read with 'show events'; in memory only, the oldest lines overwritten.
ring ${REQUEST_RING}
  format raw
  maxlen 256
  size ${REQUEST_RING_BYTES}

defaults
  mode http
  # A reload does not close idle client keep-alive connections: the old process answers their next
  # request with Connection: close (bench/PROXY-DESIGN.md: 15 requests cut in 6 reloads without it).
  option idle-close-on-response
  # No 'option forwardfor': it appends to what the client sent. Each app's backend sets the
  # X-Forwarded-* headers from what the proxy saw (passed through only from trusted-proxies).
  timeout connect 5s
  timeout client 65s
  timeout http-keep-alive 65s
  timeout http-request 30s
  timeout server 1h
  timeout tunnel 1h
  timeout client-fin 5s
  http-reuse always
  # closes idle app connections well before the usual app-side idle timeouts (Node: 5 s)
  default-server pool-purge-delay 1s
  load-server-state-from-file global

# Containers by name through Docker's DNS, at run time only (no server is resolved while the proxy
# starts or reloads): a missing container is a server in maintenance (503 for its app), never a proxy
# that cannot start or reload, whatever the host's upstream resolver does.
resolvers docker
  nameserver dns 127.0.0.11:53
  hold valid 10s
  hold nx 2s
  hold obsolete 2s
  timeout resolve 1s
  timeout retry 1s

${renderMainFrontend(dir, httpsRelay)}
backend ${NOT_FOUND_BACKEND}
  http-request return status 404 content-type text/plain string "no route"

# The ACME renewer (tls auto): in maintenance until its container exists.
backend ${ACME_BACKEND}
  server acme ${acmeContainerName(proxyName)}:${ACME_CHALLENGE_PORT} ${SERVER_RESOLVE}
${metrics ? renderMetricsFrontend() : ''}`
}

/**
 * The one frontend every app shares: HTTP, HTTPS by SNI, the unpublished probe port, PROXY protocol
 * from trusted edges, the host-name maps, the canary-steps request log and the ACME challenges.
 */
function renderMainFrontend(dir: string, httpsRelay: RelayNetwork | undefined): string {
  const tls = `ssl crt-list ${dir}/${CERTS_LIST} strict-sni alpn h2,http/1.1`
  return `.if !defined(${HOLDER_OFF_VAR})
frontend cutover
  bind :${HAPROXY_PORT}
  # HTTPS (published at https-port when an app has tls): certificates by SNI from the crt-list;
  # strict-sni: a name no app has a certificate for gets no handshake (no fallback certificate).
  bind :${HAPROXY_HTTPS_PORT} ${tls}
  # cutover's verification behind an edge: unpublished, plain HTTP (see HAPROXY_PROBE_PORT).
  bind :${HAPROXY_PROBE_PORT}
${httpsRelay ? renderRelayedHttps(tls, httpsRelay) : ''}  # An edge in front (proxy-protocol): its PROXY header names the client; from trusted-proxies only.
  tcp-request connection expect-proxy layer4 if !{ dst_port ${HAPROXY_PROBE_PORT} } { src,map_ip(${dir}/${PROXY_PROTOCOL_MAP}) -m found }
  # exact host names, then wildcards (*.example.com), then the app deployed without domains
  http-request set-var(txn.cutover_backend) req.hdr(host),lower,field(1,:),map(${dir}/${DOMAINS_MAP})
  http-request set-var(txn.cutover_backend) req.hdr(host),lower,field(1,:),map_end(${dir}/${WILDCARDS_MAP}) unless { var(txn.cutover_backend) -m found }
  http-request set-var(txn.cutover_backend) str(${DEFAULT_KEY}),map(${dir}/${DOMAINS_MAP}) unless { var(txn.cutover_backend) -m found }
  # canary-steps: only an app in a canary step is logged (to the ring above); steady state logs nothing.
  log ring@${REQUEST_RING} format raw local0 info
  log-format "%[var(txn.cutover_step)] %pid %rt %s %Tr %ST"
  http-request set-var(txn.cutover_step) var(txn.cutover_backend),map(${dir}/${REQUEST_LOG_MAP}) if { var(txn.cutover_backend) -m found }
  http-request set-log-level silent unless { var(txn.cutover_step) -m found }
  # ACME HTTP-01 challenges of names with tls auto go to the renewer, never to the app nor redirected.
  use_backend ${ACME_BACKEND} if { path_beg ${ACME_PATH} } { req.hdr(host),lower,field(1,:),map(${dir}/${ACME_MAP}) -m found }
  use_backend %[var(txn.cutover_backend)] if { var(txn.cutover_backend) -m found }
  # a host name no app claims gets a 404, never another app
  default_backend ${NOT_FOUND_BACKEND}
.endif
`
}

/**
 * HTTPS through the relay (haproxy-https-relay.ts): the same TLS as the public port, after the relay's
 * PROXY header (the client's address). The header is trusted only from the proxy's network (where the
 * relay is) and never from its gateway (any process on the host): an app's container, on its own
 * network, cannot claim another client's address. (tcp-request connection sees the real source.)
 */
function renderRelayedHttps(tls: string, network: RelayNetwork): string {
  const port = HAPROXY_RELAYED_HTTPS_PORT
  const gateways = network.gateways.length ? `  tcp-request connection reject if { dst_port ${port} } { src ${network.gateways.join(' ')} }\n` : ''
  return `  # HTTPS published by the relay beside the proxy (created without an HTTPS port): its PROXY header names the client.
  bind :${port} ${tls} accept-proxy
  tcp-request connection reject if { dst_port ${port} } !{ src ${network.subnets.join(' ')} }
${gateways}`
}

/**
 * metrics (issue #24): HAProxy's own Prometheus exporter at /metrics (every app's backend and
 * servers: requests, responses by code, response times), and at /release?app=<app> the app's
 * live release as an info series, from a map the runtime API keeps current (no reload).
 */
function renderMetricsFrontend(): string {
  const map = `${HAPROXY_CONF_DIR}/${RELEASES_MAP}`
  return `
# metrics: published on the host only at the address the 'metrics' input gives (127.0.0.1 unless told).
.if !defined(${HOLDER_OFF_VAR})
frontend cutover-metrics
  bind :${HAPROXY_METRICS_PORT}
  http-request use-service prometheus-exporter if { path /metrics }
  http-request set-var(txn.cutover_app) url_param(app)
  http-request return status 200 content-type "text/plain; version=0.0.4" lf-string "# HELP cutover_release_info The release cutover last made live for the app (labels: app, color, release).\\n# TYPE cutover_release_info gauge\\ncutover_release_info{app=\\"%[var(txn.cutover_app)]\\",%[var(txn.cutover_app),map(${map})]} 1\\n" if { path /release } { var(txn.cutover_app),map(${map}) -m found }
  http-request return status 404 content-type text/plain string "metrics: GET /metrics, or /release?app=<app> for an app deployed on this proxy"
.endif
`
}

/** The releases map's line of an app: its live color and release id as Prometheus labels. */
export function releaseLabels(color: string, releaseId: string): string {
  return `color="${color}",release="${encodeRelease(releaseId)}"`
}

const ROUTE_LINE = /^# cutover-route: /

/**
 * An app's backend: the one place its live color is written (the other color is `disabled`).
 * `slots`: servers declared per color (replicas; see haproxy-strategy.ts). `tls`: the app's HTTPS
 * rules (redirect, HSTS, forwarded headers).
 */
export function renderAppConfig(
  route: Route,
  token: string,
  slots = route.replicas ?? 1,
  canary?: Canary,
  sticky = false,
  tls: AppTls = TLS_OFF,
  /** preview-domains: a second backend for the color that is not live (haproxy-preview.ts). */
  preview = false
): string {
  const be = backendName(route.app)
  const map = `${HAPROXY_CONF_DIR}/${verifyMapFile(route.app)}`
  return `# Managed by cutover: do not edit, deploys rewrite it.
${routeComment(route, token)}
${canaryComment(canary)}backend ${be}
  # Only cutover's own verification learns which release answered: it sends the token that only
  # the host knows (verify map); any other value, or none, gets no header.
  http-request set-var(txn.cutover_verify) req.hdr(x-cutover-verify)
  http-request del-header x-cutover-verify
  http-response del-header x-cutover-release
  http-response set-header X-Cutover-Release %[var(txn.cutover_verify),map(${map})] if { var(txn.cutover_verify),map(${map}) -m found }
${renderTlsRules(tls, map)}${renderMaintenanceRule(HAPROXY_CONF_DIR, route.app, map)}${renderStickiness(route.app, sticky)}${renderServers(route, slots, canary, sticky)}${
    preview ? renderPreviewBackend(route, slots, renderTlsRules(tls, map)) : ''
  }`
}

export function renderVerifyMap(token: string, releaseId: string): string {
  return `${token} ${encodeRelease(releaseId)}\n`
}

/** Whether an app's backend file routes to a color (the marker line is the record). */
export function hasRouteLine(text: string): boolean {
  return text.split('\n').some(l => ROUTE_LINE.test(l))
}

export interface DomainMaps {
  domains: string
  wildcards: string
}

/**
 * The shared maps with the app's entries replaced by `domains` (none: the app is the default).
 * Entries of other apps are kept as they are; a host name another app holds is given to this one
 * (callers refuse that first: mapConflicts).
 */
export function updateDomainMaps(current: DomainMaps, app: string, domains: string[], previewDomains: string[] = []): DomainMaps {
  const be = backendName(app)
  const previewBe = previewBackendName(app)
  const parse = (text: string) =>
    text
      .split('\n')
      .map(l => l.trim())
      .filter(l => l && !l.startsWith('#'))
      .map(l => l.split(/\s+/) as [string, string])
  const exact = parse(current.domains).filter(([, b]) => b !== be && b !== previewBe)
  const wild = parse(current.wildcards).filter(([, b]) => b !== be && b !== previewBe)
  const previews = previewDomains.map(d => d.toLowerCase())
  const mine = domains.map(d => d.toLowerCase())
  const exactKeys = mine.filter(d => !d.startsWith('*.'))
  const wildKeys = mine.filter(d => d.startsWith('*.')).map(d => d.slice(1))
  if (!mine.length) exactKeys.push(DEFAULT_KEY)
  const keepExact = exact.filter(([k]) => !exactKeys.includes(k) && !previews.includes(k))
  const keepWild = wild.filter(([k]) => !wildKeys.includes(k))
  const render = (entries: [string, string][]) => entries.map(([k, b]) => `${k} ${b}\n`).join('')
  // map_end takes the first match: the longest suffix first, as nginx picks the longest wildcard.
  const wildAll = [...keepWild, ...wildKeys.map(k => [k, be] as [string, string])].sort((a, b) => b[0].length - a[0].length || a[0].localeCompare(b[0]))
  const exactAll = [...keepExact, ...exactKeys.map(k => [k, be] as [string, string]), ...previews.map(k => [k, previewBe] as [string, string])].sort((a, b) =>
    a[0].localeCompare(b[0])
  )
  return { domains: MAP_HEADER + render(exactAll), wildcards: MAP_HEADER + render(wildAll) }
}

/** The shared maps without any entry of the app (its domains, its default claim, its preview domains). */
export function withoutApp(current: DomainMaps, app: string): DomainMaps {
  const mine = [backendName(app), previewBackendName(app)]
  const keep = (text: string) =>
    text
      .split('\n')
      .map(l => l.trim())
      .filter(l => l && !l.startsWith('#') && !mine.includes(l.split(/\s+/)[1]))
      .map(l => `${l}\n`)
      .join('')
  return { domains: MAP_HEADER + keep(current.domains), wildcards: MAP_HEADER + keep(current.wildcards) }
}

/** The keys of a shared map's entries that route to the app (its domains, its default claim, its preview domains). */
export function appMapKeys(text: string, app: string): string[] {
  const mine = [backendName(app), previewBackendName(app)]
  return text
    .split('\n')
    .map(l => l.trim().split(/\s+/))
    .filter(([key, backend]) => key && !key.startsWith('#') && mine.includes(backend))
    .map(([key]) => key)
}

/**
 * Host names (or the default) this app would take from another app's backend in the maps as they
 * are on the proxy now. The engine refuses such claims from the other apps' ledgers before anything
 * changes; this check, made under the proxy lock, catches the same claim made by a run of another
 * app at the same moment (or by an app whose ledger is gone).
 */
export function mapConflicts(current: DomainMaps, app: string, domains: string[], previewDomains: string[] = []): { name: string; app: string }[] {
  const mine = [backendName(app), previewBackendName(app)]
  const held = new Map<string, string>()
  for (const [text, wild] of [
    [current.domains, false],
    [current.wildcards, true]
  ] as const) {
    for (const line of text.split('\n')) {
      const [key, backend] = line.trim().split(/\s+/)
      if (key && !key.startsWith('#') && backend) held.set(wild ? `*${key}` : key, backend)
    }
  }
  const wanted = [...(domains.length ? domains : [DEFAULT_KEY]), ...previewDomains].map(d => (d === DEFAULT_KEY ? d : d.toLowerCase()))
  return wanted
    .filter(name => held.has(name) && !mine.includes(held.get(name)!))
    .map(name => ({
      name: name === DEFAULT_KEY ? 'the default (no domains)' : name,
      app: held
        .get(name)!
        .replace(/^app_/, '')
        .replace(/_preview$/, '')
    }))
}

const MAP_HEADER = '# Managed by cutover: host name -> backend.\n'

export const EMPTY_MAP = MAP_HEADER

/** What an app's backend needs to know of its TLS settings. */
export interface AppTls {
  enabled: boolean
  /** The host port of HTTPS, for the redirect's Location. */
  httpsPort: number
  redirect: boolean
  hsts: boolean
  trustedProxies: string[]
}

export const TLS_OFF: AppTls = { enabled: false, httpsPort: 443, redirect: false, hsts: false, trustedProxies: [] }

/**
 * Forwarded headers set from the proxy's own view (a client cannot spoof them), unless the
 * connection comes from a trusted proxy that sent them; then the 308 to HTTPS and HSTS.
 */
export function renderTlsRules(tls: AppTls, verifyMap: string): string {
  const lines: string[] = []
  const trusted = tls.trustedProxies.length > 0
  if (trusted) lines.push(`acl cutover_trusted src ${tls.trustedProxies.join(' ')}`)
  const unlessTrusted = (header: string) => (trusted ? ` unless cutover_trusted { req.hdr(${header}) -m found }` : '')
  lines.push(
    '# X-Forwarded-*: what this proxy saw, replacing anything the client sent' + (trusted ? ' (kept as sent by trusted-proxies)' : ''),
    'http-request set-var(txn.cutover_proto) str(https) if { ssl_fc }',
    'http-request set-var(txn.cutover_proto) str(http) unless { ssl_fc }',
    `http-request set-header X-Forwarded-Proto %[var(txn.cutover_proto)]${unlessTrusted('x-forwarded-proto')}`,
    `http-request set-header X-Forwarded-Host %[req.hdr(host)]${unlessTrusted('x-forwarded-host')}`,
    `http-request set-header X-Forwarded-For %[src]${unlessTrusted('x-forwarded-for')}`
  )
  if (tls.enabled && tls.redirect) {
    const port = tls.httpsPort === 443 ? '' : `:${tls.httpsPort}`
    lines.push(
      "# plain HTTP answers 308 to HTTPS, except ACME challenges (an app may answer its own) and cutover's verification (its token)",
      `http-request redirect location https://%[req.hdr(host),field(1,:)]${port}%[capture.req.uri] code 308 if !{ ssl_fc } !{ path_beg ${ACME_PATH} } !{ var(txn.cutover_verify),map(${verifyMap}) -m found }`
    )
  }
  if (tls.enabled && tls.hsts) lines.push('http-response set-header Strict-Transport-Security "max-age=31536000" if { ssl_fc }')
  return lines.map(l => `  ${l}\n`).join('')
}

/** The crt-list: one line per certificate file, sorted so that the same set renders the same text. */
export function renderCertsList(files: string[]): string {
  const lines = [...new Set(files)].sort().map(f => `${HAPROXY_CONF_DIR}/${f}\n`)
  return `# Managed by cutover: one certificate per app (names from the certificate itself).\n${lines.join('')}`
}

/** The certificate files a crt-list names. */
export function parseCertsList(text: string): string[] {
  return text
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('#'))
    .map(l => l.split(/\s+/)[0].replace(`${HAPROXY_CONF_DIR}/`, ''))
}

/** The crt-list with the app's certificate in it (or out of it). */
export function updateCertsList(current: string, app: string, present: boolean): string {
  const others = parseCertsList(current).filter(f => f !== certFile(app))
  return renderCertsList(present ? [...others, certFile(app)] : others)
}

/** acme.map with the app's ACME names replaced by `names` (host name -> app). */
export function updateAcmeMap(current: string, app: string, names: string[]): string {
  const entries = current
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('#'))
    .map(l => l.split(/\s+/) as [string, string])
    .filter(([k, a]) => a !== app && !names.includes(k))
  const all = [...entries, ...names.map(n => [n.toLowerCase(), app] as [string, string])].sort((a, b) => a[0].localeCompare(b[0]))
  return ACME_MAP_HEADER + all.map(([k, a]) => `${k} ${a}\n`).join('')
}

const ACME_MAP_HEADER = '# Managed by cutover: host name -> app whose certificate comes from ACME.\n'
export const EMPTY_ACME_MAP = ACME_MAP_HEADER
export const EMPTY_CERTS_LIST = renderCertsList([])

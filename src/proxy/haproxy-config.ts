import type { Route } from '../engine/ports.js'
import { routeComment } from './nginx-config.js'
import { canaryComment, renderMaintenanceRule, renderServers, renderStickiness, type Canary } from './haproxy-strategy.js'

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
export const HAPROXY_PORT = 80
/** Where the config volume is mounted in the proxy container. */
export const HAPROXY_CONF_DIR = '/usr/local/etc/haproxy/cutover'
/** Where the host directory holding the admin socket is mounted in the proxy container. */
export const HAPROXY_RUN_DIR = '/run/cutover'
export const HAPROXY_SOCKET = 'admin.sock'
export const BASE_FILE = '00-base.cfg'
export const DOMAINS_MAP = 'domains.map'
export const WILDCARDS_MAP = 'wildcards.map'
/** The key of domains.map that names the app deployed without domains (not a valid host name of another app). */
export const DEFAULT_KEY = 'cutover.default'
export const NOT_FOUND_BACKEND = 'cutover_not_found'

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

/**
 * Global settings, defaults, the DNS resolver and the frontend. `hardStopAfterS` bounds how long a
 * process left behind by a reload keeps WebSockets: at least drain-timeout. `adminGroup` (the
 * numeric group of the host's Docker socket) may open the admin socket besides root.
 */
export function renderBaseConfig(hardStopAfterS: number, adminGroup?: number): string {
  const dir = HAPROXY_CONF_DIR
  // Root, and the group of the Docker socket when it has one: whoever may use Docker may switch.
  const access = adminGroup ? `mode 660 gid ${adminGroup}` : 'mode 600'
  return `# Managed by cutover: settings shared by every app on this proxy.
global
  maxconn 8000
  # The admin socket is in a host directory, reached over SSH only: never on a network the apps share.
  stats socket ${HAPROXY_RUN_DIR}/${HAPROXY_SOCKET} ${access} level admin expose-fd listeners
  stats timeout 1m
  # A process left behind by a reload keeps WebSockets this long (>= drain-timeout).
  hard-stop-after ${Math.max(5, Math.ceil(hardStopAfterS))}s

defaults
  mode http
  # A reload does not close idle client keep-alive connections: the old process answers their next
  # request with Connection: close (bench/PROXY-DESIGN.md: 15 requests cut in 6 reloads without it).
  option idle-close-on-response
  option forwardfor
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

# Containers by name through Docker's DNS: a missing container is a server in maintenance (503 for
# its app), never a proxy that cannot start or reload.
resolvers docker
  nameserver dns 127.0.0.11:53
  hold valid 10s
  hold nx 2s
  hold obsolete 2s
  timeout resolve 1s
  timeout retry 1s

frontend cutover
  bind :${HAPROXY_PORT}
  # exact host names, then wildcards (*.example.com), then the app deployed without domains
  http-request set-var(txn.cutover_backend) req.hdr(host),lower,field(1,:),map(${dir}/${DOMAINS_MAP})
  http-request set-var(txn.cutover_backend) req.hdr(host),lower,field(1,:),map_end(${dir}/${WILDCARDS_MAP}) unless { var(txn.cutover_backend) -m found }
  http-request set-var(txn.cutover_backend) str(${DEFAULT_KEY}),map(${dir}/${DOMAINS_MAP}) unless { var(txn.cutover_backend) -m found }
  use_backend %[var(txn.cutover_backend)] if { var(txn.cutover_backend) -m found }
  # a host name no app claims gets a 404, never another app
  default_backend ${NOT_FOUND_BACKEND}

backend ${NOT_FOUND_BACKEND}
  http-request return status 404 content-type text/plain string "no route"
`
}

const ROUTE_LINE = /^# cutover-route: /

/**
 * An app's backend: the one place its live color is written (the other color is `disabled`).
 * `slots`: servers declared per color (replicas; see haproxy-strategy.ts).
 */
export function renderAppConfig(route: Route, token: string, slots = route.replicas ?? 1, canary?: Canary, sticky = false): string {
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
${renderMaintenanceRule(HAPROXY_CONF_DIR, route.app, map)}${renderStickiness(route.app, sticky)}${renderServers(route, slots, canary, sticky)}`
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
export function updateDomainMaps(current: DomainMaps, app: string, domains: string[]): DomainMaps {
  const be = backendName(app)
  const parse = (text: string) =>
    text
      .split('\n')
      .map(l => l.trim())
      .filter(l => l && !l.startsWith('#'))
      .map(l => l.split(/\s+/) as [string, string])
  const exact = parse(current.domains).filter(([, b]) => b !== be)
  const wild = parse(current.wildcards).filter(([, b]) => b !== be)
  const mine = domains.map(d => d.toLowerCase())
  const exactKeys = mine.filter(d => !d.startsWith('*.'))
  const wildKeys = mine.filter(d => d.startsWith('*.')).map(d => d.slice(1))
  if (!mine.length) exactKeys.push(DEFAULT_KEY)
  const keepExact = exact.filter(([k]) => !exactKeys.includes(k))
  const keepWild = wild.filter(([k]) => !wildKeys.includes(k))
  const render = (entries: [string, string][]) => entries.map(([k, b]) => `${k} ${b}\n`).join('')
  // map_end takes the first match: the longest suffix first, as nginx picks the longest wildcard.
  const wildAll = [...keepWild, ...wildKeys.map(k => [k, be] as [string, string])].sort((a, b) => b[0].length - a[0].length || a[0].localeCompare(b[0]))
  const exactAll = [...keepExact, ...exactKeys.map(k => [k, be] as [string, string])].sort((a, b) => a[0].localeCompare(b[0]))
  return { domains: MAP_HEADER + render(exactAll), wildcards: MAP_HEADER + render(wildAll) }
}

/**
 * Host names (or the default) this app would take from another app's backend in the maps as they
 * are on the proxy now. The engine refuses such claims from the other apps' ledgers before anything
 * changes; this check, made under the proxy lock, catches the same claim made by a run of another
 * app at the same moment (or by an app whose ledger is gone).
 */
export function mapConflicts(current: DomainMaps, app: string, domains: string[]): { name: string; app: string }[] {
  const be = backendName(app)
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
  const wanted = domains.length ? domains.map(d => d.toLowerCase()) : [DEFAULT_KEY]
  return wanted
    .filter(name => held.has(name) && held.get(name) !== be)
    .map(name => ({ name: name === DEFAULT_KEY ? 'the default (no domains)' : name, app: held.get(name)!.replace(/^app_/, '') }))
}

const MAP_HEADER = '# Managed by cutover: host name -> backend.\n'

export const EMPTY_MAP = MAP_HEADER

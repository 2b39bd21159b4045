import { COLORS, containerName, type Color } from '../core/names.js'
import type { Route } from '../engine/ports.js'
import { oneTo } from '../engine/replicas.js'
import { decodeRelease, encodeRelease } from './haproxy-config.js'
import { MAINTENANCE_HEADER, RETRY_AFTER_S } from './haproxy-strategy.js'
import { RELEASE_HEADER, VERIFY_HEADER } from './nginx-config.js'

/**
 * Caddy's configuration as cutover writes it (pure: JSON in, JSON out). One HTTP server, `cutover`,
 * holds one route per app (`@id` cutover-app-<app>): its host names, a verify rule (a request
 * carrying the release's token gets the release id back in a header, as with HAProxy and nginx)
 * and a reverse_proxy to the color's containers. A `vars` handler at the head of each route carries
 * the route's own record (color, release, token), read back by current(). The routes of every app
 * live in the one configuration, which Caddy saves itself (`--resume`): a restart comes up on them.
 */

export const CADDY_PORT = 80
/** Inside the container: the admin socket's directory (a host directory, bind-mounted). */
export const CADDY_RUN_DIR = '/run/cutover-caddy'
export const CADDY_SOCKET = 'admin.sock'
/** Inside the container: Caddy's config directory (XDG_CONFIG_HOME; its autosave.json), a named volume. */
export const CADDY_CONFIG_DIR = '/config'
/** Inside the container: Caddy's data directory (XDG_DATA_HOME), a named volume. */
export const CADDY_DATA_DIR = '/data'
/** The configuration a new proxy starts with (in the config volume); later starts resume the saved one. */
export const CADDY_BASE_FILE = 'cutover-base.json'
export const SERVER_NAME = 'cutover'
const ROUTE_ID_PREFIX = 'cutover-app-'
/** Caddy's minimum, so a shared proxy with a short drain still lets a request of a few seconds finish. */
const MIN_GRACE_S = 5

/** The app's route record, as the route's `vars` handler carries it. */
export interface CaddyRouteRecord {
  app: string
  color: Color
  releaseId: string
  token: string
  appPort: number
  replicas: number
  domains: string[]
  /** mode maintenance: the page served (503) instead of the app; absent: the app answers. */
  maintenance?: string
}

type Json = Record<string, unknown>

export interface CaddyConfig {
  admin?: Json
  apps?: { http?: { grace_period?: string; servers?: Record<string, Json> } } & Json
  [key: string]: unknown
}

export function routeId(app: string): string {
  return `${ROUTE_ID_PREFIX}${app}`
}

/** The configuration a new proxy starts with: its admin socket, and a server with no app (503). */
export function renderBaseConfig(graceSeconds: number): CaddyConfig {
  return withRoutes({ admin: { listen: `unix/${CADDY_RUN_DIR}/${CADDY_SOCKET}` } }, [], graceSeconds)
}

/**
 * An app's route: its host names (none: every name no other app claims), the verify rule, its
 * color's containers; with `maintenance`, that page (503) for every request but cutover's own
 * verification, which still reaches the color.
 */
export function renderAppRoute(route: Route, token: string, domains: string[], maintenance?: string): Json {
  const record: CaddyRouteRecord = {
    app: route.app,
    color: route.color,
    releaseId: route.releaseId,
    token,
    appPort: route.appPort,
    replicas: route.replicas ?? 1,
    domains,
    ...(maintenance !== undefined ? { maintenance } : {})
  }
  const upstreams = oneTo(record.replicas).map(i => ({ dial: `${containerName(route.app, route.color, i)}:${route.appPort}` }))
  const proxy: Json = {
    handler: 'reverse_proxy',
    upstreams,
    // A replica that refuses a connection is skipped for the next 10 s; the request tries another.
    load_balancing: { selection_policy: { policy: 'round_robin' }, try_duration: '2s' },
    health_checks: { passive: { fail_duration: '10s' } },
    // The release header is cutover's: an app cannot set it.
    headers: { response: { delete: [RELEASE_HEADER] } }
  }
  const verify = {
    match: [{ header: { [VERIFY_HEADER]: [token] } }],
    handle: [{ handler: 'headers', response: { set: { [RELEASE_HEADER]: [encodeRelease(route.releaseId)] }, deferred: true } }]
  }
  return {
    '@id': routeId(route.app),
    ...(domains.length ? { match: [{ host: domains }] } : {}),
    handle: [
      { handler: 'vars', cutover_route: JSON.stringify(record) },
      {
        handler: 'subroute',
        routes: [...(token ? [verify] : []), ...(maintenance !== undefined ? [maintenanceRoute(token, maintenance)] : []), { handle: [proxy] }]
      }
    ],
    terminal: true
  }
}

/** The page with a 503 and Retry-After for every request that does not carry the release's token. */
function maintenanceRoute(token: string, page: string): Json {
  return {
    ...(token ? { match: [{ not: [{ header: { [VERIFY_HEADER]: [token] } }] }] } : {}),
    handle: [
      {
        handler: 'static_response',
        status_code: 503,
        headers: {
          'Content-Type': ['text/html; charset=utf-8'],
          'Retry-After': [String(RETRY_AFTER_S)],
          'Cache-Control': ['no-store'],
          [MAINTENANCE_HEADER]: ['on']
        },
        body: page
      }
    ],
    terminal: true
  }
}

/** The route of a record again, with maintenance on (the page) or off (undefined). */
export function withMaintenance(record: CaddyRouteRecord, page: string | undefined): Json {
  const route = { app: record.app, color: record.color, releaseId: record.releaseId, appPort: record.appPort, replicas: record.replicas }
  return renderAppRoute(route, record.token, record.domains, page)
}

/** The routes of the `cutover` server (empty when there is none). */
export function serverRoutes(config: CaddyConfig | null | undefined): Json[] {
  const routes = config?.apps?.http?.servers?.[SERVER_NAME]?.routes
  return Array.isArray(routes) ? (routes as Json[]) : []
}

/** The record of every app's route on the proxy. */
export function routeRecords(config: CaddyConfig | null | undefined): CaddyRouteRecord[] {
  return serverRoutes(config).flatMap(r => {
    const record = recordOf(r)
    return record ? [record] : []
  })
}

function recordOf(route: Json): CaddyRouteRecord | undefined {
  if (typeof route['@id'] !== 'string' || !route['@id'].startsWith(ROUTE_ID_PREFIX)) return undefined
  const vars = Array.isArray(route.handle) ? (route.handle as Json[]).find(h => h.handler === 'vars') : undefined
  if (typeof vars?.cutover_route !== 'string') return undefined
  try {
    const r = JSON.parse(vars.cutover_route) as CaddyRouteRecord
    return COLORS.includes(r.color) && typeof r.releaseId === 'string' ? r : undefined
  } catch {
    return undefined
  }
}

export function appRecord(config: CaddyConfig | null | undefined, app: string): CaddyRouteRecord | undefined {
  return routeRecords(config).find(r => r.app === app)
}

/** The release header's value as Caddy sends it, decoded. */
export const decodeCaddyRelease = decodeRelease

/** The host names of `domains` another app's route on the proxy already has. */
export function domainConflicts(config: CaddyConfig | null | undefined, app: string, domains: string[]): { name: string; app: string }[] {
  const others = routeRecords(config).filter(r => r.app !== app)
  const taken: { name: string; app: string }[] = []
  for (const name of domains) {
    const owner = others.find(r => r.domains.includes(name))
    if (owner) taken.push({ name, app: owner.app })
  }
  // One default app per proxy: a second app without domains would take the first one's requests.
  if (!domains.length) {
    const other = others.find(r => r.domains.length === 0)
    if (other) taken.push({ name: 'the default route (no domains)', app: other.app })
  }
  return taken
}

/**
 * The configuration with the app's route replaced (route undefined: removed), every other part
 * kept. Routes with host names come first (by app), the default app after them, and a last route
 * answers 503 for names nobody claims. `graceSeconds`: how long a reload lets the old servers'
 * requests finish (the longest drain of any app on the proxy is kept).
 */
export function withAppRoute(config: CaddyConfig | null | undefined, app: string, route: Json | undefined, graceSeconds: number): CaddyConfig {
  const others = serverRoutes(config).filter(r => r['@id'] !== routeId(app) && recordOf(r))
  const had = parseSeconds(config?.apps?.http?.grace_period)
  return withRoutes(config ?? {}, route ? [...others, route] : others, Math.max(had, graceSeconds))
}

function withRoutes(config: CaddyConfig, appRoutes: Json[], graceSeconds: number): CaddyConfig {
  const sorted = [...appRoutes].sort((a, b) => {
    const rank = (r: Json) => (r.match ? 0 : 1)
    return rank(a) - rank(b) || String(a['@id']).localeCompare(String(b['@id']))
  })
  const fallback = { handle: [{ handler: 'static_response', status_code: 503, body: 'No app is routed for this host name (cutover).\n' }] }
  const servers = { ...(config.apps?.http?.servers ?? {}) }
  servers[SERVER_NAME] = {
    ...(servers[SERVER_NAME] ?? {}),
    listen: [`:${CADDY_PORT}`],
    // cutover's routes are plain HTTP: no certificates, no redirects unless a later version adds them.
    automatic_https: { disable: true },
    routes: [...sorted, fallback]
  }
  return {
    ...config,
    apps: {
      ...(config.apps ?? {}),
      http: { ...(config.apps?.http ?? {}), grace_period: `${Math.max(MIN_GRACE_S, Math.ceil(graceSeconds))}s`, servers }
    }
  }
}

/** `30s` → 30 (Caddy writes durations as it was given them: cutover gives seconds). */
function parseSeconds(value: unknown): number {
  const m = typeof value === 'string' ? /^(\d+)s$/.exec(value) : null
  return m ? Number(m[1]) : 0
}

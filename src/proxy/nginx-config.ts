import { containerName, type Color } from '../core/names.js'
import type { LedgerRecord } from '../core/release.js'
import type { Route } from '../engine/ports.js'

/**
 * Two nginx tiers, both from the proxy image:
 * - the edge publishes proxy-port and holds the clients' keep-alive connections. Its config
 *   changes only when an app is added or its domains change, so a deploy never reloads it:
 *   a reload closes idle keep-alive connections, racing requests already on the wire.
 * - the switch holds the blue/green upstreams and is reloaded at every switch. The edge opens a
 *   fresh connection to it per request, so nothing idle is there for a reload to cut, while
 *   old switch workers finish in-flight requests and keep upgraded (WebSocket) connections.
 */
export const EDGE_PORT = 80
export const SWITCH_PORT = 8080

export function appConfigFile(app: string): string {
  return `cutover-app-${app}.conf`
}

export const COMMON_CONFIG_FILE = 'cutover-00-common.conf'

/** The switch tier's virtual host for an app: the edge sends the app's requests with this Host. */
export function switchHost(app: string): string {
  return `${app}.cutover.internal`
}

export function edgeCommonConfig(switchContainer: string): string {
  return `# Managed by cutover: settings shared by every app on the edge.
map $http_upgrade $cutover_edge_connection {
  default upgrade;
  '' close;
}
upstream cutover_switch {
  server ${switchContainer}:${SWITCH_PORT} max_fails=0;
}
# First in load order, so nginx's implicit default: a host name no app claims gets a 404, never
# another app. An app deployed without domains overrides it with an explicit default_server.
server {
  listen ${EDGE_PORT};
  return 404;
}
`
}

export const SWITCH_COMMON_CONFIG = `# Managed by cutover: settings shared by every app on the switch.
# Containers by name through Docker's DNS, per request (issue #22): the switch resolves no app's
# container while it loads, so one app's missing container is that app's 502, never a switch that
# cannot start or reload for every app. A reload (every switch) starts with an empty cache.
resolver 127.0.0.11 valid=5s ipv6=off;
resolver_timeout 2s;
map $http_upgrade $cutover_connection {
  default upgrade;
  '' '';
}
# A request for an app the switch has no route for never reaches another app.
server {
  listen ${SWITCH_PORT} default_server;
  return 503;
}
`

/** Request header that asks the switch which release answered (see renderSwitchConfig). */
export const VERIFY_HEADER = 'x-cutover-verify'
export const RELEASE_HEADER = 'x-cutover-release'

const ROUTE_MARKER = '# cutover-route: '
/** Before the ledger existed, the switch file carried the whole release state. */
const LEGACY_MARKER = '# cutover-state: '

/** The line that records, in the route file, which release it routes to and the verify token. */
export function routeComment(route: Route, token: string): string {
  return ROUTE_MARKER + JSON.stringify({ color: route.color, releaseId: route.releaseId, token })
}

/** Which release a route file routes to (and its verify token); undefined when it has no (readable) marker. */
export function parseRouteComment(app: string, text: string): { color: Color; releaseId: string; token?: string } | undefined {
  for (const line of text.split('\n')) {
    try {
      if (line.startsWith(ROUTE_MARKER)) {
        const r = JSON.parse(line.slice(ROUTE_MARKER.length)) as { color?: unknown; releaseId?: unknown; token?: unknown }
        if ((r.color === 'blue' || r.color === 'green') && typeof r.releaseId === 'string') {
          return { color: r.color, releaseId: r.releaseId, token: typeof r.token === 'string' ? r.token : undefined }
        }
      }
      if (line.startsWith(LEGACY_MARKER)) {
        const legacy = parseLegacy(app, line)
        if (legacy) return { color: legacy.color, releaseId: legacy.id }
      }
    } catch {
      // not ours, or damaged: no route
    }
  }
  return undefined
}

interface LegacyState {
  app: string
  color: Color
  image: string
  deployedAt: string
  previous?: { color: Color; image: string }
}

function parseLegacy(app: string, line: string): (LegacyState & { id: string }) | undefined {
  const s = JSON.parse(line.slice(LEGACY_MARKER.length)) as LegacyState
  if ((s.color !== 'blue' && s.color !== 'green') || typeof s.image !== 'string' || s.app !== app) return undefined
  // The release header value that versions before the ledger sent: app, color and time.
  return { ...s, id: `${s.app} ${s.color} ${s.deployedAt}` }
}

/** The ledger a route file written before the ledger existed implies: the live release and the previous one. */
export function legacyLedger(app: string, text: string): LedgerRecord | undefined {
  const line = text.split('\n').find(l => l.startsWith(LEGACY_MARKER))
  if (!line) return undefined
  let s: ReturnType<typeof parseLegacy>
  try {
    s = parseLegacy(app, line)
  } catch {
    return undefined
  }
  if (!s) return undefined
  const imported = { app, configHash: '', kind: 'deploy' as const, by: {} }
  const live = { ...imported, id: s.id, instance: s.id, color: s.color, image: s.image, liveSince: s.deployedAt }
  const previousId = `${app} ${s.previous?.color} imported`
  const previous = s.previous && { ...imported, id: previousId, instance: previousId, color: s.previous.color, image: s.previous.image, liveSince: '' }
  return { version: 1, app, releases: previous ? [live, previous] : [live] }
}

/** The edge's server block for an app: routes by domain to the app's virtual host on the switch. */
export function renderEdgeConfig(app: string, domains: string[]): string {
  const listen = domains.length ? `listen ${EDGE_PORT};` : `listen ${EDGE_PORT} default_server;`
  return `# Managed by cutover: do not edit, deploys rewrite it.
server {
  ${listen}
  server_name ${domains.length ? domains.join(' ') : '_'};
  client_max_body_size 100m;
  location / {
    proxy_pass http://cutover_switch;
    proxy_http_version 1.1;
    proxy_set_header Host ${switchHost(app)};
    proxy_set_header X-Cutover-Host $http_host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $cutover_edge_connection;
    proxy_read_timeout 1h;
    proxy_send_timeout 1h;
  }
}
`
}

/**
 * The switch's server block for an app: the one place the live color is written. The live
 * container is named in a variable, so nginx resolves it per request (SWITCH_COMMON_CONFIG's
 * resolver), not when it loads.
 */
export function renderSwitchConfig(route: Route, token: string): string {
  const state = route
  const appPort = route.appPort
  const target = `cutover_target_${state.app.replace(/-/g, '_')}`
  const releaseVar = `cutover_release_${state.app.replace(/-/g, '_')}`
  return `# Managed by cutover: do not edit, deploys rewrite it.
${routeComment(route, token)}
# Only cutover's own verification learns which release answered: it sends the token written here,
# which only the host knows (any other value, or none, gets no header).
map $http_x_cutover_verify $${releaseVar} {
  default '';
  '${token}' '${route.releaseId}';
}
server {
  listen ${SWITCH_PORT};
  server_name ${switchHost(state.app)};
  client_max_body_size 100m;
  location / {
    set $${target} ${containerName(state.app, state.color)}:${appPort};
    proxy_pass http://$${target};
    proxy_http_version 1.1;
    proxy_set_header Host $http_x_cutover_host;
    proxy_set_header X-Cutover-Host "";
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $cutover_connection;
    # let the edge see the app's choice about buffering (Server-Sent Events)
    proxy_pass_header X-Accel-Buffering;
    proxy_buffering off;
    proxy_read_timeout 1h;
    proxy_send_timeout 1h;
    add_header X-Cutover-Release $${releaseVar} always;
  }
}
`
}

const LEGACY_UPSTREAM = /^upstream cutover_\S+ \{\n\s*(?:#.*\n\s*)?server (\S+):(\d+) /m

/**
 * A switch file written before names were resolved per request (an upstream block, resolved when
 * nginx loads): the same route rendered the current way, or undefined when it is not one.
 */
export function migratedSwitchConfig(app: string, text: string): string | undefined {
  const upstream = LEGACY_UPSTREAM.exec(text)
  const route = parseRouteComment(app, text)
  if (!upstream || !route || route.token === undefined) return undefined
  return renderSwitchConfig({ app, color: route.color, releaseId: route.releaseId, appPort: Number(upstream[2]) }, route.token)
}

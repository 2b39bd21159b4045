import type { Color } from '../engine/names.js'
import { containerName } from '../engine/names.js'
import { stateComment, type RouteState } from '../engine/state.js'

/** The port nginx listens on inside the proxy container; `proxy-port` maps onto it. */
export const PROXY_CONTAINER_PORT = 80

/** Header the proxy adds so a probe can tell which color answered. */
export const COLOR_HEADER = 'x-cutover-color'

export function appConfigFile(app: string): string {
  return `cutover-app-${app}.conf`
}

/** http-level settings shared by every app's server block. */
export const COMMON_CONFIG_FILE = 'cutover-00-common.conf'
export const COMMON_CONFIG = `# Managed by cutover. Shared settings for the apps behind this proxy.
map $http_upgrade $cutover_connection {
  default upgrade;
  '' '';
}
`

export interface AppRoute {
  state: RouteState
  appPort: number
  domains: string[]
}

/**
 * One app's server block. The upstream is named after the color so a switch is a
 * config change plus a graceful reload: old workers finish what they hold.
 */
export function renderAppConfig(route: AppRoute): string {
  const { state, appPort, domains } = route
  const upstream = `cutover_${state.app.replace(/-/g, '_')}_${state.color}`
  const listen = domains.length ? `listen ${PROXY_CONTAINER_PORT};` : `listen ${PROXY_CONTAINER_PORT} default_server;`
  const serverName = domains.length ? domains.join(' ') : '_'
  return `# Managed by cutover: do not edit, the next deploy rewrites it.
${stateComment(state)}
upstream ${upstream} {
  # max_fails=0: a single upstream must never be marked down by a transient error
  server ${containerName(state.app, state.color)}:${appPort} max_fails=0;
  keepalive 32;
}
server {
  ${listen}
  server_name ${serverName};
  client_max_body_size 100m;
  location / {
    proxy_pass http://${upstream};
    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $cutover_connection;
    proxy_read_timeout 1h;
    proxy_send_timeout 1h;
    add_header X-Cutover-Color ${state.color} always;
  }
}
`
}

export function colorOfResponse(headers: Record<string, string | string[] | undefined>): Color | undefined {
  const v = headers[COLOR_HEADER]
  return v === 'blue' || v === 'green' ? v : undefined
}

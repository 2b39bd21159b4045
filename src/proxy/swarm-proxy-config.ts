import { createHash } from 'node:crypto'
import type { HealthSettings } from '../core/config.js'
import { COLORS, type Color } from '../core/names.js'

/**
 * target: swarm (issue #26): the files of the app's proxy service, HAProxy on every node. Both
 * colors' backends always exist and find their tasks through Swarm's DNS (`tasks.<app>-<color>`,
 * resolved at run time by Docker's embedded DNS, 127.0.0.11); which one takes the app's requests is
 * one entry of a map that the switch changes through each task's runtime API, with no reload.
 */

export const SWARM_CONF_DIR = '/usr/local/etc/haproxy'
export const SWARM_ROUTE_MAP = `${SWARM_CONF_DIR}/route.map`
export const SWARM_VERIFY_MAP = `${SWARM_CONF_DIR}/verify.map`
/** The runtime API of each proxy task, on its container networks only (not published on the node). */
export const SWARM_ADMIN_PORT = 9999
/** The port the proxy listens on inside its task (above 1024: official HAProxy images do not run as root); published in host mode as proxy-port on each node. */
export const SWARM_PROXY_PORT = 8080
/** Servers declared per color: more than the largest replicas, so a task Swarm reschedules finds a slot. */
export const SWARM_SLOTS = 12
export const ROUTE_KEY = 'app'
export const NO_ROUTE_BACKEND = 'be_none'

export function colorBackend(color: Color): string {
  return `be_${color}`
}

/** The proxy's service, `<app>-proxy`, and the container on the manager that reaches its tasks' runtime API. */
export function proxyServiceName(app: string): string {
  return `${app}-proxy`
}
export function switchboardName(app: string): string {
  return `${app}-proxy-switch`
}

/** The health check each proxy task runs against every task of both colors. */
function healthCheck(health: HealthSettings): string {
  const expect = health.expectedStatus ? `status ${health.expectedStatus}` : 'rstatus ^2'
  return `  option httpchk
  http-check send meth GET uri ${health.path} ver HTTP/1.1 hdr Host cutover-health
  http-check expect ${expect}`
}

export function renderSwarmProxyConfig(app: string, health: HealthSettings): string {
  const inter = Math.max(250, Math.min(health.intervalMs, 2000))
  const backends = COLORS.map(
    color => `backend ${colorBackend(color)}
${healthCheck(health)}
  # Only cutover's verification, holding the token of the verify map, learns which release answered.
  http-response del-header x-cutover-release
  http-response set-header X-Cutover-Release %[var(txn.cutover_verify),map(${SWARM_VERIFY_MAP})] if { var(txn.cutover_verify),map(${SWARM_VERIFY_MAP}) -m found }
  # A task whose connection fails is out of the rotation at once (until its next check passes), so a
  # request's retries go to other tasks instead of back to it while the checks still count.
  server-template task ${SWARM_SLOTS} tasks.${app}-${color}:${health.port} resolvers swarm init-addr none check inter ${inter} fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down
`
  ).join('\n')
  return `# Managed by cutover (target: swarm): the proxy of ${app}. Do not edit, deploys replace it.
global
  # The runtime API: on the task's container networks (the app's overlay), never published on a node.
  stats socket ipv4@0.0.0.0:${SWARM_ADMIN_PORT} level admin
  stats timeout 10s

defaults
  mode http
  option idle-close-on-response
  # A task on a node that went down does not refuse connections, it drops them: a request whose
  # connection fails is sent to another task of the color instead (before any answer began).
  timeout connect 2s
  retries 2
  option redispatch 1
  retry-on conn-failure empty-response
  timeout client 65s
  timeout http-keep-alive 65s
  timeout http-request 30s
  timeout server 1h
  timeout tunnel 1h
  timeout client-fin 5s
  default-server pool-purge-delay 1s

# Tasks by Swarm's DNS, at run time only: a color without tasks is servers in maintenance, never a proxy that cannot start.
resolvers swarm
  nameserver dns 127.0.0.11:53
  hold valid 1s
  hold nx 1s
  hold obsolete 1s
  timeout resolve 1s
  timeout retry 1s

frontend cutover
  bind :${SWARM_PROXY_PORT}
  http-request set-var(txn.cutover_verify) req.hdr(x-cutover-verify)
  http-request del-header x-cutover-verify
  use_backend %[str(${ROUTE_KEY}),map(${SWARM_ROUTE_MAP},${NO_ROUTE_BACKEND})]

backend ${NO_ROUTE_BACKEND}
  http-request return status 503 content-type text/plain string "no release of ${app} is live"

${backends}`
}

/**
 * The live route lives on as two labels of the proxy service, set after every switch: Swarm does not
 * restart tasks for a service label, and renders them into the route and verify maps (templated
 * configs) of every proxy task it starts later (a crash, a node back, a new node), so a new task
 * comes up routing to the live color instead of to no release.
 */
export const LIVE_ROUTE_LABEL = 'cutover.live-route'
export const LIVE_VERIFY_LABEL = 'cutover.live-verify'

/** The labels that carry a switch: the live color's backend, and the verify map's `<token> <release>`. */
export function liveLabels(color: Color, token: string, encodedRelease: string): Record<string, string> {
  return { [LIVE_ROUTE_LABEL]: colorBackend(color), [LIVE_VERIFY_LABEL]: `${token} ${encodedRelease}` }
}

/** The route map as Swarm renders it for a starting task (Go template): the live route, or none before the first switch. */
export function routeMapTemplate(): string {
  return `{{ with index .Service.Labels "${LIVE_ROUTE_LABEL}" }}${ROUTE_KEY} {{ . }}{{ else }}${ROUTE_KEY} ${NO_ROUTE_BACKEND}{{ end }}\n`
}

/** The verify map as Swarm renders it for a starting task: the live release's token, if any. */
export function verifyMapTemplate(): string {
  return `# the verify token of the live release (set by each switch)\n{{ with index .Service.Labels "${LIVE_VERIFY_LABEL}" }}{{ . }}\n{{ end }}`
}

/** A config object's name for a file's content (configs are immutable: a new content is a new object). */
export function configObjectName(app: string, file: string, content: string): string {
  return `${app}-proxy-${file}-${createHash('sha256').update(content).digest('hex').slice(0, 12)}`
}

/** The switchboard's own HAProxy: one TCP listener per proxy task, relaying to that task's runtime API. */
export function renderSwitchboardConfig(targets: string[]): string {
  const listeners = targets.map((address, i) => `listen task${i}\n  bind :${10000 + i}\n  server proxy ${address}:${SWARM_ADMIN_PORT}\n`).join('\n')
  return `# Managed by cutover (target: swarm): relays to each proxy task's runtime API.
global
defaults
  mode tcp
  timeout connect 3s
  timeout client 30s
  timeout server 30s

${listeners}`
}

/** One line of `show servers state <backend>`, by the header's column names. */
export interface ServerState {
  name: string
  address: string
  /** 2: running (up). */
  opState: number
  /** 3: the last health check passed. */
  checkResult: number
}

export function parseServersState(answer: string): ServerState[] {
  const lines = answer.split('\n').map(l => l.trim())
  const header = lines
    .find(l => l.startsWith('# '))
    ?.slice(2)
    .split(/\s+/)
  if (!header) return []
  const col = (name: string) => header.indexOf(name)
  return lines
    .filter(l => l && !l.startsWith('#') && /\s/.test(l))
    .map(l => l.split(/\s+/))
    .map(f => ({
      name: f[col('srv_name')],
      address: f[col('srv_addr')],
      opState: Number(f[col('srv_op_state')]),
      checkResult: Number(f[col('srv_check_result')])
    }))
}

/** The addresses a proxy sees up and passing its health check. */
export function upAddresses(states: ServerState[]): string[] {
  return states.filter(s => s.opState === 2 && s.checkResult === 3 && s.address !== '0.0.0.0' && s.address !== '-').map(s => s.address)
}

/** The value a `show map` answer holds for `key` (lines `<ref> <key> <value>`). */
export function mapValue(answer: string, key: string): string | undefined {
  for (const line of answer.split('\n')) {
    const [, k, v] = line.trim().split(/\s+/)
    if (k === key && v !== undefined) return v
  }
  return undefined
}

/** Which color a route map entry names. */
export function colorOfBackend(backend: string | undefined): Color | undefined {
  return COLORS.find(c => colorBackend(c) === backend)
}

/** The runtime API line that switches one proxy task: the verify token first, then the route. */
export function switchLine(color: Color, token: string, encodedRelease: string): string {
  return `clear map ${SWARM_VERIFY_MAP};add map ${SWARM_VERIFY_MAP} ${token} ${encodedRelease};set map ${SWARM_ROUTE_MAP} ${ROUTE_KEY} ${colorBackend(color)}`
}

/** The runtime API line that takes the app off one proxy task: no verify token, the route to no release (503). */
export function unrouteLine(): string {
  return `clear map ${SWARM_VERIFY_MAP};set map ${SWARM_ROUTE_MAP} ${ROUTE_KEY} ${NO_ROUTE_BACKEND}`
}

/** The backends whose sessions are the app's requests in flight on a proxy task. */
export const COLOR_BACKENDS = COLORS.map(colorBackend)

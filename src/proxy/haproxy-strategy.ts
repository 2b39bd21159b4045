import { COLORS, containerName, type Color } from '../core/names.js'
import type { Route } from '../engine/ports.js'
import { oneTo } from '../engine/replicas.js'

/**
 * The release strategies' part of an app's HAProxy backend (issue #12): N servers per color.
 * Replica 1's server keeps the name of a one-container color (`blue`), so a backend written before
 * replicas existed is switched by the same runtime commands.
 */

/**
 * How every server finds its container: by name through Docker's DNS at run time, never while the
 * proxy starts or reloads. `last`: the address the previous process had (the server-state file a
 * reload is given, haproxy-runtime.ts), so a reload never leaves a server without one; `none`: no
 * address until the resolver answers. No `libc`: a name Docker's DNS does not know (a container not
 * there yet, the renewer when TLS is off) goes to the host's upstream resolver, and one that does not
 * answer held the start 20 s per name (issue #22).
 */
export const SERVER_RESOLVE = 'resolvers docker init-addr last,none'

/** The server of one replica of a color in the app's backend. */
export function serverName(color: Color, replica: number): string {
  return replica === 1 ? color : `${color}-${replica}`
}

/**
 * Every server of both colors, `slots` per color: the live color's first `route.replicas` enabled,
 * every other one `disabled` (a switch enables them through the runtime API, so both colors declare
 * the same slots and a switch between sizes up to `slots` needs no reload).
 */
export function renderServers(route: Route, slots: number, canary?: Canary, sticky = false): string {
  const weights = canary ? canaryWeights(canary.weight, route.replicas ?? 1, canary.route.replicas ?? 1) : undefined
  return COLORS.flatMap(color =>
    oneTo(slots).map(i => {
      const size = canary && color === canary.route.color ? (canary.route.replicas ?? 1) : color === route.color ? (route.replicas ?? 1) : 0
      const weight = weights ? ` weight ${color === route.color ? weights.live : weights.canary}` : ''
      const state = i <= size ? weight : ' disabled'
      const cookie = sticky ? ` cookie ${serverName(color, i)}` : ''
      return `  server ${serverName(color, i)} ${containerName(route.app, color, i)}:${route.appPort} ${SERVER_RESOLVE}${cookie}${state}\n`
    })
  ).join('')
}

/**
 * sticky: cookie. HAProxy names the server (so the color) a client got in a cookie and sends it there
 * again while that server is ready or draining; a server in maintenance (a color whose drain ended)
 * no longer holds its clients, and a failed connection is re-dispatched to another server.
 */
export function renderStickiness(app: string, sticky: boolean): string {
  if (!sticky) return ''
  return `  # sticky: cookie: a client keeps the server (and so the color) it first got until that color's drain ends
  cookie ${stickyCookie(app)} insert indirect nocache httponly
  option redispatch 1
`
}

export function stickyCookie(app: string): string {
  return `cutover_${app.replace(/-/g, '_')}`
}

/** A canary: the other color serving `weight` % of new requests beside the live one. */
export interface Canary {
  route: Route
  weight: number
}

/** HAProxy's largest server weight. */
const MAX_WEIGHT = 256

/**
 * Per-server weights that give the canary color `percent` % of requests: each color's share is
 * its servers' weights summed, so the weights make up for unequal replica counts.
 */
export function canaryWeights(percent: number, liveReplicas: number, canaryReplicas: number): { live: number; canary: number } {
  const live = (100 - percent) * canaryReplicas
  const canary = percent * liveReplicas
  const scale = Math.min(1, MAX_WEIGHT / Math.max(live, canary))
  return { live: Math.max(1, Math.round(live * scale)), canary: Math.max(1, Math.round(canary * scale)) }
}

const CANARY_MARKER = '# cutover-canary: '

/** The backend file's record of a canary (the route comment keeps naming the live release). */
export function canaryComment(canary: Canary | undefined): string {
  return canary ? `${CANARY_MARKER}${JSON.stringify({ color: canary.route.color, releaseId: canary.route.releaseId, weight: canary.weight })}\n` : ''
}

export function parseCanaryComment(text: string): { color: Color; releaseId: string; weight: number } | undefined {
  const line = text.split('\n').find(l => l.startsWith(CANARY_MARKER))
  if (!line) return undefined
  try {
    const c = JSON.parse(line.slice(CANARY_MARKER.length)) as { color?: unknown; releaseId?: unknown; weight?: unknown }
    if ((c.color === 'blue' || c.color === 'green') && typeof c.releaseId === 'string' && typeof c.weight === 'number') {
      return { color: c.color, releaseId: c.releaseId, weight: c.weight }
    }
  } catch {
    // damaged: no canary
  }
  return undefined
}

/**
 * A server pointed at a container that may be new: with `purge` (the server's color served no
 * request until now, or serves new containers), through maintenance first, which closes its idle
 * connections. HAProxy 2.6 keeps those across an address change, so requests would still reach the
 * container the new one replaced, and fail when it is removed (bench/stale-pool.mjs: the switch,
 * CANARY=1 and PREVIEW=1). Then its address, when known. The caller sets its weight and state.
 * A request still in flight on the server gives its connection back after the purge: the preview's
 * servers keep none (PREVIEW_SERVER_POOL); the app's keep theirs, a gap on 2.6 only for keep-alive
 * requests in flight from a rollback to the next deploy's switch (docs/benchmark.md).
 */
export function repointCommands(server: string, address: string | undefined, port: number, purge: boolean): string[] {
  return [...(purge ? [`set server ${server} state maint`] : []), ...(address ? [`set server ${server} addr ${address} port ${port}`] : [])]
}

/**
 * The runtime API commands of a canary: both colors ready at their weights (the canary's
 * containers at their current addresses), slots beyond each color's size in maintenance.
 * `idle`: the canary's color served no request until now (a drained standby, replaced by the
 * canary's containers): see repointCommands.
 */
export function canaryCommands(be: string, live: Route, canary: Canary, slots: number, addresses: (string | undefined)[], idle = false): string[] {
  const weights = canaryWeights(canary.weight, live.replicas ?? 1, canary.route.replicas ?? 1)
  const commands: string[] = []
  for (const [route, weight, known] of [
    [live, weights.live, []],
    [canary.route, weights.canary, addresses]
  ] as const) {
    for (const i of oneTo(slots)) {
      const server = `${be}/${serverName(route.color, i)}`
      if (i > (route.replicas ?? 1)) {
        commands.push(`set server ${server} state maint`)
        continue
      }
      commands.push(...repointCommands(server, known[i - 1], route.appPort, idle && route === canary.route))
      commands.push(`set server ${server} weight ${weight}`, `set server ${server} state ready`)
    }
  }
  return commands
}

const SERVER_LINE = /^\s*server\s+(blue|green)(?:-(\d+))?\s.*?(\sdisabled)?\s*$/

/** The servers a backend file declares: slots per color, and how many of each color are enabled. */
export function declaredServers(text: string): { slots: number; enabled: Record<Color, number> } {
  let slots = 0
  const enabled: Record<Color, number> = { blue: 0, green: 0 }
  // The app's own backend only (the first): a preview backend after it enables the other color.
  const lines = text.split('\n')
  const second = lines.findIndex((l, i) => l.startsWith('backend ') && lines.slice(0, i).some(x => x.startsWith('backend ')))
  for (const line of second < 0 ? lines : lines.slice(0, second)) {
    const m = SERVER_LINE.exec(line)
    if (!m) continue
    slots = Math.max(slots, Number(m[2] ?? 1))
    if (!m[3]) enabled[m[1] as Color]++
  }
  return { slots, enabled }
}

/**
 * What a running backend keeps from its file until a reload: everything but the route and canary
 * records and each server's state and weight (those the runtime API changes). Two files of the
 * same shape are switched at runtime; a new shape (more servers, sticky on or off) needs a reload.
 */
export function backendShape(text: string): string {
  return text
    .split('\n')
    .filter(l => !l.startsWith('# cutover-'))
    .map(l => (SERVER_LINE.test(l) ? l.replace(/ weight \d+/, '').replace(/ disabled\s*$/, '') : l))
    .join('\n')
}

/** The slots a backend needs for this route: never fewer than it declares (shrinking would only cost a reload). */
export function slotsFor(route: Route, currentText: string): number {
  return Math.max(route.replicas ?? 1, declaredServers(currentText).slots, 1)
}

/**
 * The runtime API commands of a switch: the new color's replicas take new requests (at their
 * current addresses when known), its slots beyond the size go to maintenance, the other color drains
 * (established connections, WebSockets above all, stay; the engine stops it after drain-timeout).
 * `idle`: the new color served no request until now: see repointCommands.
 */
export function switchCommands(
  be: string,
  route: Route,
  slots: number,
  addresses: (string | undefined)[],
  other: 'drain' | 'maint' = 'drain',
  idle = false
): string[] {
  const otherColor: Color = route.color === 'blue' ? 'green' : 'blue'
  const size = route.replicas ?? 1
  const commands: string[] = []
  for (const i of oneTo(slots)) {
    const server = `${be}/${serverName(route.color, i)}`
    if (i > size) {
      commands.push(`set server ${server} state maint`)
      continue
    }
    // A container just created: its address now rather than at the next DNS resolution.
    commands.push(...repointCommands(server, addresses[i - 1], route.appPort, idle))
    // weight 1: the file's weight, which a canary may have changed
    commands.push(`set server ${server} weight 1`, `set server ${server} state ready`)
  }
  // maint instead (a preview on the other color): not even sticky clients are sent there.
  for (const i of oneTo(slots)) commands.push(`set server ${be}/${serverName(otherColor, i)} state ${other}`)
  return commands
}

/** The page of `mode: maintenance`, in the config directory (HAProxy reads it when it loads the config). */
export function maintenancePageFile(app: string): string {
  return `maintenance-${app}.html`
}

/** The app's maintenance flag: the key `on` present = the page is served (changed at runtime with add/clear map). */
export function maintenanceMapFile(app: string): string {
  return `maintenance-${app}.map`
}

export const MAINTENANCE_HEADER = 'X-Cutover-Maintenance'
/** Seconds clients are told to wait (Retry-After). */
export const RETRY_AFTER_S = 60

export function renderMaintenanceMap(on: boolean): string {
  return `# Managed by cutover: "on" while mode maintenance serves the page.\n${on ? 'on 1\n' : ''}`
}

/** What the page's file holds (read once at a reload): the HTML, or the built-in page. */
export function maintenancePage(html: string | undefined): string {
  return html ?? DEFAULT_MAINTENANCE_PAGE
}

export const DEFAULT_MAINTENANCE_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Down for maintenance</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36em; margin: 4em auto; padding: 0 1em">
<h1>Down for maintenance</h1>
<p>This site is being worked on and will be back shortly. Please try again in a few minutes.</p>
</body>
</html>
`

/**
 * The backend's maintenance rule: while the flag is on, every request gets the page with a 503 and
 * Retry-After, except cutover's own verification (a request carrying the host's verify token), so a
 * deploy during maintenance is still verified. Health probes go to the containers directly.
 */
export function renderMaintenanceRule(dir: string, app: string, verifyMap: string): string {
  return `  # mode maintenance: a 503 page instead of the app while ${maintenanceMapFile(app)} holds "on" (cutover's verification still passes)
  http-request return status 503 content-type "text/html; charset=utf-8" file ${dir}/${maintenancePageFile(app)} hdr Retry-After ${RETRY_AFTER_S} hdr Cache-Control no-store hdr ${MAINTENANCE_HEADER} on if { str(on),map(${dir}/${maintenanceMapFile(app)}) -m found } !{ var(txn.cutover_verify),map(${verifyMap}) -m found }
`
}

/** Whether a backend file has the maintenance rule (files written before it existed do not). */
export function hasMaintenanceRule(text: string, app: string): boolean {
  return text.includes(`map(`) && text.includes(maintenanceMapFile(app))
}

/** The route a backend file was rendered for, to render it again (with the rules of this version). */
export function routeOfFile(app: string, text: string, parsed: { color: Color; releaseId: string } | undefined): Route | undefined {
  if (!parsed) return undefined
  const port = /^\s*server\s+\S+\s+\S+:(\d+)\s/m.exec(text)
  if (!port) return undefined
  return { app, color: parsed.color, releaseId: parsed.releaseId, appPort: Number(port[1]), replicas: Math.max(1, declaredServers(text).enabled[parsed.color]) }
}

/** The runtime commands that end a color's drain: its servers to maintenance (what its file says: disabled). */
export function endDrainCommands(be: string, color: Color, slots: number): string[] {
  return oneTo(Math.max(1, slots)).map(i => `set server ${be}/${serverName(color, i)} state maint`)
}

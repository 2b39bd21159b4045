import { COLORS, containerName, type Color } from '../core/names.js'
import type { Route } from '../engine/ports.js'
import { oneTo } from '../engine/replicas.js'

/**
 * The release strategies' part of an app's HAProxy backend (issue #12): N servers per color.
 * Replica 1's server keeps the name of a one-container color (`blue`), so a backend written before
 * replicas existed is switched by the same runtime commands.
 */

/** The server of one replica of a color in the app's backend. */
export function serverName(color: Color, replica: number): string {
  return replica === 1 ? color : `${color}-${replica}`
}

/**
 * Every server of both colors, `slots` per color: the live color's first `route.replicas` enabled,
 * every other one `disabled` (a switch enables them through the runtime API, so both colors declare
 * the same slots and a switch between sizes up to `slots` needs no reload).
 */
export function renderServers(route: Route, slots: number): string {
  const enabled = route.replicas ?? 1
  return COLORS.flatMap(color =>
    oneTo(slots).map(i => {
      const on = color === route.color && i <= enabled
      return `  server ${serverName(color, i)} ${containerName(route.app, color, i)}:${route.appPort} resolvers docker init-addr last,libc,none${on ? '' : ' disabled'}\n`
    })
  ).join('')
}

const SERVER_LINE = /^\s*server\s+(blue|green)(?:-(\d+))?\s.*?(\sdisabled)?\s*$/

/** The servers a backend file declares: slots per color, and how many of each color are enabled. */
export function declaredServers(text: string): { slots: number; enabled: Record<Color, number> } {
  let slots = 0
  const enabled: Record<Color, number> = { blue: 0, green: 0 }
  for (const line of text.split('\n')) {
    const m = SERVER_LINE.exec(line)
    if (!m) continue
    slots = Math.max(slots, Number(m[2] ?? 1))
    if (!m[3]) enabled[m[1] as Color]++
  }
  return { slots, enabled }
}

/** The slots a backend needs for this route: never fewer than it declares (shrinking would only cost a reload). */
export function slotsFor(route: Route, currentText: string): number {
  return Math.max(route.replicas ?? 1, declaredServers(currentText).slots, 1)
}

/**
 * The runtime API commands of a switch: the new color's replicas take new requests (at their
 * current addresses when known), its slots beyond the size go to maintenance, the other color drains
 * (established connections, WebSockets above all, stay; the engine stops it after drain-timeout).
 */
export function switchCommands(be: string, route: Route, slots: number, addresses: (string | undefined)[]): string[] {
  const other: Color = route.color === 'blue' ? 'green' : 'blue'
  const size = route.replicas ?? 1
  const commands: string[] = []
  for (const i of oneTo(slots)) {
    const server = `${be}/${serverName(route.color, i)}`
    if (i > size) {
      commands.push(`set server ${server} state maint`)
      continue
    }
    const address = addresses[i - 1]
    // A container just created: its address now rather than at the next DNS resolution.
    if (address) commands.push(`set server ${server} addr ${address} port ${route.appPort}`)
    commands.push(`set server ${server} state ready`)
  }
  for (const i of oneTo(slots)) commands.push(`set server ${be}/${serverName(other, i)} state drain`)
  return commands
}

import type { Route } from '../engine/ports.js'
import { serverName } from './haproxy-strategy.js'

/**
 * The server-state file a reload hands on (SERVER_STATE_FILE, `init-addr last`), reduced to the
 * servers' addresses. HAProxy would also carry over each server's runtime state: a server stopped
 * in the old process (the idle color, `disabled`) stays stopped in the new one even when the new
 * configuration enables it, and with no health check nothing ever brings it up (503s after a
 * reload that switches). So every other field says "as the new configuration has it":
 * running; in maintenance exactly when the new configuration disables it; its configured weight.
 */

/** `backend/server` -> whether the configuration declares that server `disabled`. */
export function configuredServers(files: Iterable<[string, string]>): Map<string, boolean> {
  const out = new Map<string, boolean>()
  for (const [name, text] of files) {
    if (!name.endsWith('.cfg')) continue
    let backend: string | undefined
    for (const line of text.split('\n')) {
      const words = line.trim().split(/\s+/)
      if (/^\S/.test(line)) backend = words[0] === 'backend' ? words[1] : undefined
      else if (backend && words[0] === 'server' && words[1]) out.set(`${backend}/${words[1]}`, words.slice(2).includes('disabled'))
    }
  }
  return out
}

/** HAProxy's server states (srv_op_state, srv_admin_state): running; maintenance set by the configuration (CMAINT | FMAINT). */
const RUNNING = '2'
const READY = '0'
const CONFIG_MAINT = '5'

/**
 * `show servers state` with every server's state and weight replaced by what the new
 * configuration says (its address kept, or `current`'s for `backend/server` keys it names);
 * undefined when the answer is not a state file.
 */
export function addressesOnly(state: string, configured: Map<string, boolean>, current: Map<string, string> = new Map()): string | undefined {
  const lines = state.split('\n')
  if (lines[0]?.trim() !== '1' || !lines[1]?.startsWith('# ')) return undefined
  const header = lines[1].slice(2).trim().split(/\s+/)
  const at = (field: string) => header.indexOf(field)
  const [be, srv, addr, op, admin, uweight, iweight] = ['be_name', 'srv_name', 'srv_addr', 'srv_op_state', 'srv_admin_state', 'srv_uweight', 'srv_iweight'].map(
    at
  )
  if ([be, srv, addr, op, admin, uweight, iweight].some(i => i < 0)) return undefined
  const out = lines.map((line, i) => {
    if (i < 2 || !line.trim()) return line
    const fields = line.split(' ')
    const disabled = configured.get(`${fields[be]}/${fields[srv]}`)
    if (disabled === undefined) return line
    // A container the run has just read beats the old process's address: after a color's container
    // is replaced (renamed aside, a new one under the name), Docker's DNS may still name the old one.
    fields[addr] = current.get(`${fields[be]}/${fields[srv]}`) ?? fields[addr]
    fields[op] = RUNNING
    fields[admin] = disabled ? CONFIG_MAINT : READY
    // The runtime weight is taken only when the configured weight did not change: this one never differs from it.
    fields[uweight] = fields[iweight]
    return fields.join(' ')
  })
  return out.join('\n')
}

/** A replica's container: its address on the app's network, and every address it has (undefined: not found). */
export interface ContainerAddresses {
  wanted: string | undefined
  all: string[]
}

/**
 * The route's servers whose address in `show servers state` is none of their container's (a
 * container on several networks the proxy shares may be reached at any of them); a replica whose
 * container was not found is not judged.
 */
export function staleServers(state: string, be: string, route: Route, addresses: ContainerAddresses[]): { server: string; had: string; wanted: string }[] {
  const now = serverAddresses(state)
  return addresses.flatMap(({ wanted, all }, i) => {
    const server = serverName(route.color, i + 1)
    const had = now.get(`${be}/${server}`)?.addr
    return wanted && had && !all.includes(had) ? [{ server, had, wanted }] : []
  })
}

/** Each server's address and port in `show servers state` (one backend's or several's), by `backend/server`. */
export function serverAddresses(state: string): Map<string, { addr: string; port: string }> {
  const lines = state.split('\n')
  const header =
    lines
      .find(l => l.startsWith('# '))
      ?.slice(2)
      .trim()
      .split(/\s+/) ?? []
  const [beAt, srvAt, addrAt, portAt] = ['be_name', 'srv_name', 'srv_addr', 'srv_port'].map(f => header.indexOf(f))
  const out = new Map<string, { addr: string; port: string }>()
  if ([beAt, srvAt, addrAt, portAt].some(i => i < 0)) return out
  for (const line of lines) {
    const fields = line.trim().split(/\s+/)
    if (line.startsWith('#') || fields.length <= portAt) continue
    out.set(`${fields[beAt]}/${fields[srvAt]}`, { addr: fields[addrAt], port: fields[portAt] })
  }
  return out
}

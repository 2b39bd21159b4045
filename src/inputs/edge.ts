import { isIP } from 'node:net'
import type { ProxySettings } from '../core/config.js'
import { InputError } from './errors.js'
import type { Reader } from './reader.js'

/** How the proxy is reached (issue #23): a host port, a host address and port, or nothing published behind an edge. */
export type ProxyListen = Pick<ProxySettings, 'port' | 'hostIp' | 'unpublished'>

/** The proxy's port inside its container: what an edge on its network connects to with proxy-port none. */
export const UNPUBLISHED_PORT = 80
/** Docker network names: what `docker network create` accepts. */
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/

/** proxy-port: `80`, `127.0.0.1:8080`, `[::1]:8080` or `none`. */
export function parseProxyPort(value: string): ProxyListen {
  const v = value.trim()
  if (v.toLowerCase() === 'none') return { port: UNPUBLISHED_PORT, unpublished: true }
  const portOf = (text: string): number => {
    const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN
    if (!(n >= 1 && n <= 65535)) {
      throw new InputError('proxy-port', `must be a port (80), an address and port (127.0.0.1:8080, [::1]:8080) or none, not "${value}"`)
    }
    return n
  }
  if (/^\d+$/.test(v)) return { port: portOf(v) }
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:[\]]+):(\d+)$/.exec(v)
  if (!match) throw new InputError('proxy-port', `must be a port (80), an address and port (127.0.0.1:8080, [::1]:8080) or none, not "${value}"`)
  const [, address, port] = match
  const family = isIP(address)
  if (family === 0) throw new InputError('proxy-port', `has "${address}", which is not an IP address of the host (such as 127.0.0.1 or 10.0.0.5)`)
  if (family === 6 && !v.startsWith('[')) throw new InputError('proxy-port', `must write an IPv6 address in brackets ([${address}]:${port})`)
  return { port: portOf(port), hostIp: address }
}

/** The edge settings beside proxy-port: its networks and PROXY protocol (checked against trusted-proxies). */
export function parseEdge(r: Reader, listen: ProxyListen, trustedProxies: string[]): Pick<ProxySettings, 'networks' | 'proxyProtocol'> {
  const networks = r.lines('proxy-networks').flatMap(l => l.split(/[\s,]+/).filter(Boolean))
  for (const n of networks) {
    if (!NETWORK_NAME.test(n)) throw new InputError('proxy-networks', `has "${n}", which is not a Docker network name (letters, digits, '_', '.', '-')`)
  }
  if (new Set(networks).size !== networks.length) throw new InputError('proxy-networks', 'names a network twice')
  if (listen.unpublished && !networks.length) {
    throw new InputError(
      'proxy-networks',
      "is empty but proxy-port is none: the proxy would publish nothing and no edge could reach it. Name the edge's Docker network (the edge then reaches the proxy by its container name, proxy-name, on port 80)"
    )
  }
  const proxyProtocol = r.bool('proxy-protocol', false)
  if (proxyProtocol && !trustedProxies.length) {
    throw new InputError(
      'proxy-protocol',
      "is true but trusted-proxies is empty: the proxy accepts a PROXY protocol header only from the edge's addresses, so list them in trusted-proxies (the edge's address, or its Docker network's subnet such as 172.18.0.0/16)"
    )
  }
  return { ...(networks.length ? { networks } : {}), ...(proxyProtocol ? { proxyProtocol } : {}) }
}

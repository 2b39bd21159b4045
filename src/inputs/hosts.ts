/** The `host` input with several hosts (issue #13): one `host` or `host:port` a line. */
import type { Rollout } from '../core/config.js'

export interface HostAddress {
  host: string
  port: number
}

/** The most hosts one run deploys to: each is one SSH connection and one engine, run in parallel. */
export const MAX_HOSTS = 50

/**
 * Reads the `host` lines. `fail` throws the input error (it names the input); `checkHost` throws
 * for an invalid name. IPv6 addresses take a port only in brackets: `[2001:db8::1]:2222`.
 */
export function parseHostLines(lines: string[], defaultPort: number, checkHost: (host: string) => void, fail: (message: string) => never): HostAddress[] {
  if (!lines.length) fail('is required but lists no host')
  if (lines.length > MAX_HOSTS) fail(`lists ${lines.length} hosts; at most ${MAX_HOSTS} are allowed in one run`)
  const looksLikeHost = (part: string) => {
    try {
      checkHost(part.replace(/:\d+$/, ''))
      return true
    } catch {
      return false
    }
  }
  const seen = new Set<string>()
  return lines.map(line => {
    if (/[\s,]/.test(line) && line.split(/[\s,]+/).every(looksLikeHost)) fail(`has "${line}": give one host a line (host or host:port)`)
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(line)
    const colons = (line.match(/:/g) ?? []).length
    let host: string
    let portText: string | undefined
    if (bracketed) [, host, portText] = bracketed
    else if (colons === 1) [host, portText] = line.split(':')
    else host = line // a name, an IPv4 address or a bare IPv6 address
    if (portText !== undefined && !/^\d{1,5}$/.test(portText)) fail(`has "${line}", whose port is not a number`)
    const port = portText === undefined ? defaultPort : Number(portText)
    if (port < 1 || port > 65535) fail(`has "${line}", whose port ${port} is not from 1 to 65535`)
    checkHost(host)
    const key = `${host.toLowerCase()}:${port}`
    if (seen.has(key)) fail(`lists ${host}:${port} twice`)
    seen.add(key)
    return { host, port }
  })
}

export type { FleetSettings, Rollout } from '../core/config.js'
export const ROLLOUTS: readonly Rollout[] = ['atomic', 'rolling']

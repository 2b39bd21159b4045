import SSHConfig from 'ssh-config'

/**
 * `Host` aliases of ~/.ssh/config, as ssh itself reads them (issue #21): an alias in `host` becomes
 * its HostName, and its Port, User, first IdentityFile and ProxyJump fill the settings nothing else
 * gave. Parsed by the maintained `ssh-config` package; only what cutover can use is taken.
 */
export interface SshConfigSettings {
  /** `host` with each alias replaced by its HostName (and Port, as host:port). */
  host?: string
  /** Lowest-precedence settings: user, port, the key file's path, jump-host. */
  fallback: Record<string, string>
  /** The key file to read (IdentityFile, ~ expanded), when the alias names one. */
  identityFile?: string
}

interface Computed {
  HostName?: string
  Port?: string
  User?: string
  IdentityFile?: string[]
  ProxyJump?: string
}

function compute(config: SSHConfig, alias: string): Computed {
  return config.compute(alias) as Computed
}

function expandHome(path: string, home: string): string {
  return path === '~' || path.startsWith('~/') ? home + path.slice(1) : path
}

/** `user@host:port` of a ProxyJump, its host resolved through the file too (the first hop only). */
function jumpOf(config: SSHConfig, proxyJump: string): string | undefined {
  const first = proxyJump.split(',')[0].trim()
  if (!first || first.toLowerCase() === 'none') return undefined
  const m = /^(?:([^@]+)@)?([^:]+)(?::(\d+))?$/.exec(first)
  if (!m) return first
  const hop = compute(config, m[2])
  const user = m[1] ?? hop.User
  const port = m[3] ?? hop.Port
  return `${user ? `${user}@` : ''}${hop.HostName ?? m[2]}${port ? `:${port}` : ''}`
}

/** What ~/.ssh/config says of the hosts in `host` (one a line). */
export function sshConfigSettings(text: string, hostValue: string, home: string): SshConfigSettings {
  const config = SSHConfig.parse(text)
  const names = hostValue
    .split(/\r?\n/)
    .map(line => line.trim())
    .filter(Boolean)
  if (!names.length) return { fallback: {} }
  // A name with a port of its own (host:2222), an IPv6 address or an IP is not an alias.
  const resolved = names.map(name => (/[:[\]]/.test(name) ? { name, found: {} as Computed } : { name, found: compute(config, name) }))
  const mapped = resolved.map(({ name, found }) => (found.HostName ? `${found.HostName}${found.Port ? `:${found.Port}` : ''}` : name))
  const first = resolved[0].found
  const fallback: Record<string, string> = {}
  if (first.User) fallback.user = first.User
  // One port for all: a port the alias gives goes with its host line above.
  if (first.Port && !first.HostName) fallback.port = first.Port
  if (first.ProxyJump) {
    const jump = jumpOf(config, first.ProxyJump)
    if (jump) fallback['jump-host'] = jump
  }
  const identity = first.IdentityFile?.[0]
  return {
    ...(mapped.join('\n') !== names.join('\n') ? { host: mapped.join('\n') } : {}),
    fallback,
    ...(identity ? { identityFile: expandHome(identity, home) } : {})
  }
}

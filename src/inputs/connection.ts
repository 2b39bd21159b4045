import ssh2 from 'ssh2'
import type { HostKeyPin, SshConfig, SshEndpoint } from '../core/config.js'
import { keysForHost, knownHostsName, parseKnownHosts } from '../core/host-key.js'
import { InputError } from './errors.js'
import { parseHostLines, type HostAddress } from './hosts.js'
import { CONTROL, HOSTNAME, IPV4 } from './patterns.js'
import type { Reader } from './reader.js'

/** The connection inputs: host(s), user, keys, host-key pins, jump host, docker-socket. */

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/

export function checkHost(input: string, host: string): void {
  if (IPV4.test(host) ? host.split('.').some(o => Number(o) > 255) : !HOSTNAME.test(host) && !host.includes(':')) {
    throw new InputError(input, `is not a valid host name or IP address: "${host}"`)
  }
}

export function checkPrivateKey(input: string, key: string, passphraseInput: string, passphrase?: string): void {
  if (!key.includes('PRIVATE KEY')) {
    throw new InputError(input, 'does not look like a private key (expected the text of a file such as ~/.ssh/id_ed25519, starting with -----BEGIN)')
  }
  const parsed = ssh2.utils.parseKey(key, passphrase)
  if (parsed instanceof Error) {
    const why = parsed.message
    if (/no passphrase/i.test(why)) {
      throw new InputError(input, `is encrypted: give its passphrase in '${passphraseInput}'`)
    }
    if (/passphrase|decrypt|bad/i.test(why) && passphrase) {
      throw new InputError(passphraseInput, `does not decrypt '${input}' (wrong passphrase)`)
    }
    throw new InputError(input, `could not be parsed: ${why}`)
  }
  if (Array.isArray(parsed)) return
  if (!parsed.isPrivateKey()) throw new InputError(input, 'holds a public key, not a private key')
}

export function parseHostKeyPin(r: Reader, host: string, port: number, fingerprintInput: string): HostKeyPin {
  const fingerprint = r.str(fingerprintInput)
  const knownHosts = r.str('known-hosts')
  const insecure = r.bool('insecure-skip-host-key-check', false)
  if (fingerprint) {
    if (!FINGERPRINT.test(fingerprint)) {
      throw new InputError(fingerprintInput, `must look like SHA256: followed by 43 base64 characters (as "ssh-keygen -lf" prints), not "${fingerprint}"`)
    }
    return { kind: 'fingerprint', fingerprint }
  }
  if (knownHosts) {
    const lines = parseKnownHosts(knownHosts)
    if (typeof lines === 'string') throw new InputError('known-hosts', `is not valid known_hosts text: ${lines}`)
    const keys = keysForHost(lines, host, port)
    if (keys.length > 0) return { kind: 'known-hosts', keys }
    if (!insecure) {
      throw new InputError('known-hosts', `has no line for ${knownHostsName(host, port)}; get one with: ssh-keyscan -p ${port} ${host}`)
    }
  }
  if (insecure) return { kind: 'insecure' }
  throw new InputError(
    fingerprintInput,
    `or 'known-hosts' must pin the key of ${host} (or set insecure-skip-host-key-check: true, not recommended); ` +
      `get the pin with: ssh-keyscan -p ${port} ${host}`
  )
}

/** `user@host:port`, each part optional but the host. */
export function parseJumpHost(value: string): { user?: string; host: string; port?: number } {
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(value)
  if (!m) throw new InputError('jump-host', `must look like user@host:port, not "${value}"`)
  const port = m[3] === undefined ? undefined : Number(m[3])
  if (port !== undefined && (port < 1 || port > 65535)) {
    throw new InputError('jump-host', `has port ${port}, which is not from 1 to 65535`)
  }
  const host = m[2].replace(/^\[|\]$/g, '')
  checkHost('jump-host', host)
  return { user: m[1], host, port }
}

export function endpoint(r: Reader, keyInput: string, passInput: string, agent?: string): Pick<SshEndpoint, 'privateKey' | 'passphrase' | 'agent'> {
  const privateKey = r.secret(keyInput)
  if (!privateKey.trim()) {
    if (agent) return { privateKey: '', agent }
    throw new InputError(keyInput, 'is required but was empty (or give ssh-agent-socket)')
  }
  const passphrase = r.secret(passInput) || undefined
  checkPrivateKey(keyInput, privateKey, passInput, passphrase)
  return { privateKey, passphrase, ...(agent ? { agent } : {}) }
}

/** ssh-agent-socket: an absolute path, or nothing. */
function parseAgentSocket(r: Reader): string | undefined {
  const socket = r.str('ssh-agent-socket')
  if (!socket) return undefined
  if (!socket.startsWith('/') || CONTROL.test(socket))
    throw new InputError('ssh-agent-socket', `must be the absolute path of the agent's socket, not ${JSON.stringify(socket)}`)
  return socket
}

/** The SSH connection to the first host, and every host of `host` (several: a fleet). */
export function parseConnection(r: Reader): { ssh: SshConfig; hosts: HostAddress[]; fleetHosts?: SshConfig[] } {
  r.required('host')
  const hosts = parseHostLines(
    r.lines('host'),
    r.int('port', 22, 1, 65535),
    h => checkHost('host', h),
    message => {
      throw new InputError('host', message)
    }
  )
  const { host, port } = hosts[0]
  if (hosts.length > 1 && r.str('host-fingerprint')) {
    throw new InputError('host-fingerprint', "pins one host's key, but 'host' lists several: give 'known-hosts' with a line for each host")
  }
  const user = r.str('user', 'root')
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/.test(user)) throw new InputError('user', `is not a valid user name: ${JSON.stringify(user)}`)
  const targetKey = endpoint(r, 'ssh-private-key', 'ssh-passphrase', parseAgentSocket(r))
  const hostKey = parseHostKeyPin(r, host, port, 'host-fingerprint')
  const jumpValue = r.str('jump-host')
  const jump = jumpValue ? parseJump(r, jumpValue, user, targetKey) : undefined
  const ssh: SshConfig = { host, port, user, ...targetKey, hostKey, jump, connectTimeoutMs: r.duration('connect-timeout', '20s', 1000) }
  const fleetHosts =
    hosts.length > 1 ? hosts.map(h => ({ ...ssh, host: h.host, port: h.port, hostKey: parseHostKeyPin(r, h.host, h.port, 'host-fingerprint') })) : undefined
  return { ssh, hosts, fleetHosts }
}

/** jump-host and its own key (the target's by default) and pin. */
function parseJump(r: Reader, value: string, user: string, targetKey: Pick<SshEndpoint, 'privateKey' | 'passphrase' | 'agent'>): SshEndpoint {
  const j = parseJumpHost(value)
  const jumpPort = j.port ?? 22
  const jumpKey = r.str('jump-ssh-private-key') ? endpoint(r, 'jump-ssh-private-key', 'jump-ssh-passphrase', targetKey.agent) : targetKey
  return { host: j.host, port: jumpPort, user: j.user ?? user, ...jumpKey, hostKey: parseHostKeyPin(r, j.host, jumpPort, 'jump-host-fingerprint') }
}

/** docker-socket: the Docker API's Unix socket on the host. */
export function parseDockerSocket(r: Reader): string {
  const dockerSocket = r.str('docker-socket', '/var/run/docker.sock')
  if (!dockerSocket.startsWith('/')) throw new InputError('docker-socket', `must be an absolute path, not "${dockerSocket}"`)
  if (CONTROL.test(dockerSocket)) throw new InputError('docker-socket', `has a control character: ${JSON.stringify(dockerSocket)}`)
  return dockerSocket
}

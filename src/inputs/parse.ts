import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { parse as parseDotenv } from 'dotenv'
import shellQuote from 'shell-quote'
import ssh2 from 'ssh2'
import type {
  Config,
  ContainerSettings,
  HostKeyPin,
  KeepPrevious,
  Mode,
  RegistryAuth,
  SshEndpoint
} from './config.js'
import { registryHostOf } from '../core/image-ref.js'
import { keysForHost, knownHostsName, parseKnownHosts } from '../transport/host-key.js'
import { parseDuration } from './duration.js'
import { readImageArchive, type ImageArchive } from './image-archive.js'

/** A bad input: its message is one sentence that names the input. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    message: string
  ) {
    super(`Input '${input}' ${message}`)
    this.name = 'InputError'
  }
}

export interface InputSource {
  /** The raw value, '' when not set (as @actions/core's getInput). */
  get(name: string): string
  /** Register a value that must never appear in the log. */
  mask(secret: string): void
  /** Where relative paths (env-file) are resolved from. */
  workspace: string
}

const MODES: Mode[] = ['deploy', 'rollback', 'status']
const KEEP_PREVIOUS: KeepPrevious[] = ['running', 'stopped', 'removed']
const APP_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_.]*$/
const HOSTNAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/

class Reader {
  constructor(private readonly source: InputSource) {}

  str(name: string, fallback = ''): string {
    const v = this.source.get(name).trim()
    return v === '' ? fallback : v
  }

  required(name: string): string {
    const v = this.str(name)
    if (!v) throw new InputError(name, 'is required but was empty')
    return v
  }

  secret(name: string): string {
    const v = this.source.get(name)
    maskSecret(this.source, v)
    return v
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.str(name).toLowerCase()
    if (!v) return fallback
    if (['true', 'yes', '1', 'on'].includes(v)) return true
    if (['false', 'no', '0', 'off'].includes(v)) return false
    throw new InputError(name, `must be true or false, not "${v}"`)
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.str(name)
    if (!v) return fallback
    if (!/^\d+$/.test(v)) throw new InputError(name, `must be a whole number from ${min} to ${max}, not "${v}"`)
    const n = Number(v)
    if (n < min || n > max) throw new InputError(name, `must be from ${min} to ${max}, not ${n}`)
    return n
  }

  duration(name: string, fallback: string, minMs = 0): number {
    const v = this.str(name, fallback)
    const ms = parseDuration(v)
    if (ms === undefined) {
      throw new InputError(name, `must be a duration such as 30s, 1500ms, 2m or a number of seconds, not "${v}"`)
    }
    if (ms < minMs) throw new InputError(name, `must be at least ${minMs} ms, not "${v}"`)
    return ms
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.str(name, fallback).toLowerCase() as T
    if (!allowed.includes(v)) throw new InputError(name, `must be one of ${allowed.join(', ')}, not "${v}"`)
    return v
  }

  /** Non-empty, non-comment lines of a multiline input. */
  lines(name: string): string[] {
    return this.source
      .get(name)
      .split(/\r?\n/)
      .map(l => l.trim())
      .filter(l => l && !l.startsWith('#'))
  }
}

function maskSecret(source: InputSource, value: string): void {
  if (!value) return
  source.mask(value)
  // The runner masks a registered secret line by line only when told each line.
  for (const line of value.split(/\r?\n/)) if (line.trim().length >= 4) source.mask(line.trim())
}

function checkHost(input: string, host: string): void {
  if (IPV4.test(host) ? host.split('.').some(o => Number(o) > 255) : !HOSTNAME.test(host) && !host.includes(':')) {
    throw new InputError(input, `is not a valid host name or IP address: "${host}"`)
  }
}

function checkPrivateKey(input: string, key: string, passphraseInput: string, passphrase?: string): void {
  if (!key.includes('PRIVATE KEY')) {
    throw new InputError(
      input,
      'does not look like a private key (expected the text of a file such as ~/.ssh/id_ed25519, starting with -----BEGIN)'
    )
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

function parseHostKeyPin(r: Reader, host: string, port: number, fingerprintInput: string): HostKeyPin {
  const fingerprint = r.str(fingerprintInput)
  const knownHosts = r.str('known-hosts')
  const insecure = r.bool('insecure-skip-host-key-check', false)
  if (fingerprint) {
    if (!FINGERPRINT.test(fingerprint)) {
      throw new InputError(
        fingerprintInput,
        `must look like SHA256: followed by 43 base64 characters (as "ssh-keygen -lf" prints), not "${fingerprint}"`
      )
    }
    return { kind: 'fingerprint', fingerprint }
  }
  if (knownHosts) {
    const lines = parseKnownHosts(knownHosts)
    if (typeof lines === 'string') throw new InputError('known-hosts', `is not valid known_hosts text: ${lines}`)
    const keys = keysForHost(lines, host, port)
    if (keys.length > 0) return { kind: 'known-hosts', keys }
    if (!insecure) {
      throw new InputError(
        'known-hosts',
        `has no line for ${knownHostsName(host, port)}; get one with: ssh-keyscan -p ${port} ${host}`
      )
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
function parseJumpHost(value: string): { user?: string; host: string; port?: number } {
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

function parseKeyValues(input: string, lines: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of lines) {
    const eq = line.indexOf('=')
    const key = eq > 0 ? line.slice(0, eq).trim() : ''
    if (!ENV_KEY.test(key)) throw new InputError(input, `has a line that is not KEY=VALUE: "${line.slice(0, 40)}"`)
    out[key] = line.slice(eq + 1)
  }
  return out
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }

function parseMemory(value: string): number | undefined {
  if (!value) return undefined
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(value)
  if (!m) throw new InputError('memory', `must be a size such as 512m or 1g, not "${value}"`)
  const bytes = Math.round(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()])
  // dockerd refuses limits below 6 MiB
  if (bytes < 6 * 1024 ** 2) throw new InputError('memory', `must be at least 6m, not "${value}"`)
  return bytes
}

function parseCpus(value: string): number | undefined {
  if (!value) return undefined
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) {
    throw new InputError('cpus', `must be a positive number such as 0.5 or 2, not "${value}"`)
  }
  return Math.round(Number(value) * 1e9)
}

function parseRestart(value: string): ContainerSettings['restart'] {
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(value)
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) {
    throw new InputError('restart', `must be no, always, unless-stopped or on-failure[:N], not "${value}"`)
  }
  return m[2] === undefined ? { Name: m[1] } : { Name: m[1], MaximumRetryCount: Number(m[2]) }
}

function parseCommand(value: string): string[] | undefined {
  if (!value) return undefined
  const parts = shellQuote.parse(value)
  if (parts.some(p => typeof p !== 'string')) {
    throw new InputError('command', 'must be a plain command with arguments (no pipes, redirections or globs)')
  }
  return parts as string[]
}

function parseVolumes(lines: string[]): string[] {
  for (const v of lines) {
    const parts = v.split(':')
    if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1].startsWith('/')) {
      throw new InputError('volumes', `has "${v}", which is not source:/container/path[:ro]`)
    }
    if (parts[2] !== undefined && !/^(ro|rw|z|Z|ro,z|ro,Z)$/.test(parts[2])) {
      throw new InputError('volumes', `has "${v}" with unknown options "${parts[2]}"`)
    }
  }
  return lines
}

function parseImage(input: string, value: string): string {
  // repository[:tag][@digest], lower-case repository path as Docker requires
  if (!/^[a-z0-9]+(?:[._\-/:a-z0-9]*[a-z0-9])?(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/.test(value)) {
    throw new InputError(input, `is not a valid image reference: "${value}"`)
  }
  return value
}

function parseEnvFile(source: InputSource, path: string): Record<string, string> {
  if (!path) return {}
  const full = isAbsolute(path) ? path : resolve(source.workspace, path)
  let text: string
  try {
    text = readFileSync(full, 'utf8')
  } catch (e) {
    throw new InputError('env-file', `names ${path}, which cannot be read: ${(e as Error).message}`)
  }
  return parseDotenv(text)
}

/** A `docker save` archive on the runner to deploy without a registry; its tags say which image it holds. */
function parseImageArchive(source: InputSource, path: string, mode: Mode, image: string | undefined): ImageArchive | undefined {
  if (!path) return undefined
  if (mode !== 'deploy') throw new InputError('image-archive', `only applies to mode deploy, not ${mode} (a rollback uses the copy already on the host)`)
  const full = isAbsolute(path) ? path : resolve(source.workspace, path)
  let archive: ImageArchive
  try {
    archive = readImageArchive(full)
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message
    throw new InputError('image-archive', `names ${path}, which ${why}`)
  }
  if (image) {
    if (!archive.tags.includes(image)) {
      throw new InputError('image-archive', `holds ${archive.tags.join(', ') || 'no tagged image'}, not '${image}' as 'image' says`)
    }
    return archive
  }
  if (archive.tags.length !== 1) {
    throw new InputError(
      'image-archive',
      archive.tags.length ? `holds several images (${archive.tags.join(', ')}): set 'image' to the one to deploy` : "holds no tagged image: save it by name (docker save NAME:TAG), or set 'image'"
    )
  }
  parseImage('image-archive', archive.tags[0])
  return archive
}

function endpoint(r: Reader, keyInput: string, passInput: string): Pick<SshEndpoint, 'privateKey' | 'passphrase'> {
  const privateKey = r.secret(keyInput)
  if (!privateKey.trim()) throw new InputError(keyInput, 'is required but was empty')
  const passphrase = r.secret(passInput) || undefined
  checkPrivateKey(keyInput, privateKey, passInput, passphrase)
  return { privateKey, passphrase }
}

/** Reads and validates every input. Throws InputError before anything touches the host. */
export function parseInputs(source: InputSource): Config {
  const r = new Reader(source)
  const mode = r.oneOf('mode', MODES, 'deploy')

  const app = r.required('app')
  if (!APP_NAME.test(app)) {
    throw new InputError('app', `must be letters, digits and dashes (at most 63, not starting or ending with a dash), not "${app}"`)
  }

  const host = r.required('host')
  checkHost('host', host)
  const port = r.int('port', 22, 1, 65535)
  const user = r.str('user', 'root')
  const targetKey = endpoint(r, 'ssh-private-key', 'ssh-passphrase')
  const hostKey = parseHostKeyPin(r, host, port, 'host-fingerprint')

  let jump: SshEndpoint | undefined
  const jumpValue = r.str('jump-host')
  if (jumpValue) {
    const j = parseJumpHost(jumpValue)
    const jumpPort = j.port ?? 22
    const jumpKey = r.str('jump-ssh-private-key') ? endpoint(r, 'jump-ssh-private-key', 'jump-ssh-passphrase') : targetKey
    jump = {
      host: j.host,
      port: jumpPort,
      user: j.user ?? user,
      ...jumpKey,
      hostKey: parseHostKeyPin(r, j.host, jumpPort, 'jump-host-fingerprint')
    }
  }

  const dockerSocket = r.str('docker-socket', '/var/run/docker.sock')
  if (!dockerSocket.startsWith('/')) throw new InputError('docker-socket', `must be an absolute path, not "${dockerSocket}"`)

  const imageValue = r.str('image')
  let image = imageValue ? parseImage('image', imageValue) : undefined
  const imageArchive = parseImageArchive(source, r.str('image-archive'), mode, image)
  image ??= imageArchive?.tags[0]
  if (mode === 'deploy' && !image) throw new InputError('image', 'is required when mode is deploy (or give image-archive)')
  const toImageValue = r.str('to-image')
  const toImage = toImageValue ? parseImage('to-image', toImageValue) : undefined
  const toRelease = r.str('to-release') ? r.int('to-release', 1, 1, 9) : undefined
  if (toRelease !== undefined && toImage) throw new InputError('to-release', "cannot be combined with 'to-image': give one rollback target")
  if ((toRelease !== undefined || toImage) && mode !== 'rollback') {
    throw new InputError(toImage ? 'to-image' : 'to-release', `only applies to mode rollback, not ${mode}`)
  }

  let registry: RegistryAuth | undefined
  const registryUser = r.str('registry-username')
  const registryPassword = r.secret('registry-password')
  if (registryUser || registryPassword) {
    if (!registryUser) throw new InputError('registry-username', "is required when 'registry-password' is set")
    if (!registryPassword) throw new InputError('registry-password', "is required when 'registry-username' is set")
    // Without 'registry', the credentials are for the registry of the image deployed; a
    // rollback without an image uses them for the app image it pulls ('' = that one).
    const imageForAuth = image ?? toImage
    const serveraddress = r.str('registry', imageForAuth ? registryHostOf(imageForAuth) : '')
    registry = { serveraddress, username: registryUser, password: registryPassword }
  }

  const env = { ...parseEnvFile(source, r.str('env-file')), ...parseKeyValues('env', r.lines('env')) }
  for (const value of Object.values(env)) maskSecret(source, value)

  const networks = r.lines('networks')
  for (const n of networks) if (!DOCKER_NAME.test(n)) throw new InputError('networks', `has an invalid network name "${n}"`)

  const healthPath = r.str('health-path', '/health')
  if (!healthPath.startsWith('/')) throw new InputError('health-path', `must start with /, not "${healthPath}"`)
  const expectedStatusValue = r.str('health-status')
  const expectedStatus = expectedStatusValue ? r.int('health-status', 200, 100, 599) : undefined

  const domains = r
    .str('domains')
    .split(/[\s,]+/)
    .filter(Boolean)
  for (const d of domains) if (!HOSTNAME.test(d.replace(/^\*\./, ''))) throw new InputError('domains', `has an invalid domain "${d}"`)

  const proxyName = r.str('proxy-name', 'cutover-proxy')
  if (!DOCKER_NAME.test(proxyName)) throw new InputError('proxy-name', `is not a valid container name: "${proxyName}"`)

  const token = r.secret('github-token')

  return {
    mode,
    app,
    ssh: {
      host,
      port,
      user,
      ...targetKey,
      hostKey,
      jump,
      connectTimeoutMs: r.duration('connect-timeout', '20s', 1000)
    },
    dockerSocket,
    image,
    toImage,
    toRelease,
    imageArchive,
    registry,
    container: {
      env,
      volumes: parseVolumes(r.lines('volumes')),
      networks,
      labels: parseKeyValues('labels', r.lines('labels')),
      restart: parseRestart(r.str('restart', 'unless-stopped')),
      memoryBytes: parseMemory(r.str('memory')),
      nanoCpus: parseCpus(r.str('cpus')),
      command: parseCommand(r.str('command'))
    },
    health: {
      port: r.int('app-port', 3000, 1, 65535),
      path: healthPath,
      timeoutMs: r.duration('health-timeout', '60s', 1000),
      intervalMs: r.duration('health-interval', '1s', 100),
      passes: r.int('health-passes', 1, 1, 100),
      expectedStatus
    },
    proxy: {
      name: proxyName,
      image: parseImage('proxy-image', r.str('proxy-image', 'nginx:1.28-alpine')),
      port: r.int('proxy-port', 80, 1, 65535),
      domains,
      drainTimeoutMs: r.duration('drain-timeout', '30s')
    },
    keepPrevious: r.oneOf('keep-previous', KEEP_PREVIOUS, 'running'),
    keepFailed: r.bool('keep-failed', false),
    lockTimeoutMs: r.duration('lock-timeout', '10m'),
    github: {
      deployments: r.bool('deployments', true),
      token,
      environment: r.str('environment', 'production'),
      environmentUrl: r.str('environment-url') || undefined
    }
  }
}

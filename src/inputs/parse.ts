import { readFileSync, realpathSync } from 'node:fs'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { parse as parseDotenv } from 'dotenv'
import shellQuote from 'shell-quote'
import ssh2 from 'ssh2'
import type { Config, ContainerSettings, HostKeyPin, KeepPrevious, Mode, ProxyChoice, RegistryAuth, SshEndpoint } from '../core/config.js'
import { registryHostOf } from '../core/image-ref.js'
import { keysForHost, knownHostsName, parseKnownHosts } from '../core/host-key.js'
import { parseDuration } from './duration.js'
import { readImageArchive, type ImageArchive } from './image-archive.js'
import { parseCompose, parseReleaseCommand, parseRoles } from './roles.js'
import { parseHostLines, ROLLOUTS } from './hosts.js'
import { parseStrategy, strategyProxyProblem } from './strategy.js'
import { parseTls } from './tls.js'
import { asideName, COLORS, containerName, failedName, LABEL, networkName } from '../core/names.js'

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

const MODES: Mode[] = ['deploy', 'rollback', 'status', 'maintenance', 'live', 'promote']
const KEEP_PREVIOUS: KeepPrevious[] = ['running', 'stopped', 'removed']
const PROXY_TYPES: ProxyChoice[] = ['auto', 'haproxy', 'nginx']
const APP_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/
/** A DNS label: containers find each other by name on Docker networks. */
const DNS_LABEL_MAX = 63
/**
 * The longest suffix cutover appends to an app name for a container (`-green-replaced`):
 * every such name must still be one DNS label.
 */
const LONGEST_APP_SUFFIX = Math.max(...COLORS.flatMap(c => [containerName('', c), asideName('', c), failedName('', c)]).map(n => n.length))
export const APP_NAME_MAX = DNS_LABEL_MAX - LONGEST_APP_SUFFIX
/** Suffixes of the proxy's containers (see src/proxy/nginx.ts): `<proxy-name>-switch`. */
const PROXY_SUFFIX = '-switch'
export const PROXY_NAME_MAX = DNS_LABEL_MAX - PROXY_SUFFIX.length
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
/** Docker's rule for named volumes: at least two characters. */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_.]*$/
/** Label keys as Docker and the OCI conventions use them (com.example.some-key). */
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/
/** Visible ASCII (what an HTTP request line carries without escaping), at least one character. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\x00-\x1f\x7f]/
/** setTimeout's limit is 2^31-1 ms (24.8 days); longer timers fire at once. */
const MAX_DURATION_MS = 24 * 3_600_000
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
    if (ms > MAX_DURATION_MS) throw new InputError(name, `must be at most 24h, not "${v}"`)
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

/**
 * An env value is masked as a secret unless it is shorter than 4 characters: PORT=80, DEBUG=1 or
 * JOB_MS=200 are no secrets, and masking them would blank every "1" or "200" in the log.
 */
export const ENV_MASK_MIN_LENGTH = 4

function maskEnvValue(source: InputSource, value: string): void {
  if (value.trim().length >= ENV_MASK_MIN_LENGTH) maskSecret(source, value)
}

function checkHost(input: string, host: string): void {
  if (IPV4.test(host) ? host.split('.').some(o => Number(o) > 255) : !HOSTNAME.test(host) && !host.includes(':')) {
    throw new InputError(input, `is not a valid host name or IP address: "${host}"`)
  }
}

function checkPrivateKey(input: string, key: string, passphraseInput: string, passphrase?: string): void {
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

function parseHostKeyPin(r: Reader, host: string, port: number, fingerprintInput: string): HostKeyPin {
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

function parseKeyValues(input: string, lines: string[], keyPattern = ENV_KEY): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of lines) {
    const eq = line.indexOf('=')
    const key = eq > 0 ? line.slice(0, eq).trim() : ''
    // Only the key is quoted back: the value may be a secret (env values are masked only later).
    if (!keyPattern.test(key)) {
      throw new InputError(input, `has a line that is not KEY=VALUE with a valid key: "${eq > 0 ? `${key}=...` : line.slice(0, 40)}"`)
    }
    out[key] = line.slice(eq + 1)
  }
  return out
}

/** Environment variables: a NUL byte cannot be passed to a process. */
function checkEnv(input: string, env: Record<string, string>): Record<string, string> {
  for (const [key, value] of Object.entries(env)) {
    if (!ENV_KEY.test(key))
      throw new InputError(input, `has an invalid variable name "${key.slice(0, 60)}" (letters, digits, _ and ., not starting with a digit)`)
    if (value.includes('\0')) throw new InputError(input, `has a NUL character in the value of ${key}, which no process can receive`)
  }
  return env
}

function parseLabels(lines: string[]): Record<string, string> {
  const labels = parseKeyValues('labels', lines, LABEL_KEY)
  for (const key of Object.keys(labels)) {
    if (key.toLowerCase().startsWith('cutover.')) {
      throw new InputError('labels', `has the key "${key}", but the cutover. prefix is reserved for the labels cutover itself sets (such as ${LABEL.app})`)
    }
  }
  return labels
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
  // dockerd refuses less than 0.01 CPU
  if (Number(value) < 0.01) throw new InputError('cpus', `must be at least 0.01, not "${value}"`)
  return Math.round(Number(value) * 1e9)
}

function parseRestart(value: string): ContainerSettings['restart'] {
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(value)
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) {
    throw new InputError('restart', `must be no, always, unless-stopped or on-failure[:N], not "${value}"`)
  }
  return m[2] === undefined ? { Name: m[1] } : { Name: m[1], MaximumRetryCount: Number(m[2]) }
}

/** Stands in for `$` while shell-quote parses: no shell runs the command, so `$HOME` stays literal. */
const DOLLAR = '\u0000'

/**
 * Shell-style quoting only: no shell runs the command, so there are no variables (`$HOME` is
 * passed as the four characters it is, where shell-quote would silently make it empty), no
 * pipes, redirections, globs, comments or command substitution.
 */
export function parseCommand(value: string, input = 'command'): string[] | undefined {
  if (!value) return undefined
  if (value.includes(DOLLAR)) throw new InputError(input, 'has a NUL character, which no process can receive')
  const parts = shellQuote.parse(value.split('$').join(DOLLAR))
  if (parts.some(p => typeof p !== 'string')) {
    throw new InputError(
      input,
      'must be a plain command with arguments (no pipes, redirections, globs, comments or $(...): no shell runs it; wrap it in sh -c "..." if you need one)'
    )
  }
  return (parts as string[]).map(p => p.split(DOLLAR).join('$'))
}

const BIND_ONLY_OPTIONS = new Set(['shared', 'slave', 'private', 'rshared', 'rslave', 'rprivate'])
const VOLUME_ONLY_OPTIONS = new Set(['nocopy'])
const OPTION_GROUPS: string[][] = [['ro', 'rw'], ['z', 'Z'], [...BIND_ONLY_OPTIONS], [...VOLUME_ONLY_OPTIONS], ['consistent', 'cached', 'delegated']]

/**
 * `source:/container/path[:options]`, checked as dockerd will: the source is an absolute host
 * path or a named volume (dockerd would take `./data` as neither and fail at container creation).
 */
export function parseVolumes(lines: string[]): string[] {
  for (const v of lines) {
    if (CONTROL.test(v)) throw new InputError('volumes', `has a line with a control character: ${JSON.stringify(v.slice(0, 80))}`)
    const parts = v.split(':')
    if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
      throw new InputError('volumes', `has "${v}", which is not source:/container/path[:ro]`)
    }
    const [source, target, options] = parts
    const bind = source.startsWith('/')
    if (!bind && !VOLUME_NAME.test(source)) {
      throw new InputError(
        'volumes',
        `has "${v}", whose source "${source}" is neither an absolute host path nor a volume name (letters, digits, _ . -; at least 2 characters): ` +
          'relative paths would not be the repository on the host; use an absolute path'
      )
    }
    if (!target.startsWith('/')) throw new InputError('volumes', `has "${v}", whose container path "${target}" is not absolute`)
    if (target.replace(/\/+$/, '') === '') throw new InputError('volumes', `has "${v}", which would mount over the container's root /`)
    if (options !== undefined) {
      const opts = options.split(',')
      for (const o of opts) {
        if (!OPTION_GROUPS.some(g => g.includes(o))) {
          throw new InputError('volumes', `has "${v}" with unknown option "${o}" (ro, rw, z, Z, nocopy, or a bind propagation such as rshared)`)
        }
        if (!bind && BIND_ONLY_OPTIONS.has(o))
          throw new InputError('volumes', `has "${v}": "${o}" applies to host paths only, not to the named volume "${source}"`)
        if (bind && VOLUME_ONLY_OPTIONS.has(o))
          throw new InputError('volumes', `has "${v}": "${o}" applies to named volumes only, not to the host path "${source}"`)
      }
      for (const g of OPTION_GROUPS) {
        if (opts.filter(o => g.includes(o)).length > 1) throw new InputError('volumes', `has "${v}" with conflicting options "${options}"`)
      }
    }
  }
  const targets = lines.map(v => v.split(':')[1].replace(/\/+$/, ''))
  const dup = targets.find((t, i) => targets.indexOf(t) !== i)
  if (dup !== undefined) throw new InputError('volumes', `mounts two sources on the same container path ${dup}`)
  return lines
}

function parseImage(input: string, value: string): string {
  // repository[:tag][@digest], lower-case repository path as Docker requires
  if (!/^[a-z0-9]+(?:[._\-/:a-z0-9]*[a-z0-9])?(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/.test(value)) {
    throw new InputError(input, `is not a valid image reference: "${value}"`)
  }
  return value
}

/**
 * A dotenv file of the repository. Symbolic links are resolved and the file must be inside the
 * workspace: anything else (/proc/self/environ, ~/.ssh/...) would copy the runner's own secrets
 * into the container's configuration on the host.
 */
/** The text of a file of the repository (inside the workspace, links resolved), for input `input`. */
function readWorkspaceFile(source: InputSource, input: string, path: string): string {
  const full = isAbsolute(path) ? path : resolve(source.workspace, path)
  let real: string
  let workspace: string
  try {
    real = realpathSync(full)
  } catch (e) {
    throw new InputError(input, `names ${path}, which cannot be read: ${(e as Error).message}`)
  }
  try {
    workspace = realpathSync(source.workspace)
  } catch (e) {
    throw new InputError(input, `cannot be checked: the workspace ${source.workspace} cannot be read (${(e as Error).message})`)
  }
  const rel = relative(workspace, real)
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new InputError(
      input,
      `must name a file inside the workspace (${workspace}), but ${path} is ${real === full ? '' : `a link to `}${real}: ` +
        'cutover reads only files of the repository'
    )
  }
  try {
    return readFileSync(real, 'utf8')
  } catch (e) {
    throw new InputError(input, `names ${path}, which cannot be read: ${(e as Error).message}`)
  }
}

function parseEnvFile(source: InputSource, path: string): Record<string, string> {
  if (!path) return {}
  return checkEnv('env-file', parseDotenv(readWorkspaceFile(source, 'env-file', path)))
}

/** The path and query probed: sent as is in an HTTP request line, so visible ASCII only. */
function parseHealthPath(value: string): string {
  if (!value.startsWith('/')) throw new InputError('health-path', `must start with /, not ${JSON.stringify(value)}`)
  if (!VISIBLE_ASCII.test(value)) {
    throw new InputError(
      'health-path',
      `must be a URL path without spaces, control or non-ASCII characters (percent-encode them, e.g. %20), not ${JSON.stringify(value)}`
    )
  }
  if (value.includes('#')) throw new InputError('health-path', `must not have a #fragment (it is never sent to the server), not ${JSON.stringify(value)}`)
  return value
}

/** Host names nginx routes to the app: valid names, each label at most 63, at most 253 in all. */
function parseDomains(value: string, input = 'domains'): string[] {
  const domains = value.split(/[\s,]+/).filter(Boolean)
  const seen = new Set<string>()
  for (const d of domains) {
    const bare = d.replace(/^\*\./, '')
    if (!HOSTNAME.test(bare) || IPV4.test(bare))
      throw new InputError(input, `has an invalid domain "${d}" (a host name such as app.example.com or *.example.com)`)
    if (d.length > 253) throw new InputError(input, `has a domain of ${d.length} characters; at most 253 are allowed: "${d.slice(0, 40)}..."`)
    if (d.startsWith('*.') && !bare.includes('.')) {
      throw new InputError(input, `has "${d}", a wildcard over a whole top-level domain; name at least two labels after *. (e.g. *.example.com)`)
    }
    const key = d.toLowerCase()
    if (seen.has(key)) throw new InputError(input, `has "${d}" twice (host names are not case-sensitive)`)
    seen.add(key)
  }
  return domains
}

/** preview-domains: exact host names (a preview URL names one host), none of them one of the app's own domains. */
function parsePreviewDomains(previewDomains: string[], domains: string[]): string[] {
  const own = new Set(domains.map(d => d.toLowerCase()))
  for (const d of previewDomains) {
    if (d.startsWith('*.')) throw new InputError('preview-domains', `has the wildcard "${d}": name each preview host exactly (e.g. green.app.example.com)`)
    if (own.has(d.toLowerCase()))
      throw new InputError('preview-domains', `has "${d}", which is also in 'domains': a preview host must reach the idle color only`)
  }
  return previewDomains
}

/** Extra networks the app joins besides its own: names Docker accepts, each once. */
function parseNetworks(lines: string[], app: string): string[] {
  const seen = new Set<string>()
  for (const n of lines) {
    if (!DOCKER_NAME.test(n) || n.length > 128) {
      throw new InputError('networks', `has an invalid network name "${n.slice(0, 80)}" (letters, digits, _ . -, starting with a letter or digit)`)
    }
    if (n === 'host' || n === 'none') {
      throw new InputError('networks', `has "${n}", which Docker cannot combine with the app's own network; use a bridge or overlay network`)
    }
    if (n === networkName(app)) throw new InputError('networks', `has "${n}", the app's own network, which it always joins`)
    if (seen.has(n)) throw new InputError('networks', `has "${n}" twice`)
    seen.add(n)
  }
  return lines
}

/** A registry host name as the credentials are given for: host[:port], optionally a URL. */
function parseRegistry(value: string): string {
  const m = /^(?:https?:\/\/)?(\[[0-9a-fA-F:]+\]|[^/:\s]+)(?::(\d{1,5}))?(?:\/\S*)?$/.exec(value)
  const host = m?.[1]
  const bad = () => new InputError('registry', `must be a registry host such as ghcr.io or registry.example.com:5000, not ${JSON.stringify(value)}`)
  if (!m || !host) throw bad()
  if (!host.startsWith('[')) {
    try {
      checkHost('registry', host)
    } catch {
      throw bad()
    }
  }
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) throw bad()
  return value
}

function parseUrl(input: string, value: string): string | undefined {
  if (!value) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InputError(input, `must be an http(s) URL such as https://app.example.com, not ${JSON.stringify(value)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(input, `must be an http(s) URL such as https://app.example.com, not ${JSON.stringify(value)}`)
  }
  return value
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
      archive.tags.length
        ? `holds several images (${archive.tags.join(', ')}): set 'image' to the one to deploy`
        : "holds no tagged image: save it by name (docker save NAME:TAG), or set 'image'"
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
  if (/[A-Z]/.test(app) && APP_NAME.test(app.toLowerCase())) {
    throw new InputError('app', `must be lower case, not "${app}": its containers are found by DNS name, where names differing only by case are the same name`)
  }
  if (!APP_NAME.test(app)) {
    throw new InputError('app', `must be lower-case letters, digits and dashes, not starting or ending with a dash, not "${app}"`)
  }
  if (app.length > APP_NAME_MAX) {
    throw new InputError(
      'app',
      `is ${app.length} characters long; at most ${APP_NAME_MAX} are allowed, because its container names ` +
        `(up to ${asideName(app, 'green').replace(app, '<app>')}) must fit a ${DNS_LABEL_MAX}-character DNS label`
    )
  }

  r.required('host')
  const hostList = parseHostLines(
    r.lines('host'),
    r.int('port', 22, 1, 65535),
    h => checkHost('host', h),
    message => {
      throw new InputError('host', message)
    }
  )
  const { host, port } = hostList[0]
  if (hostList.length > 1 && r.str('host-fingerprint')) {
    throw new InputError('host-fingerprint', "pins one host's key, but 'host' lists several: give 'known-hosts' with a line for each host")
  }
  const user = r.str('user', 'root')
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/.test(user)) throw new InputError('user', `is not a valid user name: ${JSON.stringify(user)}`)
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
  if (CONTROL.test(dockerSocket)) throw new InputError('docker-socket', `has a control character: ${JSON.stringify(dockerSocket)}`)

  const imageValue = r.str('image')
  let image = imageValue ? parseImage('image', imageValue) : undefined
  const imageArchive = parseImageArchive(source, r.str('image-archive'), mode, image)
  image ??= imageArchive?.tags[0]
  const compose = parseCompose(source, app, image)
  image ??= compose?.image
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
    const registryValue = r.str('registry')
    const serveraddress = registryValue ? parseRegistry(registryValue) : imageForAuth ? registryHostOf(imageForAuth) : ''
    registry = { serveraddress, username: registryUser, password: registryPassword }
  }

  const fromInput = parseKeyValues('env', r.lines('env'))
  // Masked before anything else can fail and quote them.
  for (const value of Object.values(fromInput)) maskEnvValue(source, value)
  const fromFile = parseEnvFile(source, r.str('env-file'))
  for (const value of Object.values(fromFile)) maskEnvValue(source, value)
  const env = checkEnv('env', { ...fromFile, ...fromInput })

  const networks = parseNetworks(r.lines('networks'), app)

  const healthPath = parseHealthPath(r.str('health-path', '/health'))
  const expectedStatusValue = r.str('health-status')
  const expectedStatus = expectedStatusValue ? r.int('health-status', 200, 100, 599) : undefined

  const domains = parseDomains(r.str('domains'))
  const previewDomains = parsePreviewDomains(parseDomains(r.str('preview-domains'), 'preview-domains'), domains)

  const proxyName = r.str('proxy-name', 'cutover-proxy')
  if (!APP_NAME.test(proxyName)) {
    throw new InputError(
      'proxy-name',
      `must be lower-case letters, digits and dashes, not starting or ending with a dash (the edge finds ${proxyName}${PROXY_SUFFIX} by DNS name), not "${proxyName}"`
    )
  }
  if (proxyName.length > PROXY_NAME_MAX) {
    throw new InputError(
      'proxy-name',
      `is ${proxyName.length} characters long; at most ${PROXY_NAME_MAX} are allowed, so that ${'<proxy-name>' + PROXY_SUFFIX} fits a ${DNS_LABEL_MAX}-character DNS label`
    )
  }

  const proxyType = r.oneOf('proxy-type', PROXY_TYPES, 'auto')
  const proxyImage = r.str('proxy-image')

  const strategy = parseStrategy(r, app, mode, {
    invalid: (input, message) => new InputError(input, message),
    readFile: (input, path) => readWorkspaceFile(source, input, path)
  })
  const needsHaproxy = strategyProxyProblem(strategy, mode, proxyType, r.str('sticky').toLowerCase() === 'cookie', previewDomains)
  if (needsHaproxy) throw new InputError(needsHaproxy.input, needsHaproxy.message)
  const proxyPort = r.int('proxy-port', 80, 1, 65535)
  // Preview domains are served with the app's certificate: it must cover them too (tls auto asks for them).
  const certified = domains.length ? [...domains, ...previewDomains] : domains
  const tls = parseTls(r, (input, message) => new InputError(input, message), { proxyType, proxyPort, domains: certified, checkImage: parseImage })

  const token = r.secret('github-token')
  const roles = parseRoles(source, app, compose?.workers)

  const ssh = {
    host,
    port,
    user,
    ...targetKey,
    hostKey,
    jump,
    connectTimeoutMs: r.duration('connect-timeout', '20s', 1000)
  }
  const fleetSettings = {
    rollout: r.oneOf('rollout', ROLLOUTS, 'atomic'),
    batchSize: r.int('batch-size', 1, 1, 50),
    rollbackOnFailure: r.bool('rollback-on-failure', true)
  }
  // Once per release, not once per host: not designed for several hosts yet.
  if (hostList.length > 1 && source.get('release-command').trim()) {
    throw new InputError('release-command', 'is not supported with several hosts yet (it would run once per host): run it in a step of its own')
  }
  // A canary, a promote and maintenance are one host's proxy state: not designed for several hosts yet.
  if (hostList.length > 1 && strategy.canaryWeight !== undefined) {
    throw new InputError('canary-weight', 'is not supported with several hosts yet: deploy with rollout atomic or rolling')
  }
  // The watch and its automatic rollback are one host's; with several, a rollback would have to undo them all.
  if (hostList.length > 1 && strategy.watch) {
    throw new InputError('watch', 'is not supported with several hosts yet: watch the release in a step of its own, or deploy one host')
  }
  if (hostList.length > 1 && (strategy.promote || previewDomains.length)) {
    throw new InputError(strategy.promote ? 'promote' : 'preview-domains', "is not supported with several hosts yet (a preview is one host's proxy state)")
  }
  if (hostList.length > 1 && (mode === 'promote' || mode === 'maintenance' || mode === 'live')) {
    throw new InputError('mode', `${mode} is not supported with several hosts yet`)
  }
  if (hostList.length > 1 && source.get('compose-shared-services').trim()) {
    throw new InputError('compose-shared-services', 'is not supported with several hosts yet (each host would get its own copy)')
  }
  // rebuild-ledger (issue #27): only with mode status, one host at a time.
  const rebuildLedger = r.bool('rebuild-ledger', false)
  if (rebuildLedger && mode !== 'status') throw new InputError('rebuild-ledger', `only applies to mode status, not ${mode}`)
  if (rebuildLedger && hostList.length > 1) throw new InputError('rebuild-ledger', "rebuilds one host's ledger: give one host")
  const fleet =
    hostList.length > 1
      ? {
          ...fleetSettings,
          hosts: hostList.map(h => ({ ...ssh, host: h.host, port: h.port, hostKey: parseHostKeyPin(r, h.host, h.port, 'host-fingerprint') }))
        }
      : undefined

  return {
    mode,
    app,
    ssh,
    fleet,
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
      labels: parseLabels(r.lines('labels')),
      restart: parseRestart(r.str('restart', 'unless-stopped')),
      memoryBytes: parseMemory(r.str('memory')),
      nanoCpus: parseCpus(r.str('cpus')),
      command: parseCommand(r.str('command')),
      // The inputs it replaces are empty (parseCompose checks): the compose file's settings win.
      ...compose?.container
    },
    health: {
      // No web role (app-port: none): nothing is probed on any port.
      port: roles.web ? r.int('app-port', 3000, 1, 65535) : 0,
      path: healthPath,
      timeoutMs: r.duration('health-timeout', '60s', 1000),
      intervalMs: r.duration('health-interval', '1s', 100),
      passes: r.int('health-passes', 1, 1, 100),
      expectedStatus
    },
    proxy: {
      type: proxyType,
      name: proxyName,
      image: proxyImage ? parseImage('proxy-image', proxyImage) : undefined,
      port: proxyPort,
      domains,
      ...(r.oneOf('sticky', ['off', 'cookie'], 'off') === 'cookie' ? { sticky: true } : {}),
      ...(previewDomains.length ? { previewDomains } : {}),
      drainTimeoutMs: r.duration('drain-timeout', '30s'),
      tls
    },
    strategy,
    keepPrevious: r.oneOf('keep-previous', KEEP_PREVIOUS, 'running'),
    keepFailed: r.bool('keep-failed', false),
    ...(rebuildLedger ? { rebuildLedger } : {}),
    lockTimeoutMs: r.duration('lock-timeout', '10m'),
    github: {
      deployments: r.bool('deployments', true),
      token,
      environment: r.str('environment', 'production'),
      environmentUrl: parseUrl('environment-url', r.str('environment-url'))
    },
    roles,
    releaseCommand: parseReleaseCommand(source),
    shared: compose?.shared.length ? compose.shared : undefined,
    compose: compose?.settings
  }
}

import { parse as parseDotenv } from 'dotenv'
import type { ContainerSettings } from '../core/config.js'
import { LABEL, networkName } from '../core/names.js'
import { parseCommand } from './command.js'
import { InputError, type InputSource } from './errors.js'
import { CONTROL } from './patterns.js'
import { maskEnvValue, type Reader } from './reader.js'
import { readWorkspaceFile } from './workspace.js'

/** The app container's settings: env, env-file, volumes, networks, labels, restart, limits, command. */

const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
/** Docker's rule for named volumes: at least two characters. */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_.]*$/
/** Label keys as Docker and the OCI conventions use them (com.example.some-key). */
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/

export function parseKeyValues(input: string, lines: string[], keyPattern = ENV_KEY): Record<string, string> {
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
export function checkEnv(input: string, env: Record<string, string>): Record<string, string> {
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

/** Extra networks the app joins besides its own: names Docker accepts, each once. */
export function parseNetworks(lines: string[], app: string): string[] {
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

function parseEnvFile(source: InputSource, path: string): Record<string, string> {
  if (!path) return {}
  return checkEnv('env-file', parseDotenv(readWorkspaceFile(source, 'env-file', path)))
}

/** env and env-file, every value of either masked before anything else can fail and quote it. */
export function parseEnv(r: Reader, source: InputSource): Record<string, string> {
  const fromInput = parseKeyValues('env', r.lines('env'))
  for (const value of Object.values(fromInput)) maskEnvValue(source, value)
  const fromFile = parseEnvFile(source, r.str('env-file'))
  for (const value of Object.values(fromFile)) maskEnvValue(source, value)
  return checkEnv('env', { ...fromFile, ...fromInput })
}

/** The container settings of the inputs (`env` and `networks` read earlier); a compose file's win. */
export function parseContainer(r: Reader, the: { env: Record<string, string>; networks: string[]; compose?: Partial<ContainerSettings> }): ContainerSettings {
  return {
    env: the.env,
    volumes: parseVolumes(r.lines('volumes')),
    networks: the.networks,
    labels: parseLabels(r.lines('labels')),
    restart: parseRestart(r.str('restart', 'unless-stopped')),
    memoryBytes: parseMemory(r.str('memory')),
    nanoCpus: parseCpus(r.str('cpus')),
    command: parseCommand(r.str('command')),
    // The inputs it replaces are empty (parseCompose checks): the compose file's settings win.
    ...the.compose
  }
}

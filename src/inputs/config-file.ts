import { readFileSync } from 'node:fs'
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml'
import { envName } from './env-name.js'
import { InputError } from './errors.js'
import { SETTINGS, type Setting } from './settings.js'

/**
 * The config file (issue #21): every setting under its input's name, plus named `environments:`.
 * Each value is checked here against the typed table (settings.ts) and turned into the text the
 * input would hold, remembering where it was written, so any later refusal names file:line:col.
 */

export interface Position {
  file: string
  line: number
  col: number
}

export interface FileValue {
  /** The value as the action input would hold it (lists one item a line, maps KEY=VALUE lines). */
  text: string
  at: Position
}

export interface ConfigFile {
  path: string
  top: Map<string, FileValue>
  environments: Map<string, { at: Position; values: Map<string, FileValue> }>
  /** Where `environments:` is written (for "no such environment"). */
  environmentsAt?: Position
}

/** A refusal of the config file: where, the key, and what is allowed. */
export class ConfigFileError extends InputError {
  constructor(
    readonly at: Position,
    key: string,
    message: string
  ) {
    super(key, message)
    this.message = `${where(at)}: '${key}' ${message}`
    this.name = 'ConfigFileError'
  }
}

export function where(at: Position): string {
  return `${at.file}:${at.line}:${at.col}`
}

/** Looks like a private key or a token: such text never lives in the file, whatever key holds it. */
const SECRET_TEXT = [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, /\b(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{30,}/, /\bgithub_pat_[A-Za-z0-9_]{30,}/]

/** Reads and checks the file. `env` is the process environment: an `env:` entry without a value takes it from there. */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv, shownPath = path): ConfigFile {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new InputError('config', `names ${shownPath}, which cannot be read: ${(e as Error).message}`)
  }
  return parseConfigFile(text, shownPath, env)
}

export function parseConfigFile(text: string, file: string, env: NodeJS.ProcessEnv): ConfigFile {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false })
  const at = (offset: number): Position => ({ file, ...lineCounter.linePos(offset) })
  const posOf = (node: Node | Pair | null | undefined): Position => {
    const range = node && 'range' in node ? node.range : node && 'key' in node ? (node.key as Node)?.range : undefined
    return at(range?.[0] ?? 0)
  }
  const problem = doc.errors[0]
  if (problem) throw new ConfigFileError(at(problem.pos[0]), 'config', `is not valid YAML: ${problem.message.split('\n')[0]}`)
  const out: ConfigFile = { path: file, top: new Map(), environments: new Map() }
  if (doc.contents === null) return out
  if (!isMap(doc.contents)) throw new ConfigFileError(posOf(doc.contents), 'config', 'must be a map of settings (key: value), such as app: web')
  for (const pair of doc.contents.items) {
    const key = keyOf(pair, posOf)
    if (key === 'environments') {
      out.environmentsAt = posOf(pair.key as Node)
      readEnvironments(pair.value as Node, out, env, posOf)
    } else {
      out.top.set(key, readSetting(key, pair, env, posOf))
    }
  }
  return out
}

type PosOf = (node: Node | Pair | null | undefined) => Position

function keyOf(pair: Pair, posOf: PosOf): string {
  if (!isScalar(pair.key) || typeof pair.key.value !== 'string') throw new ConfigFileError(posOf(pair.key as Node), String(pair.key), 'is not a setting name')
  return pair.key.value
}

function readEnvironments(node: Node | null, out: ConfigFile, env: NodeJS.ProcessEnv, posOf: PosOf): void {
  if (!isMap(node))
    throw new ConfigFileError(posOf(node), 'environments', 'must be a map of environment names to their settings, such as production: { host: ... }')
  for (const envPair of (node as YAMLMap).items) {
    const name = keyOf(envPair, posOf)
    const section = envPair.value as Node | null
    if (!isMap(section)) throw new ConfigFileError(posOf(section ?? (envPair.key as Node)), `environments.${name}`, 'must be a map of settings (key: value)')
    const values = new Map<string, FileValue>()
    for (const pair of section.items) {
      const key = keyOf(pair, posOf)
      if (key === 'environments') throw new ConfigFileError(posOf(pair.key as Node), key, 'cannot be nested inside an environment')
      values.set(key, readSetting(key, pair, env, posOf))
    }
    out.environments.set(name, { at: posOf(envPair.key as Node), values })
  }
}

function readSetting(key: string, pair: Pair, env: NodeJS.ProcessEnv, posOf: PosOf): FileValue {
  const keyAt = posOf(pair.key as Node)
  const setting = SETTINGS[key]
  if (!setting) {
    const near = nearestSetting(key)
    throw new ConfigFileError(
      keyAt,
      key,
      `is not a setting${near ? `; did you mean '${near}'?` : ''} (settings are the action's input names, see docs/configuration.md)`
    )
  }
  if (setting.secret) {
    throw new ConfigFileError(
      keyAt,
      key,
      `is a secret and is never read from the file: give it in the environment variable ${envName(key)} (or the action input, from a secret)`
    )
  }
  if (setting.perRun) throw new ConfigFileError(keyAt, key, `is chosen for each run (the command or the action input), not in the file`)
  const node = pair.value as Node | null
  const valueAt = node ? posOf(node) : keyAt
  const text = toText(key, setting, node, valueAt, env, posOf)
  const secretLooking = SECRET_TEXT.find(p => p.test(text))
  if (secretLooking) {
    throw new ConfigFileError(
      valueAt,
      key,
      `holds what looks like a private key or a token: secrets never live in the file; give it in an environment variable (CUTOVER_<NAME>, or the app's env entry without a value)`
    )
  }
  return { text, at: valueAt }
}

const TYPE_WORDS: Record<Setting['type'], string> = {
  string: 'a string',
  text: 'a string (several lines allowed)',
  boolean: 'true or false',
  integer: 'a whole number',
  number: 'a number',
  duration: 'a duration such as 30s, 2m or a number of seconds',
  list: 'a list of strings (or one string)',
  map: 'a map of NAME: value',
  enum: 'one of'
}

function allowed(setting: Setting): string {
  return setting.type === 'enum' ? `one of ${setting.values!.join(', ')}` : TYPE_WORDS[setting.type]
}

function toText(key: string, setting: Setting, node: Node | null, at: Position, env: NodeJS.ProcessEnv, posOf: PosOf): string {
  const wrong = (what: string): never => {
    throw new ConfigFileError(at, key, `must be ${allowed(setting)}, not ${what}`)
  }
  if (node === null || (isScalar(node) && node.value === null)) return ''
  if (setting.type === 'list') {
    if (isSeq(node)) return node.items.map(item => scalarText(key, item as Node, posOf, 'a string')).join('\n')
    return scalarText(key, node, posOf, 'a list of strings')
  }
  if (setting.type === 'map') return mapText(key, setting, node, env, posOf)
  if (!isScalar(node)) return wrong(isSeq(node) ? 'a list' : 'a map')
  const value = node.value
  switch (setting.type) {
    case 'boolean':
      return typeof value === 'boolean' ? String(value) : wrong(JSON.stringify(value))
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value) ? String(value) : wrong(JSON.stringify(value))
    case 'number':
      return typeof value === 'number' || (typeof value === 'string' && /^\d+(\.\d+)?$/.test(value)) ? String(value) : wrong(JSON.stringify(value))
    case 'duration':
      return typeof value === 'number' || typeof value === 'string' ? String(value) : wrong(JSON.stringify(value))
    case 'enum':
      return typeof value === 'string' && setting.values!.includes(value) ? value : wrong(JSON.stringify(value))
    default:
      return typeof value === 'string' || typeof value === 'number' ? String(value) : wrong(JSON.stringify(value))
  }
}

function scalarText(key: string, node: Node | null, posOf: PosOf, expected: string): string {
  if (!isScalar(node) || (typeof node.value !== 'string' && typeof node.value !== 'number')) {
    throw new ConfigFileError(
      posOf(node),
      key,
      `must be ${expected}, not ${isSeq(node) ? 'a list' : isMap(node) ? 'a map' : JSON.stringify(isScalar(node) ? node.value : null)}`
    )
  }
  return String(node.value)
}

/** env, labels, workers: a map (or a list of KEY=VALUE strings). An env entry with no value takes the process's variable of that name. */
function mapText(key: string, setting: Setting, node: Node, env: NodeJS.ProcessEnv, posOf: PosOf): string {
  if (isSeq(node)) return node.items.map(item => scalarText(key, item as Node, posOf, 'a string such as NAME=value')).join('\n')
  if (!isMap(node)) throw new ConfigFileError(posOf(node), key, `must be ${TYPE_WORDS.map}, not ${JSON.stringify(isScalar(node) ? node.value : null)}`)
  const lines: string[] = []
  for (const pair of node.items) {
    const name = keyOf(pair, posOf)
    const value = pair.value as Node | null
    let text: string
    if (value === null || (isScalar(value) && value.value === null)) {
      const fromEnv = key === 'env' ? env[name] : undefined
      if (fromEnv === undefined) {
        throw new ConfigFileError(
          posOf(pair.key as Node),
          `${key}.${name}`,
          key === 'env' ? `has no value and the environment has no variable ${name}: set it, or give a value` : 'needs a value'
        )
      }
      text = fromEnv
    } else if (isScalar(value) && ['string', 'number', 'boolean'].includes(typeof value.value)) {
      text = String(value.value)
    } else {
      throw new ConfigFileError(posOf(value), `${key}.${name}`, 'must be a string, a number or true/false')
    }
    lines.push(`${name}${setting.join}${text}`)
  }
  return lines.join('\n')
}

/** The setting whose name is closest to `key` (within a third of its length), for "did you mean". */
export function nearestSetting(key: string): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1
  for (const name of [...Object.keys(SETTINGS), 'environments']) {
    const d = editDistance(key, name)
    if (d < bestDistance) [best, bestDistance] = [name, d]
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    previous = row
  }
  return previous[b.length]
}

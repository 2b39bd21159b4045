/** Inputs of the app's roles: workers, `app-port: none`, and the release command. */
import type { ReleaseCommandSettings, RoleSettings, WorkerHandover, WorkerRole } from '../core/config.js'
import { workerAsideName } from '../core/names.js'
import { parseDuration } from './duration.js'
import { DNS_LABEL_MAX, MAX_DURATION_MS } from './patterns.js'
import { InputError, type InputSource } from './errors.js'
import { parseCommand } from './command.js'
import { readCompose, type ComposeApp } from './compose.js'

const WORKER_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/

function duration(source: InputSource, name: string, fallback: string, minMs: number): number {
  const v = source.get(name).trim() || fallback
  const ms = parseDuration(v)
  if (ms === undefined) throw new InputError(name, `must be a duration such as 30s, 1500ms, 2m or a number of seconds, not "${v}"`)
  if (ms < minMs) throw new InputError(name, `must be at least ${minMs} ms, not "${v}"`)
  if (ms > MAX_DURATION_MS) throw new InputError(name, `must be at most 24h, not "${v}"`)
  return ms
}

/** `name: command` per line; names are container-name parts, each once. */
export function parseWorkers(text: string, app: string): WorkerRole[] {
  const workers: WorkerRole[] = []
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const colon = line.indexOf(':')
    const name = colon > 0 ? line.slice(0, colon).trim() : ''
    if (!WORKER_NAME.test(name)) {
      throw new InputError('workers', `has a line that is not "name: command" with a name of lower-case letters, digits and dashes: "${line.slice(0, 60)}"`)
    }
    if (workers.some(w => w.name === name)) throw new InputError('workers', `names the worker "${name}" twice`)
    const longest = workerAsideName(app, 'green', name)
    if (longest.length > DNS_LABEL_MAX) {
      throw new InputError('workers', `has the worker "${name}", whose container name ${longest} would be longer than ${DNS_LABEL_MAX} characters: shorten it`)
    }
    const command = parseCommand(line.slice(colon + 1).trim(), 'workers')
    if (!command?.length) throw new InputError('workers', `gives no command for the worker "${name}"`)
    workers.push({ name, command })
  }
  return workers
}

function parseHandover(text: string): WorkerHandover {
  const v = text.trim().toLowerCase() || 'stop-first'
  if (v !== 'stop-first' && v !== 'overlap') throw new InputError('worker-handover', `must be stop-first or overlap, not "${text.trim()}"`)
  return v
}

/** The roles: a web role unless `app-port: none`, and the workers. */
export function parseRoles(source: InputSource, app: string, composeWorkers?: WorkerRole[]): RoleSettings {
  const web = source.get('app-port').trim().toLowerCase() !== 'none'
  const workers = composeWorkers ?? parseWorkers(source.get('workers'), app)
  if (!web && !workers.length) {
    throw new InputError('app-port', "is none (no web role), so 'workers' must name at least one worker: there would be nothing to deploy")
  }
  if (!web && source.get('domains').trim()) throw new InputError('domains', "cannot be routed with app-port: none (no web role, no proxy): remove 'domains'")
  return {
    web,
    workers,
    minUptimeMs: duration(source, 'worker-min-uptime', '10s', 0),
    stopTimeoutMs: duration(source, 'worker-stop-timeout', '30s', 0),
    handover: parseHandover(source.get('worker-handover'))
  }
}

export function parseReleaseCommand(source: InputSource): ReleaseCommandSettings | undefined {
  const command = parseCommand(source.get('release-command').trim(), 'release-command')
  const timeoutMs = duration(source, 'release-timeout', '10m', 1000)
  return command?.length ? { command, timeoutMs } : undefined
}

/** Inputs a compose file replaces: giving both would leave one silently ignored. */
const COMPOSE_REPLACES = ['env', 'env-file', 'volumes', 'networks', 'labels', 'command', 'memory', 'cpus', 'workers']
const RESERVED_SERVICE = /^(blue|green|release)(-|$)/

/** compose-file, compose-service and compose-shared-services; undefined without a compose file. */
export function parseCompose(source: InputSource, app: string, image: string | undefined): ComposeApp | undefined {
  const path = source.get('compose-file').trim()
  const service = source.get('compose-service').trim()
  const shared = source
    .get('compose-shared-services')
    .split(/[\s,]+/)
    .filter(Boolean)
  const update = source.get('compose-shared-update').trim().toLowerCase()
  if (!path) {
    if (service) throw new InputError('compose-service', "only applies with 'compose-file'")
    if (shared.length) throw new InputError('compose-shared-services', "only applies with 'compose-file'")
    if (update) throw new InputError('compose-shared-update', "only applies with 'compose-file'")
    return undefined
  }
  if (update && update !== 'keep' && update !== 'recreate') throw new InputError('compose-shared-update', `must be keep or recreate, not "${update}"`)
  for (const input of COMPOSE_REPLACES) {
    if (source.get(input).trim()) throw new InputError(input, "cannot be combined with 'compose-file': set it in the compose file")
  }
  if (!service) throw new InputError('compose-service', "is required with 'compose-file': name the service the proxy routes to")
  for (const s of shared) {
    if (RESERVED_SERVICE.test(s))
      throw new InputError('compose-shared-services', `names "${s}", whose container ${app}-${s} would look like one of cutover's own; rename the service`)
  }
  return readCompose(source, app, path, service, shared, image, update === 'recreate' ? 'recreate' : 'keep')
}

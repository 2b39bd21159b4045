/**
 * `compose-file`: a docker-compose.yml of the repository, read into cutover's own settings. The
 * routed service (`compose-service`) is the web role; the other services of the same image are
 * its workers; `compose-shared-services` (a database, a queue) run once, outside the colors.
 * Only the keys small apps use are accepted; any other is refused, by name.
 */
import { readFileSync, realpathSync } from 'node:fs'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { parse as parseDotenv } from 'dotenv'
import YAML from 'yaml'
import type { ContainerSettings, SharedService, WorkerRole } from '../core/config.js'
import { InputError, parseCommand, type InputSource } from './parse.js'

const SERVICE_KEYS = ['image', 'command', 'environment', 'env_file', 'volumes', 'networks', 'depends_on', 'healthcheck', 'labels', 'deploy']
const TOP_KEYS = ['services', 'volumes', 'networks', 'name', 'version']
const SERVICE_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/

/** What a compose file sets, in cutover's terms. */
export interface ComposeApp {
  /** The routed service's image (the `image` input, when given, replaces it and every service of the same image). */
  image: string
  container: Pick<ContainerSettings, 'env' | 'volumes' | 'networks' | 'labels' | 'command' | 'memoryBytes' | 'nanoCpus' | 'healthcheck'>
  workers: WorkerRole[]
  shared: SharedService[]
}

type Obj = Record<string, unknown>

function fail(message: string): never {
  throw new InputError('compose-file', message)
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A file of the workspace (symbolic links resolved), as env-file: nothing of the runner outside it. */
function readWorkspaceFile(source: InputSource, path: string, what: string): string {
  const full = isAbsolute(path) ? path : resolve(source.workspace, path)
  try {
    const real = realpathSync(full)
    const rel = relative(realpathSync(source.workspace), real)
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) fail(`names ${what} ${path}, which is outside the workspace`)
    return readFileSync(real, 'utf8')
  } catch (e) {
    if (e instanceof InputError) throw e
    fail(`names ${what} ${path}, which cannot be read: ${(e as Error).message}`)
  }
}

/** Compose's `${VAR}` interpolation reads the runner's environment: refused rather than guessed. */
function checkNoInterpolation(value: unknown, where: string): void {
  if (typeof value === 'string' && /\$(\{|[A-Za-z_])/.test(value.replace(/\$\$/g, ''))) {
    fail(`has "${value.slice(0, 60)}" in ${where}: variable interpolation is not supported (put values in environment or env_file; write $$ for a literal $)`)
  }
  if (Array.isArray(value)) value.forEach(v => checkNoInterpolation(v, where))
  if (isObj(value)) Object.values(value).forEach(v => checkNoInterpolation(v, where))
}

function unescapeDollars(value: string): string {
  return value.replace(/\$\$/g, '$')
}

function keyValues(value: unknown, where: string): Record<string, string> {
  if (value === undefined) return {}
  const out: Record<string, string> = {}
  if (Array.isArray(value)) {
    for (const item of value) {
      const s = String(item)
      const eq = s.indexOf('=')
      if (eq <= 0) fail(`has "${s.slice(0, 40)}" in ${where}, which is not KEY=VALUE (a KEY alone, taken from the runner's environment, is not supported)`)
      out[s.slice(0, eq)] = unescapeDollars(s.slice(eq + 1))
    }
    return out
  }
  if (!isObj(value)) fail(`has ${where} that is neither a list nor a mapping`)
  for (const [k, v] of Object.entries(value)) {
    if (v === null || v === undefined) fail(`has ${k} without a value in ${where} (taking it from the runner's environment is not supported)`)
    out[k] = unescapeDollars(String(v))
  }
  return out
}

function command(value: unknown, where: string): string[] | undefined {
  if (value === undefined) return undefined
  if (Array.isArray(value)) return value.map(v => unescapeDollars(String(v)))
  if (typeof value !== 'string') fail(`has a ${where} that is neither a string nor a list`)
  return parseCommand(unescapeDollars(value), 'compose-file')
}

/** Compose durations: 1m30s, 10s, 500ms. */
function nanos(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(String(value))
  if (!m || String(value) === '') fail(`has ${where} "${value}", which is not a duration such as 10s or 1m30s`)
  const ms = (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1000 + Number(m[4] ?? 0)
  return ms * 1e6
}

function healthcheck(value: unknown, service: string): ContainerSettings['healthcheck'] {
  if (value === undefined) return undefined
  if (!isObj(value)) fail(`has a healthcheck in service "${service}" that is not a mapping`)
  for (const k of Object.keys(value)) {
    if (!['test', 'interval', 'timeout', 'retries', 'start_period', 'disable'].includes(k))
      fail(`has the healthcheck key "${k}" in service "${service}", which cutover does not support`)
  }
  if (value.disable === true) return { test: ['NONE'] }
  const test = Array.isArray(value.test) ? value.test.map(String) : typeof value.test === 'string' ? ['CMD-SHELL', value.test] : undefined
  if (!test?.length) fail(`has a healthcheck without a test in service "${service}"`)
  return {
    test,
    intervalNs: nanos(value.interval, `healthcheck.interval of "${service}"`),
    timeoutNs: nanos(value.timeout, `healthcheck.timeout of "${service}"`),
    startPeriodNs: nanos(value.start_period, `healthcheck.start_period of "${service}"`),
    retries: value.retries === undefined ? undefined : Number(value.retries)
  }
}

function limits(value: unknown, service: string): { memoryBytes?: number; nanoCpus?: number } {
  if (value === undefined) return {}
  const only = isObj(value) && Object.keys(value).every(k => k === 'resources')
  const resources = isObj(value) ? value.resources : undefined
  if (!only || !isObj(resources) || Object.keys(resources).some(k => k !== 'limits')) {
    fail(`has deploy keys in service "${service}" other than resources.limits, which cutover does not support`)
  }
  const l = resources.limits
  if (!isObj(l) || Object.keys(l).some(k => k !== 'memory' && k !== 'cpus'))
    fail(`has deploy.resources.limits in service "${service}" with keys other than memory and cpus`)
  const out: { memoryBytes?: number; nanoCpus?: number } = {}
  if (l.memory !== undefined) {
    const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(String(l.memory))
    if (!m) fail(`has deploy.resources.limits.memory "${l.memory}" in service "${service}", which is not a size such as 512m`)
    out.memoryBytes = Math.round(Number(m[1]) * { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()]!)
  }
  if (l.cpus !== undefined) {
    const n = Number(l.cpus)
    if (!(n >= 0.01)) fail(`has deploy.resources.limits.cpus "${l.cpus}" in service "${service}", which is not a number of at least 0.01`)
    out.nanoCpus = Math.round(n * 1e9)
  }
  return out
}

interface ServiceSettings {
  name: string
  image?: string
  command?: string[]
  env: Record<string, string>
  volumes: string[]
  networks: string[]
  labels: Record<string, string>
  dependsOn: { service: string; condition: 'service_started' | 'service_healthy' }[]
  healthcheck?: ContainerSettings['healthcheck']
  memoryBytes?: number
  nanoCpus?: number
}

function service(source: InputSource, app: string, name: string, raw: unknown, top: { volumes: Obj; networks: Obj }): ServiceSettings {
  if (!SERVICE_NAME.test(name)) fail(`has the service "${name}": service names must be lower-case letters, digits and dashes here`)
  if (!isObj(raw)) fail(`has the service "${name}" that is not a mapping`)
  for (const key of Object.keys(raw)) {
    if (!SERVICE_KEYS.includes(key) && !key.startsWith('x-')) {
      fail(`uses the key "${key}" in service "${name}", which cutover does not support (supported: ${SERVICE_KEYS.join(', ')})`)
    }
  }
  checkNoInterpolation(raw, `service "${name}"`)
  const envFiles = raw.env_file === undefined ? [] : Array.isArray(raw.env_file) ? raw.env_file.map(String) : [String(raw.env_file)]
  const env: Record<string, string> = {}
  for (const f of envFiles) Object.assign(env, parseDotenv(readWorkspaceFile(source, f, `the env_file of "${name}",`)))
  Object.assign(env, keyValues(raw.environment, `the environment of "${name}"`))
  const volumes = (Array.isArray(raw.volumes) ? raw.volumes : raw.volumes === undefined ? [] : fail(`has volumes in "${name}" that are not a list`)).map(v => {
    if (typeof v !== 'string') fail(`has a volume in "${name}" in the long syntax; only source:target[:ro] is supported`)
    const [src, ...rest] = v.split(':')
    if (rest.length === 0) fail(`has the volume "${v}" in "${name}" without a source (anonymous volumes are not supported)`)
    if (src.startsWith('.')) fail(`has the volume "${v}" in "${name}": a relative path would not be the repository on the host; use an absolute path`)
    if (src.startsWith('/')) return v
    if (!(src in top.volumes)) fail(`has the volume "${v}" in "${name}", but "${src}" is not declared under the top-level volumes`)
    const declared = top.volumes[src]
    const external = isObj(declared) && declared.external === true
    // Named volumes belong to the app, as compose prefixes them with the project.
    return [external ? String((declared as Obj).name ?? src) : `${app}_${src}`, ...rest].join(':')
  })
  const networkNames = Array.isArray(raw.networks) ? raw.networks.map(String) : isObj(raw.networks) ? Object.keys(raw.networks) : []
  const networks = networkNames
    .filter(n => n !== 'default')
    .map(n => {
      const declared = top.networks[n]
      if (!isObj(declared) || declared.external !== true) {
        fail(`has the network "${n}" in "${name}": only external networks (external: true) are supported; every service joins the app's own network`)
      }
      return String(declared.name ?? n)
    })
  const dependsOn: ServiceSettings['dependsOn'] = []
  if (Array.isArray(raw.depends_on)) for (const d of raw.depends_on) dependsOn.push({ service: String(d), condition: 'service_started' })
  else if (isObj(raw.depends_on)) {
    for (const [d, spec] of Object.entries(raw.depends_on)) {
      const condition = isObj(spec) ? (spec.condition ?? 'service_started') : 'service_started'
      if (condition !== 'service_started' && condition !== 'service_healthy') {
        fail(`has depends_on ${d} with condition ${condition} in "${name}"; supported: service_started, service_healthy (use release-command for one-off jobs)`)
      }
      dependsOn.push({ service: d, condition })
    }
  }
  return {
    name,
    image: raw.image === undefined ? undefined : String(raw.image),
    command: command(raw.command, `command in "${name}"`),
    env,
    volumes,
    networks,
    labels: labels(raw.labels, name),
    dependsOn,
    healthcheck: healthcheck(raw.healthcheck, name),
    ...limits(raw.deploy, name)
  }
}

function labels(value: unknown, service: string): Record<string, string> {
  const out = keyValues(value, `the labels of "${service}"`)
  const reserved = Object.keys(out).find(k => k.toLowerCase().startsWith('cutover.'))
  if (reserved) fail(`has the label "${reserved}" in "${service}", but the cutover. prefix is reserved for the labels cutover itself sets`)
  return out
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Reads and checks the compose file; throws InputError naming what cutover cannot do with it. */
export function readCompose(source: InputSource, app: string, path: string, routed: string, sharedNames: string[], imageInput?: string): ComposeApp {
  let doc: unknown
  try {
    doc = YAML.parse(readWorkspaceFile(source, path, 'the file'))
  } catch (e) {
    if (e instanceof InputError) throw e
    fail(`names ${path}, which is not valid YAML: ${(e as Error).message.split('\n')[0]}`)
  }
  if (!isObj(doc) || !isObj(doc.services)) fail(`names ${path}, which has no services`)
  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.includes(key) && !key.startsWith('x-'))
      fail(`uses the top-level key "${key}", which cutover does not support (supported: ${TOP_KEYS.join(', ')})`)
  }
  const top = { volumes: isObj(doc.volumes) ? doc.volumes : {}, networks: isObj(doc.networks) ? doc.networks : {} }
  const services = Object.entries(doc.services).map(([name, raw]) => service(source, app, name, raw, top))
  const byName = new Map(services.map(s => [s.name, s]))
  const web = byName.get(routed)
  if (!web) throw new InputError('compose-service', `names "${routed}", which ${path} does not define (it has ${[...byName.keys()].join(', ')})`)
  for (const s of sharedNames) {
    if (!byName.has(s)) throw new InputError('compose-shared-services', `names "${s}", which ${path} does not define`)
    if (s === routed) throw new InputError('compose-shared-services', `names "${s}", the routed service (compose-service), which is deployed per color`)
  }
  for (const s of services) {
    for (const d of s.dependsOn) if (!byName.has(d.service)) fail(`has "${s.name}" depend on "${d.service}", which it does not define`)
    if (!sharedNames.includes(s.name) && s.dependsOn.some(d => !sharedNames.includes(d.service) && d.service !== routed)) {
      fail(`has "${s.name}" depend on a service of the release other than ${routed}; the release starts ${routed} first, then the others`)
    }
  }
  const image = imageInput ?? web.image
  if (!image) fail(`has no image for the routed service "${routed}" (set it there or in the 'image' input)`)
  const workers: WorkerRole[] = []
  for (const s of services.filter(x => x !== web && !sharedNames.includes(x.name))) {
    const problem =
      s.image !== web.image
        ? 'image'
        : !same(s.env, web.env)
          ? 'environment'
          : !same(s.volumes, web.volumes)
            ? 'volumes'
            : !same(s.networks, web.networks)
              ? 'networks'
              : undefined
    if (problem) {
      fail(
        `has "${s.name}" with other ${problem} than the routed service "${routed}": cutover runs the services of a release as workers of one image with the same settings; make them equal, or list "${s.name}" in compose-shared-services`
      )
    }
    if (!s.command?.length) fail(`has "${s.name}" without a command: a worker of ${routed}'s image needs its own command`)
    workers.push({ name: s.name, command: s.command })
  }
  const shared: SharedService[] = sharedNames.map(n => {
    const s = byName.get(n)!
    if (!s.image) fail(`has no image for the shared service "${n}"`)
    return {
      name: n,
      image: s.image,
      command: s.command,
      env: s.env,
      volumes: s.volumes,
      networks: s.networks,
      labels: s.labels,
      healthcheck: s.healthcheck,
      memoryBytes: s.memoryBytes,
      nanoCpus: s.nanoCpus,
      dependsOn: s.dependsOn.filter(d => sharedNames.includes(d.service))
    }
  })
  // Start order: a shared service after those it depends on.
  const ordered: SharedService[] = []
  const visit = (s: SharedService, path: string[]) => {
    if (ordered.includes(s)) return
    if (path.includes(s.name)) fail(`has a depends_on cycle: ${[...path, s.name].join(' -> ')}`)
    for (const d of s.dependsOn)
      visit(
        shared.find(x => x.name === d.service)!,
        [...path, s.name]
      )
    ordered.push(s)
  }
  shared.forEach(s => visit(s, []))
  return {
    image,
    container: {
      env: web.env,
      volumes: web.volumes,
      networks: web.networks,
      labels: web.labels,
      command: web.command,
      memoryBytes: web.memoryBytes,
      nanoCpus: web.nanoCpus,
      healthcheck: web.healthcheck
    },
    workers,
    shared: ordered
  }
}

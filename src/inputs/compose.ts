/**
 * `compose-file`: a docker-compose.yml of the repository, read into cutover's own settings. The
 * routed service (`compose-service`) is the web role; the other services are its workers, deployed
 * per color (of the release's image when they use the routed service's, else of their own), each
 * with its own settings; `compose-shared-services` (a database, a queue) run once, outside the
 * colors. Only the keys small apps use are accepted; any other is refused, by name.
 */
import { readFileSync, realpathSync } from 'node:fs'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { parse as parseDotenv } from 'dotenv'
import YAML from 'yaml'
import type { ComposeSettings, ContainerSettings, DependsOn, SharedService, WorkerRole } from '../core/config.js'
import { workerAsideName } from '../core/names.js'
import { InputError, type InputSource } from './errors.js'
import { parseCommand } from './command.js'
import { DNS_LABEL_MAX } from './patterns.js'
import { HOST_LEVEL_KEYS } from './host-access.js'

const SERVICE_KEYS = ['image', 'command', 'environment', 'env_file', 'volumes', 'networks', 'depends_on', 'healthcheck', 'labels', 'deploy']
const TOP_KEYS = ['services', 'volumes', 'networks', 'name', 'version']
const SERVICE_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

/** A service's own settings (the restart policy is the 'restart' input's, for every service). */
export type ServiceSettings = Omit<ContainerSettings, 'restart'>

/** What a compose file sets, in cutover's terms. */
export interface ComposeApp {
  /** The routed service's image (the `image` input, when given, replaces it and every service of the same image). */
  image: string
  container: Pick<ContainerSettings, 'env' | 'volumes' | 'networks' | 'labels' | 'command' | 'memoryBytes' | 'nanoCpus' | 'healthcheck' | 'composeService'>
  /** In start order: a worker after the workers it depends on. */
  workers: WorkerRole[]
  shared: SharedService[]
  /** The project's own networks and the shared-service update rule. */
  settings: ComposeSettings
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

interface Service {
  name: string
  image?: string
  command?: string[]
  env: Record<string, string>
  volumes: string[]
  networks: string[]
  labels: Record<string, string>
  dependsOn: DependsOn[]
  healthcheck?: ContainerSettings['healthcheck']
  memoryBytes?: number
  nanoCpus?: number
}

interface Top {
  volumes: Obj
  networks: Obj
}

/** A named volume's name on the host: the app's own as `<app>_<name>` (compose prefixes them with the project), an external one as declared. */
function namedVolume(app: string, src: string, where: string, top: Top): string {
  if (!(src in top.volumes)) fail(`has the volume "${where}", but "${src}" is not declared under the top-level volumes`)
  const declared = top.volumes[src]
  const external = isObj(declared) && declared.external === true
  return external ? String((declared as Obj).name ?? src) : `${app}_${src}`
}

const LONG_VOLUME_KEYS = ['type', 'source', 'target', 'read_only']

/** One `volumes` entry, short (source:target[:ro]) or long ({ type, source, target, read_only }), as a Docker bind. */
function volume(app: string, name: string, v: unknown, top: Top): string {
  if (isObj(v)) {
    const extra = Object.keys(v).find(k => !LONG_VOLUME_KEYS.includes(k))
    if (extra) fail(`has the volume key "${extra}" in "${name}", which cutover does not support (supported: ${LONG_VOLUME_KEYS.join(', ')})`)
    if (v.type !== 'volume' && v.type !== 'bind') fail(`has a volume of type ${JSON.stringify(v.type)} in "${name}"; supported: volume, bind`)
    if (typeof v.source !== 'string' || !v.source) fail(`has a ${v.type} volume without a source in "${name}" (anonymous volumes are not supported)`)
    if (typeof v.target !== 'string' || !v.target.startsWith('/')) fail(`has a volume in "${name}" whose target is not an absolute path`)
    if (v.read_only !== undefined && typeof v.read_only !== 'boolean') fail(`has a volume in "${name}" whose read_only is not true or false`)
    const short = `${v.source}:${v.target}${v.read_only ? ':ro' : ''}`
    if (v.type === 'bind' && !v.source.startsWith('/'))
      fail(`has the bind mount "${short}" in "${name}": use an absolute path (a relative one would not be the repository on the host)`)
    if (v.type === 'volume' && v.source.includes('/')) fail(`has the volume "${short}" in "${name}" of type volume whose source is a path; use type: bind`)
    return v.type === 'bind' ? short : [namedVolume(app, v.source, short, top), v.target, ...(v.read_only ? ['ro'] : [])].join(':')
  }
  if (typeof v !== 'string') fail(`has a volume in "${name}" that is neither source:target[:ro] nor a mapping`)
  const [src, ...rest] = v.split(':')
  if (rest.length === 0) fail(`has the volume "${v}" in "${name}" without a source (anonymous volumes are not supported)`)
  if (src.startsWith('.')) fail(`has the volume "${v}" in "${name}": a relative path would not be the repository on the host; use an absolute path`)
  if (src.startsWith('/')) return v
  return [namedVolume(app, src, v, top), ...rest].join(':')
}

/** A network's name on the host: the app's own as `<app>_<name>` (created by the deploy), an external one as declared. */
function network(app: string, service: string, n: string, top: Top): string {
  if (!(n in top.networks)) fail(`has the network "${n}" in "${service}", but it is not declared under the top-level networks`)
  const declared = top.networks[n]
  return isObj(declared) && declared.external === true ? String(declared.name ?? n) : `${app}_${n}`
}

/** The top-level networks: external ones (which must exist) or the app's own, without options. */
function checkTopNetworks(networks: Obj): void {
  for (const [n, declared] of Object.entries(networks)) {
    if (!NETWORK_NAME.test(n)) fail(`has the network name "${n}", which is not a Docker network name`)
    if (declared === null || declared === undefined) continue
    if (!isObj(declared)) fail(`has the network "${n}" that is not a mapping`)
    const external = declared.external === true
    const allowed = external ? ['external', 'name'] : ['external']
    const extra = Object.keys(declared).find(k => !allowed.includes(k))
    if (extra) {
      fail(
        `has the key "${extra}" in the network "${n}", which cutover does not support (an external network may have a name; the app's own networks are plain bridges, with no options)`
      )
    }
  }
}

function dependsOn(value: unknown, name: string): DependsOn[] {
  const out: DependsOn[] = []
  if (value === undefined) return out
  if (Array.isArray(value)) {
    for (const d of value) out.push({ service: String(d), condition: 'service_started' })
    return out
  }
  if (!isObj(value)) fail(`has depends_on in "${name}" that is neither a list nor a mapping`)
  for (const [d, spec] of Object.entries(value)) {
    if (spec !== null && !isObj(spec)) fail(`has depends_on ${d} in "${name}" that is not a mapping`)
    const extra = isObj(spec) ? Object.keys(spec).find(k => k !== 'condition') : undefined
    if (extra) fail(`has the depends_on key "${extra}" (under ${d}) in "${name}", which cutover does not support (only condition)`)
    const condition = isObj(spec) ? (spec.condition ?? 'service_started') : 'service_started'
    if (condition !== 'service_started' && condition !== 'service_healthy') {
      fail(
        `has depends_on ${d} with condition ${condition} in "${name}"; supported: service_started, service_healthy (use release-command for one-off jobs such as migrations)`
      )
    }
    out.push({ service: d, condition })
  }
  return out
}

function service(source: InputSource, app: string, name: string, raw: unknown, top: Top): Service {
  if (!SERVICE_NAME.test(name)) fail(`has the service "${name}": service names must be lower-case letters, digits and dashes here`)
  if (!isObj(raw)) fail(`has the service "${name}" that is not a mapping`)
  for (const key of Object.keys(raw)) {
    if (key in HOST_LEVEL_KEYS) {
      fail(
        `uses "${key}" in service "${name}", which gives the container ${HOST_LEVEL_KEYS[key]}: cutover starts no container with host-level access (docs/security.md "Host-level access"); run such a service outside cutover`
      )
    }
    if (!SERVICE_KEYS.includes(key) && !key.startsWith('x-')) {
      fail(`uses the key "${key}" in service "${name}", which cutover does not support (supported: ${SERVICE_KEYS.join(', ')})`)
    }
  }
  checkNoInterpolation(raw, `service "${name}"`)
  const envFiles = raw.env_file === undefined ? [] : Array.isArray(raw.env_file) ? raw.env_file.map(String) : [String(raw.env_file)]
  const env: Record<string, string> = {}
  for (const f of envFiles) Object.assign(env, parseDotenv(readWorkspaceFile(source, f, `the env_file of "${name}",`)))
  Object.assign(env, keyValues(raw.environment, `the environment of "${name}"`))
  const rawVolumes = Array.isArray(raw.volumes) ? raw.volumes : raw.volumes === undefined ? [] : fail(`has volumes in "${name}" that are not a list`)
  const networkNames = Array.isArray(raw.networks) ? raw.networks.map(String) : isObj(raw.networks) ? Object.keys(raw.networks) : []
  if (isObj(raw.networks)) {
    for (const [n, opts] of Object.entries(raw.networks)) {
      if (opts !== null && !(isObj(opts) && Object.keys(opts).length === 0)) {
        fail(`has options under the network "${n}" in "${name}" (aliases, addresses...), which cutover does not support`)
      }
    }
  }
  return {
    name,
    image: raw.image === undefined ? undefined : String(raw.image),
    command: command(raw.command, `command in "${name}"`),
    env,
    volumes: rawVolumes.map(v => volume(app, name, v, top)),
    // `default` is the app's own network, which every service joins.
    networks: networkNames.filter(n => n !== 'default').map(n => network(app, name, n, top)),
    labels: labels(raw.labels, name),
    dependsOn: dependsOn(raw.depends_on, name),
    healthcheck: healthcheck(raw.healthcheck, name),
    ...limits(raw.deploy, name)
  }
}

function labels(value: unknown, service: string): Record<string, string> {
  const out = keyValues(value, `the labels of "${service}"`)
  const reserved = Object.keys(out).find(k => k.toLowerCase().startsWith('cutover.') || k.toLowerCase().startsWith('com.docker.compose.'))
  if (reserved)
    fail(`has the label "${reserved}" in "${service}", but the cutover. and com.docker.compose. prefixes are reserved for the labels cutover itself sets`)
  return out
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function settingsOf(s: Service): ServiceSettings {
  return {
    env: s.env,
    volumes: s.volumes,
    networks: s.networks,
    labels: s.labels,
    command: s.command,
    memoryBytes: s.memoryBytes,
    nanoCpus: s.nanoCpus,
    healthcheck: s.healthcheck,
    composeService: s.name
  }
}

/** The services in an order where each comes after those it depends on (among `within`); fails on a cycle. */
function startOrder<T extends { name: string; dependsOn: DependsOn[] }>(services: T[]): T[] {
  const ordered: T[] = []
  const visit = (s: T, path: string[]) => {
    if (ordered.includes(s)) return
    if (path.includes(s.name)) fail(`has a depends_on cycle: ${[...path, s.name].join(' -> ')}`)
    for (const d of s.dependsOn) {
      const dep = services.find(x => x.name === d.service)
      if (dep) visit(dep, [...path, s.name])
    }
    ordered.push(s)
  }
  services.forEach(s => visit(s, []))
  return ordered
}

/** The compose file as YAML, with only the top-level keys cutover supports. */
function readComposeDoc(source: InputSource, path: string): { services: Obj; top: Top } {
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
  checkTopNetworks(top.networks)
  return { services: doc.services, top }
}

/** Every dependency exists; shared services and the routed one depend only on shared services. */
function checkDependencies(services: Service[], byName: Map<string, Service>, routed: string, isShared: (name: string) => boolean): void {
  for (const s of services) {
    for (const d of s.dependsOn) if (!byName.has(d.service)) fail(`has "${s.name}" depend on "${d.service}", which it does not define`)
    const perColor = s.dependsOn.filter(d => !isShared(d.service))
    if (isShared(s.name) && perColor.length) {
      fail(
        `has the shared service "${s.name}" depend on "${perColor[0].service}", which is deployed per color: a shared service may only depend on shared services`
      )
    }
    if (s.name === routed && perColor.length) {
      fail(
        `has the routed service "${routed}" depend on "${perColor[0].service}", which is deployed per color: the release starts ${routed} first (health-gated), then the other services; ${routed} may only depend on shared services`
      )
    }
  }
}

/** A service deployed per color beside the routed one: a worker of the release. */
function workerOf(s: Service, web: Service, app: string, isShared: (name: string) => boolean): WorkerRole {
  // A service of the routed service's image follows the release (the image input); another image is its own.
  const ownImage = s.image !== undefined && s.image !== web.image ? s.image : undefined
  if (!ownImage && !s.command?.length) fail(`has "${s.name}" without a command: a worker of ${web.name}'s image needs its own command`)
  const longest = workerAsideName(app, 'green', s.name)
  if (longest.length > DNS_LABEL_MAX)
    fail(`has the service "${s.name}", whose container name ${longest} would be longer than ${DNS_LABEL_MAX} characters: shorten it`)
  const settings = settingsOf(s)
  const { composeService: _a, command: _b, ...mine } = settings
  const { composeService: _c, command: _d, ...webs } = settingsOf(web)
  const dependsOn = s.dependsOn.filter(d => !isShared(d.service) && d.service !== web.name)
  return {
    name: s.name,
    command: s.command ?? [],
    ...(ownImage ? { image: ownImage } : {}),
    // Only when they differ from the web role's, so a plain same-image worker stays what `workers` makes.
    ...(same(mine, webs) ? {} : { settings }),
    ...(dependsOn.length ? { dependsOn } : {})
  }
}

function sharedServiceOf(s: Service): SharedService {
  if (!s.image) fail(`has no image for the shared service "${s.name}"`)
  return {
    name: s.name,
    image: s.image,
    command: s.command,
    env: s.env,
    volumes: s.volumes,
    networks: s.networks,
    labels: s.labels,
    healthcheck: s.healthcheck,
    memoryBytes: s.memoryBytes,
    nanoCpus: s.nanoCpus,
    dependsOn: s.dependsOn
  }
}

/** Reads and checks the compose file; throws InputError naming what cutover cannot do with it. */
export function readCompose(
  source: InputSource,
  app: string,
  path: string,
  routed: string,
  sharedNames: string[],
  imageInput?: string,
  sharedUpdate: ComposeSettings['sharedUpdate'] = 'keep'
): ComposeApp {
  const doc = readComposeDoc(source, path)
  const top = doc.top
  const services = Object.entries(doc.services).map(([name, raw]) => service(source, app, name, raw, top))
  const byName = new Map(services.map(s => [s.name, s]))
  const web = byName.get(routed)
  if (!web) throw new InputError('compose-service', `names "${routed}", which ${path} does not define (it has ${[...byName.keys()].join(', ')})`)
  for (const s of sharedNames) {
    if (!byName.has(s)) throw new InputError('compose-shared-services', `names "${s}", which ${path} does not define`)
    if (s === routed) throw new InputError('compose-shared-services', `names "${s}", the routed service (compose-service), which is deployed per color`)
  }
  const isShared = (n: string) => sharedNames.includes(n)
  checkDependencies(services, byName, routed, isShared)
  const image = imageInput ?? web.image
  if (!image) fail(`has no image for the routed service "${routed}" (set it there or in the 'image' input)`)
  const perColor = startOrder(services.filter(x => x !== web && !isShared(x.name)))
  return {
    image,
    container: settingsOf(web),
    workers: perColor.map(s => workerOf(s, web, app, isShared)),
    // Start order: a shared service after those it depends on.
    shared: startOrder(sharedNames.map(n => sharedServiceOf(byName.get(n)!))),
    settings: {
      networks: Object.entries(top.networks)
        .filter(([, d]) => !(isObj(d) && d.external === true))
        .map(([n]) => `${app}_${n}`),
      sharedUpdate
    }
  }
}

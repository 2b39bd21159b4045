/** In-memory stand-ins for the engine's ports: a Docker host, a router, a ledger and a clock. */
import type { Log } from '../../src/core/log.js'
import type { RouterCapabilities } from '../../src/core/capabilities.js'
import type { LedgerRecord } from '../../src/core/release.js'
import type { Color } from '../../src/core/names.js'
import type {
  Clock,
  ContainerHost,
  ContainerInfo,
  ContainerSpec,
  ContainerSummary,
  ImageInfo,
  Ledger,
  ProbeAnswer,
  RestartPolicy,
  Route,
  Router,
  WithdrawDrain,
  VerifyResult
} from '../../src/engine/ports.js'
import { LedgerError } from '../../src/engine/ports.js'

/** Time that passes only when someone sleeps: drain and health timing without waiting. */
export class FakeClock implements Clock {
  constructor(public t = Date.parse('2026-11-22T10:00:00.000Z')) {}
  readonly sleeps: number[] = []
  now(): number {
    return this.t
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms)
    this.t += ms
  }
}

/** How an image behaves when it runs. */
export interface ImageBehaviour {
  /** ms after start before it answers probes */
  bootMs?: number
  /** exits with this code right after start */
  crashWith?: number
  /** answers the health path with this status */
  healthStatus?: number
  /** worker containers of this image exit with this code `workerCrashAfterMs` after they start */
  workerCrashWith?: number
  workerCrashAfterMs?: number
  /** worker containers of this image report this Docker HEALTHCHECK status (none when absent) */
  workerHealth?: string
  /** a one-off container of this image (the release command) prints these lines, runs this long and exits with this code */
  runOutput?: string[]
  runMs?: number
  runExitCode?: number
}

interface FakeContainer extends ContainerInfo {
  image: string
  startedAt?: number
  spec?: ContainerSpec
}

export class FakeHost implements ContainerHost {
  readonly containers = new Map<string, FakeContainer>()
  readonly images = new Map<string, ImageInfo & { behaviour: ImageBehaviour }>()
  readonly networks = new Set<string>(['bridge'])
  readonly calls: string[] = []
  /** Every name `inspect` was asked for, in order. */
  readonly inspected: string[] = []
  /** What happened to which container, in order: `start web-blue`, `stop web-blue-worker-jobs`; the fake router adds `switch <color>`. */
  readonly events: string[] = []
  /** Containers (by name) whose health path answers 500 whatever their image does. */
  readonly unhealthyNames = new Set<string>()
  /** Throw from the named method once (e.g. 'create', 'start', 'pull'). */
  readonly failures = new Map<string, Error>()
  private nextId = 1

  constructor(private readonly clock: FakeClock) {}

  addImage(ref: string, behaviour: ImageBehaviour = {}): void {
    const id = `sha256:${String(this.nextId++).padStart(64, '0')}`
    this.images.set(ref, { id, digest: `${ref.split(':')[0]}@sha256:${'d'.repeat(63)}${this.nextId}`, behaviour })
  }

  private fail(method: string): void {
    this.calls.push(method)
    const e = this.failures.get(method)
    if (e) {
      this.failures.delete(method)
      throw e
    }
  }

  private byName(name: string): FakeContainer | undefined {
    return this.containers.get(name) ?? [...this.containers.values()].find(c => c.id === name)
  }

  /** The container's state as time has moved on (a crashing image has exited by now). */
  private settle(c: FakeContainer): FakeContainer {
    const behaviour = [...this.images.values()].find(i => i.id === c.imageId)?.behaviour ?? {}
    if (c.running && behaviour.crashWith !== undefined) {
      Object.assign(c, { running: false, status: 'exited', exitCode: behaviour.crashWith })
    }
    const worker = c.labels['cutover.role'] === 'worker'
    if (worker && c.running && behaviour.workerCrashWith !== undefined && this.clock.now() - (c.startedAt ?? 0) >= (behaviour.workerCrashAfterMs ?? 0)) {
      Object.assign(c, { running: false, status: 'exited', exitCode: behaviour.workerCrashWith })
    }
    if (worker && c.running && behaviour.workerHealth) c.health = { status: behaviour.workerHealth, lastExitCode: 1, lastOutput: 'no jobs table' }
    return c
  }

  async inspect(name: string): Promise<ContainerInfo | undefined> {
    this.fail('inspect')
    this.inspected.push(name)
    const c = this.byName(name)
    return c ? structuredClone(this.settle(c)) : undefined
  }

  async listApp(app: string): Promise<ContainerSummary[]> {
    this.fail('listApp')
    return [...this.containers.values()]
      .filter(c => c.labels['cutover.app'] === app)
      .map(c => this.settle(c))
      .map(c => ({ name: c.name, state: c.status, status: c.status, image: c.image, labels: c.labels }))
  }

  listAppUnits(app: string): Promise<ContainerSummary[]> {
    return this.listApp(app)
  }

  async ensureNetwork(name: string): Promise<void> {
    this.fail('ensureNetwork')
    this.networks.add(name)
  }

  async missingNetworks(names: string[]): Promise<string[]> {
    return names.filter(n => !this.networks.has(n))
  }

  async pull(image: string, progress: (line: string) => void): Promise<ImageInfo> {
    this.fail('pull')
    const found = this.images.get(image)
    if (!found) throw new Error(`Pull of ${image} failed: manifest unknown`)
    progress(`pulled ${image}`)
    return { id: found.id, digest: found.digest }
  }

  async load(archivePath: string): Promise<void> {
    this.fail('load')
    // a fake archive path names the image it holds: /archives/<ref>
    const ref = archivePath.replace(/^\/archives\//, '')
    if (!this.images.has(ref)) this.addImage(ref, { bootMs: 1500 })
  }

  async image(image: string): Promise<ImageInfo | undefined> {
    // As Docker: by reference, or by `repo@sha256:...` digest.
    const found = this.images.get(image) ?? [...this.images.values()].find(i => i.digest === image)
    return found && { id: found.id, digest: found.digest }
  }

  /** Every spec created, in order (also of containers removed since). */
  readonly created: ContainerSpec[] = []
  async create(spec: ContainerSpec): Promise<string> {
    this.fail('create')
    this.created.push(spec)
    if (this.containers.has(spec.name)) throw new Error(`Conflict: the name ${spec.name} is in use`)
    const image = this.images.get(spec.image)
    if (!image) throw new Error(`No such image: ${spec.image}`)
    const id = `c${this.nextId++}`
    this.containers.set(spec.name, {
      id,
      name: spec.name,
      running: false,
      restarting: false,
      status: 'created',
      exitCode: 0,
      oomKilled: false,
      restartCount: 0,
      imageId: image.id,
      labels: spec.labels,
      addresses: {},
      image: spec.image,
      spec
    })
    return id
  }

  async start(name: string): Promise<void> {
    this.fail('start')
    const c = this.byName(name)
    if (!c) throw new Error(`No such container: ${name}`)
    this.events.push(`start ${c.name}`)
    Object.assign(c, {
      running: true,
      status: 'running',
      startedAt: this.clock.now(),
      addresses: { [c.spec?.network ?? `cutover-${c.labels['cutover.app']}`]: `10.0.0.${c.id.slice(1)}` }
    })
  }

  /** Every stop, with its grace period and when it happened. */
  readonly stops: { name: string; graceSeconds: number; at: number }[] = []
  async stop(name: string, graceSeconds: number): Promise<void> {
    this.fail('stop')
    this.stops.push({ name, graceSeconds, at: this.clock.now() })
    const c = this.byName(name)
    if (c?.running) this.events.push(`stop ${c.name}`)
    if (c) Object.assign(c, { running: false, status: 'exited', exitCode: 0 })
  }

  /** Names of the containers waited for, in order. */
  readonly waited: string[] = []
  async waitExit(name: string, timeoutMs: number, onLine: (line: string) => void, abort?: AbortSignal): Promise<number | undefined> {
    this.fail('waitExit')
    this.waited.push(name)
    const c = this.byName(name)
    if (!c) throw new Error(`No such container: ${name}`)
    const behaviour = [...this.images.values()].find(i => i.id === c.imageId)?.behaviour ?? {}
    for (const line of behaviour.runOutput ?? []) onLine(line)
    const runMs = behaviour.runMs ?? 100
    if (abort?.aborted) return undefined
    if (runMs > timeoutMs) {
      this.clock.t += timeoutMs
      return undefined
    }
    this.clock.t += runMs
    Object.assign(c, { running: false, status: 'exited', exitCode: behaviour.runExitCode ?? 0 })
    return behaviour.runExitCode ?? 0
  }

  async remove(name: string): Promise<void> {
    this.fail('remove')
    const c = this.byName(name)
    if (c) this.events.push(`remove ${c.name}`)
    if (c) this.containers.delete(c.name)
  }

  async rename(name: string, newName: string): Promise<void> {
    this.fail('rename')
    const c = this.byName(name)
    if (!c) throw new Error(`No such container: ${name}`)
    if (this.containers.has(newName)) throw new Error(`Conflict: the name ${newName} is in use`)
    this.containers.delete(c.name)
    c.name = newName
    this.containers.set(newName, c)
  }

  readonly restartPolicies = new Map<string, RestartPolicy>()
  async setRestartPolicy(name: string, policy: RestartPolicy): Promise<void> {
    this.fail('setRestartPolicy')
    const c = this.byName(name)
    this.restartPolicies.set(c?.name ?? name, policy)
  }

  async logs(name: string): Promise<string> {
    return `last lines of ${name}`
  }

  async probe(address: string): Promise<ProbeAnswer> {
    this.fail('probe')
    const c = [...this.containers.values()].find(x => Object.values(x.addresses).includes(address))
    if (!c || !this.settle(c).running) return { headers: {}, body: '', error: 'connection refused', ms: 1 }
    const behaviour = [...this.images.values()].find(i => i.id === c.imageId)?.behaviour ?? {}
    if (this.clock.now() - (c.startedAt ?? 0) < (behaviour.bootMs ?? 0)) return { headers: {}, body: '', error: 'connection refused', ms: 1 }
    const status = this.unhealthyNames.has(c.name) ? 500 : (behaviour.healthStatus ?? 200)
    return { status, headers: {}, body: status === 200 ? 'ok' : 'broken', ms: 1 }
  }

  readonly removedImages: string[] = []
  async removeImage(imageId: string): Promise<'removed' | 'in-use' | 'gone'> {
    if ([...this.containers.values()].some(c => c.imageId === imageId)) return 'in-use'
    this.removedImages.push(imageId)
    return 'removed'
  }

  /** Networks' labelled app, for appNetworks (a test sets it; ensureNetwork does not know the app). */
  readonly networkApps = new Map<string, string>()
  async appNetworks(app: string): Promise<string[]> {
    return [...this.networks].filter(n => this.networkApps.get(n) === app || n === `cutover-${app}`)
  }

  readonly removedNetworks: string[] = []
  async removeNetwork(name: string, disconnect: string[]): Promise<{ result: 'removed' | 'gone' } | { result: 'in-use'; by: string[] }> {
    this.fail('removeNetwork')
    if (!this.networks.has(name)) return { result: 'gone' }
    const on = (c: FakeContainer) => c.spec?.network === name || (c.spec?.extraNetworks ?? []).includes(name)
    const by = [...this.containers.values()].filter(c => on(c) && !disconnect.includes(c.name)).map(c => c.name)
    if (by.length) return { result: 'in-use', by }
    this.networks.delete(name)
    this.removedNetworks.push(name)
    this.events.push(`remove network ${name}`)
    return { result: 'removed' }
  }

  async volumesOf(name: string): Promise<string[]> {
    const c = this.byName(name)
    return (c?.spec?.volumes ?? []).map(v => v.split(':')[0]).filter(v => !v.startsWith('/'))
  }

  readonly volumes = new Set<string>()
  readonly removedVolumes: string[] = []
  async removeVolume(name: string): Promise<'removed' | 'in-use' | 'gone'> {
    if ([...this.containers.values()].some(c => (c.spec?.volumes ?? []).some(v => v.split(':')[0] === name))) return 'in-use'
    if (!this.volumes.delete(name)) return 'gone'
    this.removedVolumes.push(name)
    return 'removed'
  }

  /** name -> image, for the containers of an app. */
  state(): Record<string, string> {
    return Object.fromEntries([...this.containers.values()].map(c => [c.name, `${c.image} ${c.running ? 'running' : 'stopped'}`]))
  }
}

/** A router that routes to whatever it was last told, verifying against the fake host's containers. */
export class FakeRouter implements Router {
  /** Everything by default; a test takes capabilities away to see the refusal. */
  capabilities: RouterCapabilities = {
    name: 'fake',
    runtimeSwitch: true,
    replicas: true,
    weights: true,
    preview: true,
    maintenance: true,
    tls: true,
    stats: true,
    sticky: true,
    edge: true,
    inFlight: true
  }
  route?: Route
  readonly applied: Route[] = []
  failApply?: Error
  /** Make verification fail while the route points at this color. */
  brokenColor?: Color
  legacy?: LedgerRecord

  /** Every call the engine made, by method name. */
  readonly calls: string[] = []

  /**
   * Set by a test: the proxy can say which colors hold nothing (`answerIdle` answers, one per
   * question, the last repeating; an Error: it could not say). Unset: a router that cannot tell.
   */
  idleColors?: () => Promise<Color[]>
  answerIdle(...answers: (Color[] | Error)[]): void {
    this.idleColors = async () => {
      this.calls.push('idleColors')
      const a = answers.length > 1 ? answers.shift()! : answers[0]
      if (a instanceof Error) throw a
      return a
    }
  }

  constructor(private readonly host: FakeHost) {}

  async ensure(): Promise<void> {
    this.calls.push('ensure')
  }

  /** The route the proxy has saved, when it is not the one it serves (a run died between switching at run time and saving). */
  saved?: Route

  /** While set, reading the saved route waits for it (the slow read of the proxy's volume). */
  holdCurrent?: Promise<void>

  async current(): Promise<{ color: Color; releaseId: string } | undefined> {
    this.calls.push('current')
    await this.holdCurrent
    const saved = this.saved ?? this.route
    return saved && { color: saved.color, releaseId: saved.releaseId }
  }

  async served(): Promise<string | undefined> {
    return this.route?.releaseId
  }

  async apply(route: Route): Promise<void> {
    this.calls.push('apply')
    if (this.failApply) {
      const e = this.failApply
      this.failApply = undefined
      throw e
    }
    this.route = route
    this.saved = undefined
    this.canaryState = undefined
    this.applied.push(route)
    this.host.events.push(`switch ${route.color}`)
  }

  /** canary-weight: the other color's share, as last set (apply() ends it). */
  canaryState?: { live: Route; canary: Route; weight: number }
  async canary(live: Route, canary: Route, weight: number): Promise<void> {
    if (this.failApply) {
      const e = this.failApply
      this.failApply = undefined
      throw e
    }
    this.route = live
    this.canaryState = { live, canary, weight }
  }

  /** promote manual: what the preview domains reach, as last set (apply() leaves them on the idle color). */
  previewState?: { live: Route; preview: Route }
  async preview(live: Route, preview: Route): Promise<void> {
    this.calls.push('preview')
    if (this.failApply) {
      const e = this.failApply
      this.failApply = undefined
      throw e
    }
    this.route = live
    this.canaryState = undefined
    this.previewState = { live, preview }
  }

  async verify(route: Route): Promise<VerifyResult> {
    this.calls.push('verify')
    const c = this.host.containers.get(`${route.app}-${route.color}`)
    const ok = this.route?.releaseId === route.releaseId && !!c?.running && this.brokenColor !== route.color
    return { ok, last: ok ? { status: 200, headers: {}, body: 'ok', ms: 1 } : { status: 502, headers: {}, body: 'Bad Gateway', ms: 1 }, ms: 1 }
  }

  async legacyRecord(): Promise<LedgerRecord | undefined> {
    this.calls.push('legacyRecord')
    return this.legacy
  }

  /** Whether the proxy holds the app's claim (its domains or the default): apply() gives it, withdraw() takes it away. */
  get claimed(): boolean {
    return this.route !== undefined
  }
  failWithdraw?: Error
  /**
   * The app's requests in flight, one count per time the proxy is asked after its route left (the
   * last repeats); an Error: the proxy cannot say.
   */
  inFlight: (number | Error)[] = [0]
  /** How many times the drain asked for the count. */
  inFlightAsked = 0
  async withdraw(drain?: WithdrawDrain): Promise<boolean> {
    this.calls.push('withdraw')
    if (this.failWithdraw) throw this.failWithdraw
    const had = this.route !== undefined
    this.route = undefined
    this.canaryState = undefined
    this.previewState = undefined
    this.host.events.push('withdraw')
    if (had && drain) {
      await drain(async () => {
        const count = this.inFlight[Math.min(this.inFlightAsked++, this.inFlight.length - 1)]
        if (count instanceof Error) throw count
        return count
      })
      this.host.events.push('drained')
    }
    return had
  }
}

export class FakeLedger implements Ledger {
  record?: LedgerRecord
  readonly writes: LedgerRecord[] = []
  damaged = false
  /** Fail the n-th write from now (1 = the next one). */
  failWriteAt?: number

  async read(): Promise<LedgerRecord | undefined> {
    if (this.damaged) throw new LedgerError('The release ledger ~/.cutover/apps/web/releases.json on the host is damaged: it is not valid JSON')
    return this.record && structuredClone(this.record)
  }

  /** Other apps' claims on the host. */
  others: { app: string; routing?: { proxy: string; domains: string[] } }[] = []
  async claims(): Promise<{ app: string; routing?: { proxy: string; domains: string[] } }[]> {
    return this.others
  }

  /** Images other apps' records on the host name; a function that throws: their records cannot be read. */
  othersImages: { app: string; image: string }[] | (() => never) = []
  async imagesOfOtherApps(): Promise<{ app: string; image: string }[]> {
    return typeof this.othersImages === 'function' ? this.othersImages() : this.othersImages
  }

  archived?: LedgerRecord
  async archive(): Promise<string | undefined> {
    if (!this.record) return undefined
    this.archived = this.record
    this.record = undefined
    return '~/.cutover/apps/web/removed-2026-11-22T10-00-00-000Z.json'
  }

  async write(record: LedgerRecord): Promise<void> {
    if (this.failWriteAt !== undefined && --this.failWriteAt === 0) {
      this.failWriteAt = undefined
      throw new Error('Could not write the release ledger: disk full')
    }
    this.record = structuredClone(record)
    this.writes.push(this.record)
  }
}

export class RecordingLog implements Log {
  readonly lines: string[] = []
  info(m: string): void {
    this.lines.push(m)
  }
  warning(m: string): void {
    this.lines.push(`warning: ${m}`)
  }
  error(m: string): void {
    this.lines.push(`error: ${m}`)
  }
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.lines.push(`## ${name}`)
    return fn()
  }
  text(): string {
    return this.lines.join('\n')
  }
}

import type { EngineConfig } from './context.js'
/**
 * Worker roles: containers of the release's image with their own command, the web role's env,
 * volumes and networks, no route and no HTTP probe. One set per color, like the web role:
 * `<app>-<color>-worker-<name>`, labelled with the app, color, role and release.
 */
import { createHash } from 'node:crypto'
import type { RoleSettings, WorkerRole } from '../core/config.js'
import { progressOf, type Log } from '../core/log.js'
import { LABEL, workerAsideName, workerName, type Color } from '../core/names.js'
import { ReleaseError, type WorkerState } from '../core/outcome.js'
import type { Release, WorkerRecord } from '../core/release.js'
import { containerSpec } from './container-spec.js'
import type { ColorContainer, Plan } from './plan.js'
import type { Clock, ContainerHost, ContainerSummary, ImageInfo } from './ports.js'
import { serviceSettingsHash } from './compose-project.js'

export const NO_ROLES: RoleSettings = { web: true, workers: [], minUptimeMs: 10_000, stopTimeoutMs: 30_000, handover: 'stop-first' }

/** The release's settings hash, with the roles in it when there are any (so adding a worker is a new release). */
export function releaseHash(base: string, roles: RoleSettings): string {
  if (roles.web && !roles.workers.length) return base
  const canonical = JSON.stringify({
    base,
    web: roles.web,
    // A compose worker's own image, settings and order enter only when it has them, so other hashes stay as they were.
    workers: roles.workers.map(w => {
      const r = recordOf(w)
      return r.image || r.settingsHash || r.dependsOn ? [w.name, w.command, r.image ?? null, r.settingsHash ?? null, r.dependsOn ?? null] : [w.name, w.command]
    })
  })
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16)
}

/** What the ledger keeps of a worker role: its own settings only as a hash. */
export function recordOf(w: WorkerRole): WorkerRecord {
  return {
    name: w.name,
    command: w.command,
    ...(w.image ? { image: w.image } : {}),
    ...(w.settings ? { settingsHash: serviceSettingsHash(w.settings) } : {}),
    ...(w.dependsOn?.length ? { dependsOn: w.dependsOn } : {})
  }
}

/** Which workers a release runs: a rollback brings back what its release recorded, a deploy what the inputs say. */
export function workersFor(plan: Exclude<Plan, { kind: 'impossible' }>, roles: RoleSettings): WorkerRecord[] {
  if (plan.restores) return plan.restores.workers ?? []
  return roles.workers.map(recordOf)
}

export interface WorkerDeps {
  config: EngineConfig
  host: ContainerHost
  log: Log
  clock: Clock
  run: string
  network: string
  aborted: () => string | undefined
}

interface Found {
  /** The container's name now. */
  name: string
  color: Color
  worker: string
  /** Set aside while its color's replacement starts. */
  aside: boolean
  running: boolean
  release?: string
}

type GateOutcome = { name: string; failure?: { reason: string; exitCode?: number; oomKilled?: boolean } }

/** How often a starting worker is looked at. */
const POLL_MS = 500

export class Workers {
  /** The workers' own images (compose services of another image) as pulled by this run. */
  private readonly pulled = new Map<string, ImageInfo>()

  constructor(private readonly deps: WorkerDeps) {}

  private get app(): string {
    return this.deps.config.app
  }

  get roles(): RoleSettings {
    return this.deps.config.roles ?? NO_ROLES
  }

  /** The app's worker containers on the host (among `listed`, the app's containers already read, when given). */
  private async found(listed?: ContainerSummary[]): Promise<Found[]> {
    const all = listed ?? (await this.deps.host.listApp(this.app))
    const out: Found[] = []
    for (const c of all) {
      const color = c.labels[LABEL.color] as Color
      const worker = c.labels[LABEL.worker]
      if (c.labels[LABEL.role] !== 'worker' || !worker || (color !== 'blue' && color !== 'green')) continue
      const aside = c.name === workerAsideName(this.app, color, worker)
      if (!aside && c.name !== workerName(this.app, color, worker)) continue
      out.push({ name: c.name, color, worker, aside, running: c.state === 'running' || c.state === 'restarting', release: c.labels[LABEL.release] })
    }
    return out
  }

  /** For an app without a web role, a color's state is its workers': it "exists" for a release when all its workers are there. */
  async colorState(color: Color, releases: Release[]): Promise<ColorContainer> {
    const mine = (await this.found()).filter(w => w.color === color && !w.aside)
    const release = mine[0]?.release
    const of = releases.find(r => r.instance === release && r.color === color)
    const complete = !!of && (of.workers ?? []).every(w => mine.some(m => m.worker === w.name && m.release === release))
    return { color, exists: mine.length > 0 && complete, running: mine.length > 0 && mine.every(m => m.running), image: of?.image, releaseId: release }
  }

  /**
   * Workers of the color that is not live must not run (previous workers are stopped after each
   * release): a run that died between starting new workers and finishing leaves some running.
   */
  async stopStray(live: Release | undefined, listed?: ContainerSummary[]): Promise<void> {
    const stray = (await this.found(listed)).filter(w => w.running && (w.aside || w.color !== live?.color))
    await Promise.all(
      stray.map(async w => {
        this.deps.log.info(`Stopping ${w.name}, a worker of a color that is not live (left running by an interrupted run)`)
        await this.stopOne(w.name)
      })
    )
  }

  /** As for the web role: a set-aside worker whose color went live is obsolete; otherwise it is put back. Whether any was found. */
  async recoverAside(live: Release | undefined, listed?: ContainerSummary[]): Promise<boolean> {
    const aside = (await this.found(listed)).filter(x => x.aside)
    for (const w of aside) {
      if (live?.color === w.color) {
        await this.deps.host.remove(w.name)
      } else {
        await this.deps.host.remove(workerName(this.app, w.color, w.worker))
        await this.deps.host.rename(w.name, workerName(this.app, w.color, w.worker))
      }
    }
    return aside.length > 0
  }

  /**
   * Starts the release's workers on its color and waits until each is healthy: its Docker
   * HEALTHCHECK says healthy, or, without one, it is still running after worker-min-uptime.
   * Throws ReleaseError naming the first worker that failed; the caller undoes with `undo`.
   */
  async startAndGate(plan: Exclude<Plan, { kind: 'impossible' }>, release: Release, workers: WorkerRecord[], stillLive: string): Promise<void> {
    const { host, log, clock } = this.deps
    if (!workers.length) return
    if (plan.kind === 'start-new') await this.setAside(plan.color)
    const existing = plan.kind === 'reuse-standby' ? await this.found() : []
    // Each gate counts from its own worker's start; a worker starts once those it depends on are
    // started (in order) or healthy (their gates awaited first). Gates begin once a wave is started.
    const gates = new Map<string, Promise<GateOutcome>>()
    const ungated: { worker: string; name: string; at: number }[] = []
    const gateStarted = () => {
      for (const u of ungated.splice(0)) {
        const gate = this.gate(u.name, u.at)
        gate.catch(() => undefined) // awaited below; this only keeps a failure while others start from going unhandled
        gates.set(u.worker, gate)
      }
    }
    for (const w of workers) {
      const name = workerName(this.app, plan.color, w.name)
      const waitFor = (w.dependsOn ?? []).filter(d => d.condition === 'service_healthy' && workers.some(x => x.name === d.service))
      if (waitFor.length) {
        gateStarted()
        log.info(`${name} waits for ${waitFor.map(d => d.service).join(', ')} to be healthy (depends_on)`)
        const before = await Promise.all(waitFor.map(d => gates.get(d.service)).filter(g => g !== undefined))
        if (before.some(o => o.failure)) break
      }
      const mine = existing.find(e => e.worker === w.name && e.color === plan.color && !e.aside && e.release === release.instance)
      if (!mine) {
        // A rollback whose worker is gone (or was added later) starts it again from the release's image (or its own).
        if (plan.kind === 'reuse-standby') await host.remove(name)
        const image = w.image ?? plan.image
        if (w.image) await this.ensureImage(w.image)
        await host.create(this.spec(plan.color, image, release, w))
      }
      await host.start(name)
      log.info(
        `Started ${name}${mine ? ' (the stopped standby)' : ''}${w.image ? ` (${w.image})` : ''}: ${w.command.length ? w.command.join(' ') : "the image's command"}`
      )
      ungated.push({ worker: w.name, name, at: clock.now() })
    }
    gateStarted()
    const outcomes = await Promise.all(gates.values())
    const failed = outcomes.find(o => o.failure)
    if (failed?.failure) {
      const logs = await host.logs(failed.name, 30).catch(e => `(logs unavailable: ${(e as Error).message})`)
      const of = workers.find(w => workerName(this.app, plan.color, w.name) === failed.name)
      throw new ReleaseError({
        reason: `The worker ${failed.name} (${of?.image ?? plan.image}) did not become healthy: ${failed.failure.reason}. ${stillLive}`,
        logs,
        container: failed.name,
        exitCode: failed.failure.exitCode,
        oomKilled: failed.failure.oomKilled
      })
    }
    const restart = this.deps.config.container.restart
    if (restart.Name !== 'no') await Promise.all(workers.map(w => host.setRestartPolicy(workerName(this.app, plan.color, w.name), restart)))
    log.info(`${workers.length} worker(s) healthy on ${plan.color}: ${workers.map(w => w.name).join(', ')}`)
  }

  /**
   * The worker's settings: its own (a compose service's), else the web role's. A rollback that
   * starts a gone worker again uses what the inputs say now for its name, and says so when that is
   * not what its release had (the ledger keeps only a hash of them).
   */
  private settingsOf(w: WorkerRecord): EngineConfig['container'] {
    const { config, log } = this.deps
    const role = this.roles.workers.find(r => r.name === w.name)
    const own = role?.settings
    const now = own ? serviceSettingsHash(own) : undefined
    if (now !== w.settingsHash) {
      log.warning(`The worker ${w.name} is started again with the settings the inputs give it now, which are not those its release was deployed with`)
    }
    const settings = own ? { ...own, restart: config.container.restart } : config.container
    // compose-file: each worker is its own compose service.
    return config.container.composeService ? { ...settings, composeService: w.name } : settings
  }

  /** Pulls the workers' own images (compose services of another image) for a deploy, before anything starts. */
  async pullImages(workers: WorkerRecord[]): Promise<void> {
    for (const ref of new Set(workers.flatMap(w => (w.image ? [w.image] : [])))) {
      if (this.pulled.has(ref)) continue
      try {
        this.pulled.set(ref, await this.deps.host.pull(ref, progressOf(this.deps.log)))
      } catch (e) {
        throw new ReleaseError({ reason: `Pulling ${ref}, the image of a worker, failed: ${(e as Error).message}. Nothing was switched.` })
      }
    }
  }

  /** A worker's own image on the host: as pulled by this run, else the local copy (a rollback), else pulled now. */
  private async ensureImage(ref: string): Promise<void> {
    if (this.pulled.has(ref) || (await this.deps.host.image(ref))) return
    await this.pullImages([{ name: '', command: [], image: ref }])
  }

  private spec(color: Color, image: string, release: Release, w: WorkerRecord) {
    const { network, run, clock } = this.deps
    const settings = this.settingsOf(w)
    const base = containerSpec({
      app: this.app,
      color,
      image,
      network,
      settings,
      appPort: this.deps.config.health.port,
      releaseId: release.instance,
      startedAt: new Date(clock.now()).toISOString(),
      run,
      hash: release.configHash
    })
    return {
      ...base,
      name: workerName(this.app, color, w.name),
      // Empty: the image's own command (a worker of its own image).
      command: w.command.length ? w.command : undefined,
      labels: { ...base.labels, [LABEL.role]: 'worker', [LABEL.worker]: w.name }
    }
  }

  private async gate(name: string, started: number): Promise<GateOutcome> {
    const { host, clock, config } = this.deps
    const minUptime = this.roles.minUptimeMs
    // With a HEALTHCHECK, the verdict may take as long as the web role's health-timeout allows.
    const deadline = started + Math.max(config.health.timeoutMs, minUptime)
    let lastHealth = ''
    for (;;) {
      const abort = this.deps.aborted()
      if (abort) return { name, failure: { reason: abort } }
      const info = await host.inspect(name)
      if (!info) return { name, failure: { reason: 'the container disappeared' } }
      const oom = info.oomKilled ? ' (killed for running out of memory)' : ''
      if (info.status === 'exited' || info.status === 'dead') {
        return {
          name,
          failure: {
            reason: `it exited with code ${info.exitCode}${oom} within ${Math.round((clock.now() - started) / 1000)} s`,
            exitCode: info.exitCode,
            oomKilled: info.oomKilled
          }
        }
      }
      if (info.restarting || info.restartCount > 0) {
        return { name, failure: { reason: `it restarted (last exit code ${info.exitCode}${oom})`, exitCode: info.exitCode, oomKilled: info.oomKilled } }
      }
      const health = info.health?.status
      if (health === 'unhealthy') {
        return {
          name,
          failure: {
            reason: `Docker's HEALTHCHECK reports unhealthy (last check exited ${info.health?.lastExitCode}: ${(info.health?.lastOutput ?? '').trim().slice(0, 200)})`
          }
        }
      }
      if (health && health !== lastHealth) {
        this.deps.log.info(`${name}: Docker HEALTHCHECK ${health}`)
        lastHealth = health
      }
      if (health === 'healthy') return { name }
      if (!health && clock.now() - started >= minUptime) return { name }
      if (clock.now() >= deadline) {
        return {
          name,
          failure: { reason: `Docker's HEALTHCHECK still reports "${health}" after ${Math.round((clock.now() - started) / 1000)} s (health-timeout)` }
        }
      }
      const until = health ? deadline : started + minUptime
      await clock.sleep(Math.max(1, Math.min(POLL_MS, until - clock.now())))
    }
  }

  /** Moves the color's old workers (the standby's, stopped) out of the way of the new ones. */
  private async setAside(color: Color): Promise<void> {
    const { host } = this.deps
    for (const w of (await this.found()).filter(x => x.color === color && !x.aside)) {
      await host.remove(workerAsideName(this.app, color, w.worker))
      await host.rename(w.name, workerAsideName(this.app, color, w.worker))
    }
  }

  /** After a failed release: the new workers gone (a reused standby's stopped again), the set-aside ones back. */
  async undo(plan: Exclude<Plan, { kind: 'impossible' }>, workers: WorkerRecord[]): Promise<void> {
    const { host, log } = this.deps
    const found = await this.found()
    for (const w of found.filter(x => x.color === plan.color && !x.aside)) {
      if (plan.kind === 'reuse-standby' && w.release === plan.restores.instance) {
        await this.stopOne(w.name)
      } else if (plan.kind === 'start-new' || workers.some(x => x.name === w.worker)) {
        if (this.deps.config.keepFailed) {
          // Kept stopped for inspection, under a name the next runs do not take for a worker.
          await this.stopOne(w.name)
          await host.remove(`${w.name}-failed`)
          await host.rename(w.name, `${w.name}-failed`)
          log.info(`Stopped the new worker and kept it as ${w.name}-failed for inspection (keep-failed)`)
        } else {
          await host.remove(w.name)
          log.info(`Removed the new worker ${w.name}`)
        }
      }
    }
    for (const w of found.filter(x => x.color === plan.color && x.aside)) {
      await host.remove(workerName(this.app, w.color, w.worker))
      await host.rename(w.name, workerName(this.app, w.color, w.worker))
    }
  }

  /**
   * worker-handover stop-first: the running workers of the live color stop (SIGTERM, finishing
   * their job within worker-stop-timeout) before the new color's start, so no two versions consume
   * at once. Returns the names stopped: `resume` starts them again if the release fails.
   */
  async stopBeforeHandover(liveColor: Color, newColor: Color): Promise<string[]> {
    const { log, clock } = this.deps
    if (liveColor === newColor) return []
    const running = (await this.found()).filter(w => w.color === liveColor && !w.aside && w.running)
    await Promise.all(
      running.map(async w => {
        const started = clock.now()
        await this.stopOne(w.name)
        log.info(`Stopped the live worker ${w.name} before its replacement starts (${clock.now() - started} ms; worker-handover stop-first)`)
      })
    )
    return running.map(w => w.name)
  }

  /** After a failed release: the workers stopped for the hand-over run again, with their restart policy back. */
  async resume(names: string[]): Promise<void> {
    const { host, log, config } = this.deps
    for (const name of names) {
      await host.start(name)
      if (config.container.restart.Name !== 'no') await host.setRestartPolicy(name, config.container.restart)
      log.info(`Started ${name} again (the release failed before the switch)`)
    }
  }

  /** Stops a worker for good: no restart policy brings it back, SIGTERM first so its job finishes. */
  private async stopOne(name: string): Promise<void> {
    const { host } = this.deps
    await host.setRestartPolicy(name, { Name: 'no' }).catch(() => undefined)
    await host.stop(name, Math.ceil(this.roles.stopTimeoutMs / 1000))
  }

  /**
   * After the switch: the workers of the color that served before stop (SIGTERM, then SIGKILL after
   * worker-stop-timeout), and are removed if keep-previous says so; the set-aside workers of the
   * new color (an older release's) are removed.
   */
  async retire(previous: Color | undefined, liveColor: Color): Promise<void> {
    const { host, log, config } = this.deps
    const found = await this.found()
    const replaced = found.filter(w => w.color === liveColor && w.aside)
    const old = previous && previous !== liveColor ? found.filter(w => w.color === previous && !w.aside) : []
    await Promise.all([
      ...old.map(async w => {
        // Stopped already by a stop-first hand-over.
        if (w.running) {
          const started = this.deps.clock.now()
          await this.stopOne(w.name)
          log.info(`Stopped the previous worker ${w.name} (${this.deps.clock.now() - started} ms; worker-stop-timeout ${this.roles.stopTimeoutMs / 1000} s)`)
        }
        if (config.keepPrevious === 'removed') await host.remove(w.name)
      }),
      ...replaced.map(w => host.remove(w.name))
    ])
  }

  /** The workers of the live color as they are now, for outputs and the summary. */
  async states(color: Color): Promise<WorkerState[]> {
    const out: WorkerState[] = []
    for (const w of (await this.found()).filter(x => x.color === color && !x.aside).sort((a, b) => (a.worker < b.worker ? -1 : 1))) {
      out.push({ name: w.worker, container: w.name, state: w.running ? 'running' : 'stopped' })
    }
    return out
  }

  /** Whether every worker of the release runs the image with these settings (a deploy of the same then changes nothing). */
  async allLive(color: Color, imageId: string, hash: string, workers: WorkerRecord[]): Promise<boolean> {
    for (const w of workers) {
      const info = await this.deps.host.inspect(workerName(this.app, color, w.name))
      // A worker of its own image is compared with that image as this run pulled it (pullImages).
      const expected = w.image ? this.pulled.get(w.image)?.id : imageId
      if (!info?.running || info.restarting || info.imageId !== expected || info.labels[LABEL.configHash] !== hash) return false
    }
    return true
  }
}

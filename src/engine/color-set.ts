import { asideName, COLORS, containerName, failedName, LABEL, MAX_REPLICAS, networkName, type Color } from '../core/names.js'
import { ReleaseError, type Standby, type WorkerState } from '../core/outcome.js'
import type { LedgerRecord, Release, WorkerRecord } from '../core/release.js'
import { containerSpec } from './container-spec.js'
import type { EngineContext } from './context.js'
import { colorIdle, drainColor } from './drain.js'
import { waitHealthy } from './health.js'
import type { ColorContainer, Plan } from './plan.js'
import type { ContainerInfo, ContainerSummary, ImageInfo } from './ports.js'
import { oneTo, replicasAmong, replicasOnHost, union } from './replicas.js'
import { NO_ROLES, Workers } from './workers.js'
import { foreignContainerProblem } from './ownership.js'

export type ActivePlan = Exclude<Plan, { kind: 'impossible' }>

/** What one color holds, as the planner and the reports need it. */
export type ColorState = ColorContainer & { id?: string; imageId?: string; configHash?: string }

/**
 * All containers of one color of an app — web replicas and workers together — and the verbs a
 * release applies to them. The engine knows colors only through this interface: another runtime
 * (a cluster's services) implements it and the pipeline does not change.
 */
export interface ColorSet {
  /**
   * Whether the gate asks the proxy (Swarm: the proxy tasks' own health checks): the proxy is then
   * checked before the boot. Otherwise the check runs during the gate.
   */
  readonly gateAsksProxy: boolean
  /** Starts reading what recover and inspect read, while the ledger is read (the inspect step). */
  readAhead?(): void
  /** What each color holds now. */
  inspect(releases: Release[]): Promise<ColorState[]>
  /** Settles what an interrupted run left (set-aside containers, workers of a color that is not live). */
  recover(live: Release | undefined, preview: Release | undefined): Promise<void>
  /** How the boot and gate steps name the plan's containers. */
  describe(plan: ActivePlan): string
  /** Starts the plan's color for the release (the set-aside old containers keep running until it is live). */
  boot(plan: ActivePlan, release: Release): Promise<void>
  /** Waits for every web replica of the color to be healthy; throws ReleaseError naming the first that is not. */
  gate(plan: ActivePlan, live: Release | undefined): Promise<void>
  /** What the gate left going (the new containers' restart policy) is done: awaited before any route changes. */
  gated(): Promise<void>
  /** Starts and gates the release's workers (a stop-first hand-over stops the live ones first). */
  startWorkers(plan: ActivePlan, release: Release, workers: WorkerRecord[], live: Release | undefined): Promise<void>
  /** After a failure before the release went live: its containers go (or are kept failed), what they replaced comes back. */
  restore(plan: ActivePlan, workers: WorkerRecord[]): Promise<void>
  /** The containers the live color replaced go, after what is left of their drain. */
  retireReplaced(before: Release | undefined, liveColor: Color, endedCanary?: LedgerRecord['endedCanary'], drain?: boolean): Promise<void>
  /** keep-previous applied to the color that served before, after its drain. */
  keepPrevious(before: Release | undefined, previousColor: Color): Promise<Standby | undefined>
  /** The previous color's workers stop (at once: they must not keep taking jobs). */
  retireWorkers(previous: Color | undefined, liveColor: Color): Promise<void>
  /** Removes the release's containers of its color (a discarded preview); returns how many. */
  discard(release: Release): Promise<number>
  /** The live color's workers as they are now. */
  workerStates(color: Color): Promise<WorkerState[]>
  /** Whether the live color already runs this image with these settings (a deploy of the same changes nothing). */
  isCurrent(live: Release, state: ColorState | undefined, image: ImageInfo, hash: string, replicas: number): Promise<boolean>
  /** Pulls the images of workers of another image (compose services). */
  pullWorkerImages(workers: WorkerRecord[]): Promise<void>
  /** Removes an image unless something uses it (never fails the run). */
  prune(imageId: string): Promise<void>
  /** mode status of a cluster's color set: what runs where (lines), and how it differs from the live release (drift). */
  clusterState?(live: Release): Promise<{ lines: string[]; drift: string[] }>
  /** mode remove of a cluster's color set: what of the app is there, and its removal (containers on one host: remove.ts). */
  removal?(): Promise<AppRemoval>
}

/** What mode remove found of an app (the inspect step), and how it goes (the cleanup step, after the drain). */
export interface AppRemoval {
  /** Where it is, for the log: `this host`, `the swarm`. */
  place: string
  /** What the cleanup step removes, for its title. */
  what: string
  /** The proxy the app leaves, for the switch step's title, when it is not the shared proxy-name. */
  proxy?: string
  /** What the inspect step found, for its detail. */
  found: string
  /** Whether anything of the app is there at all. */
  any: boolean
  /** Whether some of it runs (requests may be in flight: the route is drained before it goes). */
  running: boolean
  /** Removes it; resolves with what went, for the step's detail. */
  remove(): Promise<string>
}

/** ' (replica N)' for replicas after the first, so one-container logs read as before. */
function replicaNote(replica: number): string {
  return replica > 1 ? ` (replica ${replica})` : ''
}

/** The color set of an app on one Docker host: containers `<app>-<color>[-N]` and its workers. */
export class ContainerColorSet implements ColorSet {
  readonly gateAsksProxy = false
  private readonly workers: Workers
  /** Live workers stopped for a stop-first hand-over: started again if the release fails before the switch. */
  private stoppedForHandover: string[] = []
  /** The new containers' restart policy, being set since the gate passed (gated()). */
  private policies?: Promise<void>
  /** Whether boot set containers aside (a standby replaced), and whether the proxy held none of their requests just before the switch. */
  private replacing = false
  private replacedIdle?: Promise<boolean>
  /** The app's containers, listed once for the inspect step (recover and inspect); dropped when it ends or a container moves. */
  private listing?: Promise<ContainerSummary[]>

  constructor(private readonly ctx: EngineContext) {
    this.workers = new Workers({
      config: ctx.config,
      host: ctx.host,
      log: ctx.log,
      clock: ctx.clock,
      run: ctx.deps.run,
      network: networkName(ctx.app),
      aborted: () => ctx.abortReason
    })
  }

  private get app(): string {
    return this.ctx.app
  }

  /** A container by name, refused when it is not cutover's container of this app (a hand-made one in the way). */
  private async own(name: string): Promise<ContainerInfo | undefined> {
    const info = await this.ctx.host.inspect(name)
    const problem = info && foreignContainerProblem(this.app, name, info.labels)
    if (problem) throw new ReleaseError({ reason: problem })
    return info
  }

  readAhead(): void {
    this.listed().catch(() => undefined) // read by recover, which reports its failure
  }

  private listed(): Promise<ContainerSummary[]> {
    return (this.listing ??= this.ctx.host.listApp(this.app))
  }

  async inspect(releases: Release[]): Promise<ColorState[]> {
    try {
      const all = this.ctx.web ? await this.listed() : []
      return await Promise.all(COLORS.map(color => (this.ctx.web ? this.inspectWeb(color, all) : this.workers.colorState(color, releases))))
    } finally {
      this.listing = undefined
    }
  }

  private async inspectWeb(color: Color, all: ContainerSummary[]): Promise<ColorState> {
    // Each replica the listing has, inspected at once (the first one's owner is checked by name).
    const further = replicasAmong(all, this.app, color).serving.filter(i => i > 1 && i <= MAX_REPLICAS)
    const [info, ...others] = await Promise.all([
      this.own(containerName(this.app, color)),
      ...further.map(i => this.ctx.host.inspect(containerName(this.app, color, i)))
    ])
    if (!info) return { color, exists: false, running: false }
    // Further replicas count while they follow on (2, 3, ...) and serve the same release as the first.
    let replicas = 1
    let allRunning = info.running && !info.restarting
    for (const [k, more] of others.entries()) {
      if (further[k] !== replicas + 1 || !more || more.labels[LABEL.release] !== info.labels[LABEL.release]) break
      replicas++
      allRunning &&= more.running && !more.restarting
    }
    return {
      color,
      exists: true,
      replicas,
      running: allRunning,
      image: info.labels[LABEL.image],
      releaseId: info.labels[LABEL.release],
      id: info.id,
      imageId: info.imageId,
      configHash: info.labels[LABEL.configHash]
    }
  }

  async recover(live: Release | undefined, preview: Release | undefined): Promise<void> {
    const all = await this.listed()
    const moved = await Promise.all(COLORS.map(color => this.recoverAside(color, all, live, preview)))
    const workersMoved = await this.workers.recoverAside(live, all)
    if (moved.includes(true) || workersMoved) this.listing = undefined
    await this.workers.stopStray(live, workersMoved ? undefined : all)
  }

  /**
   * A run that died between setting a container aside and finishing leaves it behind. If its color
   * is live the switch completed and the aside container is obsolete; otherwise the replacement
   * never went live: put the old container back.
   */
  private async recoverAside(color: Color, all: ContainerSummary[], live: Release | undefined, preview?: Release): Promise<boolean> {
    const { host, log } = this.ctx
    const { aside: found } = replicasAmong(all, this.app, color)
    for (const i of found) {
      const aside = await this.own(asideName(this.app, color, i))
      if (!aside) continue
      // A preview recorded on this color was gated: what it replaced is obsolete as after a switch.
      const current = preview?.color === color ? await host.inspect(containerName(this.app, color, i)) : undefined
      if (live?.color === color || (current && current.labels[LABEL.release] === preview?.instance)) {
        log.info(`Removing ${asideName(this.app, color, i)}, left behind by an interrupted run after its switch`)
        await host.remove(aside.id)
        await this.prune(aside.imageId)
      } else {
        log.info(`Recovering from an interrupted run: putting ${asideName(this.app, color, i)} back as ${containerName(this.app, color, i)}`)
        await this.restoreAside(color, i)
      }
    }
    return found.length > 0
  }

  async boot(plan: ActivePlan, release: Release): Promise<void> {
    const { config, host, log } = this.ctx
    const replicas = oneTo(plan.replicas)
    if (plan.kind === 'reuse-standby') {
      if (plan.mustStart) {
        for (const i of replicas) await host.start(containerName(this.app, plan.color, i))
        log.info(`Started the stopped standby ${this.describe(plan)}`)
      }
      return
    }
    // Every container of the color moves aside, those beyond the new size too: they are retired with it.
    const { serving } = await replicasOnHost(host, this.app, plan.color)
    this.replacing = serving.length > 0
    for (const i of union(serving, replicas)) await this.setAside(plan.color, i)
    for (const i of replicas) {
      const spec = containerSpec({
        app: this.app,
        color: plan.color,
        replica: i,
        image: plan.image,
        network: networkName(this.app),
        settings: config.container,
        appPort: config.health.port,
        releaseId: release.instance,
        startedAt: this.ctx.nowIso(),
        run: this.ctx.deps.run,
        hash: release.configHash
      })
      const containerId = await host.create(spec)
      await host.start(spec.name)
      log.info(`Started ${spec.name} (${containerId.slice(0, 12)}) from ${plan.image}`)
    }
  }

  /** How the boot and gate steps name the color's containers. */
  describe(plan: ActivePlan): string {
    const first = containerName(this.app, plan.color)
    return plan.replicas > 1 ? `${plan.replicas} replicas of ${plan.color} (${first}…)` : first
  }

  async gate(plan: ActivePlan, live: Release | undefined): Promise<void> {
    const { config, host, log, timeline, clock } = this.ctx
    const names = oneTo(plan.replicas).map(i => containerName(this.app, plan.color, i))
    // All replicas boot at once; the gate fails with the first one that fails.
    const outcomes = await timeline.step('healthy', `Waiting for ${this.describe(plan)} to be healthy`, async note => {
      const all = await Promise.all(
        names.map(async name => ({
          name,
          outcome: await waitHealthy({ host, name, network: networkName(this.app), settings: config.health, log, clock, aborted: () => this.ctx.abortReason })
        }))
      )
      const failed = all.find(o => !o.outcome.healthy)
      note(
        failed && !failed.outcome.healthy ? failed.outcome.reason : `${all.reduce((sum, o) => sum + (o.outcome.healthy ? o.outcome.probes : 0), 0)} probe(s)`
      )
      return all
    })
    this.ctx.checkAborted(live)
    const failed = outcomes.find(o => !o.outcome.healthy)
    if (failed && !failed.outcome.healthy) {
      const health = failed.outcome
      const logs = await host.logs(failed.name, 30).catch(e => `(logs unavailable: ${(e as Error).message})`)
      throw new ReleaseError({
        reason: `${failed.name} (${plan.image}) did not become healthy: ${health.reason}. ${live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'}`,
        logs,
        container: failed.name,
        exitCode: health.exitCode,
        oomKilled: health.oomKilled
      })
    }
    // A standby live until less than drain-timeout ago: asked now, while its servers are still its own.
    if (this.replacing && live && clock.now() - Date.parse(live.liveSince) < config.proxy.drainTimeoutMs) this.replacedIdle = colorIdle(this.ctx, plan.color)
    if (plan.kind === 'start-new' && config.container.restart.Name !== 'no') {
      // Set while the exposure writes its ledger entry (~50 ms each); it awaits gated() before any route changes.
      this.policies = Promise.all(names.map(n => host.setRestartPolicy(n, config.container.restart))).then(() => undefined)
      this.policies.catch(() => undefined)
    }
  }

  async gated(): Promise<void> {
    const policies = this.policies
    this.policies = undefined
    await Promise.all([policies, this.replacedIdle])
  }

  async startWorkers(plan: ActivePlan, release: Release, workers: WorkerRecord[], live: Release | undefined): Promise<void> {
    if (!workers.length) return
    const stillLive = live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'
    await this.ctx.timeline.step('workers', `Starting ${workers.length} worker(s) on ${plan.color}`, async () => {
      if (live && this.workers.roles.handover === 'stop-first') this.stoppedForHandover = await this.workers.stopBeforeHandover(live.color, plan.color)
      await this.workers.startAndGate(plan, release, workers, stillLive)
    })
    this.ctx.checkAborted(live)
  }

  async restore(plan: ActivePlan, workers: WorkerRecord[]): Promise<void> {
    const { log } = this.ctx
    // A restart policy still being set must not land on a container after it was stopped or kept.
    await this.gated().catch(() => undefined)
    if (workers.length || this.stoppedForHandover.length) {
      await this.workers.undo(plan, workers).catch(u => log.warning(`Could not undo the start of the workers: ${(u as Error).message}`))
      const stopped = this.stoppedForHandover
      this.stoppedForHandover = []
      await this.workers.resume(stopped).catch(u => log.warning(`Could not start the live workers again: ${(u as Error).message}`))
    }
    if (!this.ctx.web) return
    for (const i of oneTo(plan.replicas)) await this.discardFailed(plan.color, plan.kind === 'reuse-standby', i)
    if (plan.kind === 'start-new') {
      const { aside } = await replicasOnHost(this.ctx.host, this.app, plan.color)
      for (const i of aside) await this.restoreAside(plan.color, i)
    }
  }

  /** Moves the idle color's old container out of the way of its replacement; it keeps running. */
  private async setAside(color: Color, replica: number): Promise<void> {
    const old = await this.own(containerName(this.app, color, replica))
    if (!old) return
    await this.ctx.host.remove(asideName(this.app, color, replica))
    await this.ctx.host.rename(old.id, asideName(this.app, color, replica))
    this.ctx.log.info(`Set the old ${color}${replicaNote(replica)} container (${old.labels[LABEL.image] ?? '?'}) aside until ${color} is healthy and live`)
  }

  /** Puts the set-aside container back under its name after a failed release. */
  private async restoreAside(color: Color, replica: number): Promise<void> {
    const aside = await this.ctx.host.inspect(asideName(this.app, color, replica))
    if (!aside) return
    await this.ctx.host.remove(containerName(this.app, color, replica))
    await this.ctx.host.rename(aside.id, containerName(this.app, color, replica))
    this.ctx.log.info(`Put the previous ${color}${replicaNote(replica)} container back, so the standby is kept`)
  }

  /** Stops a container that failed its gate; removes it unless keep-failed (or it was the kept standby). */
  private async discardFailed(color: Color, wasStandby: boolean, replica: number): Promise<void> {
    const { host, log, config } = this.ctx
    const name = containerName(this.app, color, replica)
    try {
      if (config.keepFailed || wasStandby) {
        await host.stop(name, 5)
        if (wasStandby) {
          log.info(`Stopped ${name} again`)
        } else {
          // Out of the way of the standby being put back, under a name that says what it is.
          await host.remove(failedName(this.app, color, replica))
          await host.rename(name, failedName(this.app, color, replica))
          log.info(`Stopped the failed container and kept it as ${failedName(this.app, color, replica)} for inspection (keep-failed)`)
        }
      } else {
        await host.remove(name)
        log.info(`Removed the failed container ${name} (set keep-failed: true to keep it)`)
      }
    } catch (e) {
      log.warning(`Could not clean up ${name}: ${(e as Error).message}`)
    }
  }

  /**
   * Removes the containers the new color replaced (the old standby) and their image. That standby
   * may have been live until recently (a deploy right after a rollback) and still hold drained
   * connections, WebSockets above all: it gets what is left of its drain-timeout first.
   */
  async retireReplaced(before: Release | undefined, liveColor: Color, endedCanary?: LedgerRecord['endedCanary'], drain = true): Promise<void> {
    const { config, log, host, clock } = this.ctx
    const { aside } = await replicasOnHost(host, this.app, liveColor)
    const replaced = (await Promise.all(aside.map(i => host.inspect(asideName(this.app, liveColor, i))))).filter(c => c !== undefined)
    if (!replaced.length) return
    const what = `${liveColor} container${replaced.length > 1 ? `s (${replaced.length})` : ''} (${replaced[0].labels[LABEL.image] ?? '?'})`
    // It stopped being live when the release live before this run went live, or, for a canary ended since, when it was ended.
    const ended = endedCanary?.color === liveColor ? Date.parse(endedCanary.at) : NaN
    const liveUntil = Math.max(...[before ? Date.parse(before.liveSince) : NaN, ended].filter(t => Number.isFinite(t)), -Infinity)
    const drainLeft = liveUntil + config.proxy.drainTimeoutMs - clock.now()
    if (!drain && drainLeft > 0)
      log.info(`The run was cancelled: removing the replaced ${what} now, without the ${Math.ceil(drainLeft / 1000)} s of drain left`)
    const held = drain && replaced.some(c => c.running) && drainLeft > 0
    if (held && (await this.replacedIdle))
      log.info(
        `The replaced ${what} took new requests until ${Math.round((clock.now() - liveUntil) / 1000)} s ago, and the proxy held none of them any more before the switch: removing it now, without the ${Math.ceil(drainLeft / 1000)} s of drain-timeout left`
      )
    else if (held) {
      log.info(
        `The replaced ${what} took new requests until ${Math.round((clock.now() - liveUntil) / 1000)} s ago: letting its connections drain ${Math.ceil(drainLeft / 1000)} s more (drain-timeout) before removing it`
      )
      await clock.sleep(drainLeft)
    }
    for (const c of replaced) await host.remove(c.id)
    log.info(`Removed the replaced ${what}`)
    for (const imageId of new Set(replaced.map(c => c.imageId))) await this.prune(imageId)
  }

  async keepPrevious(before: Release | undefined, previousColor: Color): Promise<Standby | undefined> {
    const { config, log, host, router } = this.ctx
    if (!before) return undefined
    const { serving } = await replicasOnHost(host, this.app, previousColor)
    const names = serving.map(i => containerName(this.app, previousColor, i))
    const name = names.length > 1 ? `${names.join(', ')}` : containerName(this.app, previousColor)
    const standby: Standby = { color: before.color, image: before.image, state: 'running' }
    const endDrain = config.proxy.sticky ? router.endDrain?.bind(router) : undefined
    if (config.keepPrevious === 'running' && !endDrain) {
      log.info(`${name} ${names.length > 1 ? 'keep' : 'keeps'} running as the standby for an instant rollback.`)
      return standby
    }
    // sticky: clients holding a cookie of the old color stay on it until its drain ends, whatever keep-previous says.
    const then =
      config.keepPrevious === 'running'
        ? 'its sticky clients move over (it keeps running as the standby)'
        : `${names.length > 1 ? 'they are' : 'it is'} ${config.keepPrevious}`
    log.info(`Draining ${name} for ${config.proxy.drainTimeoutMs / 1000} s (drain-timeout) before ${then}`)
    const drained = await drainColor(this.ctx, previousColor, config.proxy.drainTimeoutMs)
    if (drained.early) log.info(`The proxy holds no request of ${name} any more, after ${drained.ms} ms: the drain ends early`)
    if (endDrain) await endDrain(previousColor)
    if (config.keepPrevious === 'running') return standby
    if (config.keepPrevious === 'stopped' && names.length) {
      for (const n of names) await host.stop(n, 10)
      standby.state = 'stopped'
    } else {
      for (const n of names) await host.remove(n)
      standby.state = 'removed'
    }
    return standby
  }

  retireWorkers(previous: Color | undefined, liveColor: Color): Promise<void> {
    return this.workers.retire(previous, liveColor)
  }

  async discard(release: Release): Promise<number> {
    const { host } = this.ctx
    const { serving, aside } = await replicasOnHost(host, this.app, release.color)
    // Only containers of the release: a color whose containers are something else (hand-made) is left alone.
    const found = await Promise.all(
      serving.map(async i => ({ name: containerName(this.app, release.color, i), info: await host.inspect(containerName(this.app, release.color, i)) }))
    )
    const ours = found.filter(f => f.info?.labels[LABEL.release] === release.instance).map(f => ({ ...f.info!, name: f.name }))
    // In-flight requests finish (SIGTERM, 5 s grace) before the containers go.
    await Promise.all(ours.map(c => host.stop(c.name, 5).catch(() => undefined)))
    for (const c of ours) await host.remove(c.name)
    for (const i of aside) await host.remove(asideName(this.app, release.color, i))
    for (const imageId of new Set(ours.map(i => i.imageId))) await this.prune(imageId)
    return ours.length
  }

  /** The first other app whose record names this image (by a reference or digest that is this image on the host). */
  private async recordedElsewhere(imageId: string): Promise<{ app: string; image: string } | undefined> {
    const recorded = await this.ctx.ledger.imagesOfOtherApps()
    const ids = new Map<string, Promise<string | undefined>>()
    for (const r of recorded)
      if (!ids.has(r.image))
        ids.set(
          r.image,
          this.ctx.host.image(r.image).then(i => i?.id)
        )
    for (const r of recorded) if ((await ids.get(r.image)) === imageId) return r
    return undefined
  }

  workerStates(color: Color): Promise<WorkerState[]> {
    return this.workers.states(color)
  }

  async isCurrent(live: Release, state: ColorState | undefined, image: ImageInfo, hash: string, replicas: number): Promise<boolean> {
    const roles = this.ctx.config.roles ?? NO_ROLES
    const sameSize = (live.replicas ?? 1) === replicas && (state?.replicas ?? 1) >= replicas
    const webSame = !this.ctx.web || (state?.running && state.imageId === image.id && state.configHash === hash && sameSize)
    return !!webSame && (await this.workers.allLive(live.color, image.id, hash, roles.workers))
  }

  async pullWorkerImages(workers: WorkerRecord[]): Promise<void> {
    await this.workers.pullImages(workers)
  }

  /**
   * Removes an image no container uses and no other app on the host records (issue #22: another
   * app may have just pulled it for its own release). Never fails the run: a prune left undone warns.
   */
  async prune(imageId: string): Promise<void> {
    const keeper = await this.recordedElsewhere(imageId).catch(e => {
      this.ctx.log.warning(`Kept the image ${imageId.slice(7, 19)}: could not tell whether another app on the host records it (${(e as Error).message})`)
      return null
    })
    if (keeper === null) return
    if (keeper) {
      this.ctx.log.info(`Kept the image ${imageId.slice(7, 19)}: the app ${keeper.app} records it (${keeper.image})`)
      return
    }
    const result = await this.ctx.host.removeImage(imageId).catch(e => {
      this.ctx.log.warning(`Could not prune image ${imageId}: ${(e as Error).message}`)
      return 'in-use' as const
    })
    if (result === 'removed') this.ctx.log.info(`Pruned the image ${imageId.slice(7, 19)}, no longer used by either color`)
  }
}

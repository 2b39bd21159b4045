import { randomBytes } from 'node:crypto'
import type { Config } from '../core/config.js'
import type { Log } from '../core/log.js'
import { asideName, COLORS, containerName, failedName, LABEL, networkName, otherColor, type Color } from '../core/names.js'
import { ReleaseError, type ReleaseResult, type ServedCheck, type Standby } from '../core/outcome.js'
import { emptyLedger, routingConflict, withLive, type LedgerRecord, type Release, type ReleaseAuthor, type RoutingClaim } from '../core/release.js'
import { configHash, containerSpec } from './container-spec.js'
import { describeAnswer } from './describe.js'
import { waitHealthy } from './health.js'
import { isContainerOf, planRelease, type ColorContainer, type Plan, type ReleaseRequest } from './plan.js'
import { systemClock, type Clock, type ContainerHost, type ImageInfo, type Ledger, type Route, type Router } from './ports.js'
import type { Timeline } from './timeline.js'

export interface EngineDeps {
  config: Config
  host: ContainerHost
  router: Router
  ledger: Ledger
  log: Log
  timeline: Timeline
  /** Who is deploying, recorded in container labels. */
  run: string
  /** Who is deploying, recorded in the ledger. */
  author: ReleaseAuthor
  clock?: Clock
  /** Release ids; injectable for tests. */
  newId?: () => string
  /** Told what the release will do once it is planned (the GitHub deployment is created then). */
  onPlanned?: (planned: PlannedRelease) => Promise<void>
  /**
   * Several hosts switched as one (src/fleet): awaited once the new color is healthy, before the
   * switch. Rejecting stops the release before the switch, undoing the boot as any failure there does.
   */
  beforeSwitch?: () => Promise<void>
  /** Awaited after the switch verified; rejecting switches back to the previous color and undoes, as a failed verify does. */
  afterVerify?: () => Promise<void>
}

export interface PlannedRelease {
  color: Color
  image: string
  /** What serves now, if anything. */
  from?: { color: Color; image: string }
  /** The recorded release a rollback brings back (its commit is what the deployment should point at). */
  restores?: Release
}

const VERIFY_TIMEOUT_MS = 10_000
/** mode status asks the proxy once what it serves: a live app answers well within this. */
const STATUS_PROBE_MS = 3000

/** What the inspect step found. */
interface HostState {
  record: LedgerRecord
  /** The live release, if any. */
  live?: Release
  containers: (ColorContainer & { id?: string; imageId?: string; configHash?: string })[]
}

function newReleaseId(): string {
  return `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
}

export class ReleaseEngine {
  private readonly clock: Clock
  private readonly newId: () => string
  /** The release found live at the start, so a failed run can still report what is live. */
  observed?: Release
  /** The ledger's releases as last known, for reports. */
  releases: Release[] = []

  constructor(private readonly deps: EngineDeps) {
    this.clock = deps.clock ?? systemClock
    this.newId = deps.newId ?? newReleaseId
  }

  private get app(): string {
    return this.deps.config.app
  }

  /** What this app claims on its proxy with this run's inputs. */
  private get claim(): RoutingClaim {
    return { proxy: this.deps.config.proxy.name, domains: this.deps.config.proxy.domains }
  }

  private get host(): ContainerHost {
    return this.deps.host
  }

  /**
   * The ledger, with an interrupted switch settled: a pending release the proxy already routes to
   * went live; any other pending release never did. A host deployed before the ledger existed is
   * read from what the router recorded then.
   */
  private async readLedger(): Promise<LedgerRecord> {
    const { ledger, router, log } = this.deps
    let record = await ledger.read()
    if (!record) {
      record = (await router.legacyRecord?.()) ?? emptyLedger(this.app)
      if (record.releases.length) log.info(`Imported the live release of ${this.app} from the proxy's route (recorded before the ledger existed)`)
    }
    if (record.pending) {
      const routed = await router.current()
      if (routed?.releaseId === record.pending.id) {
        log.info(`An interrupted run had switched to ${record.pending.color} (${record.pending.image}): recording it as live`)
        record = withLive(record, record.pending)
      } else {
        log.info(`An interrupted run never switched to ${record.pending.color} (${record.pending.image}): forgetting it`)
        record = { ...record, pending: undefined }
      }
    }
    this.releases = record.releases
    return record
  }

  private async inspectColors(): Promise<HostState['containers']> {
    return Promise.all(
      COLORS.map(async color => {
        const info = await this.host.inspect(containerName(this.app, color))
        if (!info) return { color, exists: false, running: false }
        return {
          color,
          exists: true,
          running: info.running && !info.restarting,
          image: info.labels[LABEL.image],
          releaseId: info.labels[LABEL.release],
          id: info.id,
          imageId: info.imageId,
          configHash: info.labels[LABEL.configHash]
        }
      })
    )
  }

  /** Reads what is live and on standby without changing anything. */
  async status(): Promise<ReleaseResult> {
    const { host, router, timeline, log } = this.deps
    return timeline.step('inspect', 'Reading the state of the host', async () => {
      const [record, containers, routed] = await Promise.all([this.readLedger(), host.listApp(this.app), router.current()])
      for (const c of containers) log.info(`container ${c.name}: ${c.state} (${c.status}), image ${c.image}`)
      const live = record.releases[0]
      this.observed = live
      if (!live) {
        log.info(`No deploy of ${this.app} is recorded on this host.`)
        return { result: 'unchanged', releases: [] }
      }
      const colors = await this.inspectColors()
      const liveContainer = colors.find(c => c.color === live.color)
      log.info(`Live: ${live.color} ${live.image} (since ${live.liveSince})${liveContainer?.running ? '' : ' — its container is NOT running'}`)
      const served = await this.checkServed(live, record.releases, routed)
      if (served.ok) log.info(served.text)
      else log.warning(served.text)
      const standby = this.standbyOf(record.releases, colors)
      if (standby) log.info(`Standby: ${standby.color} ${standby.image} (${standby.state})`)
      return { ...this.resultOf('unchanged', live, record.releases, liveContainer?.id, standby), served }
    })
  }

  /**
   * What the proxy serves, asked through it (not read from its configuration): a run interrupted
   * between the switch and the ledger, or a route changed by hand, shows here.
   */
  private async checkServed(live: Release, releases: Release[], routed: { color: Color; releaseId: string } | undefined): Promise<ServedCheck> {
    const { config, router } = this.deps
    const fix = 'the next deploy or rollback re-applies the recorded route.'
    if (!routed) return { ok: false, text: `The proxy has no route for ${this.app}: ${fix}` }
    const route: Route = { app: this.app, color: routed.color, releaseId: routed.releaseId, appPort: config.health.port }
    const probe = await router.verify(route, config.health.path, STATUS_PROBE_MS).catch((e: Error) => e)
    if (probe instanceof Error) return { ok: false, text: `Could not ask the proxy what it serves: ${probe.message}` }
    const named = (id: string) => {
      const r = releases.find(x => x.id === id)
      return r ? `${r.color} (${r.image})` : `release ${id}, which the ledger does not know`
    }
    if (!probe.ok) {
      return {
        ok: false,
        text: `Through the proxy, ${this.app} did not answer from ${named(routed.releaseId)} within ${STATUS_PROBE_MS / 1000} s (last answer: ${describeAnswer(probe.last)}).`
      }
    }
    if (routed.releaseId !== live.id)
      return { ok: false, text: `The proxy serves ${named(routed.releaseId)}, not the recorded live ${live.color} (${live.image}): ${fix}` }
    return { ok: true, text: `Served: ${live.color} (${live.image}) answered through the proxy in ${probe.ms} ms.` }
  }

  private standbyOf(releases: Release[], colors: ColorContainer[]): Standby | undefined {
    const previous = releases[1]
    if (!previous) return undefined
    const c = colors.find(x => x.color === previous.color)
    const state = !c || !isContainerOf(c, previous) ? 'removed' : c.running ? 'running' : 'stopped'
    return { color: previous.color, image: previous.image, state }
  }

  private resultOf(result: ReleaseResult['result'], live: Release, releases: Release[], containerId?: string, standby?: Standby): ReleaseResult {
    const previous = releases[1]
    return {
      result,
      color: live.color,
      image: live.image,
      containerId,
      deployedAt: live.liveSince,
      previousColor: previous?.color,
      previousImage: previous?.image,
      standby,
      release: live,
      releases
    }
  }

  /** A deploy or a rollback: start or reuse the idle color, gate on health, switch, verify, clean up. */
  async release(request: ReleaseRequest): Promise<ReleaseResult> {
    const { config, host, router, timeline, log } = this.deps
    const network = networkName(this.app)

    const state = await timeline.step('inspect', 'Reading the state of the host', async note => {
      const [record, missing, claims] = await Promise.all([this.readLedger(), host.missingNetworks(config.container.networks), this.deps.ledger.claims()])
      if (missing.length) {
        throw new ReleaseError({
          reason: `Input 'networks' names ${missing.join(', ')}, which the host does not have: create ${missing.length > 1 ? 'them' : 'it'} first (docker network create NAME). Nothing was changed.`
        })
      }
      const conflict = routingConflict(this.app, this.claim, claims)
      if (conflict) throw new ReleaseError({ reason: `${conflict} Nothing was changed.` })
      const live = record.releases[0]
      this.observed = live
      await Promise.all(COLORS.map(color => this.recoverAside(color, live)))
      const containers = await this.inspectColors()
      note(live ? `${live.color} live (${live.image})` : 'nothing deployed yet')
      log.info(live ? `Live: ${live.color} ${live.image}` : `No deploy of ${this.app} is recorded on this host yet.`)
      return { record, live, containers } satisfies HostState
    })
    const { record, live, containers } = state

    const plan = planRelease(record.releases, containers, request)
    if (plan.kind === 'impossible') throw new ReleaseError({ reason: `Cannot roll back ${this.app}: ${plan.why}.` })
    log.info(
      `Plan: ${plan.kind === 'start-new' ? `start ${plan.image} as ${plan.color}` : `switch to the standby ${plan.color} (${plan.image})`} — ${plan.why}`
    )
    await this.deps.onPlanned?.({
      color: plan.color,
      image: plan.image,
      from: live ? { color: live.color, image: live.image } : undefined,
      restores: plan.restores
    })

    // The proxy check does not depend on the image: it runs while the image is pulled.
    const proxyReady = host.ensureNetwork(network, { [LABEL.managed]: 'true', [LABEL.app]: this.app }).then(() => router.ensure(network))
    proxyReady.catch(() => undefined) // awaited below; this only keeps an early exit from leaving it unhandled
    const hash = configHash(config.container, config.health.port)
    let image: ImageInfo | undefined
    if (plan.kind === 'start-new') {
      try {
        const archive = request.kind === 'deploy' ? config.imageArchive : undefined
        image = archive ? await this.loadArchive(plan.image, archive.path, archive.bytes) : await this.pullFor(plan.image, request.kind)
      } catch (e) {
        await proxyReady.catch(() => undefined)
        throw e
      }
      const liveContainer = live ? containers.find(c => c.color === live.color) : undefined
      if (request.kind === 'deploy' && live && liveContainer?.running && liveContainer.imageId === image.id && liveContainer.configHash === hash) {
        await proxyReady
        return this.alreadyLive(record, live, liveContainer.id, containers)
      }
    }
    await proxyReady
    this.checkAborted()
    return this.switchTo(plan, record, live, containers, { request, image, hash, network })
  }

  private async switchTo(
    plan: Exclude<Plan, { kind: 'impossible' }>,
    record: LedgerRecord,
    live: Release | undefined,
    containers: ColorContainer[],
    the: { request: ReleaseRequest; image?: ImageInfo; hash: string; network: string }
  ): Promise<ReleaseResult> {
    const { config, router, ledger, timeline, log } = this.deps
    const name = containerName(this.app, plan.color)
    const id = this.newId()
    const release: Release = {
      id,
      instance: plan.kind === 'reuse-standby' ? plan.restores.instance : id,
      app: this.app,
      color: plan.color,
      image: plan.image,
      digest: the.image?.digest ?? (plan.kind === 'reuse-standby' ? plan.restores.digest : undefined),
      configHash: plan.kind === 'reuse-standby' ? plan.restores.configHash : the.hash,
      kind: the.request.kind,
      liveSince: '',
      by: this.deps.author
    }

    // Until the switch is verified, any failure (or an abort) leaves the host as it was found.
    let verifiedLive = false
    try {
      await this.bootAndGate(plan, name, the.network, live, release)
      this.checkAborted()
      await this.deps.beforeSwitch?.()
      this.checkAborted()

      const route: Route = { app: this.app, color: plan.color, releaseId: release.id, appPort: config.health.port }
      // Written before the switch: a run that dies between the switch and the final write is
      // finished by the next one, which finds the proxy already routing to this pending release.
      await ledger.write({ ...record, pending: release })
      this.checkAborted()
      await timeline.step('switch', `Switching the proxy to ${plan.color}`, () =>
        router.apply(route).catch((e: Error) => {
          throw new ReleaseError({
            reason: `The proxy could not be switched to ${plan.color}: ${e.message}. ${live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'}`
          })
        })
      )

      const verified = await timeline.step('verify', 'Verifying through the proxy', async note => {
        const v = await router.verify(route, config.health.path, VERIFY_TIMEOUT_MS)
        note(`${describeAnswer(v.last)} after ${v.ms} ms`)
        return v
      })
      if (!verified.ok) {
        const back = await this.switchBack(live)
        throw new ReleaseError({
          reason: `After the switch the proxy did not answer from ${plan.color} within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(verified.last)}), so it was switched back${back}.`
        })
      }
      if (this.deps.afterVerify) {
        await this.deps.afterVerify().catch(async (e: Error) => {
          const back = await this.switchBack(live)
          throw new ReleaseError({ reason: `${e.message}; ${plan.color} was switched back${back}.` })
        })
      }
      verifiedLive = true
    } catch (e) {
      if (!verifiedLive) {
        // Best effort: the error that stopped the release is what the run reports, even if undoing fails too
        // (a lost connection fails both; the next run recovers what is left).
        await this.undoBoot(plan).catch(u => log.warning(`Could not undo the start of ${name}: ${(u as Error).message}`))
        await this.forgetPending(record)
      }
      throw e
    }

    // Live from now: drains of the color it replaced count from this moment.
    release.liveSince = new Date(this.clock.now()).toISOString()
    const updated = { ...withLive(record, release), routing: this.claim }
    await ledger.write(updated)
    this.releases = updated.releases
    log.info(`${plan.image} is live on ${plan.color}.`)

    const standby = await timeline.step('cleanup', 'Cleaning up', () => this.cleanup(live, plan.color))
    const info = await this.host.inspect(name)
    return this.resultOf(the.request.kind === 'deploy' ? 'deployed' : 'rolled-back', release, updated.releases, info?.id, standby)
  }

  /** Routes the app back to what was live before the switch; says how that went, for the failure message. */
  private async switchBack(live: Release | undefined): Promise<string> {
    if (!live) return ''
    const previousRoute: Route = { app: this.app, color: live.color, releaseId: live.id, appPort: this.deps.config.health.port }
    return this.deps.router.apply(previousRoute).then(
      () => ` to ${live.color}`,
      (e: Error) => `; switching back to ${live.color} failed too (${e.message})`
    )
  }

  /** Starts the color (or the stopped standby) and waits for its health gate; throws ReleaseError when it fails. */
  private async bootAndGate(
    plan: Exclude<Plan, { kind: 'impossible' }>,
    name: string,
    network: string,
    live: Release | undefined,
    release: Release
  ): Promise<void> {
    const { config, host, timeline, log } = this.deps
    await timeline.step('boot', `Starting ${name}`, async () => {
      if (plan.kind === 'start-new') {
        await this.setAside(plan.color)
        const spec = containerSpec({
          app: this.app,
          color: plan.color,
          image: plan.image,
          network,
          settings: config.container,
          appPort: config.health.port,
          releaseId: release.instance,
          startedAt: new Date(this.clock.now()).toISOString(),
          run: this.deps.run
        })
        const containerId = await host.create(spec)
        await host.start(name)
        log.info(`Started ${name} (${containerId.slice(0, 12)}) from ${plan.image}`)
      } else if (plan.mustStart) {
        await host.start(name)
        log.info(`Started the stopped standby ${name}`)
      }
    })
    this.checkAborted()

    const health = await timeline.step('healthy', `Waiting for ${name} to be healthy`, async note => {
      const outcome = await waitHealthy({ host, name, network, settings: config.health, log, clock: this.clock, aborted: () => this.abortReason })
      note(outcome.healthy ? `${outcome.probes} probe(s)` : outcome.reason)
      return outcome
    })
    this.checkAborted()
    if (!health.healthy) {
      const logs = await host.logs(name, 30).catch(e => `(logs unavailable: ${(e as Error).message})`)
      throw new ReleaseError({
        reason: `${name} (${plan.image}) did not become healthy: ${health.reason}. ${live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'}`,
        logs,
        container: name,
        exitCode: health.exitCode,
        oomKilled: health.oomKilled
      })
    }
    if (plan.kind === 'start-new' && config.container.restart.Name !== 'no') {
      await host.setRestartPolicy(name, config.container.restart)
    }
  }

  /** Why the run was told to stop (a signal), if it was. */
  private abortReason?: string

  /**
   * Asks the release to stop at the next safe point: before the switch it undoes what it started and
   * fails; once the switch is verified it finishes (the new color is live either way).
   */
  abort(reason: string): void {
    this.abortReason ??= reason
  }

  private checkAborted(): void {
    if (this.abortReason)
      throw new ReleaseError({
        reason: `${this.abortReason}: stopped before the switch; ${this.observed ? `${this.observed.color} (${this.observed.image}) is still live` : 'nothing was switched'}.`
      })
  }

  /** A failed release leaves the host as it found it: the new container gone, the standby back. */
  private async undoBoot(plan: Exclude<Plan, { kind: 'impossible' }>): Promise<void> {
    await this.discardFailed(plan.color, plan.kind === 'reuse-standby')
    if (plan.kind === 'start-new') await this.restoreAside(plan.color)
  }

  private async forgetPending(record: LedgerRecord): Promise<void> {
    await this.deps.ledger
      .write({ ...record, pending: undefined })
      .catch(e => this.deps.log.warning(`Could not update the release ledger: ${(e as Error).message} (the next run settles it)`))
  }

  private async loadArchive(image: string, path: string, bytes: number): Promise<ImageInfo> {
    const { host, log, timeline } = this.deps
    return timeline.step('pull', `Loading ${image} from the image archive (${(bytes / 1e6).toFixed(1)} MB)`, async note => {
      try {
        await host.load(path, bytes, line => log.info(line))
      } catch (e) {
        throw new ReleaseError({ reason: `Loading the image archive ${path} into the host's Docker failed: ${(e as Error).message}` })
      }
      const loaded = await host.image(image)
      if (!loaded) throw new ReleaseError({ reason: `The image archive ${path} was loaded, but the host has no image ${image} afterwards` })
      note(`loaded ${(bytes / 1e6).toFixed(1)} MB over SSH`)
      return loaded
    })
  }

  private async pullFor(image: string, kind: ReleaseRequest['kind']): Promise<ImageInfo> {
    const { host, log, timeline } = this.deps
    return timeline.step('pull', `Pulling ${image}`, async note => {
      try {
        return await host.pull(image, line => log.info(line))
      } catch (e) {
        // A rollback may still use an image that is on the host but gone from the registry.
        const local = kind === 'rollback' ? await host.image(image) : undefined
        if (local) {
          log.warning(`${(e as Error).message}; using the copy already on the host`)
          note('used the local copy')
          return local
        }
        throw new ReleaseError({ reason: (e as Error).message })
      }
    })
  }

  /** The image and settings asked for are already live: make sure the proxy serves them, change nothing else. */
  private async alreadyLive(record: LedgerRecord, live: Release, containerId: string | undefined, containers: ColorContainer[]): Promise<ReleaseResult> {
    const { router, log, timeline, config, ledger } = this.deps
    const route: Route = { app: this.app, color: live.color, releaseId: live.id, appPort: config.health.port }
    await timeline.step('verify', 'Verifying through the proxy', async note => {
      let v = await router.verify(route, config.health.path, 2000)
      // Proxy settings changed with the same image (a new TLS certificate, say): applied as a route.
      const outdated = v.ok && (await router.outdated?.(route))
      if (!v.ok || outdated) {
        // A run that died mid-switch, or a proxy re-created since: apply the recorded route again.
        log.info(
          outdated
            ? `The proxy's settings for ${this.app} changed: applying them to the live ${live.color}`
            : `The proxy does not serve ${live.color} (${describeAnswer(v.last)}); applying the recorded route again`
        )
        await router.apply(route)
        v = await router.verify(route, config.health.path, VERIFY_TIMEOUT_MS)
        if (!v.ok) throw new ReleaseError({ reason: `The proxy does not serve ${live.color}: ${describeAnswer(v.last)}` })
      }
      note(describeAnswer(v.last))
    })
    // Keep what the inspect step settled (an imported or finished release) on record.
    await ledger.write({ ...record, routing: this.claim })
    log.info(`${live.image} is already live on ${live.color} with the same settings; nothing to do.`)
    return this.resultOf('unchanged', live, record.releases, containerId, this.standbyOf(record.releases, containers))
  }

  /** Moves the idle color's old container out of the way of its replacement; it keeps running. */
  private async setAside(color: Color): Promise<void> {
    const old = await this.host.inspect(containerName(this.app, color))
    if (!old) return
    await this.host.remove(asideName(this.app, color))
    await this.host.rename(old.id, asideName(this.app, color))
    this.deps.log.info(`Set the old ${color} container (${old.labels[LABEL.image] ?? '?'}) aside until ${color} is healthy and live`)
  }

  /** Puts the set-aside container back under its name after a failed release. */
  private async restoreAside(color: Color): Promise<void> {
    const aside = await this.host.inspect(asideName(this.app, color))
    if (!aside) return
    await this.host.remove(containerName(this.app, color))
    await this.host.rename(aside.id, containerName(this.app, color))
    this.deps.log.info(`Put the previous ${color} container back, so the standby is kept`)
  }

  /**
   * A run that died between setting a container aside and finishing leaves it behind.
   * If its color is live the switch completed and the aside container is obsolete;
   * otherwise the replacement never went live: put the old container back.
   */
  private async recoverAside(color: Color, live: Release | undefined): Promise<void> {
    const aside = await this.host.inspect(asideName(this.app, color))
    if (!aside) return
    if (live?.color === color) {
      this.deps.log.info(`Removing ${asideName(this.app, color)}, left behind by an interrupted run after its switch`)
      await this.host.remove(aside.id)
      await this.pruneImage(aside.imageId)
    } else {
      this.deps.log.info(`Recovering from an interrupted run: putting ${asideName(this.app, color)} back as ${containerName(this.app, color)}`)
      await this.restoreAside(color)
    }
  }

  /** Stops a container that failed its gate; removes it unless keep-failed (or it was the kept standby). */
  private async discardFailed(color: Color, wasStandby: boolean): Promise<void> {
    const name = containerName(this.app, color)
    try {
      if (this.deps.config.keepFailed || wasStandby) {
        await this.host.stop(name, 5)
        if (wasStandby) {
          this.deps.log.info(`Stopped ${name} again`)
        } else {
          // Out of the way of the standby being put back, under a name that says what it is.
          await this.host.remove(failedName(this.app, color))
          await this.host.rename(name, failedName(this.app, color))
          this.deps.log.info(`Stopped the failed container and kept it as ${failedName(this.app, color)} for inspection (keep-failed)`)
        }
      } else {
        await this.host.remove(name)
        this.deps.log.info(`Removed the failed container ${name} (set keep-failed: true to keep it)`)
      }
    } catch (e) {
      this.deps.log.warning(`Could not clean up ${name}: ${(e as Error).message}`)
    }
  }

  private async cleanup(before: Release | undefined, liveColor: Color): Promise<Standby | undefined> {
    // Both wait out drain times; they overlap rather than add up.
    const [, standby] = await Promise.all([this.retireReplaced(before, liveColor), this.applyKeepPrevious(before, otherColor(liveColor))])
    return standby
  }

  /**
   * Removes the container the new color replaced (the old standby) and its image. That standby
   * may have been live until recently (a deploy right after a rollback) and still hold drained
   * connections, WebSockets above all: it gets what is left of its drain-timeout first.
   */
  private async retireReplaced(before: Release | undefined, liveColor: Color): Promise<void> {
    const { config, log } = this.deps
    const replaced = await this.host.inspect(asideName(this.app, liveColor))
    if (!replaced) return
    const what = `${liveColor} container (${replaced.labels[LABEL.image] ?? '?'})`
    // It stopped being live when the release live before this run went live.
    const liveUntil = before ? Date.parse(before.liveSince) : NaN
    const drainLeft = liveUntil + config.proxy.drainTimeoutMs - this.clock.now()
    if (replaced.running && drainLeft > 0) {
      log.info(
        `The replaced ${what} was live ${Math.round((this.clock.now() - liveUntil) / 1000)} s ago: letting its connections drain ${Math.ceil(drainLeft / 1000)} s more (drain-timeout) before removing it`
      )
      await this.clock.sleep(drainLeft)
    }
    await this.host.remove(replaced.id)
    log.info(`Removed the replaced ${what}`)
    await this.pruneImage(replaced.imageId)
  }

  /** Applies keep-previous to the color that served before, after the drain time. */
  private async applyKeepPrevious(before: Release | undefined, previousColor: Color): Promise<Standby | undefined> {
    const { config, log } = this.deps
    if (!before) return undefined
    const name = containerName(this.app, previousColor)
    const standby: Standby = { color: before.color, image: before.image, state: 'running' }
    if (config.keepPrevious === 'running') {
      log.info(`${name} keeps running as the standby for an instant rollback.`)
      return standby
    }
    log.info(`Draining ${name} for ${config.proxy.drainTimeoutMs / 1000} s (drain-timeout) before it is ${config.keepPrevious}`)
    await this.clock.sleep(config.proxy.drainTimeoutMs)
    if (config.keepPrevious === 'stopped' && (await this.host.inspect(name))) {
      await this.host.stop(name, 10)
      standby.state = 'stopped'
    } else {
      await this.host.remove(name)
      standby.state = 'removed'
    }
    return standby
  }

  private async pruneImage(imageId: string): Promise<void> {
    const result = await this.host.removeImage(imageId).catch(e => {
      this.deps.log.warning(`Could not prune image ${imageId}: ${(e as Error).message}`)
      return 'in-use' as const
    })
    if (result === 'removed') this.deps.log.info(`Pruned the image ${imageId.slice(7, 19)}, no longer used by either color`)
  }
}

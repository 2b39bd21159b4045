import { randomBytes } from 'node:crypto'
import type { Config, WatchSettings } from '../core/config.js'
import type { Log } from '../core/log.js'
import { asideName, COLORS, containerName, failedName, LABEL, networkName, otherColor, type Color } from '../core/names.js'
import { ReleaseError, type PreviewState, type ReleaseResult, type ServedCheck, type Standby } from '../core/outcome.js'
import { previewUrlOf } from '../core/preview.js'
import {
  emptyLedger,
  routingConflict,
  withLive,
  type LedgerRecord,
  type Release,
  type ReleaseAuthor,
  type RoutingClaim,
  type WorkerRecord
} from '../core/release.js'
import { configHash, containerSpec } from './container-spec.js'
import { describeAnswer } from './describe.js'
import { waitHealthy } from './health.js'
import { isContainerOf, planRelease, type ColorContainer, type Plan, type ReleaseRequest } from './plan.js'
import { oneTo, replicasOnHost, union } from './replicas.js'
import { MAX_REPLICAS } from '../core/names.js'
import { LedgerError, systemClock, type Clock, type ContainerHost, type ImageInfo, type Ledger, type Route, type Router, type VerifyResult } from './ports.js'
import { missingLedgerProblem, rebuildMissingLedger } from './ledger-guard.js'
import type { Timeline } from './timeline.js'
import { runReleaseCommand, type UntrustedOutput } from './release-command.js'
import { NO_ROLES, recordOf, releaseHash, Workers, workersFor } from './workers.js'
import { ensureComposeNetworks, externalNetworks } from './compose-project.js'
import { ensureShared } from './shared-services.js'
import { watchRelease } from './watch.js'

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
  /** Where a release command's output is printed (it is the container's text, not to be obeyed as workflow commands). */
  output?: UntrustedOutput
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
  /** promote manual: the release will wait as a preview beside the live one, not go live. */
  preview?: boolean
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

/** ' (replica N)' for replicas after the first, so one-container logs read as before. */
function replicaNote(replica: number): string {
  return replica > 1 ? ` (replica ${replica})` : ''
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
  /** A canary ended without going live, as read from the ledger: its color drains from then. */
  private endedCanary?: LedgerRecord['endedCanary']

  private readonly workers: Workers
  /** Fires on abort: what waits on a container (the release command) stops at once. */
  private readonly aborter = new AbortController()

  constructor(private readonly deps: EngineDeps) {
    this.clock = deps.clock ?? systemClock
    this.newId = deps.newId ?? newReleaseId
    this.workers = new Workers({
      config: deps.config,
      host: deps.host,
      log: deps.log,
      clock: this.clock,
      run: deps.run,
      network: networkName(deps.config.app),
      aborted: () => this.abortReason
    })
  }

  /** false with app-port: none: no web role, so no proxy is created, asked or switched. */
  private get web(): boolean {
    return (this.deps.config.roles ?? NO_ROLES).web
  }

  /** What the ledger records as the app's claim on its proxy (none without a web role). */
  private get routing(): RoutingClaim | undefined {
    return this.web ? this.claim : undefined
  }

  /** The live release's workers, for outputs and the summary. */
  private async workerStates(live: Release): Promise<Pick<ReleaseResult, 'workers'>> {
    const states = await this.workers.states(live.color)
    return states.length ? { workers: states } : {}
  }

  private get app(): string {
    return this.deps.config.app
  }

  /** What this app claims on its proxy with this run's inputs. */
  private get claim(): RoutingClaim {
    const { name, domains, previewDomains } = this.deps.config.proxy
    return { proxy: name, domains, ...(previewDomains?.length ? { previewDomains } : {}) }
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
      record = (this.web ? await router.legacyRecord?.() : undefined) ?? emptyLedger(this.app)
      if (record.releases.length) log.info(`Imported the live release of ${this.app} from the proxy's route (recorded before the ledger existed)`)
      // [ledger-guard, issue #27] no ledger while cutover's containers for the app exist: stop, never a "first deploy".
      const missing = record.releases.length ? undefined : missingLedgerProblem(this.app, await this.host.listApp(this.app))
      if (missing) throw new LedgerError(missing)
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
    this.endedCanary = record.endedCanary
    return record
  }

  private async inspectColors(releases: Release[]): Promise<HostState['containers']> {
    return Promise.all(
      COLORS.map(async color => {
        // Without a web role, a color is its workers.
        if (!this.web) return this.workers.colorState(color, releases)
        const info = await this.host.inspect(containerName(this.app, color))
        if (!info) return { color, exists: false, running: false }
        // Further replicas count while they serve the same release as the first.
        let replicas = 1
        let allRunning = info.running && !info.restarting
        for (let i = 2; i <= MAX_REPLICAS; i++) {
          const more = await this.host.inspect(containerName(this.app, color, i))
          if (!more || more.labels[LABEL.release] !== info.labels[LABEL.release]) break
          replicas = i
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
      })
    )
  }

  /** Reads what is live and on standby without changing anything. */
  async status(): Promise<ReleaseResult> {
    const { host, router, timeline, log } = this.deps
    return timeline.step('inspect', 'Reading the state of the host', async note => {
      // [ledger-guard, issue #27] rebuild-ledger: a missing ledger rebuilt from the containers and the route first.
      if (this.deps.config.rebuildLedger) note(await rebuildMissingLedger({ ...this.deps, router: this.web ? router : undefined }, this.app, this.routing))
      const [record, containers, routed] = await Promise.all([this.readLedger(), host.listApp(this.app), this.web ? router.current() : undefined])
      for (const c of containers) log.info(`container ${c.name}: ${c.state} (${c.status}), image ${c.image}`)
      const live = record.releases[0]
      this.observed = live
      if (!live) {
        log.info(`No deploy of ${this.app} is recorded on this host.`)
        return { result: 'unchanged', releases: [] }
      }
      const colors = await this.inspectColors(record.releases)
      const liveContainer = colors.find(c => c.color === live.color)
      log.info(`Live: ${live.color} ${live.image} (since ${live.liveSince})${liveContainer?.running ? '' : ' — its container is NOT running'}`)
      // Without a web role there is no proxy to ask.
      const served = this.web ? await this.checkServed(live, record.releases, routed) : undefined
      if (served?.ok) log.info(served.text)
      else if (served) log.warning(served.text)
      const standby = this.standbyOf(record.releases, colors)
      if (standby) log.info(`Standby: ${standby.color} ${standby.image} (${standby.state})`)
      if (record.canary) {
        const c = record.canary
        log.info(`Canary: ${c.release.color} ${c.release.image} serves ${c.weight} % of new requests since ${c.since} (mode promote or rollback ends it)`)
      }
      const preview = record.preview && this.previewState(record.preview)
      if (preview) {
        const running = colors.find(c => c.color === preview.color)
        const ok = running?.running && isContainerOf(running, record.preview!.release)
        const where = preview.url ? ` at ${preview.url}` : ''
        const text = `Preview: ${preview.color} ${preview.image} waits for mode promote since ${preview.since}${where}${ok ? '' : ' — its containers are NOT running'}`
        if (ok) log.info(text)
        else log.warning(text)
      }
      return {
        ...this.resultOf('unchanged', live, record.releases, liveContainer?.id, standby),
        ...(preview ? { preview } : {}),
        ...(served ? { served } : {}),
        ...(await this.workerStates(live))
      }
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
      const [record, missing, claims] = await Promise.all([this.readLedger(), host.missingNetworks(externalNetworks(config)), this.deps.ledger.claims()])
      if (missing.length) {
        throw new ReleaseError({
          reason: `Input 'networks' names ${missing.join(', ')}, which the host does not have: create ${missing.length > 1 ? 'them' : 'it'} first (docker network create NAME). Nothing was changed.`
        })
      }
      const conflict = this.web ? routingConflict(this.app, this.claim, claims) : undefined
      if (conflict) throw new ReleaseError({ reason: `${conflict} Nothing was changed.` })
      const live = record.releases[0]
      this.observed = live
      if (!this.web && live && live.web !== false) {
        throw new ReleaseError({
          reason: `Input 'app-port' is none, but the live release of ${this.app} (${live.image}) has a web role behind the proxy: cutover does not take a web role away. Deploy the workers under another app name, or remove ${this.app}'s containers first. Nothing was changed.`
        })
      }
      await Promise.all(COLORS.map(color => this.recoverAside(color, live, record.preview?.release)))
      await this.workers.recoverAside(live)
      await this.workers.stopStray(live)
      const containers = await this.inspectColors(record.releases)
      note(live ? `${live.color} live (${live.image})` : 'nothing deployed yet')
      log.info(live ? `Live: ${live.color} ${live.image}` : `No deploy of ${this.app} is recorded on this host yet.`)
      return { record, live, containers } satisfies HostState
    })
    const { record, live, containers } = state
    // mode rollback while a canary serves: the canary ends (it never went live), the live release stays.
    if (request.kind === 'rollback' && record.canary && live && !request.toImage && request.toRelease === undefined) {
      return this.endCanary(record, live, network)
    }
    // mode rollback while a preview waits: the preview goes, the live release is not touched.
    if (request.kind === 'rollback' && record.preview && live && !request.toImage && request.toRelease === undefined) {
      return this.discardPreview(record, live)
    }
    if (record.preview && request.kind === 'deploy') {
      const p = record.preview.release
      log.info(`A preview of ${p.image} on ${p.color} waits since ${record.preview.since}: this deploy replaces it`)
    }

    const plan = planRelease(record.releases, containers, { replicas: config.strategy.replicas, ...request })
    if (plan.kind === 'impossible') throw new ReleaseError({ reason: `Cannot roll back ${this.app}: ${plan.why}.` })
    log.info(
      `Plan: ${plan.kind === 'start-new' ? `start ${plan.image} as ${plan.color}` : `switch to the standby ${plan.color} (${plan.image})`} — ${plan.why}`
    )
    await this.deps.onPlanned?.({
      color: plan.color,
      image: plan.image,
      from: live ? { color: live.color, image: live.image } : undefined,
      restores: plan.restores,
      ...(config.strategy.promote === 'manual' && live && request.kind === 'deploy' && !config.strategy.canaryWeight ? { preview: true } : {})
    })

    // The proxy check does not depend on the image: it runs while the image is pulled.
    const proxyReady = host
      .ensureNetwork(network, { [LABEL.managed]: 'true', [LABEL.app]: this.app })
      .then(() => ensureComposeNetworks(host, config))
      .then(() => (this.web ? router.ensure(network) : undefined))
    proxyReady.catch(() => undefined) // awaited below; this only keeps an early exit from leaving it unhandled
    const roles = config.roles ?? NO_ROLES
    const hash = releaseHash(configHash(config.container, config.health.port), roles)
    if (config.shared?.length) await this.startShared(proxyReady, network)
    let image: ImageInfo | undefined
    if (plan.kind === 'start-new') {
      try {
        const archive = request.kind === 'deploy' ? config.imageArchive : undefined
        image = archive ? await this.loadArchive(plan.image, archive.path, archive.bytes) : await this.pullFor(plan.image, request.kind)
        // compose-file: services of another image than the routed one.
        if (request.kind === 'deploy') await this.workers.pullImages(roles.workers.map(recordOf))
      } catch (e) {
        await proxyReady.catch(() => undefined)
        throw e
      }
      const liveContainer = live ? containers.find(c => c.color === live.color) : undefined
      const sameSize = (live?.replicas ?? 1) === plan.replicas && (liveContainer?.replicas ?? 1) >= plan.replicas
      const webSame = !this.web || (liveContainer?.running && liveContainer.imageId === image.id && liveContainer.configHash === hash && sameSize)
      if (request.kind === 'deploy' && live && webSame && (await this.workers.allLive(live.color, image.id, hash, roles.workers))) {
        await proxyReady
        return this.alreadyLive(record, live, liveContainer?.id, containers)
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
    the: { request: ReleaseRequest; image?: ImageInfo; hash: string; network: string; promoting?: boolean }
  ): Promise<ReleaseResult> {
    const { config, router, ledger, timeline, log } = this.deps
    const name = containerName(this.app, plan.color)
    const id = this.newId()
    const workers = workersFor(plan, config.roles ?? NO_ROLES)
    const release: Release = {
      id,
      instance: plan.kind === 'reuse-standby' ? plan.restores.instance : id,
      app: this.app,
      color: plan.color,
      image: plan.image,
      digest: the.image?.digest ?? (plan.kind === 'reuse-standby' ? plan.restores.digest : undefined),
      configHash: plan.kind === 'reuse-standby' ? plan.restores.configHash : the.hash,
      kind: the.request.kind,
      ...(plan.replicas > 1 ? { replicas: plan.replicas } : {}),
      liveSince: '',
      by: this.deps.author,
      ...(workers.length ? { workers } : {}),
      ...(this.web ? {} : { web: false })
    }
    const stillLive = live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'

    // Migrations before anything of the new release starts; nothing to undo when they fail.
    if (config.releaseCommand && the.request.kind === 'deploy' && plan.kind === 'start-new' && the.image) {
      record = await this.releaseCommand(record, { ref: plan.image, id: the.image.id }, the.network, stillLive)
    }

    // Without a web role there is nothing to switch: the release is live once its workers are.
    if (!this.web) return this.releaseWorkersOnly(plan, record, live, release, workers, stillLive, the.request.kind)

    const canaryWeight = config.strategy.canaryWeight
    if (canaryWeight !== undefined && live && the.request.kind === 'deploy') return this.startCanary(plan, record, live, the.network, release, canaryWeight)
    // promote manual: gated, not switched to; with nothing live there is nothing to preview beside, so it goes live.
    if (config.strategy.promote === 'manual' && the.request.kind === 'deploy' && !the.promoting) {
      if (live) return this.startPreview(plan, record, live, the.network, release)
      log.info('promote manual: nothing is live yet, so this first deploy goes live without waiting for mode promote')
    }

    // Until the switch is verified, any failure (or an abort) leaves the host as it was found.
    let verifiedLive = false
    try {
      await this.bootAndGate(plan, name, the.network, live, release)
      this.checkAborted()
      await this.startWorkers(plan, release, workers, stillLive, live)
      await this.deps.beforeSwitch?.()
      this.checkAborted()

      const route: Route = { app: this.app, color: plan.color, releaseId: release.id, appPort: config.health.port, replicas: plan.replicas }
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

      const verified = await this.verifyStep(route)
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
        await this.undoWorkers(plan, workers)
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

    // watch: the previous color keeps running (keep-previous waits) until the new one has passed it.
    const watch = config.strategy.watch
    if (watch && the.request.kind === 'deploy') {
      const route: Route = { app: this.app, color: plan.color, releaseId: release.id, appPort: config.health.port, replicas: plan.replicas }
      await this.watchLive(plan, updated, live, release, route, watch)
    }

    const standby = await timeline.step('cleanup', 'Cleaning up', () => this.cleanup(live, plan.color))
    const info = await this.host.inspect(name)
    const result = this.resultOf(the.request.kind === 'deploy' ? 'deployed' : 'rolled-back', release, updated.releases, info?.id, standby)
    return { ...result, ...(await this.workerStates(release)) }
  }

  /**
   * watch (issue #12): observes the new, live color. Passing returns (cleanup follows); a failure
   * switches back to the previous release (graceful, as any switch), records it live again and
   * throws with what was seen; a cancel stops watching and leaves the new color live.
   */
  private async watchLive(
    plan: Exclude<Plan, { kind: 'impossible' }>,
    record: LedgerRecord,
    live: Release | undefined,
    release: Release,
    route: Route,
    settings: WatchSettings
  ): Promise<void> {
    const { config, router, ledger, timeline, log } = this.deps
    // From here a failed run reports the new release as live (it is, until switched back).
    this.observed = release
    const deployed = (): ReleaseResult => this.resultOf('deployed', release, record.releases)
    const watched = await timeline
      .step('watch', `Watching ${plan.color} for ${Math.round(settings.durationMs / 1000)} s`, async note => {
        const w = await watchRelease({
          router,
          route,
          healthPath: config.health.path,
          settings,
          clock: this.clock,
          log,
          aborted: () => this.abortReason
        })
        note(w.kind === 'failed' ? w.reason : w.summary)
        if (w.kind === 'failed') throw new ReleaseError({ reason: `watch: ${w.reason}` })
        return w
      })
      .catch((e: unknown) => {
        if (e instanceof ReleaseError) return { kind: 'failed' as const, reason: e.failure.reason.replace(/^watch: /, '') }
        throw e
      })
    if (watched.kind === 'passed') {
      log.info(`watch: ${plan.image} on ${plan.color} passed: ${watched.summary}.`)
      return
    }
    if (watched.kind === 'aborted') {
      // The switch is done and verified: a cancel is not a verdict on the release. Nothing more
      // happens on the host (keep-previous too waits for the next run): the cancel grace is short.
      throw new ReleaseError(
        {
          reason: `${watched.abortReason} during the watch, after ${Math.round(watched.ms / 1000)} s (${watched.summary}): ${plan.color} (${plan.image}) stays live; a cancelled watch does not roll back.`
        },
        deployed()
      )
    }
    const seen = `watch: ${watched.reason}`
    log.warning(seen)
    if (!live) {
      throw new ReleaseError({ reason: `${seen}; there is no previous release to roll back to, so ${plan.color} (${plan.image}) stays live.` }, deployed())
    }
    const back = this.liveRoute(live)
    await timeline.step('switch', `Switching back to ${live.color} (the watch failed)`, () =>
      router.apply(back).catch((e: Error) => {
        throw new ReleaseError(
          { reason: `${seen}; switching back to ${live.color} failed (${e.message}), so ${plan.color} (${plan.image}) is still live.` },
          deployed()
        )
      })
    )
    const verified = await this.verifyStep(back)
    // The proxy routes to the previous release either way: the ledger says so.
    const restored: Release = { ...live, liveSince: new Date(this.clock.now()).toISOString() }
    this.observed = restored
    const rolled = { ...withLive(record, restored), routing: this.claim }
    await ledger.write(rolled)
    this.releases = rolled.releases
    log.info(`Rolled back to ${live.image} on ${live.color}: it serves again.`)
    // The new color is now the one that served before: drained, then keep-previous; the containers
    // it had replaced (the old standby) go; its workers stop (the previous ones never did).
    const standby = await timeline.step('cleanup', 'Cleaning up', async () => {
      const [, kept] = await Promise.all([
        this.retireReplaced(live, plan.color),
        this.applyKeepPrevious(release, plan.color),
        this.workers.retire(plan.color, live.color)
      ])
      // keep-previous running keeps what is there: a new color that went down stays down.
      const left = await this.host.inspect(containerName(this.app, plan.color))
      return kept?.state === 'running' && !left?.running ? { ...kept, state: 'stopped' as const } : kept
    })
    const info = await this.host.inspect(containerName(this.app, live.color))
    const unconfirmed = verified.ok ? '' : ` (the proxy did not confirm it within ${VERIFY_TIMEOUT_MS / 1000} s: ${describeAnswer(verified.last)})`
    throw new ReleaseError(
      { reason: `${seen}: rolled back to ${live.color} (${live.image})${unconfirmed}` },
      { ...this.resultOf('auto-rolled-back', restored, rolled.releases, info?.id, standby), ...(await this.workerStates(restored)) }
    )
  }

  /** compose-shared-services: running (and healthy) before anything of the release starts. */
  private async startShared(networkReady: Promise<void>, network: string): Promise<void> {
    await networkReady
    await this.deps.timeline.step('shared', 'Starting the shared services', note =>
      ensureShared({
        note,
        config: this.deps.config,
        host: this.host,
        log: this.deps.log,
        clock: this.clock,
        network,
        run: this.deps.run,
        aborted: () => this.abortReason
      })
    )
  }

  /** Runs the release command (unless it already succeeded for this release); returns the ledger record as updated. */
  private async releaseCommand(record: LedgerRecord, image: { ref: string; id: string }, network: string, stillLive: string): Promise<LedgerRecord> {
    const { config, ledger, log, timeline } = this.deps
    const updated = await timeline.step('release-command', 'Running the release command', () =>
      runReleaseCommand(
        {
          config,
          host: this.host,
          ledger,
          log,
          clock: this.clock,
          network,
          run: this.deps.run,
          output: this.deps.output ?? ((title, body) => log.group(title, () => body(line => log.info(line)))),
          abort: this.aborter.signal,
          abortReason: () => this.abortReason
        },
        record,
        image,
        stillLive
      )
    )
    this.checkAborted()
    return updated
  }

  /** Live workers stopped for a stop-first hand-over: started again if the release fails before the switch. */
  private stoppedForHandover: string[] = []

  /**
   * Starts the release's workers once its web color is healthy (before the switch), when it has
   * any; with worker-handover stop-first, the live workers stop first.
   */
  private async startWorkers(
    plan: Exclude<Plan, { kind: 'impossible' }>,
    release: Release,
    workers: WorkerRecord[],
    stillLive: string,
    live: Release | undefined
  ): Promise<void> {
    if (!workers.length) return
    await this.deps.timeline.step('workers', `Starting ${workers.length} worker(s) on ${plan.color}`, async () => {
      if (live && this.workers.roles.handover === 'stop-first') this.stoppedForHandover = await this.workers.stopBeforeHandover(live.color, plan.color)
      await this.workers.startAndGate(plan, release, workers, stillLive)
    })
    this.checkAborted()
  }

  /** A release failed before its switch: its workers go, the live ones stopped for the hand-over come back. */
  private async undoWorkers(plan: Exclude<Plan, { kind: 'impossible' }>, workers: WorkerRecord[]): Promise<void> {
    const { log } = this.deps
    await this.workers.undo(plan, workers).catch(u => log.warning(`Could not undo the start of the workers: ${(u as Error).message}`))
    const stopped = this.stoppedForHandover
    this.stoppedForHandover = []
    await this.workers.resume(stopped).catch(u => log.warning(`Could not start the live workers again: ${(u as Error).message}`))
  }

  /** app-port none: start the new workers, gate them, then stop the old ones. No proxy is involved. */
  private async releaseWorkersOnly(
    plan: Exclude<Plan, { kind: 'impossible' }>,
    record: LedgerRecord,
    live: Release | undefined,
    release: Release,
    workers: WorkerRecord[],
    stillLive: string,
    kind: ReleaseRequest['kind']
  ): Promise<ReleaseResult> {
    const { ledger, log, timeline } = this.deps
    try {
      await this.startWorkers(plan, release, workers, stillLive, live)
    } catch (e) {
      await this.undoWorkers(plan, workers)
      throw e
    }
    release.liveSince = new Date(this.clock.now()).toISOString()
    const updated = withLive(record, release)
    await ledger.write(updated)
    this.releases = updated.releases
    log.info(`${plan.image} is live on ${plan.color} (workers only).`)
    await timeline.step('cleanup', 'Stopping the previous workers', () => this.workers.retire(live?.color, plan.color))
    const colors = await this.inspectColors(updated.releases)
    const result = this.resultOf(kind === 'deploy' ? 'deployed' : 'rolled-back', release, updated.releases, undefined, this.standbyOf(updated.releases, colors))
    return { ...result, ...(await this.workerStates(release)) }
  }

  /** The verify step: asks through the proxy until `route`'s release answers, or VERIFY_TIMEOUT_MS. */
  private verifyStep(route: Route): Promise<VerifyResult> {
    const { router, config, timeline } = this.deps
    return timeline.step('verify', 'Verifying through the proxy', async note => {
      const v = await router.verify(route, config.health.path, VERIFY_TIMEOUT_MS)
      note(`${describeAnswer(v.last)} after ${v.ms} ms`)
      return v
    })
  }

  /** Routes the app back to what was live before the switch; says how that went, for the failure message. */
  private async switchBack(live: Release | undefined): Promise<string> {
    if (!live) return ''
    const previousRoute: Route = { app: this.app, color: live.color, releaseId: live.id, appPort: this.deps.config.health.port, replicas: live.replicas ?? 1 }
    return this.deps.router.apply(previousRoute).then(
      () => ` to ${live.color}`,
      (e: Error) => `; switching back to ${live.color} failed too (${e.message})`
    )
  }

  /** Starts the color's replicas (or the stopped standby's) and waits for each one's health gate; throws ReleaseError when one fails. */
  private async bootAndGate(
    plan: Exclude<Plan, { kind: 'impossible' }>,
    name: string,
    network: string,
    live: Release | undefined,
    release: Release
  ): Promise<void> {
    const { config, host, timeline, log } = this.deps
    const replicas = oneTo(plan.replicas)
    const names = replicas.map(i => containerName(this.app, plan.color, i))
    const what = plan.replicas > 1 ? `${plan.replicas} replicas of ${plan.color} (${names[0]}…)` : name
    await timeline.step('boot', `Starting ${what}`, async () => {
      if (plan.kind === 'start-new') {
        // Every container of the color moves aside, those beyond the new size too: they are retired with it.
        const { serving } = await replicasOnHost(host, this.app, plan.color)
        for (const i of union(serving, replicas)) await this.setAside(plan.color, i)
        for (const i of replicas) {
          const spec = containerSpec({
            app: this.app,
            color: plan.color,
            replica: i,
            image: plan.image,
            network,
            settings: config.container,
            appPort: config.health.port,
            releaseId: release.instance,
            startedAt: new Date(this.clock.now()).toISOString(),
            run: this.deps.run,
            hash: release.configHash
          })
          const containerId = await host.create(spec)
          await host.start(spec.name)
          log.info(`Started ${spec.name} (${containerId.slice(0, 12)}) from ${plan.image}`)
        }
      } else if (plan.mustStart) {
        for (const n of names) await host.start(n)
        log.info(`Started the stopped standby ${what}`)
      }
    })
    this.checkAborted()

    // All replicas boot at once; the gate fails with the first one that fails.
    const outcomes = await timeline.step('healthy', `Waiting for ${what} to be healthy`, async note => {
      const all = await Promise.all(
        names.map(async n => ({
          name: n,
          outcome: await waitHealthy({ host, name: n, network, settings: config.health, log, clock: this.clock, aborted: () => this.abortReason })
        }))
      )
      const failed = all.find(o => !o.outcome.healthy)
      note(
        failed && !failed.outcome.healthy ? failed.outcome.reason : `${all.reduce((sum, o) => sum + (o.outcome.healthy ? o.outcome.probes : 0), 0)} probe(s)`
      )
      return all
    })
    this.checkAborted()
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
    if (plan.kind === 'start-new' && config.container.restart.Name !== 'no') {
      for (const n of names) await host.setRestartPolicy(n, config.container.restart)
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
    this.aborter.abort()
  }

  private checkAborted(): void {
    if (this.abortReason)
      throw new ReleaseError({
        reason: `${this.abortReason}: stopped before the switch; ${this.observed ? `${this.observed.color} (${this.observed.image}) is still live` : 'nothing was switched'}.`
      })
  }

  /** A failed release leaves the host as it found it: the new container gone, the standby back. */
  private async undoBoot(plan: Exclude<Plan, { kind: 'impossible' }>): Promise<void> {
    for (const i of oneTo(plan.replicas)) await this.discardFailed(plan.color, plan.kind === 'reuse-standby', i)
    if (plan.kind === 'start-new') {
      const { aside } = await replicasOnHost(this.host, this.app, plan.color)
      for (const i of aside) await this.restoreAside(plan.color, i)
    }
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
    const route: Route = { app: this.app, color: live.color, releaseId: live.id, appPort: config.health.port, replicas: live.replicas ?? 1 }
    if (this.web)
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
    await ledger.write({ ...record, routing: this.routing })
    log.info(`${live.image} is already live on ${live.color} with the same settings; nothing to do.`)
    return {
      ...this.resultOf('unchanged', live, record.releases, containerId, this.standbyOf(record.releases, containers)),
      ...(await this.workerStates(live))
    }
  }

  /** Moves the idle color's old container out of the way of its replacement; it keeps running. */
  private async setAside(color: Color, replica = 1): Promise<void> {
    const old = await this.host.inspect(containerName(this.app, color, replica))
    if (!old) return
    await this.host.remove(asideName(this.app, color, replica))
    await this.host.rename(old.id, asideName(this.app, color, replica))
    this.deps.log.info(`Set the old ${color}${replicaNote(replica)} container (${old.labels[LABEL.image] ?? '?'}) aside until ${color} is healthy and live`)
  }

  /** Puts the set-aside container back under its name after a failed release. */
  private async restoreAside(color: Color, replica = 1): Promise<void> {
    const aside = await this.host.inspect(asideName(this.app, color, replica))
    if (!aside) return
    await this.host.remove(containerName(this.app, color, replica))
    await this.host.rename(aside.id, containerName(this.app, color, replica))
    this.deps.log.info(`Put the previous ${color}${replicaNote(replica)} container back, so the standby is kept`)
  }

  /**
   * A run that died between setting a container aside and finishing leaves it behind.
   * If its color is live the switch completed and the aside container is obsolete;
   * otherwise the replacement never went live: put the old container back.
   */
  private async recoverAside(color: Color, live: Release | undefined, preview?: Release): Promise<void> {
    const { aside: found } = await replicasOnHost(this.host, this.app, color)
    for (const i of found) {
      const aside = await this.host.inspect(asideName(this.app, color, i))
      if (!aside) continue
      // A preview recorded on this color was gated: what it replaced is obsolete as after a switch.
      const current = preview?.color === color ? await this.host.inspect(containerName(this.app, color, i)) : undefined
      if (live?.color === color || (current && current.labels[LABEL.release] === preview?.instance)) {
        this.deps.log.info(`Removing ${asideName(this.app, color, i)}, left behind by an interrupted run after its switch`)
        await this.host.remove(aside.id)
        await this.pruneImage(aside.imageId)
      } else {
        this.deps.log.info(`Recovering from an interrupted run: putting ${asideName(this.app, color, i)} back as ${containerName(this.app, color, i)}`)
        await this.restoreAside(color, i)
      }
    }
  }

  /** Stops a container that failed its gate; removes it unless keep-failed (or it was the kept standby). */
  private async discardFailed(color: Color, wasStandby: boolean, replica = 1): Promise<void> {
    const name = containerName(this.app, color, replica)
    try {
      if (this.deps.config.keepFailed || wasStandby) {
        await this.host.stop(name, 5)
        if (wasStandby) {
          this.deps.log.info(`Stopped ${name} again`)
        } else {
          // Out of the way of the standby being put back, under a name that says what it is.
          await this.host.remove(failedName(this.app, color, replica))
          await this.host.rename(name, failedName(this.app, color, replica))
          this.deps.log.info(`Stopped the failed container and kept it as ${failedName(this.app, color, replica)} for inspection (keep-failed)`)
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
    const [, standby] = await Promise.all([
      this.retireReplaced(before, liveColor),
      this.applyKeepPrevious(before, otherColor(liveColor)),
      // The previous workers stop at once: no traffic to drain, and they must not keep taking jobs.
      this.workers.retire(before?.color, liveColor)
    ])
    return standby
  }

  /**
   * Removes the container the new color replaced (the old standby) and its image. That standby
   * may have been live until recently (a deploy right after a rollback) and still hold drained
   * connections, WebSockets above all: it gets what is left of its drain-timeout first.
   */
  private async retireReplaced(before: Release | undefined, liveColor: Color): Promise<void> {
    const { config, log } = this.deps
    const { aside } = await replicasOnHost(this.host, this.app, liveColor)
    const replaced = (await Promise.all(aside.map(i => this.host.inspect(asideName(this.app, liveColor, i))))).filter(c => c !== undefined)
    if (!replaced.length) return
    const what = `${liveColor} container${replaced.length > 1 ? `s (${replaced.length})` : ''} (${replaced[0].labels[LABEL.image] ?? '?'})`
    // It stopped being live when the release live before this run went live, or, for a canary
    // ended since, when it was ended.
    const ended = this.endedCanary?.color === liveColor ? Date.parse(this.endedCanary.at) : NaN
    const liveUntil = Math.max(...[before ? Date.parse(before.liveSince) : NaN, ended].filter(t => Number.isFinite(t)), -Infinity)
    const drainLeft = liveUntil + config.proxy.drainTimeoutMs - this.clock.now()
    if (replaced.some(c => c.running) && drainLeft > 0) {
      log.info(
        `The replaced ${what} took new requests until ${Math.round((this.clock.now() - liveUntil) / 1000)} s ago: letting its connections drain ${Math.ceil(drainLeft / 1000)} s more (drain-timeout) before removing it`
      )
      await this.clock.sleep(drainLeft)
    }
    for (const c of replaced) await this.host.remove(c.id)
    log.info(`Removed the replaced ${what}`)
    for (const imageId of new Set(replaced.map(c => c.imageId))) await this.pruneImage(imageId)
  }

  /** Applies keep-previous to the color that served before (every replica of it), after the drain time. */
  private async applyKeepPrevious(before: Release | undefined, previousColor: Color): Promise<Standby | undefined> {
    const { config, log } = this.deps
    if (!before) return undefined
    const { serving } = await replicasOnHost(this.host, this.app, previousColor)
    const names = serving.map(i => containerName(this.app, previousColor, i))
    const name = names.length > 1 ? `${names.join(', ')}` : containerName(this.app, previousColor)
    const standby: Standby = { color: before.color, image: before.image, state: 'running' }
    const endDrain = config.proxy.sticky ? this.deps.router.endDrain?.bind(this.deps.router) : undefined
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
    await this.clock.sleep(config.proxy.drainTimeoutMs)
    if (endDrain) await endDrain(previousColor)
    if (config.keepPrevious === 'running') return standby
    if (config.keepPrevious === 'stopped' && names.length) {
      for (const n of names) await this.host.stop(n, 10)
      standby.state = 'stopped'
    } else {
      for (const n of names) await this.host.remove(n)
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

  // --- canary-weight (issue #12): the engine's part; the proxy's is Router.canary ---

  private liveRoute(live: Release): Route {
    return { app: this.app, color: live.color, releaseId: live.id, appPort: this.deps.config.health.port, replicas: live.replicas ?? 1 }
  }

  /**
   * The gated new color takes `weight` % of new requests beside the live one. Recorded first, so a
   * run that dies here leaves a canary the next promote or rollback ends; on failure the proxy is
   * routed to the live color alone and the new containers go.
   */
  private async startCanary(
    plan: Exclude<Plan, { kind: 'impossible' }>,
    record: LedgerRecord,
    live: Release,
    network: string,
    release: Release,
    weight: number
  ): Promise<ReleaseResult> {
    const { router, ledger, timeline, log, config } = this.deps
    const canary = router.canary?.bind(router)
    if (!canary) throw new ReleaseError({ reason: "Input 'canary-weight' needs the HAProxy proxy (proxy-type: haproxy). Nothing was changed." })
    const liveRoute = this.liveRoute(live)
    const route: Route = { app: this.app, color: plan.color, releaseId: release.id, appPort: config.health.port, replicas: plan.replicas }
    release.liveSince = new Date(this.clock.now()).toISOString()
    let serving = false
    try {
      await this.bootAndGate(plan, containerName(this.app, plan.color), network, live, release)
      this.checkAborted()
      await ledger.write({ ...record, pending: undefined, preview: undefined, canary: { release, weight, since: release.liveSince } })
      await timeline.step('switch', `Sending ${weight} % of new requests to ${plan.color}`, () =>
        canary(liveRoute, route, weight).catch((e: Error) => {
          throw new ReleaseError({
            reason: `The proxy could not start the canary on ${plan.color}: ${e.message}. ${live.color} (${live.image}) is still live.`
          })
        })
      )
      const verified = await this.verifyStep(liveRoute)
      if (!verified.ok)
        throw new ReleaseError({
          reason: `After the canary started the proxy did not answer within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(verified.last)}).`
        })
      serving = true
    } catch (e) {
      if (!serving) {
        await router.apply(liveRoute).catch(u => log.warning(`Could not route ${this.app} back to ${live.color} alone: ${(u as Error).message}`))
        await this.undoBoot(plan).catch(u => log.warning(`Could not undo the start of ${plan.color}: ${(u as Error).message}`))
        await ledger
          .write({ ...record, pending: undefined, canary: undefined })
          .catch(u => log.warning(`Could not update the release ledger: ${(u as Error).message}`))
      }
      throw e
    }
    log.info(
      `${plan.image} on ${plan.color} serves ${weight} % of new requests; ${live.image} on ${live.color} the rest. mode promote makes it live, mode rollback ends it.`
    )
    // The containers the canary replaced (the old standby) go after their drain; the live color stays as it is.
    await timeline.step('cleanup', 'Cleaning up', () => this.retireReplaced(live, plan.color))
    const info = await this.host.inspect(containerName(this.app, plan.color))
    return { ...this.resultOf('canary', release, record.releases, info?.id), previousColor: live.color, previousImage: live.image }
  }

  /** mode promote: the canary (health re-checked first) becomes live through a full switch; the old color gets keep-previous. */
  async promote(): Promise<ReleaseResult> {
    const { host, router, timeline, log } = this.deps
    const network = networkName(this.app)
    const { record, live, containers } = await timeline.step('inspect', 'Reading the state of the host', async note => {
      const record = await this.readLedger()
      const live = record.releases[0]
      this.observed = live
      const containers = await this.inspectColors(record.releases)
      note(
        record.canary
          ? `canary ${record.canary.release.color} at ${record.canary.weight} %`
          : record.preview
            ? `preview ${record.preview.release.color} waiting`
            : 'nothing waiting'
      )
      return { record, live, containers }
    })
    if (record.preview && live && !record.canary) return this.promotePreview(record, live, containers, network)
    const canary = record.canary
    if (!canary || !live)
      throw new ReleaseError({
        reason: `Nothing of ${this.app} waits to be promoted: deploy with canary-weight or promote: manual first. Nothing was changed.`
      })
    const c = containers.find(x => x.color === canary.release.color)
    const plan: Plan = {
      kind: 'reuse-standby',
      color: canary.release.color,
      image: canary.release.image,
      replicas: canary.release.replicas ?? 1,
      mustStart: !c?.running,
      why: `promoting the canary (${canary.weight} % since ${canary.since})`,
      restores: canary.release
    }
    log.info(`Plan: promote ${plan.image} on ${plan.color} from ${canary.weight} % to all new requests`)
    await this.deps.onPlanned?.({ color: plan.color, image: plan.image, from: { color: live.color, image: live.image }, restores: canary.release })
    await host.ensureNetwork(network, { [LABEL.managed]: 'true', [LABEL.app]: this.app })
    await router.ensure(network)
    try {
      // Health first, while the canary still serves its share: a failing canary is ended, not promoted.
      await this.bootAndGate(plan, containerName(this.app, plan.color), network, live, canary.release)
      const result = await this.switchTo(plan, record, live, containers, {
        request: { kind: 'deploy', image: plan.image },
        hash: canary.release.configHash,
        network
      })
      return { ...result, result: 'deployed' }
    } catch (e) {
      // A canary that cannot be promoted is ended: the live color alone serves, as after a rollback.
      await router.apply(this.liveRoute(live)).catch(u => log.warning(`Could not route ${this.app} back to ${live.color} alone: ${(u as Error).message}`))
      await this.deps.ledger
        .write({ ...record, pending: undefined, canary: undefined, endedCanary: { color: canary.release.color, at: new Date(this.clock.now()).toISOString() } })
        .catch(u => log.warning(`Could not update the release ledger: ${(u as Error).message}`))
      if (e instanceof ReleaseError)
        throw new ReleaseError({ ...e.failure, reason: `${e.failure.reason} The canary was ended: ${live.color} (${live.image}) serves all requests.` })
      throw e
    }
  }

  /** mode rollback during a canary: the live color alone again; the canary's color gets keep-previous after its drain. */
  private async endCanary(record: LedgerRecord, live: Release, network: string): Promise<ReleaseResult> {
    const { host, router, ledger, timeline, log } = this.deps
    const canary = record.canary!
    await this.deps.onPlanned?.({ color: live.color, image: live.image, from: { color: canary.release.color, image: canary.release.image }, restores: live })
    await host.ensureNetwork(network, { [LABEL.managed]: 'true', [LABEL.app]: this.app })
    await router.ensure(network)
    const route = this.liveRoute(live)
    await timeline.step('switch', `Ending the canary on ${canary.release.color}`, () =>
      router.apply(route).catch((e: Error) => {
        throw new ReleaseError({ reason: `The proxy could not end the canary on ${canary.release.color}: ${e.message}` })
      })
    )
    const verified = await this.verifyStep(route)
    if (!verified.ok)
      throw new ReleaseError({ reason: `After ending the canary the proxy did not answer from ${live.color} (last answer: ${describeAnswer(verified.last)}).` })
    const updated = {
      ...record,
      pending: undefined,
      canary: undefined,
      endedCanary: { color: canary.release.color, at: new Date(this.clock.now()).toISOString() }
    }
    await ledger.write(updated)
    log.info(`Ended the canary of ${canary.release.image} on ${canary.release.color}: ${live.image} on ${live.color} serves every new request.`)
    // Its drain counts from now: keep-previous applies to the canary's color as to a replaced live color.
    const standby = await timeline.step('cleanup', 'Cleaning up', () => this.applyKeepPrevious(canary.release, canary.release.color))
    const info = await this.host.inspect(containerName(this.app, live.color))
    return this.resultOf('rolled-back', live, updated.releases, info?.id, standby)
  }
  // --- promote manual (issue #12): a preview gated beside the live release, reached at the preview domains ---

  private previewState(preview: NonNullable<LedgerRecord['preview']>): PreviewState {
    const url = previewUrlOf(this.deps.config.proxy)
    return { color: preview.release.color, image: preview.release.image, since: preview.since, ...(url ? { url } : {}) }
  }

  /**
   * The gated new color is left waiting: recorded as the preview, the preview domains routed to it,
   * the live color serving every request as before. On failure the new containers go (what they
   * replaced comes back) and the proxy routes as before.
   */
  private async startPreview(
    plan: Exclude<Plan, { kind: 'impossible' }>,
    record: LedgerRecord,
    live: Release,
    network: string,
    release: Release
  ): Promise<ReleaseResult> {
    const { router, ledger, timeline, log, config } = this.deps
    const preview = router.preview?.bind(router)
    if (!preview) throw new ReleaseError({ reason: "Input 'promote' manual needs the HAProxy proxy (proxy-type: haproxy). Nothing was changed." })
    const liveRoute = this.liveRoute(live)
    const route: Route = { app: this.app, color: plan.color, releaseId: release.id, appPort: config.health.port, replicas: plan.replicas }
    const since = new Date(this.clock.now()).toISOString()
    release.liveSince = since
    let waiting = false
    try {
      await this.bootAndGate(plan, containerName(this.app, plan.color), network, live, release)
      this.checkAborted()
      // Recorded before the proxy learns of it: a run that dies here leaves a preview the next run promotes, discards or replaces.
      await ledger.write({ ...record, pending: undefined, canary: undefined, preview: { release, since }, routing: this.claim })
      const domains = config.proxy.previewDomains ?? []
      await timeline.step('switch', domains.length ? `Routing ${domains.join(', ')} to ${plan.color}` : `Keeping ${live.color} live`, () =>
        preview(liveRoute, route).catch((e: Error) => {
          throw new ReleaseError({
            reason: `The proxy could not route the preview to ${plan.color}: ${e.message}. ${live.color} (${live.image}) is still live.`
          })
        })
      )
      const verified = await this.verifyStep(liveRoute)
      if (!verified.ok)
        throw new ReleaseError({
          reason: `After routing the preview the proxy did not answer from ${live.color} within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(verified.last)}).`
        })
      waiting = true
    } catch (e) {
      if (!waiting) {
        await this.undoBoot(plan).catch(u => log.warning(`Could not undo the start of ${plan.color}: ${(u as Error).message}`))
        await router.apply(liveRoute).catch(u => log.warning(`Could not route ${this.app} back to ${live.color} alone: ${(u as Error).message}`))
        // What was recorded before this run (a preview this one would have replaced is back with its containers).
        await ledger.write({ ...record, pending: undefined }).catch(u => log.warning(`Could not update the release ledger: ${(u as Error).message}`))
      }
      throw e
    }
    const state = this.previewState({ release, since })
    log.info(
      `${plan.image} on ${plan.color} is healthy and waits for mode promote${state.url ? `; preview it at ${state.url}` : ' (no preview-domains reach it)'}. ${live.image} on ${live.color} still serves every request; mode rollback discards the preview.`
    )
    // The containers the preview replaced (the old standby, or an earlier preview) go after their drain; the live color stays as it is.
    await timeline.step('cleanup', 'Cleaning up', () => this.retireReplaced(live, plan.color))
    const info = await this.host.inspect(containerName(this.app, plan.color))
    return { ...this.resultOf('preview', release, record.releases, info?.id), previousColor: live.color, previousImage: live.image, preview: state }
  }

  /** mode promote of a preview: its containers (health re-checked first) become live through a full switch. */
  private async promotePreview(record: LedgerRecord, live: Release, containers: ColorContainer[], network: string): Promise<ReleaseResult> {
    const { host, router, log } = this.deps
    const preview = record.preview!
    const c = containers.find(x => x.color === preview.release.color)
    const size = preview.release.replicas ?? 1
    if (!c || !isContainerOf(c, preview.release) || (c.replicas ?? 1) < size) {
      throw new ReleaseError({
        reason: `The preview of ${preview.release.image} on ${preview.release.color} has lost its containers: deploy it again (with promote: manual) or mode rollback to forget it. ${live.color} (${live.image}) is still live.`
      })
    }
    const plan: Plan = {
      kind: 'reuse-standby',
      color: preview.release.color,
      image: preview.release.image,
      replicas: size,
      mustStart: !c.running,
      why: `promoting the preview waiting since ${preview.since}`,
      restores: preview.release
    }
    log.info(`Plan: promote the preview ${plan.image} on ${plan.color} to live (health re-checked first)`)
    await this.deps.onPlanned?.({ color: plan.color, image: plan.image, from: { color: live.color, image: live.image }, restores: preview.release })
    await host.ensureNetwork(network, { [LABEL.managed]: 'true', [LABEL.app]: this.app })
    await router.ensure(network)
    try {
      const result = await this.switchTo(plan, record, live, containers, {
        request: { kind: 'deploy', image: plan.image },
        hash: preview.release.configHash,
        network,
        promoting: true
      })
      return { ...result, result: 'deployed', previewEnded: 'promoted' }
    } catch (e) {
      if (e instanceof ReleaseError)
        throw new ReleaseError({ ...e.failure, reason: `${e.failure.reason} The preview stays recorded: mode promote tries again, mode rollback discards it.` })
      throw e
    }
  }

  /** mode rollback while a preview waits: its containers go; the live release and the proxy's routing of it are untouched. */
  private async discardPreview(record: LedgerRecord, live: Release): Promise<ReleaseResult> {
    const { ledger, timeline, log, config } = this.deps
    const preview = record.preview!.release
    const { serving, aside } = await replicasOnHost(this.host, this.app, preview.color)
    await timeline.step('cleanup', `Discarding the preview on ${preview.color}`, async note => {
      // Only containers of the preview: a color whose containers are something else (hand-made) is left alone.
      const found = await Promise.all(
        serving.map(async i => ({ name: containerName(this.app, preview.color, i), info: await this.host.inspect(containerName(this.app, preview.color, i)) }))
      )
      const ours = found.filter(f => f.info?.labels[LABEL.release] === preview.instance).map(f => ({ ...f.info!, name: f.name }))
      // In-flight preview requests finish (SIGTERM, 5 s grace) before the containers go.
      await Promise.all(ours.map(c => this.host.stop(c.name, 5).catch(() => undefined)))
      for (const c of ours) await this.host.remove(c.name)
      for (const i of aside) await this.host.remove(asideName(this.app, preview.color, i))
      for (const imageId of new Set(ours.map(i => i.imageId))) await this.pruneImage(imageId)
      note(`${ours.length} container(s) removed`)
    })
    const updated: LedgerRecord = { ...record, pending: undefined, preview: undefined, routing: this.claim }
    await ledger.write(updated)
    log.info(
      `Discarded the preview of ${preview.image} on ${preview.color} (its containers are removed${config.proxy.previewDomains?.length ? '; the preview domains answer 503 until the next preview' : ''}). ${live.image} on ${live.color} stays live, untouched.`
    )
    const info = await this.host.inspect(containerName(this.app, live.color))
    const colors = await this.inspectColors(updated.releases)
    return { ...this.resultOf('rolled-back', live, updated.releases, info?.id, this.standbyOf(updated.releases, colors)), previewEnded: 'discarded' }
  }
}

import { capabilityMessage } from '../core/capabilities.js'
import { LABEL, networkName } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import type { LedgerRecord, Release } from '../core/release.js'
import type { ActivePlan, ColorSet } from './color-set.js'
import { ensureComposeNetworks } from './compose-project.js'
import { configHash } from './container-spec.js'
import type { EngineContext } from './context.js'
import { canaryExposure } from './expose-canary.js'
import { canaryStepsExposure } from './expose-canary-steps.js'
import { noExposure } from './expose-none.js'
import { previewExposure } from './expose-preview.js'
import { switchExposure } from './expose-switch.js'
import type { Exposure, ExposureRun, Serving } from './exposure.js'
import { discardPreview, endCanary } from './endings.js'
import { inspectForRelease, type HostState } from './host-state.js'
import { Lazy } from './lazy.js'
import { planRelease, type ReleaseRequest } from './plan.js'
import type { ImageInfo } from './ports.js'
import { alreadyLive, EarlyPull, pullFor, loadArchive, runReleaseCommandStep, startShared } from './prepare.js'
import { UndoStack } from './undo.js'
import { NO_ROLES, recordOf, releaseHash, workersFor } from './workers.js'

/** How the gated color is exposed, from the inputs and what is live. */
export function exposureFor(ctx: EngineContext, kind: 'deploy' | 'rollback', live: Release | undefined, promoting = false): Exposure {
  const { strategy } = ctx.config
  if (!ctx.web) return noExposure
  if (strategy.canaryWeight !== undefined && live && kind === 'deploy' && !promoting) return canaryExposure(strategy.canaryWeight)
  // canary-steps with nothing live: nothing to compare with, so the first deploy goes live.
  if (strategy.canarySteps && live && kind === 'deploy' && !promoting) return canaryStepsExposure(strategy.canarySteps)
  // promote manual: gated, not switched to; with nothing live there is nothing to preview beside, so it goes live.
  if (strategy.promote === 'manual' && kind === 'deploy' && !promoting) {
    if (live) return previewExposure
    ctx.log.info('promote manual: nothing is live yet, so this first deploy goes live without waiting for mode promote')
  }
  return switchExposure
}

/** Refuses an exposure the router cannot carry, before anything on the host changes. */
export function checkCapabilities(ctx: EngineContext, exposure: Exposure): void {
  const caps = ctx.router.capabilities
  const missing = exposure.needs.find(c => !caps[c])
  if (missing) throw new ReleaseError({ reason: capabilityMessage(exposure.input ?? 'mode', undefined, missing, caps.name, []) })
}

/**
 * A deploy or a rollback: read ledger → plan → prepare → boot + gate → expose → verify → record →
 * watch → clean up, with one undo stack and one error path (`deliver`).
 */
export async function runRelease(ctx: EngineContext, colors: ColorSet, request: ReleaseRequest, serving: Serving): Promise<ReleaseResult> {
  const plain = request.kind === 'rollback' && !request.toImage && request.toRelease === undefined
  let early: EarlyPull | undefined
  const state = await inspectForRelease(
    ctx,
    colors,
    request.kind === 'rollback' && !request.toImage,
    () => (early = earlyPull(ctx, request)),
    record => {
      serving.live = record.releases[0]
      serving.releases = record.releases
    }
  )
  const { record, live } = state
  // Every way out waits for what the run started on the proxy meanwhile (the route's repair, the proxy check).
  const started: Lazy<unknown>[] = [state.routing]
  try {
    // mode rollback while a canary serves: the canary ends (it never went live), the live release stays.
    // mode rollback while a preview waits: the preview goes, the live release is not touched.
    // Both change the route: the route is settled first.
    if (plain && live && (record.canary || record.preview)) {
      await state.routing.get()
      return await (record.canary ? endCanary(ctx, colors, record, live) : discardPreview(ctx, colors, record, live))
    }
    if (record.preview && request.kind === 'deploy') {
      const p = record.preview.release
      ctx.log.info(`A preview of ${p.image} on ${p.color} waits since ${record.preview.since}: this deploy replaces it`)
    }
    return await planAndDeliver(ctx, colors, request, serving, state, early, p => started.push(p))
  } finally {
    // A route found wrong is put right by the end of every run, one that failed before the proxy check too.
    await state.routing.get().catch(() => undefined)
    for (const work of started) await work.settled()
  }
}

/** From the host's state: the plan, the image, the proxy check, then the delivery. */
async function planAndDeliver(
  ctx: EngineContext,
  colors: ColorSet,
  request: ReleaseRequest,
  serving: Serving,
  state: HostState,
  early: EarlyPull | undefined,
  started: (work: Lazy<unknown>) => void
): Promise<ReleaseResult> {
  const { config, log } = ctx
  const { record, live, containers } = state
  const plan = planRelease(record.releases, containers, { replicas: config.strategy.replicas, ...request })
  if (plan.kind === 'impossible') throw new ReleaseError({ reason: `Cannot roll back ${ctx.app}: ${plan.why}.` })
  const exposure = exposureFor(ctx, request.kind, live)
  checkCapabilities(ctx, exposure)
  log.info(`Plan: ${plan.kind === 'start-new' ? `start ${plan.image} as ${plan.color}` : `switch to the standby ${plan.color} (${plan.image})`} — ${plan.why}`)
  await ctx.deps.onPlanned?.({
    color: plan.color,
    image: plan.image,
    from: live ? { color: live.color, image: live.image } : undefined,
    restores: plan.restores,
    ...(exposure.kind === 'preview' ? { preview: true } : {})
  })

  // A first deploy records the app before it changes anything on the host: a run killed from here on
  // leaves a ledger with no release, so the next run is a first deploy again, not one refused as if
  // a ledger had been lost (its containers are the killed run's, never live).
  if (!live) await ctx.ledger.write(record)

  // The proxy check, after the route's repair. A new color's health gate overlaps both (Docker serves
  // them slower while it starts a container), unless the gate asks the proxy; anything else has them
  // at once. Awaited before the first route change.
  const network = networkName(ctx.app)
  // Started now; a run that fails before awaiting it (a pull) still ends only once Docker answered.
  const networks = new Lazy(() =>
    ctx.host.ensureNetwork(network, { [LABEL.managed]: 'true', [LABEL.app]: ctx.app }).then(() => ensureComposeNetworks(ctx.host, config))
  )
  started(networks)
  void networks.get()
  const proxyReady = new Lazy(() => Promise.all([networks.get(), state.routing.get()]).then(() => (ctx.web ? ctx.router.ensure(network) : undefined)))
  started(proxyReady)
  if (plan.kind !== 'start-new') void proxyReady.get()
  const roles = config.roles ?? NO_ROLES
  const hash = releaseHash(configHash(config.container, config.health.port), roles)
  if (config.shared?.length) await startShared(ctx, proxyReady.get(), network)
  let image: ImageInfo | undefined
  if (plan.kind === 'start-new') {
    const archive = request.kind === 'deploy' ? config.imageArchive : undefined
    image = archive ? await loadArchive(ctx, plan.image, archive.path, archive.bytes) : await pullFor(ctx, plan.image, request.kind, early)
    // compose-file: services of another image than the routed one.
    if (request.kind === 'deploy') await colors.pullWorkerImages(roles.workers.map(recordOf))
    const liveState = live ? containers.find(c => c.color === live.color) : undefined
    if (request.kind === 'deploy' && live && (await colors.isCurrent(live, liveState, image, hash, plan.replicas))) {
      await proxyReady.get()
      return alreadyLive(ctx, colors, record, live, liveState?.id, containers)
    }
  }
  await networks.get()
  if (colors.gateAsksProxy) await proxyReady.get()
  ctx.checkAborted(live)
  return deliver(ctx, colors, { plan, record, live, kind: request.kind, image, hash, exposure, serving, proxyReady })
}

/** The image a deploy (or a rollback to-image) starts whatever the host holds: pulled while the inspect step reads the rest. */
function earlyPull(ctx: EngineContext, request: ReleaseRequest): EarlyPull | undefined {
  const image = request.kind === 'deploy' ? request.image : request.toImage
  if (!image || (request.kind === 'deploy' && ctx.config.imageArchive)) return undefined
  return new EarlyPull(ctx.host, image)
}

export interface Delivery {
  plan: ActivePlan
  record: LedgerRecord
  live: Release | undefined
  kind: 'deploy' | 'rollback'
  image?: ImageInfo
  hash: string
  exposure: Exposure
  serving: Serving
  /** The caller's own undo entries, beneath the release's (promote: ending the canary). */
  undo?: UndoStack
  /** Containers already serving a share (a canary being promoted): routed away by the caller's undo, not stopped here. */
  keepBootOnFailure?: boolean
  /** The proxy checked and its route settled: started after the boot if not before, awaited before the first route change. */
  proxyReady?: Lazy<unknown>
}

/**
 * Boot + gate → expose → verify → record → watch → clean up. Until the exposure is verified every
 * failure unwinds the one undo stack (the host as it was found); after it the release is
 * committed and a failure reports it as what serves.
 */
export async function deliver(ctx: EngineContext, colors: ColorSet, d: Delivery): Promise<ReleaseResult> {
  const { plan, live, exposure } = d
  const release = newRelease(ctx, d)
  const workers = workersFor(plan, ctx.config.roles ?? NO_ROLES)
  let record = d.record
  // Migrations before anything of the new release starts; nothing to undo when they fail.
  if (ctx.config.releaseCommand && d.kind === 'deploy' && plan.kind === 'start-new' && d.image) {
    const image = { ref: plan.image, id: d.image.id }
    const runHere = async () => void (record = await runReleaseCommandStep(ctx, record, image, live))
    await (ctx.deps.releaseCommandOnce ? ctx.deps.releaseCommandOnce(runHere) : runHere())
  }
  const undo = d.undo ?? new UndoStack(ctx.log)
  const run: ExposureRun = {
    ctx,
    colors,
    plan,
    record,
    live,
    release,
    route: ctx.route(plan.color, release.id, plan.replicas),
    workers,
    kind: d.kind,
    undo,
    serving: d.serving,
    ready: once(async () => {
      await d.proxyReady?.get()
      await colors.gated().catch((e: Error) => {
        throw new ReleaseError({
          reason: `The restart policy of ${plan.color} could not be set: ${e.message}. ${live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'}`
        })
      })
    })
  }
  try {
    if (!d.keepBootOnFailure) undo.push(`the start of ${plan.color}`, () => colors.restore(plan, workers))
    if (ctx.web) {
      await ctx.timeline.step('boot', `Starting ${colors.describe(plan)}`, () => colors.boot(plan, release))
      void d.proxyReady?.get()
      ctx.checkAborted(live)
      await colors.gate(plan, live)
    }
    await colors.startWorkers(plan, release, workers, live)
    await ctx.deps.beforeSwitch?.()
    ctx.checkAborted(live)
    await exposure.expose(run)
    // Every exposure awaits it before its first route change; awaited here too, so none leaves it behind.
    await run.ready()
  } catch (e) {
    // Nothing of the proxy's check is left running while the host is put back.
    await d.proxyReady?.settled()
    const stuck = (await undo.unwind())?.ifStuck
    if (stuck) {
      d.serving.live = stuck.live
      throw new ReleaseError({ ...failureOf(e), reason: `${failureOf(e).reason} ${stuck.why}` })
    }
    throw e
  }
  undo.commit()
  return exposure.settle(run)
}

/** `fn`'s promise, made at the first call and returned to every later one. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined
  return () => (made ??= fn())
}

function failureOf(e: unknown): ReleaseError['failure'] {
  return e instanceof ReleaseError ? e.failure : { reason: (e as Error).message }
}

function newRelease(ctx: EngineContext, d: Delivery): Release {
  const { plan } = d
  const id = ctx.newId()
  const workers = workersFor(plan, ctx.config.roles ?? NO_ROLES)
  return {
    id,
    instance: plan.kind === 'reuse-standby' ? plan.restores.instance : id,
    app: ctx.app,
    color: plan.color,
    image: plan.image,
    digest: d.image?.digest ?? (plan.kind === 'reuse-standby' ? plan.restores.digest : undefined),
    configHash: plan.kind === 'reuse-standby' ? plan.restores.configHash : d.hash,
    kind: d.kind,
    ...(plan.replicas > 1 ? { replicas: plan.replicas } : {}),
    liveSince: '',
    by: ctx.deps.author,
    ...(workers.length ? { workers } : {}),
    ...(ctx.web ? {} : { web: false })
  }
}

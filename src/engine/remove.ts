import { LABEL, networkName } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import type { LedgerRecord } from '../core/release.js'
import type { AppRemoval, ColorSet } from './color-set.js'
import type { EngineContext } from './context.js'
import { describeDrain, drainInFlight, drainTimed, type DrainOutcome } from './drain.js'
import type { Serving } from './exposure.js'
import { LedgerError, type ContainerSummary } from './ports.js'

/** How long a web container gets to finish after SIGTERM once its drain is over. */
const WEB_STOP_GRACE_S = 10

/**
 * mode remove (issue #22): takes the app off the host. Its route leaves the shared proxy first,
 * gracefully (requests in flight finish, every other app keeps serving); after the drain its
 * containers (both colors, workers, what an interrupted run set aside) stop and go, then its own
 * networks and the images nothing else records; its ledger is archived so its domains and its
 * default-server claim are free. Shared services and named volumes stay unless remove-data.
 * Only containers that carry cutover's labels for this app are touched. A cluster's color set
 * (target swarm) says what of the app it holds and removes it instead (ColorSet.removal).
 */
export async function runRemove(ctx: EngineContext, colors: ColorSet, serving: Serving): Promise<ReleaseResult> {
  const { log, timeline, config } = ctx
  const { record, removal } = await timeline.step('inspect', 'Reading the state of the host', async note => {
    const record = await readForRemoval(ctx)
    refuseOtherProxy(ctx, record)
    if (!ctx.router.withdraw) {
      throw new ReleaseError({
        reason: `The ${ctx.router.capabilities.name} proxy cannot take an app off it, so ${ctx.app} cannot be removed: nothing was changed.`
      })
    }
    const removal = colors.removal ? await colors.removal() : await containerRemoval(ctx, colors)
    note(`${removal.found}, ${record ? `${record.releases.length} release(s) recorded` : 'no ledger'}`)
    return { record, removal }
  })
  serving.live = record?.releases[0]
  serving.releases = record?.releases ?? []
  const withdrawn = await timeline.step('switch', `Taking ${ctx.app} off ${removal.proxy ?? `the proxy ${config.proxy.name}`}`, async note => {
    const progress: WithdrawProgress = { unrouted: false }
    const { done, drain } = await withdrawAndDrain(ctx, removal.running, progress).catch((e: Error) => {
      const now = progress.unrouted
        ? `Its domains already left the proxy (new requests no longer reach it); its containers still run`
        : `Its routing is as it was; ${serving.live ? `${serving.live.color} (${serving.live.image}) still serves` : 'nothing else was changed'}`
      throw new ReleaseError({ reason: `The proxy could not take ${ctx.app} off it: ${e.message}. ${now}. Run mode remove again.` })
    })
    note([done ? 'its domains are free' : 'the proxy had no route for it', describeDrain(drain)].filter(Boolean).join('; '))
    return done
  })
  // The proxy no longer sends it anything: from here on nothing of the app serves.
  serving.live = undefined
  const removed = await timeline.step('cleanup', `Removing ${removal.what}`, async note => {
    const summary = await removal.remove()
    note(summary)
    return summary
  })
  const archived = await ctx.ledger.archive().catch((e: Error) => {
    throw new ReleaseError({
      reason: `${ctx.app} was taken off the proxy and removed (${removed}), but ${e.message}. Run mode remove again to archive it.`
    })
  })
  log.info(
    archived
      ? `${ctx.app} is removed from ${removal.place}; its release ledger was archived to ${archived}.`
      : removal.any || withdrawn
        ? `${ctx.app} is removed from ${removal.place} (it had no release ledger).`
        : `Nothing of ${ctx.app} was on ${removal.place}: nothing to remove.`
  )
  const last = record?.releases[0]
  return { result: 'removed', releases: [], ...(last ? { previousColor: last.color, previousImage: last.image } : {}) }
}

/** The app's containers on one host: what the inspect step found, and their removal with the app's networks. */
async function containerRemoval(ctx: EngineContext, colors: ColorSet): Promise<AppRemoval> {
  const containers = (await ctx.host.listApp(ctx.app)).filter(c => c.labels[LABEL.managed] === 'true')
  return {
    place: 'this host',
    what: `${ctx.app}'s containers and networks`,
    found: `${containers.length} container(s)`,
    any: containers.length > 0,
    running: containers.some(c => c.state === 'running'),
    remove: async () => {
      const summary = await removeContainers(ctx, colors, containers)
      const networks = await removeNetworks(ctx)
      return [summary, networks].filter(Boolean).join('; ')
    }
  }
}

/** How far a withdrawal got: past `unrouted`, new requests no longer reach the app. */
interface WithdrawProgress {
  unrouted: boolean
}

/**
 * The route off the proxy, then the wait for requests in flight (when something of the app runs,
 * and drain-timeout is not 0): as long as they last where the proxy counts them, else the whole
 * drain-timeout.
 */
async function withdrawAndDrain(ctx: EngineContext, running: boolean, progress: WithdrawProgress): Promise<{ done: boolean; drain?: DrainOutcome }> {
  const withdraw = ctx.router.withdraw!.bind(ctx.router)
  if (!running || ctx.config.proxy.drainTimeoutMs <= 0) return { done: await withdraw() }
  if (ctx.router.capabilities.inFlight) {
    let drain: DrainOutcome | undefined
    const done = await withdraw(async inFlight => {
      progress.unrouted = true
      drain = await drainInFlight(ctx, inFlight)
    })
    return { done, drain }
  }
  const done = await withdraw()
  return { done, drain: done ? await drainTimed(ctx) : undefined }
}

/** The record, or undefined; a damaged record does not block the removal (it is archived as it is). */
async function readForRemoval(ctx: EngineContext): Promise<LedgerRecord | undefined> {
  try {
    return await ctx.ledger.read()
  } catch (e) {
    if (!(e instanceof LedgerError)) throw e
    ctx.log.warning(`The release ledger of ${ctx.app} cannot be read (${e.message}); removing the app all the same, and archiving the file as it is`)
    return undefined
  }
}

/** The ledger says the app is routed by another proxy than proxy-name: that one must be asked. */
function refuseOtherProxy(ctx: EngineContext, record: LedgerRecord | undefined): void {
  const recorded = record?.routing?.proxy
  if (recorded && recorded !== ctx.config.proxy.name) {
    throw new ReleaseError({
      reason: `${ctx.app} is routed by the proxy ${recorded} (its release ledger says so), not ${ctx.config.proxy.name}: set proxy-name: ${recorded} to remove it. Nothing was changed.`
    })
  }
}

/** Every container of the app (shared services only with remove-data), then the images and volumes they leave unused. */
async function removeContainers(ctx: EngineContext, colors: ColorSet, containers: ContainerSummary[]): Promise<string> {
  const { host, log, config } = ctx
  const removeData = config.removeData === true
  const kept = containers.filter(c => c.labels[LABEL.role] === 'shared' && !removeData)
  const going = containers.filter(c => !kept.includes(c))
  for (const c of kept) log.info(`Kept the shared service ${c.name} (and its volumes): remove-data: true removes it too`)
  const infos = await Promise.all(going.map(async c => ({ c, info: await host.inspect(c.name), volumes: removeData ? await host.volumesOf(c.name) : [] })))
  const workerGrace = Math.ceil((config.roles?.stopTimeoutMs ?? 30_000) / 1000)
  await Promise.all(
    going.map(async c => {
      // SIGTERM first: a worker finishes its job, a web container its last requests.
      if (c.state === 'running') await host.stop(c.name, c.labels[LABEL.role] === 'web' || !c.labels[LABEL.role] ? WEB_STOP_GRACE_S : workerGrace)
      await host.remove(c.name)
      log.info(`Removed ${c.name}`)
    })
  )
  const images = [...new Set(infos.map(i => i.info?.imageId).filter((id): id is string => !!id))]
  for (const id of images) await colors.prune(id)
  const volumes = [...new Set(infos.flatMap(i => i.volumes))]
  for (const v of volumes) {
    const result = await host.removeVolume(v)
    if (result === 'removed') log.info(`Removed the volume ${v} (remove-data)`)
    else if (result === 'in-use') log.warning(`Kept the volume ${v}: another container (of another app?) still uses it`)
  }
  const parts = [
    `${going.length} container(s) removed`,
    kept.length ? `${kept.length} shared service(s) kept` : '',
    volumes.length ? `${volumes.length} volume(s)` : ''
  ]
  return parts.filter(Boolean).join(', ')
}

/** The app's own networks, once the proxy left them; one another container still uses stays, said. */
async function removeNetworks(ctx: EngineContext): Promise<string> {
  const { host, log, config } = ctx
  const names = [...new Set([networkName(ctx.app), ...(await host.appNetworks(ctx.app))])]
  // The proxy joined the app's network to reach it (the nginx switch tier under its own name).
  const proxies = [config.proxy.name, `${config.proxy.name}-switch`]
  let removed = 0
  for (const name of names) {
    const r = await host.removeNetwork(name, proxies)
    if (r.result === 'removed') removed++
    if (r.result === 'in-use') log.info(`Kept the network ${name}: ${r.by.length ? r.by.join(', ') : 'a container'} still uses it`)
  }
  return removed ? `${removed} network(s) removed` : ''
}

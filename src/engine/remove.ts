import { LABEL, networkName } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import type { LedgerRecord } from '../core/release.js'
import type { ColorSet } from './color-set.js'
import type { EngineContext } from './context.js'
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
 * Only containers that carry cutover's labels for this app are touched.
 */
export async function runRemove(ctx: EngineContext, colors: ColorSet, serving: Serving): Promise<ReleaseResult> {
  const { host, log, timeline, config } = ctx
  const { record, containers } = await timeline.step('inspect', 'Reading the state of the host', async note => {
    const record = await readForRemoval(ctx)
    refuseOtherProxy(ctx, record)
    if (!ctx.router.withdraw) {
      throw new ReleaseError({
        reason: `The ${ctx.router.capabilities.name} proxy cannot take an app off it, so ${ctx.app} cannot be removed: nothing was changed.`
      })
    }
    const containers = (await host.listApp(ctx.app)).filter(c => c.labels[LABEL.managed] === 'true')
    note(`${containers.length} container(s), ${record ? `${record.releases.length} release(s) recorded` : 'no ledger'}`)
    return { record, containers }
  })
  serving.live = record?.releases[0]
  serving.releases = record?.releases ?? []
  const withdrawn = await timeline.step('switch', `Taking ${ctx.app} off the proxy ${config.proxy.name}`, async note => {
    const done = await ctx.router.withdraw!().catch((e: Error) => {
      throw new ReleaseError({
        reason: `The proxy could not take ${ctx.app} off it: ${e.message}. Its routing is as it was; ${serving.live ? `${serving.live.color} (${serving.live.image}) still serves` : 'nothing else was changed'}. Run mode remove again.`
      })
    })
    note(done ? 'its domains are free' : 'the proxy had no route for it')
    return done
  })
  // The proxy no longer sends it anything: from here on nothing of the app serves.
  serving.live = undefined
  const running = containers.filter(c => c.state === 'running')
  if (withdrawn && running.length && config.proxy.drainTimeoutMs > 0) {
    log.info(`Letting requests in flight to ${ctx.app} finish: ${config.proxy.drainTimeoutMs / 1000} s (drain-timeout) before its containers stop`)
    await ctx.clock.sleep(config.proxy.drainTimeoutMs)
  }
  const removed = await timeline.step('cleanup', `Removing ${ctx.app}'s containers and networks`, async note => {
    const summary = await removeContainers(ctx, colors, containers)
    const networks = await removeNetworks(ctx)
    note([summary, networks].filter(Boolean).join('; '))
    return summary
  })
  const archived = await ctx.ledger.archive().catch((e: Error) => {
    throw new ReleaseError({
      reason: `${ctx.app} was taken off the proxy and its containers removed (${removed}), but ${e.message}. Run mode remove again to archive it.`
    })
  })
  log.info(
    archived
      ? `${ctx.app} is removed from this host; its release ledger was archived to ${archived}.`
      : containers.length || withdrawn
        ? `${ctx.app} is removed from this host (it had no release ledger).`
        : `Nothing of ${ctx.app} was on this host: nothing to remove.`
  )
  const last = record?.releases[0]
  return { result: 'removed', releases: [], ...(last ? { previousColor: last.color, previousImage: last.image } : {}) }
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

import { LABEL, networkName } from '../core/names.js'
import type { AppRemoval } from './color-set.js'
import type { EngineContext } from './context.js'
import type { ServiceInfo, SwarmCluster } from './swarm-ports.js'

/** How often a removal still refused by Swarm (tasks of removed services still stopping) is tried again. */
const RETRY_MS = 1000
/** Beyond the tasks' stop grace: how long removed services' tasks may take to go from every node. */
const TASKS_SETTLE_MS = 20_000
/** Once the tasks went: how long the network may still be refused (an endpoint being released). */
const NETWORK_SETTLE_MS = 10_000
/** The label Docker gives a Swarm task's container: the manager's own tasks are not removed as containers. */
const SWARM_TASK_LABEL = 'com.docker.swarm.task.id'
const SWARM_SERVICE_ID_LABEL = 'com.docker.swarm.service.id'

/**
 * mode remove with target swarm: the app's services (both colors, workers, and its own proxy
 * service: on a swarm each app has one, see docs/several-hosts.md), its Swarm secrets and configs,
 * its overlay network, and its containers on the manager that are no Swarm task (the proxy's switch
 * relay). A shared service stays unless remove-data. Every node prunes its own images.
 */
export async function swarmRemoval(ctx: EngineContext, cluster: SwarmCluster): Promise<AppRemoval> {
  const { app } = ctx
  const [services, secrets, configs, relays] = await Promise.all([
    cluster.servicesOf(app),
    cluster.secretsOf(app),
    cluster.configsOf(app),
    managerContainers(ctx)
  ])
  const running = services.some(s => s.labels[LABEL.role] !== 'proxy' && s.labels[LABEL.role] !== 'shared' && (s.replicas ?? 1) > 0)
  return {
    place: 'the swarm',
    what: `${app}'s services, secrets, configs and network`,
    proxy: 'its proxy tasks',
    found: `${services.length} service(s), ${secrets.length} secret(s), ${configs.length} config(s)`,
    any: services.length + secrets.length + configs.length + relays.length > 0,
    running,
    remove: () => removeFromSwarm(ctx, cluster, services)
  }
}

/** The app's containers on the manager that Swarm does not run as tasks (the switch relay). */
async function managerContainers(ctx: EngineContext): Promise<string[]> {
  const all = await ctx.host.listApp(ctx.app)
  return all.filter(c => c.labels[LABEL.managed] === 'true' && !c.labels[SWARM_TASK_LABEL]).map(c => c.name)
}

/**
 * Swarm lists no task of a removed service while the task's exited container may stay on the node
 * a while longer; on the manager such a container would make the next run take the app for one
 * whose ledger is gone. Exited, of a service that no longer exists: removed (one still being
 * removed by Docker is left to it).
 */
async function removeLeftoverTasks(ctx: EngineContext, removed: ServiceInfo[]): Promise<void> {
  const ids = new Set(removed.map(s => s.id))
  const left = (await ctx.host.listApp(ctx.app)).filter(c => c.labels[SWARM_TASK_LABEL] && ids.has(c.labels[SWARM_SERVICE_ID_LABEL] ?? ''))
  await Promise.all(
    left.map(c => ctx.host.remove(c.name).catch(e => ctx.log.warning(`Could not remove ${c.name}, a task of a removed service: ${(e as Error).message}`)))
  )
}

async function removeFromSwarm(ctx: EngineContext, cluster: SwarmCluster, services: ServiceInfo[]): Promise<string> {
  const { log, config, app } = ctx
  const kept = services.filter(s => s.labels[LABEL.role] === 'shared' && config.removeData !== true)
  const going = services.filter(s => !kept.includes(s))
  for (const s of kept) log.info(`Kept the shared service ${s.name}: remove-data: true removes it too`)
  // Each task gets SIGTERM and its stop grace from Swarm: the drain is over, what is left finishes.
  await Promise.all(going.map(s => cluster.remove(s.name)))
  for (const s of going)
    log.info(
      s.labels[LABEL.role] === 'proxy'
        ? `Removed the proxy service ${s.name} (on a swarm each app has its own: proxy-port ${config.proxy.port} is free on every node)`
        : `Removed the service ${s.name}`
    )
  await waitTasksGone(ctx, cluster, going)
  for (const name of await managerContainers(ctx)) {
    await ctx.host.remove(name)
    log.info(`Removed ${name} (on the manager)`)
  }
  await removeLeftoverTasks(ctx, going)
  const secrets = await removeEach(ctx, 'Swarm secret', await cluster.secretsOf(app), id => cluster.removeSecret(id))
  const configs = await removeEach(ctx, 'Swarm config', await cluster.configsOf(app), id => cluster.removeConfig(id))
  const network = await removeOverlay(ctx, cluster)
  return [
    `${going.length} service(s) removed`,
    kept.length ? `${kept.length} shared service(s) kept` : '',
    secrets ? `${secrets} secret(s)` : '',
    configs ? `${configs} config(s)` : '',
    network ? `the network ${networkName(app)}` : ''
  ]
    .filter(Boolean)
    .join(', ')
}

/** Secrets or configs of the app; one a kept service still mounts stays, with a warning. Returns how many went. */
async function removeEach(ctx: EngineContext, what: string, objects: { id: string; name: string }[], remove: (id: string) => Promise<void>): Promise<number> {
  const removed: string[] = []
  for (const o of objects) {
    try {
      await remove(o.id)
      removed.push(o.name)
    } catch (e) {
      ctx.log.warning(`Kept the ${what} ${o.name}: ${(e as Error).message}`)
    }
  }
  if (removed.length) ctx.log.info(`Removed ${removed.length} ${what}(s) of ${ctx.app}: ${removed.join(', ')}`)
  return removed.length
}

/**
 * Until Swarm lists no task of the removed services: their containers stopped and went on every
 * node, so neither they nor their endpoints on the app's network are left (a deploy of the app
 * right after finds nothing of it). Bounded by their stop grace and a margin; then said, not failed.
 */
async function waitTasksGone(ctx: EngineContext, cluster: SwarmCluster, removed: ServiceInfo[]): Promise<void> {
  const { clock, log, config } = ctx
  if (!removed.length) return
  const started = clock.now()
  const deadline = started + stopGraceMs(config.proxy.drainTimeoutMs) + TASKS_SETTLE_MS
  for (;;) {
    const left = await cluster.tasksOfRemoved(removed.map(s => s.id))
    if (!left.length) {
      log.info(`The tasks of ${ctx.app}'s services stopped on every node (${clock.now() - started} ms)`)
      return
    }
    if (clock.now() >= deadline) {
      const nodes = [...new Set(left.map(t => t.node || 'unplaced'))].join(', ')
      log.warning(`${left.length} task(s) of ${ctx.app}'s removed services are still stopping (on ${nodes}): Swarm removes them once they stop`)
      return
    }
    await clock.sleep(RETRY_MS)
  }
}

/** A task's stop grace: drain-timeout + 5 s, as its service was created with. */
function stopGraceMs(drainTimeoutMs: number): number {
  return drainTimeoutMs + 5000
}

/**
 * The app's overlay network, once the tasks of its removed services have left it on every node
 * (bounded: their stop grace and a margin). Still in use then: kept, said (a run later removes it).
 */
async function removeOverlay(ctx: EngineContext, cluster: SwarmCluster): Promise<boolean> {
  const { clock, log } = ctx
  const name = networkName(ctx.app)
  const deadline = clock.now() + NETWORK_SETTLE_MS
  for (;;) {
    const result = await cluster.removeOverlay(name)
    if (result === 'removed') log.info(`Removed the overlay network ${name}`)
    if (result !== 'in-use') return result === 'removed'
    if (clock.now() >= deadline) {
      log.warning(`Kept the overlay network ${name}: tasks on it have not stopped on every node yet. Run mode remove again to remove it.`)
      return false
    }
    await clock.sleep(RETRY_MS)
  }
}

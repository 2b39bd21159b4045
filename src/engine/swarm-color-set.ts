import { createHash } from 'node:crypto'
import { COLORS, LABEL, networkName, workerName, type Color } from '../core/names.js'
import { ReleaseError, type Standby, type WorkerState } from '../core/outcome.js'
import type { Release, WorkerRecord } from '../core/release.js'
import type { SwarmSettings } from '../core/config.js'
import type { ActivePlan, AppRemoval, ColorSet, ColorState } from './color-set.js'
import type { EngineContext } from './context.js'
import type { ImageInfo } from './ports.js'
import { isCurrentTask, type ServiceSpec, type SwarmCluster, type SwarmProxyHealth, type TaskInfo } from './swarm-ports.js'
import { swarmRemoval } from './swarm-remove.js'
import { NO_ROLES } from './workers.js'

/** The label a swarm service records the image digest its tasks run with (every node the same bytes). */
export const DIGEST_LABEL = 'cutover.digest'
const POLL_MS = 1000

/** The label naming the env variables a color's service gets as Swarm secrets (a change of the list is a new release). */
export const SECRETS_LABEL = 'cutover.swarm-secrets'
/** Where Swarm mounts a service's secrets in its tasks. */
export const SECRETS_DIR = '/run/secrets'
const SECRET_NAME_MAX = 64

/**
 * A release's secret for env variable `name`: `<app>.<release>.<NAME>`, within Swarm's 64
 * characters and its alphabet (a name too long, or ending in _, is shortened by a hash of it).
 */
export function secretObjectName(app: string, instance: string, name: string): string {
  const full = `${app}.${instance}.${name}`
  if (full.length <= SECRET_NAME_MAX && /[A-Za-z0-9]$/.test(name)) return full
  const tail = `.${instance}.${createHash('sha256').update(name).digest('hex').slice(0, 8)}`
  return `${app.slice(0, SECRET_NAME_MAX - tail.length)}${tail}`
}

/** `<app>-<color>`: one color of the app is one service. */
export function serviceName(app: string, color: Color): string {
  return `${app}-${color}`
}

/** How the gate describes tasks that are not there yet: their states, per node, and Swarm's last error. */
export function describeTasks(tasks: TaskInfo[], wanted: number): string {
  const running = tasks.filter(t => t.state === 'running').length
  const byNode = new Map<string, string[]>()
  for (const t of tasks) byNode.set(t.node || 'unplaced', [...(byNode.get(t.node || 'unplaced') ?? []), t.state])
  const nodes = [...byNode].map(([node, states]) => `${node}: ${states.join(', ')}`).join('; ')
  const failed = tasks.filter(t => t.error).sort((a, b) => (a.since < b.since ? 1 : -1))[0]
  return `${running} of ${wanted} task(s) running${nodes ? ` (${nodes})` : ''}${failed ? `; last task error: ${failed.error}${failed.exitCode !== undefined ? ` (exit code ${failed.exitCode})` : ''}` : ''}`
}

/**
 * target: swarm (issue #26): one color of the app is a Swarm service `<app>-<color>` (endpoint_mode
 * dnsrr, on the app's overlay network), its workers services `<app>-<color>-worker-<name>`. The
 * pipeline drives it as it drives containers on one host: boot → gate → expose → keep-previous.
 */
export class SwarmColorSet implements ColorSet {
  /** The gate asks the proxy tasks which servers their own checks see up. */
  readonly gateAsksProxy = true
  /** What boot did to the color's service, so a failed release can put it back. */
  private booted?: 'created' | 'updated' | 'scaled'
  private workersBooted: { name: string; how: 'created' | 'updated' }[] = []
  /** The release's secrets (swarm-secrets), created once by boot: what its services mount. */
  private secrets?: { instance: string; refs: NonNullable<ServiceSpec['secrets']> }

  constructor(
    private readonly ctx: EngineContext,
    private readonly cluster: SwarmCluster,
    private readonly proxy: SwarmProxyHealth,
    private readonly settings: SwarmSettings
  ) {}

  private get app(): string {
    return this.ctx.app
  }

  async inspect(): Promise<ColorState[]> {
    return Promise.all(COLORS.map(color => this.inspectColor(color)))
  }

  private async inspectColor(color: Color): Promise<ColorState> {
    const service = await this.cluster.service(serviceName(this.app, color))
    if (!service) return { color, exists: false, running: false }
    const release = service.labels[LABEL.release]
    const tasks = (await this.cluster.tasks(service.name)).filter(t => isCurrentTask(t) && t.release === release)
    const replicas = service.replicas ?? 0
    return {
      color,
      exists: true,
      running: replicas > 0 && tasks.filter(t => t.state === 'running').length >= replicas,
      image: service.labels[LABEL.image],
      releaseId: release,
      replicas: Math.max(1, replicas),
      id: service.id,
      imageId: service.labels[DIGEST_LABEL],
      configHash: service.labels[LABEL.configHash]
    }
  }

  async recover(): Promise<void> {
    // Nothing is set aside on a swarm: a color's service is updated in place and Swarm keeps its previous spec.
  }

  describe(plan: ActivePlan): string {
    return `service ${serviceName(this.app, plan.color)} (${plan.replicas} task${plan.replicas > 1 ? 's' : ''})`
  }

  /** The service of a color for a release: what `docker service create` users expect, plus cutover's labels. */
  private webSpec(plan: ActivePlan, release: Release): ServiceSpec {
    const { config } = this.ctx
    const labels = {
      [LABEL.managed]: 'true',
      [LABEL.app]: this.app,
      [LABEL.color]: plan.color,
      [LABEL.image]: plan.image,
      [LABEL.release]: release.instance,
      [LABEL.configHash]: release.configHash,
      [LABEL.run]: this.ctx.deps.run,
      // When this release's spec was written: a rebuilt ledger orders the colors by it.
      [LABEL.deployedAt]: this.ctx.nowIso(),
      [LABEL.role]: 'web',
      [SECRETS_LABEL]: this.settings.secrets.join(','),
      ...(release.digest ? { [DIGEST_LABEL]: release.digest } : {})
    }
    const secrets = this.secrets?.instance === release.instance ? this.secrets.refs : []
    return {
      name: serviceName(this.app, plan.color),
      // By digest when the registry gave one: every node runs the bytes the manager pulled.
      image: release.digest ?? plan.image,
      labels,
      containerLabels: { ...config.container.labels, ...labels },
      env: this.envWithSecrets(),
      ...(secrets.length ? { secrets } : {}),
      command: config.container.command,
      replicas: plan.replicas,
      networks: [networkName(this.app)],
      constraints: this.settings.constraints,
      memoryBytes: config.container.memoryBytes,
      nanoCpus: config.container.nanoCpus,
      healthcheck: config.container.healthcheck,
      stopGraceSeconds: Math.ceil(config.proxy.drainTimeoutMs / 1000) + 5
    }
  }

  /** The env without the variables given as secrets; `<NAME>_FILE` says where each one's file is. */
  private envWithSecrets(): Record<string, string> {
    const env = { ...this.ctx.config.container.env }
    for (const name of this.settings.secrets) {
      delete env[name]
      env[`${name}_FILE`] = `${SECRETS_DIR}/${name}`
    }
    return env
  }

  /** The release's Swarm secrets, one per swarm-secrets variable, created before its services (named per release: a rollback's are its own). */
  private async createSecrets(release: Release): Promise<void> {
    if (!this.settings.secrets.length || this.secrets?.instance === release.instance) return
    const env = this.ctx.config.container.env
    const refs = await Promise.all(
      this.settings.secrets.map(async name => {
        const secret = secretObjectName(this.app, release.instance, name)
        const labels = { [LABEL.managed]: 'true', [LABEL.app]: this.app, [LABEL.release]: release.instance, 'cutover.secret': name }
        return { secretId: await this.cluster.createSecret(secret, env[name], labels), secret, file: name }
      })
    )
    this.secrets = { instance: release.instance, refs }
    this.ctx.log.info(`Created ${refs.length} Swarm secret(s) of release ${release.instance}: ${this.settings.secrets.join(', ')} (files in ${SECRETS_DIR})`)
  }

  /** Removes the app's secrets that no service (nor the spec a service can roll back to) mounts any more. */
  private async pruneSecrets(): Promise<void> {
    const [secrets, services] = await Promise.all([this.cluster.secretsOf(this.app), this.cluster.servicesOf(this.app)])
    const used = new Set(services.flatMap(s => s.secretIds))
    const unused = secrets.filter(s => !used.has(s.id))
    for (const s of unused)
      await this.cluster.removeSecret(s.id).catch(e => this.ctx.log.warning(`Could not remove the unused Swarm secret ${s.name}: ${(e as Error).message}`))
    if (unused.length) this.ctx.log.info(`Removed ${unused.length} Swarm secret(s) no service of ${this.app} uses: ${unused.map(s => s.name).join(', ')}`)
  }

  async boot(plan: ActivePlan, release: Release): Promise<void> {
    const { log } = this.ctx
    const name = serviceName(this.app, plan.color)
    if (plan.kind === 'reuse-standby') {
      if (plan.mustStart) {
        await this.cluster.scale(name, plan.replicas)
        this.booted = 'scaled'
        log.info(`Scaled the stopped standby ${name} back to ${plan.replicas} task(s)`)
      }
      return
    }
    await this.createSecrets(release)
    const spec = this.webSpec(plan, release)
    if (await this.cluster.service(name)) {
      await this.cluster.update(spec)
      this.booted = 'updated'
      log.info(`Updated the idle service ${name} to ${plan.image} (${plan.replicas} task(s); Swarm keeps its previous spec until ${plan.color} is live)`)
    } else {
      await this.cluster.create(spec)
      this.booted = 'created'
      log.info(`Created the service ${name} from ${plan.image} (${plan.replicas} task(s), endpoint_mode dnsrr, network ${networkName(this.app)})`)
    }
  }

  /**
   * Every task of the new color's release running (Swarm reports running once a HEALTHCHECK
   * passes) on whichever node, and up in every proxy task's own health checks of the health path,
   * bounded by health-timeout. Tasks Swarm reschedules (a node that went down) are waited for.
   */
  /** Services carry their restart policy from their creation: nothing goes on beside the switch. */
  async gated(): Promise<void> {}

  async gate(plan: ActivePlan, live: Release | undefined): Promise<void> {
    const { config, clock, timeline } = this.ctx
    const name = serviceName(this.app, plan.color)
    const release = (await this.cluster.service(name))?.labels[LABEL.release]
    const stillLive = live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'
    const outcome = await timeline.step('healthy', `Waiting for ${this.describe(plan)} to be running and healthy`, async note => {
      const deadline = clock.now() + config.health.timeoutMs
      let why: string
      for (;;) {
        this.ctx.checkAborted(live)
        const tasks = (await this.cluster.tasks(name)).filter(t => t.release === release)
        const current = tasks.filter(isCurrentTask)
        const running = current.filter(t => t.state === 'running')
        if (running.length >= plan.replicas) {
          const addresses = running.flatMap(t => t.addresses)
          const views = await this.proxy.serversUp(plan.color)
          const lagging = views.find(v => v.error || addresses.some(a => !v.up.includes(a)))
          if (!lagging && views.length) {
            note(`${running.length} task(s) on ${new Set(running.map(t => t.node)).size} node(s), up in ${views.length} proxies`)
            return { healthy: true as const }
          }
          why = !views.length
            ? 'no proxy task answers'
            : `the proxy on ${lagging!.proxy} ${lagging!.error ? `does not answer (${lagging!.error})` : `sees ${lagging!.up.length} of ${addresses.length} task(s) healthy at ${config.health.path}`}`
        } else why = describeTasks(current.length ? current : tasks.slice(0, 5), plan.replicas)
        if (clock.now() >= deadline) {
          note(why)
          return { healthy: false as const, why }
        }
        await clock.sleep(POLL_MS)
      }
    })
    if (!outcome.healthy) {
      throw new ReleaseError({
        reason: `${name} (${plan.image}) did not become healthy within ${config.health.timeoutMs / 1000} s: ${outcome.why}. ${stillLive}`,
        container: name
      })
    }
  }

  async startWorkers(plan: ActivePlan, release: Release, workers: WorkerRecord[], live: Release | undefined): Promise<void> {
    if (!workers.length) return
    const roles = this.ctx.config.roles ?? NO_ROLES
    const stillLive = live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'
    await this.ctx.timeline.step('workers', `Starting ${workers.length} worker service(s) of ${plan.color}`, async () => {
      for (const w of workers) {
        const web = this.webSpec(plan, release)
        const spec: ServiceSpec = { ...web, name: workerName(this.app, plan.color, w.name), image: w.image ?? web.image, replicas: 1 }
        spec.command = w.command.length ? w.command : undefined
        spec.labels = { ...spec.labels, [LABEL.role]: 'worker', [LABEL.worker]: w.name }
        spec.containerLabels = { ...spec.containerLabels, [LABEL.role]: 'worker', [LABEL.worker]: w.name }
        const exists = await this.cluster.service(spec.name)
        await (exists ? this.cluster.update(spec) : this.cluster.create(spec))
        this.workersBooted.push({ name: spec.name, how: exists ? 'updated' : 'created' })
      }
      await Promise.all(this.workersBooted.map(w => this.waitWorker(w.name, release, roles.minUptimeMs, stillLive)))
    })
  }

  /** A worker service's task running (healthy, with a HEALTHCHECK) for at least worker-min-uptime. */
  private async waitWorker(name: string, release: Release, minUptimeMs: number, stillLive: string): Promise<void> {
    const { clock, config } = this.ctx
    const deadline = clock.now() + config.health.timeoutMs + minUptimeMs
    for (;;) {
      const tasks = (await this.cluster.tasks(name)).filter(t => t.release === release.instance)
      const running = tasks.find(t => isCurrentTask(t) && t.state === 'running')
      if (running && clock.now() - Date.parse(running.since) >= minUptimeMs) return
      if (clock.now() >= deadline)
        throw new ReleaseError({ reason: `The worker service ${name} did not stay running: ${describeTasks(tasks, 1)}. ${stillLive}` })
      await clock.sleep(POLL_MS)
    }
  }

  async restore(plan: ActivePlan): Promise<void> {
    const { log, config } = this.ctx
    for (const w of this.workersBooted.splice(0)) {
      await (w.how === 'updated' ? this.cluster.rollback(w.name) : this.cluster.remove(w.name)).catch(e =>
        log.warning(`Could not undo the worker service ${w.name}: ${(e as Error).message}`)
      )
    }
    const name = serviceName(this.app, plan.color)
    const booted = this.booted
    this.booted = undefined
    try {
      if (booted === 'updated') {
        await this.cluster.rollback(name)
        log.info(`Rolled ${name} back to its previous spec (the standby it was), so the standby is kept`)
      } else if (booted === 'created' && config.keepFailed) {
        await this.cluster.scale(name, 0)
        log.info(`Scaled the failed service ${name} to 0 and kept it for inspection (keep-failed)`)
      } else if (booted === 'created') {
        await this.cluster.remove(name)
        log.info(`Removed the failed service ${name} (set keep-failed: true to keep it)`)
      } else if (booted === 'scaled') {
        await this.cluster.scale(name, 0)
        log.info(`Scaled ${name} to 0 again`)
      }
    } catch (e) {
      log.warning(`Could not clean up ${name}: ${(e as Error).message}`)
    }
    await this.pruneSecrets().catch(e => log.warning(`Could not remove the failed release's Swarm secrets: ${(e as Error).message}`))
  }

  async retireReplaced(): Promise<void> {
    // Swarm replaced the idle color's old tasks itself when its service was updated.
  }

  async keepPrevious(before: Release | undefined, previousColor: Color): Promise<Standby | undefined> {
    const standby = await this.keepPreviousColor(before, previousColor)
    // After the switch: the secrets of the release the idle color ran before this one (or of a removed standby) go.
    await this.pruneSecrets().catch(e => this.ctx.log.warning(`Could not remove unused Swarm secrets: ${(e as Error).message}`))
    return standby
  }

  private async keepPreviousColor(before: Release | undefined, previousColor: Color): Promise<Standby | undefined> {
    const { config, log, clock } = this.ctx
    if (!before) return undefined
    const name = serviceName(this.app, previousColor)
    const standby: Standby = { color: before.color, image: before.image, state: 'running' }
    if (config.keepPrevious === 'running') {
      log.info(`${name} keeps its tasks as the standby for an instant rollback.`)
      return standby
    }
    log.info(`Draining ${name} for ${config.proxy.drainTimeoutMs / 1000} s (drain-timeout) before it is ${config.keepPrevious}`)
    await clock.sleep(config.proxy.drainTimeoutMs)
    if (config.keepPrevious === 'stopped') {
      await this.cluster.scale(name, 0)
      standby.state = 'stopped'
    } else {
      await this.cluster.remove(name)
      standby.state = 'removed'
    }
    return standby
  }

  async retireWorkers(previous: Color | undefined, liveColor: Color): Promise<void> {
    if (!previous || previous === liveColor) return
    const services = await this.cluster.servicesOf(this.app)
    for (const s of services.filter(s => s.labels[LABEL.role] === 'worker' && s.labels[LABEL.color] === previous)) {
      await this.cluster.remove(s.name)
      this.ctx.log.info(`Removed the previous worker service ${s.name}`)
    }
  }

  async discard(release: Release): Promise<number> {
    const name = serviceName(this.app, release.color)
    const service = await this.cluster.service(name)
    if (service?.labels[LABEL.release] !== release.instance) return 0
    await this.cluster.remove(name)
    return service.replicas ?? 0
  }

  async workerStates(color: Color): Promise<WorkerState[]> {
    const services = (await this.cluster.servicesOf(this.app)).filter(s => s.labels[LABEL.role] === 'worker' && s.labels[LABEL.color] === color)
    return Promise.all(
      services.map(async s => {
        const tasks = (await this.cluster.tasks(s.name)).filter(isCurrentTask)
        return {
          name: s.labels[LABEL.worker] ?? s.name,
          container: s.name,
          state: tasks.find(t => t.state === 'running') ? 'running' : (tasks[0]?.state ?? 'none')
        }
      })
    )
  }

  async isCurrent(live: Release, state: ColorState | undefined, image: ImageInfo, hash: string, replicas: number): Promise<boolean> {
    const roles = this.ctx.config.roles ?? NO_ROLES
    if (roles.workers.length) return false
    const sameImage = !!image.digest && state?.imageId === image.digest
    const sameSecrets = ((await this.cluster.service(serviceName(this.app, live.color)))?.labels[SECRETS_LABEL] ?? '') === this.settings.secrets.join(',')
    return sameSecrets && !!state?.running && sameImage && state.configHash === hash && (live.replicas ?? 1) === replicas && (state.replicas ?? 1) === replicas
  }

  /** mode status: the app's services, their tasks per node, and drift from the live release. */
  async clusterState(live: Release): Promise<{ lines: string[]; drift: string[] }> {
    const services = await this.cluster.servicesOf(this.app)
    const lines: string[] = []
    const drift: string[] = []
    for (const s of services.sort((a, b) => a.name.localeCompare(b.name))) {
      const tasks = (await this.cluster.tasks(s.name)).filter(isCurrentTask)
      const perNode = new Map<string, string[]>()
      for (const t of tasks) perNode.set(t.node || 'unplaced', [...(perNode.get(t.node || 'unplaced') ?? []), t.state])
      const where = [...perNode].map(([node, states]) => `${node} ${states.join('/')}`).join(', ')
      const size = s.replicas === undefined ? 'global' : `${s.replicas} replica(s)`
      lines.push(`service ${s.name}: ${s.labels[LABEL.image] ?? s.image}, ${size}; tasks: ${where || 'none'}`)
      const running = tasks.filter(t => t.state === 'running').length
      if (s.name === serviceName(this.app, live.color)) {
        if (s.labels[LABEL.release] !== live.instance)
          drift.push(`${s.name} runs release ${s.labels[LABEL.release]}, the ledger records ${live.instance} as live`)
        if (running < (live.replicas ?? 1)) drift.push(`${s.name} has ${running} of ${live.replicas ?? 1} task(s) running`)
      }
    }
    if (!services.some(s => s.name === serviceName(this.app, live.color)))
      drift.push(`the live color's service ${serviceName(this.app, live.color)} does not exist`)
    return { lines, drift }
  }

  /** mode remove: the app's services, secrets, configs and network (swarm-remove.ts). */
  removal(): Promise<AppRemoval> {
    return swarmRemoval(this.ctx, this.cluster)
  }

  async pullWorkerImages(): Promise<void> {
    // Every node pulls what its tasks run.
  }

  async prune(): Promise<void> {
    // Images live on every node; Swarm's nodes keep or prune their own.
  }
}

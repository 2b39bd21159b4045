import type { EngineConfig } from './context.js'
/**
 * Shared services of a compose project (a database, a queue): one container `<app>-<service>`
 * each, outside the colors (compose project `<app>`), found by its compose service name on the
 * app's networks. Started once and not replaced by a deploy: doubling a database per color is what
 * they exist to avoid. One whose image or settings changed is kept, with a warning, unless
 * `compose-shared-update: recreate` asks for it to be stopped and created again.
 */
import { createHash } from 'node:crypto'
import type { SharedService } from '../core/config.js'
import { progressOf, type Log } from '../core/log.js'
import { LABEL } from '../core/names.js'
import { ReleaseError } from '../core/outcome.js'
import type { Clock, ContainerHost, ContainerSpec } from './ports.js'
import { composeLabels } from './compose-project.js'

export function sharedName(app: string, service: string): string {
  return `${app}-${service}`
}

function sharedHash(s: SharedService): string {
  return createHash('sha256').update(JSON.stringify(s)).digest('hex').slice(0, 16)
}

export interface SharedDeps {
  config: EngineConfig
  host: ContainerHost
  log: Log
  clock: Clock
  network: string
  run: string
  aborted: () => string | undefined
  /** A line for the job summary (the step's detail). */
  note?: (detail: string) => void
}

const POLL_MS = 500

/**
 * Makes sure each shared service runs, in depends_on order, and waits for it: healthy when it has
 * a healthcheck (within health-timeout), else running. A service found with other settings than
 * the compose file now says is left as it is, with a warning.
 */
export async function ensureShared(deps: SharedDeps): Promise<void> {
  const { config, host, log } = deps
  const notes: string[] = []
  for (const s of config.shared ?? []) {
    const name = sharedName(config.app, s.name)
    const hash = sharedHash(s)
    let found = await host.inspect(name)
    const changed = found && found.labels[LABEL.configHash] !== hash ? changeOf(found.labels[LABEL.image], s.image) : undefined
    if (found && changed) {
      if (config.compose?.sharedUpdate === 'recreate') {
        // SIGTERM first, with worker-stop-timeout, so a database shuts down cleanly; its named volumes keep the data.
        log.warning(`Recreating the shared service ${name} (${changed}), as compose-shared-update: recreate asks: it is stopped until the new one is up`)
        await host.setRestartPolicy(name, { Name: 'no' }).catch(() => undefined)
        await host.stop(name, Math.ceil((config.roles?.stopTimeoutMs ?? 30_000) / 1000))
        await host.remove(name)
        found = undefined
        notes.push(`${name} recreated (${changed})`)
      } else {
        log.warning(
          `The shared service ${name} differs from the compose file (${changed}) and was NOT replaced: shared services are kept by a deploy (compose-shared-update: keep). To replace it, deploy once with compose-shared-update: recreate (it is stopped and created again; its named volumes keep their data), or remove the container (docker rm -f ${name}) before the next deploy.`
        )
        notes.push(`⚠️ ${name} differs from the compose file (${changed}): kept, not replaced (compose-shared-update: recreate replaces it)`)
      }
    }
    if (!found) {
      if (!(await host.image(s.image))) await host.pull(s.image, progressOf(log))
      await host.create(specOf(deps, s, name, hash))
      await host.start(name)
      log.info(`Started the shared service ${name} (${s.image})`)
    } else if (!found.running) {
      await host.start(name)
      log.info(`Started the stopped shared service ${name}`)
    }
    await gate(deps, name, !found || !found.running)
    if (!found && config.container.restart.Name !== 'no') await host.setRestartPolicy(name, config.container.restart)
  }
  if (notes.length) deps.note?.(notes.join('; '))
}

/** What changed in a shared service, in words. */
function changeOf(runningImage: string | undefined, image: string): string {
  return runningImage && runningImage !== image ? `image ${runningImage} → ${image}` : 'other settings'
}

function specOf(deps: SharedDeps, s: SharedService, name: string, hash: string): ContainerSpec {
  const { config } = deps
  return {
    name,
    image: s.image,
    env: s.env,
    command: s.command,
    labels: {
      ...s.labels,
      // `docker compose -p <app> ps` lists the shared services: they belong to no color.
      ...composeLabels(config.app, undefined, s.name),
      [LABEL.managed]: 'true',
      [LABEL.app]: config.app,
      [LABEL.role]: 'shared',
      [LABEL.image]: s.image,
      [LABEL.run]: deps.run,
      [LABEL.deployedAt]: new Date(deps.clock.now()).toISOString(),
      [LABEL.configHash]: hash
    },
    network: deps.network,
    extraNetworks: s.networks,
    volumes: s.volumes,
    memoryBytes: s.memoryBytes,
    nanoCpus: s.nanoCpus,
    healthcheck: s.healthcheck,
    aliases: [s.name]
  }
}

/** Healthy by its healthcheck; without one, running (for worker-min-uptime when this run started it). */
async function gate(deps: SharedDeps, name: string, startedNow: boolean): Promise<void> {
  const { host, clock, config, log } = deps
  const started = clock.now()
  let last = ''
  for (;;) {
    const abort = deps.aborted()
    if (abort) throw new ReleaseError({ reason: `${abort}: stopped while starting the shared service ${name}; nothing was switched.` })
    const info = await host.inspect(name)
    const fail = async (why: string, exitCode?: number) => {
      const logs = await host.logs(name, 30).catch(e => `(logs unavailable: ${(e as Error).message})`)
      throw new ReleaseError({ reason: `The shared service ${name} ${why}. Nothing was switched.`, logs, container: name, exitCode })
    }
    if (!info) return fail('disappeared')
    if (info.status === 'exited' || info.status === 'dead') return fail(`exited with code ${info.exitCode}`, info.exitCode)
    const health = info.health?.status
    if (health === 'unhealthy')
      return fail(`is unhealthy (last check exited ${info.health?.lastExitCode}: ${(info.health?.lastOutput ?? '').trim().slice(0, 200)})`)
    if (health && health !== last) {
      log.info(`${name}: Docker HEALTHCHECK ${health}`)
      last = health
    }
    if (health === 'healthy') return
    const minUptime = config.roles?.minUptimeMs ?? 0
    if (!health && (!startedNow || clock.now() - started >= minUptime)) return
    if (clock.now() - started >= config.health.timeoutMs)
      return fail(`did not become healthy within ${Math.round(config.health.timeoutMs / 1000)} s (health-timeout)`)
    await clock.sleep(health ? POLL_MS : Math.max(1, Math.min(POLL_MS, started + minUptime - clock.now())))
  }
}

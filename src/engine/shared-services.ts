/**
 * Shared services of a compose project (a database, a queue): one container `<app>-<service>`
 * each, outside the colors, found by its compose service name on the app's network. Started once
 * and never replaced by a deploy: doubling a database per color is what they exist to avoid.
 */
import { createHash } from 'node:crypto'
import type { Config, SharedService } from '../core/config.js'
import type { Log } from '../core/log.js'
import { LABEL } from '../core/names.js'
import { ReleaseError } from '../core/outcome.js'
import type { Clock, ContainerHost, ContainerSpec } from './ports.js'

export function sharedName(app: string, service: string): string {
  return `${app}-${service}`
}

function sharedHash(s: SharedService): string {
  return createHash('sha256').update(JSON.stringify(s)).digest('hex').slice(0, 16)
}

export interface SharedDeps {
  config: Config
  host: ContainerHost
  log: Log
  clock: Clock
  network: string
  run: string
  aborted: () => string | undefined
}

const POLL_MS = 500

/**
 * Makes sure each shared service runs, in depends_on order, and waits for it: healthy when it has
 * a healthcheck (within health-timeout), else running. A service found with other settings than
 * the compose file now says is left as it is, with a warning.
 */
export async function ensureShared(deps: SharedDeps): Promise<void> {
  const { config, host, log } = deps
  for (const s of config.shared ?? []) {
    const name = sharedName(config.app, s.name)
    const hash = sharedHash(s)
    const found = await host.inspect(name)
    if (!found) {
      if (!(await host.image(s.image))) await host.pull(s.image, line => log.info(line))
      await host.create(specOf(deps, s, name, hash))
      await host.start(name)
      log.info(`Started the shared service ${name} (${s.image})`)
    } else {
      if (found.labels[LABEL.configHash] !== hash) {
        log.warning(
          `The shared service ${name} runs with other settings than the compose file says now: shared services are never replaced by a deploy; remove the container to have it created again`
        )
      }
      if (!found.running) {
        await host.start(name)
        log.info(`Started the stopped shared service ${name}`)
      }
    }
    await gate(deps, name, !found || !found.running)
    if (!found && config.container.restart.Name !== 'no') await host.setRestartPolicy(name, config.container.restart)
  }
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

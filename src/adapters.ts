import type Docker from 'dockerode'
import type { Config, ProxySettings } from './core/config.js'
import type { Log } from './core/log.js'
import type { EngineDeps } from './engine/release.js'
import { DockerHost } from './host/docker-host.js'
import { LedgerFile } from './host/ledger-file.js'
import { DeployLock, type LockHolder } from './host/lock.js'
import { createRouter, ROUTERS } from './proxy/routers.js'
import type { SshSession } from './transport/ssh.js'
import { ReleaseError } from './core/outcome.js'
import { MODES } from './engine/modes.js'
import type { Timeline } from './engine/timeline.js'
import { proxyCapabilityProblem } from './proxy/capabilities.js'
import { noProxy, resolveProxy } from './proxy/choose.js'
import type { ColorSet } from './engine/color-set.js'
import type { EngineContext } from './engine/context.js'
import { SwarmColorSet } from './engine/swarm-color-set.js'
import { DockerSwarmCluster, SwarmManagerHost } from './host/swarm-cluster.js'
import { SwarmProxy } from './proxy/swarm-proxy.js'

/** How long a run waits for another app's run to finish creating or changing the shared proxy. */
const PROXY_LOCK_TIMEOUT_MS = 60_000

export interface HostConnection {
  ssh: SshSession
  docker: Docker
  /** The shell holding the deploy lock (or the lock-free one of mode status): it serves the ledger. */
  shell: DeployLock
}

/**
 * The engine's ports on one connected host: Docker, the proxy (of the type settled on that host,
 * see proxy/choose.ts) and the release ledger, all over the run's one SSH connection to it.
 */
export function hostAdapters(
  config: Config,
  proxy: ProxySettings,
  on: HostConnection,
  holder: LockHolder,
  log: Log
): Pick<EngineDeps, 'host' | 'router' | 'ledger'> & { colors?: (ctx: EngineContext) => ColorSet } {
  const { ssh, docker, shell } = on
  const openTcp = (host: string, port: number) => ssh.openTcp(host, port)
  if (config.swarm) return swarmAdapters(config, proxy, on, log)
  // Credentials meant for "whatever app image is pulled" are not offered to the proxy image's registry.
  const proxyAuth = config.registry?.serveraddress ? config.registry : undefined
  // App names have no dots, so this lock never shares a file with an app's deploy lock. Taken by the
  // run's shell when free (no new SSH channel), else waited for on a channel of its own.
  const proxyLock = `proxy.${proxy.name}`
  const lockProxy = async () => (await shell.tryLock(proxyLock, holder)) ?? DeployLock.acquire(ssh, proxyLock, holder, PROXY_LOCK_TIMEOUT_MS, log)
  return {
    host: new DockerHost(docker, openTcp, config.registry),
    router: createRouter(proxy, config.app, {
      docker,
      openTcp,
      openUnixSocket: path => ssh.openUnixSocket(path),
      registry: proxyAuth,
      log,
      lockProxy,
      hostFacts: () => shell.facts(config.dockerSocket)
    }),
    ledger: new LedgerFile(shell, config.app)
  }
}

/** The proxy line of the log: which proxy, and whether proxy-type auto chose it. */
export function describeProxy(config: Config, proxy: ProxySettings): string {
  return `Proxy: ${proxy.name} (${ROUTERS[proxy.type].capabilities.name}${config.proxy.type === 'auto' ? ', proxy-type auto' : ''})`
}

/**
 * The proxy of one connected host, as the run will use it: proxy-type auto settled on what the
 * host runs (an app without a web role has none), said in the log, and the run's inputs checked
 * against that router's capabilities before anything on the host changes. One host and each host
 * of several go through this.
 */
export async function settleProxy(docker: Docker, config: Config, log: Log): Promise<ProxySettings> {
  // mode remove asks the proxy whatever app-port says: the app may have had a web role when it was deployed.
  if (config.roles?.web === false && config.mode !== 'remove') return noProxy(config.proxy)
  const proxy = (await resolveProxy(docker, config.proxy)).settings
  log.info(describeProxy(config, proxy))
  const lacking = proxyCapabilityProblem(config, proxy.type)
  if (lacking) throw new ReleaseError({ reason: lacking.message })
  return proxy
}

/** The shell that serves the ledger: holding the deploy lock, or lock-free for a mode that only reads. */
export function shellFor(ssh: SshSession, config: Config, holder: LockHolder, log: Log, timeline?: Timeline): Promise<DeployLock> {
  if (!MODES[config.mode].changes && !config.rebuildLedger) return DeployLock.unlocked(ssh, log)
  const take = () => DeployLock.acquire(ssh, config.app, holder, config.lockTimeoutMs, log)
  return timeline ? timeline.step('lock', `Taking the deploy lock of ${config.app}`, take) : take()
}

/**
 * target: swarm (issue #26): the manager's Docker as the host (the app's network an overlay), the
 * swarm proxy as the router, the colors as services; the ledger and the lock stay on the manager.
 */
function swarmAdapters(
  config: Config,
  proxy: ProxySettings,
  on: HostConnection,
  log: Log
): Pick<EngineDeps, 'host' | 'router' | 'ledger'> & { colors: (ctx: EngineContext) => ColorSet } {
  const { ssh, docker, shell } = on
  const swarm = config.swarm!
  const openTcp = (host: string, port: number) => ssh.openTcp(host, port)
  const cluster = new DockerSwarmCluster(docker, config.registry)
  const proxyAuth = config.registry?.serveraddress ? config.registry : undefined
  const router = new SwarmProxy({ app: config.app, docker, cluster, openTcp, proxy, health: config.health, swarm, registry: proxyAuth, log })
  return {
    host: new SwarmManagerHost(docker, openTcp, config.registry, cluster),
    router,
    ledger: new LedgerFile(shell, config.app),
    colors: ctx => new SwarmColorSet(ctx, cluster, router, swarm)
  }
}

/** target: swarm's proxy settings: HAProxy always (the swarm proxy is its own service per app). */
export function swarmProxySettings(config: Config, log: Log): ProxySettings {
  const proxy = noProxy(config.proxy)
  log.info(
    `Proxy: ${config.app}-proxy (HAProxy on every swarm node${config.swarm?.proxyLabel ? ` labelled ${config.swarm.proxyLabel}` : ''}, port ${proxy.port} in host mode)`
  )
  return proxy
}

import type Docker from 'dockerode'
import type { ProxySettings, RegistryAuth } from '../core/config.js'
import type { Log } from '../core/log.js'
import { LABEL } from '../core/names.js'
import { putFile } from '../transport/docker-ops.js'
import type { CaddyAdmin } from './caddy-admin.js'
import { CADDY_BASE_FILE, CADDY_CONFIG_DIR, CADDY_DATA_DIR, CADDY_PORT, CADDY_RUN_DIR, renderBaseConfig } from './caddy-config.js'
import { hostRunDir } from './haproxy-config.js'
import { createOrAdopt, downSince, ensureProxyImage, ensureProxyNetwork, inspectIfExists, ProxyError, underLock } from './proxy-container.js'
import type { HostFacts, ProxyLocker } from './proxy-container.js'

const PORT_KEY = `${CADDY_PORT}/tcp`
/** How long a started proxy may take to open its admin socket. */
const START_TIMEOUT_MS = 15_000
/** Where Caddy saves the configuration it runs (`--resume` starts from it). */
export const AUTOSAVE_PATH = `${CADDY_CONFIG_DIR}/caddy/autosave.json`

/** What the Caddy container's lifecycle needs: the host's Docker, the proxy's settings, its admin API. */
export interface CaddyHost {
  docker: Docker
  settings: ProxySettings
  registry: RegistryAuth | undefined
  log: Log
  lockProxy: ProxyLocker
  /** The Docker socket's group (its members may open the admin socket too), read from the host. */
  hostFacts: () => Promise<HostFacts>
  admin: CaddyAdmin
}

/**
 * The one Caddy container of a host, shared by every app: created, connected and started; a
 * container of another kind under its name is refused. Caddy runs as root in the group of the
 * host's Docker socket under `umask 007`, so its admin socket (in a host directory) opens for root
 * and that group only, as HAProxy's does.
 */
export class CaddyContainer {
  readonly name: string
  readonly network: string

  constructor(private readonly host: CaddyHost) {
    this.name = host.settings.name
    this.network = `${host.settings.name}-net`
  }

  get container(): Docker.Container {
    return this.host.docker.getContainer(this.name)
  }

  /** The proxy runs, on its network and the app's. */
  async ensure(appNetwork: string): Promise<void> {
    const info = await inspectIfExists(this.container)
    if (info) this.check(info)
    if (info?.State.Running && info.NetworkSettings.Networks[appNetwork] && info.NetworkSettings.Networks[this.network]) return
    await underLock(this.host.lockProxy, async () => {
      await ensureProxyNetwork(this.host.docker, this.network)
      const current = (await inspectIfExists(this.container)) ?? (await this.create())
      this.check(current)
      for (const network of [this.network, appNetwork]) {
        if (!current.NetworkSettings.Networks[network]) await this.host.docker.getNetwork(network).connect({ Container: current.Id })
      }
      if (!current.State.Running) await this.start(current)
    })
  }

  private async start(current: Docker.ContainerInspectInfo): Promise<void> {
    const { log, admin } = this.host
    const since = downSince(current)
    log[since ? 'warning' : 'info'](`Starting the proxy ${this.name}${since ?? ''}`)
    await this.container.start().catch(e => {
      // 304: it was started in the meantime (by Docker's restart policy, say)
      if ((e as { statusCode?: number }).statusCode !== 304) throw e
    })
    await admin.waitForAdmin(START_TIMEOUT_MS, async () => String(await this.container.logs({ stdout: true, stderr: true, tail: 10, follow: false })))
  }

  /** Refuses a container that is not cutover's Caddy, or publishes another port than proxy-port. */
  private check(info: Docker.ContainerInspectInfo): void {
    const kind = info.Config.Labels?.[LABEL.proxy]
    if (kind !== 'caddy') {
      throw new ProxyError(
        `The container ${this.name} exists and is not a cutover Caddy proxy (${kind ? `a cutover ${kind} proxy` : 'not made by cutover'}). ` +
          `Choose another proxy-name for proxy-type caddy, or remove that container on the host so cutover can create the Caddy one (that drops traffic for the apps behind it until they are deployed again).`
      )
    }
    const bindings = info.HostConfig.PortBindings as Record<string, { HostPort?: string }[] | null> | undefined
    const published = (bindings?.[PORT_KEY] ?? []).map(b => Number(b.HostPort))
    if (!published.includes(this.host.settings.port)) {
      const what = published.length ? `publishes port ${published.join(', ')}` : 'publishes no port'
      throw new ProxyError(
        `The proxy container ${this.name} already exists and ${what}, not ${this.host.settings.port} as 'proxy-port' asks. ` +
          `Set proxy-port to match, or remove that container on the host so cutover can create it again (that drops traffic for the apps behind it).`
      )
    }
  }

  private async create(): Promise<Docker.ContainerInspectInfo> {
    const { docker, settings, registry, log } = this.host
    await ensureProxyImage(docker, settings.image, registry, log)
    const group = (await this.host.hostFacts().catch(() => undefined))?.dockerGroup
    log.info(`Creating the proxy ${this.name} on port ${settings.port} (${settings.image}, Caddy)`)
    // Another app's deploy may create it at the same moment: then theirs is used.
    const info = await createOrAdopt(docker, {
      name: this.name,
      Image: settings.image,
      User: group ? `0:${group}` : '0',
      Entrypoint: ['/bin/sh', '-c'],
      // The saved configuration when there is one (every app's routes), the base otherwise.
      Cmd: [`umask 007 && exec /usr/bin/caddy run --resume --config ${CADDY_CONFIG_DIR}/${CADDY_BASE_FILE}`],
      Env: [`XDG_CONFIG_HOME=${CADDY_CONFIG_DIR}`, `XDG_DATA_HOME=${CADDY_DATA_DIR}`],
      Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'caddy' },
      ExposedPorts: { [PORT_KEY]: {} },
      HostConfig: {
        PortBindings: { [PORT_KEY]: [{ HostPort: String(settings.port) }] },
        Binds: [
          // The saved configuration (and so the live colors) survives a re-created container.
          `${this.name}-conf:${CADDY_CONFIG_DIR}`,
          `${this.name}-data:${CADDY_DATA_DIR}`,
          // The admin socket, in a host directory only reached over SSH.
          `${hostRunDir(this.name)}:${CADDY_RUN_DIR}`
        ],
        RestartPolicy: { Name: 'unless-stopped' },
        NetworkMode: this.network
      }
    })
    const base = JSON.stringify(renderBaseConfig(settings.drainTimeoutMs / 1000), null, 2)
    await putFile(this.container, CADDY_CONFIG_DIR, CADDY_BASE_FILE, base + '\n')
    return info
  }
}

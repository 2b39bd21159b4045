import type Docker from 'dockerode'
import type { ProxySettings, RegistryAuth } from '../inputs/config.js'
import { LABEL, type Color } from '../engine/names.js'
import { parseStateComment, type RouteState } from '../engine/state.js'
import type { Log } from '../reporting/log.js'
import { execIn, getFile, isConflict, isNotFound, pullImage, putFile } from '../transport/docker-ops.js'
import { httpGet, type OpenStream, type ProbeResult } from '../transport/http-probe.js'
import type { ProxyRouter } from './router.js'
import {
  appConfigFile,
  colorOfResponse,
  COMMON_CONFIG,
  COMMON_CONFIG_FILE,
  PROXY_CONTAINER_PORT,
  renderAppConfig
} from './nginx-config.js'

const CONF_DIR = '/etc/nginx/conf.d'
const PORT_KEY = `${PROXY_CONTAINER_PORT}/tcp`

export class ProxyError extends Error {
  override name = 'ProxyError'
}

/** An nginx container managed by cutover; each app has its own server block in a named volume. */
export class NginxRouter implements ProxyRouter {
  constructor(
    private readonly docker: Docker,
    private readonly openTcp: OpenStream,
    private readonly settings: ProxySettings,
    private readonly app: string,
    private readonly appPort: number,
    private readonly registry: RegistryAuth | undefined,
    private readonly log: Log
  ) {}

  private get container(): Docker.Container {
    return this.docker.getContainer(this.settings.name)
  }

  async ensure(network: string): Promise<void> {
    let info = await this.inspect()
    if (!info) info = await this.create(network)
    this.checkPorts(info)
    if (!info.NetworkSettings.Networks[network]) {
      await this.docker.getNetwork(network).connect({ Container: info.Id })
    }
    if (!info.State.Running) {
      this.log.info(`Starting the proxy ${this.settings.name}`)
      await this.container.start()
    }
    // Shared http-level settings; harmless to rewrite, nginx reads them only on reload.
    await putFile(this.container, CONF_DIR, COMMON_CONFIG_FILE, COMMON_CONFIG)
  }

  private async inspect(): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.container.inspect()
    } catch (e) {
      if (isNotFound(e)) return undefined
      throw e
    }
  }

  private checkPorts(info: Docker.ContainerInspectInfo): void {
    const bindings = info.HostConfig.PortBindings as Record<string, { HostPort?: string }[] | null> | undefined
    const published = (bindings?.[PORT_KEY] ?? []).map(b => Number(b.HostPort))
    if (!published.includes(this.settings.port)) {
      const what = published.length ? `publishes port ${published.join(', ')}` : 'publishes no port'
      throw new ProxyError(
        `The proxy container ${this.settings.name} already exists and ${what}, not ${this.settings.port} as 'proxy-port' asks. ` +
          `Set proxy-port to match, or remove that container on the host so cutover can create it again (that drops traffic for the apps behind it).`
      )
    }
  }

  private async create(network: string): Promise<Docker.ContainerInspectInfo> {
    const image = this.settings.image
    try {
      await this.docker.getImage(image).inspect()
    } catch (e) {
      if (!isNotFound(e)) throw e
      this.log.info(`Pulling the proxy image ${image}`)
      await pullImage(this.docker, image, this.registry, line => this.log.info(`  ${line}`))
    }
    this.log.info(`Creating the proxy ${this.settings.name} on port ${this.settings.port} (${image})`)
    try {
      await this.docker.createContainer({
        name: this.settings.name,
        Image: image,
        Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'true' },
        ExposedPorts: { [PORT_KEY]: {} },
        HostConfig: {
          PortBindings: { [PORT_KEY]: [{ HostPort: String(this.settings.port) }] },
          // The app routes live in a named volume so they survive a re-created proxy container.
          Binds: [`${this.settings.name}-conf:${CONF_DIR}`],
          RestartPolicy: { Name: 'unless-stopped' },
          NetworkMode: network
        }
      })
    } catch (e) {
      // Another app's deploy created it at the same moment: use theirs.
      if (!isConflict(e)) throw e
    }
    const info = await this.inspect()
    if (!info) throw new ProxyError(`The proxy container ${this.settings.name} vanished right after it was created`)
    // The stock server block of nginx images answers "localhost" with a welcome page; this
    // proxy serves only cutover's routes.
    await putFile(this.container, CONF_DIR, 'default.conf', '# Disabled by cutover: this proxy serves only the routes cutover writes.\n')
    return info
  }

  async readState(): Promise<RouteState | undefined> {
    if (!(await this.inspect())) return undefined
    const text = await getFile(this.container, `${CONF_DIR}/${appConfigFile(this.app)}`)
    return text ? parseStateComment(text) : undefined
  }

  async switchTo(state: RouteState): Promise<void> {
    const file = appConfigFile(this.app)
    const before = (await getFile(this.container, `${CONF_DIR}/${file}`)) ?? ''
    await putFile(this.container, CONF_DIR, file, renderAppConfig({ state, appPort: this.appPort, domains: this.settings.domains }))
    const test = await execIn(this.container, ['nginx', '-t'])
    if (test.exitCode !== 0) {
      // Put back what was there so no later reload (of any app) picks up the bad file.
      await putFile(this.container, CONF_DIR, file, before)
      throw new ProxyError(`nginx refused the new configuration, so nothing was switched: ${(test.stderr || test.stdout).trim()}`)
    }
    // SIGHUP to the master is nginx's graceful reload: new workers take new connections,
    // old workers finish their requests (and keep upgraded connections) before exiting.
    await this.container.kill({ signal: 'HUP' })
  }

  async verify(color: Color, path: string, timeoutMs: number): Promise<{ ok: boolean; last: ProbeResult; ms: number }> {
    const started = Date.now()
    const hostHeader = this.settings.domains.find(d => !d.startsWith('*')) ?? 'localhost'
    let last: ProbeResult
    for (;;) {
      last = await httpGet(this.openTcp, { host: '127.0.0.1', port: this.settings.port, path, hostHeader }, 5000)
      const ok = colorOfResponse(last.headers) === color && last.status !== undefined && last.status < 500
      if (ok || Date.now() - started > timeoutMs) return { ok, last, ms: Date.now() - started }
      await new Promise(r => setTimeout(r, 50))
    }
  }
}

import { randomBytes } from 'node:crypto'
import type Docker from 'dockerode'
import type { ProxySettings, RegistryAuth } from '../core/config.js'
import { LABEL, type Color } from '../core/names.js'
import type { Log } from '../core/log.js'
import type { LedgerRecord } from '../core/release.js'
import type { Route, Router, VerifyResult } from '../engine/ports.js'
import { execIn, getDirFiles, getFile, putFile } from '../transport/docker-ops.js'
import type { OpenStream } from '../transport/http-probe.js'
import { sanitizeHostText } from '../transport/host-text.js'
import {
  createOrAdopt,
  ensureProxyImage,
  ensureProxyNetwork,
  inspectIfExists,
  ProxyError,
  underLock,
  verifyThroughProxy,
  type ProxyLocker
} from './proxy-container.js'
import {
  appConfigFile,
  COMMON_CONFIG_FILE,
  legacyLedger,
  migratedSwitchConfig,
  parseRouteComment,
  RELEASE_HEADER,
  VERIFY_HEADER,
  EDGE_PORT,
  edgeCommonConfig,
  renderEdgeConfig,
  renderSwitchConfig,
  SWITCH_COMMON_CONFIG
} from './nginx-config.js'
import { NGINX_CAPABILITIES } from './capabilities.js'

const CONF_DIR = '/etc/nginx/conf.d'
/** What a file of an app taken off the proxy holds: nothing nginx loads. */
const REMOVED = '# Removed by cutover.\n'
const EDGE_PORT_KEY = `${EDGE_PORT}/tcp`
/** nginx's master sleeps 100 ms between starting new workers and stopping old ones on reload. */
const RELOAD_OVERLAP_MS = 150

interface Tier {
  name: string
  /** Role, for messages and labels. */
  role: 'edge' | 'switch'
}

/** The edge and switch nginx containers managed by cutover (see nginx-config.ts for why two). */
export class NginxRouter implements Router {
  readonly capabilities = NGINX_CAPABILITIES
  private readonly edge: Tier
  private readonly switch: Tier
  /** The network the edge reaches the switch on. */
  private readonly proxyNetwork: string

  constructor(
    private readonly docker: Docker,
    private readonly openTcp: OpenStream,
    private readonly settings: ProxySettings,
    private readonly app: string,
    private readonly registry: RegistryAuth | undefined,
    private readonly log: Log,
    /** Takes the host-wide lock of this proxy (held while containers, networks or the edge change). */
    private readonly lockProxy: ProxyLocker
  ) {
    this.edge = { name: settings.name, role: 'edge' }
    this.switch = { name: `${settings.name}-switch`, role: 'switch' }
    this.proxyNetwork = `${settings.name}-net`
  }

  private container(tier: Tier): Docker.Container {
    return this.docker.getContainer(tier.name)
  }

  async ensure(appNetwork: string): Promise<void> {
    // Nearly every run finds the proxy as it should be: check without the proxy lock first.
    if (!(await this.ready(appNetwork))) {
      // Runs of other apps may create or change the same proxy at the same moment: one at a time.
      await underLock(this.lockProxy, async () => {
        await ensureProxyNetwork(this.docker, this.proxyNetwork)
        // The switch first: the edge's config names it, and nginx resolves names when it loads.
        await this.ensureTier(this.switch, appNetwork)
        await this.ensureTier(this.edge, undefined)
      })
    }
    await putFileIfChanged(this.container(this.switch), COMMON_CONFIG_FILE, SWITCH_COMMON_CONFIG)
  }

  /** Both tiers exist, run, and are on the networks this app needs (the edge's port is checked too). */
  private async ready(appNetwork: string): Promise<boolean> {
    const [sw, edge] = await Promise.all([inspectIfExists(this.container(this.switch)), inspectIfExists(this.container(this.edge))])
    if (edge) this.checkPorts(edge)
    const on = (info: Docker.ContainerInspectInfo | undefined, networks: string[]) =>
      !!info && info.State.Running && networks.every(n => !!info.NetworkSettings.Networks[n])
    return on(sw, [this.proxyNetwork, appNetwork]) && on(edge, [this.proxyNetwork])
  }

  /**
   * The edge learns an app's domains only once the switch can route them: before that, its
   * requests would find no route (or, worse, another app's).
   */
  private async ensureEdgeRoute(restoreTo?: [string, string | undefined][]): Promise<void> {
    const edge = this.container(this.edge)
    const wanted: [string, string][] = restoreTo
      ? restoreTo.map(([name, text]) => [name, text ?? '# Removed by cutover.\n'])
      : [
          [COMMON_CONFIG_FILE, edgeCommonConfig(this.switch.name)],
          [appConfigFile(this.app), renderEdgeConfig(this.app, this.settings.domains)]
        ]
    const current = await Promise.all(wanted.map(([name]) => getFile(edge, `${CONF_DIR}/${name}`)))
    if (wanted.every(([, text], i) => current[i] === text)) return
    await underLock(this.lockProxy, async () => {
      const before = await Promise.all(wanted.map(([name]) => getFile(edge, `${CONF_DIR}/${name}`)))
      this.edgeAtStart ??= wanted.map(([name], i) => [name, before[i]])
      let changed = false
      for (const [name, text] of wanted) changed = (await putFileIfChanged(edge, name, text)) || changed
      if (changed) {
        this.log.info(
          restoreTo
            ? `Putting the edge proxy ${this.edge.name}'s routes for ${this.app} back as they were`
            : `Routing ${this.settings.domains.length ? this.settings.domains.join(', ') : 'the default server'} to ${this.app} on the edge proxy ${this.edge.name}`
        )
        await this.testAndReload(
          this.edge,
          wanted.map(([name], i) => ({ file: name, content: before[i] ?? '# Removed by cutover.\n' }))
        )
      }
    })
  }

  private async ensureTier(tier: Tier, appNetwork: string | undefined): Promise<void> {
    let info = await inspectIfExists(this.container(tier))
    if (!info) info = await this.create(tier)
    if (tier.role === 'edge') this.checkPorts(info)
    for (const network of [this.proxyNetwork, appNetwork]) {
      if (network && !info.NetworkSettings.Networks[network]) await this.docker.getNetwork(network).connect({ Container: info.Id })
    }
    if (!info.State.Running) {
      this.log.info(`Starting the ${tier.role} proxy ${tier.name}`)
      await this.container(tier)
        .start()
        .catch(e => {
          // 304: it was started in the meantime (by Docker's restart policy, say)
          if ((e as { statusCode?: number }).statusCode !== 304) throw e
        })
    }
  }

  private checkPorts(info: Docker.ContainerInspectInfo): void {
    const bindings = info.HostConfig.PortBindings as Record<string, { HostPort?: string }[] | null> | undefined
    const published = (bindings?.[EDGE_PORT_KEY] ?? []).map(b => Number(b.HostPort))
    if (!published.includes(this.settings.port)) {
      const what = published.length ? `publishes port ${published.join(', ')}` : 'publishes no port'
      throw new ProxyError(
        `The proxy container ${this.edge.name} already exists and ${what}, not ${this.settings.port} as 'proxy-port' asks. ` +
          `Set proxy-port to match, or remove that container on the host so cutover can create it again (that drops traffic for the apps behind it).`
      )
    }
  }

  private async create(tier: Tier): Promise<Docker.ContainerInspectInfo> {
    await ensureProxyImage(this.docker, this.settings.image, this.registry, this.log)
    const edge = tier.role === 'edge'
    this.log.info(`Creating the ${tier.role} proxy ${tier.name}${edge ? ` on port ${this.settings.port}` : ''} (${this.settings.image})`)
    // Another app's deploy may create it at the same moment: then theirs is used.
    const info = await createOrAdopt(this.docker, {
      name: tier.name,
      Image: this.settings.image,
      Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: tier.role },
      ExposedPorts: edge ? { [EDGE_PORT_KEY]: {} } : undefined,
      HostConfig: {
        PortBindings: edge ? { [EDGE_PORT_KEY]: [{ HostPort: String(this.settings.port) }] } : undefined,
        // Routes live in a named volume so they survive a re-created proxy container.
        Binds: [`${tier.name}-conf:${CONF_DIR}`],
        RestartPolicy: { Name: 'unless-stopped' },
        NetworkMode: this.proxyNetwork
      }
    })
    // The stock server block of nginx images answers "localhost" with a welcome page;
    // these proxies serve only cutover's routes.
    await putFile(this.container(tier), CONF_DIR, 'default.conf', '# Disabled by cutover: this proxy serves only the routes cutover writes.\n')
    return info
  }

  /** nginx -t, then SIGHUP: nginx's graceful reload (old workers finish what they hold). */
  private async testAndReload(tier: Tier, restore: { file: string; content: string }[] = []): Promise<void> {
    const test = await execIn(this.container(tier), ['nginx', '-t'])
    if (test.exitCode !== 0) {
      // Put back what was there so no later reload (of any app), nor a restart, picks up the bad file.
      for (const r of restore) await putFile(this.container(tier), CONF_DIR, r.file, r.content)
      throw new ProxyError(`nginx (${tier.name}) refused the new configuration: ${sanitizeHostText((test.stderr || test.stdout).trim(), 600)}`)
    }
    await this.container(tier).kill({ signal: 'HUP' })
  }

  /** The app's route file as last read or written, to put back if nginx refuses a new one. */
  private routeText?: string

  private async readRouteFile(): Promise<string> {
    if (this.routeText === undefined) {
      if (!(await inspectIfExists(this.container(this.switch)))) return ''
      this.routeText = (await getFile(this.container(this.switch), `${CONF_DIR}/${appConfigFile(this.app)}`)) ?? ''
    }
    return this.routeText
  }

  async current(): Promise<{ color: Color; releaseId: string } | undefined> {
    return parseRouteComment(this.app, await this.readRouteFile())
  }

  async legacyRecord(): Promise<LedgerRecord | undefined> {
    return legacyLedger(this.app, await this.readRouteFile())
  }

  async apply(route: Route): Promise<void> {
    const file = appConfigFile(this.app)
    // Under the deploy lock nobody else writes this file, so what was read is still there.
    const before = await this.readRouteFile()
    this.routedAtStart ??= parseRouteComment(this.app, before)?.releaseId ?? ''
    const text = renderSwitchConfig(route, randomBytes(12).toString('hex'))
    await putFile(this.container(this.switch), CONF_DIR, file, text)
    await this.migrateSwitchFiles()
    await this.testAndReload(this.switch, [{ file, content: before }])
    this.routeText = text
    // Going back to the release routed when this run started puts the edge back as it was too
    // (a verify that failed after a change of domains).
    const reverting = route.releaseId === this.routedAtStart && this.edgeAtStart !== undefined
    try {
      await this.ensureEdgeRoute(reverting ? this.edgeAtStart : undefined)
    } catch (e) {
      // The edge refused: the switch goes back too, so the routing is exactly what it was.
      await putFile(this.container(this.switch), CONF_DIR, file, before)
      await this.container(this.switch).kill({ signal: 'HUP' })
      this.routeText = before
      throw e
    }
  }

  /**
   * The app off both tiers: the edge first (its domains or its default server stop reaching the
   * switch), then the switch's route; each is nginx's graceful reload (old workers finish what
   * they hold), every other app's files untouched.
   */
  async withdraw(): Promise<boolean> {
    const file = appConfigFile(this.app)
    let withdrawn = false
    for (const tier of [this.edge, this.switch]) {
      const info = await inspectIfExists(this.container(tier))
      if (!info) continue
      await underLock(this.lockProxy, async () => {
        const before = await getFile(this.container(tier), `${CONF_DIR}/${file}`)
        if (before === undefined || before === REMOVED) return
        this.log.info(`Taking ${this.app} off the ${tier.role} proxy ${tier.name}: reloading it gracefully`)
        await putFile(this.container(tier), CONF_DIR, file, REMOVED)
        withdrawn = true
        if (info.State.Running) await this.testAndReload(tier, [{ file, content: before }])
      })
    }
    this.routeText = undefined
    return withdrawn
  }

  /**
   * Other apps' switch files written before containers were resolved per request: rewritten with
   * the same route, so that none of them can keep the switch from loading when its container is
   * gone. Under the proxy's lock; taken up by this run's reload.
   */
  private async migrateSwitchFiles(): Promise<void> {
    const files = await getDirFiles(this.container(this.switch), CONF_DIR)
    const legacy = [...files].flatMap(([name, text]) => {
      const app = /^cutover-app-(.+)\.conf$/.exec(name)?.[1]
      const migrated = app && app !== this.app ? migratedSwitchConfig(app, text) : undefined
      return migrated ? [{ name, migrated }] : []
    })
    if (!legacy.length) return
    await underLock(this.lockProxy, async () => {
      for (const { name, migrated } of legacy) await putFile(this.container(this.switch), CONF_DIR, name, migrated)
    })
    this.log.info(
      `Rewrote ${legacy.length} other app(s)' routes on ${this.switch.name} to resolve containers per request (a missing container no longer stops the switch from loading)`
    )
  }

  /** The release the switch routed to before this run applied anything ('' for none). */
  private routedAtStart?: string
  /** The edge's files as they were before this run first changed them. */
  private edgeAtStart?: [string, string | undefined][]

  async verify(route: Route, path: string, timeoutMs: number): Promise<VerifyResult> {
    const routed = parseRouteComment(this.app, await this.readRouteFile())
    // Without the token of the route being verified, the switch names no release: verification fails.
    const token = routed?.releaseId === route.releaseId ? (routed.token ?? '') : ''
    // A reloading nginx master lets the old workers accept for another 100 ms after the new ones
    // start: every switch is a reload here.
    const ask = { releaseId: route.releaseId, token, tokenHeader: VERIFY_HEADER, releaseHeader: RELEASE_HEADER, confirmAfterMs: RELOAD_OVERLAP_MS }
    return verifyThroughProxy(this.openTcp, this.settings, ask, path, timeoutMs)
  }
}

/** Writes a config file unless it already holds exactly this; true when it changed. */
async function putFileIfChanged(container: Docker.Container, name: string, content: string): Promise<boolean> {
  if ((await getFile(container, `${CONF_DIR}/${name}`)) === content) return false
  await putFile(container, CONF_DIR, name, content)
  return true
}

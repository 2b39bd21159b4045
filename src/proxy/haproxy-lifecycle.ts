import type Docker from 'dockerode'
import type { ProxySettings, RegistryAuth, TlsSettings } from '../core/config.js'
import type { Log } from '../core/log.js'
import { LABEL } from '../core/names.js'
import { sanitizeHostText } from '../transport/host-text.js'
import {
  ACME_MAP,
  BASE_FILE,
  CERTS_LIST,
  DOMAINS_MAP,
  EMPTY_ACME_MAP,
  EMPTY_CERTS_LIST,
  EMPTY_MAP,
  EMPTY_RELEASES_MAP,
  EMPTY_REQUEST_LOG_MAP,
  EMPTY_SERVER_STATE,
  HAPROXY_CONF_DIR,
  HAPROXY_HTTPS_PORT,
  HAPROXY_METRICS_PORT,
  HAPROXY_PORT,
  HAPROXY_PROBE_PORT,
  HAPROXY_RUN_DIR,
  PROXY_PROTOCOL_MAP,
  hostRunDir,
  type RelayNetwork,
  RELEASES_MAP,
  REQUEST_LOG_MAP,
  renderBaseConfig,
  SERVER_STATE_FILE,
  WILDCARDS_MAP
} from './haproxy-config.js'
import { EMPTY_PROXY_PROTOCOL_MAP } from './haproxy-edge.js'
import type { ConfVolume } from './haproxy-files.js'
import { describeListen } from '../core/listen.js'
import type { FileBefore, HaproxyAdmin } from './haproxy-runtime.js'
import { SERVER_RESOLVE } from './haproxy-strategy.js'
import type { HaproxyHandover } from './haproxy-handover.js'
import { HOLDER_FILE, HOLDER_FILE_PATH, HOLDER_OFF_VAR, HOLDER_SWITCH_CFG, renderHolderFile } from './haproxy-holder-config.js'
import { MetricsRelay } from './haproxy-metrics-relay.js'
import { HttpsRelay, httpsPath, type HttpsPath } from './haproxy-https-relay.js'
import type { RelayAddress } from './haproxy-relay.js'
import { createOrAdopt, downSince, ensureProxyImage, ensureProxyNetwork, inspectIfExists, ProxyError, underLock } from './proxy-container.js'
import type { HostFacts, ProxyLocker } from './proxy-container.js'

const PORT_KEY = `${HAPROXY_PORT}/tcp`
/** How servers were declared before issue #22 (their names resolved while the proxy loads). */
const LIBC_AT_LOAD = 'resolvers docker init-addr last,libc,none'
const HTTPS_PORT_KEY = `${HAPROXY_HTTPS_PORT}/tcp`
const METRICS_PORT_KEY = `${HAPROXY_METRICS_PORT}/tcp`
/** How long a started proxy may take to open its admin socket. */
const START_TIMEOUT_MS = 15_000
/** A process left behind by a reload keeps WebSockets at least this long. */
export const MIN_HARD_STOP_S = 30

/** The hard-stop-after (seconds) a base file sets; undefined without one. */
export function hardStopAfterOf(base: string | undefined): number | undefined {
  return Number(/hard-stop-after (\d+)s/.exec(base ?? '')?.[1]) || undefined
}
/** Files every app shares, with what a new proxy starts with. */
const SHARED_DEFAULTS: Record<string, string> = {
  [DOMAINS_MAP]: EMPTY_MAP,
  [WILDCARDS_MAP]: EMPTY_MAP,
  [CERTS_LIST]: EMPTY_CERTS_LIST,
  [ACME_MAP]: EMPTY_ACME_MAP,
  [SERVER_STATE_FILE]: EMPTY_SERVER_STATE,
  [RELEASES_MAP]: EMPTY_RELEASES_MAP,
  [REQUEST_LOG_MAP]: EMPTY_REQUEST_LOG_MAP,
  [PROXY_PROTOCOL_MAP]: EMPTY_PROXY_PROTOCOL_MAP,
  [HOLDER_FILE]: renderHolderFile(undefined),
  [HOLDER_SWITCH_CFG]: renderHolderFile(undefined)
}

/** What the proxy container's lifecycle needs: the host's Docker, the proxy's settings, its files and admin socket. */
export interface HaproxyHost {
  docker: Docker
  settings: ProxySettings
  tls: TlsSettings
  registry: RegistryAuth | undefined
  log: Log
  /** Takes the host-wide lock of this proxy (held while the container or the shared files change). */
  lockProxy: ProxyLocker
  /** The Docker socket's group (its members may open the admin socket too) and the host's CPUs. */
  hostFacts: () => Promise<HostFacts>
  files: ConfVolume
  admin: HaproxyAdmin
  /** Which HAProxy process serves, and the hand-over to a new one. */
  handover: HaproxyHandover
}

/**
 * The one HAProxy proxy of a host, shared by every app: its container (the holder of the namespace,
 * ports and networks, haproxy-handover.ts) created, connected, started and its shared settings kept
 * current; a container of another kind under its name is refused.
 */
export class HaproxyContainer {
  readonly name: string
  readonly network: string
  private facts: HostFacts = {}
  private factsRead?: Promise<HostFacts>
  /** metrics: the container publishes the metrics port (so the base declares the metrics frontend). */
  metricsPublished = false

  private readonly relay: MetricsRelay
  /** HTTPS for a proxy created without an HTTPS port (haproxy-https-relay.ts). */
  private readonly httpsRelay: HttpsRelay
  /** The HTTPS relay exists or is wanted: the base declares the listener it forwards to. */
  private httpsRelayed = false
  private relayNetwork?: RelayNetwork

  constructor(private readonly host: HaproxyHost) {
    this.name = host.settings.name
    this.network = `${host.settings.name}-net`
    this.relay = new MetricsRelay(host.docker, this.name, this.network, host.log)
    this.httpsRelay = new HttpsRelay(host.docker, this.name, this.network, host.log)
  }

  get container(): Docker.Container {
    return this.host.docker.getContainer(this.name)
  }

  /** The proxy runs, on its network and the app's, with this version's shared settings. */
  async ensure(appNetwork: string): Promise<void> {
    // Independent reads at once (each a round trip to the host, on the way to every switch).
    const [info, relay, relayServes] = await Promise.all([
      inspectIfExists(this.container),
      this.httpsRelay.inspect(),
      this.relay.serves(),
      this.hostFactsOnce(),
      this.checkEdgeNetworks()
    ])
    if (info) this.check(info, relay)
    this.metricsPublished = (!!info && this.publishedPorts(info, METRICS_PORT_KEY).length > 0) || relayServes
    this.httpsRelayed = !!relay || (!!info && (await this.httpsPath(info)) === 'relay')
    if (this.httpsRelayed && !relay) await this.httpsRelay.checkName()
    const ready =
      !!info &&
      info.State.Running &&
      [appNetwork, this.network, ...this.edgeNetworks].every(n => !!info.NetworkSettings.Networks[n]) &&
      !(await this.recreateReason(info)) &&
      !(await this.metricsMissing(info)) &&
      !(await this.httpsRelayMissing(info, relay)) &&
      (await this.host.handover.settled(info, this.givenImage))
    if (ready && (await this.baseWanted()) === undefined && (await this.host.files.missing(Object.keys(SHARED_DEFAULTS))).length === 0) return
    await underLock(this.host.lockProxy, async () => {
      // Under the lock: what other apps wrote until now.
      this.host.files.forget()
      await ensureProxyNetwork(this.host.docker, this.network)
      const { current, networks } = await this.existingOrNew(appNetwork)
      for (const network of networks) {
        if (!current.NetworkSettings.Networks[network]) await this.host.docker.getNetwork(network).connect({ Container: current.Id })
      }
      const metrics = this.host.settings.metrics
      if (metrics && (await this.metricsMissing(current))) await this.relay.ensure(metrics, current.Config.Image)
      this.metricsPublished = this.publishedPorts(current, METRICS_PORT_KEY).length > 0 || (await this.relay.serves())
      const relayHttps = (await this.httpsPath(current)) === 'relay'
      this.httpsRelayed = relayHttps || !!(await this.httpsRelay.inspect())
      // The listener first (a reload, no gap), then the relay that forwards to it.
      await this.startOrUpdate(current).catch(e => this.removeIfNeverStarted(current, e))
      if (relayHttps) await this.httpsRelay.ensure(this.httpsAddress, current.Config.Image)
    })
  }

  /** The container (created, or re-created to publish HTTPS) and the networks it must be on. */
  private async existingOrNew(appNetwork: string): Promise<{ current: Docker.ContainerInspectInfo; networks: string[] }> {
    let current = await inspectIfExists(this.container)
    let networks = [this.network, appNetwork, ...this.edgeNetworks]
    const reason = current && (await this.recreateReason(current))
    if (!current) current = await this.create()
    else if (reason) {
      // Docker cannot publish a port on an existing container: a new one, on every network the old
      // one had. Every app's routes are in the config volume, so they come back with it.
      networks = [...new Set([...Object.keys(current.NetworkSettings.Networks), ...networks])]
      this.host.log.warning(`The proxy ${this.name} ${reason} (once; every app on it is unreachable for a few seconds)`)
      await this.host.handover.generations.removeAll()
      await this.container.remove({ force: true })
      current = await this.create()
    }
    this.check(current)
    return { current, networks }
  }

  /** proxy-networks: the edge's Docker networks the proxy joins. */
  private get edgeNetworks(): string[] {
    return this.host.settings.networks ?? []
  }

  /** Every network of proxy-networks exists (an edge's network is the user's to create), before anything changes. */
  private async checkEdgeNetworks(): Promise<void> {
    for (const network of this.edgeNetworks) {
      const found = await this.host.docker
        .getNetwork(network)
        .inspect()
        .then(
          () => true,
          e => {
            if ((e as { statusCode?: number }).statusCode === 404) return false
            throw e
          }
        )
      if (!found) {
        throw new ProxyError(
          `The Docker network ${network} named in proxy-networks does not exist on the host. Nothing was changed. ` +
            `Name the network your edge proxy is on (docker network ls), or create it (docker network create ${network}) and attach the edge to it.`
        )
      }
    }
  }

  /**
   * Where cutover's own checks reach the proxy: its public port from the host, or with proxy-port
   * none or proxy-protocol (an edge in front) its probe port at its address on its own network.
   */
  async probeEntry(): Promise<{ host: string; port: number }> {
    const { settings } = this.host
    if (!settings.unpublished && !settings.proxyProtocol) {
      const anyAddress = !settings.hostIp || settings.hostIp === '0.0.0.0' || settings.hostIp === '::'
      return { host: anyAddress ? '127.0.0.1' : settings.hostIp!, port: settings.port }
    }
    const info = await inspectIfExists(this.container)
    const address = info?.NetworkSettings.Networks[this.network]?.IPAddress
    if (!address) throw new ProxyError(`The proxy ${this.name} has no address on its network ${this.network}: is it running?`)
    return { host: address, port: HAPROXY_PROBE_PORT }
  }

  /**
   * A stopped proxy starts (with the files it needs); a running one gets this version's base file by
   * a reload; a holder's processes converge on proxy-image (haproxy-handover.ts).
   */
  private async startOrUpdate(current: Docker.ContainerInspectInfo): Promise<void> {
    const { files, admin, log } = this.host
    const base = await this.baseWanted()
    if (current.State.Running) {
      // A base from before holders (an earlier cutover's proxy) declares its listeners with no switch:
      // this version's base first, so that a hand-over can turn that container off.
      const beforeHolders = base !== undefined && !((await files.file(BASE_FILE)) ?? '').includes(HOLDER_OFF_VAR)
      if (beforeHolders) await this.updateBase(base)
      await this.writeSharedDefaults(undefined)
      await this.host.handover.converge(current, this.givenImage, admin)
      if (base !== undefined && !beforeHolders) await this.updateBase(base)
    } else {
      await this.writeSharedDefaults(base)
      await this.resolveNoServerAtLoad()
      // Addresses a reload handed on are stale for a process that starts: its servers wait for DNS.
      await files.put(SERVER_STATE_FILE, EMPTY_SERVER_STATE)
      log[downSince(current) ? 'warning' : 'info'](`Starting the proxy ${this.name}${downSince(current) ?? ''}`)
      await this.container.start().catch(e => {
        // 304: it was started in the meantime (by Docker's restart policy, say)
        if ((e as { statusCode?: number }).statusCode !== 304) throw e
      })
      await admin.waitForAdmin(START_TIMEOUT_MS)
      await this.host.handover.converge(await this.container.inspect(), this.givenImage, admin)
    }
  }

  /** A running proxy gets this version's base file by a tested reload. */
  private async updateBase(base: string): Promise<void> {
    const { files, admin, log } = this.host
    const before = await files.file(BASE_FILE)
    // A base from before HTTPS names files older proxies do not have yet.
    await this.writeSharedDefaults(undefined)
    await files.put(BASE_FILE, base)
    const upgraded = await this.resolveNoServerAtLoad()
    log.info(`Updating the shared settings of the proxy ${this.name}`)
    await admin.testAndReload([{ file: BASE_FILE, content: before }, ...upgraded])
  }

  /**
   * Backends written by an older cutover resolve their servers through libc while the proxy loads
   * (a start or reload then waits on the host's upstream resolver for every missing container):
   * rewritten as this version renders them, with the base that hands their addresses on.
   */
  private async resolveNoServerAtLoad(): Promise<FileBefore[]> {
    const { files } = this.host
    const old = [...(await files.all())].filter(([name, text]) => name.endsWith('.cfg') && text.includes(LIBC_AT_LOAD))
    for (const [name, text] of old) await files.put(name, text.replaceAll(LIBC_AT_LOAD, SERVER_RESOLVE))
    return old.map(([file, content]) => ({ file, content }))
  }

  /**
   * A proxy that has never run (created by this run, or left "Created" by an earlier one whose start
   * failed) and cannot start is removed, so the next run starts clean: it served nothing. Docker's
   * refusal of a published port is said with the port and what holds it.
   */
  private async removeIfNeverStarted(current: Docker.ContainerInspectInfo, error: unknown): Promise<never> {
    const info = await inspectIfExists(this.container).catch(() => undefined)
    const neverRan = !!info && !info.State.Running && !(Date.parse(info.State.StartedAt ?? '') > 0) && info.Id === current.Id
    if (!neverRan) throw error
    await this.container.remove({ force: true }).catch(() => undefined)
    const message = (error as Error).message ?? String(error)
    const port = /(?:0\.0\.0\.0|\[::\]|:::?):(\d+)/.exec(message)?.[1]
    if (!port) {
      throw new ProxyError(
        `The proxy ${this.name} could not start (${sanitizeHostText(message, 400)}); its container was removed so the next run creates it again.`
      )
    }
    throw new ProxyError(
      `The proxy ${this.name} could not start: port ${port} on the host is taken (${await this.portHolder(Number(port), message)}). ` +
        `Nothing was switched; the proxy container was removed so the next run starts clean. ` +
        `Free port ${port}, or choose another proxy-port${this.host.tls.mode !== 'off' ? ' / https-port' : ''}, and run again.`
    )
  }

  /** What holds a host port Docker could not publish: another container, or (Docker says so) a process outside Docker. */
  private async portHolder(port: number, message: string): Promise<string> {
    const holders = await Promise.resolve()
      .then(() => this.host.docker.listContainers({ filters: { publish: [String(port)] } }))
      .catch(() => [])
    const names = holders.map(c => (c.Names?.[0] ?? c.Id).replace(/^\//, '')).filter(n => n !== this.name)
    if (names.length) return `the container ${names.join(', ')} publishes it`
    if (/address already in use/.test(message)) return 'a process on the host listens on it, not a container'
    return `Docker: ${sanitizeHostText(message, 300)}`
  }

  private publishedPorts(info: Docker.ContainerInspectInfo, key: string): number[] {
    const bindings = info.HostConfig.PortBindings as Record<string, { HostPort?: string }[] | null> | undefined
    return (bindings?.[key] ?? []).map(b => Number(b.HostPort))
  }

  /** How HTTPS reaches this proxy container as this run asks for it (haproxy-https-relay.ts). */
  private async httpsPath(info: Docker.ContainerInspectInfo): Promise<HttpsPath> {
    return httpsPath(info, this.host.settings, this.host.tls, await this.host.files.file(PROXY_PROTOCOL_MAP))
  }

  /** HTTPS goes through the relay, and the relay does not run at https-port (the host address of the proxy's other ports). */
  private async httpsRelayMissing(info: Docker.ContainerInspectInfo, relay: Docker.ContainerInspectInfo | undefined): Promise<boolean> {
    return (await this.httpsPath(info)) === 'relay' && !this.httpsRelay.serves(relay, this.httpsAddress)
  }

  private get httpsAddress(): RelayAddress {
    return { host: this.host.settings.hostIp ?? '0.0.0.0', port: this.host.tls.httpsPort }
  }

  /** proxy-image, when given: the image the proxy must run (the default never replaces a running one). */
  private get givenImage(): string | undefined {
    return this.host.settings.imageGiven ? this.host.settings.image : undefined
  }

  /**
   * Why the proxy must be re-created (undefined: it need not). Docker publishes ports only when a
   * container is created: HTTPS and metrics added later are published by relays beside the proxy,
   * except HTTPS for a proxy an edge sends PROXY protocol headers to (the relay's header would hide
   * the edge's). A proxy made by an earlier cutover (one container, its command line without the
   * holder's file) is a holder too: it reads the directory's switch (haproxy-holder-config.ts), so a
   * new proxy-image hands over with no gap there as well; it is never re-created for that.
   */
  private async recreateReason(info: Docker.ContainerInspectInfo): Promise<string | undefined> {
    if ((await this.httpsPath(info)) === 'recreate') {
      return (
        `publishes no HTTPS port, and an edge sends it PROXY protocol headers (proxy-protocol), which a relay in front would hide: ` +
        `re-creating it to publish ${this.host.tls.httpsPort}`
      )
    }
    return undefined
  }

  /**
   * metrics asked for at an address neither the container nor its relay publishes them at: the relay
   * publishes them (haproxy-metrics-relay.ts), never a re-created proxy.
   */
  private async metricsMissing(info: Docker.ContainerInspectInfo): Promise<boolean> {
    const wanted = this.host.settings.metrics
    if (!wanted || info.Config.Labels?.[LABEL.proxy] !== 'haproxy') return false
    const bindings = (info.HostConfig.PortBindings as Record<string, { HostIp?: string; HostPort?: string }[] | null> | undefined)?.[METRICS_PORT_KEY] ?? []
    if (bindings.some(b => Number(b.HostPort) === wanted.port && (b.HostIp || '0.0.0.0') === wanted.host)) return false
    return !(await this.relay.serves(wanted))
  }

  /** The group that may open the admin socket and the host's CPUs (read once per run; the base config names both). */
  private async hostFactsOnce(): Promise<void> {
    this.factsRead ??= this.host.hostFacts().catch(() => ({}))
    this.facts = await this.factsRead
  }

  /** The base file as this run wants it, or undefined when the proxy already has it. */
  private async baseWanted(): Promise<string | undefined> {
    const current = await this.host.files.file(BASE_FILE)
    // Apps with different drain-timeouts share the proxy: the longest wins, so they do not take turns.
    const had = hardStopAfterOf(current) ?? 0
    await this.hostFactsOnce()
    if (this.httpsRelayed) this.relayNetwork ??= await this.httpsRelay.proxyNetwork()
    const wanted = renderBaseConfig(Math.max(had, MIN_HARD_STOP_S, Math.ceil(this.host.settings.drainTimeoutMs / 1000)), this.name, {
      adminGroup: this.facts.dockerGroup,
      cpus: this.facts.cpus,
      metrics: this.metricsPublished,
      httpsRelay: this.httpsRelayed ? this.relayNetwork : undefined
    })
    return current === wanted ? undefined : wanted
  }

  /** Files HAProxy needs to start: the base and the (possibly empty) shared maps. */
  private async writeSharedDefaults(base: string | undefined): Promise<void> {
    const { files } = this.host
    if (base !== undefined) await files.put(BASE_FILE, base)
    for (const file of await files.missing(Object.keys(SHARED_DEFAULTS))) await files.put(file, SHARED_DEFAULTS[file])
  }

  /** Refuses a container that is not cutover's HAProxy, or publishes other ports than the inputs ask for (itself or by its HTTPS relay). */
  private check(info: Docker.ContainerInspectInfo, relay?: Docker.ContainerInspectInfo): void {
    const { tls } = this.host
    const kind = info.Config.Labels?.[LABEL.proxy]
    if (kind !== 'haproxy') {
      throw new ProxyError(
        `The container ${this.name} exists and is not a cutover HAProxy proxy (${kind ? `a cutover ${kind} proxy` : 'not made by cutover'}). ` +
          `Choose another proxy-name for proxy-type haproxy, or remove that container (and ${this.name}-switch) on the host so cutover can create the HAProxy one (that drops traffic for the apps behind it until they are deployed again).`
      )
    }
    this.checkPublished(info)
    const relayed = this.httpsRelay.published(relay)
    const https = [...this.publishedPorts(info, HTTPS_PORT_KEY), ...(relayed ? [relayed.port] : [])]
    if (tls.mode !== 'off' && https.length && !https.includes(tls.httpsPort)) {
      throw new ProxyError(
        `The proxy container ${this.name} already publishes HTTPS on port ${https.join(', ')}${relayed ? ` (through ${this.httpsRelay.name})` : ''}, not ${tls.httpsPort} as 'https-port' asks; nothing was changed. ` +
          `Set https-port to match (the proxy is shared by every app on the host).`
      )
    }
  }

  /**
   * The proxy publishes what proxy-port asks (a port on every address, on one address, or nothing).
   * Docker cannot change that on a running container and the proxy is shared: refused, saying how.
   */
  private checkPublished(info: Docker.ContainerInspectInfo): void {
    const { settings } = this.host
    const bindings = (info.HostConfig.PortBindings as Record<string, { HostIp?: string; HostPort?: string }[] | null> | undefined)?.[PORT_KEY] ?? []
    const has = bindings.map(b => describeListen({ port: Number(b.HostPort), hostIp: b.HostIp && b.HostIp !== '0.0.0.0' ? b.HostIp : undefined }))
    const wanted = describeListen(settings)
    const matches = settings.unpublished ? has.length === 0 : has.includes(settings.hostIp === '0.0.0.0' ? String(settings.port) : wanted)
    if (matches) return
    const what = has.length ? `publishes ${has.join(', ')}` : 'publishes no port (proxy-port none)'
    throw new ProxyError(
      `The proxy container ${this.name} already exists and ${what}, not ${wanted} as 'proxy-port' asks; nothing was changed. ` +
        `The proxy is shared by every app on the host: set proxy-port to ${has[0] ?? 'none'} to use it as it is. ` +
        `To move it, remove it on the host (docker rm -f ${this.name}; its routes and certificates stay in the volume ${this.name}-conf) and deploy again with the new proxy-port: ` +
        `until each app on it has deployed again, those apps are unreachable.`
    )
  }

  private async create(): Promise<Docker.ContainerInspectInfo> {
    const { docker, settings, tls, registry, log } = this.host
    await ensureProxyImage(docker, settings.image, registry, log)
    // A relay publishing HTTPS for the container this one replaces gives its port back: published
    // here, with no extra hop.
    const relayed = await this.httpsRelay.remove()
    // HTTPS published from the start when asked for, or when https-port is given: adding tls later
    // then needs no new container (Docker publishes ports only at creation). No host port nobody asked for.
    const httpsPort = tls.mode !== 'off' || tls.httpsPortGiven ? tls.httpsPort : relayed?.port
    const https = httpsPort !== undefined
    const metrics = settings.metrics
    const where = settings.unpublished
      ? `publishing nothing (reached by its name on ${settings.networks?.join(', ') ?? 'its networks'})`
      : `on ${settings.hostIp ? describeListen(settings) : `port ${settings.port}`}${https ? ` and ${httpsPort} (HTTPS${tls.mode === 'off' ? ', for when an app has tls' : ''})` : ''}`
    log.info(`Creating the proxy ${this.name} ${where}${metrics ? `, metrics at ${describeMetrics(settings)}` : ''} (${settings.image}, HAProxy)`)
    const hostIp = settings.hostIp ? { HostIp: settings.hostIp } : {}
    // Another app's deploy may create it at the same moment: then theirs is used.
    const info = await createOrAdopt(docker, {
      name: this.name,
      Image: settings.image,
      // Binding :80 needs root (the official images run as the haproxy user).
      User: 'root',
      Entrypoint: ['haproxy'],
      // Master-worker in the foreground; the holder's switch file, then a directory: every *.cfg in
      // it, in name order (haproxy-holder-config.ts).
      Cmd: ['-W', '-db', '-f', HOLDER_FILE_PATH, '-f', HAPROXY_CONF_DIR],
      // Soft stop: what is in flight finishes.
      StopSignal: 'SIGUSR1',
      Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'haproxy' },
      ExposedPorts: { [PORT_KEY]: {}, ...(https ? { [HTTPS_PORT_KEY]: {} } : {}), ...(metrics ? { [METRICS_PORT_KEY]: {} } : {}) },
      HostConfig: {
        PortBindings: {
          ...(settings.unpublished
            ? {}
            : {
                [PORT_KEY]: [{ ...hostIp, HostPort: String(settings.port) }],
                ...(https ? { [HTTPS_PORT_KEY]: [{ ...hostIp, HostPort: String(httpsPort) }] } : {})
              }),
          ...(metrics ? { [METRICS_PORT_KEY]: [{ HostIp: metrics.host, HostPort: String(metrics.port) }] } : {})
        },
        Binds: [
          // The config (and so the live colors) survives a re-created container.
          `${this.name}-conf:${HAPROXY_CONF_DIR}`,
          // The admin socket, in a host directory only reached over SSH.
          `${hostRunDir(this.name)}:${HAPROXY_RUN_DIR}`
        ],
        RestartPolicy: { Name: 'unless-stopped' },
        NetworkMode: this.network
      }
    })
    return info
  }
}

/** `127.0.0.1:9101`, `[::1]:9101`: where the metrics are published. */
export function describeMetrics(settings: Pick<ProxySettings, 'metrics'>): string {
  const m = settings.metrics
  if (!m) return 'no address'
  return `${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.port}`
}

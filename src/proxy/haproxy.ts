import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type Docker from 'dockerode'
import type { ProxySettings, RegistryAuth } from '../core/config.js'
import type { Log } from '../core/log.js'
import { otherColor, type Color } from '../core/names.js'
import type { DomainCertificate, RequestLine, ResponseCounts, ServerCounts, Route, Router, VerifyResult, WithdrawDrain } from '../engine/ports.js'
import type { OpenStream } from '../transport/http-probe.js'
import { HAPROXY_CAPABILITIES } from './capabilities.js'
import {
  ACME_MAP,
  appFile,
  backendName,
  CERTS_LIST,
  certFile,
  decodeRelease,
  DOMAINS_MAP,
  encodeRelease,
  HAPROXY_CONF_DIR,
  HAPROXY_SOCKET,
  hostRunDir,
  mapConflicts,
  renderAppConfig,
  renderVerifyMap,
  updateDomainMaps,
  verifyMapFile,
  WILDCARDS_MAP,
  type DomainMaps
} from './haproxy-config.js'
import { ensureProxyProtocol } from './haproxy-edge.js'
import { ConfVolume, type TlsFiles } from './haproxy-files.js'
import { HaproxyContainer } from './haproxy-lifecycle.js'
import { recordRelease } from './haproxy-metrics.js'
import { HaproxyIdleColors } from './haproxy-idle.js'
import { previewCommands } from './haproxy-preview.js'
import { HaproxyAdmin, parseBackends, servedRelease, type FileBefore } from './haproxy-runtime.js'
import { readRequestLog, startRequestLog, stopRequestLog } from './haproxy-request-log.js'
import { responseCountsOf, serverCountsOf, serverStatCommand, statCommand } from './haproxy-stats.js'
import {
  backendShape,
  canaryCommands,
  DEFAULT_MAINTENANCE_PAGE,
  declaredServers,
  endDrainCommands,
  hasMaintenanceRule,
  maintenanceMapFile,
  maintenancePage,
  maintenancePageFile,
  parseCanaryComment,
  renderMaintenanceMap,
  routeOfFile,
  serverName,
  slotsFor,
  switchCommands,
  type Canary
} from './haproxy-strategy.js'
import { confirmAddresses, containerAddresses } from './haproxy-addresses.js'
import { HaproxyTls } from './haproxy-tls.js'
import { withdrawFromHaproxy } from './haproxy-withdraw.js'
import { parseRouteComment, RELEASE_HEADER, VERIFY_HEADER } from './nginx-config.js'
import { HaproxyHandover } from './haproxy-handover.js'
import { confirmMaintenance, ProxyError, underLock, verifyThroughProxy, type HostFacts, type ProxyLocker } from './proxy-container.js'

/** What one switch reads first, at once (each read is a round trip over the SSH connection). */
interface RoutingBefore {
  text: string
  verifyMap: string | undefined
  addresses: (string | undefined)[]
  backends: string
  maps: DomainMaps
  missing: { name: string; content: string }[]
  tlsFiles: TlsFiles
  cert: string | undefined
}

/**
 * One HAProxy container for every app on the host, switched through its runtime API
 * (see haproxy-config.ts). The admin socket is a Unix socket in a host directory, reached over
 * the SSH connection (direct-streamlocal), never over a network. Its jobs live beside it: the
 * container's lifecycle (haproxy-lifecycle.ts), the runtime API and reloads (haproxy-runtime.ts),
 * TLS and ACME (haproxy-tls.ts), the configuration files (haproxy-config.ts, haproxy-files.ts).
 */
export class HaproxyRouter implements Router {
  readonly capabilities = HAPROXY_CAPABILITIES
  private readonly name: string
  private readonly files: ConfVolume
  private readonly admin: HaproxyAdmin
  private readonly proxy: HaproxyContainer
  private readonly tls: HaproxyTls
  private readonly container: Docker.Container
  /** The app's colors that take no new request and whose requests the proxy holds no more (haproxy-idle.ts). */
  readonly idleColors: () => Promise<Color[]>
  /** The app's backend file as last read or written. */
  private appText?: string

  constructor(
    private readonly docker: Docker,
    private readonly openTcp: OpenStream,
    openUnixSocket: (path: string) => Promise<Duplex>,
    private readonly settings: ProxySettings,
    private readonly app: string,
    registry: RegistryAuth | undefined,
    private readonly log: Log,
    /** Takes the host-wide lock of this proxy (held while the container or the shared files change). */
    private readonly lockProxy: ProxyLocker,
    /** The Docker socket's group (its members may open the admin socket too) and the host's CPUs. */
    hostFacts: () => Promise<HostFacts> = async () => ({})
  ) {
    this.name = settings.name
    const container = (this.container = docker.getContainer(this.name))
    const socketPath = `${hostRunDir(settings.name)}/${HAPROXY_SOCKET}`
    this.files = new ConfVolume(container)
    const handover = new HaproxyHandover(docker, this.name, this.files, log, this.app)
    this.admin = new HaproxyAdmin(
      () => handover.liveProcess(),
      this.name,
      socketPath,
      () => openUnixSocket(socketPath),
      this.files
    )
    const host = { docker, settings, registry, log, lockProxy, files: this.files, admin: this.admin }
    this.tls = new HaproxyTls({ ...host, container, network: `${settings.name}-net`, app })
    this.proxy = new HaproxyContainer({ ...host, tls: this.tls.settings, hostFacts, handover })
    const idle = new HaproxyIdleColors(this.admin, container, app, !!settings.sticky)
    this.idleColors = () => idle.idleColors()
  }

  async ensure(appNetwork: string): Promise<void> {
    await this.proxy.ensure(appNetwork)
    // proxy-protocol: the edge's header is expected from the app's trusted-proxies (issue #23).
    const sources = this.settings.proxyProtocol ? (this.settings.tls?.trustedProxies ?? []) : []
    const edgeHost = { app: this.app, proxyName: this.name, log: this.log, lockProxy: this.lockProxy, files: this.files, admin: this.admin }
    await ensureProxyProtocol(edgeHost, sources)
    await this.tls.ensure()
  }

  /** preview-domains (none: no preview backend). */
  private get previewDomains(): string[] {
    return this.settings.previewDomains ?? []
  }

  private render(route: Route, token: string, slots: number, canary?: Canary): string {
    return renderAppConfig(route, token, slots, canary, this.settings.sticky, this.tls.appTls, this.previewDomains.length > 0)
  }

  private async readAppFile(): Promise<string> {
    if (this.appText === undefined) {
      // No proxy container, or no file: nothing routed (not kept: the next read may find one).
      const text = await this.files.file(appFile(this.app))
      if (text === undefined) return ''
      this.appText = text
    }
    return this.appText
  }

  async current(): Promise<{ color: Color; releaseId: string } | undefined> {
    const r = parseRouteComment(this.app, await this.readAppFile())
    return r && { color: r.color, releaseId: r.releaseId }
  }

  /** The release the running process's verify map names (what its switch at run time set), if any. */
  async served(): Promise<string | undefined> {
    return servedRelease(await this.admin.cli(`show map ${HAPROXY_CONF_DIR}/${verifyMapFile(this.app)}`))
  }

  async apply(route: Route): Promise<void> {
    return this.applyRouting(route)
  }

  /**
   * canary-weight: `canary`'s color serves `weight` % of new requests beside `live` (persisted in the
   * backend file; the route comment and the verify map keep naming the live release).
   */
  async canary(live: Route, canary: Route, weight: number): Promise<void> {
    return this.applyRouting(live, { route: canary, weight })
  }

  /**
   * promote manual: `live` serves the app's domains alone (the other color in maintenance, so not
   * even a sticky client reaches the preview), the preview domains reach `preview`'s containers.
   */
  async preview(live: Route, preview: Route): Promise<void> {
    return this.applyRouting(live, undefined, preview)
  }

  /**
   * Every read at once, the configuration files in one request (each is a round trip over the
   * SSH connection; a switch is the moment that counts). Under the deploy lock nobody else writes
   * the app's files, so what was read is still there when it is written, and the volume as this run
   * last read it will do (the inspect step read it; every write forgets it): other apps' lines in
   * the shared maps and TLS lists decide nothing here, since only this app's entries are compared,
   * and a change to the shared files re-reads them under the proxy's lock (reloadRouting).
   */
  private async readRouting(target: Route): Promise<RoutingBefore> {
    const [text, verifyMap, addresses, backends, maps, missing, tlsFiles, cert] = await Promise.all([
      this.readAppFile(),
      this.files.file(verifyMapFile(this.app)),
      this.addressesOf(target),
      this.admin.cli('show backend'),
      this.files.maps(),
      this.missingMaintenanceFiles(),
      this.files.tlsFiles(),
      this.tls.settings.mode === 'custom' ? this.files.file(certFile(this.app)) : undefined
    ])
    return { text, verifyMap, addresses, backends, maps, missing, tlsFiles, cert }
  }

  private async applyRouting(route: Route, canary?: Canary, preview?: Route): Promise<void> {
    const before = await this.readRouting(canary?.route ?? route)
    const token = randomBytes(12).toString('hex')
    const slots = Math.max(slotsFor(route, before.text), canary?.route.replicas ?? 1, preview?.replicas ?? 1)
    const text = this.render(route, token, slots, canary)
    // The idle color's addresses for the preview backend (a preview's containers were just created).
    const idleAddresses = this.previewDomains.length ? await this.addressesOf({ ...route, color: otherColor(route.color), replicas: slots }) : []
    // In one archive: a restart or a reload of the proxy (by any app) comes up on this route.
    const written = [
      ...before.missing,
      { name: verifyMapFile(this.app), content: renderVerifyMap(token, route.releaseId) },
      { name: appFile(this.app), content: text }
    ]
    // tls custom: the key goes into the proxy's volume only, readable by root only.
    const certText = this.tls.customCertText()
    const certChanged = certText !== undefined && certText !== before.cert
    let switched = false
    try {
      if (this.sameShape(before, text) && !certChanged) {
        // The switch at run time first (what clients see), then the files (~150 ms: Docker untars
        // them). Under the proxy's lock, which every reload takes, so no other app's reload comes
        // up on the old files in between. A run that dies in between leaves the new release served
        // on the old files: its pending ledger entry and served() settle that (engine/host-state.ts).
        // The new color (or the canary's) served nothing before (not routed, no canary share): its stale idle connections go.
        const color = (canary?.route ?? route).color
        const idle = parseRouteComment(this.app, before.text)?.color !== color && parseCanaryComment(before.text)?.color !== color
        await underLock(this.lockProxy, async () => {
          await this.switchAtRuntime(route, token, before.addresses, slots, canary, { previewing: preview !== undefined, idleAddresses }, idle)
          switched = true
          await this.files.putMany(written)
          this.appText = text
        })
      } else {
        await this.files.putMany(written)
        this.appText = text
        if (certChanged) await this.files.put(certFile(this.app), certText, 0o600)
        await this.reloadRouting(before, canary?.route ?? route, certChanged)
      }
    } catch (e) {
      await this.restoreRouting(before, route, slots, switched)
      throw e
    }
    const { app, files, admin, lockProxy, log } = this
    await recordRelease({ app, files, admin, lockProxy, log, metricsPublished: this.proxy.metricsPublished }, route)
  }

  /**
   * Whether the running proxy takes the new route at run time: it knows the backend, whose shape
   * (servers declared, sticky, TLS rules) and domains are the same. Otherwise a reload, which
   * drops nothing either.
   */
  private sameShape(before: RoutingBefore, text: string): boolean {
    const known = parseBackends(before.backends).includes(backendName(this.app))
    const wanted = updateDomainMaps(before.maps, this.app, this.settings.domains, this.previewDomains)
    const tlsSame = JSON.stringify(this.tls.filesWanted(before.tlsFiles)) === JSON.stringify(before.tlsFiles)
    return (
      known &&
      backendShape(before.text) === backendShape(text) &&
      wanted.domains === before.maps.domains &&
      wanted.wildcards === before.maps.wildcards &&
      tlsSame
    )
  }

  /** The shared maps and TLS files with this app's entries, then a reload, under the proxy's lock. */
  private async reloadRouting(before: RoutingBefore, target: Route, certChanged: boolean): Promise<void> {
    await underLock(this.lockProxy, async () => {
      // Read again under the lock: another app may have changed them since.
      this.files.forget()
      const now = await this.files.maps()
      const taken = mapConflicts(now, this.app, this.settings.domains, this.previewDomains)
      if (taken.length) {
        const [first] = taken
        throw new ProxyError(
          `${taken.map(t => t.name).join(', ')} ${taken.length > 1 ? 'are' : 'is'} already routed to app ${first.app} on the proxy ${this.name} ` +
            `(claimed while this run was checking, or by an app whose release ledger is gone): give ${this.app} other 'domains', or remove them from ${first.app}.`
        )
      }
      const maps = updateDomainMaps(now, this.app, this.settings.domains, this.previewDomains)
      const tlsNow = await this.files.tlsFiles()
      const tlsNext = this.tls.filesWanted(tlsNow)
      const known = parseBackends(before.backends).includes(backendName(this.app))
      const domains = this.settings.domains.length ? this.settings.domains.join(', ') : 'default for host names no app claims'
      const previews = this.previewDomains.length ? `; preview: ${this.previewDomains.join(', ')}` : ''
      this.log.info(`${known ? 'Routing' : 'Adding'} ${this.app} on the proxy ${this.name} (${domains}${previews}): reloading it`)
      await this.files.put(DOMAINS_MAP, maps.domains)
      await this.files.put(WILDCARDS_MAP, maps.wildcards)
      await this.files.put(CERTS_LIST, tlsNext.certsList)
      await this.files.put(ACME_MAP, tlsNext.acmeMap)
      const restore: FileBefore[] = [
        { file: DOMAINS_MAP, content: now.domains },
        { file: WILDCARDS_MAP, content: now.wildcards },
        { file: CERTS_LIST, content: tlsNow.certsList },
        { file: ACME_MAP, content: tlsNow.acmeMap },
        ...(certChanged ? [{ file: certFile(this.app), content: before.cert, mode: 0o600 }] : []),
        { file: appFile(this.app), content: before.text || undefined },
        { file: verifyMapFile(this.app), content: before.verifyMap }
      ]
      await this.admin.testAndReload(restore, this.targetAddresses(target, before.addresses))
    })
  }

  /** The target color's servers at the addresses just read from Docker (its containers may be new since the proxy resolved them). */
  private targetAddresses(target: Route, addresses: (string | undefined)[]): Map<string, string> {
    const be = backendName(this.app)
    return new Map(addresses.flatMap((address, i) => (address ? [[`${be}/${serverName(target.color, i + 1)}`, address] as const] : [])))
  }

  /** The previous routing stays: files back as they were, and the runtime state too. */
  private async restoreRouting(before: RoutingBefore, route: Route, slots: number, switched: boolean): Promise<void> {
    await this.files.put(appFile(this.app), before.text || '# Removed by cutover.\n').catch(() => undefined)
    if (before.verifyMap !== undefined) await this.files.put(verifyMapFile(this.app), before.verifyMap).catch(() => undefined)
    if (before.cert !== undefined) await this.files.put(certFile(this.app), before.cert, 0o600).catch(() => undefined)
    this.appText = before.text
    const previous = parseRouteComment(this.app, before.text)
    if (switched && previous) {
      // The previous release's id too: the verify map at run time names what is served (served()).
      const back = {
        ...route,
        color: previous.color,
        releaseId: previous.releaseId,
        replicas: Math.max(1, declaredServers(before.text).enabled[previous.color])
      }
      await this.switchAtRuntime(back, previous.token ?? '', [], slots).catch(() => undefined)
    }
  }

  /** The app's maintenance flag and page as they must exist before its backend file names them. */
  private async missingMaintenanceFiles(): Promise<{ name: string; content: string }[]> {
    const files = [
      { name: maintenanceMapFile(this.app), content: renderMaintenanceMap(false) },
      { name: maintenancePageFile(this.app), content: DEFAULT_MAINTENANCE_PAGE }
    ]
    const present = await Promise.all(files.map(f => this.files.file(f.name)))
    return files.filter((_, i) => present[i] === undefined)
  }

  /**
   * mode maintenance (on) / live (off): the app's flag set through the runtime API and in its file;
   * a reload (which drops nothing) only when the page changed or the running backend predates the
   * rule. Confirmed by a request through the proxy.
   */
  async maintenance(on: boolean, page: string | undefined): Promise<VerifyResult> {
    const text = await this.readAppFile()
    const parsed = parseRouteComment(this.app, text)
    const route = routeOfFile(this.app, text, parsed)
    if (!route || !parsed) throw new ProxyError(`The proxy ${this.name} has no route for ${this.app}: deploy it first`)
    const mapPath = `${HAPROXY_CONF_DIR}/${maintenanceMapFile(this.app)}`
    const [beforePage, beforeMap] = await Promise.all([maintenancePageFile(this.app), maintenanceMapFile(this.app)].map(f => this.files.file(f)))
    // mode live keeps the page the proxy has (nothing to reload for a page nobody sees).
    const wantedPage = on ? maintenancePage(page) : (beforePage ?? DEFAULT_MAINTENANCE_PAGE)
    await this.files.put(maintenancePageFile(this.app), wantedPage)
    await this.files.put(maintenanceMapFile(this.app), renderMaintenanceMap(on))
    let reload = beforePage !== wantedPage
    if (!hasMaintenanceRule(text, this.app)) {
      // Written by a cutover before maintenance existed: the same route with this version's rules.
      const rendered = this.render(route, parsed.token ?? '', declaredServers(text).slots)
      await this.files.put(appFile(this.app), rendered)
      this.appText = rendered
      reload = true
    }
    if (!reload && !(await this.admin.cli('show map')).includes(mapPath)) reload = true
    if (reload) {
      await underLock(this.lockProxy, async () => {
        this.log.info(`${on ? 'Turning on' : 'Ending'} maintenance of ${this.app} on the proxy ${this.name}: reloading it (its page changed)`)
        await this.admin.testAndReload([
          { file: appFile(this.app), content: text || undefined },
          { file: maintenancePageFile(this.app), content: beforePage },
          { file: maintenanceMapFile(this.app), content: beforeMap }
        ])
      })
    } else {
      await this.admin.run(on ? [`clear map ${mapPath}`, `add map ${mapPath} on 1`] : [`clear map ${mapPath}`], `the maintenance flag of ${this.app}`)
      this.log.info(`${on ? 'Turned on' : 'Ended'} maintenance of ${this.app} on the proxy ${this.name} through its runtime API (no reload)`)
    }
    return confirmMaintenance(this.openTcp, this.settings, on, 10_000, await this.proxy.probeEntry())
  }

  /** watch: the app backend's response counters (`show stat`), the same numbers its log lines would add up to. */
  async responseCounts(): Promise<ResponseCounts> {
    const be = backendName(this.app)
    return responseCountsOf(await this.admin.cli(statCommand(be)), be)
  }

  /** canary-steps: the app backend's counters per server (`show stat`), with their response time averages. */
  async serverCounts(): Promise<ServerCounts[]> {
    const be = backendName(this.app)
    return serverCountsOf(await this.admin.cli(serverStatCommand(be)), be)
  }

  /** canary-steps: the app's requests to the proxy's request ring under `token` (haproxy-request-log.ts). */
  async startRequestLog(token: string): Promise<boolean> {
    return startRequestLog(this.admin, this.app, token)
  }

  async stopRequestLog(): Promise<void> {
    return stopRequestLog(this.admin, this.app)
  }

  async requestLog(token: string): Promise<RequestLine[]> {
    return readRequestLog(this.admin, token)
  }

  /** sticky: the color's servers to maintenance, so cookies naming them no longer count (open connections stay). */
  async endDrain(color: Color): Promise<void> {
    const text = await this.readAppFile()
    const routed = parseRouteComment(this.app, text)
    // Never the color the proxy routes to (a run that switched back in the meantime).
    if (!routed || routed.color === color || parseCanaryComment(text)?.color === color) return
    await this.admin.run(endDrainCommands(backendName(this.app), color, declaredServers(text).slots), `to end the drain of ${this.app} ${color}`)
    this.log.info(`Ended the drain of ${this.app} ${color} on the proxy ${this.name}: its sticky clients go to the live color now`)
  }

  /** The addresses of the route's containers on the app's network, by replica (undefined: not found). */
  private async addressesOf(route: Route): Promise<(string | undefined)[]> {
    return (await containerAddresses(this.docker, this.app, route)).map(a => a.wanted)
  }

  async outdated(route: Route): Promise<boolean> {
    const text = await this.readAppFile()
    const token = parseRouteComment(this.app, text)?.token ?? ''
    // Routes, tokens and server states aside (a switch changes those at run time), the same backend?
    const wantedText = this.render(route, token, slotsFor(route, text))
    if (backendShape(wantedText) !== backendShape(text)) return true
    const maps = await this.files.maps()
    const wanted = updateDomainMaps(maps, this.app, this.settings.domains, this.previewDomains)
    if (wanted.domains !== maps.domains || wanted.wildcards !== maps.wildcards) return true
    const tlsFiles = await this.files.tlsFiles()
    if (JSON.stringify(this.tls.filesWanted(tlsFiles)) !== JSON.stringify(tlsFiles)) return true
    const wantedCert = this.tls.customCertText()
    return wantedCert !== undefined && wantedCert !== (await this.files.file(certFile(this.app)))
  }

  /** One line on the admin socket: the new color's servers take new requests, the old ones drain. */
  private async switchAtRuntime(
    route: Route,
    token: string,
    addresses: (string | undefined)[],
    slots: number,
    canary?: Canary,
    preview: { previewing: boolean; idleAddresses: (string | undefined)[] } = { previewing: false, idleAddresses: [] },
    idle = false
  ): Promise<void> {
    const be = backendName(this.app)
    const map = `${HAPROXY_CONF_DIR}/${verifyMapFile(this.app)}`
    const commands = [
      ...(canary
        ? canaryCommands(be, route, canary, slots, addresses, idle)
        : switchCommands(be, route, slots, addresses, preview.previewing ? 'maint' : 'drain', idle)),
      ...(this.previewDomains.length ? previewCommands(this.app, route.color, slots, route.appPort, preview.idleAddresses) : []),
      `clear map ${map}`,
      ...(token ? [`add map ${map} ${token} ${encodeRelease(route.releaseId)}`] : [])
    ]
    await this.admin.run(commands, `the switch of ${this.app} to ${route.color}`)
    this.log.info(
      preview.previewing
        ? `Routed ${this.app}'s preview domains to ${otherColor(route.color)}, its own domains to ${route.color} alone, on the proxy ${this.name} through its runtime API (no reload)`
        : canary
          ? `Sent ${canary.weight} % of ${this.app}'s new requests to ${canary.route.color}, ${100 - canary.weight} % to ${route.color}, on the proxy ${this.name} through its runtime API (no reload)`
          : `Switched ${this.app} to ${route.color} on the proxy ${this.name} through its runtime API (no reload)`
    )
  }

  /** The app off the shared proxy, gracefully; with `drain`, after its requests in flight (haproxy-withdraw.ts). */
  async withdraw(drain?: WithdrawDrain): Promise<boolean> {
    const { app, name, container, files, admin, lockProxy, log } = this
    const withdrawn = await withdrawFromHaproxy({ app, name, container, files, admin, lockProxy, log }, drain)
    this.appText = undefined
    return withdrawn
  }

  async certificates(): Promise<DomainCertificate[]> {
    return this.tls.certificates()
  }

  async verify(route: Route, path: string, timeoutMs: number): Promise<VerifyResult> {
    const routed = parseRouteComment(this.app, await this.readAppFile())
    // Without the token of the route being verified, the proxy names no release: verification fails.
    const token = routed?.releaseId === route.releaseId ? (routed.token ?? '') : ''
    // A runtime-API switch has no old process; after a reload, ask once more 150 ms later.
    const ask = {
      releaseId: route.releaseId,
      token,
      tokenHeader: VERIFY_HEADER,
      releaseHeader: RELEASE_HEADER,
      decode: decodeRelease,
      confirmAfterMs: this.admin.reloaded ? 150 : 0
    }
    const result = await verifyThroughProxy(this.openTcp, this.settings, ask, path, timeoutMs, await this.proxy.probeEntry())
    if (result.ok) await confirmAddresses({ app: this.app, name: this.name, docker: this.docker, admin: this.admin, log: this.log }, route)
    return result
  }
}

import { randomBytes } from 'node:crypto'
import type Docker from 'dockerode'
import type { ProxySettings, RegistryAuth, TlsSettings } from '../core/config.js'
import { LABEL, containerName, otherColor, type Color } from '../core/names.js'
import { oneTo } from '../engine/replicas.js'
import {
  endDrainCommands,
  parseCanaryComment,
  backendShape,
  canaryCommands,
  DEFAULT_MAINTENANCE_PAGE,
  declaredServers,
  hasMaintenanceRule,
  maintenanceMapFile,
  maintenancePage,
  maintenancePageFile,
  renderMaintenanceMap,
  routeOfFile,
  slotsFor,
  switchCommands,
  type Canary
} from './haproxy-strategy.js'
import type { Log } from '../core/log.js'
import type { DomainCertificate, ResponseCounts, Route, Router, VerifyResult } from '../engine/ports.js'
import { execIn, getDirFiles, isConflict, putFile, putFiles } from '../transport/docker-ops.js'
import type { OpenStream } from '../transport/http-probe.js'
import { sanitizeHostText } from '../transport/host-text.js'
import {
  ACME_BACKEND,
  ACME_CHALLENGE_PORT,
  ACME_MAP,
  appFile,
  certFile,
  CERTS_LIST,
  EMPTY_ACME_MAP,
  EMPTY_CERTS_LIST,
  HAPROXY_HTTPS_PORT,
  updateAcmeMap,
  updateCertsList,
  type AppTls,
  backendName,
  BASE_FILE,
  decodeRelease,
  DOMAINS_MAP,
  EMPTY_MAP,
  HAPROXY_CONF_DIR,
  HAPROXY_PORT,
  HAPROXY_RUN_DIR,
  HAPROXY_SOCKET,
  hostRunDir,
  renderAppConfig,
  renderBaseConfig,
  renderVerifyMap,
  updateDomainMaps,
  mapConflicts,
  verifyMapFile,
  WILDCARDS_MAP,
  encodeRelease,
  type DomainMaps
} from './haproxy-config.js'
import { parseRouteComment, RELEASE_HEADER, VERIFY_HEADER } from './nginx-config.js'
import {
  confirmMaintenance,
  ensureProxyImage,
  ensureProxyNetwork,
  inspectIfExists,
  ProxyError,
  underLock,
  verifyThroughProxy,
  type ProxyLocker
} from './proxy-container.js'
import { parseBackends, parsePid, runtimeCommand, runtimeErrors, RuntimeApiError, type OpenAdminSocket } from './haproxy-runtime.js'
import type { Duplex } from 'node:stream'
import { AcmeRenewer } from './haproxy-acme.js'
import { responseCountsOf, statCommand } from './haproxy-stats.js'
import { previewCommands } from './haproxy-preview.js'
import { readCertificate, renewalDue, wantedFile, type AcmeWanted } from '../acme/state.js'
import { HAPROXY_CAPABILITIES } from './capabilities.js'

const PORT_KEY = `${HAPROXY_PORT}/tcp`
const HTTPS_PORT_KEY = `${HAPROXY_HTTPS_PORT}/tcp`
/** How long a deploy waits for the ACME server to issue a new certificate. */
const ISSUE_TIMEOUT_MS = 180_000
const TLS_OFF: TlsSettings = { mode: 'off', httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] }
/** How long a reload may take before the new worker answers on the admin socket. */
const RELOAD_TIMEOUT_MS = 15_000
/** How long a started proxy may take to open its admin socket. */
const START_TIMEOUT_MS = 15_000
/** How long opening the admin socket is retried (a reload re-creates it). */
const SOCKET_RETRY_MS = 3000
/** A process left behind by a reload keeps WebSockets at least this long. */
const MIN_HARD_STOP_S = 30

/**
 * One HAProxy container for every app on the host, switched through its runtime API
 * (see haproxy-config.ts). The admin socket is a Unix socket in a host directory, reached over
 * the SSH connection (direct-streamlocal), never over a network.
 */
export class HaproxyRouter implements Router {
  readonly capabilities = HAPROXY_CAPABILITIES
  private readonly name: string
  private readonly network: string
  private readonly adminSocket: OpenAdminSocket

  constructor(
    private readonly docker: Docker,
    private readonly openTcp: OpenStream,
    openUnixSocket: (path: string) => Promise<Duplex>,
    private readonly settings: ProxySettings,
    private readonly app: string,
    private readonly registry: RegistryAuth | undefined,
    private readonly log: Log,
    /** Takes the host-wide lock of this proxy (held while the container or the shared files change). */
    private readonly lockProxy: ProxyLocker,
    /** The numeric group of the host's Docker socket: its members may open the admin socket too. */
    private readonly adminGroup: () => Promise<number | undefined> = async () => undefined
  ) {
    this.name = settings.name
    this.network = `${settings.name}-net`
    this.adminSocket = () => openUnixSocket(`${hostRunDir(settings.name)}/${HAPROXY_SOCKET}`)
  }

  private get container(): Docker.Container {
    return this.docker.getContainer(this.name)
  }

  /**
   * One runtime API line. While another run reloads the proxy, the new worker re-creates the socket:
   * opening it is retried for a few seconds (every command cutover sends is idempotent).
   */
  private async cli(line: string): Promise<string> {
    const started = Date.now()
    for (;;) {
      try {
        return await runtimeCommand(this.adminSocket, line)
      } catch (e) {
        if (e instanceof RuntimeApiError || Date.now() - started > SOCKET_RETRY_MS) throw e
        await new Promise(r => setTimeout(r, 100))
      }
    }
  }

  async ensure(appNetwork: string): Promise<void> {
    const info = await inspectIfExists(this.container)
    if (info) this.checkContainer(info)
    const ready =
      !!info && info.State.Running && !!info.NetworkSettings.Networks[appNetwork] && !!info.NetworkSettings.Networks[this.network] && !this.lacksHttpsPort(info)
    if (ready && (await this.baseWanted()) === undefined && (await this.sharedFilesMissing()).length === 0) return this.ensureTls()
    await underLock(this.lockProxy, async () => {
      // Under the lock: what other apps wrote until now.
      this.forgetConf()
      await ensureProxyNetwork(this.docker, this.network)
      let current = await inspectIfExists(this.container)
      let networks = [this.network, appNetwork]
      if (!current) current = await this.create()
      else if (this.lacksHttpsPort(current)) {
        // Docker cannot publish a port on an existing container: a new one, on every network the old
        // one had. Every app's routes are in the config volume, so they come back with it.
        networks = [...new Set([...Object.keys(current.NetworkSettings.Networks), ...networks])]
        this.log.warning(
          `The proxy ${this.name} publishes no HTTPS port: re-creating it to publish ${this.tls.httpsPort} (once; every app on it is unreachable for a few seconds)`
        )
        await this.container.remove({ force: true })
        current = await this.create()
      }
      this.checkContainer(current)
      for (const network of networks) {
        if (!current.NetworkSettings.Networks[network]) await this.docker.getNetwork(network).connect({ Container: current.Id })
      }
      const base = await this.baseWanted()
      if (!current.State.Running) {
        await this.writeSharedDefaults(base)
        this.log.info(`Starting the proxy ${this.name}`)
        await this.container.start().catch(e => {
          // 304: it was started in the meantime (by Docker's restart policy, say)
          if ((e as { statusCode?: number }).statusCode !== 304) throw e
        })
        await this.waitForAdmin(START_TIMEOUT_MS)
      } else if (base !== undefined) {
        const before = await this.confFile(BASE_FILE)
        // A base from before HTTPS names files older proxies do not have yet.
        await this.writeSharedDefaults(undefined)
        await this.put(BASE_FILE, base)
        this.log.info(`Updating the shared settings of the proxy ${this.name}`)
        await this.testAndReload([{ file: BASE_FILE, content: before }])
      }
    })
    await this.ensureTls()
  }

  private get tls(): TlsSettings {
    return this.settings.tls ?? TLS_OFF
  }

  /** preview-domains (none: no preview backend). */
  private get previewDomains(): string[] {
    return this.settings.previewDomains ?? []
  }

  /** The names the app's certificate covers: its domains and its preview domains. */
  private get certifiedNames(): string[] {
    return [...this.settings.domains, ...this.previewDomains].map(d => d.toLowerCase())
  }

  private get appTls(): AppTls {
    const t = this.tls
    return { enabled: t.mode !== 'off', httpsPort: t.httpsPort, redirect: t.redirect, hsts: t.hsts, trustedProxies: t.trustedProxies }
  }

  private publishedPorts(info: Docker.ContainerInspectInfo, key: string): number[] {
    const bindings = info.HostConfig.PortBindings as Record<string, { HostPort?: string }[] | null> | undefined
    return (bindings?.[key] ?? []).map(b => Number(b.HostPort))
  }

  /** A proxy created before HTTPS (or by an app without tls) publishes no HTTPS port. */
  private lacksHttpsPort(info: Docker.ContainerInspectInfo): boolean {
    return this.tls.mode !== 'off' && info.Config.Labels?.[LABEL.proxy] === 'haproxy' && this.publishedPorts(info, HTTPS_PORT_KEY).length === 0
  }

  /** Shared files a proxy made by an older cutover lacks. */
  private async sharedFilesMissing(): Promise<string[]> {
    const files = [DOMAINS_MAP, WILDCARDS_MAP, CERTS_LIST, ACME_MAP]
    const present = await Promise.all(files.map(f => this.confFile(f)))
    return files.filter((_, i) => present[i] === undefined)
  }

  /**
   * tls auto: the renewer runs, HTTP-01 challenges of the app's names reach it, and a certificate
   * covering every name exists before the switch. A valid certificate means no wait at all: a deploy
   * never waits on a renewal (the renewer does those on its own).
   */
  private async ensureTls(): Promise<void> {
    const acme = this.tls.acme
    if (this.tls.mode !== 'auto' || !acme) return
    const renewer = new AcmeRenewer(this.docker, this.name, this.network, acme.image, this.registry, this.log)
    const names = this.certifiedNames
    const wanted: AcmeWanted = { app: this.app, domains: names, email: acme.email, directory: acme.directory, directoryCa: acme.directoryCa }
    const wantedText = JSON.stringify(wanted, null, 2) + '\n'
    if ((await this.confFile(wantedFile(this.app))) !== wantedText) {
      await this.put(wantedFile(this.app), wantedText, 0o600)
    }
    // Under the proxy's lock: two apps' first deploys must not both create (and half-fill) it.
    const address = await underLock(this.lockProxy, () => renewer.ensureRunning())
    await underLock(this.lockProxy, async () => {
      this.forgetConf()
      const current = (await this.confFile(ACME_MAP)) ?? EMPTY_ACME_MAP
      const next = updateAcmeMap(current, this.app, names)
      if (next === current) return
      this.log.info(`Routing ACME challenges for ${names.join(', ')} to ${renewer.name}: reloading the proxy`)
      await this.put(ACME_MAP, next)
      await this.testAndReload([{ file: ACME_MAP, content: current }])
    })
    // Its address now rather than at the next DNS resolution (it may have just been created).
    if (address) {
      const answer = await this.cli(`set server ${ACME_BACKEND}/acme addr ${address} port ${ACME_CHALLENGE_PORT}; set server ${ACME_BACKEND}/acme state ready`)
      const errors = runtimeErrors(answer)
      if (errors.length) this.log.warning(`HAProxy (${this.name}) did not take the renewer's address: ${sanitizeHostText(errors.join(' / '), 300)}`)
    }
    this.forgetConf() // the renewer writes certificates, not this run
    const cert = readCertificate(await this.confFile(certFile(this.app)))
    const due = renewalDue(cert, names, new Date(), 0)
    if (!due) return
    this.log.info(`Requesting a certificate for ${names.join(', ')} from ${acme.directory} (${due})`)
    try {
      await renewer.issue(this.app, ISSUE_TIMEOUT_MS)
    } catch (e) {
      throw new ProxyError(
        `No certificate for ${names.join(', ')}: ${(e as Error).message}. Nothing was switched; the names must point at this host and its port 80 must reach the proxy.`
      )
    }
  }

  private group?: number

  /** The base file as this run wants it, or undefined when the proxy already has it. */
  private async baseWanted(): Promise<string | undefined> {
    const current = await this.confFile(BASE_FILE)
    // Apps with different drain-timeouts share the proxy: the longest wins, so they do not take turns.
    const had = Number(/hard-stop-after (\d+)s/.exec(current ?? '')?.[1] ?? 0)
    this.group ??= await this.adminGroup().catch(() => undefined)
    const wanted = renderBaseConfig(Math.max(had, MIN_HARD_STOP_S, Math.ceil(this.settings.drainTimeoutMs / 1000)), this.name, this.group)
    return current === wanted ? undefined : wanted
  }

  /** Files HAProxy needs to start: the base and the (possibly empty) shared maps. */
  private async writeSharedDefaults(base: string | undefined): Promise<void> {
    if (base !== undefined) await this.put(BASE_FILE, base)
    const empty: Record<string, string> = { [DOMAINS_MAP]: EMPTY_MAP, [WILDCARDS_MAP]: EMPTY_MAP, [CERTS_LIST]: EMPTY_CERTS_LIST, [ACME_MAP]: EMPTY_ACME_MAP }
    for (const file of await this.sharedFilesMissing()) await this.put(file, empty[file])
  }

  private checkContainer(info: Docker.ContainerInspectInfo): void {
    const kind = info.Config.Labels?.[LABEL.proxy]
    if (kind !== 'haproxy') {
      throw new ProxyError(
        `The container ${this.name} exists and is not a cutover HAProxy proxy (${kind ? `a cutover ${kind} proxy` : 'not made by cutover'}). ` +
          `Choose another proxy-name for proxy-type haproxy, or remove that container (and ${this.name}-switch) on the host so cutover can create the HAProxy one (that drops traffic for the apps behind it until they are deployed again).`
      )
    }
    const published = this.publishedPorts(info, PORT_KEY)
    const https = this.publishedPorts(info, HTTPS_PORT_KEY)
    if (this.tls.mode !== 'off' && https.length && !https.includes(this.tls.httpsPort)) {
      throw new ProxyError(
        `The proxy container ${this.name} already publishes HTTPS on port ${https.join(', ')}, not ${this.tls.httpsPort} as 'https-port' asks. ` +
          `Set https-port to match (the proxy is shared by every app on the host).`
      )
    }
    if (!published.includes(this.settings.port)) {
      const what = published.length ? `publishes port ${published.join(', ')}` : 'publishes no port'
      throw new ProxyError(
        `The proxy container ${this.name} already exists and ${what}, not ${this.settings.port} as 'proxy-port' asks. ` +
          `Set proxy-port to match, or remove that container on the host so cutover can create it again (that drops traffic for the apps behind it).`
      )
    }
  }

  private async create(): Promise<Docker.ContainerInspectInfo> {
    await ensureProxyImage(this.docker, this.settings.image, this.registry, this.log)
    const https = this.tls.mode !== 'off'
    this.log.info(
      `Creating the proxy ${this.name} on port ${this.settings.port}${https ? ` and ${this.tls.httpsPort} (HTTPS)` : ''} (${this.settings.image}, HAProxy)`
    )
    try {
      await this.docker.createContainer({
        name: this.name,
        Image: this.settings.image,
        // Binding :80 needs root (the official images run as the haproxy user).
        User: 'root',
        Entrypoint: ['haproxy'],
        // Master-worker in the foreground; a directory: every *.cfg in it, in name order.
        Cmd: ['-W', '-db', '-f', HAPROXY_CONF_DIR],
        // Soft stop: what is in flight finishes.
        StopSignal: 'SIGUSR1',
        Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'haproxy' },
        ExposedPorts: { [PORT_KEY]: {}, ...(https ? { [HTTPS_PORT_KEY]: {} } : {}) },
        HostConfig: {
          PortBindings: {
            [PORT_KEY]: [{ HostPort: String(this.settings.port) }],
            ...(https ? { [HTTPS_PORT_KEY]: [{ HostPort: String(this.tls.httpsPort) }] } : {})
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
    } catch (e) {
      // Another app's deploy created it at the same moment: use theirs.
      if (!isConflict(e)) throw e
    }
    const info = await inspectIfExists(this.container)
    if (!info) throw new ProxyError(`The proxy container ${this.name} vanished right after it was created`)
    return info
  }

  private async waitForAdmin(timeoutMs: number, notPid?: number): Promise<void> {
    const started = Date.now()
    let last: string
    for (;;) {
      try {
        const pid = parsePid(await this.cli('show info'))
        if (pid !== undefined && pid !== notPid) return
        last = `still worker ${pid}`
      } catch (e) {
        last = (e as Error).message
      }
      if (Date.now() - started > timeoutMs) {
        const logs = await this.container
          .logs({ stdout: true, stderr: true, tail: 10, follow: false })
          .then(b => sanitizeHostText(String(b), 800))
          .catch(() => '')
        throw new ProxyError(
          `The proxy ${this.name} did not answer on its admin socket ${hostRunDir(this.name)}/${HAPROXY_SOCKET} within ${timeoutMs / 1000} s (${last}); ` +
            `the SSH user must be allowed to open it (root, in practice). Its last log lines: ${logs}`
        )
      }
      await new Promise(r => setTimeout(r, 100))
    }
  }

  /** haproxy -c, then SIGUSR2 to the master: a reload that drops nothing (option idle-close-on-response). */
  private async testAndReload(restore: { file: string; content: string | undefined; mode?: number }[]): Promise<void> {
    const test = await execIn(this.container, ['haproxy', '-c', '-f', HAPROXY_CONF_DIR])
    if (test.exitCode !== 0) {
      // Put back what was there so no later reload (of any app), nor a restart, picks up the bad file.
      for (const r of restore) await this.put(r.file, r.content ?? '# Removed by cutover.\n', r.mode)
      const alerts = (test.stderr + test.stdout)
        .split('\n')
        .filter(l => /ALERT/.test(l))
        .join('\n')
      throw new ProxyError(`HAProxy (${this.name}) refused the new configuration: ${sanitizeHostText(alerts || (test.stderr || test.stdout).trim(), 600)}`)
    }
    // A proxy made by an older cutover may have a socket only root can open: the reload through
    // Docker's API (which this user may call) brings it up with the group's access.
    const pid = await this.cli('show info').then(parsePid, () => undefined)
    await this.container.kill({ signal: 'SIGUSR2' })
    await this.waitForAdmin(RELOAD_TIMEOUT_MS, pid)
    this.reloaded = true
  }

  /**
   * The configuration directory as read once, in one archive request: Docker serves archive
   * requests one at a time per container, so reading files one by one made a switch wait on each.
   * Every write forgets it; sections that must see other apps' latest writes forget it first.
   */
  private confRead?: Promise<Map<string, string>>

  private confFile(name: string): Promise<string | undefined> {
    if (!this.confRead) {
      const read = getDirFiles(this.container, HAPROXY_CONF_DIR)
      read.catch(() => {
        if (this.confRead === read) this.confRead = undefined
      })
      this.confRead = read
    }
    return this.confRead.then(files => files.get(name))
  }

  private forgetConf(): void {
    this.confRead = undefined
  }

  private async put(name: string, content: string, mode?: number): Promise<void> {
    this.forgetConf()
    await putFile(this.container, HAPROXY_CONF_DIR, name, content, mode)
  }

  private async putMany(files: { name: string; content: string; mode?: number }[]): Promise<void> {
    this.forgetConf()
    await putFiles(this.container, HAPROXY_CONF_DIR, files)
  }

  /** The app's backend file as last read or written. */
  private appText?: string
  /** Whether this run reloaded the proxy (verify then waits out the old process's listeners). */
  private reloaded = false

  private async readAppFile(): Promise<string> {
    if (this.appText === undefined) {
      // No proxy container, or no file: nothing routed (not kept: the next read may find one).
      const text = await this.confFile(appFile(this.app))
      if (text === undefined) return ''
      this.appText = text
    }
    return this.appText
  }

  async current(): Promise<{ color: Color; releaseId: string } | undefined> {
    const r = parseRouteComment(this.app, await this.readAppFile())
    return r && { color: r.color, releaseId: r.releaseId }
  }

  private async readMaps(): Promise<DomainMaps> {
    const [domains, wildcards] = await Promise.all([DOMAINS_MAP, WILDCARDS_MAP].map(async f => (await this.confFile(f)) ?? EMPTY_MAP))
    return { domains, wildcards }
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

  private async applyRouting(route: Route, canary?: Canary, preview?: Route): Promise<void> {
    const be = backendName(this.app)
    // Every read at once, the configuration files in one request (each is a round trip over the
    // SSH connection; a switch is the moment that counts). Under the deploy lock nobody else writes
    // the app's files, so what was read is still there when it is written.
    this.forgetConf()
    const [before, beforeMap, addresses, backends, maps, missing, tlsFiles, certBefore] = await Promise.all([
      this.readAppFile(),
      this.confFile(verifyMapFile(this.app)),
      this.addressesOf(canary?.route ?? route),
      this.cli('show backend'),
      this.readMaps(),
      this.missingMaintenanceFiles(),
      this.readTlsFiles(),
      this.tls.mode === 'custom' ? this.confFile(certFile(this.app)) : undefined
    ])
    const token = randomBytes(12).toString('hex')
    const slots = Math.max(slotsFor(route, before), canary?.route.replicas ?? 1, preview?.replicas ?? 1)
    const text = renderAppConfig(route, token, slots, canary, this.settings.sticky, this.appTls, this.previewDomains.length > 0)
    // The idle color's addresses for the preview backend (a preview's containers were just created).
    const idleAddresses = this.previewDomains.length ? await this.addressesOf({ ...route, color: otherColor(route.color), replicas: slots }) : []
    // The files first, in one archive: a restart or a reload of the proxy (by any app) comes up on this route.
    await this.putMany([
      ...missing,
      { name: verifyMapFile(this.app), content: renderVerifyMap(token, route.releaseId) },
      { name: appFile(this.app), content: text }
    ])
    this.appText = text
    let switched = false
    try {
      const known = parseBackends(backends).includes(be)
      const wanted = updateDomainMaps(maps, this.app, this.settings.domains, this.previewDomains)
      // A new shape (replicas grew beyond the servers declared, sticky turned on or off, other TLS
      // rules): a reload, which drops nothing either.
      const sameShape = backendShape(before) === backendShape(text)
      const tlsSame = JSON.stringify(this.tlsFilesWanted(tlsFiles)) === JSON.stringify(tlsFiles)
      // tls custom: the key goes into the proxy's volume only, readable by root only.
      const certText = this.customCertText()
      const certChanged = certText !== undefined && certText !== certBefore
      if (certChanged) await this.put(certFile(this.app), certText, 0o600)
      if (known && sameShape && wanted.domains === maps.domains && wanted.wildcards === maps.wildcards && tlsSame && !certChanged) {
        await this.switchAtRuntime(route, token, addresses, slots, canary, { previewing: preview !== undefined, idleAddresses })
        switched = true
      } else {
        await underLock(this.lockProxy, async () => {
          // Read again under the lock: another app may have changed them since.
          this.forgetConf()
          const now = await this.readMaps()
          const taken = mapConflicts(now, this.app, this.settings.domains, this.previewDomains)
          if (taken.length) {
            const [first] = taken
            throw new ProxyError(
              `${taken.map(t => t.name).join(', ')} ${taken.length > 1 ? 'are' : 'is'} already routed to app ${first.app} on the proxy ${this.name} ` +
                `(claimed while this run was checking, or by an app whose release ledger is gone): give ${this.app} other 'domains', or remove them from ${first.app}.`
            )
          }
          const maps = updateDomainMaps(now, this.app, this.settings.domains, this.previewDomains)
          const tlsNow = await this.readTlsFiles()
          const tlsNext = this.tlsFilesWanted(tlsNow)
          this.log.info(
            `${known ? 'Routing' : 'Adding'} ${this.app} on the proxy ${this.name} (${this.settings.domains.length ? this.settings.domains.join(', ') : 'default for host names no app claims'}${this.previewDomains.length ? `; preview: ${this.previewDomains.join(', ')}` : ''}): reloading it`
          )
          await this.put(DOMAINS_MAP, maps.domains)
          await this.put(WILDCARDS_MAP, maps.wildcards)
          await this.put(CERTS_LIST, tlsNext.certsList)
          await this.put(ACME_MAP, tlsNext.acmeMap)
          await this.testAndReload([
            { file: DOMAINS_MAP, content: now.domains },
            { file: WILDCARDS_MAP, content: now.wildcards },
            { file: CERTS_LIST, content: tlsNow.certsList },
            { file: ACME_MAP, content: tlsNow.acmeMap },
            ...(certChanged ? [{ file: certFile(this.app), content: certBefore, mode: 0o600 }] : []),
            { file: appFile(this.app), content: before || undefined },
            { file: verifyMapFile(this.app), content: beforeMap }
          ])
        })
      }
    } catch (e) {
      // The previous routing stays: files back as they were, and the runtime state too.
      await this.put(appFile(this.app), before || '# Removed by cutover.\n').catch(() => undefined)
      if (beforeMap !== undefined) await this.put(verifyMapFile(this.app), beforeMap).catch(() => undefined)
      if (certBefore !== undefined) await this.put(certFile(this.app), certBefore, 0o600).catch(() => undefined)
      this.appText = before
      const previous = parseRouteComment(this.app, before)
      if (switched && previous) {
        const back = { ...route, color: previous.color, replicas: Math.max(1, declaredServers(before).enabled[previous.color]) }
        await this.switchAtRuntime(back, previous.token ?? '', [], slots).catch(() => undefined)
      }
      throw e
    }
  }

  /** The app's maintenance flag and page as they must exist before its backend file names them. */
  private async missingMaintenanceFiles(): Promise<{ name: string; content: string }[]> {
    const files = [
      { name: maintenanceMapFile(this.app), content: renderMaintenanceMap(false) },
      { name: maintenancePageFile(this.app), content: DEFAULT_MAINTENANCE_PAGE }
    ]
    const present = await Promise.all(files.map(f => this.confFile(f.name)))
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
    const [beforePage, beforeMap] = await Promise.all([maintenancePageFile(this.app), maintenanceMapFile(this.app)].map(f => this.confFile(f)))
    // mode live keeps the page the proxy has (nothing to reload for a page nobody sees).
    const wantedPage = on ? maintenancePage(page) : (beforePage ?? DEFAULT_MAINTENANCE_PAGE)
    await this.put(maintenancePageFile(this.app), wantedPage)
    await this.put(maintenanceMapFile(this.app), renderMaintenanceMap(on))
    let reload = beforePage !== wantedPage
    if (!hasMaintenanceRule(text, this.app)) {
      // Written by a cutover before maintenance existed: the same route with this version's rules.
      const rendered = renderAppConfig(
        route,
        parsed.token ?? '',
        declaredServers(text).slots,
        undefined,
        this.settings.sticky,
        this.appTls,
        this.previewDomains.length > 0
      )
      await this.put(appFile(this.app), rendered)
      this.appText = rendered
      reload = true
    }
    if (!reload && !(await this.cli('show map')).includes(mapPath)) reload = true
    if (reload) {
      await underLock(this.lockProxy, async () => {
        this.log.info(`${on ? 'Turning on' : 'Ending'} maintenance of ${this.app} on the proxy ${this.name}: reloading it (its page changed)`)
        await this.testAndReload([
          { file: appFile(this.app), content: text || undefined },
          { file: maintenancePageFile(this.app), content: beforePage },
          { file: maintenanceMapFile(this.app), content: beforeMap }
        ])
      })
    } else {
      const answer = await this.cli(on ? `clear map ${mapPath}; add map ${mapPath} on 1` : `clear map ${mapPath}`)
      const errors = runtimeErrors(answer)
      if (errors.length)
        throw new ProxyError(`HAProxy (${this.name}) refused the maintenance flag of ${this.app}: ${sanitizeHostText(errors.join(' / '), 400)}`)
      this.log.info(`${on ? 'Turned on' : 'Ended'} maintenance of ${this.app} on the proxy ${this.name} through its runtime API (no reload)`)
    }
    return confirmMaintenance(this.openTcp, this.settings, on, 10_000)
  }

  /** watch: the app backend's response counters (`show stat`), the same numbers its log lines would add up to. */
  async responseCounts(): Promise<ResponseCounts> {
    const be = backendName(this.app)
    return responseCountsOf(await this.cli(statCommand(be)), be)
  }

  /** sticky: the color's servers to maintenance, so cookies naming them no longer count (open connections stay). */
  async endDrain(color: Color): Promise<void> {
    const text = await this.readAppFile()
    const routed = parseRouteComment(this.app, text)
    // Never the color the proxy routes to (a run that switched back in the meantime).
    if (!routed || routed.color === color || parseCanaryComment(text)?.color === color) return
    const be = backendName(this.app)
    const answer = await this.cli(endDrainCommands(be, color, declaredServers(text).slots).join('; '))
    const errors = runtimeErrors(answer)
    if (errors.length)
      throw new ProxyError(`HAProxy (${this.name}) refused to end the drain of ${this.app} ${color}: ${sanitizeHostText(errors.join(' / '), 400)}`)
    this.log.info(`Ended the drain of ${this.app} ${color} on the proxy ${this.name}: its sticky clients go to the live color now`)
  }

  /** The addresses of the route's containers on the app's network, by replica (undefined: not found). */
  private async addressesOf(route: Route): Promise<(string | undefined)[]> {
    return Promise.all(
      oneTo(route.replicas ?? 1).map(async i => {
        const info = await this.docker
          .getContainer(containerName(this.app, route.color, i))
          .inspect()
          .catch(() => undefined)
        return info?.NetworkSettings.Networks[`cutover-${this.app}`]?.IPAddress || undefined
      })
    )
  }

  private async readTlsFiles(): Promise<{ certsList: string; acmeMap: string }> {
    const [certsList, acmeMap] = await Promise.all([
      this.confFile(CERTS_LIST).then(t => t ?? EMPTY_CERTS_LIST),
      this.confFile(ACME_MAP).then(t => t ?? EMPTY_ACME_MAP)
    ])
    return { certsList, acmeMap }
  }

  /** The shared TLS files with this app's entries as its settings say (other apps' kept). */
  private tlsFilesWanted(now: { certsList: string; acmeMap: string }): { certsList: string; acmeMap: string } {
    const mode = this.tls.mode
    return {
      certsList: updateCertsList(now.certsList, this.app, mode !== 'off'),
      acmeMap: updateAcmeMap(now.acmeMap, this.app, mode === 'auto' ? this.certifiedNames : [])
    }
  }

  async outdated(route: Route): Promise<boolean> {
    const text = await this.readAppFile()
    const token = parseRouteComment(this.app, text)?.token ?? ''
    // Routes, tokens and server states aside (a switch changes those at run time), the same backend?
    const wantedText = renderAppConfig(route, token, slotsFor(route, text), undefined, this.settings.sticky, this.appTls, this.previewDomains.length > 0)
    if (backendShape(wantedText) !== backendShape(text)) return true
    const maps = await this.readMaps()
    const wanted = updateDomainMaps(maps, this.app, this.settings.domains, this.previewDomains)
    if (wanted.domains !== maps.domains || wanted.wildcards !== maps.wildcards) return true
    const tlsFiles = await this.readTlsFiles()
    if (JSON.stringify(this.tlsFilesWanted(tlsFiles)) !== JSON.stringify(tlsFiles)) return true
    const wantedCert = this.customCertText()
    return wantedCert !== undefined && wantedCert !== (await this.confFile(certFile(this.app)))
  }

  /** tls custom: the one file HAProxy reads, certificate chain then key. */
  private customCertText(): string | undefined {
    const t = this.tls
    return t.mode === 'custom' && t.certificate && t.key ? `${t.certificate.trim()}\n${t.key.trim()}\n` : undefined
  }

  async certificates(): Promise<DomainCertificate[]> {
    if (this.tls.mode === 'off' || !(await inspectIfExists(this.container))) return []
    this.forgetConf()
    const cert = readCertificate(await this.confFile(certFile(this.app)))
    return [...this.settings.domains, ...this.previewDomains].map(domain => {
      const covered = cert && renewalDue(cert, [domain], new Date(), 0) === undefined
      return covered ? { domain, issuer: cert.issuer, notAfter: cert.notAfter.toISOString(), serial: cert.serial } : { domain }
    })
  }

  /** One line on the admin socket: the new color's servers take new requests, the old ones drain. */
  private async switchAtRuntime(
    route: Route,
    token: string,
    addresses: (string | undefined)[],
    slots: number,
    canary?: Canary,
    preview: { previewing: boolean; idleAddresses: (string | undefined)[] } = { previewing: false, idleAddresses: [] }
  ): Promise<void> {
    const be = backendName(this.app)
    const map = `${HAPROXY_CONF_DIR}/${verifyMapFile(this.app)}`
    const commands = [
      ...(canary ? canaryCommands(be, route, canary, slots, addresses) : switchCommands(be, route, slots, addresses, preview.previewing ? 'maint' : 'drain')),
      ...(this.previewDomains.length ? previewCommands(this.app, route.color, slots, route.appPort, preview.idleAddresses) : []),
      `clear map ${map}`,
      ...(token ? [`add map ${map} ${token} ${encodeRelease(route.releaseId)}`] : [])
    ]
    const answer = await this.cli(commands.join('; '))
    const errors = runtimeErrors(answer)
    if (errors.length)
      throw new ProxyError(`HAProxy (${this.name}) refused the switch of ${this.app} to ${route.color}: ${sanitizeHostText(errors.join(' / '), 400)}`)
    this.log.info(
      preview.previewing
        ? `Routed ${this.app}'s preview domains to ${otherColor(route.color)}, its own domains to ${route.color} alone, on the proxy ${this.name} through its runtime API (no reload)`
        : canary
          ? `Sent ${canary.weight} % of ${this.app}'s new requests to ${canary.route.color}, ${100 - canary.weight} % to ${route.color}, on the proxy ${this.name} through its runtime API (no reload)`
          : `Switched ${this.app} to ${route.color} on the proxy ${this.name} through its runtime API (no reload)`
    )
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
      confirmAfterMs: this.reloaded ? 150 : 0
    }
    return verifyThroughProxy(this.openTcp, this.settings, ask, path, timeoutMs)
  }
}

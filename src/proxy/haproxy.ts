import { randomBytes } from 'node:crypto'
import type Docker from 'dockerode'
import type { ProxySettings, RegistryAuth } from '../core/config.js'
import { LABEL, containerName, type Color } from '../core/names.js'
import { oneTo } from '../engine/replicas.js'
import {
  endDrainCommands,
  parseCanaryComment,
  backendShape,
  canaryCommands,
  confirmMaintenance,
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
import type { Route, Router, VerifyResult } from '../engine/ports.js'
import { execIn, getFile, isConflict, putFile, putFiles } from '../transport/docker-ops.js'
import type { OpenStream } from '../transport/http-probe.js'
import { sanitizeHostText } from '../transport/host-text.js'
import {
  appFile,
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
import { ensureProxyImage, ensureProxyNetwork, inspectIfExists, ProxyError, underLock, verifyThroughProxy, type ProxyLocker } from './proxy-container.js'
import { parseBackends, parsePid, runtimeCommand, runtimeErrors, RuntimeApiError, type OpenAdminSocket } from './haproxy-runtime.js'
import type { Duplex } from 'node:stream'

const PORT_KEY = `${HAPROXY_PORT}/tcp`
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
    const ready = !!info && info.State.Running && !!info.NetworkSettings.Networks[appNetwork] && !!info.NetworkSettings.Networks[this.network]
    if (ready && (await this.baseWanted()) === undefined) return
    await underLock(this.lockProxy, async () => {
      await ensureProxyNetwork(this.docker, this.network)
      let current = await inspectIfExists(this.container)
      if (!current) current = await this.create()
      this.checkContainer(current)
      for (const network of [this.network, appNetwork]) {
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
        const before = await getFile(this.container, `${HAPROXY_CONF_DIR}/${BASE_FILE}`)
        await putFile(this.container, HAPROXY_CONF_DIR, BASE_FILE, base)
        this.log.info(`Updating the shared settings of the proxy ${this.name}`)
        await this.testAndReload([{ file: BASE_FILE, content: before }])
      }
    })
  }

  private group?: number

  /** The base file as this run wants it, or undefined when the proxy already has it. */
  private async baseWanted(): Promise<string | undefined> {
    const current = await getFile(this.container, `${HAPROXY_CONF_DIR}/${BASE_FILE}`)
    // Apps with different drain-timeouts share the proxy: the longest wins, so they do not take turns.
    const had = Number(/hard-stop-after (\d+)s/.exec(current ?? '')?.[1] ?? 0)
    this.group ??= await this.adminGroup().catch(() => undefined)
    const wanted = renderBaseConfig(Math.max(had, MIN_HARD_STOP_S, Math.ceil(this.settings.drainTimeoutMs / 1000)), this.group)
    return current === wanted ? undefined : wanted
  }

  /** Files HAProxy needs to start: the base and the (possibly empty) shared maps. */
  private async writeSharedDefaults(base: string | undefined): Promise<void> {
    if (base !== undefined) await putFile(this.container, HAPROXY_CONF_DIR, BASE_FILE, base)
    for (const file of [DOMAINS_MAP, WILDCARDS_MAP]) {
      if ((await getFile(this.container, `${HAPROXY_CONF_DIR}/${file}`)) === undefined) await putFile(this.container, HAPROXY_CONF_DIR, file, EMPTY_MAP)
    }
  }

  private checkContainer(info: Docker.ContainerInspectInfo): void {
    const kind = info.Config.Labels?.[LABEL.proxy]
    if (kind !== 'haproxy') {
      throw new ProxyError(
        `The container ${this.name} exists and is not a cutover HAProxy proxy (${kind ? `a cutover ${kind} proxy` : 'not made by cutover'}). ` +
          `Choose another proxy-name for proxy-type haproxy, or remove that container (and ${this.name}-switch) on the host so cutover can create the HAProxy one (that drops traffic for the apps behind it until they are deployed again).`
      )
    }
    const bindings = info.HostConfig.PortBindings as Record<string, { HostPort?: string }[] | null> | undefined
    const published = (bindings?.[PORT_KEY] ?? []).map(b => Number(b.HostPort))
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
    this.log.info(`Creating the proxy ${this.name} on port ${this.settings.port} (${this.settings.image}, HAProxy)`)
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
        ExposedPorts: { [PORT_KEY]: {} },
        HostConfig: {
          PortBindings: { [PORT_KEY]: [{ HostPort: String(this.settings.port) }] },
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
  private async testAndReload(restore: { file: string; content: string | undefined }[]): Promise<void> {
    const test = await execIn(this.container, ['haproxy', '-c', '-f', HAPROXY_CONF_DIR])
    if (test.exitCode !== 0) {
      // Put back what was there so no later reload (of any app), nor a restart, picks up the bad file.
      for (const r of restore) await putFile(this.container, HAPROXY_CONF_DIR, r.file, r.content ?? '# Removed by cutover.\n')
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

  /** The app's backend file as last read or written. */
  private appText?: string
  /** Whether this run reloaded the proxy (verify then waits out the old process's listeners). */
  private reloaded = false

  private async readAppFile(): Promise<string> {
    if (this.appText === undefined) {
      if (!(await inspectIfExists(this.container))) return ''
      this.appText = (await getFile(this.container, `${HAPROXY_CONF_DIR}/${appFile(this.app)}`)) ?? ''
    }
    return this.appText
  }

  async current(): Promise<{ color: Color; releaseId: string } | undefined> {
    const r = parseRouteComment(this.app, await this.readAppFile())
    return r && { color: r.color, releaseId: r.releaseId }
  }

  private async readMaps(): Promise<DomainMaps> {
    const [domains, wildcards] = await Promise.all(
      [DOMAINS_MAP, WILDCARDS_MAP].map(async f => (await getFile(this.container, `${HAPROXY_CONF_DIR}/${f}`)) ?? EMPTY_MAP)
    )
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

  private async applyRouting(route: Route, canary?: Canary): Promise<void> {
    const be = backendName(this.app)
    const verifyMap = `${HAPROXY_CONF_DIR}/${verifyMapFile(this.app)}`
    // Every read at once (each is a round trip over the SSH connection; a switch is the moment
    // that counts). Under the deploy lock nobody else writes the app's files, so what was read
    // is still there when it is written.
    const [before, beforeMap, addresses, backends, maps, missing] = await Promise.all([
      this.readAppFile(),
      getFile(this.container, verifyMap),
      this.addressesOf(canary?.route ?? route),
      this.cli('show backend'),
      this.readMaps(),
      this.missingMaintenanceFiles()
    ])
    const token = randomBytes(12).toString('hex')
    const slots = Math.max(slotsFor(route, before), canary?.route.replicas ?? 1)
    const text = renderAppConfig(route, token, slots, canary, this.settings.sticky)
    // The files first, in one archive: a restart or a reload of the proxy (by any app) comes up on this route.
    await putFiles(this.container, HAPROXY_CONF_DIR, [
      ...missing,
      { name: verifyMapFile(this.app), content: renderVerifyMap(token, route.releaseId) },
      { name: appFile(this.app), content: text }
    ])
    this.appText = text
    let switched = false
    try {
      const known = parseBackends(backends).includes(be)
      const wanted = updateDomainMaps(maps, this.app, this.settings.domains)
      // A new shape (replicas grew beyond the servers declared, sticky turned on or off): a reload, which drops nothing either.
      const sameShape = backendShape(before) === backendShape(text)
      if (known && sameShape && wanted.domains === maps.domains && wanted.wildcards === maps.wildcards) {
        await this.switchAtRuntime(route, token, addresses, slots, canary)
        switched = true
      } else {
        await underLock(this.lockProxy, async () => {
          // Read again under the lock: another app may have changed them since.
          const now = await this.readMaps()
          const taken = mapConflicts(now, this.app, this.settings.domains)
          if (taken.length) {
            const [first] = taken
            throw new ProxyError(
              `${taken.map(t => t.name).join(', ')} ${taken.length > 1 ? 'are' : 'is'} already routed to app ${first.app} on the proxy ${this.name} ` +
                `(claimed while this run was checking, or by an app whose release ledger is gone): give ${this.app} other 'domains', or remove them from ${first.app}.`
            )
          }
          const maps = updateDomainMaps(now, this.app, this.settings.domains)
          this.log.info(
            `${known ? 'Routing' : 'Adding'} ${this.app} on the proxy ${this.name} (${this.settings.domains.length ? this.settings.domains.join(', ') : 'default for host names no app claims'}): reloading it`
          )
          await putFile(this.container, HAPROXY_CONF_DIR, DOMAINS_MAP, maps.domains)
          await putFile(this.container, HAPROXY_CONF_DIR, WILDCARDS_MAP, maps.wildcards)
          await this.testAndReload([
            { file: DOMAINS_MAP, content: now.domains },
            { file: WILDCARDS_MAP, content: now.wildcards },
            { file: appFile(this.app), content: before || undefined },
            { file: verifyMapFile(this.app), content: beforeMap }
          ])
        })
      }
    } catch (e) {
      // The previous routing stays: files back as they were, and the runtime state too.
      await putFile(this.container, HAPROXY_CONF_DIR, appFile(this.app), before || '# Removed by cutover.\n').catch(() => undefined)
      if (beforeMap !== undefined) await putFile(this.container, HAPROXY_CONF_DIR, verifyMapFile(this.app), beforeMap).catch(() => undefined)
      this.appText = before
      const previous = parseRouteComment(this.app, before)
      if (switched && previous) {
        const back = { ...route, color: previous.color, replicas: Math.max(1, declaredServers(before).enabled[previous.color]) }
        await this.switchAtRuntime(back, previous.token ?? '', [], slots).catch(() => undefined)
      }
      throw e
    }
  }

  /** The maintenance page and flag the backend refers to, when missing (a deploy leaves the flag as it is). */
  /** The app's maintenance flag and page as they must exist before its backend file names them. */
  private async missingMaintenanceFiles(): Promise<{ name: string; content: string }[]> {
    const files = [
      { name: maintenanceMapFile(this.app), content: renderMaintenanceMap(false) },
      { name: maintenancePageFile(this.app), content: DEFAULT_MAINTENANCE_PAGE }
    ]
    const present = await Promise.all(files.map(f => getFile(this.container, `${HAPROXY_CONF_DIR}/${f.name}`)))
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
    const [beforePage, beforeMap] = await Promise.all(
      [maintenancePageFile(this.app), maintenanceMapFile(this.app)].map(f => getFile(this.container, `${HAPROXY_CONF_DIR}/${f}`))
    )
    // mode live keeps the page the proxy has (nothing to reload for a page nobody sees).
    const wantedPage = on ? maintenancePage(page) : (beforePage ?? DEFAULT_MAINTENANCE_PAGE)
    await putFile(this.container, HAPROXY_CONF_DIR, maintenancePageFile(this.app), wantedPage)
    await putFile(this.container, HAPROXY_CONF_DIR, maintenanceMapFile(this.app), renderMaintenanceMap(on))
    let reload = beforePage !== wantedPage
    if (!hasMaintenanceRule(text, this.app)) {
      // Written by a cutover before maintenance existed: the same route with this version's rules.
      const rendered = renderAppConfig(route, parsed.token ?? '', declaredServers(text).slots, undefined, this.settings.sticky)
      await putFile(this.container, HAPROXY_CONF_DIR, appFile(this.app), rendered)
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

  /** One line on the admin socket: the new color's servers take new requests, the old ones drain. */
  private async switchAtRuntime(route: Route, token: string, addresses: (string | undefined)[], slots: number, canary?: Canary): Promise<void> {
    const be = backendName(this.app)
    const map = `${HAPROXY_CONF_DIR}/${verifyMapFile(this.app)}`
    const commands = [
      ...(canary ? canaryCommands(be, route, canary, slots, addresses) : switchCommands(be, route, slots, addresses)),
      `clear map ${map}`,
      ...(token ? [`add map ${map} ${token} ${encodeRelease(route.releaseId)}`] : [])
    ]
    const answer = await this.cli(commands.join('; '))
    const errors = runtimeErrors(answer)
    if (errors.length)
      throw new ProxyError(`HAProxy (${this.name}) refused the switch of ${this.app} to ${route.color}: ${sanitizeHostText(errors.join(' / '), 400)}`)
    this.log.info(
      canary
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

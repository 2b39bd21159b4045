import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type Docker from 'dockerode'
import type { ProxySettings, RegistryAuth } from '../core/config.js'
import type { Log } from '../core/log.js'
import type { Color } from '../core/names.js'
import type { Route, Router, VerifyResult } from '../engine/ports.js'
import { getFile } from '../transport/docker-ops.js'
import type { OpenStream } from '../transport/http-probe.js'
import { CaddyAdmin } from './caddy-admin.js'
import {
  appRecord,
  CADDY_SOCKET,
  decodeCaddyRelease,
  domainConflicts,
  renderAppRoute,
  withAppRoute,
  withMaintenance,
  type CaddyConfig
} from './caddy-config.js'
import { AUTOSAVE_PATH, CaddyContainer } from './caddy-lifecycle.js'
import { CADDY_CAPABILITIES } from './capabilities.js'
import { hostRunDir } from './haproxy-config.js'
import { maintenancePage } from './haproxy-strategy.js'
import { RELEASE_HEADER, VERIFY_HEADER } from './nginx-config.js'
import { confirmMaintenance, inspectIfExists, ProxyError, underLock, verifyThroughProxy, type HostFacts, type ProxyLocker } from './proxy-container.js'

/**
 * One Caddy container for every app on the host (proxy-type caddy), switched through Caddy's admin
 * API on a Unix socket in a host directory, reached over the SSH connection like HAProxy's. Caddy
 * 2.6 changes routes only by loading a whole new configuration: a switch is a graceful reload
 * (in-flight requests finish on the old color, within the longest drain-timeout on the proxy), and
 * Caddy closes every proxied WebSocket when it reloads (docs/reliability.md "proxy-type: caddy").
 */
export class CaddyRouter implements Router {
  readonly capabilities = CADDY_CAPABILITIES
  private readonly name: string
  private readonly admin: CaddyAdmin
  private readonly proxy: CaddyContainer

  constructor(
    private readonly docker: Docker,
    private readonly openTcp: OpenStream,
    openUnixSocket: (path: string) => Promise<Duplex>,
    private readonly settings: ProxySettings,
    private readonly app: string,
    registry: RegistryAuth | undefined,
    private readonly log: Log,
    private readonly lockProxy: ProxyLocker,
    hostFacts: () => Promise<HostFacts> = async () => ({})
  ) {
    this.name = settings.name
    const socketPath = `${hostRunDir(settings.name)}/${CADDY_SOCKET}`
    this.admin = new CaddyAdmin(this.name, socketPath, () => openUnixSocket(socketPath))
    this.proxy = new CaddyContainer({ docker, settings, registry, log, lockProxy, hostFacts, admin: this.admin })
  }

  async ensure(appNetwork: string): Promise<void> {
    await this.proxy.ensure(appNetwork)
  }

  /**
   * The configuration the proxy runs; with the proxy down, the one it saved (a restart resumes it).
   * undefined: no proxy container, or one that never ran.
   */
  private async config(): Promise<CaddyConfig | undefined> {
    const running = await this.admin.config().catch(() => undefined)
    if (running) return running as CaddyConfig
    if (!(await inspectIfExists(this.docker.getContainer(this.name)))) return undefined
    const saved = await getFile(this.docker.getContainer(this.name), AUTOSAVE_PATH).catch(() => undefined)
    try {
      return saved ? (JSON.parse(saved) as CaddyConfig) : undefined
    } catch {
      return undefined
    }
  }

  async current(): Promise<{ color: Color; releaseId: string } | undefined> {
    const record = appRecord(await this.config(), this.app)
    return record && { color: record.color, releaseId: record.releaseId }
  }

  /**
   * The app's route in a new configuration, loaded at once. Every app's route is in the one
   * configuration: read, changed and loaded under the proxy's lock, so two apps' runs never undo
   * each other. Caddy checks a configuration before it runs it: one it refuses leaves the old one.
   */
  async apply(route: Route): Promise<void> {
    const token = randomBytes(12).toString('hex')
    await underLock(this.lockProxy, async () => {
      const config = (await this.admin.config()) as CaddyConfig | null
      const taken = domainConflicts(config, this.app, this.settings.domains)
      if (taken.length) {
        const [first] = taken
        throw new ProxyError(
          `${taken.map(t => t.name).join(', ')} ${taken.length > 1 ? 'are' : 'is'} already routed to app ${first.app} on the proxy ${this.name}: ` +
            `give ${this.app} other 'domains', or remove them from ${first.app}. The proxy's routes were not changed.`
        )
      }
      const before = appRecord(config, this.app)
      // Maintenance stays on across a deploy (mode live ends it), as with HAProxy.
      const rendered = renderAppRoute(route, token, this.settings.domains, before?.maintenance)
      const next = withAppRoute(config, this.app, rendered, this.settings.drainTimeoutMs / 1000)
      await this.admin.load(next).catch((e: Error) => {
        throw new ProxyError(`${e.message}. The proxy keeps the configuration it had (${this.app} still on ${before?.color ?? 'no color'}).`)
      })
    })
    this.log.info(
      `Switched ${this.app} to ${route.color} on the proxy ${this.name} by a graceful reload of Caddy's configuration (admin API): ` +
        `requests in flight finish on the old color; Caddy closes the proxied WebSockets of every app on it`
    )
  }

  /**
   * mode maintenance (on) / live (off): the app's route with or without the page (503), loaded like
   * a switch (a reload: Caddy 2.6 has no runtime flag). Confirmed by a request through the proxy.
   */
  async maintenance(on: boolean, page: string | undefined): Promise<VerifyResult> {
    await underLock(this.lockProxy, async () => {
      const config = (await this.admin.config()) as CaddyConfig | null
      const record = appRecord(config, this.app)
      if (!record) throw new ProxyError(`The proxy ${this.name} has no route for ${this.app}: deploy it first`)
      // mode live drops the page; mode maintenance serves the one given, or the built-in one.
      const next = withAppRoute(config, this.app, withMaintenance(record, on ? maintenancePage(page) : undefined), this.settings.drainTimeoutMs / 1000)
      await this.admin.load(next).catch((e: Error) => {
        throw new ProxyError(`${e.message}. The proxy keeps the configuration it had (maintenance of ${this.app} ${record.maintenance ? 'on' : 'off'}).`)
      })
    })
    this.log.info(`${on ? 'Turned on' : 'Ended'} maintenance of ${this.app} on the proxy ${this.name} by a graceful reload of Caddy's configuration`)
    return confirmMaintenance(this.openTcp, this.settings, on, 10_000)
  }

  async verify(route: Route, path: string, timeoutMs: number): Promise<VerifyResult> {
    const record = appRecord(await this.config(), this.app)
    // Without the token of the route being verified, the proxy names no release: verification fails.
    const token = record?.releaseId === route.releaseId ? record.token : ''
    // /load answers once the new servers accept and the old ones stopped accepting: one answer will do.
    const ask = { releaseId: route.releaseId, token, tokenHeader: VERIFY_HEADER, releaseHeader: RELEASE_HEADER, decode: decodeCaddyRelease, confirmAfterMs: 0 }
    return verifyThroughProxy(this.openTcp, this.settings, ask, path, timeoutMs)
  }

  async outdated(route: Route): Promise<boolean> {
    const record = appRecord(await this.config(), this.app)
    if (!record) return true
    const same = (a: string[], b: string[]) => a.length === b.length && a.every((d, i) => d === b[i])
    return !same(record.domains, this.settings.domains) || record.appPort !== route.appPort || record.replicas !== (route.replicas ?? 1)
  }
}

import type { Config, ProxySettings, SshConfig } from '../core/config.js'
import type { Log } from '../core/log.js'
import type { HostOutcome } from '../core/outcome.js'
import type { ReleaseAuthor } from '../core/release.js'
import { ReleaseEngine, type EngineDeps, type PlannedRelease } from '../engine/release.js'
import { engineConfigOf } from '../engine/context.js'
import { DeployLock, type LockHolder } from '../host/lock.js'
import { dockerOverSsh, type DockerConnection } from '../transport/docker.js'
import { SshSession } from '../transport/ssh.js'
import { hostAdapters, settleProxy, shellFor } from '../adapters.js'
import type { DomainCertificate } from '../engine/ports.js'
import { reportCertificates } from '../reporting/certificates.js'
import type { FleetMember } from './rollout.js'
import { StampedTimeline } from './timeline.js'

export function labelOf(ssh: SshConfig): string {
  return `${ssh.user}@${ssh.host.includes(':') ? `[${ssh.host}]` : ssh.host}:${ssh.port}`
}

/**
 * A host's lines in a log shared by hosts working in parallel: prefixed with the host, and no
 * collapsible groups (the runner cannot interleave them).
 */
export function hostLog(log: Log, label: string): Log {
  return {
    info: m => log.info(`[${label}] ${m}`),
    warning: m => log.warning(`[${label}] ${m}`),
    error: (m, title) => log.error(`[${label}] ${m}`, title),
    group: (name, fn) => {
      log.info(`[${label}] ▸ ${name}`)
      return fn()
    }
  }
}

export interface FleetContext {
  config: Config
  log: Log
  run: string
  author: ReleaseAuthor
  holder: LockHolder
  onPlanned?: (planned: PlannedRelease) => Promise<void>
}

/**
 * The run stopped before it changed anything because some hosts could not be reached (or locked).
 * `hosts` has every host of the input, in its order: `failed` with the reason for each that could
 * not, `skipped` for the others (reached, left as they were), for the `hosts` output and the summary.
 */
export class FleetConnectError extends Error {
  override name = 'FleetConnectError'
  constructor(
    message: string,
    readonly hosts: HostOutcome[]
  ) {
    super(message)
  }
}

/** Every host of the input: `failed` with its reason where `reasons` has one, `skipped` (left as it was) otherwise. */
export function untouchedHosts(labels: string[], reasons: Map<string, string>, why: string): HostOutcome[] {
  return labels.map(host => {
    const reason = reasons.get(host)
    return reason !== undefined ? { host, result: 'failed', error: reason } : { host, result: 'skipped', error: `Nothing was done here: ${why}` }
  })
}

/** One connected host: its SSH connection, Docker agent, lock (or lock-free shell) and timeline. */
class ConnectedHost implements FleetMember {
  shell?: DeployLock
  /** The proxy as settled on this host (proxy-type auto: the type it already runs). */
  proxy?: ProxySettings
  readonly timeline: StampedTimeline
  readonly log: Log

  constructor(
    readonly label: string,
    readonly ssh: SshSession,
    readonly docker: DockerConnection,
    private readonly ctx: FleetContext
  ) {
    this.log = hostLog(ctx.log, label)
    this.timeline = new StampedTimeline(this.log)
  }

  engine(extra: Partial<EngineDeps>): ReleaseEngine {
    const { config, run, author, holder, onPlanned } = this.ctx
    return new ReleaseEngine({
      config: engineConfigOf(config),
      ...hostAdapters(config, this.proxy!, { ssh: this.ssh, docker: this.docker.docker, shell: this.shell! }, holder, this.log),
      log: this.log,
      timeline: this.timeline,
      run,
      author,
      onPlanned,
      ...extra
    })
  }

  /** The certificates this host's proxy serves for the app (tls on; empty otherwise, or with no web role). */
  async certificates(): Promise<DomainCertificate[]> {
    const { config, holder } = this.ctx
    if (config.roles?.web === false || !this.shell || this.lost()) return []
    const { router } = hostAdapters(config, this.proxy!, { ssh: this.ssh, docker: this.docker.docker, shell: this.shell }, holder, this.log)
    return (await reportCertificates(router, this.log)).map(c => ({ ...c, host: this.label }))
  }

  switchedAt(): number | undefined {
    return this.timeline.switchedAt
  }

  lost(): string | undefined {
    return this.ssh.lost?.message
  }

  close(): void {
    this.shell?.release()
    this.shell = undefined
    this.docker.agent.destroy()
    this.ssh.close()
  }
}

/**
 * The hosts of a run: connected in parallel, then locked one after the other in a fixed order
 * (sorted labels), so two runs over overlapping hosts never hold a lock the other waits for.
 */
export class FleetHosts {
  private constructor(readonly members: ConnectedHost[]) {}

  /** Connects to every host; if any cannot be reached, closes the others and throws naming each. */
  static async connect(ctx: FleetContext, note: (detail: string) => void): Promise<FleetHosts> {
    const hosts = ctx.config.fleet!.hosts
    const settled = await Promise.allSettled(
      hosts.map(async ssh => {
        const label = labelOf(ssh)
        const session = await SshSession.connect(ssh)
        const docker = dockerOverSsh(session, ctx.config.dockerSocket)
        try {
          const version = await docker.docker.version()
          const host = new ConnectedHost(label, session, docker, ctx)
          session.onLost(e => host.log.warning(e.message))
          host.log.info(`Connected: Docker ${version.Version} (API ${version.ApiVersion}, ${version.Os}/${version.Arch})`)
          host.proxy = await settleProxy(docker.docker, ctx.config, host.log)
          return host
        } catch (e) {
          docker.agent.destroy()
          session.close()
          throw e
        }
      })
    )
    const connected = settled.flatMap(s => (s.status === 'fulfilled' ? [s.value] : []))
    const reasons = new Map(settled.flatMap((s, i) => (s.status === 'rejected' ? [[labelOf(hosts[i]), (s.reason as Error).message] as const] : [])))
    if (reasons.size) {
      for (const h of connected) h.close()
      const failed = [...reasons].map(([label, reason]) => `${label}: ${reason}`)
      const why = `${reasons.size === 1 ? 'a host' : 'hosts'} could not be reached`
      throw new FleetConnectError(
        `Could not connect to ${reasons.size} of ${hosts.length} hosts, so nothing was changed on any: ${failed.join('; ')}`,
        untouchedHosts(hosts.map(labelOf), reasons, why)
      )
    }
    note(`${connected.length} hosts`)
    return new FleetHosts(connected)
  }

  /** Takes each host's deploy lock in sorted order (mode status: lock-free shells). */
  async lock(ctx: FleetContext, locked: boolean): Promise<void> {
    const { config, holder } = ctx
    for (const host of [...this.members].sort((a, b) => a.label.localeCompare(b.label))) {
      try {
        host.shell = locked ? await shellFor(host.ssh, config, holder, host.log) : await DeployLock.unlocked(host.ssh, host.log)
      } catch (e) {
        const reason = (e as Error).message
        throw new FleetConnectError(
          `${host.label}: ${reason} (nothing was changed on any host)`,
          untouchedHosts(
            this.members.map(m => m.label),
            new Map([[host.label, reason]]),
            `${host.label} could not be locked`
          )
        )
      }
    }
  }

  /** Releases every lock and closes every connection; safe to call more than once. */
  close(): void {
    for (const h of this.members) h.close()
  }
}

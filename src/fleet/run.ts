import { randomBytes } from 'node:crypto'
import type { ReleaseResult } from '../core/outcome.js'
import type { DomainCertificate } from '../engine/ports.js'
import type { Timeline } from '../engine/timeline.js'
import { FleetHosts, type FleetContext } from './hosts.js'
import { fleetResult } from './outcome.js'
import { FleetRollout } from './rollout.js'
import { MODES } from '../engine/modes.js'

function newReleaseId(): string {
  return `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
}

/** A run over several hosts (input `host` with more than one line): connect, lock, roll out, report each host. */
export class FleetRun {
  private hosts?: FleetHosts
  private rollout?: FleetRollout
  private abortReason?: string

  constructor(
    private readonly ctx: FleetContext,
    private readonly timeline: Timeline
  ) {}

  async run(): Promise<ReleaseResult> {
    const { config, log } = this.ctx
    const fleet = config.fleet!
    this.hosts = await this.timeline.step('connect', `Connecting to ${fleet.hosts.length} hosts`, note => FleetHosts.connect(this.ctx, note))
    if (this.abortReason) throw new Error(`${this.abortReason}: stopped before anything was changed`)
    const mode = MODES[config.mode]
    const locked = mode.changes
    if (locked) await this.timeline.step('lock', `Taking the deploy lock of ${config.app} on each host`, () => this.hosts!.lock(this.ctx, true))
    else await this.hosts.lock(this.ctx, false)
    this.rollout = new FleetRollout(this.hosts.members, fleet, log, newReleaseId)
    if (this.abortReason) this.rollout.abort(this.abortReason)
    if (mode.switches) log.info(`Rollout: ${fleet.rollout}${fleet.rollout === 'rolling' ? ` in batches of ${fleet.batchSize}` : ''}`)
    const runs = await this.rollout.mode(mode, config)
    const result = fleetResult(config.mode, runs)
    for (const h of result.hosts ?? []) {
      log.info(`${h.host}: ${h.result}${h.color ? `, ${h.color} ${h.image} live (release ${h.release})` : ', nothing live'}${h.error ? ` — ${h.error}` : ''}`)
    }
    if (result.switchSpreadMs !== undefined) log.info(`The hosts' proxies switched within ${result.switchSpreadMs} ms of each other.`)
    if (result.drift) log.warning(`Drift: the hosts do not all have the same release live (see the hosts output).`)
    return result
  }

  /** Each host's certificates for the app, for the summary (every host's proxy has its own). */
  async certificates(): Promise<DomainCertificate[]> {
    return (await Promise.all((this.hosts?.members ?? []).map(h => h.certificates()))).flat()
  }

  abort(reason: string): void {
    this.abortReason ??= reason
    this.rollout?.abort(reason)
  }

  close(): void {
    this.hosts?.close()
  }
}

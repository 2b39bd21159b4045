import { randomBytes } from 'node:crypto'
import type { Config } from '../core/config.js'
import type { Log } from '../core/log.js'
import type { Color } from '../core/names.js'
import { ReleaseError } from '../core/outcome.js'
import type { Release, ReleaseAuthor, RoutingClaim } from '../core/release.js'
import { systemClock, type Clock, type ContainerHost, type Ledger, type Route, type Router } from './ports.js'
import type { Timeline } from './timeline.js'
import type { UntrustedOutput } from './release-command.js'

/**
 * The engine's slice of the configuration: what a release needs to know, without the SSH keys, the
 * GitHub token or the registry's password (the adapters hold those).
 */
export type EngineConfig = Omit<Config, 'ssh' | 'github' | 'registry' | 'fleet'>

/** The slice itself, so that the secrets are not even carried along. */
export function engineConfigOf(config: Config): EngineConfig {
  const { ssh, github, registry, fleet, ...slice } = config
  return slice
}

export interface PlannedRelease {
  color: Color
  image: string
  /** What serves now, if anything. */
  from?: { color: Color; image: string }
  /** The recorded release a rollback brings back (its commit is what the deployment should point at). */
  restores?: Release
  /** promote manual: the release will wait as a preview beside the live one, not go live. */
  preview?: boolean
}

export interface EngineDeps {
  config: EngineConfig
  host: ContainerHost
  router: Router
  ledger: Ledger
  log: Log
  timeline: Timeline
  /** Who is deploying, recorded in container labels. */
  run: string
  /** Who is deploying, recorded in the ledger. */
  author: ReleaseAuthor
  clock?: Clock
  /** Release ids; injectable for tests. */
  newId?: () => string
  /** Told what the release will do once it is planned (the GitHub deployment is created then). */
  onPlanned?: (planned: PlannedRelease) => Promise<void>
  /** Where a release command's output is printed (it is the container's text, not to be obeyed as workflow commands). */
  output?: UntrustedOutput
  /**
   * Several hosts switched as one (src/fleet): awaited once the new color is healthy, before the
   * switch. Rejecting stops the release before the switch, undoing the boot as any failure there does.
   */
  beforeSwitch?: () => Promise<void>
  /** Awaited after the switch verified; rejecting switches back to the previous color and undoes, as a failed verify does. */
  afterVerify?: () => Promise<void>
  /**
   * Several hosts, release-command: given the step that runs it here, runs it on one host of the
   * run only; the others wait for its outcome (a failure there stops them before their switch).
   */
  releaseCommandOnce?: (runHere: () => Promise<void>) => Promise<void>
  /** Several hosts, watch: told at once when this host's watch fails, so the others' watches end too. */
  onWatchFailed?: (reason: string) => void
  /** Several hosts, watch: why another host's watch failed, if it did (this host's watch then fails too). */
  watchFailedElsewhere?: () => string | undefined
  /** Several hosts, watch: awaited once this host's watch passed; rejecting rolls this host back as a failed watch does. */
  afterWatch?: () => Promise<void>
  /**
   * Several hosts, canary-steps: awaited at the end of each step with this host's verdict; resolves
   * with every host's, combined (a breach anywhere rolls every host back).
   */
  afterCanaryStep?: (weight: number, own: FleetStepVerdict) => Promise<FleetStepVerdict>
}

/** A canary step's verdict as several hosts agree it: any breach anywhere wins, then low traffic. */
export interface FleetStepVerdict {
  verdict: 'passed' | 'low-traffic' | 'breached'
  why: string
  /** The step ended because another host's breached: its reason is that host's. */
  echo?: boolean
}

function newReleaseId(): string {
  return `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
}

/**
 * What every step of a run shares, in place of an engine object's fields: the configuration slice,
 * the ports, the clock, the log and timeline, and the abort signal. It holds no state of the
 * release itself; the pipeline passes that along explicitly.
 */
export class EngineContext {
  readonly clock: Clock
  readonly newId: () => string
  private readonly aborter = new AbortController()
  private reason?: string

  constructor(readonly deps: EngineDeps) {
    this.clock = deps.clock ?? systemClock
    this.newId = deps.newId ?? newReleaseId
  }

  get config(): EngineConfig {
    return this.deps.config
  }
  get host(): ContainerHost {
    return this.deps.host
  }
  get router(): Router {
    return this.deps.router
  }
  get ledger(): Ledger {
    return this.deps.ledger
  }
  get log(): Log {
    return this.deps.log
  }
  get timeline(): Timeline {
    return this.deps.timeline
  }
  get app(): string {
    return this.deps.config.app
  }

  /** false with app-port: none: no web role, so no proxy is created, asked or switched. */
  get web(): boolean {
    return this.deps.config.roles?.web ?? true
  }

  /** What this app claims on its proxy with this run's inputs. */
  get claim(): RoutingClaim {
    const { name, domains, previewDomains } = this.deps.config.proxy
    return { proxy: name, domains, ...(previewDomains?.length ? { previewDomains } : {}) }
  }

  /** The claim the ledger records (none without a web role). */
  get routing(): RoutingClaim | undefined {
    return this.web ? this.claim : undefined
  }

  /** Fires on abort: what waits on a container (the release command) stops at once. */
  get signal(): AbortSignal {
    return this.aborter.signal
  }

  /** Why the run was told to stop (a signal), if it was. */
  get abortReason(): string | undefined {
    return this.reason
  }

  abort(reason: string): void {
    this.reason ??= reason
    this.aborter.abort()
  }

  /** Throws at a safe point once the run was told to stop; `live` is what still serves. */
  checkAborted(live: Release | undefined): void {
    if (this.reason)
      throw new ReleaseError({
        reason: `${this.reason}: stopped before the switch; ${live ? `${live.color} (${live.image}) is still live` : 'nothing was switched'}.`
      })
  }

  route(color: Color, releaseId: string, replicas = 1): Route {
    return { app: this.app, color, releaseId, appPort: this.deps.config.health.port, replicas }
  }

  /** The route to a recorded release. */
  routeTo(release: Release): Route {
    return this.route(release.color, release.id, release.replicas ?? 1)
  }

  nowIso(): string {
    return new Date(this.clock.now()).toISOString()
  }
}

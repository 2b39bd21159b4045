import type { Log } from '../core/log.js'
import { ReleaseError, type Failure, type HostResultKind, type ReleaseResult } from '../core/outcome.js'
import type { FleetSettings } from '../inputs/hosts.js'
import type { EngineDeps, ReleaseEngine } from '../engine/release.js'
import type { EngineConfig } from '../engine/context.js'
import type { ModeEntry } from '../engine/modes.js'
import type { ReleaseRequest } from '../engine/plan.js'
import { Barrier, StepMeetings } from './barrier.js'

/** One host of the run, as the rollout sees it. */
export interface FleetMember {
  /** user@host:port */
  label: string
  /** A new engine on this host (its own Docker, router, ledger, log), with the fleet's hooks. */
  engine(extra: Partial<Hooks>): ReleaseEngine
  /** When this host's proxy last switched (epoch ms), if it did in this run. */
  switchedAt(): number | undefined
  /** Why the host's connection was lost, if it was: that, not the call it broke, is the cause to report. */
  lost?(): string | undefined
}

export interface HostRun {
  host: string
  result: HostResultKind
  /** What the engine returned, or what it found live when it failed. */
  outcome?: ReleaseResult
  failure?: Failure
  switchedAt?: number
}

type Hooks = Pick<
  EngineDeps,
  'beforeSwitch' | 'afterVerify' | 'newId' | 'releaseCommandOnce' | 'onWatchFailed' | 'watchFailedElsewhere' | 'afterWatch' | 'afterCanaryStep'
>

/** What a failed engine reported live, so the host's row still says what serves there. */
function observedOf(e: unknown): ReleaseResult {
  return e instanceof ReleaseError && e.result ? { ...e.result, result: 'failed' } : { result: 'failed' }
}

/**
 * Runs one release over several hosts. `atomic`: every host boots and health-gates the new color,
 * then all switch together; a failure before the switch switches no host, a failure after it
 * switches every host back. `rolling`: batches in order, each one atomic, each gated before the
 * next; a failure stops there and (rollbackOnFailure) rolls the earlier batches back.
 */
export class FleetRollout {
  private readonly engines = new Set<ReleaseEngine>()
  private abortReason?: string

  constructor(
    private readonly members: FleetMember[],
    private readonly settings: FleetSettings,
    private readonly log: Log,
    private readonly newId: () => string
  ) {}

  /** Passes a cancel on to every running engine (each stops at its next safe point). */
  abort(reason: string): void {
    this.abortReason ??= reason
    for (const e of this.engines) e.abort(reason)
  }

  /** One mode over the hosts (engine/modes.ts): a mode that switches goes in batches with barriers; any other runs on each host at once. */
  mode(entry: ModeEntry, config: EngineConfig): Promise<HostRun[]> {
    return entry.switches ? this.inBatches(e => entry.run(e, config)) : this.each(e => entry.run(e, config))
  }

  release(request: ReleaseRequest): Promise<HostRun[]> {
    return this.inBatches(e => e.release(request))
  }

  status(): Promise<HostRun[]> {
    return this.each(e => e.status())
  }

  private async inBatches(run: (engine: ReleaseEngine) => Promise<ReleaseResult>): Promise<HostRun[]> {
    const { rollout, batchSize, rollbackOnFailure } = this.settings
    const batches: FleetMember[][] = []
    const size = rollout === 'atomic' ? this.members.length : batchSize
    for (let i = 0; i < this.members.length; i += size) batches.push(this.members.slice(i, i + size))
    // Every host records the same release id: the fleet's proxies and ledgers name one release.
    const releaseId = this.newId()
    const runs = new Map<string, HostRun>()
    for (const [i, batch] of batches.entries()) {
      if (batches.length > 1) this.log.info(`Batch ${i + 1} of ${batches.length}: ${batch.map(m => m.label).join(', ')}`)
      const results = await this.batch(batch, run, { newId: () => releaseId })
      for (const r of results) runs.set(r.host, r)
      if (results.every(r => r.result !== 'failed' && r.result !== 'cancelled' && r.result !== 'reverted')) continue
      if (i + 1 < batches.length) this.log.warning(`Batch ${i + 1} failed: the rollout stops; ${batches.length - i - 1} batch(es) not started.`)
      if (i > 0) {
        const done = batches.slice(0, i).flat()
        if (rollbackOnFailure) await this.revert(done, runs)
        else this.log.warning(`rollback-on-failure is false: ${done.map(m => m.label).join(', ')} keep the new release.`)
      }
      break
    }
    return this.members.map(m => runs.get(m.label) ?? { host: m.label, result: 'skipped' })
  }

  /** Runs on every host at once; a host that fails fails its row, not the others. */
  private async each(run: (engine: ReleaseEngine) => Promise<ReleaseResult>): Promise<HostRun[]> {
    return Promise.all(
      this.members.map(async m => {
        const engine = m.engine({})
        try {
          const outcome = await run(engine)
          return { host: m.label, result: outcome.result, outcome }
        } catch (e) {
          return { host: m.label, result: 'failed' as const, failure: failureOf(e), outcome: observedOf(e) }
        }
      })
    )
  }

  /** release-command on several hosts: the host that got to it first, and how its run went. */
  private releaseCommand?: { host: string; done: Promise<void> }

  /** The release command runs once, on the first host to reach it; the others wait for it before they boot. */
  private releaseCommandOnce(label: string, halt: () => void): NonNullable<EngineDeps['releaseCommandOnce']> {
    return async runHere => {
      if (!this.releaseCommand) {
        this.log.info(`release-command: runs once, on ${label}; the other hosts wait for it before they start the new color`)
        this.releaseCommand = { host: label, done: runHere() }
        return this.releaseCommand.done
      }
      const { host, done } = this.releaseCommand
      await done.catch((e: Error) => {
        halt()
        throw new ReleaseError({ reason: `Not started, because the release command failed on ${host} (${e.message}): no host switches` })
      })
    }
  }

  /** One atomic batch: barriers before the switch, after the verify and after the watch. */
  private async batch(batch: FleetMember[], run: (engine: ReleaseEngine) => Promise<ReleaseResult>, hooks: Pick<Hooks, 'newId'>): Promise<HostRun[]> {
    const labels = batch.map(m => m.label)
    const gated = new Barrier(labels)
    const verified = new Barrier(labels)
    const watched = new Barrier(labels)
    const steps = new StepMeetings(labels)
    let watchFailure: { host: string; reason: string } | undefined
    if (batch.length > 1) this.log.info(`${batch.length} hosts: each boots and health-gates the new color; they switch together once all are healthy.`)
    return Promise.all(
      batch.map(async (m): Promise<HostRun> => {
        let halted: 'before-switch' | 'after-verify' | 'after-watch' | undefined
        const engine = m.engine({
          ...hooks,
          releaseCommandOnce: this.releaseCommandOnce(m.label, () => (halted = 'before-switch')),
          onWatchFailed: reason => {
            watchFailure ??= { host: m.label, reason }
            watched.fail(m.label, reason)
          },
          watchFailedElsewhere: () => {
            if (!watchFailure || watchFailure.host === m.label) return undefined
            halted = 'after-watch'
            return `the watch failed on ${watchFailure.host} (${watchFailure.reason}), so every host rolls back`
          },
          afterCanaryStep: async (weight, own) => {
            const agreed = await steps.arrive(m.label, weight, own)
            // Another host's verdict ends this host's canary (its own passed): switching back is a revert, as after another host's watch.
            if (own.verdict === 'passed' && agreed.verdict !== 'passed') halted = 'after-watch'
            return agreed
          },
          afterWatch: () =>
            watched.arrive(m.label).catch((e: Error) => {
              halted = 'after-watch'
              throw new Error(`${e.message.replace(/ failed \(/, "'s watch failed (")}, so every host rolls back`)
            }),
          beforeSwitch: () =>
            gated.arrive(m.label).catch((e: Error) => {
              halted = 'before-switch'
              throw new ReleaseError({ reason: `Not switched, because ${e.message}: no host switches` })
            }),
          afterVerify: () =>
            verified.arrive(m.label).catch((e: Error) => {
              halted = 'after-verify'
              throw new Error(`Switching every host back, because ${e.message}`)
            })
        })
        this.engines.add(engine)
        if (this.abortReason) engine.abort(this.abortReason)
        try {
          const outcome = await run(engine)
          gated.leave(m.label)
          verified.leave(m.label)
          watched.leave(m.label)
          steps.leave(m.label)
          return { host: m.label, result: outcome.result, outcome, switchedAt: m.switchedAt() }
        } catch (e) {
          const lost = m.lost?.()
          const failure = lost ? { reason: `${lost}. Nothing more could be done on this host; the next run recovers what this one left.` } : failureOf(e)
          if (!halted) {
            gated.fail(m.label, failure.reason)
            verified.fail(m.label, failure.reason)
          }
          // A watch that failed here has told the others already; any other failure after the switch is this host's alone.
          if (!(e instanceof ReleaseError && e.result?.result === 'auto-rolled-back')) watched.leave(m.label)
          steps.leave(m.label)
          const result = halted === 'before-switch' ? 'cancelled' : halted === 'after-verify' || halted === 'after-watch' ? 'reverted' : 'failed'
          return { host: m.label, result, failure, outcome: observedOf(e), switchedAt: m.switchedAt() }
        } finally {
          this.engines.delete(engine)
        }
      })
    )
  }

  /** Rolls hosts of earlier batches back to the release live before this run. */
  private async revert(members: FleetMember[], runs: Map<string, HostRun>): Promise<void> {
    const switched = members.filter(m => ['deployed', 'rolled-back'].includes(runs.get(m.label)?.result ?? ''))
    if (!switched.length) return
    this.log.info(`rollback-on-failure: switching ${switched.map(m => m.label).join(', ')} back to their previous release`)
    const revertId = this.newId()
    await Promise.all(
      switched.map(async m => {
        const engine = m.engine({ newId: () => revertId })
        try {
          const outcome = await engine.release({ kind: 'rollback' })
          runs.set(m.label, {
            host: m.label,
            result: 'reverted',
            outcome,
            failure: { reason: 'Switched back to its previous release after a later batch failed' }
          })
        } catch (e) {
          const failure = failureOf(e)
          runs.set(m.label, {
            host: m.label,
            result: 'failed',
            outcome: observedOf(e),
            failure: { ...failure, reason: `A later batch failed and switching this host back failed: ${failure.reason}` }
          })
        }
      })
    )
  }
}

function failureOf(e: unknown): Failure {
  return e instanceof ReleaseError ? e.failure : { reason: (e as Error).message }
}

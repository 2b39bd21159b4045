import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import type { Release } from '../core/release.js'
import { ContainerColorSet, type ColorSet } from './color-set.js'
import { EngineContext, type EngineDeps, type PlannedRelease } from './context.js'
import type { Serving } from './exposure.js'
import { runRelease } from './pipeline.js'
import { runRemove } from './remove.js'
import type { ReleaseRequest } from './plan.js'
import { runPromote } from './promote.js'
import { failedResultOf } from './results.js'
import { runStatus } from './status.js'
import { switchMaintenance } from './strategy.js'

export type { EngineDeps, PlannedRelease }

/**
 * The release engine of one host: deploy, rollback, promote and status over the pipeline
 * (pipeline.ts). Every failure leaves it as a ReleaseError whose result says what serves, so no
 * caller reads the engine's state after a failure.
 */
export class ReleaseEngine {
  private readonly ctx: EngineContext
  private readonly colors: ColorSet
  /** What the run in progress knows serves; read only by a hard stop, which cannot wait for the run's own outcome. */
  private serving: Serving = { releases: [] }

  constructor(deps: EngineDeps, colors?: (ctx: EngineContext) => ColorSet) {
    this.ctx = new EngineContext(deps)
    this.colors = colors ? colors(this.ctx) : new ContainerColorSet(this.ctx)
  }

  /** A deploy or a rollback: start or reuse the idle color, gate on health, expose, verify, clean up. */
  release(request: ReleaseRequest): Promise<ReleaseResult> {
    return this.outcome(serving => runRelease(this.ctx, this.colors, request, serving))
  }

  /** mode promote: the canary or the preview becomes live. */
  promote(): Promise<ReleaseResult> {
    return this.outcome(serving => runPromote(this.ctx, this.colors, serving))
  }

  /** mode maintenance (on) / live (off): the proxy's answers for the app, nothing else. */
  maintenance(on: boolean): Promise<ReleaseResult> {
    return this.outcome(() => switchMaintenance(this.ctx.deps, on))
  }

  /** mode remove: the app off the proxy gracefully, then off the host (remove.ts). */
  remove(): Promise<ReleaseResult> {
    return this.outcome(serving => runRemove(this.ctx, this.colors, serving))
  }

  /** Reads what is live and on standby without changing anything. */
  status(): Promise<ReleaseResult> {
    return this.outcome(serving => runStatus(this.ctx, this.colors, serving))
  }

  /**
   * Asks the release to stop at the next safe point: before the switch it undoes what it started and
   * fails; once the switch is verified it finishes (the new color is live either way).
   */
  abort(reason: string): void {
    this.ctx.abort(reason)
  }

  /** What serves as far as the run in progress knows, for a run that must stop at once (a second cancel). */
  snapshot(): ReleaseResult {
    return failedResultOf(this.serving.live, this.serving.releases)
  }

  /** The single error path: whatever failed, the error carries what serves as far as the run knows. */
  private async outcome(run: (serving: Serving) => Promise<ReleaseResult>): Promise<ReleaseResult> {
    const serving: Serving = (this.serving = { releases: [] })
    try {
      return await run(serving)
    } catch (e) {
      throw withOutcome(e, serving.live, serving.releases)
    }
  }
}

/** `e` as a ReleaseError that says what is live; an error that is not the release's own is marked as the infrastructure's. */
export function withOutcome(e: unknown, live: Release | undefined, releases: Release[]): ReleaseError {
  if (e instanceof ReleaseError) return e.result ? e : new ReleaseError(e.failure, failedResultOf(live, releases), e.infrastructure)
  return new ReleaseError({ reason: (e as Error).message }, failedResultOf(live, releases), true)
}

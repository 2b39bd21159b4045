import type { Capability } from '../core/capabilities.js'
import type { ReleaseResult } from '../core/outcome.js'
import type { LedgerRecord, Release, WorkerRecord } from '../core/release.js'
import { ReleaseError } from '../core/outcome.js'
import type { ActivePlan, ColorSet } from './color-set.js'
import type { EngineContext } from './context.js'
import { describeAnswer } from './describe.js'
import type { Route, VerifyResult } from './ports.js'
import type { UndoStack } from './undo.js'

export const VERIFY_TIMEOUT_MS = 10_000
/** The last look through the proxy at the end of a run: a live app answers well within this. */
const CONFIRM_TIMEOUT_MS = 2000

/** What the run knows serves, kept current as the pipeline goes: the failure path reports it. */
export interface Serving {
  live?: Release
  releases: Release[]
}

/** One release on its way to being exposed: what the pipeline hands an exposure. */
export interface ExposureRun {
  ctx: EngineContext
  colors: ColorSet
  plan: ActivePlan
  record: LedgerRecord
  /** What served when the run started. */
  live: Release | undefined
  release: Release
  /** The new color's route. */
  route: Route
  workers: WorkerRecord[]
  kind: 'deploy' | 'rollback'
  undo: UndoStack
  serving: Serving
  /**
   * What the gate left going (the new containers' restart policy): awaited by every exposure before
   * it changes a route, so a host that reboots after the switch starts the new color. The switch
   * awaits it beside its pending ledger write.
   */
  ready: () => Promise<void>
}

/**
 * How a gated color is exposed: switched to, given a canary's share, waiting as a preview, or (no
 * web role) nothing at all. Each declares the router capabilities it needs; `expose` routes and
 * records, pushing its own revert onto the run's undo stack; `settle` runs once the exposure is
 * verified and committed: it records the outcome, cleans up and returns the result.
 */
export interface Exposure {
  readonly kind: 'switch' | 'canary' | 'preview' | 'none'
  readonly needs: readonly Capability[]
  /** The input that asked for it, for a capability refusal. */
  readonly input?: string
  expose(run: ExposureRun): Promise<void>
  settle(run: ExposureRun): Promise<ReleaseResult>
}

/** The verify step: asks through the proxy until `route`'s release answers, or VERIFY_TIMEOUT_MS. */
export function verifyStep(ctx: EngineContext, route: Route): Promise<VerifyResult> {
  const { router, config, timeline } = ctx
  return timeline.step('verify', 'Verifying through the proxy', async note => {
    const v = await router.verify(route, config.health.path, VERIFY_TIMEOUT_MS)
    note(`${describeAnswer(v.last)} after ${v.ms} ms`)
    return v
  })
}

/** Writes the ledger as part of undoing: a failure is said, not thrown (the next run settles the record). */
export async function rewriteLedger(ctx: EngineContext, record: LedgerRecord): Promise<void> {
  await ctx.ledger.write(record).catch(e => ctx.log.warning(`Could not update the release ledger: ${(e as Error).message} (the next run settles it)`))
}

/**
 * Routes the app to `live` alone. A proxy that does not answer (killed, or its container stopped)
 * is started again first — its saved routes come back with it — and asked once more, so the run
 * that sees the proxy down brings it back.
 */
export async function routeBack(ctx: EngineContext, live: Release, network: string): Promise<void> {
  try {
    await ctx.router.apply(ctx.routeTo(live))
  } catch (e) {
    ctx.log.warning(`Routing ${ctx.app} to ${live.color} failed (${(e as Error).message}): starting the proxy again if it is down, then trying once more`)
    await ctx.router.ensure(network)
    await ctx.router.apply(ctx.routeTo(live))
  }
}

/**
 * At the end of a run that switched: the proxy still answers from the release the run reports. A
 * proxy killed since the switch (docker kill, the kernel's OOM killer) is started again, its
 * saved routes with it; if it still does not answer, the run fails saying so.
 */
export async function confirmServed(ctx: EngineContext, release: Release, network: string): Promise<void> {
  const route = ctx.routeTo(release)
  const first = await ctx.router.verify(route, ctx.config.health.path, CONFIRM_TIMEOUT_MS).catch((e: Error) => e)
  if (!(first instanceof Error) && first.ok) return
  ctx.log.warning(
    `The proxy no longer answers from ${release.color} (${first instanceof Error ? first.message : describeAnswer(first.last)}): starting it again if it is down`
  )
  await ctx.router.ensure(network)
  const again = await ctx.router.verify(route, ctx.config.health.path, VERIFY_TIMEOUT_MS)
  if (!again.ok)
    throw new ReleaseError({
      reason: `At the end of the run the proxy did not answer from ${release.color} (${release.image}) within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(again.last)}), though it routes there: check the proxy container.`
    })
}

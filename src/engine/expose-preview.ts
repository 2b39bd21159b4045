import { containerName, networkName } from '../core/names.js'
import { ReleaseError, type PreviewState, type ReleaseResult } from '../core/outcome.js'
import { previewUrlOf } from '../core/preview.js'
import type { LedgerRecord } from '../core/release.js'
import type { EngineContext } from './context.js'
import { describeAnswer } from './describe.js'
import { rewriteLedger, routeBack, VERIFY_TIMEOUT_MS, verifyStep, type Exposure, type ExposureRun } from './exposure.js'
import { resultOf } from './results.js'

export function previewState(ctx: EngineContext, preview: NonNullable<LedgerRecord['preview']>): PreviewState {
  const url = previewUrlOf(ctx.config.proxy)
  return { color: preview.release.color, image: preview.release.image, since: preview.since, ...(url ? { url } : {}) }
}

/**
 * promote manual: the gated new color is left waiting, recorded as the preview, the preview
 * domains routed to it, the live color serving every request as before.
 */
export const previewExposure: Exposure = {
  kind: 'preview',
  needs: ['preview'],
  input: 'promote',
  async expose(run: ExposureRun): Promise<void> {
    const { ctx, plan, record, release, route, undo } = run
    const live = run.live!
    await run.ready()
    const preview = ctx.router.preview!.bind(ctx.router)
    const liveRoute = ctx.routeTo(live)
    release.liveSince = ctx.nowIso()
    // Recorded before the proxy learns of it: a run that dies here leaves a preview the next run promotes, discards or replaces.
    await ctx.ledger.write({ ...record, pending: undefined, canary: undefined, preview: { release, since: release.liveSince }, routing: ctx.claim })
    // What was recorded before this run (a preview this one would have replaced is back with its containers).
    undo.push('the preview record', () => rewriteLedger(ctx, { ...record, pending: undefined }))
    const domains = ctx.config.proxy.previewDomains ?? []
    undo.push(`the preview routing to ${plan.color}`, () => routeBack(ctx, live, networkName(ctx.app)), {
      live,
      why: `The preview domains may still reach ${plan.color} (${plan.image}), so its containers were kept and the preview stays recorded: mode rollback discards it.`
    })
    await ctx.timeline.step('switch', domains.length ? `Routing ${domains.join(', ')} to ${plan.color}` : `Keeping ${live.color} live`, () =>
      preview(liveRoute, route).catch((e: Error) => {
        throw new ReleaseError({
          reason: `The proxy could not route the preview to ${plan.color}: ${e.message}. ${live.color} (${live.image}) is still live.`
        })
      })
    )
    const verified = await verifyStep(ctx, liveRoute)
    if (!verified.ok)
      throw new ReleaseError({
        reason: `After routing the preview the proxy did not answer from ${live.color} within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(verified.last)}).`
      })
    if (ctx.deps.afterVerify) await ctx.deps.afterVerify()
  },

  async settle(run: ExposureRun): Promise<ReleaseResult> {
    const { ctx, colors, plan, record, release } = run
    const live = run.live!
    const state = previewState(ctx, { release, since: release.liveSince })
    ctx.log.info(
      `${plan.image} on ${plan.color} is healthy and waits for mode promote${state.url ? `; preview it at ${state.url}` : ' (no preview-domains reach it)'}. ${live.image} on ${live.color} still serves every request; mode rollback discards the preview.`
    )
    // The containers the preview replaced (the old standby, or an earlier preview) go after their drain; the live color stays as it is.
    await ctx.timeline.step('cleanup', 'Cleaning up', () => colors.retireReplaced(live, plan.color, record.endedCanary))
    const info = await ctx.host.inspect(containerName(ctx.app, plan.color))
    return { ...resultOf('preview', release, record.releases, info?.id), previousColor: live.color, previousImage: live.image, preview: state }
  }
}

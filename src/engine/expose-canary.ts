import { containerName, networkName } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import { describeAnswer } from './describe.js'
import { rewriteLedger, routeBack, VERIFY_TIMEOUT_MS, verifyStep, type Exposure, type ExposureRun } from './exposure.js'
import { resultOf } from './results.js'

/**
 * canary-weight: the gated new color takes `weight` % of new requests beside the live one.
 * Recorded first, so a run that dies here leaves a canary the next promote or rollback ends.
 */
export function canaryExposure(weight: number): Exposure {
  return {
    kind: 'canary',
    needs: ['weights'],
    input: 'canary-weight',
    async expose(run: ExposureRun): Promise<void> {
      const { ctx, plan, record, release, route, undo } = run
      const live = run.live!
      await run.ready()
      const canary = ctx.router.canary!.bind(ctx.router)
      const liveRoute = ctx.routeTo(live)
      release.liveSince = ctx.nowIso()
      await ctx.ledger.write({ ...record, pending: undefined, preview: undefined, canary: { release, weight, since: release.liveSince } })
      undo.push('the canary record', () => rewriteLedger(ctx, { ...record, pending: undefined, canary: undefined }))
      // Pushed before the proxy is told: one that fails half-way is routed back too.
      undo.push(`the canary's share on ${plan.color}`, () => routeBack(ctx, live, networkName(ctx.app)), {
        live,
        why: `The proxy may still send ${weight} % of new requests to ${plan.color} (${plan.image}), so its containers were kept and the canary stays recorded: mode rollback ends it.`
      })
      await ctx.timeline.step('switch', `Sending ${weight} % of new requests to ${plan.color}`, () =>
        canary(liveRoute, route, weight).catch((e: Error) => {
          throw new ReleaseError({
            reason: `The proxy could not start the canary on ${plan.color}: ${e.message}. ${live.color} (${live.image}) is still live.`
          })
        })
      )
      const verified = await verifyStep(ctx, liveRoute)
      if (!verified.ok)
        throw new ReleaseError({
          reason: `After the canary started the proxy did not answer within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(verified.last)}).`
        })
      if (ctx.deps.afterVerify) await ctx.deps.afterVerify()
    },

    async settle(run: ExposureRun): Promise<ReleaseResult> {
      const { ctx, colors, plan, record, release } = run
      const live = run.live!
      ctx.log.info(
        `${plan.image} on ${plan.color} serves ${weight} % of new requests; ${live.image} on ${live.color} the rest. mode promote makes it live, mode rollback ends it.`
      )
      // The containers the canary replaced (the old standby) go after their drain; the live color stays as it is.
      await ctx.timeline.step('cleanup', 'Cleaning up', () => colors.retireReplaced(live, plan.color, record.endedCanary))
      const info = await ctx.host.inspect(containerName(ctx.app, plan.color))
      return { ...resultOf('canary', release, record.releases, info?.id), previousColor: live.color, previousImage: live.image }
    }
  }
}

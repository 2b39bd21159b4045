import type { CanaryStepsSettings } from '../core/config.js'
import { containerName, networkName } from '../core/names.js'
import { ReleaseError, type CanaryStepReport, type ReleaseResult } from '../core/outcome.js'
import { walkCanarySteps } from './canary-steps.js'
import { describeAnswer } from './describe.js'
import { canaryExposure } from './expose-canary.js'
import { switchExposure } from './expose-switch.js'
import { rewriteLedger, routeBack, verifyStep, type Exposure, type ExposureRun } from './exposure.js'
import { resultOf } from './results.js'

/**
 * canary-steps (issue #24): the canary starts at the first weight as canary-weight does (gated,
 * recorded, verified), then climbs weight by weight, each step judged against the live color from
 * the proxy's counters. Every step passed: a full switch to it (graceful, as any switch). A breach:
 * the live color alone again at once (graceful too), recorded, and the run fails with result
 * auto-rolled-back. Too few requests: canary-low-traffic decides.
 */
export function canaryStepsExposure(s: CanaryStepsSettings): Exposure {
  const first = canaryExposure(s.weights[0])
  return {
    kind: 'canary',
    needs: ['weights', 'stats'],
    input: 'canary-steps',
    expose: run => first.expose(run),
    async settle(run: ExposureRun): Promise<ReleaseResult> {
      const { ctx, plan, record, release, route } = run
      const live = run.live!
      let steps: CanaryStepReport[] = []
      const setWeight = async (weight: number) => {
        await ctx.timeline.step('switch', `Sending ${weight} % of new requests to ${plan.color}`, () => ctx.router.canary!(ctx.routeTo(live), route, weight))
        await rewriteLedger(ctx, { ...record, pending: undefined, preview: undefined, canary: { release, weight, since: release.liveSince } })
      }
      const end = await ctx.timeline
        .step('watch', `Canary steps ${s.weights.join(' → ')} %, ${Math.round(s.stepMs / 1000)} s each`, async note => {
          const e = await walkCanarySteps(run, s, setWeight)
          steps = e.steps
          note(e.steps.map(r => `${r.weight} %: ${r.verdict}`).join(', '))
          return e
        })
        .catch((e: Error) => ({ kind: 'rollback' as const, steps, why: `the canary's weight could not be changed: ${e.message}` }))
      if (end.kind === 'rollback') throw await endCanarySteps(run, `canary-steps: ${end.why}`, end.steps)
      if (end.kind === 'hold') {
        const result = await canaryExposure(end.weight).settle(run)
        ctx.log.info(`canary-steps: the canary stays at ${end.weight} %: ${end.why}. mode promote makes it live, mode rollback ends it.`)
        if (ctx.abortReason)
          throw new ReleaseError(
            { reason: `canary-steps: ${end.why}: the canary stays at ${end.weight} %; mode promote or rollback ends it.` },
            { ...result, canarySteps: steps }
          )
        return { ...result, canarySteps: steps }
      }
      return { ...(await promote(run, steps)), canarySteps: steps }
    }
  }
}

/** Every step passed: the whole app to the canary's color, verified; the switch exposure records and cleans up. */
async function promote(run: ExposureRun, steps: CanaryStepReport[]): Promise<ReleaseResult> {
  const { ctx, plan, route } = run
  ctx.log.info(`canary-steps: every step passed: switching every new request to ${plan.color}`)
  const switched = await ctx.timeline
    .step('switch', `Promoting ${plan.color}: every new request`, () => ctx.router.apply(route))
    .then(
      () => undefined,
      (e: Error) => `the proxy could not be switched to ${plan.color} (${e.message})`
    )
  if (switched) throw await endCanarySteps(run, `canary-steps passed, but ${switched}`, steps)
  const verified = await verifyStep(ctx, route)
  if (!verified.ok)
    throw await endCanarySteps(
      run,
      `canary-steps passed, but after the switch the proxy did not answer from ${plan.color} (${describeAnswer(verified.last)})`,
      steps
    )
  return switchExposure.settle(run)
}

/** Ends the canary (the live color alone, recorded so), cleans up, and returns the error that reports it. */
async function endCanarySteps(run: ExposureRun, why: string, steps: CanaryStepReport[]): Promise<ReleaseError> {
  const { ctx, colors, plan, record, release } = run
  const live = run.live!
  ctx.log.warning(why)
  const back = await ctx.timeline
    .step('switch', `Ending the canary on ${plan.color}`, () => routeBack(ctx, live, networkName(ctx.app)))
    .then(
      () => undefined,
      (e: Error) => e
    )
  if (back) {
    return new ReleaseError({
      reason: `${why}; ending the canary failed too (${back.message}), so the proxy may still send a share of new requests to ${plan.color} (${plan.image}): it stays recorded as a canary, mode rollback ends it. ${live.color} (${live.image}) is live.`
    })
  }
  const verified = await verifyStep(ctx, ctx.routeTo(live))
  const updated = { ...record, pending: undefined, preview: undefined, canary: undefined, endedCanary: { color: plan.color, at: ctx.nowIso() } }
  await rewriteLedger(ctx, updated)
  run.serving.live = live
  const standby = await ctx.timeline.step('cleanup', 'Cleaning up', async () => {
    const [, kept] = await Promise.all([colors.retireReplaced(live, plan.color, record.endedCanary), colors.keepPrevious(release, plan.color)])
    return kept
  })
  const info = await ctx.host.inspect(containerName(ctx.app, live.color))
  const unconfirmed = verified.ok ? '' : ` (the proxy did not confirm it: ${describeAnswer(verified.last)})`
  return new ReleaseError(
    { reason: `${why}: the canary was ended, ${live.color} (${live.image}) serves every request${unconfirmed}.` },
    { ...resultOf('auto-rolled-back', live, updated.releases, info?.id, standby), canarySteps: steps }
  )
}

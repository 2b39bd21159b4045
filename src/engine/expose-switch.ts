import { containerName, networkName, otherColor } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import { withLive } from '../core/release.js'
import { describeAnswer } from './describe.js'
import { confirmServed, rewriteLedger, routeBack, VERIFY_TIMEOUT_MS, verifyStep, type Exposure, type ExposureRun } from './exposure.js'
import { resultOf } from './results.js'
import { watchLive } from './watch-live.js'

/** The whole app to the new color: a graceful switch, verified through the proxy, then recorded live. */
export const switchExposure: Exposure = {
  kind: 'switch',
  needs: [],
  async expose(run: ExposureRun): Promise<void> {
    const { ctx, plan, record, live, release, route, undo } = run
    // Written before the switch: a run that dies between the switch and the final write is
    // finished by the next one, which finds the proxy already routing to this pending release.
    const ready = run.ready()
    ready.catch(() => undefined) // awaited below, once the pending write's undo is pushed
    await ctx.ledger.write({ ...record, pending: release })
    undo.push('the pending release in the ledger', () => rewriteLedger(ctx, { ...record, pending: undefined }))
    await ready
    ctx.checkAborted(live)
    // Pushed before the switch: a proxy that dies while it is told may have saved the new route, so
    // a failed switch routes back too. If that fails as well, what it routes to is not known.
    // A first deploy (nothing live) has nothing to route back to: its claim leaves the proxy instead,
    // or its domains (or the default server) would stay taken with no app behind them (issue #22).
    const back = undo.push(`the switch to ${plan.color}`, async () => (live ? routeBack(ctx, live, networkName(ctx.app)) : withdrawFirst(ctx)), {
      live: undefined,
      why: live
        ? `Routing ${ctx.app} back to ${live.color} failed too, so what the proxy routes to is not known (its saved configuration names ${live.color} or ${plan.color}): both colors' containers were kept, and the next run settles it from the proxy's route.`
        : `Taking ${ctx.app} off the proxy failed too, so the proxy may still route its domains to ${plan.color}: its containers were kept; the next deploy settles it, or mode remove frees the domains.`
    })
    await ctx.timeline.step('switch', `Switching the proxy to ${plan.color}`, () =>
      ctx.router.apply(route).catch((e: Error) => {
        throw new ReleaseError({
          reason: `The proxy could not be switched to ${plan.color}: ${e.message}. ${live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'}`
        })
      })
    )
    // Switched: if switching back fails, the proxy's configuration names this release. Its
    // containers stay and the ledger keeps it pending, so a restarted proxy serves what the record says.
    back.ifStuck = {
      live: release,
      why: `The proxy's configuration still routes ${ctx.app} to ${plan.color} (${plan.image}), so its containers were kept and the ledger records it as pending; the next run settles it.`
    }
    const backText = async () => {
      const failed = await undo.runNow(back)
      if (!live) return failed ? `; taking ${ctx.app} off the proxy failed too (${failed.message})` : ` (nothing was live: ${ctx.app} was taken off the proxy)`
      return failed ? `; switching back to ${live.color} failed too (${failed.message})` : ` to ${live.color}`
    }
    const verified = await verifyStep(ctx, route)
    if (!verified.ok) {
      const text = await backText()
      throw new ReleaseError({
        reason: `After the switch the proxy did not answer from ${plan.color} within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(verified.last)}), so it was switched back${text}.`
      })
    }
    if (ctx.deps.afterVerify) {
      await ctx.deps.afterVerify().catch(async (e: Error) => {
        const text = await backText()
        throw new ReleaseError({ reason: `${e.message}; ${plan.color} was switched back${text}.` })
      })
    }
  },

  async settle(run: ExposureRun): Promise<ReleaseResult> {
    const { ctx, colors, plan, record, live, release, route, serving } = run
    // Live from now: drains of the color it replaced count from this moment.
    release.liveSince = ctx.nowIso()
    const updated = { ...withLive(record, release), routing: ctx.claim }
    serving.live = release
    serving.releases = updated.releases
    await ctx.ledger.write(updated)
    ctx.log.info(`${plan.image} is live on ${plan.color}.`)
    // watch: the previous color keeps running (keep-previous waits) until the new one has passed it.
    const watch = ctx.config.strategy.watch
    if (watch && run.kind === 'deploy') await watchLive(run, updated, route, watch)
    const standby = await ctx.timeline.step('cleanup', 'Cleaning up', async () => {
      // Both wait out drain times; they overlap rather than add up.
      const [, kept] = await Promise.all([
        colors.retireReplaced(live, plan.color, record.endedCanary),
        colors.keepPrevious(live, otherColor(plan.color)),
        // The previous workers stop at once: no traffic to drain, and they must not keep taking jobs.
        colors.retireWorkers(live?.color, plan.color)
      ])
      return kept
    })
    await confirmServed(ctx, release, networkName(ctx.app))
    const info = await ctx.host.inspect(containerName(ctx.app, plan.color))
    const result = resultOf(run.kind === 'deploy' ? 'deployed' : 'rolled-back', release, updated.releases, info?.id, standby)
    const workers = await colors.workerStates(release.color)
    return { ...result, ...(workers.length ? { workers } : {}) }
  }
}

/** The undo of a first deploy's switch: the app's claim leaves the proxy (routers that cannot, leave it). */
async function withdrawFirst(ctx: ExposureRun['ctx']): Promise<void> {
  if (!ctx.router.withdraw) return
  if (await ctx.router.withdraw()) ctx.log.info(`Nothing of ${ctx.app} was live before this run: took it off the proxy again, so its domains are free`)
}

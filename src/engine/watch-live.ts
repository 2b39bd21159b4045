import type { WatchSettings } from '../core/config.js'
import { containerName } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import { withLive, type LedgerRecord, type Release } from '../core/release.js'
import { describeAnswer } from './describe.js'
import { VERIFY_TIMEOUT_MS, verifyStep, type ExposureRun } from './exposure.js'
import type { Route } from './ports.js'
import { resultOf } from './results.js'
import { watchRelease } from './watch.js'

/**
 * watch (issue #12): observes the new, live color. Passing returns (cleanup follows); a failure
 * switches back to the previous release (graceful, as any switch), records it live again and
 * throws with what was seen; a cancel stops watching and leaves the new color live.
 */
export async function watchLive(run: ExposureRun, record: LedgerRecord, route: Route, settings: WatchSettings): Promise<void> {
  const { ctx, plan, live, release } = run
  const { config, router, timeline, log } = ctx
  const deployed = (): ReleaseResult => resultOf('deployed', release, record.releases)
  const watched = await timeline
    .step('watch', `Watching ${plan.color} for ${Math.round(settings.durationMs / 1000)} s`, async note => {
      const w = await watchRelease({
        router,
        route,
        healthPath: config.health.path,
        settings,
        clock: ctx.clock,
        log,
        aborted: () => ctx.abortReason,
        failedElsewhere: ctx.deps.watchFailedElsewhere
      })
      note(w.kind === 'failed' ? w.reason : w.summary)
      if (w.kind === 'failed') throw new ReleaseError({ reason: `watch: ${w.reason}` })
      return w
    })
    .catch((e: unknown) => {
      if (e instanceof ReleaseError) return { kind: 'failed' as const, reason: e.failure.reason.replace(/^watch: /, '') }
      throw e
    })
  let failure = watched.kind === 'failed' ? watched.reason : undefined
  if (watched.kind === 'passed') {
    log.info(`watch: ${plan.image} on ${plan.color} passed: ${watched.summary}.`)
    // Several hosts: every host's watch must pass; one that fails rolls this host back too.
    failure = await ctx.deps.afterWatch?.().then(
      () => undefined,
      (e: Error) => e.message
    )
    if (failure === undefined) return
  }
  if (watched.kind === 'aborted') {
    // The switch is done and verified: a cancel is not a verdict on the release. The containers the
    // new color replaced (set aside, routed nothing) go at once, so the host holds live + standby
    // (issue #22); keep-previous waits for the next run: the cancel grace is short.
    await run.colors
      .retireReplaced(live, plan.color, record.endedCanary, false)
      .catch((e: Error) => log.warning(`Could not remove the replaced ${plan.color} container: ${e.message} (the next run removes it)`))
    throw new ReleaseError(
      {
        reason: `${watched.abortReason} during the watch, after ${Math.round(watched.ms / 1000)} s (${watched.summary}): ${plan.color} (${plan.image}) stays live; a cancelled watch does not roll back.`
      },
      deployed()
    )
  }
  const seen = `watch: ${failure}`
  if (watched.kind === 'failed') ctx.deps.onWatchFailed?.(watched.reason)
  log.warning(seen)
  if (!live) {
    throw new ReleaseError({ reason: `${seen}; there is no previous release to roll back to, so ${plan.color} (${plan.image}) stays live.` }, deployed())
  }
  throw await rollBackAfterWatch(run, record, live, seen, deployed)
}

/** The watch failed: back to `live`, recorded live again; returns the error that reports it. */
async function rollBackAfterWatch(run: ExposureRun, record: LedgerRecord, live: Release, seen: string, deployed: () => ReleaseResult): Promise<ReleaseError> {
  const { ctx, colors, plan, release, serving } = run
  const back = ctx.routeTo(live)
  await ctx.timeline.step('switch', `Switching back to ${live.color} (the watch failed)`, () =>
    ctx.router.apply(back).catch((e: Error) => {
      throw new ReleaseError(
        { reason: `${seen}; switching back to ${live.color} failed (${e.message}), so ${plan.color} (${plan.image}) is still live.` },
        deployed()
      )
    })
  )
  const verified = await verifyStep(ctx, back)
  // The proxy routes to the previous release either way: the ledger says so.
  const restored: Release = { ...live, liveSince: ctx.nowIso() }
  const rolled = { ...withLive(record, restored), routing: ctx.claim }
  serving.live = restored
  serving.releases = rolled.releases
  await ctx.ledger.write(rolled)
  ctx.log.info(`Rolled back to ${live.image} on ${live.color}: it serves again.`)
  // The new color is now the one that served before: drained, then keep-previous; the containers
  // it had replaced (the old standby) go; its workers stop (the previous ones never did).
  const standby = await ctx.timeline.step('cleanup', 'Cleaning up', async () => {
    const [, kept] = await Promise.all([
      colors.retireReplaced(live, plan.color),
      colors.keepPrevious(release, plan.color),
      colors.retireWorkers(plan.color, live.color)
    ])
    // keep-previous running keeps what is there: a new color that went down stays down.
    const left = await ctx.host.inspect(containerName(ctx.app, plan.color))
    return kept?.state === 'running' && !left?.running ? { ...kept, state: 'stopped' as const } : kept
  })
  const info = await ctx.host.inspect(containerName(ctx.app, live.color))
  const unconfirmed = verified.ok ? '' : ` (the proxy did not confirm it within ${VERIFY_TIMEOUT_MS / 1000} s: ${describeAnswer(verified.last)})`
  const workers = await colors.workerStates(restored.color)
  return new ReleaseError(
    { reason: `${seen}: rolled back to ${live.color} (${live.image})${unconfirmed}` },
    { ...resultOf('auto-rolled-back', restored, rolled.releases, info?.id, standby), ...(workers.length ? { workers } : {}) }
  )
}

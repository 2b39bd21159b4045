import type { ReleaseResult } from '../core/outcome.js'
import { withLive } from '../core/release.js'
import type { Exposure, ExposureRun } from './exposure.js'
import { resultOf, standbyOf } from './results.js'

/** app-port none: nothing to route; the release is live once its workers are started and gated. */
export const noExposure: Exposure = {
  kind: 'none',
  needs: [],
  async expose(run: ExposureRun): Promise<void> {
    await run.ready()
    if (run.ctx.deps.afterVerify) await run.ctx.deps.afterVerify()
  },

  async settle(run: ExposureRun): Promise<ReleaseResult> {
    const { ctx, colors, plan, record, live, release, serving } = run
    release.liveSince = ctx.nowIso()
    const updated = withLive(record, release)
    serving.live = release
    serving.releases = updated.releases
    await ctx.ledger.write(updated)
    ctx.log.info(`${plan.image} is live on ${plan.color} (workers only).`)
    await ctx.timeline.step('cleanup', 'Stopping the previous workers', () => colors.retireWorkers(live?.color, plan.color))
    const states = await colors.inspect(updated.releases)
    const result = resultOf(run.kind === 'deploy' ? 'deployed' : 'rolled-back', release, updated.releases, undefined, standbyOf(updated.releases, states))
    const workers = await colors.workerStates(release.color)
    return { ...result, ...(workers.length ? { workers } : {}) }
  }
}

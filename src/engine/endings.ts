import { containerName, LABEL, networkName } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import type { LedgerRecord, Release } from '../core/release.js'
import type { ColorSet } from './color-set.js'
import type { EngineContext } from './context.js'
import { describeAnswer } from './describe.js'
import { rewriteLedger, verifyStep } from './exposure.js'
import { resultOf, standbyOf } from './results.js'

/** Ends what waits beside the live release without going live: a canary, or a preview. */

/** mode rollback during a canary: the live color alone again; the canary's color gets keep-previous after its drain. */
export async function endCanary(ctx: EngineContext, colors: ColorSet, record: LedgerRecord, live: Release): Promise<ReleaseResult> {
  const { host, router, ledger, timeline, log } = ctx
  const canary = record.canary!
  await ctx.deps.onPlanned?.({ color: live.color, image: live.image, from: { color: canary.release.color, image: canary.release.image }, restores: live })
  const network = networkName(ctx.app)
  await host.ensureNetwork(network, { [LABEL.managed]: 'true', [LABEL.app]: ctx.app })
  await router.ensure(network)
  const route = ctx.routeTo(live)
  // Recorded before the proxy is told, and put back if it refuses: the ledger never names a canary the proxy no longer routes.
  const updated = { ...record, pending: undefined, canary: undefined, endedCanary: { color: canary.release.color, at: ctx.nowIso() } }
  await ledger.write(updated)
  await timeline.step('switch', `Ending the canary on ${canary.release.color}`, () =>
    router.apply(route).catch(async (e: Error) => {
      await rewriteLedger(ctx, record)
      throw new ReleaseError({
        reason: `The proxy could not end the canary on ${canary.release.color}: ${e.message}. It still sends ${canary.weight} % of new requests there.`
      })
    })
  )
  const verified = await verifyStep(ctx, route)
  if (!verified.ok)
    throw new ReleaseError({ reason: `After ending the canary the proxy did not answer from ${live.color} (last answer: ${describeAnswer(verified.last)}).` })
  log.info(`Ended the canary of ${canary.release.image} on ${canary.release.color}: ${live.image} on ${live.color} serves every new request.`)
  // Its drain counts from now: keep-previous applies to the canary's color as to a replaced live color.
  const standby = await timeline.step('cleanup', 'Cleaning up', () => colors.keepPrevious(canary.release, canary.release.color))
  const info = await host.inspect(containerName(ctx.app, live.color))
  return resultOf('rolled-back', live, updated.releases, info?.id, standby)
}

/** mode rollback while a preview waits: its containers go; the live release and the proxy's routing of it are untouched. */
export async function discardPreview(ctx: EngineContext, colors: ColorSet, record: LedgerRecord, live: Release): Promise<ReleaseResult> {
  const { ledger, timeline, log, config } = ctx
  const preview = record.preview!.release
  await timeline.step('cleanup', `Discarding the preview on ${preview.color}`, async note => {
    note(`${await colors.discard(preview)} container(s) removed`)
  })
  const updated: LedgerRecord = { ...record, pending: undefined, preview: undefined, routing: ctx.claim }
  await ledger.write(updated)
  log.info(
    `Discarded the preview of ${preview.image} on ${preview.color} (its containers are removed${config.proxy.previewDomains?.length ? '; the preview domains answer 503 until the next preview' : ''}). ${live.image} on ${live.color} stays live, untouched.`
  )
  const info = await ctx.host.inspect(containerName(ctx.app, live.color))
  const states = await colors.inspect(updated.releases)
  return { ...resultOf('rolled-back', live, updated.releases, info?.id, standbyOf(updated.releases, states)), previewEnded: 'discarded' }
}

import { LABEL, networkName } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import type { LedgerRecord, Release } from '../core/release.js'
import type { ColorSet, ColorState } from './color-set.js'
import type { EngineContext } from './context.js'
import { rewriteLedger, type Serving } from './exposure.js'
import { switchExposure } from './expose-switch.js'
import { readLedger } from './host-state.js'
import { isContainerOf, type Plan } from './plan.js'
import { deliver } from './pipeline.js'
import { UndoStack } from './undo.js'

/** mode promote: what waits beside the live release (a canary, or a preview) becomes live through a full switch. */
export async function runPromote(ctx: EngineContext, colors: ColorSet, serving: Serving): Promise<ReleaseResult> {
  const { timeline } = ctx
  const { record, live, containers } = await timeline.step('inspect', 'Reading the state of the host', async note => {
    const record = await readLedger(ctx)
    const live = record.releases[0]
    serving.live = live
    serving.releases = record.releases
    const containers = await colors.inspect(record.releases)
    note(
      record.canary
        ? `canary ${record.canary.release.color} at ${record.canary.weight} %`
        : record.preview
          ? `preview ${record.preview.release.color} waiting`
          : 'nothing waiting'
    )
    return { record, live, containers }
  })
  if (record.preview && live && !record.canary) return promotePreview(ctx, colors, record, live, containers, serving)
  if (!record.canary || !live)
    throw new ReleaseError({ reason: `Nothing of ${ctx.app} waits to be promoted: deploy with canary-weight or promote: manual first. Nothing was changed.` })
  return promoteCanary(ctx, colors, record, live, containers, serving)
}

async function prepareProxy(ctx: EngineContext): Promise<void> {
  const network = networkName(ctx.app)
  await ctx.host.ensureNetwork(network, { [LABEL.managed]: 'true', [LABEL.app]: ctx.app })
  await ctx.router.ensure(network)
}

async function promoteCanary(
  ctx: EngineContext,
  colors: ColorSet,
  record: LedgerRecord,
  live: Release,
  containers: ColorState[],
  serving: Serving
): Promise<ReleaseResult> {
  const canary = record.canary!
  const c = containers.find(x => x.color === canary.release.color)
  const plan: Plan = {
    kind: 'reuse-standby',
    color: canary.release.color,
    image: canary.release.image,
    replicas: canary.release.replicas ?? 1,
    mustStart: !c?.running,
    why: `promoting the canary (${canary.weight} % since ${canary.since})`,
    restores: canary.release
  }
  ctx.log.info(`Plan: promote ${plan.image} on ${plan.color} from ${canary.weight} % to all new requests`)
  await ctx.deps.onPlanned?.({ color: plan.color, image: plan.image, from: { color: live.color, image: live.image }, restores: canary.release })
  await prepareProxy(ctx)
  // A canary that cannot be promoted is ended: the live color alone serves, as after a rollback.
  // Its containers keep serving their share until then, so this undo is the last.
  const undo = new UndoStack(ctx.log)
  undo.push('the canary', async () => {
    await ctx.router.apply(ctx.routeTo(live)).catch(u => ctx.log.warning(`Could not route ${ctx.app} back to ${live.color} alone: ${(u as Error).message}`))
    await rewriteLedger(ctx, { ...record, pending: undefined, canary: undefined, endedCanary: { color: canary.release.color, at: ctx.nowIso() } })
  })
  try {
    // Health first, while the canary still serves its share: a failing canary is ended, not promoted.
    const result = await deliver(ctx, colors, {
      plan,
      record,
      live,
      kind: 'deploy',
      hash: canary.release.configHash,
      exposure: switchExposure,
      serving,
      undo,
      keepBootOnFailure: true
    })
    return { ...result, result: 'deployed' }
  } catch (e) {
    if (e instanceof ReleaseError && !e.result)
      throw new ReleaseError({ ...e.failure, reason: `${e.failure.reason} The canary was ended: ${live.color} (${live.image}) serves all requests.` })
    throw e
  }
}

/** mode promote of a preview: its containers (health re-checked first) become live through a full switch. */
async function promotePreview(
  ctx: EngineContext,
  colors: ColorSet,
  record: LedgerRecord,
  live: Release,
  containers: ColorState[],
  serving: Serving
): Promise<ReleaseResult> {
  const preview = record.preview!
  const c = containers.find(x => x.color === preview.release.color)
  const size = preview.release.replicas ?? 1
  if (!c || !isContainerOf(c, preview.release) || (c.replicas ?? 1) < size) {
    throw new ReleaseError({
      reason: `The preview of ${preview.release.image} on ${preview.release.color} has lost its containers: deploy it again (with promote: manual) or mode rollback to forget it. ${live.color} (${live.image}) is still live.`
    })
  }
  const plan: Plan = {
    kind: 'reuse-standby',
    color: preview.release.color,
    image: preview.release.image,
    replicas: size,
    mustStart: !c.running,
    why: `promoting the preview waiting since ${preview.since}`,
    restores: preview.release
  }
  ctx.log.info(`Plan: promote the preview ${plan.image} on ${plan.color} to live (health re-checked first)`)
  await ctx.deps.onPlanned?.({ color: plan.color, image: plan.image, from: { color: live.color, image: live.image }, restores: preview.release })
  await prepareProxy(ctx)
  try {
    const result = await deliver(ctx, colors, { plan, record, live, kind: 'deploy', hash: preview.release.configHash, exposure: switchExposure, serving })
    return { ...result, result: 'deployed', previewEnded: 'promoted' }
  } catch (e) {
    if (e instanceof ReleaseError && !e.result)
      throw new ReleaseError({ ...e.failure, reason: `${e.failure.reason} The preview stays recorded: mode promote tries again, mode rollback discards it.` })
    throw e
  }
}

import { emptyLedger, routingConflict, withLive, type LedgerRecord, type Release } from '../core/release.js'
import { ReleaseError } from '../core/outcome.js'
import { missingLedgerProblem } from './ledger-guard.js'
import { LedgerError } from './ports.js'
import type { ColorSet, ColorState } from './color-set.js'
import { isContainerOf } from './plan.js'
import { externalNetworks } from './compose-project.js'
import type { EngineContext } from './context.js'
import { Lazy } from './lazy.js'

/** What the inspect step found. */
export interface HostState {
  record: LedgerRecord
  /** The live release, if any. */
  live?: Release
  containers: ColorState[]
  /**
   * The proxy's route put right where it disagrees with the ledger. Started after the step (the
   * route is the slowest read, a file in the proxy's volume, and Docker serves it slower while it
   * starts a container): a new color's health gate overlaps it. Settled before anything else
   * changes on the proxy.
   */
  routing: Lazy<void>
}

/**
 * The ledger, with an interrupted switch settled: a pending release the proxy already routes to
 * went live; any other pending release never did. A host deployed before the ledger existed is
 * read from what the router recorded then.
 */
export async function readLedger(ctx: EngineContext): Promise<LedgerRecord> {
  const { ledger, router, log } = ctx
  let record = await ledger.read()
  if (!record) {
    record = (ctx.web ? await router.legacyRecord?.() : undefined) ?? emptyLedger(ctx.app)
    if (record.releases.length) log.info(`Imported the live release of ${ctx.app} from the proxy's route (recorded before the ledger existed)`)
    // No ledger while a release of the app runs (ledger-guard.ts says what counts): stop, never a "first deploy" over the live color.
    const missing = record.releases.length ? undefined : missingLedgerProblem(ctx.app, await ctx.host.listAppUnits(ctx.app))
    if (missing) throw new LedgerError(missing)
  }
  if (record.pending) {
    const routed = await router.current()
    // A router that switches at run time before it saves the route may serve the pending release
    // on its old saved route (the run died in between): it went live, and the route is put right below.
    const served = routed?.releaseId === record.pending.id || (await router.served?.().catch(() => undefined)) === record.pending.id
    if (served) {
      log.info(`An interrupted run had switched to ${record.pending.color} (${record.pending.image}): recording it as live`)
      record = withLive(record, record.pending)
    } else {
      log.info(`An interrupted run never switched to ${record.pending.color} (${record.pending.image}): forgetting it`)
      record = { ...record, pending: undefined }
    }
  }
  return record
}

/**
 * The proxy must route to what the ledger says is live (a route changed by hand, a proxy whose
 * saved configuration is older than the ledger): a mismatch is put right before anything else
 * changes on the proxy, and said, when the live release's containers run; otherwise it is said and
 * left to the release.
 */
async function repairRouting(
  ctx: EngineContext,
  live: Release,
  containers: ColorState[],
  routing: ReturnType<EngineContext['router']['current']>
): Promise<void> {
  const routed = await routing
  if (!routed || routed.releaseId === live.id) return
  const state = containers.find(c => c.color === live.color)
  const runs = !!state?.running && isContainerOf(state, live)
  const seen = `The proxy routes ${ctx.app} to ${routed.color} (release ${routed.releaseId}), but the ledger records ${live.color} (${live.image}, release ${live.id}) as live`
  if (!runs) {
    ctx.log.warning(`${seen}, whose containers do not run: left for this run's switch to settle.`)
    return
  }
  ctx.log.warning(`${seen}: routing it back to ${live.color} before anything else changes on the proxy.`)
  // A proxy that is down cannot take it now: the prepare step starts it again, and the switch settles the route.
  await ctx.router.apply(ctx.routeTo(live)).catch((e: Error) => ctx.log.warning(`Could not route ${ctx.app} back to ${live.color} yet: ${e.message}`))
}

/**
 * The inspect step of a deploy or rollback: the ledger settled, the inputs checked against what
 * the host has and what other apps claim, what an interrupted run left put right, and both colors
 * read. Nothing is changed on the host unless an earlier run left something half-done. `onChecked`
 * is called once the inputs passed those checks; `onRecord` with the settled ledger, once read.
 */
export async function inspectForRelease(
  ctx: EngineContext,
  colors: ColorSet,
  plainRollback = false,
  onChecked?: () => void,
  onRecord?: (record: LedgerRecord) => void
): Promise<HostState> {
  const { host, config, log, timeline } = ctx
  return timeline.step('inspect', 'Reading the state of the host', async note => {
    // The app's containers are read beside the ledger (they do not depend on it). So is the proxy's
    // route for a rollback: it switches to a color that runs already, and that read is the slowest
    // one before its switch (a deploy's boot and gate cover it later).
    colors.readAhead?.()
    const routed = plainRollback && ctx.web ? ctx.router.current() : undefined
    routed?.catch(() => undefined) // awaited by the route's repair, which reports it
    try {
      const [record, missing, claims] = await Promise.all([readLedger(ctx), host.missingNetworks(externalNetworks(config)), ctx.ledger.claims()])
      // Known from here: a refusal below still reports what is live.
      onRecord?.(record)
      refuseAgainstHost(ctx, record, missing, claims, plainRollback)
      const live = record.releases[0]
      // Nothing refused: what does not depend on the rest of this step may start (a deploy's pull).
      onChecked?.()
      // Recovering containers never changes a route: it is compared once they are read.
      await colors.recover(live, record.preview?.release)
      const containers = await colors.inspect(record.releases)
      const routing = new Lazy(async () => {
        if (live && ctx.web) return repairRouting(ctx, live, containers, routed ?? ctx.router.current())
        await routed?.catch(() => undefined)
      })
      note(live ? `${live.color} live (${live.image})` : 'nothing deployed yet')
      log.info(live ? `Live: ${live.color} ${live.image}` : `No deploy of ${ctx.app} is recorded on this host yet.`)
      return { record, live, containers, routing }
    } catch (e) {
      // A refusal ends the run only once the read it started has its answer.
      await routed?.catch(() => undefined)
      throw e
    }
  })
}

/** The inputs checked against what the host has and what other apps claim: a ReleaseError saying what to change, before anything changes. */
function refuseAgainstHost(
  ctx: EngineContext,
  record: LedgerRecord,
  missing: string[],
  claims: Parameters<typeof routingConflict>[2],
  plainRollback: boolean
): void {
  if (missing.length) {
    throw new ReleaseError({
      reason: `Input 'networks' names ${missing.join(', ')}, which the host does not have: create ${missing.length > 1 ? 'them' : 'it'} first (docker network create NAME). Nothing was changed.`
    })
  }
  // A rollback with nothing recorded routes nothing (the plan says why): no claim to check.
  const claiming = ctx.web && !(plainRollback && !record.releases.length)
  const conflict = claiming ? routingConflict(ctx.app, ctx.claim, claims) : undefined
  if (conflict) throw new ReleaseError({ reason: `${conflict} Nothing was changed.` })
  const live = record.releases[0]
  if (!ctx.web && live && live.web !== false) {
    throw new ReleaseError({
      reason: `Input 'app-port' is none, but the live release of ${ctx.app} (${live.image}) has a web role behind the proxy: cutover does not take a web role away. Deploy the workers under another app name, or remove ${ctx.app}'s containers first. Nothing was changed.`
    })
  }
}

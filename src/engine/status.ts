import type { Color } from '../core/names.js'
import type { ReleaseResult, ServedCheck } from '../core/outcome.js'
import type { Release } from '../core/release.js'
import type { ColorSet } from './color-set.js'
import type { EngineContext } from './context.js'
import { describeAnswer } from './describe.js'
import type { Serving } from './exposure.js'
import { previewState } from './expose-preview.js'
import { readLedger } from './host-state.js'
import { rebuildMissingLedger } from './ledger-guard.js'
import { isContainerOf } from './plan.js'
import type { Route } from './ports.js'
import { resultOf, standbyOf } from './results.js'

/** mode status asks the proxy once what it serves: a live app answers well within this. */
const STATUS_PROBE_MS = 3000

/** Reads what is live and on standby without changing anything. */
export async function runStatus(ctx: EngineContext, colors: ColorSet, serving: Serving): Promise<ReleaseResult> {
  const { host, router, timeline, log } = ctx
  return timeline.step('inspect', 'Reading the state of the host', async note => {
    // rebuild-ledger: a missing ledger is rebuilt from the containers' labels and the proxy's route first.
    if (ctx.config.rebuildLedger) note(await rebuildMissingLedger({ ...ctx.deps, router: ctx.web ? router : undefined }, ctx.app, ctx.routing))
    const [record, containers, routed] = await Promise.all([readLedger(ctx), host.listApp(ctx.app), ctx.web ? router.current() : undefined])
    for (const c of containers) log.info(`container ${c.name}: ${c.state} (${c.status}), image ${c.image}`)
    const live = record.releases[0]
    serving.live = live
    serving.releases = record.releases
    if (!live) {
      log.info(`No deploy of ${ctx.app} is recorded on this host.`)
      return { result: 'unchanged', releases: [] }
    }
    const states = await colors.inspect(record.releases)
    const liveContainer = states.find(c => c.color === live.color)
    log.info(`Live: ${live.color} ${live.image} (since ${live.liveSince})${liveContainer?.running ? '' : ' — its container is NOT running'}`)
    // Without a web role there is no proxy to ask.
    const served = ctx.web ? await checkServed(ctx, live, record.releases, routed) : undefined
    if (served?.ok) log.info(served.text)
    else if (served) log.warning(served.text)
    const standby = standbyOf(record.releases, states)
    if (standby) log.info(`Standby: ${standby.color} ${standby.image} (${standby.state})`)
    if (record.canary) {
      const c = record.canary
      log.info(`Canary: ${c.release.color} ${c.release.image} serves ${c.weight} % of new requests since ${c.since} (mode promote or rollback ends it)`)
    }
    const preview = record.preview && previewState(ctx, record.preview)
    if (preview) {
      const running = states.find(c => c.color === preview.color)
      const ok = running?.running && isContainerOf(running, record.preview!.release)
      const where = preview.url ? ` at ${preview.url}` : ''
      const text = `Preview: ${preview.color} ${preview.image} waits for mode promote since ${preview.since}${where}${ok ? '' : ' — its containers are NOT running'}`
      if (ok) log.info(text)
      else log.warning(text)
    }
    const workers = await colors.workerStates(live.color)
    const cluster = await colors.clusterState?.(live)
    for (const line of cluster?.lines ?? []) log.info(line)
    for (const line of cluster?.drift ?? []) log.warning(`Drift: ${line}`)
    return {
      ...resultOf('unchanged', live, record.releases, liveContainer?.id, standby),
      ...(cluster ? { drift: cluster.drift.length > 0 } : {}),
      ...(preview ? { preview } : {}),
      ...(served ? { served } : {}),
      ...(workers.length ? { workers } : {})
    }
  })
}

/**
 * What the proxy serves, asked through it (not read from its configuration): a run interrupted
 * between the switch and the ledger, or a route changed by hand, shows here.
 */
async function checkServed(
  ctx: EngineContext,
  live: Release,
  releases: Release[],
  routed: { color: Color; releaseId: string } | undefined
): Promise<ServedCheck> {
  const { config, router } = ctx
  const fix = 'the next deploy or rollback re-applies the recorded route.'
  if (!routed) return { ok: false, text: `The proxy has no route for ${ctx.app}: ${fix}` }
  const route: Route = { app: ctx.app, color: routed.color, releaseId: routed.releaseId, appPort: config.health.port }
  const probe = await router.verify(route, config.health.path, STATUS_PROBE_MS).catch((e: Error) => e)
  if (probe instanceof Error) return { ok: false, text: `Could not ask the proxy what it serves: ${probe.message}` }
  const named = (id: string) => {
    const r = releases.find(x => x.id === id)
    return r ? `${r.color} (${r.image})` : `release ${id}, which the ledger does not know`
  }
  if (!probe.ok) {
    return {
      ok: false,
      text: `Through the proxy, ${ctx.app} did not answer from ${named(routed.releaseId)} within ${STATUS_PROBE_MS / 1000} s (last answer: ${describeAnswer(probe.last)}).`
    }
  }
  if (routed.releaseId !== live.id)
    return { ok: false, text: `The proxy serves ${named(routed.releaseId)}, not the recorded live ${live.color} (${live.image}): ${fix}` }
  return { ok: true, text: `Served: ${live.color} (${live.image}) answered through the proxy in ${probe.ms} ms.` }
}

import { progressOf } from '../core/log.js'
import { networkName } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import type { LedgerRecord, Release } from '../core/release.js'
import type { ColorSet, ColorState } from './color-set.js'
import type { EngineContext } from './context.js'
import { describeAnswer } from './describe.js'
import { VERIFY_TIMEOUT_MS } from './exposure.js'
import type { ContainerHost, ImageInfo } from './ports.js'
import { runReleaseCommand } from './release-command.js'
import { resultOf, standbyOf } from './results.js'
import { ensureShared } from './shared-services.js'

/** compose-shared-services: running (and healthy) before anything of the release starts. */
export async function startShared(ctx: EngineContext, networkReady: Promise<void>, network: string): Promise<void> {
  await networkReady
  await ctx.timeline.step('shared', 'Starting the shared services', note =>
    ensureShared({ note, config: ctx.config, host: ctx.host, log: ctx.log, clock: ctx.clock, network, run: ctx.deps.run, aborted: () => ctx.abortReason })
  )
}

/** Runs the release command (unless it already succeeded for this release); returns the ledger record as updated. */
export async function runReleaseCommandStep(
  ctx: EngineContext,
  record: LedgerRecord,
  image: { ref: string; id: string },
  live: Release | undefined
): Promise<LedgerRecord> {
  const { config, ledger, log, timeline } = ctx
  const stillLive = live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'
  const updated = await timeline.step('release-command', 'Running the release command', () =>
    runReleaseCommand(
      {
        config,
        host: ctx.host,
        ledger,
        log,
        clock: ctx.clock,
        network: networkName(ctx.app),
        run: ctx.deps.run,
        output: ctx.deps.output ?? ((title, body) => log.group(title, () => body(line => log.info(line)))),
        abort: ctx.signal,
        abortReason: () => ctx.abortReason
      },
      record,
      image,
      stillLive
    )
  )
  ctx.checkAborted(live)
  return updated
}

export async function loadArchive(ctx: EngineContext, image: string, path: string, bytes: number): Promise<ImageInfo> {
  const { host, log, timeline } = ctx
  return timeline.step('pull', `Loading ${image} from the image archive (${(bytes / 1e6).toFixed(1)} MB)`, async note => {
    try {
      await host.load(path, bytes, progressOf(log))
    } catch (e) {
      throw new ReleaseError({ reason: `Loading the image archive ${path} into the host's Docker failed: ${(e as Error).message}` })
    }
    const loaded = await host.image(image)
    if (!loaded) throw new ReleaseError({ reason: `The image archive ${path} was loaded, but the host has no image ${image} afterwards` })
    note(`loaded ${(bytes / 1e6).toFixed(1)} MB over SSH`)
    return loaded
  })
}

/** Progress lines an early pull keeps until its step shows them (the last ones, if a pull says more). */
const EARLY_PROGRESS_LINES = 200

/**
 * A pull started while the host is still being read: a deploy's image does not depend on what the
 * inspect step finds, so the registry round trips overlap it. Its progress waits for the pull step,
 * whose log group shows it.
 */
export class EarlyPull {
  readonly result: Promise<ImageInfo>
  private readonly early: string[] = []
  private sink?: (line: string) => void

  constructor(
    host: ContainerHost,
    readonly image: string
  ) {
    this.result = host.pull(image, line => {
      if (this.sink) return this.sink(line)
      this.early.push(line)
      if (this.early.length > EARLY_PROGRESS_LINES) this.early.shift()
    })
    // Awaited by the pull step; a run that stops before it has nothing to report about it.
    this.result.catch(() => undefined)
  }

  /** The lines so far, then every later one, go to `sink`. */
  follow(sink: (line: string) => void): Promise<ImageInfo> {
    for (const line of this.early.splice(0)) sink(line)
    this.sink = sink
    return this.result
  }
}

export async function pullFor(ctx: EngineContext, image: string, kind: 'deploy' | 'rollback', early?: EarlyPull): Promise<ImageInfo> {
  const { host, log, timeline } = ctx
  return timeline.step('pull', `Pulling ${image}`, async note => {
    try {
      return await (early?.image === image ? early.follow(progressOf(log)) : host.pull(image, progressOf(log)))
    } catch (e) {
      // A rollback may still use an image that is on the host but gone from the registry.
      const local = kind === 'rollback' ? await host.image(image) : undefined
      if (local) {
        log.warning(`${(e as Error).message}; using the copy already on the host`)
        note('used the local copy')
        return local
      }
      throw new ReleaseError({ reason: (e as Error).message })
    }
  })
}

/** The image and settings asked for are already live: make sure the proxy serves them, change nothing else. */
export async function alreadyLive(
  ctx: EngineContext,
  colors: ColorSet,
  record: LedgerRecord,
  live: Release,
  containerId: string | undefined,
  containers: ColorState[]
): Promise<ReleaseResult> {
  const { router, log, timeline, config, ledger } = ctx
  const route = ctx.routeTo(live)
  if (ctx.web)
    await timeline.step('verify', 'Verifying through the proxy', async note => {
      let v = await router.verify(route, config.health.path, 2000)
      // Proxy settings changed with the same image (a new TLS certificate, say): applied as a route.
      const outdated = v.ok && (await router.outdated?.(route))
      if (!v.ok || outdated) {
        // A run that died mid-switch, or a proxy re-created since: apply the recorded route again.
        log.info(
          outdated
            ? `The proxy's settings for ${ctx.app} changed: applying them to the live ${live.color}`
            : `The proxy does not serve ${live.color} (${describeAnswer(v.last)}); applying the recorded route again`
        )
        await router.apply(route)
        v = await router.verify(route, config.health.path, VERIFY_TIMEOUT_MS)
        if (!v.ok) throw new ReleaseError({ reason: `The proxy does not serve ${live.color}: ${describeAnswer(v.last)}` })
      }
      note(describeAnswer(v.last))
    })
  // Keep what the inspect step settled (an imported or finished release) on record.
  await ledger.write({ ...record, routing: ctx.routing })
  log.info(`${live.image} is already live on ${live.color} with the same settings; nothing to do.`)
  const workers = await colors.workerStates(live.color)
  return { ...resultOf('unchanged', live, record.releases, containerId, standbyOf(record.releases, containers)), ...(workers.length ? { workers } : {}) }
}

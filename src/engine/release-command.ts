import type { EngineConfig } from './context.js'
/**
 * The release command (the Heroku "release phase"): a one-off container of the new image, with
 * the app's env, volumes and networks, run to completion before anything is switched.
 */
import { createHash } from 'node:crypto'
import type { Log } from '../core/log.js'
import { LABEL, releaseCommandName } from '../core/names.js'
import { ReleaseError } from '../core/outcome.js'
import { RELEASE_COMMAND_RUNS_KEPT, type LedgerRecord } from '../core/release.js'
import { configHash, containerSpec } from './container-spec.js'
import type { Clock, ContainerHost, Ledger } from './ports.js'

/** Prints a container's output inside a log group, with workflow commands in it not obeyed (see printUntrusted in main.ts). */
export type UntrustedOutput = <T>(title: string, body: (print: (line: string) => void) => Promise<T>) => Promise<T>

/** How many of its last lines a failed command's error shows. */
const TAIL_LINES = 30

/** Same image, same command, same settings: the same release command (what makes a retried run skip it). */
export function releaseCommandKey(imageId: string, command: string[], settingsHash: string): string {
  return createHash('sha256').update(JSON.stringify({ imageId, command, settingsHash })).digest('hex').slice(0, 24)
}

export interface ReleaseCommandDeps {
  config: EngineConfig
  host: ContainerHost
  ledger: Ledger
  log: Log
  clock: Clock
  network: string
  run: string
  output: UntrustedOutput
  /** Fires when the run is told to stop: the command is killed. */
  abort: AbortSignal
  abortReason: () => string | undefined
}

/**
 * Runs the release command of `image` unless it already succeeded for this image, command and
 * settings (recorded in the ledger, so a retried run does not migrate twice). Returns the ledger
 * record as it is afterwards; throws ReleaseError when it fails, times out or is aborted; its
 * container is removed in every case.
 */
export async function runReleaseCommand(
  deps: ReleaseCommandDeps,
  record: LedgerRecord,
  image: { ref: string; id: string },
  stillLive: string
): Promise<LedgerRecord> {
  const { config, host, log, clock } = deps
  const settings = config.releaseCommand
  if (!settings) return record
  const shown = settings.command.join(' ')
  const key = releaseCommandKey(image.id, settings.command, configHash(config.container, config.health.port))
  const done = record.releaseCommands?.find(r => r.key === key)
  if (done) {
    log.info(`The release command (${shown}) already succeeded for ${image.ref} with these settings at ${done.ranAt}: not running it again`)
    return record
  }

  const name = releaseCommandName(config.app)
  // A run that died mid-command may have left its container.
  await host.remove(name)
  const spec = containerSpec({
    app: config.app,
    color: 'blue',
    image: image.ref,
    network: deps.network,
    // A one-off: not a service of a color's compose project (no compose labels, no color network).
    settings: { ...config.container, composeService: undefined },
    appPort: config.health.port,
    releaseId: '',
    startedAt: new Date(clock.now()).toISOString(),
    run: deps.run
  })
  const labels: Record<string, string> = { ...spec.labels, [LABEL.role]: 'release-command' }
  delete labels[LABEL.color]
  const tail: string[] = []
  const started = clock.now()
  let code: number | undefined
  try {
    await host.create({ ...spec, name, command: settings.command, labels })
    await host.start(name)
    code = await deps.output(`Release command: ${shown}`, print =>
      host.waitExit(
        name,
        settings.timeoutMs,
        line => {
          print(line)
          tail.push(line)
          if (tail.length > TAIL_LINES) tail.shift()
        },
        deps.abort
      )
    )
  } finally {
    // Removing kills it first: nothing of the command outlives its step.
    await host.remove(name).catch(e => log.warning(`Could not remove ${name}: ${(e as Error).message}`))
  }
  const seconds = Math.round((clock.now() - started) / 1000)
  if (code === undefined) {
    const why = deps.abortReason() ?? `it did not finish within ${Math.round(settings.timeoutMs / 1000)} s (release-timeout), so it was killed`
    throw new ReleaseError({ reason: `The release command (${shown}) did not complete: ${why}. ${stillLive}`, logs: tail.join('\n'), container: name })
  }
  if (code !== 0) {
    throw new ReleaseError({
      reason: `The release command (${shown}) exited with code ${code} after ${seconds} s. ${stillLive}`,
      logs: tail.join('\n'),
      container: name,
      exitCode: code
    })
  }
  log.info(`The release command succeeded in ${seconds} s`)
  const updated: LedgerRecord = {
    ...record,
    releaseCommands: [{ key, image: image.ref, ranAt: new Date(clock.now()).toISOString() }, ...(record.releaseCommands ?? [])].slice(
      0,
      RELEASE_COMMAND_RUNS_KEPT
    )
  }
  await deps.ledger.write(updated)
  return updated
}

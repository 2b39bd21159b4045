import type { Config } from './core/config.js'
import type { Log } from './core/log.js'
import type { Failure, Outcome, ReleaseResult } from './core/outcome.js'
import type { PlannedRelease } from './engine/release.js'
import type { Timeline } from './engine/timeline.js'
import type { DomainCertificate } from './engine/ports.js'
import { GithubDeployment, previewEnvironment, runContextFromEnv, type RunContext } from './reporting/deployments.js'
import { outputsOf } from './reporting/outputs.js'
import { renderInputErrorSummary, renderSummary } from './reporting/summary.js'
import { renderCertificates } from './reporting/certificates.js'
import { labelOf } from './fleet/hosts.js'
import type { RunSink } from './run-sink.js'

function describeRelease(config: Config, planned?: PlannedRelease): string {
  if (!planned) return `${config.mode === 'rollback' ? 'Rollback' : 'Deploy'} of ${config.app}`
  const to = `${planned.color} ${planned.image}`
  if (planned.preview) return `Preview of ${config.app}: ${to}, waiting for mode promote${planned.from ? ` (${planned.from.image} stays live)` : ''}`
  if (config.mode === 'rollback') {
    return `Rollback of ${config.app} from ${planned.from ? `${planned.from.color} ${planned.from.image}` : 'nothing'} to ${to}`
  }
  return `Deploy of ${config.app}: ${to}${planned.from ? ` (replacing ${planned.from.image})` : ''}`
}

/**
 * What a run reports, once, on every exit path (issue #27): the outputs, the job summary, the error
 * and the GitHub deployment. The first exit path to finish reports; a later one (a second cancel
 * signal) waits for that same report instead of cutting it short.
 */
export class RunReport {
  private deployment?: GithubDeployment
  private reporting?: Promise<void>
  /** The engine of a one-host run, once made: for a failure outside its own outcome (a hard stop), what it knew serves. */
  engine?: { snapshot(): ReleaseResult }

  constructor(
    private readonly config: Config,
    private readonly sink: RunSink,
    private readonly timeline: Timeline,
    private readonly runInfo: RunContext,
    private readonly secrets: readonly string[]
  ) {
    this.log = sink.log
  }

  private readonly log: Log

  /** Creates the run's GitHub deployment once (deploy, rollback, promote), when it is planned or when it fails. */
  readonly startDeployment = async (planned?: PlannedRelease): Promise<void> => {
    const { config } = this
    // Maintenance changes what the proxy answers, not what is deployed: no GitHub deployment.
    const wanted = (config.mode === 'deploy' || config.mode === 'rollback' || config.mode === 'promote') && config.github.deployments
    if (!wanted || this.deployment) return
    this.deployment = GithubDeployment.forRun(
      config.github.token,
      this.runInfo,
      {
        app: config.app,
        image: planned?.image ?? config.image ?? config.toImage ?? '',
        // promote manual: the preview is a deployment of its own environment (<environment>-preview,
        // transient), so the app's environment keeps showing the release that serves it.
        environment: planned?.preview ? previewEnvironment(config.github.environment) : config.github.environment,
        ...(planned?.preview ? { transient: true } : {}),
        description: describeRelease(config, planned),
        // A rollback deploys the commit of the release it brings back, as the ledger recorded it.
        ref: planned?.restores?.by.commit
      },
      this.log
    )
    await this.deployment?.create()
    await this.deployment?.setStatus('in_progress', describeRelease(config, planned))
  }

  /** A failed result that reports what the engine knew serves (nothing known: nothing reported as live). */
  failedResult(failure: Failure): ReleaseResult {
    return { ...(this.engine?.snapshot() ?? { result: 'failed' }), result: 'failed', failure }
  }

  finish(result: ReleaseResult, infrastructureError: boolean, certificates: DomainCertificate[] = []): Promise<void> {
    return (this.reporting ??= this.write(result, infrastructureError, certificates))
  }

  private async write(result: ReleaseResult, infrastructureError: boolean, certificates: DomainCertificate[]): Promise<void> {
    const { config, timeline } = this
    const outcome: Outcome = {
      ...result,
      hosts: result.hosts ?? [
        {
          host: labelOf(config.ssh),
          result: result.result,
          color: result.color,
          image: result.image,
          release: result.release?.id,
          error: result.failure?.reason
        }
      ],
      mode: config.mode,
      app: config.app,
      steps: timeline.steps,
      durationMs: timeline.elapsedMs()
    }
    this.sink.finished?.(outcome)
    await report(config, outcome, this.sink, infrastructureError, this.startDeployment, () => this.deployment, certificates, this.secrets)
  }
}

/** A run refused for its inputs: every output set, a job summary saying what was refused, the error. Nothing was touched. */
export async function refuseInputs(reason: string, app: string, secrets: readonly string[], sink: RunSink): Promise<void> {
  const outputs = outputsOf({ result: 'failed', failure: { reason }, hosts: [], durationMs: 0 }, undefined)
  for (const [name, value] of Object.entries(outputs)) sink.setOutput(name, value)
  try {
    await sink.writeSummary(renderInputErrorSummary(reason, app, secrets))
  } catch (e) {
    sink.log.warning(`Could not write the job summary: ${(e as Error).message}`)
  }
  sink.setFailed(reason)
}

async function report(
  config: Config,
  outcome: Outcome,
  sink: RunSink,
  infrastructureError: boolean,
  startDeployment: () => Promise<void>,
  currentDeployment: () => GithubDeployment | undefined,
  certificates: DomainCertificate[],
  secrets: readonly string[]
): Promise<void> {
  // Outputs, the summary and the error first: they must be written whatever happens to the API calls
  // below (a second cancel signal ends the process a few seconds later).
  const log = sink.log
  for (const [name, value] of Object.entries(outputsOf(outcome, undefined))) sink.setOutput(name, value)
  try {
    const where = config.fleet ? `${config.fleet.hosts.length} hosts` : `${config.ssh.host}`
    await sink.writeSummary(renderSummary(outcome, where, secrets) + renderCertificates(certificates))
  } catch (e) {
    log.warning(`Could not write the job summary: ${(e as Error).message}`)
  }
  if (outcome.failure) {
    const f = outcome.failure
    if (f.logs !== undefined) {
      await log.group(`Last log lines of ${f.container ?? 'the container'}`, () => sink.untrusted(async print => print(f.logs ?? '')))
    }
    sink.setFailed(f.reason)
  }

  // A run can fail with a result other than 'failed' (auto-rolled-back: the watch switched back).
  const failed = outcome.result === 'failed' || outcome.failure !== undefined
  if (failed) await startDeployment()
  const deployment = currentDeployment()
  if (deployment) {
    if (failed) {
      await deployment.setStatus(infrastructureError ? 'error' : 'failure', outcome.failure?.reason ?? 'failed')
    } else {
      const done =
        outcome.result === 'preview'
          ? `Preview of ${outcome.image} on ${outcome.color} waits for mode promote (${outcome.previousImage} stays live)`
          : outcome.result === 'canary'
            ? `${outcome.image} serving ${config.strategy.canaryWeight} % of requests on ${outcome.color} (canary)`
            : outcome.result === 'rolled-back'
              ? `Rolled back to ${outcome.image} on ${outcome.color}`
              : `${outcome.image} ${outcome.result === 'unchanged' ? 'already live' : 'live'} on ${outcome.color}`
      await deployment.setStatus('success', done, outcome.result === 'preview' ? outcome.preview?.url : config.github.environmentUrl)
      // A canary serves beside the live release: the live release's deployment stays active until promote.
      if (outcome.result !== 'canary') await deployment.retireSuperseded()
    }
    if (deployment.id !== undefined) sink.setOutput('deployment-id', String(deployment.id))
  }
  const { token, environment } = config.github
  if (outcome.previewEnded && config.github.deployments) {
    const why = outcome.previewEnded === 'promoted' ? `Promoted: live in ${environment}` : 'Discarded by mode rollback'
    await GithubDeployment.retireEnvironment(token, runContextFromEnv(), config.app, previewEnvironment(environment), why, log)
  }
  // mode remove makes no deployment of its own: the app's deployments stop saying it serves.
  if (config.mode === 'remove' && !failed && config.github.deployments) {
    const why = `Removed from ${config.fleet ? `${config.fleet.hosts.length} hosts` : config.ssh.host} by mode remove`
    for (const env of [environment, previewEnvironment(environment)])
      await GithubDeployment.retireEnvironment(token, runContextFromEnv(), config.app, env, why, log)
  }
}

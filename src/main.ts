import { randomBytes } from 'node:crypto'
import * as core from '@actions/core'
import type { Config } from './core/config.js'
import { InputError, parseInputs } from './inputs/parse.js'
import type { Log } from './core/log.js'
import { ReleaseError, type Failure, type Outcome, type ReleaseResult } from './core/outcome.js'
import type { ReleaseAuthor } from './core/release.js'
import { DeployLock } from './host/lock.js'
import { ReleaseEngine, type EngineDeps, type PlannedRelease } from './engine/release.js'
import { Timeline } from './engine/timeline.js'
import type { UntrustedOutput } from './engine/release-command.js'
import { noProxy, resolveProxy } from './proxy/choose.js'
import { describeProxy, hostAdapters } from './adapters.js'
import { strategyProxyProblem } from './inputs/strategy.js'
import { switchMaintenance } from './engine/strategy.js'
import { GithubDeployment, logUrlOf, previewEnvironment, runContextFromEnv } from './reporting/deployments.js'
import { actionsLog } from './reporting/log.js'
import { outputsOf } from './reporting/outputs.js'
import { renderInputErrorSummary, renderSummary } from './reporting/summary.js'
import { renderCertificates, reportCertificates } from './reporting/certificates.js'
import type { DomainCertificate, Router } from './engine/ports.js'
import { dockerOverSsh, type DockerConnection } from './transport/docker.js'
import { SshSession } from './transport/ssh.js'
import { FleetRun } from './fleet/run.js'
import { FleetConnectError, labelOf } from './fleet/hosts.js'

/** After a cancel signal, how long the run may take to undo what it started before it exits anyway. */
const CANCEL_GRACE_MS = 6000

/** Every value registered as a secret: the runner masks the log, but not the job summary. */
const secrets: string[] = []

function readConfig(): Config {
  return parseInputs({
    get: name => core.getInput(name),
    mask: secret => {
      core.setSecret(secret)
      secrets.push(secret)
    },
    workspace: process.env.GITHUB_WORKSPACE ?? process.cwd()
  })
}

/**
 * Prints text a container wrote: workflow commands in it (::error::, ::add-mask::, ...) must not be
 * obeyed, so the runner is told to stop processing them until a token nobody can guess.
 */
function printUntrusted(text: string): void {
  const token = randomBytes(16).toString('hex')
  core.info(`::stop-commands::${token}`)
  core.info(text)
  core.info(`::${token}::`)
}

/** A container's output streamed into a log group as it comes, its workflow commands not obeyed (as printUntrusted). */
function untrustedOutput(log: Log): UntrustedOutput {
  return (title, body) =>
    log.group(title, async () => {
      const token = randomBytes(16).toString('hex')
      core.info(`::stop-commands::${token}`)
      try {
        return await body(line => core.info(line))
      } finally {
        core.info(`::${token}::`)
      }
    })
}

function hostLabel(config: Config): string {
  return labelOf(config.ssh)
}

function describeRelease(config: Config, planned?: PlannedRelease): string {
  if (!planned) return `${config.mode === 'rollback' ? 'Rollback' : 'Deploy'} of ${config.app}`
  const to = `${planned.color} ${planned.image}`
  if (planned.preview) return `Preview of ${config.app}: ${to}, waiting for mode promote${planned.from ? ` (${planned.from.image} stays live)` : ''}`
  if (config.mode === 'rollback') {
    return `Rollback of ${config.app} from ${planned.from ? `${planned.from.color} ${planned.from.image}` : 'nothing'} to ${to}`
  }
  return `Deploy of ${config.app}: ${to}${planned.from ? ` (replacing ${planned.from.image})` : ''}`
}

/** Holds what must be closed on every exit path: the lock, the Docker agent, the SSH connection. */
class Resources {
  ssh?: SshSession
  docker?: DockerConnection
  lock?: DeployLock
  /** A run over several hosts holds its own connections and locks. */
  fleet?: FleetRun

  close(log?: Log): void {
    this.fleet?.close()
    if (this.docker && log) {
      log.info(`Docker API: ${this.docker.agent.apiRequests} requests over ${this.docker.agent.channelsOpened} channels of 1 SSH connection`)
    }
    this.lock?.release()
    this.lock = undefined
    this.docker?.agent.destroy()
    this.ssh?.close()
  }
}

export async function run(): Promise<void> {
  let config: Config
  try {
    config = readConfig()
  } catch (e) {
    await refuseInputs(e instanceof InputError ? e.message : `Invalid input: ${(e as Error).message}`)
    return
  }
  await execute(config, actionsLog)
}

/** A run refused for its inputs: every output set, a job summary saying what was refused, the error. Nothing was touched. */
async function refuseInputs(reason: string): Promise<void> {
  const outputs = outputsOf({ result: 'failed', failure: { reason }, hosts: [], durationMs: 0 }, undefined)
  for (const [name, value] of Object.entries(outputs)) core.setOutput(name, value)
  try {
    await core.summary.addRaw(renderInputErrorSummary(reason, core.getInput('app'), secrets)).write()
  } catch (e) {
    core.warning(`Could not write the job summary: ${(e as Error).message}`)
  }
  core.setFailed(reason)
}

async function execute(config: Config, log: Log): Promise<void> {
  const timeline = new Timeline(log)
  const resources = new Resources()
  const runInfo = runContextFromEnv()
  const runLabel = `${process.env.GITHUB_REPOSITORY ?? 'local'}#${process.env.GITHUB_RUN_ID ?? process.pid}`
  const author: ReleaseAuthor = {
    repository: runInfo.repository,
    runUrl: logUrlOf(runInfo),
    actor: process.env.GITHUB_ACTOR,
    commit: runInfo.sha
  }

  let deployment: GithubDeployment | undefined
  // Maintenance changes what the proxy answers, not what is deployed: no GitHub deployment.
  const wantsDeployment = (config.mode === 'deploy' || config.mode === 'rollback' || config.mode === 'promote') && config.github.deployments
  const startDeployment = async (planned?: PlannedRelease) => {
    if (!wantsDeployment || deployment) return
    deployment = GithubDeployment.forRun(
      config.github.token,
      runInfo,
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
      log
    )
    await deployment?.create()
    await deployment?.setStatus('in_progress', describeRelease(config, planned))
  }

  let engine: ReleaseEngine | undefined
  let fleet: FleetRun | undefined
  // One report per run, whichever exit path asks first; a later caller (a second signal) waits for the same one.
  let reporting: Promise<void> | undefined
  const finish = (result: ReleaseResult, infrastructureError: boolean, certificates: DomainCertificate[] = []) =>
    (reporting ??= reportOutcome(result, infrastructureError, certificates))
  const reportOutcome = async (result: ReleaseResult, infrastructureError: boolean, certificates: DomainCertificate[]) => {
    const outcome: Outcome = {
      ...result,
      hosts: result.hosts ?? [
        { host: hostLabel(config), result: result.result, color: result.color, image: result.image, release: result.release?.id, error: result.failure?.reason }
      ],
      mode: config.mode,
      app: config.app,
      steps: timeline.steps,
      durationMs: timeline.elapsedMs()
    }
    await report(config, outcome, log, infrastructureError, startDeployment, () => deployment, certificates)
  }
  const failedResult = (failure: Failure): ReleaseResult => {
    const live = engine?.observed
    const previous = engine?.releases[1]
    return {
      result: 'failed',
      failure,
      color: live?.color,
      image: live?.image,
      deployedAt: live?.liveSince,
      previousColor: previous?.color,
      previousImage: previous?.image,
      release: live,
      releases: engine?.releases
    }
  }

  // The runner sends SIGINT on cancel, then SIGTERM 7.5 s later. The first signal asks the engine to
  // stop at its next safe point, undoing what it started (nothing half-done is ever live: the proxy
  // switches only to a healthy color); a second signal, or the grace running out, ends the run now.
  let signals = 0
  let stoppedEarly: string | undefined
  const hardStop = (why: string) => {
    resources.close()
    // Cancelled before the release started: saying so is more use than "stopped at once".
    void finish(failedResult({ reason: (!engine && stoppedEarly) || why }), true).finally(() => process.exit(1))
    setTimeout(() => process.exit(1), 3000).unref()
  }
  const onSignal = (signal: NodeJS.Signals) => {
    signals++
    if (signals > 1) return hardStop(`Cancelled (${signal} after an earlier signal): stopped at once; the next run recovers what this one left.`)
    log.warning(`Received ${signal}: stopping. The live color is unchanged unless the switch had already completed.`)
    if (fleet) fleet.abort(`Cancelled (${signal})`)
    else if (engine) engine.abort(`Cancelled (${signal})`)
    else {
      // connecting or waiting for the lock: nothing to undo, and the failure that follows is this cancel
      stoppedEarly = `Cancelled (${signal}) before the release started (while connecting, locking or reading the host): nothing was changed`
      resources.close()
    }
    setTimeout(
      () => hardStop(`Cancelled (${signal}): cleanup did not finish within ${CANCEL_GRACE_MS / 1000} s; the next run recovers what this one left.`),
      CANCEL_GRACE_MS
    ).unref()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let result: ReleaseResult
  let infrastructureError = false
  let certificates: DomainCertificate[] = []
  /** The proxy, once known: a failed run still reports the certificates (a CA's refusal shows which name lacks one). */
  let reportRouter: Router | undefined
  const holder = {
    run: runLabel,
    actor: process.env.GITHUB_ACTOR ?? 'unknown',
    repository: process.env.GITHUB_REPOSITORY ?? 'local',
    since: new Date().toISOString()
  }
  try {
    if (config.fleet) {
      // Several hosts: one deployment, created once whichever host plans first.
      let planned: Promise<void> | undefined
      fleet = resources.fleet = new FleetRun({ config, log, run: runLabel, author, holder, onPlanned: p => (planned ??= startDeployment(p)) }, timeline)
      if (signals > 0) fleet.abort('Cancelled')
      result = await fleet.run()
      certificates = await fleet.certificates()
    } else {
      await timeline.step('connect', `Connecting to ${hostLabel(config)}`, async note => {
        resources.ssh = await SshSession.connect(config.ssh)
        resources.ssh.onLost(e => log.warning(e.message))
        resources.docker = dockerOverSsh(resources.ssh, config.dockerSocket)
        const version = await resources.docker.docker.version()
        note(`Docker ${version.Version} (API ${version.ApiVersion})`)
        log.info(`Connected to ${resources.ssh.description}: Docker ${version.Version} (API ${version.ApiVersion}, ${version.Os}/${version.Arch})`)
      })
      const ssh = resources.ssh!
      const docker = resources.docker!.docker
      // The shell that holds the lock also serves the ledger's reads and writes (mode status reads without the lock).
      // rebuild-ledger writes the ledger: under the lock, as a deploy would.
      const shell =
        config.mode === 'status' && !config.rebuildLedger
          ? await DeployLock.unlocked(ssh, log)
          : await timeline.step('lock', `Taking the deploy lock of ${config.app}`, () => DeployLock.acquire(ssh, config.app, holder, config.lockTimeoutMs, log))
      resources.lock = shell
      const web = config.roles?.web !== false
      const proxy = web ? (await resolveProxy(docker, config.proxy)).settings : noProxy(config.proxy)
      if (web) log.info(describeProxy(config, proxy))
      // proxy-type auto: only now is it known whether the strategies' inputs have the HAProxy they need.
      const needsHaproxy = web && strategyProxyProblem(config.strategy, config.mode, proxy.type, proxy.sticky, proxy.previewDomains)
      if (needsHaproxy) throw new ReleaseError({ reason: `Input '${needsHaproxy.input}' ${needsHaproxy.message}` })
      const adapters = hostAdapters(config, proxy, { ssh, docker, shell }, holder, log)
      if (web) reportRouter = adapters.router
      const deps: EngineDeps = {
        config,
        ...adapters,
        log,
        timeline,
        run: runLabel,
        author,
        onPlanned: startDeployment,
        output: untrustedOutput(log)
      }
      engine = new ReleaseEngine(deps)
      if (signals > 0) engine.abort('Cancelled')
      if (config.mode === 'status') result = await engine.status()
      else if (config.mode === 'maintenance' || config.mode === 'live') result = await switchMaintenance(deps, config.mode === 'maintenance')
      else if (config.mode === 'promote') result = await engine.promote()
      else if (config.mode === 'deploy') result = await engine.release({ kind: 'deploy', image: config.image! })
      else result = await engine.release({ kind: 'rollback', toImage: config.toImage, toRelease: config.toRelease })
      if (web) certificates = await reportCertificates(adapters.router, log)
    }
  } catch (e) {
    infrastructureError = !(e instanceof ReleaseError)
    // A failure after the host was changed on purpose (the watch's rollback) reports what it left.
    result =
      e instanceof ReleaseError && e.result
        ? { ...e.result, failure: e.failure }
        : failedResult(e instanceof ReleaseError ? e.failure : { reason: (e as Error).message })
    // Hosts that could not be reached or locked: the hosts output still lists every host.
    if (e instanceof FleetConnectError) result = { ...result, hosts: e.hosts }
    // The cancel closed the connection before the release started: that, not the closed channel, is the reason.
    if (stoppedEarly && !(e instanceof ReleaseError)) result = failedResult({ reason: stoppedEarly })
    const lost = resources.ssh?.lost
    if (lost) {
      // Whatever step noticed it, the cause is the connection: say so, and leave recovery to the next run.
      infrastructureError = true
      result = failedResult({ reason: `${lost.message}. Nothing more could be done on the host; the next run recovers what this one left.` })
    } else if (reportRouter) {
      certificates = await reportCertificates(reportRouter, log)
    }
  } finally {
    resources.close(log)
  }
  await finish(result, infrastructureError, certificates)
  process.removeListener('SIGINT', onSignal)
  process.removeListener('SIGTERM', onSignal)
  if (signals > 0) process.exit(1)
}

async function report(
  config: Config,
  outcome: Outcome,
  log: Log,
  infrastructureError: boolean,
  startDeployment: () => Promise<void>,
  currentDeployment: () => GithubDeployment | undefined,
  certificates: DomainCertificate[] = []
): Promise<void> {
  // Outputs, the summary and the error first: they must be written whatever happens to the API calls
  // below (a second cancel signal ends the process a few seconds later).
  for (const [name, value] of Object.entries(outputsOf(outcome, undefined))) core.setOutput(name, value)
  try {
    const where = config.fleet ? `${config.fleet.hosts.length} hosts` : `${config.ssh.host}`
    await core.summary.addRaw(renderSummary(outcome, where, secrets) + renderCertificates(certificates)).write()
  } catch (e) {
    log.warning(`Could not write the job summary: ${(e as Error).message}`)
  }
  if (outcome.failure) {
    const f = outcome.failure
    if (f.logs !== undefined) {
      await log.group(`Last log lines of ${f.container ?? 'the container'}`, async () => printUntrusted(f.logs ?? ''))
    }
    core.setFailed(f.reason)
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
    if (deployment.id !== undefined) core.setOutput('deployment-id', String(deployment.id))
  }
  if (outcome.previewEnded && config.github.deployments) {
    const why = outcome.previewEnded === 'promoted' ? `Promoted: live in ${config.github.environment}` : 'Discarded by mode rollback'
    await GithubDeployment.retirePreviews(config.github.token, runContextFromEnv(), config.app, previewEnvironment(config.github.environment), why, log)
  }
}

import * as core from '@actions/core'
import type { Config } from './inputs/config.js'
import { InputError, parseInputs } from './inputs/parse.js'
import { DeployLock } from './engine/lock.js'
import { ReleaseError, type Failure, type Outcome } from './engine/outcome.js'
import { ReleaseEngine, type PlannedRelease } from './engine/release.js'
import { Timeline } from './engine/timeline.js'
import { NginxRouter } from './proxy/nginx.js'
import { GithubDeployment, runContextFromEnv } from './reporting/deployments.js'
import { actionsLog, type Log } from './reporting/log.js'
import { outputsOf } from './reporting/outputs.js'
import { renderSummary } from './reporting/summary.js'
import { dockerOverSsh, type DockerConnection } from './transport/docker.js'
import { SshSession } from './transport/ssh.js'

function readConfig(): Config {
  return parseInputs({
    get: name => core.getInput(name),
    mask: secret => core.setSecret(secret),
    workspace: process.env.GITHUB_WORKSPACE ?? process.cwd()
  })
}

function hostLabel(config: Config): string {
  return `${config.ssh.user}@${config.ssh.host}:${config.ssh.port}`
}

function describeRelease(config: Config, planned?: PlannedRelease): string {
  if (!planned) return `${config.mode === 'rollback' ? 'Rollback' : 'Deploy'} of ${config.app}`
  const to = `${planned.color} ${planned.image}`
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

  close(log?: Log): void {
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
    core.setOutput('result', 'failed')
    core.setFailed(e instanceof InputError ? e.message : `Invalid input: ${(e as Error).message}`)
    return
  }
  await release(config, actionsLog)
}

async function release(config: Config, log: Log): Promise<void> {
  const timeline = new Timeline(log)
  const resources = new Resources()
  const runInfo = runContextFromEnv()
  const runLabel = `${process.env.GITHUB_REPOSITORY ?? 'local'}#${process.env.GITHUB_RUN_ID ?? process.pid}`

  let deployment: GithubDeployment | undefined
  const wantsDeployment = config.mode !== 'status' && config.github.deployments
  const startDeployment = async (planned?: PlannedRelease) => {
    if (!wantsDeployment || deployment) return
    deployment = GithubDeployment.forRun(
      config.github.token,
      runInfo,
      { app: config.app, image: planned?.image ?? config.image ?? config.toImage ?? '', environment: config.github.environment, description: describeRelease(config, planned) },
      log
    )
    await deployment?.create()
    await deployment?.setStatus('in_progress', describeRelease(config, planned))
  }

  // The runner sends SIGINT on cancel, then SIGTERM: release the lock and close the tunnel.
  // Nothing half-done is left live: the proxy only ever switches to a healthy color.
  const onSignal = (signal: NodeJS.Signals) => {
    log.warning(`Received ${signal}: stopping. The live color is unchanged unless the switch had already completed.`)
    resources.close()
    void (deployment?.setStatus('error', `Cancelled (${signal})`) ?? Promise.resolve()).finally(() => process.exit(1))
    setTimeout(() => process.exit(1), 3000).unref()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  let engine: ReleaseEngine | undefined
  let partial: Omit<Outcome, 'steps' | 'durationMs' | 'mode' | 'app'>
  let infrastructureError = false
  try {
    await timeline.step('connect', `Connecting to ${hostLabel(config)}`, async note => {
      resources.ssh = await SshSession.connect(config.ssh)
      resources.docker = dockerOverSsh(resources.ssh, config.dockerSocket)
      const version = await resources.docker.docker.version()
      note(`Docker ${version.Version} (API ${version.ApiVersion})`)
      log.info(`Connected to ${resources.ssh.description}: Docker ${version.Version} (API ${version.ApiVersion}, ${version.Os}/${version.Arch})`)
    })
    const ssh = resources.ssh!
    const docker = resources.docker!.docker
    if (config.mode !== 'status') {
      resources.lock = await timeline.step('lock', `Taking the deploy lock of ${config.app}`, () =>
        DeployLock.acquire(
          ssh,
          config.app,
          { run: runLabel, actor: process.env.GITHUB_ACTOR ?? 'unknown', repository: process.env.GITHUB_REPOSITORY ?? 'local', since: new Date().toISOString() },
          config.lockTimeoutMs,
          log
        )
      )
    }
    const openTcp = (host: string, port: number) => ssh.openTcp(host, port)
    // Credentials meant for "whatever app image is pulled" are not offered to the proxy image's registry.
    const proxyAuth = config.registry?.serveraddress ? config.registry : undefined
    const router = new NginxRouter(docker, openTcp, config.proxy, config.app, config.health.port, proxyAuth, log)
    engine = new ReleaseEngine({ config, docker, router, openTcp, log, timeline, run: runLabel, onPlanned: startDeployment })
    if (config.mode === 'status') partial = await engine.status()
    else if (config.mode === 'deploy') partial = await engine.release({ kind: 'deploy', image: config.image! })
    else partial = await engine.release({ kind: 'rollback', toImage: config.toImage })
  } catch (e) {
    infrastructureError = !(e instanceof ReleaseError)
    const failure: Failure = e instanceof ReleaseError ? e.failure : { reason: (e as Error).message }
    const live = engine?.observed
    partial = {
      result: 'failed',
      failure,
      color: live?.color,
      image: live?.image,
      deployedAt: live?.deployedAt,
      previousColor: live?.previous?.color,
      previousImage: live?.previous?.image
    }
  } finally {
    resources.close(log)
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }

  const outcome: Outcome = { ...partial, mode: config.mode, app: config.app, steps: timeline.steps, durationMs: timeline.elapsedMs() }
  await report(config, outcome, log, infrastructureError, startDeployment, () => deployment)
}

async function report(
  config: Config,
  outcome: Outcome,
  log: Log,
  infrastructureError: boolean,
  startDeployment: () => Promise<void>,
  currentDeployment: () => GithubDeployment | undefined
): Promise<void> {
  if (outcome.result === 'failed') await startDeployment()
  const deployment = currentDeployment()
  if (deployment) {
    if (outcome.result === 'failed') {
      await deployment.setStatus(infrastructureError ? 'error' : 'failure', outcome.failure?.reason ?? 'failed')
    } else {
      const done =
        outcome.result === 'rolled-back'
          ? `Rolled back to ${outcome.image} on ${outcome.color}`
          : `${outcome.image} ${outcome.result === 'unchanged' ? 'already live' : 'live'} on ${outcome.color}`
      await deployment.setStatus('success', done, config.github.environmentUrl)
      await deployment.retireSuperseded()
    }
  }

  for (const [name, value] of Object.entries(outputsOf(outcome, deployment?.id))) core.setOutput(name, value)
  try {
    await core.summary.addRaw(renderSummary(outcome, `${config.ssh.host}`)).write()
  } catch (e) {
    log.warning(`Could not write the job summary: ${(e as Error).message}`)
  }

  if (outcome.failure) {
    const f = outcome.failure
    if (f.logs !== undefined) {
      await log.group(`Last log lines of ${f.container ?? 'the container'}`, async () => log.info(f.logs ?? ''))
    }
    core.setFailed(f.reason)
  }
}

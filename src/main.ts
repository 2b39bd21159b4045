import type { Config } from './core/config.js'
import type { Log } from './core/log.js'
import { ReleaseError, type ReleaseResult } from './core/outcome.js'
import type { ReleaseAuthor } from './core/release.js'
import type { DeployLock, LockHolder } from './host/lock.js'
import { ReleaseEngine, type EngineDeps } from './engine/release.js'
import { engineConfigOf } from './engine/context.js'
import { Timeline } from './engine/timeline.js'
import type { UntrustedOutput } from './engine/release-command.js'
import { hostAdapters, settleProxy, swarmProxySettings } from './adapters.js'
import { MODES } from './engine/modes.js'
import { logUrlOf, runContextFromEnv } from './reporting/deployments.js'
import { reportCertificates } from './reporting/certificates.js'
import type { DomainCertificate, Router } from './engine/ports.js'
import { dockerOverSsh, type DockerConnection } from './transport/docker.js'
import { SshSession } from './transport/ssh.js'
import { FleetRun } from './fleet/run.js'
import { FleetConnectError, labelOf } from './fleet/hosts.js'
import { refuseInputs, RunReport } from './run-report.js'
import { actionsSink, type RunIdentity, type RunSink } from './run-sink.js'
import { sinceStart, trace } from './core/trace.js'
import { openShell, secrets, takesLock, type EarlyHost, type Start } from './start.js'

/** After a cancel signal, how long the run may take to undo what it started before it exits anyway. */
const CANCEL_GRACE_MS = 6000
/** The runner sends SIGKILL about this long after its first signal (SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that). */
const RUNNER_KILL_AFTER_MS = 10_000
/** What a hard stop leaves for writing the report before the runner's SIGKILL. */
const REPORT_MS = 1500
/** The longest a hard stop waits for the run to put back what it changed. */
const HARD_STOP_WAIT_MS = 5000

/** A container's output streamed into a log group as it comes, its workflow commands not obeyed. */
function untrustedOutput(sink: RunSink): UntrustedOutput {
  return (title, body) => sink.log.group(title, () => sink.untrusted(body))
}

/** Who runs, as the runner's environment says (the lock's holder, made by start.ts). */
function actionIdentity(holder: LockHolder): RunIdentity {
  const runInfo = runContextFromEnv()
  return {
    runInfo,
    runLabel: holder.run,
    author: { repository: runInfo.repository, runUrl: logUrlOf(runInfo), actor: process.env.GITHUB_ACTOR, commit: runInfo.sha },
    holder,
    secrets,
    cancelledExitCode: 1
  }
}

function hostLabel(config: Config): string {
  return labelOf(config.ssh)
}

/** Holds what must be closed on every exit path: the lock, the Docker agent, the SSH connection. */
class Resources {
  ssh?: SshSession
  docker?: DockerConnection
  lock?: DeployLock
  /** A run over several hosts holds its own connections and locks. */
  fleet?: FleetRun
  private closed = false

  /** The shell on its way (opened beside the Docker checks): held once it comes, or ended at once if the run has closed by then. */
  adoptShell(shell: Promise<DeployLock>): Promise<DeployLock> {
    shell.then(
      lock => (this.closed ? lock.release() : (this.lock = lock)),
      () => undefined
    )
    return shell
  }

  close(log?: Log): void {
    this.closed = true
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

/** How long the finished action's process may take to end by itself. */
const EXIT_GRACE_MS = 2000

/** The Action's run, once start.ts has read the inputs (and, for one host, started connecting). */
export async function run(started: Start): Promise<void> {
  trace.mark('main')
  if (!started.config) {
    await refuseInputs(started.refused, started.app, secrets, actionsSink)
    return
  }
  const end = await execute(started.config, actionsSink, actionIdentity(started.holder), started.early)
  if (end.cancelled) process.exit(1)
  // Reported, connection closed: nothing the run left behind (a pull it no longer awaits) holds the job's step.
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref()
}

/** How a run ended: its result, and whether a signal cancelled it. */
export interface RunEnd {
  result: ReleaseResult
  cancelled: boolean
}

/**
 * One run on the engine, for the Action and the command line alike: `sink` takes its report.
 * `early`: the connection and lock shell start.ts began for one host while the action loaded.
 */
export async function execute(config: Config, sink: RunSink, identity: RunIdentity, early?: EarlyHost): Promise<RunEnd> {
  const log = sink.log
  const timeline = new Timeline(log)
  const resources = new Resources()
  const { runInfo, runLabel, author, holder } = identity

  // Outputs, summary, error and GitHub deployment, once, whichever exit path comes first.
  const reports = new RunReport(config, sink, timeline, runInfo, identity.secrets)
  let engine: ReleaseEngine | undefined
  let fleet: FleetRun | undefined

  const cancel = new Cancellation(log, resources, reports, () => ({ fleet, engine }), identity.cancelledExitCode)
  cancel.listen()

  let result: ReleaseResult
  let infrastructureError = false
  let certificates: DomainCertificate[] = []
  /** The proxy, once known: a failed run still reports the certificates (a CA's refusal shows which name lacks one). */
  let reportRouter: Router | undefined
  try {
    if (config.fleet) {
      // Several hosts: one deployment, created once whichever host plans first.
      let planned: Promise<void> | undefined
      fleet = resources.fleet = new FleetRun({ config, log, run: runLabel, author, holder, onPlanned: p => (planned ??= reports.startDeployment(p)) }, timeline)
      if (cancel.signals > 0) fleet.abort('Cancelled')
      result = await cancel.track(fleet.run())
      certificates = await fleet.certificates()
    } else {
      ;({ result, certificates } = await cancel.track(
        runOneHost({
          config,
          log,
          timeline,
          resources,
          holder,
          runLabel,
          author,
          reports,
          sink,
          early,
          cancelled: () => cancel.signals > 0,
          onRouter: router => (reportRouter = router),
          onEngine: made => (engine = made)
        })
      ))
    }
  } catch (e) {
    infrastructureError = !(e instanceof ReleaseError) || e.infrastructure
    // The engine's error says what serves (after an automatic rollback, what it left); errors before it ran know nothing live.
    const known: ReleaseResult = e instanceof ReleaseError && e.result ? e.result : reports.failedResult({ reason: '' })
    result = { ...known, failure: e instanceof ReleaseError ? e.failure : { reason: (e as Error).message } }
    // Hosts that could not be reached or locked: the hosts output still lists every host.
    if (e instanceof FleetConnectError) result = { ...result, hosts: e.hosts }
    // The cancel closed the connection before the release started: that, not the closed channel, is the reason.
    if (cancel.stoppedEarly && !(e instanceof ReleaseError)) result = reports.failedResult({ reason: cancel.stoppedEarly })
    const lost = resources.ssh?.lost
    if (lost) {
      // Whatever step noticed it, the cause is the connection: say so, and leave recovery to the next run.
      infrastructureError = true
      result = { ...known, failure: { reason: `${lost.message}. Nothing more could be done on the host; the next run recovers what this one left.` } }
    } else if (reportRouter) {
      certificates = await reportCertificates(reportRouter, log)
    }
  } finally {
    const closing = sinceStart()
    resources.close(log)
    trace.span('close', closing)
  }
  // target swarm: how close together its proxy tasks switched (several hosts report their own spread).
  if (reportRouter?.lastSpreadMs !== undefined) result = { ...result, switchSpreadMs: result.switchSpreadMs ?? reportRouter.lastSpreadMs }
  await trace.timed('report', () => reports.finish(result, infrastructureError, certificates))
  cancel.stop()
  return { result, cancelled: cancel.signals > 0 }
}

/**
 * The runner sends SIGINT on cancel, then SIGTERM 7.5 s later. The first signal asks the engine to
 * stop at its next safe point, undoing what it started (nothing half-done is ever live: the proxy
 * switches only to a healthy color); a second signal, or the grace running out, ends the run now,
 * once the report (outputs, summary, error) is written.
 */
class Cancellation {
  signals = 0
  /** Set when a signal came before the release started: the reason the run fails with. */
  stoppedEarly?: string
  /** The run in flight (its undo included): a hard stop gives it a moment to put the host back. */
  private work?: Promise<unknown>
  private firstAt?: number
  private stopping = false

  constructor(
    private readonly log: Log,
    private readonly resources: Resources,
    private readonly reports: RunReport,
    private readonly running: () => { fleet?: FleetRun; engine?: ReleaseEngine },
    private readonly exitCode = 1
  ) {}

  listen(): void {
    process.on('SIGINT', this.onSignal)
    process.on('SIGTERM', this.onSignal)
  }

  stop(): void {
    process.removeListener('SIGINT', this.onSignal)
    process.removeListener('SIGTERM', this.onSignal)
  }

  /** Follows the run in flight; returns it unchanged. */
  track<T>(work: Promise<T>): Promise<T> {
    this.work = work
    return work
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.signals++
    this.firstAt ??= Date.now()
    if (this.signals > 1) return this.hardStop(`Cancelled (${signal} after an earlier signal): stopped at once; the next run recovers what this one left.`)
    this.log.warning(`Received ${signal}: stopping. The live color is unchanged unless the switch had already completed.`)
    const { fleet, engine } = this.running()
    if (fleet) fleet.abort(`Cancelled (${signal})`)
    else if (engine) engine.abort(`Cancelled (${signal})`)
    else {
      // connecting or waiting for the lock: nothing to undo, and the failure that follows is this cancel
      this.stoppedEarly = `Cancelled (${signal}) before the release started (while connecting, locking or reading the host): nothing was changed`
      this.resources.close()
    }
    setTimeout(
      () => this.hardStop(`Cancelled (${signal}): cleanup did not finish within ${CANCEL_GRACE_MS / 1000} s; the next run recovers what this one left.`),
      CANCEL_GRACE_MS
    ).unref()
  }

  private hardStop(why: string): void {
    if (this.stopping) return
    this.stopping = true
    // The first signal made the run undo what it started (a set-aside standby put back, the new
    // container removed): closing the connection now would leave that half done (issue #22). It
    // gets what is left of the runner's grace (SIGKILL ~10 s after the first signal), then the run
    // reports as usual; if it has not settled by then, this reports what is known and exits.
    const wait = Math.max(0, Math.min(HARD_STOP_WAIT_MS, (this.firstAt ?? Date.now()) + RUNNER_KILL_AFTER_MS - REPORT_MS - Date.now()))
    const settled = this.work?.then(
      () => true,
      () => true
    )
    if (!settled || wait === 0) return this.stopNow(why)
    this.log.warning(`Stopping now: giving the run up to ${(wait / 1000).toFixed(1)} s to put back what it changed`)
    const timer = new Promise<false>(resolve => setTimeout(() => resolve(false), wait).unref())
    void Promise.race([settled, timer]).then(done => {
      // Settled: execute() writes the report and exits; this only makes sure the process ends.
      if (done) setTimeout(() => process.exit(1), REPORT_MS).unref()
      else this.stopNow(why)
    })
  }

  private stopNow(why: string): void {
    this.resources.close()
    // Cancelled before the release started: saying so is more use than "stopped at once".
    const reason = (!this.running().engine && this.stoppedEarly) || why
    void this.reports.finish(this.reports.failedResult({ reason }), true).finally(() => process.exit(this.exitCode))
    setTimeout(() => process.exit(this.exitCode), 3000).unref()
  }
}

/** What a one-host run needs from execute(), and tells it back (its engine and router, once made). */
interface OneHostRun {
  config: Config
  log: Log
  timeline: Timeline
  resources: Resources
  holder: LockHolder
  runLabel: string
  author: ReleaseAuthor
  reports: RunReport
  sink: RunSink
  early?: EarlyHost
  cancelled: () => boolean
  onRouter: (router: Router) => void
  onEngine: (engine: ReleaseEngine) => void
}

/** One host: connect, lock (mode status: a lock-free shell), settle the proxy, run the mode's engine call. */
async function runOneHost(run: OneHostRun): Promise<{ result: ReleaseResult; certificates: DomainCertificate[] }> {
  const { config, log, timeline, resources, holder, runLabel, author, reports, sink, early, cancelled, onRouter, onEngine } = run
  let shellOpening: Promise<DeployLock> | undefined
  const connect = async (note: (detail: string) => void) => {
    const ssh = (resources.ssh = await (early?.connecting ?? trace.timed('ssh handshake', () => SshSession.connect(config.ssh))))
    ssh.onLost(e => log.warning(e.message))
    // The lock's shell starts on the host (an sshd session, the user's shell and its start-up files:
    // often the slowest call of a run) while Docker answers and the proxy is read; nothing changes on
    // the host before the lock step has it.
    shellOpening = resources.adoptShell(early?.shell ?? trace.timed('lock shell', () => openShell(ssh, config, holder, log)))
    resources.docker = dockerOverSsh(ssh, config.dockerSocket)
    const version = await resources.docker.docker.version()
    note(`Docker ${version.Version} (API ${version.ApiVersion})`)
    log.info(`Connected to ${ssh.description}: Docker ${version.Version} (API ${version.ApiVersion}, ${version.Os}/${version.Arch})`)
  }
  await timeline.step('connect', `Connecting to ${hostLabel(config)}`, connect, early?.since)
  const ssh = resources.ssh!
  const docker = resources.docker!.docker
  const web = config.roles?.web !== false
  // Reads only: which proxy the host runs, checked against the inputs while the lock's shell starts.
  const proxy = config.swarm ? swarmProxySettings(config, log) : await settleProxy(docker, config, log)
  // The shell that holds the lock also serves the ledger's reads and writes (mode status reads without the lock).
  // rebuild-ledger writes the ledger: under the lock, as a deploy would.
  const shell = (resources.lock = await (takesLock(config)
    ? timeline.step('lock', `Taking the deploy lock of ${config.app}`, () => shellOpening!)
    : shellOpening!))
  const adapters = hostAdapters(config, proxy, { ssh, docker, shell }, holder, log)
  if (web) onRouter(adapters.router)
  const deps: EngineDeps = {
    // The engine gets its slice: no SSH key, GitHub token or registry password is carried into it.
    config: engineConfigOf(config),
    ...adapters,
    log,
    timeline,
    run: runLabel,
    author,
    onPlanned: reports.startDeployment,
    output: untrustedOutput(sink)
  }
  const engine = (reports.engine = new ReleaseEngine(deps, adapters.colors))
  onEngine(engine)
  if (cancelled()) engine.abort('Cancelled')
  const result = await MODES[config.mode].run(engine, config)
  return { result, certificates: web ? await reportCertificates(adapters.router, log) : [] }
}

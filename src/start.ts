import type { Config } from './core/config.js'
import type { Log } from './core/log.js'
import { sinceStart, trace } from './core/trace.js'
import { MODES } from './engine/modes.js'
import { DeployLock, type LockHolder } from './host/lock.js'
import { InputError } from './inputs/errors.js'
import { readLayeredConfig } from './inputs/layers.js'
import { ACTION_DEFAULTS } from './inputs/settings-defaults.js'
import { SshSession } from './transport/ssh.js'
import { actionsLog } from './reporting/log.js'
import { setSecret } from './reporting/workflow-commands.js'

/**
 * The first moments of an Action run, before the rest of the action is loaded (issue #25): the
 * inputs are read and checked, and for one host the SSH handshake starts at once, then the shell
 * that takes the deploy lock. The host's sshd and the user's shell start-up files (an exec runs
 * ~/.bashrc, often the slowest call of a run) then work while this process loads Docker's client,
 * the engine, the proxies and the reporting (main.ts, a chunk of its own in dist/). Only what
 * reading inputs and connecting need is imported here.
 */
export type Start = { config: Config; holder: LockHolder; early?: EarlyHost } | { config?: undefined; refused: string; app: string }

/** One host's connection and the shell that holds its deploy lock (or reads without it), both under way. */
export interface EarlyHost {
  connecting: Promise<SshSession>
  shell: Promise<DeployLock>
  /** When the handshake began, on the run's clock (Date.now) and on the trace's (the connect step counts from it). */
  since: { at: number; traced: number }
}

/** Whether a run holds the app's deploy lock: a mode that changes the host, or rebuild-ledger (which writes the ledger). */
export function takesLock(config: Pick<Config, 'mode' | 'rebuildLedger'>): boolean {
  return MODES[config.mode].changes || config.rebuildLedger === true
}

/** The shell that serves the ledger: holding the deploy lock, or lock-free for a mode that only reads. */
export function openShell(ssh: SshSession, config: Config, holder: LockHolder, log: Log): Promise<DeployLock> {
  return takesLock(config) ? DeployLock.acquire(ssh, config.app, holder, config.lockTimeoutMs, log) : DeployLock.unlocked(ssh, log)
}

/** Who holds the lock, as other runs are told while they wait for it. */
export function actionHolder(env: NodeJS.ProcessEnv = process.env): LockHolder {
  return {
    run: `${env.GITHUB_REPOSITORY ?? 'local'}#${env.GITHUB_RUN_ID ?? process.pid}`,
    actor: env.GITHUB_ACTOR ?? 'unknown',
    repository: env.GITHUB_REPOSITORY ?? 'local',
    since: new Date().toISOString()
  }
}

/** Every value registered as a secret: the runner masks the log, but not the job summary. */
export const secrets: string[] = []

/** An input as @actions/core's getInput reads it (INPUT_<NAME>, spaces to _, upper case, trimmed). */
export function getInput(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim()
}

function mask(secret: string): void {
  setSecret(secret)
  secrets.push(secret)
}

/** Reads the inputs and, for one host, starts connecting and locking; nothing waits on these until main.ts does. */
export function start(): Start {
  const parsing = sinceStart()
  let config: Config
  try {
    config = readLayeredConfig({
      explicit: name => getInput(name),
      explicitDefaults: ACTION_DEFAULTS,
      env: process.env,
      mask,
      workspace: process.env.GITHUB_WORKSPACE ?? process.cwd()
    }).config
    trace.span('inputs', parsing)
  } catch (e) {
    return { refused: e instanceof InputError ? e.message : `Invalid input: ${(e as Error).message}`, app: getInput('app') }
  }
  const holder = actionHolder()
  // Several hosts connect in the fleet's own step.
  if (config.fleet) return { config, holder }
  const since = { at: Date.now(), traced: sinceStart() }
  const connecting = trace.timed('ssh handshake', () => SshSession.connect(config.ssh))
  const shell = connecting.then(ssh => trace.timed('lock shell', () => openShell(ssh, config, holder, actionsLog)))
  // A failure is the connect or lock step's to report, once main.ts waits on them.
  connecting.catch(() => undefined)
  shell.catch(() => undefined)
  return { config, holder, early: { connecting, shell, since } }
}

import { randomBytes } from 'node:crypto'
import * as core from './reporting/workflow-commands.js'
import type { Log } from './core/log.js'
import type { Outcome } from './core/outcome.js'
import type { ReleaseAuthor } from './core/release.js'
import type { LockHolder } from './host/lock.js'
import type { RunContext } from './reporting/deployments.js'
import { actionsLog } from './reporting/log.js'

/**
 * Where a run's report goes (issue #21): the step's outputs, job summary and failure in the Action;
 * plain lines and a result object on the command line. The engine, ledger and lock are the same.
 */
export interface RunSink {
  log: Log
  setOutput(name: string, value: string): void
  writeSummary(markdown: string): Promise<void>
  setFailed(reason: string): void
  /** Prints what a container wrote, never obeying commands in it. */
  untrusted<T>(body: (print: (line: string) => void) => Promise<T>): Promise<T>
  /** The run's whole outcome, once, whatever the exit path. */
  finished?(outcome: Outcome): void
}

/** Who runs, for the ledger, the lock and the GitHub deployment. */
export interface RunIdentity {
  runInfo: RunContext
  runLabel: string
  author: ReleaseAuthor
  holder: LockHolder
  /** Every value registered as a secret, kept out of the summary. */
  secrets: readonly string[]
  /** The exit code after a cancel signal (the Action's 1, the command line's own). */
  cancelledExitCode: number
}

export const actionsSink: RunSink = {
  log: actionsLog,
  setOutput: (name, value) => core.setOutput(name, value),
  writeSummary: async markdown => {
    await core.appendSummary(markdown)
  },
  setFailed: reason => core.setFailed(reason),
  // Workflow commands in the text (::error::, ::add-mask::, ...) must not be obeyed: the runner is
  // told to stop processing them until a token nobody can guess.
  untrusted: async body => {
    const token = randomBytes(16).toString('hex')
    core.info(`::stop-commands::${token}`)
    try {
      return await body(line => core.info(line))
    } finally {
      core.info(`::${token}::`)
    }
  }
}

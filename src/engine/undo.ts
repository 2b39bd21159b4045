import type { Log } from '../core/log.js'
import type { Release } from '../core/release.js'

/** One thing the run changed, and how to put it back. */
export interface UndoEntry {
  what: string
  run: () => Promise<void>
  /**
   * What serves if putting this back fails (`live` undefined: not known), and why: everything
   * beneath it then stays as it is, to agree with it.
   */
  ifStuck?: { live: Release | undefined; why: string }
  state: 'pending' | 'done' | 'failed'
  error?: Error
}

/** Where an unwind stopped: the entry whose undo failed, and what that leaves serving (when it changes what serves). */
export interface Stuck {
  what: string
  error: Error
  ifStuck?: UndoEntry['ifStuck']
}

/**
 * The one undo stack of a release: every step that changes the host pushes how to put it back.
 * A failure before the release is committed unwinds it newest first. An undo that fails stops the
 * unwind: what lies beneath it (the containers a route still points at, say) stays, so that what
 * the proxy routes to and the containers under those names never disagree.
 */
export class UndoStack {
  private readonly entries: UndoEntry[] = []

  constructor(private readonly log: Log) {}

  push(what: string, run: () => Promise<void>, ifStuck?: UndoEntry['ifStuck']): UndoEntry {
    const entry: UndoEntry = { what, run, ifStuck, state: 'pending' }
    this.entries.push(entry)
    return entry
  }

  /** Runs one entry now (a failed verify switches back before it reports); the unwind skips it later. */
  async runNow(entry: UndoEntry): Promise<Error | undefined> {
    if (entry.state !== 'pending') return entry.error
    try {
      await entry.run()
      entry.state = 'done'
      return undefined
    } catch (e) {
      entry.state = 'failed'
      entry.error = e as Error
      return entry.error
    }
  }

  /** Undoes newest first; returns where it stopped, if an undo failed. */
  async unwind(): Promise<Stuck | undefined> {
    for (const entry of [...this.entries].reverse()) {
      if (entry.state === 'pending') await this.runNow(entry)
      if (entry.state === 'failed') {
        this.log.warning(`Could not undo ${entry.what}: ${entry.error?.message}; what it covers is left as it is`)
        return { what: entry.what, error: entry.error!, ifStuck: entry.ifStuck }
      }
    }
    this.entries.length = 0
    return undefined
  }

  /** The release is committed: nothing is undone any more. */
  commit(): void {
    this.entries.length = 0
  }
}

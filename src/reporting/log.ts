import * as core from '@actions/core'

/** What the engine needs of the job log; @actions/core in the action, a recorder in tests. */
export interface Log {
  info(message: string): void
  warning(message: string): void
  error(message: string, title?: string): void
  group<T>(name: string, fn: () => Promise<T>): Promise<T>
}

export const actionsLog: Log = {
  info: m => core.info(m),
  warning: m => core.warning(m),
  error: (m, title) => core.error(m, title ? { title } : undefined),
  group: (name, fn) => core.group(name, fn)
}

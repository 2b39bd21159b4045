import * as core from './workflow-commands.js'
import type { Log } from '../core/log.js'

export type { Log }

export const actionsLog: Log = {
  info: m => core.info(m),
  warning: m => core.warning(m),
  error: (m, title) => core.error(m, title),
  group: (name, fn) => core.group(name, fn)
}

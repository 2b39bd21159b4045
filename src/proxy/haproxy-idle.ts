import type Docker from 'dockerode'
import { COLORS, type Color } from '../core/names.js'
import { getFile } from '../transport/docker-ops.js'
import { backendName, BASE_FILE, HAPROXY_CONF_DIR } from './haproxy-config.js'
import { hardStopAfterOf, MIN_HARD_STOP_S } from './haproxy-lifecycle.js'
import { previewBackendName } from './haproxy-preview.js'
import type { HaproxyAdmin } from './haproxy-runtime.js'
import { ALL_SERVERS_STAT, serverSessionsOf } from './haproxy-stats.js'

/** One worker's answer to both: its pid and uptime, then every server's sessions and status. */
export const IDLE_QUERY = `show info; ${ALL_SERVERS_STAT}`

/**
 * A process left behind by a reload is told to stop once the new worker is ready, a moment after
 * that worker started: seconds allowed for it, on top of hard-stop-after.
 */
export const STOP_SIGNAL_MARGIN_S = 5

/** The worker's pid and uptime from `show info` (undefined when the answer has neither). */
export function workerOf(answer: string): { pid: number; uptimeS: number } | undefined {
  const pid = /^Pid:\s*(\d+)/m.exec(answer)?.[1]
  const uptime = /^Uptime_sec:\s*(\d+)/m.exec(answer)?.[1]
  return pid && uptime ? { pid: Number(pid), uptimeS: Number(uptime) } : undefined
}

/**
 * The app's colors that no new request can reach and whose requests the proxy no longer holds, from
 * one worker's answer to IDLE_QUERY. A color counts only when every one of its servers in `backends`
 * (the app's, its preview's) is out of rotation — in maintenance, or draining without sticky
 * cookies (which still send their clients to a draining server) — and holds no session and no
 * queued request. And only when no older process can still hold one: a process left behind by a
 * reload (or a hand-over) keeps its connections up to hard-stop-after, and its counters are not in
 * this answer, so the answering worker must have started longer ago than that.
 */
export function idleColorsOf(answer: string, backends: string[], hardStopAfterS: number, sticky: boolean): Color[] {
  const worker = workerOf(answer)
  if (!worker || worker.uptimeS < hardStopAfterS + STOP_SIGNAL_MARGIN_S) return []
  const csv = answer.slice(answer.indexOf('\n# '))
  const servers = serverSessionsOf(csv, backends)
  const outOfRotation = (status: string) => status.startsWith('MAINT') || (status === 'DRAIN' && !sticky)
  return COLORS.filter(color => {
    const own = servers.filter(s => s.color === color)
    return own.length > 0 && own.every(s => outOfRotation(s.status) && s.sessions === 0)
  })
}

/**
 * Asks the running proxy which of the app's colors are idle (idleColorsOf), in the app's backend and
 * its preview's. hard-stop-after comes from the base file as it is now (not as the run read the
 * volume), once per worker: a reload (a new pid) is the only way a larger value reaches a process,
 * and the only way a process is left behind.
 */
export class HaproxyIdleColors {
  private hardStop?: { pid: number; seconds: Promise<number | undefined> }

  constructor(
    private readonly admin: HaproxyAdmin,
    /** The proxy's own container, which holds the configuration volume. */
    private readonly container: Docker.Container,
    private readonly app: string,
    private readonly sticky: boolean
  ) {}

  async idleColors(): Promise<Color[]> {
    const answer = await this.admin.cli(IDLE_QUERY)
    const worker = workerOf(answer)
    // Younger than any hard-stop-after can be (no file read needed): an older process may still hold requests.
    if (!worker || worker.uptimeS < MIN_HARD_STOP_S + STOP_SIGNAL_MARGIN_S) return []
    if (this.hardStop?.pid !== worker.pid) {
      // Unread (the file could not be read): not idle this time, read again the next.
      const seconds = getFile(this.container, `${HAPROXY_CONF_DIR}/${BASE_FILE}`).then(
        text => hardStopAfterOf(text),
        () => {
          this.hardStop = undefined
          return undefined
        }
      )
      this.hardStop = { pid: worker.pid, seconds }
    }
    const seconds = await this.hardStop.seconds
    return seconds === undefined ? [] : idleColorsOf(answer, [backendName(this.app), previewBackendName(this.app)], seconds, this.sticky)
  }
}

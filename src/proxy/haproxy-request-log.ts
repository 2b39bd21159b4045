import type { RequestLine } from '../engine/ports.js'
import { backendName, HAPROXY_CONF_DIR, REQUEST_LOG_MAP, REQUEST_RING } from './haproxy-config.js'
import type { HaproxyAdmin } from './haproxy-runtime.js'
import { RuntimeApiError } from './haproxy-runtime.js'

/**
 * canary-steps (issue #24): true percentiles from HAProxy 2.6, which keeps none. While a step
 * holds, the app's backend has an entry in REQUEST_LOG_MAP (runtime API only: a reload, or a run
 * that died, leaves the file's empty map, so logging stops by itself at the next reload); the
 * frontend then logs each of its requests as one line to the in-memory ring REQUEST_RING:
 *
 *   <step token> <pid> <request number> <server> <Tr ms> <status>
 *
 * `show events <ring>` prints what the ring holds. The ring is bounded (REQUEST_RING_BYTES, shared
 * by every app in a step at once): when the app's requests between two reads overflow it, a read
 * sees only the latest ones, so the step's percentiles are over a sample of its latest requests.
 * Lines are told apart by pid and request number (read again, a line counts once).
 */

const MAP_PATH = `${HAPROXY_CONF_DIR}/${REQUEST_LOG_MAP}`
/** A server's color from its name (`green`, `green-2`: haproxy-strategy.ts's serverName). */
const SERVER_NAME = /^(blue|green)(?:-\d+)?$/

/** Whether the running process declares the ring and its map (a proxy not yet reloaded with this version's base does not). */
export async function requestLogAvailable(admin: HaproxyAdmin): Promise<boolean> {
  return (await admin.cli('show map')).includes(MAP_PATH)
}

/** From now on the app's requests are logged under `token` (one word); false: this proxy has no request ring. */
export async function startRequestLog(admin: HaproxyAdmin, app: string, token: string): Promise<boolean> {
  if (!/^[\w.:-]+$/.test(token)) throw new RuntimeApiError(`A request log token must be one word: ${JSON.stringify(token)}`)
  if (!(await requestLogAvailable(admin))) return false
  const key = backendName(app)
  const present = (await admin.cli(`show map ${MAP_PATH}`)).split('\n').some(l => l.split(/\s+/)[1] === key)
  await admin.run([`${present ? 'set' : 'add'} map ${MAP_PATH} ${key} ${token}`], `to log ${app}'s requests during a canary step`)
  return true
}

/** The app's requests are logged nowhere again. */
export async function stopRequestLog(admin: HaproxyAdmin, app: string): Promise<void> {
  if (!(await requestLogAvailable(admin))) return
  const key = backendName(app)
  const present = (await admin.cli(`show map ${MAP_PATH}`)).split('\n').some(l => l.split(/\s+/)[1] === key)
  if (present) await admin.run([`del map ${MAP_PATH} ${key}`], `to stop logging ${app}'s requests`)
}

/** The ring's lines logged under `token`. */
export async function readRequestLog(admin: HaproxyAdmin, token: string): Promise<RequestLine[]> {
  return requestLinesOf(await admin.cli(`show events ${REQUEST_RING}`), token)
}

/**
 * The lines of a `show events` answer logged under `token`, with a color (a request the proxy
 * answered itself, `<NOSRV>`, has none: the counters count it). An unknown ring is an error.
 */
export function requestLinesOf(answer: string, token: string): RequestLine[] {
  if (/^No such event sink/i.test(answer.trim())) throw new RuntimeApiError(`The proxy has no request ring ${REQUEST_RING}: ${answer.trim().slice(0, 120)}`)
  const lines: RequestLine[] = []
  for (const line of answer.split('\n')) {
    const [step, pid, request, server, ms, status] = line.trim().split(' ')
    if (step !== token || status === undefined) continue
    const color = SERVER_NAME.exec(server)?.[1] as RequestLine['color'] | undefined
    if (!color) continue
    const responseMs = Number(ms)
    lines.push({ key: `${pid}:${request}`, color, responseMs: responseMs >= 0 ? responseMs : undefined, status: Number(status) })
  }
  return lines
}

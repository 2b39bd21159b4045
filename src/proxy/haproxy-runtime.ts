import type { Duplex } from 'node:stream'
import type Docker from 'dockerode'
import { sinceStart, trace } from '../core/trace.js'
import { execIn } from '../transport/docker-ops.js'
import { sanitizeHostText } from '../transport/host-text.js'
import { decodeRelease, EMPTY_SERVER_STATE, HAPROXY_CONF_DIR, SERVER_STATE_FILE } from './haproxy-config.js'
import type { ConfVolume } from './haproxy-files.js'
import { addressesOnly, configuredServers, serverAddresses } from './haproxy-state.js'
import { ProxyError } from './proxy-container.js'

/** Opens a stream to the proxy's admin socket (over SSH: direct-streamlocal to the host's socket file). */
export type OpenAdminSocket = () => Promise<Duplex>

export class RuntimeApiError extends Error {
  override name = 'RuntimeApiError'
}

/**
 * Sends one line to HAProxy's runtime API (commands separated by `;`) and returns its answer.
 * Non-interactive mode: HAProxy answers and closes the connection; bounded by `timeoutMs`.
 */
export async function runtimeCommand(open: OpenAdminSocket, line: string, timeoutMs = 5000): Promise<string> {
  if (/[\r\n]/.test(line)) throw new RuntimeApiError('A runtime API command must be one line')
  const start = sinceStart()
  const stream = await open()
  trace.span('admin socket opened', start)
  const answer = new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = []
    let settled = false
    const finish = (e?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      // HAProxy has closed its end; an SSH channel stays half-open (held by sshd) until ours ends too.
      stream.end()
      stream.destroy()
      if (e) reject(e)
      else resolve(Buffer.concat(chunks).toString('utf8'))
    }
    const timer = setTimeout(
      () => finish(new RuntimeApiError(`The proxy's runtime API did not answer "${line.slice(0, 80)}" within ${timeoutMs} ms`)),
      timeoutMs
    )
    stream.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c))
    stream.on('end', () => finish())
    stream.on('close', () => finish())
    stream.on('error', (e: Error) => finish(new RuntimeApiError(`The proxy's runtime API failed: ${e.message}`)))
    stream.write(line + '\n')
  })
  // The command's first word names the span (`admin set`, `admin show`): what the switch waits on.
  return answer.finally(() => trace.span(`admin ${line.split(/[ ;]/, 2).join(' ')}`, start))
}

/**
 * Lines of an answer to commands that print nothing on success, or only the note of `set server
 * addr`: HAProxy 2.6 says "IP changed from ..." or "no need to change ...", 3.0 "IP changed from
 * ...", "port changed from ..." or "nothing changed".
 */
export function runtimeErrors(answer: string): string[] {
  return answer
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !/^(?:IP changed from|port changed from|no need to change|nothing changed$)/i.test(l) && !/^Done\.?$/i.test(l))
}

const SET_ADDR = /^set server (\S+)\/(\S+) addr (\S+)(?: port (\d+))?$/

/**
 * Commands split in two: each address change with what its server is sent before it (a
 * maintenance that closes idle connections), then the rest in their order. HAProxy 3.0 applies
 * `set server addr` after the line that asked for it (2.6 at once), so a `state ready` in the same
 * line would send requests to the old address, the container the new one replaced.
 */
export function addressesFirst(commands: string[]): { first: string[]; rest: string[] } {
  const lastAddr = new Map<string, number>()
  commands.forEach((c, i) => {
    const m = SET_ADDR.exec(c)
    if (m) lastAddr.set(`${m[1]}/${m[2]}`, i)
  })
  const first: string[] = []
  const rest: string[] = []
  commands.forEach((c, i) => {
    const server = /^set server (\S+\/\S+) /.exec(c)?.[1]
    const until = server === undefined ? undefined : lastAddr.get(server)
    if (until !== undefined && i <= until) first.push(c)
    else rest.push(c)
  })
  return { first, rest }
}

/** The address changes among `commands` that `show servers state` does not show yet (`backend/server`: wanted, had). */
export function unappliedAddresses(commands: string[], state: string): string[] {
  const now = serverAddresses(state)
  return commands.flatMap(c => {
    const m = SET_ADDR.exec(c)
    if (!m) return []
    const had = now.get(`${m[1]}/${m[2]}`)
    const applied = had?.addr === m[3] && (m[4] === undefined || had.port === m[4])
    return applied ? [] : [`${m[1]}/${m[2]}: ${m[3]}${m[4] ? `:${m[4]}` : ''}, still ${had ? `${had.addr}:${had.port}` : 'not shown'}`]
  })
}

/**
 * An answer to commands followed by `show servers state`: what the commands said, and the state
 * (from its version line on; empty when it is not there).
 */
export function splitAtServerState(answer: string): { said: string; state: string } {
  const m = /(?:^|\n)1\n# be_id /.exec(answer)
  if (!m) return { said: answer, state: '' }
  const at = answer.startsWith('\n', m.index) ? m.index + 1 : m.index
  return { said: answer.slice(0, at), state: answer.slice(at) }
}

/** The backends of the address changes among `commands`. */
function addressBackends(commands: string[]): string[] {
  return [...new Set(commands.flatMap(c => SET_ADDR.exec(c)?.[1] ?? []))]
}

/** The release an app's verify map names, from `show map` (`<entry id> <token> <release>` per line; an unknown map answers otherwise). */
export function servedRelease(answer: string): string | undefined {
  const entry = answer
    .split('\n')
    .map(l => l.trim().split(/\s+/))
    .find(w => w.length === 3 && w[0].startsWith('0x'))
  return entry ? decodeRelease(entry[2]) : undefined
}

/** The backends the running process knows (`show backend`). */
export function parseBackends(answer: string): string[] {
  return answer
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('#'))
}

/** The worker's pid from `show info` (it changes with every reload). */
export function parsePid(answer: string): number | undefined {
  const m = /^Pid:\s*(\d+)/m.exec(answer)
  return m ? Number(m[1]) : undefined
}

/** How long opening the admin socket is retried (a reload re-creates it). */
const SOCKET_RETRY_MS = 3000
/** How long a reload may take before the new worker answers on the admin socket. */
const RELOAD_TIMEOUT_MS = 15_000
/** How long HAProxy 3.0 may take to apply an address change it has accepted (it showed on the next connection here). */
const ADDRESS_APPLY_MS = 2000

/** A file to put back as it was when a new configuration is refused (undefined: it did not exist). */
export interface FileBefore {
  file: string
  content: string | undefined
  mode?: number
}

/**
 * The runtime API of one proxy (its admin socket) and its reload: what switches routes without
 * touching the container.
 */
export class HaproxyAdmin {
  /** The worker this run started (a reload, a hand-over): the only one whose answers count. */
  private livePid?: number

  constructor(
    /** The HAProxy process container that serves (its live generation; haproxy-generations.ts). */
    private readonly process: () => Promise<Docker.Container | undefined>,
    private readonly name: string,
    private readonly socketPath: string,
    private readonly socket: OpenAdminSocket,
    private readonly files: ConfVolume,
    /** How long commands are sent again while the leaving worker takes them (pinTo). */
    private readonly pinTimeoutMs = RELOAD_TIMEOUT_MS
  ) {}

  /**
   * One runtime API line. While another run reloads the proxy, the new worker re-creates the socket:
   * opening it is retried for a few seconds (every command cutover sends is idempotent).
   * After this run started a new worker (a reload, a hand-over), only that worker's answer counts:
   * the leaving one shares the admin socket until it has handled its stop signal, and a change it
   * takes never reaches the one that serves (see pinTo).
   */
  async cli(line: string): Promise<string> {
    if (this.livePid === undefined) return this.send(line)
    const started = Date.now()
    for (;;) {
      const answer = await this.send(`show info; ${line}`)
      const end = answer.indexOf('\n\n')
      const pid = parsePid(answer.slice(0, end < 0 ? answer.length : end))
      if (pid === this.livePid) return end < 0 ? '' : answer.slice(end + 2)
      if (Date.now() - started > this.pinTimeoutMs)
        throw new ProxyError(
          `The proxy ${this.name}'s admin socket kept answering from HAProxy worker ${pid ?? '(none)'} for ${this.pinTimeoutMs / 1000} s, ` +
            `not from worker ${this.livePid}, which this run started and which serves: "${line.slice(0, 80)}" was not sent to it. Run again.`
        )
      await new Promise(r => setTimeout(r, 25))
    }
  }

  /**
   * From now on, commands count only when worker `pid` answers them. HAProxy's new worker takes the
   * listening sockets, the admin socket among them, from the one before (expose-fd listeners); both
   * accept on them until the old one has handled its stop signal, and measured here the old one took
   * 32 of 40 connections in that moment.
   */
  pinTo(pid: number): void {
    this.livePid = pid
  }

  /** Whether this run started a new worker (verify then waits out the old process's listeners). */
  get reloaded(): boolean {
    return this.livePid !== undefined
  }

  /** The pid of whichever worker answers one `show info` (during a hand-over: either). */
  async anyWorkerPid(): Promise<number | undefined> {
    return this.send('show info').then(parsePid, () => undefined)
  }

  private async send(line: string): Promise<string> {
    const started = Date.now()
    for (;;) {
      try {
        return await runtimeCommand(this.socket, line)
      } catch (e) {
        if (e instanceof RuntimeApiError || Date.now() - started > SOCKET_RETRY_MS) throw e
        await new Promise(r => setTimeout(r, 100))
      }
    }
  }

  /**
   * Commands that print nothing on success; an answer is the proxy refusing `what`. Address changes
   * go first, and the rest only once the running process shows them (see addressesFirst). Their line
   * ends with a look at the servers' state: HAProxy 2.6 shows a new address in it at once, as every
   * version does an address it already had (a rollback, an address Docker gave again), so there it
   * is two lines; HAProxy 3.0 shows a changed one only on a later connection.
   */
  async run(commands: string[], what: string): Promise<void> {
    const { first, rest } = addressesFirst(commands)
    if (first.length) {
      const looks = addressBackends(first).map(be => `show servers state ${be}`)
      const { said, state } = splitAtServerState(await this.cli([...first, ...looks].join('; ')))
      this.refused(said, what)
      if (unappliedAddresses(first, state).length) await this.untilApplied(first, looks, what)
    }
    if (rest.length) this.refused(await this.cli(rest.join('; ')), what)
  }

  private refused(answer: string, what: string): void {
    const errors = runtimeErrors(answer)
    if (errors.length) throw new ProxyError(`HAProxy (${this.name}) refused ${what}: ${sanitizeHostText(errors.join(' / '), 400)}`)
  }

  /** Until `show servers state` shows every address change among `commands`; bounded (nothing after them was sent). */
  private async untilApplied(commands: string[], looks: string[], what: string): Promise<void> {
    const started = Date.now()
    for (;;) {
      const pending = unappliedAddresses(commands, await this.cli(looks.join('; ')))
      if (!pending.length) return
      if (Date.now() - started > ADDRESS_APPLY_MS)
        throw new ProxyError(
          `HAProxy (${this.name}) took the new addresses for ${what} but did not apply them within ${ADDRESS_APPLY_MS / 1000} s ` +
            `(${sanitizeHostText(pending.join(', '), 300)}); nothing after them was sent`
        )
      await new Promise(r => setTimeout(r, 10))
    }
  }

  /** Until a worker (other than `notPid`) answers on the admin socket; its last log lines if none does. */
  async waitForAdmin(timeoutMs: number, notPid?: number): Promise<number> {
    const started = Date.now()
    let last: string
    for (;;) {
      try {
        const pid = parsePid(await this.send('show info'))
        if (pid !== undefined && pid !== notPid) return pid
        last = `still worker ${pid}`
      } catch (e) {
        last = (e as Error).message
      }
      if (Date.now() - started > timeoutMs) {
        const logs = await this.process()
          .then(c => c?.logs({ stdout: true, stderr: true, tail: 10, follow: false }))
          .then(b => sanitizeHostText(String(b ?? ''), 800))
          .catch(() => '')
        throw new ProxyError(
          `The proxy ${this.name} did not answer on its admin socket ${this.socketPath} within ${timeoutMs / 1000} s (${last}); ` +
            `the SSH user must be allowed to open it (root, in practice). Its last log lines: ${logs}`
        )
      }
      await new Promise(r => setTimeout(r, 100))
    }
  }

  /** haproxy -c, then SIGUSR2 to the master: a reload that drops nothing (option idle-close-on-response). */
  /** `addresses`: `backend/server` -> the address the run just read for it, handed on over the old process's. */
  async testAndReload(restore: FileBefore[], addresses?: Map<string, string>): Promise<void> {
    const container = await this.process()
    if (!container) throw new ProxyError(`The proxy ${this.name} runs no HAProxy process: nothing was reloaded. Run again: the next run starts one.`)
    const test = await execIn(container, ['haproxy', '-c', '-f', HAPROXY_CONF_DIR])
    if (test.exitCode !== 0) {
      // Put back what was there so no later reload (of any app), nor a restart, picks up the bad file.
      for (const r of restore) await this.files.put(r.file, r.content ?? '# Removed by cutover.\n', r.mode)
      const alerts = (test.stderr + test.stdout)
        .split('\n')
        .filter(l => /ALERT/.test(l))
        .join('\n')
      throw new ProxyError(`HAProxy (${this.name}) refused the new configuration: ${sanitizeHostText(alerts || (test.stderr || test.stdout).trim(), 600)}`)
    }
    // A proxy made by an older cutover may have a socket only root can open: the reload through
    // Docker's API (which this user may call) brings it up with the group's access.
    const pid = await this.cli('show info').then(parsePid, () => undefined)
    await this.handOnServerState(addresses)
    await container.kill({ signal: 'SIGUSR2' })
    this.pinTo(await this.waitForAdmin(RELOAD_TIMEOUT_MS, pid))
    // Read by the new process as it started: a later start must not take these addresses.
    await this.files.put(SERVER_STATE_FILE, EMPTY_SERVER_STATE)
  }

  /**
   * The running process's server addresses for the one the reload starts (`init-addr last`; their
   * states as the new files say: haproxy-state.ts): it resolves nothing while it loads, and serves
   * from its first request.
   * Without an answer the new process waits for Docker's DNS (a brief 503 for requests that come first).
   */
  async handOnServerState(addresses?: Map<string, string>): Promise<void> {
    const state = await this.cli('show servers state').catch(() => undefined)
    this.files.forget()
    const handed = state === undefined ? undefined : addressesOnly(state, configuredServers(await this.files.all()), addresses)
    await this.files.put(SERVER_STATE_FILE, handed ?? EMPTY_SERVER_STATE)
  }
}

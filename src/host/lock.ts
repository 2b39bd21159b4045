import type { ClientChannel } from 'ssh2'
import type { SshSession } from '../transport/ssh.js'
import { sanitizeHostText } from '../transport/host-text.js'
import type { Log } from '../core/log.js'
import { sinceStart, trace } from '../core/trace.js'

export interface LockHolder {
  run: string
  actor: string
  repository: string
  since: string
}

export class LockTimeoutError extends Error {
  override name = 'LockTimeoutError'
}

/** The host's lock directory is not safe to use (a symlink, someone else's, writable by others). */
export class UnsafeLockDirectoryError extends Error {
  override name = 'UnsafeLockDirectoryError'
}

/**
 * Where cutover keeps its state on the host, relative to the SSH user's home: a directory only
 * that user can write (mode 0700). Locks live in `locks/`; releases in `apps/<app>/`.
 */
export const STATE_DIR = '.cutover'
export const LOCK_DIR = `${STATE_DIR}/locks`

export function lockFile(app: string): string {
  return `${LOCK_DIR}/${app}.lock`
}

/** The lock holder as the host reported it: decoded, each field sanitized, bounded. */
export function describeHolder(raw: string): string {
  try {
    const h = JSON.parse(Buffer.from(raw.trim(), 'base64').toString('utf8')) as Partial<LockHolder>
    if (typeof h !== 'object' || h === null) return 'an unknown holder'
    const field = (v: unknown, max: number) => sanitizeHostText(typeof v === 'string' ? v : String(v ?? '?'), max) || '?'
    return sanitizeHostText(`run ${field(h.run, 120)} by ${field(h.actor, 60)} (${field(h.repository, 120)}) since ${field(h.since, 40)}`, 400)
  } catch {
    return 'an unknown holder'
  }
}

/** Single-quotes a value for sh. */
function shq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`
}

/**
 * The shell script run on the host. flock(1) is held by `cat`, which lives until our
 * channel closes: on normal release, on error, and also when this process is killed
 * (the TCP connection drops, sshd closes the pipe). A crashed run never leaves a lock behind.
 *
 * The lock is in $HOME/.cutover/locks, created with umask 077 and checked before use: not a
 * symbolic link, owned by the SSH user, not writable by group or others (nor is $HOME). In a
 * shared directory such as /tmp, any local user could plant a symlink (and make us overwrite
 * another file with the holder line) or hold a shared flock on the file and block every deploy.
 * Only base64 characters of the holder file are ever echoed back.
 */
export function lockScript(app: string, holderB64: string, timeoutSeconds: number): string {
  const script = [...safeStateDir(), ...takeLock(app, holderB64, timeoutSeconds), 'echo LOCKED', ...COMMAND_LOOP, ...dropHolder(holderB64)]
  return `sh -c ${shq(script.join('\n'))}`
}

/**
 * After the command loop ends (the run closed its channel, or its connection dropped), the shell
 * still holds the flock: no next holder can have written the holder file yet, so it is this run's
 * and goes. Checked all the same, so a file anyone else wrote is never removed. The lock file
 * itself stays: removing a file others may be waiting to flock would let two runs hold the lock.
 */
function dropHolder(holderB64: string): string[] {
  return [`[ ! -L "$h" ] && [ "$(head -c 4096 "$h" 2>/dev/null)" = ${shq(holderB64)} ] && rm -f -- "$h"`, 'exit 0']
}

/** A session without the lock (mode status): the state directory's checks, then the command loop. */
export function sessionScript(): string {
  return `sh -c ${shq([...safeStateDir(), 'echo LOCKED', ...COMMAND_LOOP].join('\n'))}`
}

/**
 * Once the lock is held, the same shell serves the run's few file operations on its state (the
 * release ledger), one line each, over this one channel: a new exec for each would cost an sshd
 * session (~100 ms on a loaded host). Answers are framed: `OK <bytes>` then the bytes, `NONE`,
 * or `ERR <text>`. Paths are relative to $HOME and made by cutover from validated app names.
 * The loop ends when the channel closes, and with it the flock.
 */
const COMMAND_LOOP = [
  'export LC_ALL=C',
  'held=',
  'while IFS= read -r line; do',
  '  set -- $line',
  '  case "$1" in',
  '    get)',
  '      f="$HOME/$2"',
  // NONE only when nothing is there: a symbolic link, a directory or an unreadable file is an error, never "no state".
  '      if [ -L "$f" ]; then echo "ERR $2 is a symbolic link";',
  '      elif [ ! -e "$f" ]; then echo NONE;',
  '      elif [ ! -f "$f" ]; then echo "ERR $2 is not a regular file (a directory?)";',
  '      elif v=$(cat -- "$f" 2>/dev/null && echo x); then v=${v%x}; printf \'OK %s\\n%s\' "${#v}" "$v";',
  '      else echo "ERR $2 cannot be read by the SSH user"; fi ;;',
  '    put)',
  '      f="$HOME/$2"; d=${f%/*}; t="$d/.put.$$"',
  // Never into a directory (mv would put the file inside it) nor over a symbolic link someone planted.
  '      if [ -L "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then echo "ERR $2 is not a regular file";',
  // mkdir only when the directory is missing: each program the loop starts is a fork on the way to the switch (the pending write).
  '      elif { [ -d "$d" ] || mkdir -p -- "$d"; } && printf %s "$3" | base64 -d > "$t" && mv -f -- "$t" "$f"; then echo "OK 0"; else rm -f -- "$t"; echo "ERR could not write $2"; fi ;;',
  '    move)',
  '      f="$HOME/$2"; t="$HOME/$3"',
  // Only a regular file, never onto something already there.
  '      if [ ! -e "$f" ] && [ ! -L "$f" ]; then echo NONE;',
  '      elif [ -L "$f" ] || [ ! -f "$f" ]; then echo "ERR $2 is not a regular file";',
  '      elif [ -e "$t" ] || [ -L "$t" ]; then echo "ERR $3 already exists";',
  '      elif mv -- "$f" "$t"; then echo "OK 0"; else echo "ERR could not move $2"; fi ;;',
  '    claims)',
  '      v=$(cd "$HOME/.cutover/apps" 2>/dev/null && for a in */; do a=${a%/}; [ -f "$a/releases.json" ] || continue; printf \'\\n@@ %s\\n\' "$a"; tr -d \'\\n\' < "$a/releases.json"; done; echo x); v=${v%x}',
  '      printf \'OK %s\\n%s\' "${#v}" "$v" ;;',
  '    facts)',
  // The numeric group of a file (the Docker socket: `ls -ldn` fields are mode, links, uid, gid) and
  // the CPUs online, "-" for what cannot be read.
  '      p=$(printf %s "$2" | base64 -d); set -- $(ls -ldn -- "$p" 2>/dev/null); c=$(getconf _NPROCESSORS_ONLN 2>/dev/null)',
  '      v="${4:--} ${c:--}"; printf \'OK %s\\n%s\' "${#v}" "$v" ;;',
  // `lock <lock file> <holder file> <holder>`: another lock (the shared proxy's) on fd 8, only when it
  // is free at once (NONE otherwise: the run then waits for it on a channel of its own). `command`
  // keeps a failed redirection from ending the shell, which holds the app's lock too. Variables of
  // its own: $f and $h name the app's lock for the end of the script.
  '    lock)',
  '      of="$HOME/$2"; oh="$HOME/$3"',
  '      if [ -n "$held" ]; then echo "ERR a lock is held already";',
  '      elif [ -L "$of" ] || [ -L "$oh" ] || { [ -e "$of" ] && [ ! -f "$of" ]; } || { [ -e "$oh" ] && [ ! -f "$oh" ]; }; then echo "ERR $2 or its holder is not a regular file";',
  '      elif ! command exec 8>>"$of"; then echo "ERR could not open $2";',
  '      elif flock -n 8; then held=$oh; printf \'%s\\n\' "$4" > "$oh"; echo "OK 0";',
  '      else command exec 8>&-; echo NONE; fi ;;',
  // Its holder file goes while the flock is still held: no next holder can have written it yet.
  '    unlock)',
  '      if [ -n "$held" ]; then [ -L "$held" ] || rm -f -- "$held"; held=; fi; command exec 8>&-; echo "OK 0" ;;',
  '    *) echo "ERR unknown command" ;;',
  '  esac',
  'done',
  'if [ -n "$held" ] && [ ! -L "$held" ]; then rm -f -- "$held"; fi'
]

function safeStateDir(): string[] {
  return [
    // A run cancelled while it waits for the lock has closed its channel: when the lock comes, the
    // shell's first write must fail (not kill it) so that it still reaches the end and removes its holder file.
    "trap '' PIPE",
    'command -v flock >/dev/null 2>&1 || { echo NOFLOCK; exit 127; }',
    'umask 077',
    'me=$(id -u)',
    'unsafe() { echo "UNSAFE $1"; exit 73; }',
    // ls -ldn: mode, links, numeric owner; portable to busybox, unlike stat -c.
    'owned_private() {',
    '  set -- "$1" $(ls -ldn "$1" 2>/dev/null)',
    '  [ "$4" = "$me" ] || unsafe "$1 is owned by uid ${4:-?}, not by the SSH user (uid $me)"',
    '  case "$2" in ?????w*|????????w*) unsafe "$1 is writable by group or others ($2)";; esac',
    '}',
    'case "$HOME" in /*) ;; *) unsafe "the SSH user has no home directory (HOME=$HOME)";; esac',
    'owned_private "$HOME/"',
    `for d in "$HOME"/${shq(STATE_DIR)} "$HOME"/${shq(LOCK_DIR)}; do`,
    '  [ -e "$d" ] || [ -L "$d" ] || mkdir "$d" 2>/dev/null',
    '  [ -L "$d" ] && unsafe "$d is a symbolic link"',
    '  [ -d "$d" ] || unsafe "$d is not a directory"',
    '  owned_private "$d"',
    'done'
  ]
}

function takeLock(app: string, holderB64: string, timeoutSeconds: number): string[] {
  return [
    `f="$HOME"/${shq(lockFile(app))}`,
    `h="$HOME"/${shq(`${LOCK_DIR}/${app}.holder`)}`,
    // Never follow a link, never open a FIFO or device (the open would block or write elsewhere).
    'for x in "$f" "$h"; do',
    '  [ -L "$x" ] && unsafe "$x is a symbolic link"',
    '  [ -e "$x" ] && [ ! -f "$x" ] && unsafe "$x is not a regular file"',
    'done',
    'exec 9>>"$f" || { echo NOFILE; exit 73; }',
    'holder() { head -c 4096 "$h" 2>/dev/null | tr -cd "A-Za-z0-9+/="; }',
    'if ! flock -n 9; then',
    '  echo "BUSY $(holder)"',
    `  flock -w ${Math.max(0, Math.ceil(timeoutSeconds))} 9 || { echo "TIMEOUT $(holder)"; exit 75; }`,
    'fi',
    `printf '%s\\n' ${shq(holderB64)} > "$h"`
  ]
}

/** One answer of the host's command loop. */
type Answer = { kind: 'ok'; body: string } | { kind: 'none' }

/**
 * The run's shell on the host: holds the app's deploy lock (flock) for as long as its channel is
 * open, and serves the few file operations on cutover's state over that same channel. A crashed
 * run never leaves the lock behind: its connection drops, sshd closes the pipe, the shell exits.
 */
export class DeployLock {
  private buffer: Buffer = Buffer.alloc(0)
  private readonly waiting: { resolve: (a: Answer) => void; reject: (e: Error) => void }[] = []
  private closedWith?: Error
  /** Requests go one at a time: answers come back in order on one stream. */
  private queue: Promise<unknown> = Promise.resolve()
  /** Whether this shell holds (or is taking) another lock on its fd 8 (tryLock). */
  private otherLock = false

  private constructor(
    private readonly channel: ClientChannel,
    private readonly ssh: SshSession
  ) {}

  /** Waits up to timeoutMs for the app's lock; fails naming the holder. */
  static acquire(ssh: SshSession, app: string, holder: LockHolder, timeoutMs: number, log: Log): Promise<DeployLock> {
    const holderB64 = Buffer.from(JSON.stringify(holder)).toString('base64')
    return DeployLock.start(ssh, lockScript(app, holderB64, timeoutMs / 1000), app, timeoutMs, log)
  }

  /** A shell for reading cutover's state without taking any lock (mode status). */
  static unlocked(ssh: SshSession, log: Log): Promise<DeployLock> {
    return DeployLock.start(ssh, sessionScript(), '(status)', 0, log)
  }

  private static async start(ssh: SshSession, script: string, app: string, timeoutMs: number, log: Log): Promise<DeployLock> {
    const opening = sinceStart()
    const channel = await ssh.execStream(script)
    trace.span('lock exec opened', opening)
    const where = `~/${lockFile(app)}`
    return new Promise((resolve, reject) => {
      let buffered = ''
      let settled = false
      const settle = (fn: () => void) => {
        if (!settled) {
          settled = true
          fn()
        }
      }
      const onData = (d: Buffer) => {
        buffered += d.toString('latin1')
        // The script prints short lines; anything longer is not ours (and is not logged).
        if (buffered.length > 65536) buffered = buffered.slice(-8192)
        let nl: number
        while (!settled && (nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl)
          buffered = buffered.slice(nl + 1)
          if (line === 'LOCKED') {
            settle(() => {
              channel.removeListener('data', onData)
              const lock = new DeployLock(channel, ssh)
              lock.listen(Buffer.from(buffered, 'latin1'))
              resolve(lock)
            })
          } else if (line.startsWith('BUSY')) {
            log.info(`Another deploy of ${app} holds the lock: ${describeHolder(line.slice(5))}; waiting up to ${Math.round(timeoutMs / 1000)} s`)
          } else if (line.startsWith('TIMEOUT')) {
            settle(() =>
              reject(
                new LockTimeoutError(
                  `The deploy lock of ${app} is still held by ${describeHolder(line.slice(8))} after waiting ${Math.round(timeoutMs / 1000)} s (lock-timeout)`
                )
              )
            )
          } else if (line.startsWith('UNSAFE')) {
            const why = sanitizeHostText(line.slice(7), 300)
            settle(() =>
              reject(
                new UnsafeLockDirectoryError(
                  `The deploy lock of ${app} was not taken because its place on the host is unsafe: ${why}. ` +
                    `cutover keeps its locks in ~/${LOCK_DIR}, which must be a real directory owned by the SSH user and writable by no one else (chmod 700)`
                )
              )
            )
          } else if (line === 'NOFLOCK') {
            settle(() => reject(new Error('The host has no flock command (util-linux); cutover needs it for its deploy lock')))
          } else if (line === 'NOFILE') {
            settle(() => reject(new Error(`Could not open ${where} on the host`)))
          }
        }
      }
      channel.on('data', onData)
      channel.stderr.on('data', () => undefined)
      channel.on('error', (err: Error) => settle(() => reject(err)))
      channel.on('close', (code: number | null) =>
        // A lost connection closes the channel too: say so rather than "ended unexpectedly".
        setImmediate(() => settle(() => reject(ssh.lost ?? new Error(`The deploy lock command ended unexpectedly (exit ${code})`))))
      )
    })
  }

  private listen(rest: Buffer): void {
    this.channel.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d])
      this.parse()
    })
    const fail = (e: Error) => {
      this.closedWith ??= e
      for (const w of this.waiting.splice(0)) w.reject(this.closedWith)
    }
    this.channel.on('close', () => fail(this.ssh.lost ?? new Error('The shell on the host that holds the deploy lock ended')))
    this.channel.on('error', (e: Error) => fail(e))
    this.buffer = rest
    this.parse()
  }

  /** Takes complete answers off the buffer, in order. */
  private parse(): void {
    for (;;) {
      const nl = this.buffer.indexOf(0x0a)
      if (nl < 0 || !this.waiting.length) return
      const head = this.buffer.subarray(0, nl).toString('utf8')
      if (head === 'NONE') {
        this.buffer = this.buffer.subarray(nl + 1)
        this.waiting.shift()!.resolve({ kind: 'none' })
      } else if (head.startsWith('ERR ')) {
        this.buffer = this.buffer.subarray(nl + 1)
        this.waiting.shift()!.reject(new Error(`the host refused: ${sanitizeHostText(head.slice(4), 200)}`))
      } else if (/^OK \d+$/.test(head)) {
        const size = Number(head.slice(3))
        if (this.buffer.length < nl + 1 + size) return
        const body = this.buffer.subarray(nl + 1, nl + 1 + size).toString('utf8')
        this.buffer = this.buffer.subarray(nl + 1 + size)
        this.waiting.shift()!.resolve({ kind: 'ok', body })
      } else {
        this.buffer = this.buffer.subarray(nl + 1)
        this.waiting.shift()!.reject(new Error(`unexpected answer from the host: ${sanitizeHostText(head, 120)}`))
      }
    }
  }

  /** Sends one command line to the host's command loop and waits (bounded) for its answer. */
  request(line: string, timeoutMs = 10_000): Promise<Answer> {
    const queued = sinceStart()
    const next = this.queue.then(
      () =>
        new Promise<Answer>((resolve, reject) => {
          if (this.closedWith) return reject(this.closedWith)
          const timer = setTimeout(() => reject(new Error(`the host did not answer "${line.split(' ')[0]}" within ${timeoutMs} ms`)), timeoutMs)
          this.waiting.push({
            resolve: a => (clearTimeout(timer), resolve(a)),
            reject: e => (clearTimeout(timer), reject(e))
          })
          this.channel.write(line + '\n')
        })
    )
    this.queue = next.catch(() => undefined)
    return next.finally(() => trace.span(`host ${line.split(' ', 1)[0]}`, queued))
  }

  /** Reads a file under $HOME; undefined when it does not exist. */
  async readFile(path: string): Promise<string | undefined> {
    const a = await this.request(`get ${path}`)
    return a.kind === 'ok' ? a.body : undefined
  }

  /** Replaces a file under $HOME atomically (temporary file, then rename), creating its directories 0700. */
  async writeFile(path: string, content: string): Promise<void> {
    await this.request(`put ${path} ${Buffer.from(content).toString('base64')}`)
  }

  /** Renames a file under $HOME; false when there is none. */
  async moveFile(from: string, to: string): Promise<boolean> {
    const a = await this.request(`move ${from} ${to}`)
    return a.kind === 'ok'
  }

  /** Every app's ledger on the host, each squeezed onto one line after an `@@ <app>` line. */
  async allLedgers(): Promise<string> {
    const a = await this.request('claims')
    return a.kind === 'ok' ? a.body : ''
  }

  /** The numeric group owning a file on the host (an absolute path: the Docker socket) and the host's CPUs online. */
  async facts(path: string): Promise<{ dockerGroup?: number; cpus?: number }> {
    const a = await this.request(`facts ${Buffer.from(path).toString('base64')}`)
    const [group, cpus] = a.kind === 'ok' ? a.body.split(' ') : []
    const count = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : undefined)
    return { dockerGroup: count(group), cpus: count(cpus) }
  }

  /**
   * Another lock (`name`: the shared proxy's) taken by this shell when no one holds it, with no new
   * SSH channel (~100 ms each); undefined when it is held, by another run or by this one. Released by
   * its `release()`, or with the shell.
   */
  async tryLock(name: string, holder: LockHolder): Promise<{ release(): void } | undefined> {
    if (this.otherLock) return undefined
    this.otherLock = true
    const holderB64 = Buffer.from(JSON.stringify(holder)).toString('base64')
    const answer = await this.request(`lock ${LOCK_DIR}/${name}.lock ${LOCK_DIR}/${name}.holder ${holderB64}`).catch((e: Error) => {
      this.otherLock = false
      throw e
    })
    if (answer.kind === 'none') {
      this.otherLock = false
      return undefined
    }
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        // Queued: a `lock` asked after this reaches the host after it.
        this.otherLock = false
        this.request('unlock').catch(() => undefined)
      }
    }
  }

  /** Ends the shell on the host, which releases the flock. Safe on a connection already lost. */
  release(): void {
    try {
      this.channel.end()
      this.channel.close()
    } catch {
      // The connection is gone: so is the lock, with it.
    }
  }
}

import type { ClientChannel } from 'ssh2'
import type { SshSession } from '../transport/ssh.js'
import { sanitizeHostText } from '../transport/host-text.js'
import type { Log } from '../core/log.js'

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
  const script = [
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
    'done',
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
    `printf '%s\\n' ${shq(holderB64)} > "$h"`,
    'echo LOCKED',
    'cat >/dev/null'
  ].join('\n')
  return `sh -c ${shq(script)}`
}

export class DeployLock {
  private constructor(private readonly channel: ClientChannel) {}

  /** Waits up to timeoutMs for the app's lock; fails naming the holder. */
  static async acquire(ssh: SshSession, app: string, holder: LockHolder, timeoutMs: number, log: Log): Promise<DeployLock> {
    const holderB64 = Buffer.from(JSON.stringify(holder)).toString('base64')
    const channel = await ssh.execStream(lockScript(app, holderB64, timeoutMs / 1000))
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
      channel.on('data', (d: Buffer) => {
        buffered += d.toString()
        // The script prints short lines; anything longer is not ours (and is not logged).
        if (buffered.length > 65536) buffered = buffered.slice(-8192)
        let nl: number
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl)
          buffered = buffered.slice(nl + 1)
          if (line === 'LOCKED') settle(() => resolve(new DeployLock(channel)))
          else if (line.startsWith('BUSY')) {
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
      })
      channel.stderr.on('data', () => undefined)
      channel.on('error', (err: Error) => settle(() => reject(err)))
      channel.on('close', (code: number | null) =>
        // A lost connection closes the channel too: say so rather than "ended unexpectedly".
        setImmediate(() => settle(() => reject(ssh.lost ?? new Error(`The deploy lock command ended unexpectedly (exit ${code})`))))
      )
    })
  }

  /** Ends `cat` on the host, which releases the flock. Safe on a connection already lost. */
  release(): void {
    try {
      this.channel.end()
      this.channel.close()
    } catch {
      // The connection is gone: so is the lock, with it.
    }
  }
}

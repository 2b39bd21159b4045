import type { ClientChannel } from 'ssh2'
import type { SshSession } from '../transport/ssh.js'
import type { Log } from '../reporting/log.js'

export interface LockHolder {
  run: string
  actor: string
  repository: string
  since: string
}

export class LockTimeoutError extends Error {
  override name = 'LockTimeoutError'
}

function describeHolder(raw: string): string {
  try {
    const h = JSON.parse(Buffer.from(raw.trim(), 'base64').toString('utf8')) as LockHolder
    return `run ${h.run} by ${h.actor} (${h.repository}) since ${h.since}`
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
 */
export function lockScript(app: string, holderB64: string, timeoutSeconds: number): string {
  const file = `/tmp/cutover-${app}.lock`
  const script = [
    'command -v flock >/dev/null 2>&1 || { echo NOFLOCK; exit 127; }',
    `f=${shq(file)}`,
    'exec 9>>"$f" || { echo NOFILE; exit 73; }',
    'if ! flock -n 9; then',
    '  echo "BUSY $(cat "$f.holder" 2>/dev/null)"',
    `  flock -w ${Math.max(0, Math.ceil(timeoutSeconds))} 9 || { echo "TIMEOUT $(cat "$f.holder" 2>/dev/null)"; exit 75; }`,
    'fi',
    `printf '%s\\n' ${shq(holderB64)} > "$f.holder"`,
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
          } else if (line === 'NOFLOCK') {
            settle(() => reject(new Error('The host has no flock command (util-linux); cutover needs it for its deploy lock')))
          } else if (line === 'NOFILE') {
            settle(() => reject(new Error(`Could not open /tmp/cutover-${app}.lock on the host`)))
          }
        }
      })
      channel.stderr.on('data', () => undefined)
      channel.on('close', (code: number | null) =>
        settle(() => reject(new Error(`The deploy lock command ended unexpectedly (exit ${code})`)))
      )
    })
  }

  /** Ends `cat` on the host, which releases the flock. */
  release(): void {
    this.channel.end()
    this.channel.close()
  }
}

import { Client, type ClientChannel, type ConnectConfig } from 'ssh2'
import type { SshConfig, SshEndpoint } from '../core/config.js'
import { algorithmsForKeyType, checkHostKey } from '../core/host-key.js'

export class HostKeyMismatchError extends Error {
  override name = 'HostKeyMismatchError'
}

/**
 * The SSH connection closed or failed while the run was using it. Every pending and later channel
 * open, Docker API call and probe fails with this error, so the run ends through its normal error
 * path instead of waiting on streams that will never answer.
 */
export class SshConnectionLostError extends Error {
  override name = 'SshConnectionLostError'
}

/**
 * One SSH connection to the target host (tunnelled through a bastion when configured).
 * Every Docker API call, health probe and lock travels over channels of this one connection.
 */
export class SshSession {
  private closed = false
  private lostError?: SshConnectionLostError
  private readonly lostListeners = new Set<(error: SshConnectionLostError) => void>()
  /** Rejects of channel opens not answered yet. */
  private readonly pendingOpens = new Set<(error: Error) => void>()
  /** Channels open now: told of a lost connection by an 'error' event, as a socket would be. */
  private readonly channels = new Set<ClientChannel>()

  private constructor(
    private readonly client: Client,
    private readonly bastion: Client | undefined,
    readonly description: string
  ) {
    this.watch(client, '')
    if (bastion) this.watch(bastion, 'the jump host: ')
  }

  /** Wraps an ssh2 Client already connected, e.g. a fake in tests. */
  static fromClient(client: Client, description: string, bastion?: Client): SshSession {
    return new SshSession(client, bastion, description)
  }

  /** Set once the connection was lost (not when closed by close()). */
  get lost(): SshConnectionLostError | undefined {
    return this.lostError
  }

  /** Calls `listener` once if the connection is lost (at once if it already was). Returns an unsubscribe. */
  onLost(listener: (error: SshConnectionLostError) => void): () => void {
    if (this.lostError) {
      listener(this.lostError)
      return () => undefined
    }
    this.lostListeners.add(listener)
    return () => this.lostListeners.delete(listener)
  }

  private watch(client: Client, prefix: string): void {
    // 'error' (keep-alive timeout, reset) comes before 'close': it gives the reason.
    client.on('error', (err: Error) => this.markLost(`${prefix}${err.message}`))
    client.on('end', () => this.markLost(`${prefix}closed by the server`))
    client.on('close', () => this.markLost(`${prefix}connection closed`))
  }

  private markLost(reason: string): void {
    if (this.closed || this.lostError) return
    const error = new SshConnectionLostError(`The SSH connection to ${this.description} was lost (${reason})`)
    this.lostError = error
    for (const reject of this.pendingOpens) reject(error)
    this.pendingOpens.clear()
    // ssh2 ends these channels too, which an HTTP client reads as "socket hang up": the error first.
    for (const channel of this.channels) channel.emit('error', error)
    this.channels.clear()
    for (const listener of this.lostListeners) {
      try {
        listener(error)
      } catch {
        // a listener's failure must not stop the others
      }
    }
    this.lostListeners.clear()
  }

  /** Opens a channel with `start`, failing fast once the connection is lost. */
  private open(start: (cb: (err: Error | undefined, stream: ClientChannel) => void) => void, describe: (err: Error) => Error): Promise<ClientChannel> {
    if (this.lostError) return Promise.reject(this.lostError)
    if (this.closed) return Promise.reject(new Error(`The SSH connection to ${this.description} is closed`))
    return new Promise((resolve, reject) => {
      let settled = false
      const fail = (error: Error) => {
        if (settled) return
        settled = true
        this.pendingOpens.delete(fail)
        reject(error)
      }
      this.pendingOpens.add(fail)
      try {
        start((err, stream) => {
          if (err) return fail(this.lostError ?? describe(err))
          if (settled) {
            // answered after the connection was declared lost
            stream.on('error', () => undefined)
            stream.close()
            return
          }
          settled = true
          this.pendingOpens.delete(fail)
          stream.on('error', () => undefined) // never an unhandled 'error' (see markLost)
          this.channels.add(stream)
          stream.once('close', () => this.channels.delete(stream))
          resolve(stream)
        })
      } catch (e) {
        // ssh2 throws "Not connected" once the socket is gone
        fail(this.lostError ?? describe(e as Error))
      }
    })
  }

  static async connect(config: SshConfig): Promise<SshSession> {
    const bastion = config.jump ? await openClient(config.jump, config.connectTimeoutMs) : undefined
    try {
      const sock = bastion ? await forwardThrough(bastion, config) : undefined
      const client = await openClient(config, config.connectTimeoutMs, sock)
      const via = config.jump ? ` via ${config.jump.user}@${config.jump.host}:${config.jump.port}` : ''
      return new SshSession(client, bastion, `${config.user}@${config.host}:${config.port}${via}`)
    } catch (e) {
      bastion?.end()
      throw e
    }
  }

  /** A stream to a Unix socket on the host (direct-streamlocal@openssh.com). */
  openUnixSocket(path: string): Promise<ClientChannel> {
    return this.open(
      cb => this.client.openssh_forwardOutStreamLocal(path, cb as never),
      err => new Error(`Could not open ${path} on the host over SSH: ${err.message}`)
    )
  }

  /** A TCP stream to an address as seen from the host (direct-tcpip). */
  openTcp(host: string, port: number): Promise<ClientChannel> {
    return this.open(
      cb => this.client.forwardOut('127.0.0.1', 0, host, port, cb as never),
      err => new Error(`Could not connect to ${host}:${port} from the host: ${err.message}`)
    )
  }

  /** Runs a command on the host and returns the channel, for long-lived commands (the deploy lock). */
  execStream(command: string): Promise<ClientChannel> {
    return this.open(
      cb => this.client.exec(command, cb as never),
      err => err
    )
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.lostListeners.clear()
    for (const reject of this.pendingOpens) reject(new Error(`The SSH connection to ${this.description} was closed`))
    this.pendingOpens.clear()
    this.client.end()
    this.bastion?.end()
  }
}

/** A channel from the jump host to the target, bounded by connect-timeout. */
function forwardThrough(bastion: Client, config: SshConfig): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`The jump host did not open a connection to ${config.host}:${config.port} within ${config.connectTimeoutMs} ms (connect-timeout)`)),
      config.connectTimeoutMs
    )
    try {
      bastion.forwardOut('127.0.0.1', 0, config.host, config.port, (err, stream) => {
        clearTimeout(timer)
        if (err) reject(new Error(`The jump host could not reach ${config.host}:${config.port}: ${err.message}`))
        else resolve(stream)
      })
    } catch (e) {
      clearTimeout(timer)
      reject(new Error(`The jump host could not reach ${config.host}:${config.port}: ${(e as Error).message}`))
    }
  })
}

/** Why a connection attempt failed, in words that say what to check. */
function describeConnectError(err: Error & { level?: string; code?: string }, endpoint: SshEndpoint, timeoutMs: number, pinnedTypes?: string[]): string {
  const where = `${endpoint.user}@${endpoint.host}:${endpoint.port}`
  if (err.level === 'client-authentication') {
    return `SSH connection to ${where} failed: ${err.message} (user "${endpoint.user}" was refused with this key: is its public key in ~/.ssh/authorized_keys on the host?)`
  }
  if (err.level === 'client-timeout' || /Connection lost before handshake/.test(err.message)) {
    return (
      `SSH connection to ${where} failed: the host accepted the TCP connection but no SSH handshake completed within ${timeoutMs} ms ` +
      `(connect-timeout). Check that an SSH server listens on port ${endpoint.port} of ${endpoint.host} (not a firewall, a tarpit or a port forward with nothing behind it).`
    )
  }
  if (/host key/i.test(err.message) && pinnedTypes) {
    return (
      `SSH connection to ${where} failed: the server offered no host key of the pinned type (${pinnedTypes.join(', ')}): ${err.message}. ` +
      `Pin the key it has: ssh-keyscan -p ${endpoint.port} ${endpoint.host}`
    )
  }
  if (err.code === 'ECONNREFUSED') return `SSH connection to ${where} failed: ${err.message} (nothing listens on port ${endpoint.port}: check host and port)`
  return `SSH connection to ${where} failed: ${err.message}`
}

function openClient(endpoint: SshEndpoint, timeoutMs: number, sock?: ClientChannel): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    let mismatch: HostKeyMismatchError | undefined
    let settled = false
    const where = `${endpoint.host}:${endpoint.port}`
    const pin = endpoint.hostKey
    const pinnedTypes = pin.kind === 'known-hosts' ? [...new Set(pin.keys.map(k => k.type))] : undefined
    const config: ConnectConfig = {
      host: endpoint.host,
      port: endpoint.port,
      username: endpoint.user,
      // The key first, then the agent's keys (as ssh tries identities).
      ...(endpoint.privateKey ? { privateKey: endpoint.privateKey, passphrase: endpoint.passphrase } : {}),
      ...(endpoint.agent ? { agent: endpoint.agent } : {}),
      readyTimeout: timeoutMs,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      sock,
      hostVerifier: (key: Buffer) => {
        const check = checkHostKey(pin, key)
        if (!check.ok) {
          mismatch = new HostKeyMismatchError(
            `The host key of ${where} does not match the pin: the server presented ${check.presented}, ` +
              `but ${check.expected} was expected. If the server was re-installed, update the pin ` +
              `(ssh-keyscan -p ${endpoint.port} ${endpoint.host}); otherwise someone may be intercepting the connection.`
          )
        }
        return check.ok
      }
    }
    if (pin.kind === 'known-hosts') {
      // Ask for the pinned key types so the server presents a key we can compare.
      config.algorithms = {
        serverHostKey: [...new Set(pin.keys.flatMap(k => algorithmsForKeyType(k.type)))] as never
      }
    }
    // ssh2 can emit several 'error' events for one failed attempt (the handshake timeout, then
    // "Connection lost before handshake" as it closes the socket): the first one is the reason,
    // and the listener stays for good, so no later one is ever unhandled.
    const onError = (err: Error & { level?: string; code?: string }) => {
      if (settled) return
      settled = true
      client.removeListener('ready', onReady)
      client.destroy()
      reject(mismatch ?? new Error(describeConnectError(err, endpoint, timeoutMs, pinnedTypes)))
    }
    // A socket closed without an error (a server that hangs up at once) must not leave the promise waiting.
    const onClose = () => onError(new Error('the server closed the connection before the SSH handshake completed'))
    const onReady = () => {
      if (settled) return
      settled = true
      client.removeListener('close', onClose)
      // Later errors (keep-alive timeouts, resets) are the session's to report (SshConnectionLostError).
      resolve(client)
    }
    client.on('error', onError)
    client.once('close', onClose)
    client.once('ready', onReady)
    try {
      client.connect(config)
      // The handshake and every Docker API call are small request/response pairs: without
      // TCP_NODELAY, Nagle's algorithm and delayed ACKs add ~40 ms to several of the handshake's
      // round trips (measured: 299 → 72 ms on loopback) and to each call. Set before the socket
      // connects, so it holds from the first packet (a jump host's channel has no such setting).
      client.setNoDelay(true)
    } catch (e) {
      // ssh2 throws for a configuration it cannot use (a key it cannot parse)
      onError(e as Error)
    }
  })
}

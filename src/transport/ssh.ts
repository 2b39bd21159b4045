import { Client, type ClientChannel, type ConnectConfig } from 'ssh2'
import type { SshConfig, SshEndpoint } from '../inputs/config.js'
import { algorithmsForKeyType, checkHostKey } from './host-key.js'

export class HostKeyMismatchError extends Error {
  override name = 'HostKeyMismatchError'
}

export interface ExecResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * One SSH connection to the target host (tunnelled through a bastion when configured).
 * Every Docker API call, health probe and lock travels over channels of this one connection.
 */
export class SshSession {
  private closed = false

  private constructor(
    private readonly client: Client,
    private readonly bastion: Client | undefined,
    readonly description: string
  ) {}

  static async connect(config: SshConfig): Promise<SshSession> {
    let bastion: Client | undefined
    let sock: ClientChannel | undefined
    if (config.jump) {
      bastion = await openClient(config.jump, config.connectTimeoutMs)
      const jumpClient = bastion
      sock = await new Promise<ClientChannel>((resolve, reject) =>
        jumpClient.forwardOut('127.0.0.1', 0, config.host, config.port, (err, stream) =>
          err ? reject(new Error(`The jump host could not reach ${config.host}:${config.port}: ${err.message}`)) : resolve(stream)
        )
      )
    }
    try {
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
    return new Promise((resolve, reject) =>
      this.client.openssh_forwardOutStreamLocal(path, (err, stream) =>
        err ? reject(new Error(`Could not open ${path} on the host over SSH: ${err.message}`)) : resolve(stream)
      )
    )
  }

  /** A TCP stream to an address as seen from the host (direct-tcpip). */
  openTcp(host: string, port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) =>
      this.client.forwardOut('127.0.0.1', 0, host, port, (err, stream) =>
        err ? reject(new Error(`Could not connect to ${host}:${port} from the host: ${err.message}`)) : resolve(stream)
      )
    )
  }

  /** Runs a command on the host and returns the channel, for long-lived commands (the deploy lock). */
  execStream(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) =>
      this.client.exec(command, (err, stream) => (err ? reject(err) : resolve(stream)))
    )
  }

  async exec(command: string): Promise<ExecResult> {
    const stream = await this.execStream(command)
    return new Promise(resolve => {
      let stdout = ''
      let stderr = ''
      stream.on('data', (d: Buffer) => (stdout += d.toString()))
      stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      stream.on('close', (code: number | null) => resolve({ code, stdout, stderr }))
    })
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.client.end()
    this.bastion?.end()
  }
}

function openClient(endpoint: SshEndpoint, timeoutMs: number, sock?: ClientChannel): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client()
    let mismatch: HostKeyMismatchError | undefined
    const where = `${endpoint.host}:${endpoint.port}`
    const pin = endpoint.hostKey
    const config: ConnectConfig = {
      host: endpoint.host,
      port: endpoint.port,
      username: endpoint.user,
      privateKey: endpoint.privateKey,
      passphrase: endpoint.passphrase,
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
    const onError = (err: Error & { level?: string }) => {
      client.removeListener('ready', onReady)
      if (mismatch) return reject(mismatch)
      const hint =
        err.level === 'client-authentication'
          ? ` (user "${endpoint.user}" was refused with this key: is its public key in ~/.ssh/authorized_keys on the host?)`
          : err.level === 'client-timeout'
            ? ` (no SSH handshake within ${timeoutMs} ms)`
            : ''
      reject(new Error(`SSH connection to ${endpoint.user}@${where} failed: ${err.message}${hint}`))
    }
    const onReady = () => {
      client.removeListener('error', onError)
      // Docker API calls are small request/response pairs: without TCP_NODELAY, Nagle's
      // algorithm and delayed ACKs add ~40 ms to each one.
      client.setNoDelay(true)
      // Later errors (e.g. keep-alive timeouts) surface as failed channel opens; keep the process alive-safe.
      client.on('error', () => undefined)
      resolve(client)
    }
    client.once('ready', onReady)
    client.once('error', onError)
    client.connect(config)
  })
}

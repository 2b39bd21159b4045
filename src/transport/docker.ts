import http from 'node:http'
import { inspect } from 'node:util'
import type { Duplex } from 'node:stream'
import Docker from 'dockerode'
import type { SshSession } from './ssh.js'

/**
 * An HTTP agent whose connections are SSH channels to the host's Docker socket,
 * so all Docker API calls share the run's one SSH connection.
 */
export class DockerSocketAgent extends http.Agent {
  /** SSH channels opened to the socket (HTTP connections). */
  channelsOpened = 0
  /** Docker API requests sent over them. */
  apiRequests = 0

  constructor(
    private readonly ssh: SshSession,
    private readonly socketPath: string
  ) {
    super({ keepAlive: true, maxSockets: 8 })
  }

  /**
   * docker-modem formats every request's options with util.inspect, agent included, even with
   * debug logging off; walking this agent's sockets and the SSH client behind them cost up to
   * ~250 ms per call with 10 calls in flight (measured by the benchmark).
   */
  [inspect.custom](): string {
    return 'DockerSocketAgent'
  }

  // addRequest exists at runtime on every http.Agent but is missing from @types/node.
  addRequest(req: http.ClientRequest, options: http.RequestOptions): void {
    this.apiRequests++
    ;(http.Agent.prototype as unknown as { addRequest: (r: unknown, o: unknown) => void }).addRequest.call(this, req, options)
  }

  override createConnection(_options: unknown, callback?: (err: Error | null, socket: Duplex) => void): undefined {
    this.channelsOpened++
    this.ssh.openUnixSocket(this.socketPath).then(
      channel => callback?.(null, asSocket(channel)),
      err => callback?.(err, undefined as never)
    )
    return undefined
  }
}

/** SSH channels are Duplex streams without net.Socket's tuning methods, which http calls. */
function asSocket(channel: Duplex): Duplex {
  const shim = channel as Duplex & Record<string, unknown>
  for (const name of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref']) {
    if (typeof shim[name] !== 'function') shim[name] = () => shim
  }
  return shim
}

export interface DockerConnection {
  docker: Docker
  agent: DockerSocketAgent
}

export function dockerOverSsh(ssh: SshSession, socketPath: string): DockerConnection {
  const agent = new DockerSocketAgent(ssh, socketPath)
  // docker-modem's own 'ssh' protocol would open a new SSH connection per request.
  const docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions)
  return { docker, agent }
}

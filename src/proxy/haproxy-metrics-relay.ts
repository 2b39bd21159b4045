import type Docker from 'dockerode'
import type { Log } from '../core/log.js'
import { HAPROXY_METRICS_PORT } from './haproxy-config.js'
import { publishedAt, startRelay, type RelayAddress } from './haproxy-relay.js'
import { inspectIfExists } from './proxy-container.js'

const METRICS_PORT_KEY = `${HAPROXY_METRICS_PORT}/tcp`
const RELAY_FILE = 'cutover-metrics-relay.cfg'

/** Where metrics are published on the host. */
export type MetricsAddress = RelayAddress

export function metricsRelayName(proxyName: string): string {
  return `${proxyName}-metrics`
}

/**
 * The relay's configuration: TCP from its published port to the proxy's metrics frontend, the proxy
 * found by its name on the proxy's network through Docker's DNS at run time (a re-created proxy has
 * another address).
 */
export function renderMetricsRelay(proxyName: string): string {
  return `# Managed by cutover: the proxy's metrics, published by this container (issue #22).
global
  maxconn 200

defaults
  mode tcp
  timeout connect 5s
  timeout client 1m
  timeout server 1m

resolvers docker
  nameserver dns 127.0.0.11:53
  hold valid 10s
  timeout resolve 1s
  timeout retry 1s

listen metrics
  bind :${HAPROXY_METRICS_PORT}
  server proxy ${proxyName}:${HAPROXY_METRICS_PORT} resolvers docker init-addr last,libc,none
`
}

/** The address a container publishes the metrics port at, if it does. */
export function publishedMetrics(info: Docker.ContainerInspectInfo | undefined): MetricsAddress | undefined {
  return publishedAt(info, METRICS_PORT_KEY)
}

/**
 * metrics asked for on a proxy whose container does not publish them there: a relay container
 * (haproxy-relay.ts, TCP only) publishes them instead; a new address re-creates the relay alone.
 */
export class MetricsRelay {
  readonly name: string

  constructor(
    private readonly docker: Docker,
    private readonly proxyName: string,
    private readonly network: string,
    private readonly log: Log
  ) {
    this.name = metricsRelayName(proxyName)
  }

  /** Whether the relay runs, publishing at `wanted` (any address when not given). */
  async serves(wanted?: MetricsAddress): Promise<boolean> {
    const info = await inspectIfExists(this.docker.getContainer(this.name))
    const at = publishedMetrics(info)
    return !!info?.State.Running && !!at && (!wanted || (at.host === wanted.host && at.port === wanted.port))
  }

  /** The relay runs and publishes at `wanted` (re-created when it published elsewhere). The proxy's lock is held. */
  async ensure(wanted: MetricsAddress, image: string): Promise<void> {
    if (await this.serves(wanted)) return
    this.log.info(`Publishing the metrics of the proxy ${this.proxyName} at ${wanted.host}:${wanted.port} through ${this.name} (the proxy keeps serving)`)
    await startRelay(this.docker, {
      name: this.name,
      kind: 'metrics-relay',
      image,
      network: this.network,
      portKey: METRICS_PORT_KEY,
      publish: { HostIp: wanted.host, HostPort: String(wanted.port) },
      file: RELAY_FILE,
      config: renderMetricsRelay(this.proxyName)
    })
  }
}

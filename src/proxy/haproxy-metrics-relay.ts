import type Docker from 'dockerode'
import type { Log } from '../core/log.js'
import { LABEL } from '../core/names.js'
import { putFile } from '../transport/docker-ops.js'
import { HAPROXY_METRICS_PORT } from './haproxy-config.js'
import { createOrAdopt, inspectIfExists } from './proxy-container.js'

const METRICS_PORT_KEY = `${HAPROXY_METRICS_PORT}/tcp`
const RELAY_FILE_DIR = '/'
const RELAY_FILE = 'cutover-metrics-relay.cfg'

/** Where metrics are published on the host. */
export interface MetricsAddress {
  host: string
  port: number
}

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
  const bindings = (info?.HostConfig.PortBindings as Record<string, { HostIp?: string; HostPort?: string }[] | null> | undefined)?.[METRICS_PORT_KEY] ?? []
  const b = bindings[0]
  return b ? { host: b.HostIp || '0.0.0.0', port: Number(b.HostPort) } : undefined
}

/**
 * metrics asked for on a proxy whose container does not publish them there: Docker publishes ports
 * only when a container is created, and re-creating the proxy would cut every app on it. A small
 * relay container (the proxy's image, TCP only) publishes them instead; a new address re-creates
 * the relay alone.
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
    const container = this.docker.getContainer(this.name)
    if (await inspectIfExists(container)) await container.remove({ force: true })
    this.log.info(`Publishing the metrics of the proxy ${this.proxyName} at ${wanted.host}:${wanted.port} through ${this.name} (the proxy keeps serving)`)
    await createOrAdopt(this.docker, {
      name: this.name,
      Image: image,
      User: 'root',
      Entrypoint: ['haproxy'],
      Cmd: ['-db', '-f', `${RELAY_FILE_DIR}${RELAY_FILE}`],
      Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'metrics-relay' },
      ExposedPorts: { [METRICS_PORT_KEY]: {} },
      HostConfig: {
        PortBindings: { [METRICS_PORT_KEY]: [{ HostIp: wanted.host, HostPort: String(wanted.port) }] },
        RestartPolicy: { Name: 'unless-stopped' },
        NetworkMode: this.network
      }
    })
    await putFile(container, RELAY_FILE_DIR, RELAY_FILE, renderMetricsRelay(this.proxyName))
    await container.start().catch(e => {
      if ((e as { statusCode?: number }).statusCode !== 304) throw e
    })
  }
}

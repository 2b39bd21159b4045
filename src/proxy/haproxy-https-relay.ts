import type Docker from 'dockerode'
import type { ProxySettings, TlsSettings } from '../core/config.js'
import type { Log } from '../core/log.js'
import { LABEL } from '../core/names.js'
import { HAPROXY_HTTPS_PORT, HAPROXY_RELAYED_HTTPS_PORT, type RelayNetwork } from './haproxy-config.js'
import { checkRelay, publishedAt, startRelay, type RelayAddress } from './haproxy-relay.js'
import { inspectIfExists, ProxyError } from './proxy-container.js'

const HTTPS_PORT_KEY = `${HAPROXY_HTTPS_PORT}/tcp`
const RELAY_FILE = 'cutover-https-relay.cfg'
const KIND = 'https-relay'

export function httpsRelayName(proxyName: string): string {
  return `${proxyName}-https`
}

/**
 * The HTTPS relay's configuration: TCP from its published port to the proxy's relayed HTTPS listener,
 * each connection preceded by a PROXY protocol v2 header naming the client, so the proxy (which
 * terminates TLS as on its own port) sees the client's address, not the relay's. The proxy is found
 * by name through Docker's DNS at run time only: a restarted or re-created proxy with another address
 * is followed within seconds, and a relay that starts before the proxy (a reboot) never waits on the
 * host's upstream resolver. Timeouts as long as the proxy's tunnels: the proxy closes what is idle.
 */
export function renderHttpsRelay(proxyName: string): string {
  return `# Managed by cutover: HTTPS of the proxy ${proxyName}, published by this container (issue #22).
global
  maxconn 8000

defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout client-fin 5s
  timeout server-fin 5s

resolvers docker
  nameserver dns 127.0.0.11:53
  hold valid 10s
  hold nx 2s
  hold obsolete 2s
  timeout resolve 1s
  timeout retry 1s

listen https
  bind :${HAPROXY_HTTPS_PORT}
  server proxy ${proxyName}:${HAPROXY_RELAYED_HTTPS_PORT} send-proxy-v2 resolvers docker init-addr none
`
}

/**
 * How HTTPS reaches a proxy container as a run asks for it: `none` (tls off, nothing published, or
 * not an HAProxy proxy), `published` (the container publishes it), `relay` (created without an HTTPS
 * port: the relay publishes it), or `recreate`: an edge sends the proxy PROXY protocol headers
 * (proxy-protocol, or any app's sources in the proxy-protocol map), which the relay's own header
 * would hide, so only a new container that publishes HTTPS itself keeps the client's address.
 */
export type HttpsPath = 'none' | 'published' | 'relay' | 'recreate'

export function httpsPath(
  info: Docker.ContainerInspectInfo,
  settings: Pick<ProxySettings, 'unpublished' | 'proxyProtocol'>,
  tls: Pick<TlsSettings, 'mode'>,
  proxyProtocolMap: string | undefined
): HttpsPath {
  if (tls.mode === 'off' || settings.unpublished || info.Config.Labels?.[LABEL.proxy] !== 'haproxy') return 'none'
  if (publishedAt(info, HTTPS_PORT_KEY)) return 'published'
  const edgeHeaders = settings.proxyProtocol || (proxyProtocolMap ?? '').split('\n').some(l => l.trim() && !l.trim().startsWith('#'))
  return edgeHeaders ? 'recreate' : 'relay'
}

/**
 * HTTPS asked for on a proxy whose container publishes no HTTPS port (created without tls and
 * without https-port): the relay `<proxy>-https` publishes https-port instead, and the proxy accepts
 * its connections on an internal listener (haproxy-config.ts, HAPROXY_RELAYED_HTTPS_PORT). No
 * re-created proxy, so no app on it stops answering.
 */
export class HttpsRelay {
  readonly name: string

  constructor(
    private readonly docker: Docker,
    private readonly proxyName: string,
    private readonly network: string,
    private readonly log: Log
  ) {
    this.name = httpsRelayName(proxyName)
  }

  /** The relay's details (undefined: there is none, or the container under its name is not cutover's relay). */
  async inspect(): Promise<Docker.ContainerInspectInfo | undefined> {
    const info = await inspectIfExists(this.docker.getContainer(this.name))
    return info?.Config.Labels?.[LABEL.proxy] === KIND ? info : undefined
  }

  /** Refuses another container under the relay's name, before anything changes. */
  async checkName(): Promise<void> {
    checkRelay(await inspectIfExists(this.docker.getContainer(this.name)), this.name, KIND)
  }

  /** Where a relay publishes HTTPS (undefined: no relay). */
  published(info: Docker.ContainerInspectInfo | undefined): RelayAddress | undefined {
    return publishedAt(info, HTTPS_PORT_KEY)
  }

  /** Whether the relay runs and publishes at `wanted`. */
  serves(info: Docker.ContainerInspectInfo | undefined, wanted: RelayAddress): boolean {
    const at = this.published(info)
    return !!info?.State.Running && !!at && sameHost(at.host, wanted.host) && at.port === wanted.port
  }

  /** The relay runs and publishes at `wanted` (created, or re-created when it is stopped or half-made). The proxy's lock is held. */
  async ensure(wanted: RelayAddress, image: string): Promise<void> {
    if (this.serves(await this.inspect(), wanted)) return
    this.log.info(
      `Publishing HTTPS of the proxy ${this.proxyName} on ${describe(wanted)} through ${this.name} (the proxy was created without an HTTPS port; it keeps serving, ` +
        `and sees each client's address through the PROXY protocol)`
    )
    await startRelay(this.docker, {
      name: this.name,
      kind: KIND,
      image,
      network: this.network,
      portKey: HTTPS_PORT_KEY,
      publish: { ...(isAnyHost(wanted.host) ? {} : { HostIp: wanted.host }), HostPort: String(wanted.port) },
      file: RELAY_FILE,
      config: renderHttpsRelay(this.proxyName),
      softStop: true
    })
  }

  /** Removes the relay (a new proxy container publishes HTTPS itself); the port it published, if it did. */
  async remove(): Promise<RelayAddress | undefined> {
    const info = await this.inspect()
    if (!info) return undefined
    this.log.info(`Removing ${this.name}: the new proxy container publishes HTTPS itself`)
    await this.docker.getContainer(this.name).remove({ force: true })
    return this.published(info)
  }

  /** The proxy network's subnets and gateways: where the relay's connections come from, and the host's address on it. */
  async proxyNetwork(): Promise<RelayNetwork> {
    const info = (await this.docker.getNetwork(this.network).inspect()) as { IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] } }
    const config = info.IPAM?.Config ?? []
    const subnets = config.map(c => c.Subnet).filter((s): s is string => !!s)
    if (!subnets.length) {
      throw new ProxyError(
        `The proxy's network ${this.network} has no subnet Docker reports (docker network inspect ${this.network}): HTTPS cannot be relayed to the proxy ${this.proxyName}. ` +
          `Nothing was switched; every app keeps serving over HTTP. Re-create the network, or give https-port on a new proxy so it publishes HTTPS itself.`
      )
    }
    return { subnets, gateways: config.map(c => c.Gateway).filter((g): g is string => !!g) }
  }
}

function isAnyHost(host: string | undefined): boolean {
  return !host || host === '0.0.0.0'
}

function sameHost(a: string, b: string): boolean {
  return (isAnyHost(a) && isAnyHost(b)) || a === b
}

function describe(at: RelayAddress): string {
  if (isAnyHost(at.host)) return `port ${at.port}`
  return `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`
}

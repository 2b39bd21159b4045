import type { Duplex } from 'node:stream'
import type Docker from 'dockerode'
import type { RouterCapabilities } from '../core/capabilities.js'
import type { ProxySettings, ProxyType, RegistryAuth } from '../core/config.js'
import type { Log } from '../core/log.js'
import type { Router } from '../engine/ports.js'
import type { OpenStream } from '../transport/http-probe.js'
import { ROUTER_CAPABILITIES } from './capabilities.js'
import { CaddyRouter } from './caddy.js'
import { HaproxyRouter } from './haproxy.js'
import { NginxRouter } from './nginx.js'
import type { HostFacts, ProxyLocker } from './proxy-container.js'

/** What a router is given on a connected host: Docker, the connection's streams, the proxy's lock. */
export interface RouterHost {
  docker: Docker
  openTcp: OpenStream
  openUnixSocket(path: string): Promise<Duplex>
  /** Credentials for the proxy image's registry, if any. */
  registry: RegistryAuth | undefined
  log: Log
  /** Takes the host-wide lock of this proxy (held while its containers or shared files change). */
  lockProxy: ProxyLocker
  /** The Docker socket's group and the CPUs of the host, read once per run. */
  hostFacts(): Promise<HostFacts>
}

/** One kind of router: what it can do, and how to make one for an app. */
export interface RouterKind {
  capabilities: RouterCapabilities
  create(settings: ProxySettings, app: string, on: RouterHost): Router
}

/** Every router by proxy-type: adding a router is one entry here (docs/development.md "Adding a router or a target"). */
export const ROUTERS: Record<ProxyType, RouterKind> = {
  haproxy: {
    capabilities: ROUTER_CAPABILITIES.haproxy,
    create: (settings, app, on) =>
      new HaproxyRouter(
        on.docker,
        on.openTcp,
        path => on.openUnixSocket(path),
        settings,
        app,
        on.registry,
        on.log,
        on.lockProxy,
        () => on.hostFacts()
      )
  },
  nginx: {
    capabilities: ROUTER_CAPABILITIES.nginx,
    create: (settings, app, on) => new NginxRouter(on.docker, on.openTcp, settings, app, on.registry, on.log, on.lockProxy)
  },
  caddy: {
    capabilities: ROUTER_CAPABILITIES.caddy,
    create: (settings, app, on) =>
      new CaddyRouter(
        on.docker,
        on.openTcp,
        path => on.openUnixSocket(path),
        settings,
        app,
        on.registry,
        on.log,
        on.lockProxy,
        () => on.hostFacts()
      )
  }
}

/** The router of a proxy settled on a host. */
export function createRouter(settings: ProxySettings, app: string, on: RouterHost): Router {
  return ROUTERS[settings.type].create(settings, app, on)
}

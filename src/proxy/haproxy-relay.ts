import type Docker from 'dockerode'
import { LABEL } from '../core/names.js'
import { putFile } from '../transport/docker-ops.js'
import { createOrAdopt, inspectIfExists, ProxyError } from './proxy-container.js'

/**
 * A relay beside the proxy (issue #22): Docker publishes a port only when a container is created,
 * and re-creating the proxy to publish one more cuts every app on it. A small container of the
 * proxy's image, on the proxy's network, publishes the port instead and forwards TCP to the proxy,
 * which it finds by name through Docker's DNS at run time (a re-created or restarted proxy may have
 * another address). Used for metrics (haproxy-metrics-relay.ts) and HTTPS (haproxy-https-relay.ts).
 */

const RELAY_FILE_DIR = '/'

/** Where a relay publishes its port on the host: an address ('' or 0.0.0.0: every address) and a port. */
export interface RelayAddress {
  host: string
  port: number
}

export interface RelaySpec {
  name: string
  /** The value of the cutover.proxy label: what kind of relay it is. */
  kind: string
  image: string
  network: string
  /** The container port it listens on, as `<port>/tcp`. */
  portKey: string
  publish: { HostIp?: string; HostPort: string }
  /** Its HAProxy configuration file's name and text. */
  file: string
  config: string
  /** A soft stop (SIGUSR1) lets what it carries finish on `docker stop`. */
  softStop?: boolean
}

/** The address a container publishes `portKey` at, if it does. */
export function publishedAt(info: Docker.ContainerInspectInfo | undefined, portKey: string): RelayAddress | undefined {
  const bindings = (info?.HostConfig.PortBindings as Record<string, { HostIp?: string; HostPort?: string }[] | null> | undefined)?.[portKey] ?? []
  const b = bindings[0]
  return b ? { host: b.HostIp || '0.0.0.0', port: Number(b.HostPort) } : undefined
}

/** Refuses a container under a relay's name that is not that relay (cutover never removes what it did not make). */
export function checkRelay(info: Docker.ContainerInspectInfo | undefined, name: string, kind: string): void {
  if (!info || info.Config.Labels?.[LABEL.proxy] === kind) return
  throw new ProxyError(
    `The container ${name} exists and is not cutover's ${kind} (no label ${LABEL.proxy}=${kind}); nothing was changed. ` +
      `cutover puts a relay of the proxy under that name: rename or remove that container on the host, and run again.`
  )
}

/**
 * Creates the relay (restarted by Docker after a crash or a reboot), writes its configuration and
 * starts it. The relay's own container under its name goes first (one left half-made by a crashed
 * run, say); another container under that name is refused.
 */
export async function startRelay(docker: Docker, spec: RelaySpec): Promise<void> {
  const container = docker.getContainer(spec.name)
  const info = await inspectIfExists(container)
  checkRelay(info, spec.name, spec.kind)
  if (info) await container.remove({ force: true })
  await createOrAdopt(docker, {
    name: spec.name,
    Image: spec.image,
    // Binding a port below 1024 needs root (the official images run as the haproxy user).
    User: 'root',
    Entrypoint: ['haproxy'],
    Cmd: ['-db', '-f', `${RELAY_FILE_DIR}${spec.file}`],
    ...(spec.softStop ? { StopSignal: 'SIGUSR1' } : {}),
    Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: spec.kind },
    ExposedPorts: { [spec.portKey]: {} },
    HostConfig: {
      PortBindings: { [spec.portKey]: [spec.publish] },
      RestartPolicy: { Name: 'unless-stopped' },
      NetworkMode: spec.network
    }
  })
  await putFile(container, RELAY_FILE_DIR, spec.file, spec.config)
  await container.start().catch(e => {
    if ((e as { statusCode?: number }).statusCode !== 304) throw e
  })
}

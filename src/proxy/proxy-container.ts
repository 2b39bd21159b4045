import type Docker from 'dockerode'
import type { Log } from '../core/log.js'
import { credentialsFor } from '../core/image-ref.js'
import type { RegistryAuth } from '../core/config.js'
import { LABEL } from '../core/names.js'
import { isConflict, isNotFound, pullImage } from '../transport/docker-ops.js'

/** What every router needs to manage its own containers on the host, whatever proxy it runs. */

export class ProxyError extends Error {
  override name = 'ProxyError'
}

/** Takes the host-wide lock of a proxy (held while its containers, networks or shared files change). */
export type ProxyLocker = () => Promise<{ release(): void }>

export async function underLock<T>(lockProxy: ProxyLocker, fn: () => Promise<T>): Promise<T> {
  const lock = await lockProxy()
  try {
    return await fn()
  } finally {
    lock.release()
  }
}

/** Creates the proxy's own network unless it exists (another app's run may create it at the same moment). */
export async function ensureProxyNetwork(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getNetwork(name).inspect()
  } catch (e) {
    if (!isNotFound(e)) throw e
    await docker
      .createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'true' } })
      .catch(err => {
        if (!isConflict(err)) throw err
      })
  }
}

/** A container's details, or undefined when there is none of that name. */
export async function inspectIfExists(container: Docker.Container): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await container.inspect()
  } catch (e) {
    if (isNotFound(e)) return undefined
    throw e
  }
}

/** Pulls the proxy image unless the host has it (credentials only if given for its registry). */
export async function ensureProxyImage(docker: Docker, image: string, registry: RegistryAuth | undefined, log: Log): Promise<void> {
  try {
    await docker.getImage(image).inspect()
  } catch (e) {
    if (!isNotFound(e)) throw e
    log.info(`Pulling the proxy image ${image}`)
    await pullImage(docker, image, credentialsFor(image, registry), line => log.info(`  ${line}`))
  }
}

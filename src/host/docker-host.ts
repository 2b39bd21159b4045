import { createReadStream } from 'node:fs'
import { Transform } from 'node:stream'
import type Docker from 'dockerode'
import type { RegistryAuth } from '../core/config.js'
import { credentialsFor } from '../core/image-ref.js'
import { progressBar } from '../core/log.js'
import type { ContainerHost, ContainerInfo, ContainerSpec, ContainerSummary, ImageInfo, ProbeAnswer, RestartPolicy } from '../engine/ports.js'
import { LABEL } from '../core/names.js'
import { isConflict, isNotFound, pullImage, tailLogs, waitForExit } from '../transport/docker-ops.js'
import { httpGet, type OpenStream } from '../transport/http-probe.js'

function toInfo(info: Docker.ContainerInspectInfo): ContainerInfo {
  const state = info.State
  const health = state.Health
  const last = health?.Log?.at(-1)
  const addresses: Record<string, string> = {}
  for (const [net, settings] of Object.entries(info.NetworkSettings.Networks ?? {})) if (settings.IPAddress) addresses[net] = settings.IPAddress
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    running: state.Running,
    restarting: state.Restarting,
    status: state.Status,
    exitCode: state.ExitCode,
    oomKilled: state.OOMKilled,
    restartCount: info.RestartCount,
    health: health ? { status: health.Status, lastExitCode: last?.ExitCode, lastOutput: last?.Output } : undefined,
    imageId: info.Image,
    labels: info.Config.Labels ?? {},
    addresses
  }
}

/** Docker's answer when a container is created from an image the host does not have. */
function isNoSuchImage(e: unknown): boolean {
  return isNotFound(e) && /no such image/i.test((e as Error).message ?? '')
}

/** The engine's ContainerHost over the Docker Engine API (dockerode, through the SSH tunnel). */
export class DockerHost implements ContainerHost {
  constructor(
    private readonly docker: Docker,
    private readonly openTcp: OpenStream,
    private readonly registry: RegistryAuth | undefined
  ) {}

  async inspect(name: string): Promise<ContainerInfo | undefined> {
    try {
      return toInfo(await this.docker.getContainer(name).inspect())
    } catch (e) {
      if (isNotFound(e)) return undefined
      throw e
    }
  }

  async listApp(app: string): Promise<ContainerSummary[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.app}=${app}`] } })
    return list.map(c => ({
      name: c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12),
      state: c.State,
      status: c.Status,
      image: c.Labels[LABEL.image] ?? c.Image,
      labels: c.Labels ?? {}
    }))
  }

  listAppUnits(app: string): Promise<ContainerSummary[]> {
    return this.listApp(app)
  }

  async ensureNetwork(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.getNetwork(name).inspect()
    } catch (e) {
      if (!isNotFound(e)) throw e
      try {
        await this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels })
      } catch (err) {
        if (!isConflict(err)) throw err
      }
    }
  }

  async missingNetworks(names: string[]): Promise<string[]> {
    const found = await Promise.all(
      names.map(n =>
        this.docker
          .getNetwork(n)
          .inspect()
          .then(
            () => true,
            e => {
              if (isNotFound(e)) return false
              throw e
            }
          )
      )
    )
    return names.filter((_, i) => !found[i])
  }

  async pull(image: string, progress: (line: string) => void): Promise<ImageInfo> {
    await pullImage(this.docker, image, credentialsFor(image, this.registry), progress)
    const info = await this.image(image)
    if (!info) throw new Error(`Pull of ${image} reported success, but the image is not on the host`)
    return info
  }

  async load(archivePath: string, bytes: number, progress: (line: string) => void): Promise<void> {
    let sent = 0
    let lastReport = Date.now()
    // Counts what goes up the tunnel, for a progress line every 2 s.
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sent += chunk.length
        if (Date.now() - lastReport > 2000) {
          lastReport = Date.now()
          progress(`sent ${progressBar(sent, bytes)} ${(sent / 1e6).toFixed(1)} of ${(bytes / 1e6).toFixed(1)} MB`)
        }
        done(null, chunk)
      }
    })
    const upload = createReadStream(archivePath).pipe(counter)
    const response = (await this.docker.loadImage(upload, { quiet: false })) as NodeJS.ReadableStream
    // Like a pull, the daemon reports a failed load as an event in the answer, not as an HTTP error.
    let failure: string | undefined
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        response,
        (err: Error | null) => (err || failure ? reject(new Error(err?.message ?? failure)) : resolve()),
        (event: { stream?: string; status?: string; error?: string; errorDetail?: { message?: string } }) => {
          if (event.error) failure = event.errorDetail?.message ?? event.error
          const line = (event.stream ?? event.status ?? '').trim()
          if (line && !line.startsWith('Loading layer')) progress(line)
        }
      )
    })
    progress(`sent ${(sent / 1e6).toFixed(1)} MB; loaded`)
  }

  async image(image: string): Promise<ImageInfo | undefined> {
    try {
      const info = await this.docker.getImage(image).inspect()
      return { id: info.Id, digest: info.RepoDigests?.[0] }
    } catch (e) {
      if (isNotFound(e)) return undefined
      throw e
    }
  }

  async create(spec: ContainerSpec): Promise<string> {
    const created = await this.createContainer(spec).catch(async (e: unknown) => {
      // Another app's run on this host may prune the image between this run's pull and this create
      // (no container used it yet, so Docker let it go): pull it once more and create again.
      if (!isNoSuchImage(e)) throw e
      await pullImage(this.docker, spec.image, credentialsFor(spec.image, this.registry), () => undefined).catch((pull: Error) => {
        throw new Error(
          `${spec.image} was removed from the host (by another app's cleanup, say) before ${spec.name} was created, and pulling it again failed: ${pull.message}`
        )
      })
      return this.createContainer(spec)
    })
    // A compose service is found by its service name on the networks it joins, as compose does.
    for (const extra of spec.extraNetworks) {
      const aliases = spec.networkAliases?.[extra] ?? spec.aliases
      await this.docker.getNetwork(extra).connect({ Container: created.id, EndpointConfig: aliases?.length ? { Aliases: aliases } : undefined })
    }
    return created.id
  }

  private createContainer(spec: ContainerSpec): Promise<Docker.Container> {
    return this.docker.createContainer({
      name: spec.name,
      Image: spec.image,
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      Cmd: spec.command,
      Labels: spec.labels,
      Healthcheck: spec.healthcheck && {
        Test: spec.healthcheck.test,
        Interval: spec.healthcheck.intervalNs,
        Timeout: spec.healthcheck.timeoutNs,
        StartPeriod: spec.healthcheck.startPeriodNs,
        Retries: spec.healthcheck.retries
      },
      NetworkingConfig: spec.aliases?.length ? { EndpointsConfig: { [spec.network]: { Aliases: spec.aliases } } } : undefined,
      HostConfig: {
        NetworkMode: spec.network,
        // No restarts until the health gate passes, so a crash at boot shows its real exit
        // code instead of a restart loop; the user's policy is applied once healthy.
        RestartPolicy: { Name: 'no' },
        Binds: spec.volumes.length ? spec.volumes : undefined,
        Memory: spec.memoryBytes,
        NanoCpus: spec.nanoCpus,
        Init: false
      }
    })
  }

  async start(name: string): Promise<void> {
    await this.docker
      .getContainer(name)
      .start()
      .catch(e => {
        // 304: already started
        if ((e as { statusCode?: number }).statusCode !== 304) throw e
      })
  }

  async stop(name: string, graceSeconds: number): Promise<void> {
    await this.docker
      .getContainer(name)
      .stop({ t: graceSeconds })
      .catch(e => {
        const code = (e as { statusCode?: number }).statusCode
        if (code !== 304 && code !== 404) throw e
      })
  }

  waitExit(name: string, timeoutMs: number, onLine: (line: string) => void, abort?: AbortSignal): Promise<number | undefined> {
    return waitForExit(this.docker.getContainer(name), timeoutMs, onLine, abort)
  }

  async remove(name: string): Promise<void> {
    await this.docker
      .getContainer(name)
      .remove({ force: true })
      .catch(e => {
        if (!isNotFound(e)) throw e
      })
  }

  async rename(name: string, newName: string): Promise<void> {
    await this.docker.getContainer(name).rename({ name: newName })
  }

  async setRestartPolicy(name: string, policy: RestartPolicy): Promise<void> {
    await this.docker.getContainer(name).update({ RestartPolicy: policy })
  }

  logs(name: string, lines: number): Promise<string> {
    return tailLogs(this.docker.getContainer(name), lines)
  }

  probe(address: string, port: number, path: string, timeoutMs: number): Promise<ProbeAnswer> {
    return httpGet(this.openTcp, { host: address, port, path }, timeoutMs)
  }

  async appNetworks(app: string): Promise<string[]> {
    const list = await this.docker.listNetworks({ filters: { label: [`${LABEL.app}=${app}`] } })
    return list.map(n => n.Name)
  }

  async removeNetwork(name: string, disconnect: string[]): Promise<{ result: 'removed' | 'gone' } | { result: 'in-use'; by: string[] }> {
    const network = this.docker.getNetwork(name)
    let info: { Containers?: Record<string, { Name?: string }> }
    try {
      info = (await network.inspect()) as typeof info
    } catch (e) {
      if (isNotFound(e)) return { result: 'gone' }
      throw e
    }
    const attached = Object.entries(info.Containers ?? {}).map(([id, c]) => ({ id, name: c.Name ?? id.slice(0, 12) }))
    const others = attached.filter(c => !disconnect.includes(c.name)).map(c => c.name)
    if (others.length) return { result: 'in-use', by: others }
    for (const c of attached) await network.disconnect({ Container: c.id, Force: true }).catch(e => (isNotFound(e) ? undefined : Promise.reject(e)))
    try {
      await network.remove()
      return { result: 'removed' }
    } catch (e) {
      if (isNotFound(e)) return { result: 'gone' }
      // A container joined it since it was read.
      if (isConflict(e) || (e as { statusCode?: number }).statusCode === 403) return { result: 'in-use', by: [] }
      throw e
    }
  }

  async volumesOf(name: string): Promise<string[]> {
    try {
      const info = await this.docker.getContainer(name).inspect()
      return (info.Mounts ?? []).filter(m => m.Type === 'volume' && m.Name).map(m => m.Name!)
    } catch (e) {
      if (isNotFound(e)) return []
      throw e
    }
  }

  async removeVolume(name: string): Promise<'removed' | 'in-use' | 'gone'> {
    try {
      await this.docker.getVolume(name).remove()
      return 'removed'
    } catch (e) {
      if (isConflict(e)) return 'in-use'
      if (isNotFound(e)) return 'gone'
      throw e
    }
  }

  async removeImage(imageId: string): Promise<'removed' | 'in-use' | 'gone'> {
    try {
      await this.docker.getImage(imageId).remove({ noprune: false })
      return 'removed'
    } catch (e) {
      if (isConflict(e)) return 'in-use'
      if (isNotFound(e)) return 'gone'
      throw e
    }
  }
}

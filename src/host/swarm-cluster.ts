import type Docker from 'dockerode'
import type { RegistryAuth } from '../core/config.js'
import { credentialsFor } from '../core/image-ref.js'
import { LABEL } from '../core/names.js'
import type { NodeInfo, SecretInfo, ServiceInfo, ServiceSpec, SwarmCluster, TaskInfo } from '../engine/swarm-ports.js'
import type { ContainerSummary } from '../engine/ports.js'
import { isConflict, isNotFound } from '../transport/docker-ops.js'
import { DockerHost } from './docker-host.js'
import type { OpenStream } from '../transport/http-probe.js'

/* Docker's Swarm objects, as far as cutover reads them. */
interface RawService {
  ID: string
  Version: { Index: number }
  Spec: RawServiceSpec
  PreviousSpec?: RawServiceSpec
}
interface RawServiceSpec {
  Name: string
  Labels?: Record<string, string>
  TaskTemplate: { ContainerSpec: { Image: string; Secrets?: { SecretID: string }[] } }
  Mode: { Replicated?: { Replicas?: number } }
}
interface RawTask {
  ID: string
  ServiceID: string
  NodeID?: string
  DesiredState: string
  Status: { State: string; Err?: string; Timestamp: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } }
  Spec: { ContainerSpec?: { Labels?: Record<string, string> } }
  NetworksAttachments?: { Addresses?: string[] }[]
}
interface RawNode {
  ID: string
  Status: { State: string; Addr: string }
  Spec: { Availability: string; Role: string; Labels?: Record<string, string> }
}

function toService(raw: RawService): ServiceInfo {
  return {
    id: raw.ID,
    name: raw.Spec.Name,
    labels: raw.Spec.Labels ?? {},
    image: raw.Spec.TaskTemplate.ContainerSpec.Image,
    replicas: raw.Spec.Mode.Replicated ? (raw.Spec.Mode.Replicated.Replicas ?? 1) : undefined,
    hasPreviousSpec: !!raw.PreviousSpec,
    secretIds: (raw.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).map(s => s.SecretID)
  }
}

/** A task as the engine sees it; `addr`: node id -> its address. */
function toTask(t: RawTask, service: string, addr: Map<string, string>): TaskInfo {
  return {
    id: t.ID,
    service,
    node: (t.NodeID && addr.get(t.NodeID)) || '',
    nodeId: t.NodeID ?? '',
    desired: t.DesiredState,
    state: t.Status.State,
    ...(t.Status.Err ? { error: t.Status.Err } : {}),
    addresses: (t.NetworksAttachments ?? []).flatMap(a => a.Addresses ?? []).map(a => a.replace(/\/\d+$/, '')),
    ...(t.Status.ContainerStatus?.ExitCode ? { exitCode: t.Status.ContainerStatus.ExitCode } : {}),
    since: t.Status.Timestamp,
    ...(t.Status.ContainerStatus?.ContainerID ? { containerId: t.Status.ContainerStatus.ContainerID } : {}),
    ...(t.Spec.ContainerSpec?.Labels?.[LABEL.release] ? { release: t.Spec.ContainerSpec.Labels[LABEL.release] } : {})
  }
}

/** The Docker API's service spec for cutover's ServiceSpec (dnsrr, host-mode ports only: no VIP, no routing mesh). */
export function toDockerSpec(spec: ServiceSpec): Record<string, unknown> {
  return {
    Name: spec.name,
    Labels: spec.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Labels: spec.containerLabels,
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        ...(spec.command ? { Args: spec.command } : {}),
        ...(spec.stopGraceSeconds !== undefined ? { StopGracePeriod: spec.stopGraceSeconds * 1e9 } : {}),
        ...(spec.healthcheck
          ? {
              Healthcheck: {
                Test: spec.healthcheck.test,
                Interval: spec.healthcheck.intervalNs,
                Timeout: spec.healthcheck.timeoutNs,
                StartPeriod: spec.healthcheck.startPeriodNs,
                Retries: spec.healthcheck.retries
              }
            }
          : {}),
        ...(spec.files?.length
          ? { Configs: spec.files.map(f => ({ ConfigID: f.configId, ConfigName: f.config, File: { Name: f.path, UID: '0', GID: '0', Mode: 0o444 } })) }
          : {}),
        ...(spec.secrets?.length
          ? { Secrets: spec.secrets.map(s => ({ SecretID: s.secretId, SecretName: s.secret, File: { Name: s.file, UID: '0', GID: '0', Mode: 0o444 } })) }
          : {})
      },
      Resources: { Limits: { ...(spec.memoryBytes ? { MemoryBytes: spec.memoryBytes } : {}), ...(spec.nanoCpus ? { NanoCPUs: spec.nanoCpus } : {}) } },
      RestartPolicy: { Condition: 'any', Delay: 1e9 },
      Placement: { Constraints: spec.constraints },
      Networks: spec.networks.map(Target => ({ Target }))
    },
    Mode: spec.replicas === undefined ? { Global: {} } : { Replicated: { Replicas: spec.replicas } },
    // One update replaces every task at once: the color is idle (not routed) while it changes.
    UpdateConfig: { Parallelism: 0, Order: 'stop-first', FailureAction: 'pause' },
    RollbackConfig: { Parallelism: 0, Order: 'stop-first' },
    EndpointSpec: {
      Mode: 'dnsrr',
      Ports: (spec.ports ?? []).map(p => ({ Protocol: 'tcp', TargetPort: p.target, PublishedPort: p.published, PublishMode: 'host' }))
    }
  }
}

/** The engine's SwarmCluster over the manager's Docker API (dockerode, through the SSH tunnel). */
export class DockerSwarmCluster implements SwarmCluster {
  constructor(
    private readonly docker: Docker,
    private readonly registry: RegistryAuth | undefined
  ) {}

  private auth(image: string): RegistryAuth | undefined {
    return credentialsFor(image, this.registry)
  }

  private async raw(name: string): Promise<RawService | undefined> {
    try {
      return (await this.docker.getService(name).inspect()) as RawService
    } catch (e) {
      if (isNotFound(e)) return undefined
      throw e
    }
  }

  async service(name: string): Promise<ServiceInfo | undefined> {
    const raw = await this.raw(name)
    return raw && toService(raw)
  }

  async servicesOf(app: string): Promise<ServiceInfo[]> {
    const list = (await this.docker.listServices({ filters: { label: [`${LABEL.app}=${app}`] } })) as unknown as RawService[]
    return list.map(toService)
  }

  async create(spec: ServiceSpec): Promise<void> {
    await this.docker.createService(this.auth(spec.image) as Docker.AuthConfig, toDockerSpec(spec) as unknown as Docker.CreateServiceOptions)
  }

  async update(spec: ServiceSpec): Promise<void> {
    const raw = await this.raw(spec.name)
    if (!raw) return this.create(spec)
    await this.send(raw.ID, { ...toDockerSpec(spec), _query: { version: raw.Version.Index } }, spec.image)
  }

  /** A service update, with the image's registry credentials passed on to the nodes. */
  private async send(id: string, body: Record<string, unknown>, image: string): Promise<void> {
    const auth = this.auth(image)
    // dockerode sends `authconfig` as the X-Registry-Auth header, and only `_query` in the URL (not the spec, env included).
    await this.docker.getService(id).update({ ...body, ...(auth ? { authconfig: auth } : {}) })
  }

  async rollback(name: string): Promise<void> {
    const raw = await this.raw(name)
    if (!raw?.PreviousSpec) return
    const previous = raw.PreviousSpec
    await this.send(raw.ID, { ...previous, _query: { version: raw.Version.Index } }, previous.TaskTemplate.ContainerSpec.Image)
  }

  async scale(name: string, replicas: number): Promise<void> {
    const raw = await this.raw(name)
    if (!raw) return
    const spec = raw.Spec as unknown as Record<string, unknown>
    await this.send(
      raw.ID,
      { ...spec, Mode: { Replicated: { Replicas: replicas } }, _query: { version: raw.Version.Index } },
      raw.Spec.TaskTemplate.ContainerSpec.Image
    )
  }

  async remove(name: string): Promise<void> {
    try {
      await this.docker.getService(name).remove()
    } catch (e) {
      if (!isNotFound(e)) throw e
    }
  }

  async tasks(service: string): Promise<TaskInfo[]> {
    const [tasks, nodes] = await Promise.all([this.docker.listTasks({ filters: { service: [service] } }) as Promise<RawTask[]>, this.nodes()])
    const addr = new Map(nodes.map(n => [n.id, n.addr]))
    // (a service filter also matches names it prefixes: keep this service's own)
    const id = (await this.raw(service))?.ID
    return tasks.filter(t => t.ServiceID === id).map(t => toTask(t, service, addr))
  }

  async tasksOfRemoved(serviceIds: string[]): Promise<TaskInfo[]> {
    // A removed service's name resolves no more: every task, by its service's id.
    const [tasks, nodes] = await Promise.all([this.docker.listTasks() as Promise<RawTask[]>, this.nodes()])
    const addr = new Map(nodes.map(n => [n.id, n.addr]))
    return tasks.filter(t => serviceIds.includes(t.ServiceID)).map(t => toTask(t, t.ServiceID, addr))
  }

  async nodes(): Promise<NodeInfo[]> {
    const raw = (await this.docker.listNodes()) as RawNode[]
    return raw.map(n => ({
      id: n.ID,
      addr: n.Status.Addr,
      state: n.Status.State,
      availability: n.Spec.Availability,
      role: n.Spec.Role,
      labels: n.Spec.Labels ?? {}
    }))
  }

  async ensureOverlay(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.getNetwork(name).inspect()
    } catch (e) {
      if (!isNotFound(e)) throw e
      try {
        await this.docker.createNetwork({ Name: name, Driver: 'overlay', Attachable: true, CheckDuplicate: true, Labels: labels })
      } catch (err) {
        if (!isConflict(err)) throw err
      }
    }
  }

  async setServiceLabels(name: string, labels: Record<string, string>): Promise<void> {
    // The spec as it is with only its labels changed; sent without registry credentials, so the
    // manager resolves nothing again and the task template (hence every running task) stays as it is.
    for (let attempt = 1; ; attempt++) {
      const raw = await this.raw(name)
      if (!raw) throw new Error(`the service ${name} does not exist`)
      const spec = { ...raw.Spec, Labels: { ...raw.Spec.Labels, ...labels } }
      try {
        await this.docker.getService(raw.ID).update({ ...spec, _query: { version: raw.Version.Index } })
        return
      } catch (e) {
        // Another update between our read and write (Swarm's own, or a concurrent run's): read again.
        if (attempt >= 3 || !/out of sequence/i.test((e as Error).message)) throw e
      }
    }
  }

  async createSecret(name: string, content: string, labels: Record<string, string>): Promise<string> {
    // The content goes in the request body only (base64, as the API wants it): never a file, never the log.
    try {
      const created = (await this.docker.createSecret({ Name: name, Labels: labels, Data: Buffer.from(content).toString('base64') })) as {
        id?: string
        ID?: string
      }
      const id = created.id ?? created.ID
      if (id) return id
    } catch (e) {
      if (!isConflict(e)) throw e
    }
    const found = (await this.secretsOf(labels[LABEL.app] ?? '')).find(s => s.name === name)
    if (!found) throw new Error(`the secret ${name} was created but is not listed`)
    return found.id
  }

  async secretsOf(app: string): Promise<SecretInfo[]> {
    const list = (await this.docker.listSecrets({ filters: { label: [`${LABEL.app}=${app}`] } })) as {
      ID: string
      Spec?: { Name?: string; Labels?: Record<string, string> }
    }[]
    return list.map(s => ({ id: s.ID, name: s.Spec?.Name ?? '', labels: s.Spec?.Labels ?? {} }))
  }

  async removeSecret(id: string): Promise<void> {
    try {
      await this.docker.getSecret(id).remove()
    } catch (e) {
      if (!isNotFound(e)) throw e
    }
  }

  async configsOf(app: string): Promise<{ id: string; name: string }[]> {
    const list = (await this.docker.listConfigs({ filters: { label: [`${LABEL.app}=${app}`] } })) as { ID: string; Spec?: { Name?: string } }[]
    return list.map(c => ({ id: c.ID, name: c.Spec?.Name ?? '' }))
  }

  async removeConfig(id: string): Promise<void> {
    try {
      await this.docker.getConfig(id).remove()
    } catch (e) {
      if (!isNotFound(e)) throw e
    }
  }

  async removeOverlay(name: string): Promise<'removed' | 'gone' | 'in-use'> {
    try {
      await this.docker.getNetwork(name).remove()
      return 'removed'
    } catch (e) {
      if (isNotFound(e)) return 'gone'
      // "has active endpoints", "is in use by task": a task of a removed service is still stopping on some node.
      if (isConflict(e) || (e as { statusCode?: number }).statusCode === 403 || /active endpoints|in use/i.test((e as Error).message)) return 'in-use'
      throw e
    }
  }

  async ensureConfig(name: string, content: string, labels: Record<string, string>, templated = false): Promise<string> {
    const find = async () =>
      ((await this.docker.listConfigs({ filters: { name: [name] } })) as { ID: string; Spec?: { Name?: string } }[]).find(c => c.Spec?.Name === name)?.ID
    const existing = await find()
    if (existing) return existing
    try {
      const created = (await this.docker.createConfig({
        Name: name,
        Labels: labels,
        Data: Buffer.from(content).toString('base64'),
        ...(templated ? { Templating: { Name: 'golang' } } : {})
      })) as {
        ID?: string
        id?: string
      }
      const id = created.ID ?? created.id ?? (await find())
      if (!id) throw new Error(`the config ${name} was created but is not listed`)
      return id
    } catch (e) {
      if (!isConflict(e)) throw e
      const id = await find()
      if (!id) throw e
      return id
    }
  }
}

/** The manager's Docker as the pipeline's ContainerHost: the app's network is an attachable overlay. */
export class SwarmManagerHost extends DockerHost {
  constructor(
    docker: Docker,
    openTcp: OpenStream,
    registry: RegistryAuth | undefined,
    private readonly cluster: SwarmCluster
  ) {
    super(docker, openTcp, registry)
  }

  override ensureNetwork(name: string, labels: Record<string, string>): Promise<void> {
    return this.cluster.ensureOverlay(name, labels)
  }

  /** The app's services: the manager's own containers are only the tasks placed on it. */
  override async listAppUnits(app: string): Promise<ContainerSummary[]> {
    return (await this.cluster.servicesOf(app)).map(s => ({
      name: s.name,
      state: s.replicas === 0 ? 'scaled to 0' : 'running',
      status: s.replicas === undefined ? 'global' : `${s.replicas} replica${s.replicas === 1 ? '' : 's'}`,
      image: s.labels[LABEL.image] ?? s.image,
      labels: s.labels,
      service: { replicas: s.replicas }
    }))
  }
}

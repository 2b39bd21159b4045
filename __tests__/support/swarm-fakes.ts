import { LABEL } from '../../src/core/names.js'
import type { NodeInfo, ServiceInfo, ServiceSpec, SwarmCluster, TaskInfo } from '../../src/engine/swarm-ports.js'

/** A swarm manager in memory: services and the tasks a test makes them have. */
export class FakeSwarm implements SwarmCluster {
  services = new Map<string, { spec: ServiceSpec; previous?: ServiceSpec }>()
  taskList: TaskInfo[] = []
  calls: string[] = []
  private info(name: string): ServiceInfo | undefined {
    const s = this.services.get(name)
    const secretIds = (s?.spec.secrets ?? []).map(x => x.secretId)
    return s && { id: name, name, labels: s.spec.labels, image: s.spec.image, replicas: s.spec.replicas, hasPreviousSpec: !!s.previous, secretIds }
  }
  async service(name: string) {
    return this.info(name)
  }
  async servicesOf(app: string) {
    return [...this.services.keys()].map(n => this.info(n)!).filter(s => s.labels[LABEL.app] === app)
  }
  async create(spec: ServiceSpec) {
    this.calls.push(`create ${spec.name}`)
    this.services.set(spec.name, { spec })
  }
  async update(spec: ServiceSpec) {
    this.calls.push(`update ${spec.name}`)
    this.services.set(spec.name, { spec, previous: this.services.get(spec.name)?.spec })
  }
  async rollback(name: string) {
    this.calls.push(`rollback ${name}`)
    const s = this.services.get(name)!
    this.services.set(name, { spec: s.previous! })
  }
  async scale(name: string, replicas: number) {
    this.calls.push(`scale ${name} ${replicas}`)
    const s = this.services.get(name)!
    s.spec = { ...s.spec, replicas }
  }
  async remove(name: string) {
    this.calls.push(`remove ${name}`)
    this.services.delete(name)
  }
  async tasks(service: string) {
    return this.taskList.filter(t => t.service === service)
  }
  /** How many more times the tasks of removed services are still listed (stopping on their nodes). */
  stoppingFor = 0
  async tasksOfRemoved(serviceIds: string[]): Promise<TaskInfo[]> {
    if (this.stoppingFor-- <= 0) return []
    return serviceIds.map(id => ({ id: `${id}.1`, service: id, node: '10.0.0.1', nodeId: 'n0', desired: 'remove', state: 'running', addresses: [], since: '' }))
  }
  async nodes(): Promise<NodeInfo[]> {
    return []
  }
  async setServiceLabels(name: string, labels: Record<string, string>) {
    this.calls.push(`labels ${name}`)
    const s = this.services.get(name)!
    s.spec = { ...s.spec, labels: { ...s.spec.labels, ...labels } }
  }
  secrets = new Map<string, { name: string; content: string; labels: Record<string, string> }>()
  async createSecret(name: string, content: string, labels: Record<string, string>) {
    this.calls.push(`secret ${name}`)
    this.secrets.set(`id-${name}`, { name, content, labels })
    return `id-${name}`
  }
  async secretsOf(app: string) {
    return [...this.secrets].filter(([, s]) => s.labels[LABEL.app] === app).map(([id, s]) => ({ id, name: s.name, labels: s.labels }))
  }
  async removeSecret(id: string) {
    this.calls.push(`remove secret ${this.secrets.get(id)?.name}`)
    this.secrets.delete(id)
  }
  /** Overlay networks, and how many more times each is refused as in use (its tasks still stopping). */
  overlays = new Map<string, { busy: number }>()
  async ensureOverlay(name: string) {
    if (!this.overlays.has(name)) this.overlays.set(name, { busy: 0 })
  }
  async removeOverlay(name: string): Promise<'removed' | 'gone' | 'in-use'> {
    const overlay = this.overlays.get(name)
    if (!overlay) return 'gone'
    if (overlay.busy-- > 0) return 'in-use'
    this.calls.push(`remove network ${name}`)
    this.overlays.delete(name)
    return 'removed'
  }
  configs = new Map<string, Record<string, string>>()
  async ensureConfig(name: string, _content: string, labels: Record<string, string> = {}) {
    this.configs.set(name, labels)
    return name
  }
  async configsOf(app: string) {
    return [...this.configs].filter(([, labels]) => labels[LABEL.app] === app).map(([name]) => ({ id: name, name }))
  }
  /** Config ids Swarm refuses to remove (a kept service still mounts them). */
  configsInUse = new Set<string>()
  async removeConfig(id: string) {
    if (this.configsInUse.has(id)) throw new Error(`config ${id} is in use by a service`)
    this.calls.push(`remove config ${id}`)
    this.configs.delete(id)
  }
  /** `n` tasks of the service's current release, in `state`, spread over three nodes. */
  run(service: string, n: number, state = 'running', error?: string) {
    const release = this.services.get(service)!.spec.labels[LABEL.release]
    for (let i = 0; i < n; i++)
      this.taskList.push({
        id: `${service}-${i}`,
        service,
        node: `10.0.0.${(i % 3) + 1}`,
        nodeId: `n${i % 3}`,
        desired: 'running',
        state,
        addresses: [`10.0.9.${this.taskList.length + 1}`],
        since: '2026-11-22T10:00:00.000Z',
        release,
        ...(error ? { error } : {})
      })
  }
}

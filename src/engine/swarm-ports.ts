/**
 * What target: swarm needs from the Swarm manager (issue #26), in the engine's words: services,
 * their tasks, nodes. The adapter (host/swarm-cluster.ts) implements it over the Docker API of the
 * one manager; unit tests use a fake. Every call is bounded in time by the adapter.
 */
import type { Healthcheck } from '../core/config.js'

/** One color's (or the proxy's, or a worker's) service as cutover creates it. */
export interface ServiceSpec {
  name: string
  image: string
  /** Labels of the service (cutover's release labels); the tasks' containers get `containerLabels`. */
  labels: Record<string, string>
  containerLabels: Record<string, string>
  env: Record<string, string>
  command?: string[]
  /** Tasks of a replicated service; absent: global (one task per eligible node). */
  replicas?: number
  networks: string[]
  constraints: string[]
  memoryBytes?: number
  nanoCpus?: number
  healthcheck?: Healthcheck
  /** Host-mode published ports (`target` in the task, `published` on its node); none for the colors. */
  ports?: { target: number; published: number }[]
  /** Swarm configs mounted as files (the config object's id and name). */
  files?: { configId: string; config: string; path: string }[]
  /** Swarm secrets mounted as files under /run/secrets (the secret object's id and name, the file's name). */
  secrets?: { secretId: string; secret: string; file: string }[]
  /** Seconds a task gets between SIGTERM and SIGKILL. */
  stopGraceSeconds?: number
}

export interface ServiceInfo {
  id: string
  name: string
  labels: Record<string, string>
  image: string
  /** Desired tasks (replicated); undefined for a global service. */
  replicas?: number
  /** Whether Swarm keeps the spec before the last update (`docker service rollback` can return to it). */
  hasPreviousSpec: boolean
  /** The secrets its spec mounts (not the spec before its last update: cutover rolls a service back only within the run that updated it). */
  secretIds: string[]
}

/** A Swarm secret of the app (its content is never read back). */
export interface SecretInfo {
  id: string
  name: string
  labels: Record<string, string>
}

export interface TaskInfo {
  id: string
  service: string
  /** The address of the node it is placed on ('' before it is placed). */
  node: string
  nodeId: string
  /** What Swarm wants (running, shutdown, ...) and what it is (new, pending, starting, running, failed, ...). */
  desired: string
  state: string
  /** Swarm's reason when it failed or was rejected (`Status.Err`). */
  error?: string
  /** Its addresses on the app's overlay network(s), without the prefix length. */
  addresses: string[]
  /** The exit code of its container, when it ended. */
  exitCode?: number
  /** When its state last changed (ISO). */
  since: string
  containerId?: string
  /** The release its container was started for (its cutover.release label). */
  release?: string
}

export interface NodeInfo {
  id: string
  addr: string
  /** ready, down, unknown, disconnected */
  state: string
  /** active, pause, drain */
  availability: string
  role: string
  labels: Record<string, string>
}

/** The swarm as its manager sees it. */
export interface SwarmCluster {
  service(name: string): Promise<ServiceInfo | undefined>
  /** Services labelled as the app's (cutover.app=<app>). */
  servicesOf(app: string): Promise<ServiceInfo[]>
  /** Creates the service, with the run's registry credentials passed on to the nodes. */
  create(spec: ServiceSpec): Promise<void>
  /** Replaces the service's spec (Swarm replaces its tasks, all at once); the old spec is kept as the previous one. */
  update(spec: ServiceSpec): Promise<void>
  /** Goes back to the spec before the last update. */
  rollback(name: string): Promise<void>
  scale(name: string, replicas: number): Promise<void>
  /** Removes it; a missing service is fine. */
  remove(name: string): Promise<void>
  /** Its tasks, current and recent ones. */
  tasks(service: string): Promise<TaskInfo[]>
  /** The tasks of services already removed (by their ids) that Swarm still has: they are stopping on their nodes. */
  tasksOfRemoved(serviceIds: string[]): Promise<TaskInfo[]>
  nodes(): Promise<NodeInfo[]>
  /** Creates the attachable overlay network if it does not exist. */
  ensureOverlay(name: string, labels: Record<string, string>): Promise<void>
  /**
   * Creates the config object if it does not exist (configs are immutable: the name carries a hash); returns its id.
   * A templated one is rendered by Swarm for each task as it starts (Go templates: `.Service.Labels` and the like).
   */
  ensureConfig(name: string, content: string, labels: Record<string, string>, templated?: boolean): Promise<string>
  /**
   * Sets labels of the service itself (not its tasks' containers): Swarm does not replace running
   * tasks for that, and every task it starts from then on renders its templated configs with them.
   */
  setServiceLabels(name: string, labels: Record<string, string>): Promise<void>
  /** Creates a secret (an existing one of that name is taken as it is: names are per release); returns its id. */
  createSecret(name: string, content: string, labels: Record<string, string>): Promise<string>
  /** Secrets labelled as the app's. */
  secretsOf(app: string): Promise<SecretInfo[]>
  /** Removes it; a missing one is fine, one still in use is refused by Swarm (an error). */
  removeSecret(id: string): Promise<void>
  /** Config objects labelled as the app's (its proxy's files). */
  configsOf(app: string): Promise<{ id: string; name: string }[]>
  /** Removes it; a missing one is fine, one still in use is refused by Swarm (an error). */
  removeConfig(id: string): Promise<void>
  /** Removes the overlay network; 'in-use' while tasks on some node still have endpoints on it. */
  removeOverlay(name: string): Promise<'removed' | 'gone' | 'in-use'>
}

/** What the colors' health gate asks of the swarm proxy. */
export interface SwarmProxyHealth {
  /**
   * The addresses each proxy task's own health checks see up in `color`'s backend (one entry per
   * proxy task; a proxy that does not answer has `error`).
   */
  serversUp(color: 'blue' | 'green'): Promise<{ proxy: string; up: string[]; error?: string }[]>
}

/** A task that still counts: Swarm wants it running. */
export function isCurrentTask(t: TaskInfo): boolean {
  return t.desired === 'running'
}

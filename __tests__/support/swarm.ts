import { rmSync } from 'node:fs'
import { join } from 'node:path'
import Docker from 'dockerode'
import { fleetBed, fleetDocker, fleetHome, fleetInputs } from './fleet.js'
import { testbed } from './testbed.js'

/** The swarm of scripts/testbed/swarm.sh: host 1 manages, every node labelled cutover-test.node=hN. */
export interface SwarmBed {
  CUTOVER_TEST_SWARM_MANAGER: string
  CUTOVER_TEST_SWARM_NODES: string
}

export function swarmBed(): SwarmBed {
  fleetBed()
  const bed = testbed() as unknown as Partial<SwarmBed>
  if (!bed.CUTOVER_TEST_SWARM_MANAGER)
    throw new Error('The swarm is not up (no CUTOVER_TEST_SWARM_MANAGER in .testbed/env.json): run "bash scripts/testbed/up.sh"')
  return bed as SwarmBed
}

/** The action's inputs for an app on the test bed's swarm, through its manager: 2 replicas, a quick boot. */
export function swarmInputs(app: string, port: number, overrides: Record<string, string> = {}): Record<string, string> {
  const bed = fleetBed()
  return fleetInputs(app, port, {
    host: bed.CUTOVER_TEST_HOSTS.split('\n')[0],
    'known-hosts': bed.CUTOVER_TEST_HOSTS_KNOWN_HOSTS,
    target: 'swarm',
    replicas: '2',
    'health-timeout': '60s',
    env: 'BOOT_DELAY_MS=300',
    ...overrides
  })
}

export function swarmNodes(): string[] {
  return swarmBed().CUTOVER_TEST_SWARM_NODES.split(' ')
}

/** The manager's Docker, through its socket on this machine. */
export function swarmManager(): Docker {
  return fleetDocker(1)
}

/** The test bed registry's credentials, as a service create passes them on to every node. */
export function swarmRegistryAuth(): { username: string; password: string; serveraddress: string } {
  const bed = testbed()
  return {
    username: bed.CUTOVER_TEST_REGISTRY_USER,
    password: bed.CUTOVER_TEST_REGISTRY_PASSWORD,
    serveraddress: fleetBed().CUTOVER_TEST_HOSTS_IMAGE_PREFIX.split('/')[0]
  }
}

export interface TaskView {
  id: string
  node: string
  state: string
  addresses: string[]
}

interface SwarmTask {
  ID: string
  NodeID: string
  Status?: { State: string }
  NetworksAttachments?: { Addresses?: string[] }[]
}

/** The tasks of a service, with the address (the node's) they run on. */
export async function serviceTasks(service: string): Promise<TaskView[]> {
  const docker = swarmManager()
  const [tasks, nodes] = await Promise.all([docker.listTasks({ filters: { service: [service] } }), docker.listNodes()])
  const addr = new Map(nodes.map(n => [n.ID as string, (n.Status as { Addr: string }).Addr]))
  return (tasks as SwarmTask[]).map(t => ({
    id: t.ID,
    node: addr.get(t.NodeID) ?? '?',
    state: t.Status?.State ?? '?',
    addresses: (t.NetworksAttachments ?? []).flatMap(a => a.Addresses ?? [])
  }))
}

/** Waits until `count` tasks of the service run (bounded). */
export async function waitRunning(service: string, count: number, timeoutMs = 60_000): Promise<TaskView[]> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const running = (await serviceTasks(service)).filter(t => t.state === 'running')
    if (running.length >= count) return running
    if (Date.now() > end)
      throw new Error(`${service}: ${running.length} of ${count} tasks running after ${timeoutMs} ms: ${JSON.stringify(await serviceTasks(service))}`)
    await new Promise(r => setTimeout(r, 500))
  }
}

/** Removes services and networks a test made on the swarm (by name; missing ones are fine). */
export async function removeSwarmThings(services: string[], networks: string[]): Promise<void> {
  const docker = swarmManager()
  await Promise.all(
    services.map(s =>
      docker
        .getService(s)
        .remove()
        .catch(() => undefined)
    )
  )
  // A network goes once the tasks using it are gone on every node.
  for (const n of networks) {
    for (let i = 0; i < 40; i++) {
      const err = await docker
        .getNetwork(n)
        .remove()
        .then(
          () => undefined,
          (e: { statusCode?: number }) => e
        )
      if (!err || err.statusCode === 404) break
      await new Promise(r => setTimeout(r, 500))
    }
  }
}

/** Everything a target-swarm app leaves: the switch relay, its services (workers too) and network, its configs and secrets, its ledger and lock on the manager. */
export async function cleanupSwarmApp(app: string): Promise<void> {
  const home = join(fleetHome(1), '.cutover')
  rmSync(join(home, 'apps', app), { recursive: true, force: true })
  for (const ext of ['lock', 'holder']) rmSync(join(home, 'locks', `${app}.${ext}`), { force: true })
  await fleetDocker(1)
    .getContainer(`${app}-proxy-switch`)
    .remove({ force: true })
    .catch(() => undefined)
  const docker = swarmManager()
  const labelled = { filters: { label: [`cutover.app=${app}`] } }
  // Its colors, its proxy, and whatever else carries its label (worker services).
  const services = (await docker.listServices(labelled)).map(s => s.Spec?.Name ?? '').filter(Boolean)
  await removeSwarmThings([...new Set([`${app}-blue`, `${app}-green`, `${app}-proxy`, ...services])], [`cutover-${app}`])
  const [configs, secrets] = (await Promise.all([docker.listConfigs(labelled), docker.listSecrets(labelled)])) as { ID: string }[][]
  await Promise.all([
    ...configs.map(c =>
      docker
        .getConfig(c.ID)
        .remove()
        .catch(() => undefined)
    ),
    ...secrets.map(s =>
      docker
        .getSecret(s.ID)
        .remove()
        .catch(() => undefined)
    )
  ])
}

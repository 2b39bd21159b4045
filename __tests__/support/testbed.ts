import { readFileSync, existsSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import Docker from 'dockerode'

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface Testbed {
  CUTOVER_TEST_SSH_HOST: string
  CUTOVER_TEST_SSH_PORT: string
  CUTOVER_TEST_BASTION_PORT: string
  CUTOVER_TEST_SSH_USER: string
  CUTOVER_TEST_KEY: string
  CUTOVER_TEST_KEY_PASS: string
  CUTOVER_TEST_KEY_PASSPHRASE: string
  CUTOVER_TEST_RSA_KEY: string
  CUTOVER_TEST_KNOWN_HOSTS: string
  CUTOVER_TEST_BASTION_KNOWN_HOSTS: string
  CUTOVER_TEST_HOST_FINGERPRINT: string
  CUTOVER_TEST_BASTION_FINGERPRINT: string
  CUTOVER_TEST_SSHD_LOG: string
  CUTOVER_TEST_BASTION_SSHD_LOG: string
  CUTOVER_TEST_REGISTRY: string
  CUTOVER_TEST_REGISTRY_USER: string
  CUTOVER_TEST_REGISTRY_PASSWORD: string
  CUTOVER_TEST_IMAGE_PREFIX: string
  CUTOVER_TEST_PROXY_IMAGE: string
  /** Absent from beds brought up before proxy-type haproxy: tests fall back to the same name. */
  CUTOVER_TEST_HAPROXY_IMAGE?: string
  /** Debian 13's HAProxy 3.0, local (trixie-images.sh): the version proxy-image defaults to. */
  CUTOVER_TEST_HAPROXY_NEXT_IMAGE?: string
  /** A non-root SSH user in the docker group, with the same keys. */
  CUTOVER_TEST_DEPLOYER_USER: string
}

/** The bed started by scripts/testbed/up.sh. A missing bed is an error, never a skip. */
export function testbed(): Testbed {
  const file = join(REPO, '.testbed', 'env.json')
  if (!existsSync(file)) {
    throw new Error(`The test bed is not up (${file} is missing): run "bash scripts/testbed/up.sh" first`)
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Testbed
}

export function image(tag: string): string {
  return `${testbed().CUTOVER_TEST_IMAGE_PREFIX}:${tag}`
}

/** A name no other test (or earlier run) uses: lower case, valid as an app name. */
export function uniqueName(prefix: string): string {
  return `cot-${prefix}-${randomBytes(3).toString('hex')}`
}

/** A free TCP port on loopback, for a test's own proxy. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

/** The host's Docker, directly (tests inspect what the action did). */
export function localDocker(): Docker {
  return new Docker({ socketPath: '/var/run/docker.sock' })
}

/** Where cleanupApp looks besides the app: a fleet host's Docker and the host directory of its proxies' admin sockets. */
export interface CleanupHost {
  docker?: Docker
  runDir?: string
}

/** Removes everything a test's app and proxy left on the host (`home`: the SSH user's, when not root's). */
export async function cleanupApp(app: string, proxyName?: string, home = homedir(), host: CleanupHost = {}): Promise<void> {
  const docker = host.docker ?? localDocker()
  const containers = await docker.listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })
  await Promise.all(
    containers.map(c =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined)
    )
  )
  if (proxyName) {
    // HAProxy's generations (a proxy-image handed over to: they use its volume, so they go first).
    const generations = await docker.listContainers({ all: true, filters: { label: [`cutover.proxy-generation-of=${proxyName}`] } })
    for (const g of generations) {
      await docker
        .getContainer(g.Id)
        .remove({ force: true })
        .catch(() => undefined)
    }
    // The edge and switch proxies (or the one HAProxy container), their config volumes and the network between them.
    for (const name of [`${proxyName}-acme`, `${proxyName}-metrics`, `${proxyName}-https`, proxyName, `${proxyName}-switch`]) {
      await docker
        .getContainer(name)
        .remove({ force: true })
        .catch(() => undefined)
      await docker
        .getVolume(`${name}-conf`)
        .remove()
        .catch(() => undefined)
    }
    await removeNetwork(docker, `${proxyName}-net`)
    // proxy-type haproxy: the host directory of its admin socket.
    rmSync(join(host.runDir ?? '/run/cutover', proxyName), { recursive: true, force: true })
  }
  await removeNetwork(docker, `cutover-${app}`)
  // compose-file: the file's own networks and the colors' default ones, and its named volumes (<app>_<name>).
  const labelled = await docker.listNetworks({ filters: { label: [`cutover.app=${app}`] } })
  for (const n of labelled) await removeNetwork(docker, n.Name)
  const { Volumes: volumes } = await docker.listVolumes({ filters: { name: [`${app}_`] } })
  for (const v of volumes ?? [])
    if (v.Name.startsWith(`${app}_`))
      await docker
        .getVolume(v.Name)
        .remove()
        .catch(() => undefined)
  rmSync(ledgerDir(app, home), { recursive: true, force: true })
  const locks = join(home, '.cutover', 'locks')
  for (const name of [app, ...(proxyName ? [`proxy.${proxyName}`] : [])]) {
    for (const ext of ['lock', 'holder']) rmSync(join(locks, `${name}.${ext}`), { force: true })
  }
}

/**
 * Removes a network even while a proxy shared with other apps is still attached to it (cleanups then
 * work in any order): a network left behind takes one of Docker's ~30 default address pools, and
 * once they are gone no test can create a network.
 */
async function removeNetwork(docker: Docker, name: string): Promise<void> {
  const network = docker.getNetwork(name)
  const info = (await network.inspect().catch(() => undefined)) as { Containers?: Record<string, unknown> } | undefined
  if (!info) return
  for (const id of Object.keys(info.Containers ?? {})) await network.disconnect({ Container: id, Force: true }).catch(() => undefined)
  await network.remove().catch(() => undefined)
}

/** Where the action keeps an app's release ledger on the test host (the SSH user is this machine's root). */
export function ledgerDir(app: string, home = homedir()): string {
  return join(home, '.cutover', 'apps', app)
}

/** Counts the connections sshd accepted so far (its log has one line per accepted key). */
export function acceptedConnections(logFile: string): number {
  if (!existsSync(logFile)) return 0
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(l => l.includes('Accepted publickey')).length
}

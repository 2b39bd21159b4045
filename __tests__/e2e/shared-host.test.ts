import { createSocket, type Socket } from 'node:dgram'
import { createServer, type Server } from 'node:net'
import { LABEL } from '../../src/core/names.js'
import { HAPROXY_CONF_DIR, HAPROXY_RUN_DIR, hostRunDir } from '../../src/proxy/haproxy-config.js'
import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { uniqueImages } from '../support/app-images.js'
import { cleanupApp, freePort, image, localDocker, testbed, uniqueName } from '../support/testbed.js'

// What one app does to a host other apps share (issue #22): the shared proxy's start, its port,
// images used by several apps.
const docker = localDocker()

function haproxyImage(): string {
  const bed = testbed()
  return bed.CUTOVER_TEST_HAPROXY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/haproxy:2.6`
}

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

/** A DNS server that reads every query and never answers (a host whose upstream resolver is gone). */
function silentResolver(address: string): Promise<{ socket: Socket; queries: () => number }> {
  let queries = 0
  const socket = createSocket('udp4')
  socket.on('message', () => queries++)
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(53, address, () => resolve({ socket, queries: () => queries }))
  })
}

describe('the shared proxy starts whatever the upstream resolver does', () => {
  const app = uniqueName('dns')
  const proxy = `${app}-proxy`
  let port: number
  let resolver: { socket: Socket; queries: () => number } | undefined

  beforeAll(async () => {
    port = await freePort()
  })

  afterAll(async () => {
    resolver?.socket.close()
    await cleanupApp(app, proxy)
  })

  it("a proxy whose containers' upstream resolver never answers opens its admin socket at once and serves the first deploy", async () => {
    // Docker's embedded DNS answers container names itself and forwards every other name to the
    // container's upstream (HostConfig.Dns). The proxy is made here as cutover makes it, left
    // created, with that upstream a resolver that never answers: the first deploy starts it.
    // Before issue #22, HAProxy resolved <proxy>-acme (no such container) through libc while it
    // loaded, waited 20 s for the upstream, and the deploy gave up after 15 s.
    const network = await docker.createNetwork({ Name: `${proxy}-net`, Driver: 'bridge', Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'true' } })
    const gateway = ((await network.inspect()) as { IPAM: { Config: { Gateway: string }[] } }).IPAM.Config[0].Gateway
    resolver = await silentResolver(gateway)
    await docker.createContainer({
      name: proxy,
      Image: haproxyImage(),
      User: 'root',
      Entrypoint: ['haproxy'],
      Cmd: ['-W', '-db', '-f', HAPROXY_CONF_DIR],
      StopSignal: 'SIGUSR1',
      Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'haproxy' },
      ExposedPorts: { '80/tcp': {} },
      HostConfig: {
        PortBindings: { '80/tcp': [{ HostPort: String(port) }] },
        Binds: [`${proxy}-conf:${HAPROXY_CONF_DIR}`, `${hostRunDir(proxy)}:${HAPROXY_RUN_DIR}`],
        RestartPolicy: { Name: 'unless-stopped' },
        NetworkMode: `${proxy}-net`,
        Dns: [gateway]
      }
    })

    const run = await runAction(bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), image: image('v1') }))
    expectSuccess(run)
    expect(run.stdout).toContain(`Starting the proxy ${proxy}`)
    expect((await get(`http://127.0.0.1:${port}/`)).body).toContain('v1')
    // The reproduction held: names Docker's DNS does not know went to the silent resolver.
    expect(resolver.queries()).toBeGreaterThan(0)

    // A reload (a second deploy) resolves nothing while it loads either, and keeps serving.
    const second = await runAction(bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), image: image('v2') }))
    expectSuccess(second)
    expect((await get(`http://127.0.0.1:${port}/`)).body).toContain('v2')
  })
})

describe('a proxy port taken on the host', () => {
  const app = uniqueName('port')
  const proxy = `${app}-proxy`
  let holder: Server | undefined

  afterAll(async () => {
    holder?.close()
    await cleanupApp(app, proxy)
  })

  it('the first deploy names the port and what holds it and leaves no proxy container; the port freed, the next run succeeds', async () => {
    const port = await freePort()
    holder = createServer(socket => socket.destroy())
    await new Promise<void>((resolve, reject) => holder!.once('error', reject).listen(port, '127.0.0.1', resolve))
    const inputs = bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), image: image('v1') })

    const first = await runAction(inputs)
    expect(first.code).not.toBe(0)
    expect(first.outputs.result).toBe('failed')
    expect(first.errors.join('\n')).toContain(
      `The proxy ${proxy} could not start: port ${port} on the host is taken (a process on the host listens on it, not a container). ` +
        `Nothing was switched; the proxy container was removed so the next run starts clean. Free port ${port}`
    )
    // Before issue #22 the container stayed behind in "Created".
    const left = await docker.listContainers({ all: true, filters: { name: [`^/${proxy}$`] } })
    expect(left.map(c => `${c.Names[0]} ${c.State}`)).toEqual([])

    await new Promise(resolve => holder!.close(resolve))
    holder = undefined
    const second = await runAction(inputs)
    expectSuccess(second)
    expect((await get(`http://127.0.0.1:${port}/`)).body).toContain('v1')
  })
})

describe('images shared between apps on one host', () => {
  const a = uniqueName('imga')
  const b = uniqueName('imgb')
  let images: Record<string, string> = {}
  const ports: Record<string, number> = {}

  beforeAll(async () => {
    images = await uniqueImages(uniqueName('shared'), ['v1', 'v2', 'v3'])
    for (const app of [a, b]) ports[app] = await freePort()
  })

  afterAll(async () => {
    for (const app of [a, b]) await cleanupApp(app, `${app}-proxy`)
    for (const ref of Object.values(images))
      await docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined)
  })

  function deploy(app: string, version: string): Promise<ActionRun> {
    return runAction(bedInputs(app, ports[app], { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), image: images[version], 'drain-timeout': '1s' }))
  }

  it("one app's clean-up leaves an image another app's ledger records, though no container uses it any more", async () => {
    // b serves v1; a deploys v1, v2, v3: a's v1 container goes, its image stays (b's container uses it)
    // and a's ledger keeps v1 as an earlier release. b then deploys v2, v3: its v1 container goes,
    // and no container uses the image now. Before issue #22 b's clean-up removed it, under a's record
    // (and under any run of a that had just pulled it and was about to create its container).
    expectSuccess(await deploy(b, 'v1'))
    for (const version of ['v1', 'v2', 'v3']) expectSuccess(await deploy(a, version))
    expectSuccess(await deploy(b, 'v2'))
    const last = await deploy(b, 'v3')
    expectSuccess(last)
    const v1 = await docker.getImage(images.v1).inspect()
    expect(last.stdout).toContain(`Kept the image ${v1.Id.slice(7, 19)}: the app ${a} records it (${images.v1})`)
    const users = await docker.listContainers({ all: true, filters: { ancestor: [v1.Id] } })
    expect(users.map(c => c.Names[0])).toEqual([])
    expect((await get(`http://127.0.0.1:${ports[b]}/`)).body).toContain('v3')
  })
})

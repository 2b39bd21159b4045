import { statSync } from 'node:fs'
import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { underSteadyLoad } from '../support/load.js'
import { cleanupApp, freePort, image, localDocker, testbed, uniqueName } from '../support/testbed.js'

// Which proxy a run uses (proxy-type auto: the existing one's type, HAProxy for a new one), the
// nginx router kept for proxies made before HAProxy became the default, and a non-root SSH user.
const docker = localDocker()

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

async function served(port: number): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`)
  return `${res.status} ${res.body.trim()}`
}

/** Runs the action under steady load (keep-alive and new connections); returns the run and the failures. */
async function underLoad(port: number, run: () => Promise<ActionRun>) {
  const { result, sent, failures } = await underSteadyLoad(`http://127.0.0.1:${port}/`, run)
  return { result, sent, failures: failures.failures, errors: failures.errors }
}

describe('an nginx proxy (made before HAProxy became the default) under proxy-type auto', () => {
  const app = uniqueName('ngx')
  const proxy = `${app}-proxy`
  let port: number
  const nginx = (more: Record<string, string>) =>
    bedInputs(app, port, { 'proxy-type': 'nginx', 'proxy-image': testbed().CUTOVER_TEST_PROXY_IMAGE, 'drain-timeout': '2s', ...more })

  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, proxy)
  })

  it('proxy-type nginx: deploys v1 and v2 under load through the two tiers, 0 failed requests', async () => {
    expectSuccess(await runAction(nginx({ image: image('v1') })))
    expect((await docker.getContainer(`${proxy}-switch`).inspect()).Config.Labels['cutover.proxy']).toBe('switch')
    const { result, sent, failures, errors } = await underLoad(port, () => runAction(nginx({ image: image('v2') })))
    expectSuccess(result)
    expect(await served(port)).toBe('200 v2')
    expect(sent).toBeGreaterThan(100)
    expect({ failures, errors }).toEqual({ failures: 0, errors: [] })
  })

  it('without proxy-type or proxy-image, the next runs keep that nginx proxy: rollback under load, 0 failed', async () => {
    const auto = bedInputs(app, port, { 'proxy-image': '', 'drain-timeout': '2s', mode: 'rollback' })
    const { result, failures, errors } = await underLoad(port, () => runAction(auto))
    expectSuccess(result)
    expect(result.stdout).toContain(`Proxy: ${proxy} (nginx, proxy-type auto)`)
    expect(result.outputs).toMatchObject({ result: 'rolled-back', image: image('v1') })
    expect(await served(port)).toBe('200 v1')
    expect({ failures, errors }).toEqual({ failures: 0, errors: [] })
    expect((await docker.getContainer(proxy).inspect()).Config.Labels['cutover.proxy']).toBe('edge')
  })
})

describe('proxy-type auto on a host without that proxy', () => {
  const app = uniqueName('auto')
  const proxy = `${app}-proxy`
  let port: number
  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, proxy)
  })

  it('refuses an nginx proxy-image for the new (HAProxy) proxy before creating anything', async () => {
    const run = await runAction(bedInputs(app, port, { image: image('v1'), 'proxy-image': testbed().CUTOVER_TEST_PROXY_IMAGE }))
    expect(run.code).toBe(1)
    expect(run.errors.join('\n')).toContain('an nginx image, but a new proxy is HAProxy by default (proxy-type: auto). Set proxy-type: nginx')
    await expect(docker.getContainer(proxy).inspect()).rejects.toThrow()
    expect(await docker.listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })).toEqual([])
  })

  it('creates an HAProxy proxy', async () => {
    const run = await runAction(bedInputs(app, port, { image: image('v1') }))
    expectSuccess(run)
    expect(run.stdout).toContain(`Proxy: ${proxy} (HAProxy, proxy-type auto)`)
    expect((await docker.getContainer(proxy).inspect()).Config.Labels['cutover.proxy']).toBe('haproxy')
    expect(await served(port)).toBe('200 v1')
  })
})

describe('a non-root SSH user in the docker group', () => {
  const app = uniqueName('usr')
  const proxy = `${app}-proxy`
  const user = () => testbed().CUTOVER_TEST_DEPLOYER_USER
  const home = () => `/home/${user()}`
  let port: number
  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, proxy, home())
  })

  it('deploys and switches through the HAProxy admin socket, which the docker group may open', async () => {
    const inputs = (more: Record<string, string>) => bedInputs(app, port, { user: user(), 'drain-timeout': '1s', ...more })
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    const second = await runAction(inputs({ image: image('v2') }))
    expectSuccess(second)
    expect(second.stdout).toContain('through its runtime API (no reload)')
    expect(await served(port)).toBe('200 v2')
    const socket = statSync(`/run/cutover/${proxy}/admin.sock`)
    expect(socket.mode & 0o777).toBe(0o660)
    expect(socket.gid).toBe(statSync('/var/run/docker.sock').gid)
    // the ledger is in that user's home
    expect(statSync(`${home()}/.cutover/apps/${app}/releases.json`).uid).toBe(statSync(home()).uid)
  })
})

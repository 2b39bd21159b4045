import WebSocket from 'ws'
import { bedInputs, get, runAction, startAction, untilOutput, type ActionRun } from '../support/action.js'
import { startLoad } from '../support/load.js'
import { expectSuccess } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, testbed, uniqueName } from '../support/testbed.js'

// proxy-type caddy (issue #23): one Caddy 2.6 container switched through its admin API. Each test
// builds on the host state the previous one left.
const app = uniqueName('cad')
const other = uniqueName('cadb')
const proxy = `${app}-proxy`
const otherDomain = `${other}.example.test`
let port: number
const docker = localDocker()

function caddyImage(): string {
  const bed = testbed() as ReturnType<typeof testbed> & { CUTOVER_TEST_CADDY_IMAGE?: string }
  return bed.CUTOVER_TEST_CADDY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/caddy-router:2.6`
}

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'caddy', 'proxy-image': caddyImage(), 'drain-timeout': '2s', ...overrides })
}

function otherInputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(other, port, {
    'proxy-type': 'caddy',
    'proxy-image': caddyImage(),
    'proxy-name': proxy,
    domains: otherDomain,
    'drain-timeout': '2s',
    ...overrides
  })
}

async function served(host?: string): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`, host ? { host } : {})
  return `${res.status} ${res.body.trim()}`
}

/** The app version the proxy answers with, waiting up to 15 s for it to answer at all (a proxy just restarted). */
async function servedVersion(): Promise<string> {
  for (const deadline = Date.now() + 15_000; ; await new Promise(r => setTimeout(r, 200))) {
    const res = await get(`http://127.0.0.1:${port}/`)
    if (res.status === 200 || Date.now() > deadline) return res.status === 200 ? res.body.trim() : `HTTP ${res.status}`
  }
}

function reported(run: ActionRun): string {
  return run.outputs.image.split(':').pop() ?? ''
}

/** A WebSocket to the app through the proxy: its messages, and the close code if it closed. */
function holdWebSocket(url: string): Promise<{ messages: string[]; closed?: number; socket: WebSocket }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    const held: { messages: string[]; closed?: number; socket: WebSocket } = { messages: [], socket }
    socket.on('close', code => (held.closed = code))
    socket.on('message', data => held.messages.push(data.toString()))
    socket.on('open', () => resolve(held))
    socket.on('error', reject)
  })
}

const KEEP_ALIVE_CONNECTIONS = 4
const NEW_CONNECTION_LOOPS = 2

/**
 * Runs the action under steady load (keep-alive connections, and connections opened per request),
 * from 300 ms before until 300 ms after it, and logs what each saw (the figures the README quotes).
 */
async function underLoad(what: string, run: () => Promise<ActionRun>) {
  const url = `http://127.0.0.1:${port}/`
  const keepAlive = startLoad(url, { connections: KEEP_ALIVE_CONNECTIONS, keepAlive: true, maxMs: 90000 })
  const fresh = startLoad(url, { connections: NEW_CONNECTION_LOOPS, keepAlive: false, maxMs: 90000 })
  await new Promise(r => setTimeout(r, 300))
  const result = await run()
  await new Promise(r => setTimeout(r, 300))
  const [kept, opened] = [await keepAlive.stop(), await fresh.stop()]
  console.log(
    `caddy ${what}: keep-alive ${kept.sent} requests, ${keepAlive.failures()} failed (${kept.firstErrors.join('; ')}); ` +
      `new connections ${opened.sent} requests, ${fresh.failures()} failed (${opened.firstErrors.join('; ')})`
  )
  return { result, sent: kept.sent + opened.sent, bodies: { ...kept.bodies, ...opened.bodies }, kept, opened }
}

/**
 * What a Caddy 2.6 reload costs, measured: no request is answered with an error, but a connection
 * can lose one request per reload. A keep-alive connection busy as the old server stops is closed
 * after its answer without "Connection: close" (Go's http server), so the client's next request on
 * it fails ("socket hang up"): with 4 busy connections, 4 per reload in every e2e run. A new
 * connection accepted as the old server stops is reset, rarely (bench/caddy-switch.mjs: 2 of 20
 * switches). So: at most one failed request per connection and reload, all of them socket errors.
 */
function expectReloadCost(load: Awaited<ReturnType<typeof underLoad>>, reloads: number): void {
  expect({ ...load.kept.non2xx, ...load.opened.non2xx }).toEqual({})
  expect(load.kept.socketErrors).toBeLessThanOrEqual(KEEP_ALIVE_CONNECTIONS * reloads)
  expect(load.opened.socketErrors).toBeLessThanOrEqual(NEW_CONNECTION_LOOPS * reloads)
  for (const e of [...load.kept.firstErrors, ...load.opened.firstErrors]) expect(['socket hang up', 'read ECONNRESET']).toContain(e)
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  await cleanupApp(app, proxy)
  await cleanupApp(other)
  await docker
    .getVolume(`${proxy}-data`)
    .remove()
    .catch(() => undefined)
})

describe('proxy-type caddy', () => {
  it('first deploy creates one Caddy container, switched through its admin socket, and serves v1', async () => {
    const run = await runAction(inputs({ image: image('v1') }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'deployed', color: 'blue', image: image('v1') })
    expect(await served()).toBe('200 v1')
    const info = await docker.getContainer(proxy).inspect()
    expect(info.State.Running).toBe(true)
    expect(info.Config.Labels['cutover.proxy']).toBe('caddy')
    expect(info.HostConfig.PortBindings['80/tcp'][0].HostPort).toBe(String(port))
    // An unknown host name goes to the app deployed without domains.
    expect(await served('whatever.example.test')).toBe('200 v1')
    // A client cannot make the proxy name a release.
    const res = await get(`http://127.0.0.1:${port}/`, { 'x-cutover-verify': '' })
    expect(res.headers['x-cutover-release']).toBeUndefined()
  })

  it('v1 -> v2 under load: a request in flight finishes on v1; no request answered with an error, at most one lost per connection; Caddy closes the open WebSocket (1001)', async () => {
    const ws = await holdWebSocket(`ws://127.0.0.1:${port}/ws`)
    const slow = get(`http://127.0.0.1:${port}/slow?ms=4000`)
    const load = await underLoad('v1 -> v2', () => runAction(inputs({ image: image('v2') })))
    const { result, sent, bodies } = load
    expectSuccess(result)
    expect(result.stdout).toContain(`Switched ${app} to green on the proxy ${proxy} by a graceful reload`)
    expect(result.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v2') })
    expect(await served()).toBe('200 v2')
    expect(sent).toBeGreaterThan(100)
    expect(Object.keys(bodies).sort()).toEqual(['v1', 'v2'])
    expectReloadCost(load, 1)
    expect(await slow).toMatchObject({ status: 200, body: 'v1\n' })
    // Caddy 2.6 closes proxied WebSockets when its configuration is reloaded (README "Caddy").
    expect(ws.closed).toBe(1001)
  })

  it('rollback and flip forward under load', async () => {
    const back = await underLoad('rollback', () => runAction(inputs({ mode: 'rollback' })))
    expectSuccess(back.result)
    expect(back.result.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: image('v1') })
    expect(await served()).toBe('200 v1')
    expectReloadCost(back, 1)
    const forward = await underLoad('flip forward', () => runAction(inputs({ mode: 'rollback' })))
    expectSuccess(forward.result)
    expect(forward.result.outputs).toMatchObject({ result: 'rolled-back', color: 'green', image: image('v2') })
    expect(await served()).toBe('200 v2')
    expectReloadCost(forward, 1)
  })

  it('a second app by domain on the same Caddy proxy; the first keeps its route, and its next deploy keeps the second', async () => {
    const added = await underLoad('second app added', () => runAction(otherInputs({ image: image('v3') })))
    expectSuccess(added.result)
    expectReloadCost(added, 1)
    expect(await served(otherDomain)).toBe('200 v3')
    expect(await served()).toBe('200 v2')
    expectSuccess(await runAction(inputs({ image: image('v3') })))
    expect(await served()).toBe('200 v3')
    expect(await served(otherDomain)).toBe('200 v3')
    // The second app's domain cannot be taken by a third app.
    const third = uniqueName('cadc')
    const run = await runAction(bedInputs(third, port, { 'proxy-type': 'caddy', 'proxy-name': proxy, domains: otherDomain, image: image('v1') }))
    await cleanupApp(third)
    expect(run.code).toBe(1)
    expect(run.errors.join('\n')).toContain(`Input 'domains' claims ${otherDomain}, which app ${other} already serves on the proxy ${proxy}`)
    expect(await served(otherDomain)).toBe('200 v3')
  })

  it('canary-weight is refused before anything changes, naming Caddy', async () => {
    const before = (await docker.listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })).map(c => c.Names[0]).sort()
    const run = await runAction(inputs({ image: image('v1'), 'canary-weight': '20' }))
    expect(run.code).toBe(1)
    expect(run.errors.join('\n')).toContain("Input 'canary-weight' is 20, which needs weighted routing, which the Caddy router does not have")
    expect(run.outputs.result).toBe('failed')
    const after = (await docker.listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })).map(c => c.Names[0]).sort()
    expect(after).toEqual(before)
    expect(await served()).toBe('200 v3')
  })

  it('mode maintenance: the page (503, Retry-After) for every request of the app alone, kept by a deploy (verified through the proxy), ended by mode live', async () => {
    const before = (await docker.listContainers({ filters: { label: [`cutover.app=${app}`] } })).map(c => c.Id).sort()
    const on = await runAction(inputs({ mode: 'maintenance', 'maintenance-page': '__tests__/fixtures/maintenance.html' }))
    expectSuccess(on)
    expect(on.outputs.result).toBe('maintenance')
    const res = await get(`http://127.0.0.1:${port}/slow?ms=1`)
    expect([res.status, res.headers['retry-after'], res.headers['content-type']]).toEqual([503, '60', 'text/html; charset=utf-8'])
    expect(res.body).toContain('cutover-test: back soon')
    expect((await docker.listContainers({ filters: { label: [`cutover.app=${app}`] } })).map(c => c.Id).sort()).toEqual(before)
    // The other app on the proxy is not in maintenance.
    expect(await served(otherDomain)).toBe('200 v3')
    const deploy = await runAction(inputs({ image: image('v1') }))
    expectSuccess(deploy)
    expect(deploy.outputs.image).toBe(image('v1'))
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(503)
    const live = await runAction(inputs({ mode: 'live' }))
    expectSuccess(live)
    expect(live.outputs.result).toBe('live')
    expect(await served()).toBe('200 v1')
  })

  it('a Caddy proxy killed between runs is started again by the next run, with its saved routes', async () => {
    await docker.getContainer(proxy).kill()
    await new Promise(r => setTimeout(r, 1000))
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(0)
    const run = await runAction(inputs({ image: image('v2') }))
    expectSuccess(run)
    expect(run.stdout).toMatch(new RegExp(`Starting the proxy ${proxy} again: it had stopped at \\S+ with exit code 137`))
    expect(await servedVersion()).toBe('v2')
    expect(await served(otherDomain)).toBe('200 v3')
    await docker.getContainer(proxy).restart({ t: 1 })
    expect(await servedVersion()).toBe('v2')
  })

  it('a Caddy proxy killed during the switch: the run reports what the proxy serves, before and after a restart', async () => {
    const started = startAction(inputs({ image: image('v1') }))
    await untilOutput(started, '::group::Switching the proxy to', 120_000)
    await docker
      .getContainer(proxy)
      .kill()
      .catch(() => undefined)
    const run = await started.done
    console.log(`caddy killed at the switch: run ${run.code === 0 ? 'succeeded' : 'failed'}, reported ${run.outputs.image}; ${run.errors.join(' ')}`)
    expect(run.summary).not.toBe('')
    expect((await docker.getContainer(proxy).inspect()).State.Running).toBe(true)
    expect(['v1', 'v2']).toContain(reported(run))
    expect(await servedVersion()).toBe(reported(run))
    await docker.getContainer(proxy).restart({ t: 1 })
    expect(await servedVersion()).toBe(reported(run))
    const next = await runAction(inputs({ image: image('v3') }))
    expectSuccess(next)
    expect(await servedVersion()).toBe('v3')
  })
})

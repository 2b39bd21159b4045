import WebSocket from 'ws'
import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { underSteadyLoad } from '../support/load.js'
import { cleanupApp, freePort, image, localDocker, testbed, uniqueName } from '../support/testbed.js'

// proxy-type haproxy: one HAProxy container switched through its runtime API. Each test builds on
// the host state the previous one left.
const app = uniqueName('hap')
const other = uniqueName('hapb')
const proxy = `${app}-proxy`
const otherDomain = `${other}.example.test`
let port: number
const docker = localDocker()

function haproxyImage(): string {
  const bed = testbed()
  return bed.CUTOVER_TEST_HAPROXY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/haproxy:2.6`
}

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), 'drain-timeout': '2s', ...overrides })
}

function otherInputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(other, port, {
    'proxy-type': 'haproxy',
    'proxy-image': haproxyImage(),
    'proxy-name': proxy,
    domains: otherDomain,
    'drain-timeout': '2s',
    ...overrides
  })
}

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

async function served(host?: string): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`, host ? { host } : {})
  return `${res.status} ${res.body.trim()}`
}

interface HeldSocket {
  messages: string[]
  closed: boolean
  socket: WebSocket
}

function holdWebSocket(url: string): Promise<HeldSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    const held: HeldSocket = { messages: [], closed: false, socket }
    socket.on('close', () => (held.closed = true))
    socket.on('message', data => held.messages.push(data.toString()))
    socket.on('open', () => resolve(held))
    socket.on('error', reject)
  })
}

/** Runs the action under steady load (keep-alive and new connections); returns the failures seen. */
function underLoad(run: () => Promise<ActionRun>, url = `http://127.0.0.1:${port}/`) {
  return underSteadyLoad(url, run)
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  // The shared proxy first, so nothing holds the other app's network
  await cleanupApp(app, proxy)
  await cleanupApp(other)
})

describe('proxy-type haproxy', () => {
  it('first deploy creates one HAProxy container and serves v1', async () => {
    const run = await runAction(inputs({ image: image('v1') }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'deployed', color: 'blue', image: image('v1') })
    expect(await served()).toBe('200 v1')
    const info = await docker.getContainer(proxy).inspect()
    expect(info.State.Running).toBe(true)
    expect(info.Config.Labels['cutover.proxy']).toBe('haproxy')
    expect(info.HostConfig.PortBindings['80/tcp'][0].HostPort).toBe(String(port))
    await expect(docker.getContainer(`${proxy}-switch`).inspect()).rejects.toThrow()
    // An unknown host name goes to the app deployed without domains (as with nginx).
    expect(await served('whatever.example.test')).toBe('200 v1')
  })

  it('v1 -> v2 under load through the runtime API: no failed request, an open WebSocket stays open', async () => {
    const ws = await holdWebSocket(`ws://127.0.0.1:${port}/ws`)
    const { result, sent, bodies, failures } = await underLoad(() => runAction(inputs({ image: image('v2') })))
    expectSuccess(result)
    expect(result.stdout).toContain('through its runtime API (no reload)')
    expect(result.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v2') })
    expect(await served()).toBe('200 v2')
    expect(sent).toBeGreaterThan(100)
    expect(failures).toEqual({ failures: 0, errors: [] })
    expect(Object.keys(bodies).sort()).toEqual(['v1', 'v2'])
    // The WebSocket to v1 lived through the switch (v1 keeps running: keep-previous running).
    const seen = ws.messages.length
    await new Promise(r => setTimeout(r, 1500))
    expect(ws.closed).toBe(false)
    expect(ws.messages.length).toBeGreaterThan(seen)
    expect(new Set(ws.messages)).toEqual(new Set(['v1']))
    ws.socket.close()
  })

  it('rollback and flip forward under load: no failed request', async () => {
    const back = await underLoad(() => runAction(inputs({ mode: 'rollback' })))
    expectSuccess(back.result)
    expect(back.result.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: image('v1') })
    expect(await served()).toBe('200 v1')
    expect(back.failures).toEqual({ failures: 0, errors: [] })
    const forward = await underLoad(() => runAction(inputs({ mode: 'rollback' })))
    expectSuccess(forward.result)
    expect(forward.result.outputs).toMatchObject({ result: 'rolled-back', color: 'green', image: image('v2') })
    expect(await served()).toBe('200 v2')
    expect(forward.failures).toEqual({ failures: 0, errors: [] })
  })

  it('a client sending x-cutover-verify gets no release header, and no answer names a color', async () => {
    for (const token of ['', 'x', '1', 'cutover']) {
      const res = await get(`http://127.0.0.1:${port}/`, { 'x-cutover-verify': token })
      expect(res.status).toBe(200)
      expect(res.headers['x-cutover-release']).toBeUndefined()
      expect(res.headers['x-cutover-color']).toBeUndefined()
    }
  })

  it('a second app by domain on the same proxy: added by a reload that fails no request of the first', async () => {
    const { result, failures } = await underLoad(() => runAction(otherInputs({ image: image('v3') })))
    expectSuccess(result)
    expect(failures).toEqual({ failures: 0, errors: [] })
    expect(await served(otherDomain)).toBe('200 v3')
    expect(await served(`${otherDomain}:${port}`)).toBe('200 v3')
    expect(await served()).toBe('200 v2')
    expect(await served('unknown.example.test')).toBe('200 v2')
    // Its next deploy is a runtime switch too.
    const next = await runAction(otherInputs({ image: image('v1') }))
    expectSuccess(next)
    expect(next.stdout).toContain('through its runtime API (no reload)')
    expect(await served(otherDomain)).toBe('200 v1')
  })

  it("one app's containers gone and the proxy restarted: the other app serves, the first answers 503", async () => {
    for (const color of ['blue', 'green']) await docker.getContainer(`${app}-${color}`).remove({ force: true })
    await docker.getContainer(proxy).restart({ t: 2 })
    let last = ''
    for (let i = 0; i < 50; i++) {
      last = `${await served(otherDomain)} / ${(await served()).slice(0, 3)}`
      if (last === '200 v1 / 503') break
      await new Promise(r => setTimeout(r, 200))
    }
    expect(last).toBe('200 v1 / 503')
    expect((await docker.getContainer(proxy).inspect()).State.Running).toBe(true)
  })

  it('the proxy container and its config volume removed: the next run of an app serves it again', async () => {
    await docker.getContainer(proxy).remove({ force: true })
    await docker.getVolume(`${proxy}-conf`).remove()
    const run = await runAction(otherInputs({ image: image('v1') }))
    expectSuccess(run)
    expect(await served(otherDomain)).toBe('200 v1')
  })
})

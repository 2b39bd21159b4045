import { bedInputs, get } from '../support/action.js'
import { expectSuccess, haproxyImage, runAction, sendRequests, served, underLoad } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

// mode maintenance / mode live (issue #12) behind HAProxy: a 503 page switched at runtime, containers untouched.
const app = uniqueName('mnt')
const proxy = `${app}-proxy`
let port: number
const docker = localDocker()

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), 'drain-timeout': '2s', ...overrides })
}

async function containerIds(): Promise<string[]> {
  const list = await docker.listContainers({ filters: { label: [`cutover.app=${app}`] } })
  return list.map(c => c.Id).sort()
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  await cleanupApp(app, proxy)
})

describe('mode maintenance and mode live', () => {
  it('with nothing deployed, mode maintenance fails saying so', async () => {
    const run = await runAction(inputs({ mode: 'maintenance' }))
    expect(run.code).not.toBe(0)
    expect(run.errors.join('\n')).toContain(`Nothing of ${app} is deployed on this host`)
    expect(run.outputs.result).toBe('failed')
  })

  it('proxy-type nginx: refused at input time, before connecting', async () => {
    const run = await runAction(inputs({ mode: 'maintenance', 'proxy-type': 'nginx', 'proxy-image': '' }))
    expect(run.code).not.toBe(0)
    expect(run.errors.join('\n')).toContain("Input 'mode' is maintenance, which needs a maintenance page, which the nginx router does not have")
    expect(run.stdout).not.toContain('Connecting to')
  })

  it('the repository page with a 503 and Retry-After; the containers keep running', async () => {
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    const before = await containerIds()
    const run = await runAction(inputs({ mode: 'maintenance', 'maintenance-page': '__tests__/fixtures/maintenance.html' }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'maintenance', color: 'blue', image: image('v1') })
    const res = await get(`http://127.0.0.1:${port}/`)
    expect(res.status).toBe(503)
    expect(res.headers['retry-after']).toBe('60')
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(res.body).toContain('cutover-test: back soon')
    // every path, not only /
    expect((await get(`http://127.0.0.1:${port}/slow?ms=1`)).status).toBe(503)
    expect(await containerIds()).toEqual(before)
    expect(run.summary).toContain('Maintenance page on')
  })

  it('a deploy during maintenance is health-gated and verified through the proxy, and clients still get the page', async () => {
    const run = await runAction(inputs({ image: image('v2') }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v2') })
    // (answers are keyed by status and the first 40 characters of the body)
    const answers = await sendRequests(port, 50)
    expect(Object.keys(answers)).toHaveLength(1)
    expect(Object.keys(answers)[0]).toMatch(/^503 <!doctype html>/)
    expect((await get(`http://127.0.0.1:${port}/`)).body).toContain('cutover-test: back soon')
  })

  it('mode live under load: the app answers again, switched through the runtime API; every request got the page or the app', async () => {
    const { result, bodies, failures, sent } = await underLoad(port, () => runAction(inputs({ mode: 'live' })))
    expectSuccess(result)
    expect(result.outputs).toMatchObject({ result: 'live', color: 'green', image: image('v2') })
    expect(result.stdout).toContain('through its runtime API (no reload)')
    expect(await served(port)).toBe('200 v2')
    // the load counts 503s as failures: the ones it saw are the page, before the flag went off
    expect(sent).toBeGreaterThan(50)
    expect(failures.errors.every(e => e.startsWith('HTTP 503: <!doctype html>'))).toBe(true)
    expect(bodies.v2).toBeGreaterThan(0)
  })

  it('maintenance again with the built-in page, and back: runtime switches, no reload, nothing failed while turning it off', async () => {
    const on = await runAction(inputs({ mode: 'maintenance' }))
    expectSuccess(on)
    // the page changed (repository page -> built-in one): one reload
    const res = await get(`http://127.0.0.1:${port}/`)
    expect(res.status).toBe(503)
    expect(res.body).toContain('Down for maintenance')
    const off = await runAction(inputs({ mode: 'live' }))
    expectSuccess(off)
    expect(off.stdout).toContain('Ended maintenance of')
    expect(off.stdout).toContain('through its runtime API (no reload)')
    const again = await runAction(inputs({ mode: 'maintenance' }))
    expectSuccess(again)
    expect(again.stdout).toContain('through its runtime API (no reload)')
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(503)
    const { result, failures } = await underLoad(port, () => runAction(inputs({ mode: 'live' })))
    expectSuccess(result)
    expect(await sendRequests(port, 50)).toEqual({ '200 v2': 50 })
    expect(failures.errors.every(e => e.startsWith('HTTP 503: <!doctype html>'))).toBe(true)
  })

  it('the flag survives a restart of the proxy (it is in the config files)', async () => {
    expectSuccess(await runAction(inputs({ mode: 'maintenance' })))
    await docker.getContainer(proxy).restart({ t: 2 })
    let status = 0
    for (let i = 0; i < 50 && status !== 503; i++) {
      status = (await get(`http://127.0.0.1:${port}/`)).status
      if (status !== 503) await new Promise(r => setTimeout(r, 200))
    }
    expect(status).toBe(503)
    expectSuccess(await runAction(inputs({ mode: 'live' })))
    expect(await served(port)).toBe('200 v2')
  })
})

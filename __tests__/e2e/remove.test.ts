import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { bedInputs, get, runAction, startAction, stepMs, untilOutput, type ActionRun } from '../support/action.js'
import { underSteadyLoad } from '../support/load.js'
import { cleanupApp, freePort, image, ledgerDir, localDocker, uniqueName } from '../support/testbed.js'

// Issue #22: an app's claim on the shared proxy never outlives it. A failed first deploy takes its
// domains off the proxy again; mode remove takes an app off the host while the others keep serving.
// Each test builds on the host state the previous one left.
const docker = localDocker()
const proxy = uniqueName('rmproxy')
const ghost = uniqueName('rmghost')
const shop = uniqueName('rmshop')
const base = uniqueName('rmbase')
const next = uniqueName('rmnext')
const never = uniqueName('rmnever')
const domain = `${shop}.example.test`
let port: number

function inputs(app: string, more: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-name': proxy, 'drain-timeout': '2s', ...more })
}

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

async function served(host?: string): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`, host ? { host } : {})
  return `${res.status} ${res.body.trim()}`
}

async function containersOf(app: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })
  return list.map(c => c.Names[0].slice(1)).sort()
}

beforeAll(async () => {
  port = await freePort()
  // The app every later test must leave serving: the proxy's default server.
  expectSuccess(await runAction(inputs(base, { image: image('v1') })))
})

afterAll(async () => {
  for (const app of [ghost, shop, next, never]) await cleanupApp(app)
  await cleanupApp(base, proxy)
})

describe('a failed first deploy leaves no claim on the proxy', () => {
  it('its health gate fails: the domain was never claimed, another app can take it', async () => {
    const run = await runAction(inputs(ghost, { image: image('unhealthy'), domains: domain, 'health-timeout': '3s' }))
    expect(run.code).toBe(1)
    // A name no app claims goes to the default server (the proxy's own 404 without one).
    expect(await served(domain)).toBe('200 v1')
    expect(await containersOf(ghost)).toEqual([])
  })

  it('its verify fails after the switch: the app is taken off the proxy again, and another app then claims the domain', async () => {
    const run = startAction(inputs(ghost, { image: image('v2'), domains: domain }))
    // The new color stops answering once the proxy is being switched to it: the verify cannot pass.
    await untilOutput(run, '::group::Switching the proxy')
    await docker.getContainer(`${ghost}-blue`).pause()
    const done = await run.done
    expect(done.code).toBe(1)
    expect(done.errors.join('\n')).toContain(`nothing was live: ${ghost} was taken off the proxy`)
    expect(done.outputs.result).toBe('failed')
    expect(await containersOf(ghost)).toEqual([])
    expect(await served(domain)).toBe('200 v1')
    // The domain is free: another app takes it (main's bundle failed here with "already routed to app <ghost>").
    const taken = await runAction(inputs(shop, { image: image('v2'), domains: domain }))
    expectSuccess(taken)
    expect(await served(domain)).toBe('200 v2')
  })
})

describe('mode remove', () => {
  it('takes an app off the host while another app on the same proxy is under load: 0 failed requests, its domain goes to the default server, its request in flight finishes', async () => {
    // The default drain-timeout (30 s): the drain lasts as long as the request in flight, no longer.
    // The request starts once the run reads the host, so it is in flight when the route leaves.
    let slow: ReturnType<typeof get> | undefined
    const remove = async () => {
      const run = startAction(inputs(shop, { mode: 'remove', 'drain-timeout': '30s' }))
      await untilOutput(run, '::group::Reading the state of the host')
      slow = get(`http://127.0.0.1:${port}/slow?ms=8000`, { host: domain }, 60_000)
      return run.done
    }
    const { result, sent, failures, bodies } = await underSteadyLoad(`http://127.0.0.1:${port}/`, remove)
    expectSuccess(result)
    const waited = Number(new RegExp(`The requests in flight to ${shop} finished: waited (\\d+) ms \\(drain-timeout 30 s\\)`).exec(result.stdout)?.[1])
    expect(waited).toBeGreaterThan(0)
    expect(waited).toBeLessThan(30_000)
    // The run's own time for taking it off the proxy, drain included: the request's time, not drain-timeout.
    const switchMs = stepMs(result.summary, 'Switch proxy')
    expect(switchMs).toBeLessThan(30_000)
    console.log(`remove with a request in flight: drain ${waited} ms, switch step ${switchMs} ms`)
    expect(result.outputs).toMatchObject({ result: 'removed', 'previous-image': image('v2'), color: '' })
    expect(result.summary).toContain('Removed')
    expect(failures).toEqual({ failures: 0, errors: [] })
    expect(sent).toBeGreaterThan(50)
    expect(Object.keys(bodies)).toEqual(['v1'])
    const inFlight = await slow!
    expect(`${inFlight.status} ${inFlight.body.trim()}`).toBe('200 v2')
    // Its domain is unclaimed: the default server answers it.
    expect(await served(domain)).toBe('200 v1')
    expect(await containersOf(shop)).toEqual([])
    await expect(docker.getNetwork(`cutover-${shop}`).inspect()).rejects.toThrow()
    // The ledger is archived, not read by any run: the domain is free.
    expect(existsSync(join(ledgerDir(shop), 'releases.json'))).toBe(false)
    expect(readdirSync(ledgerDir(shop)).filter(f => /^removed-.*\.json$/.test(f))).toHaveLength(1)
    // Its proxy file holds nothing any more, and the proxy serves every other app.
    expect(await served()).toBe('200 v1')
  })

  it('the default server removed too, idle, with the default drain-timeout: its route leaves without waiting out 30 s; a new app takes the default server and the domain', async () => {
    const removed = await runAction(inputs(base, { mode: 'remove', 'drain-timeout': '30s' }))
    expectSuccess(removed)
    expect(removed.stdout).toContain(`No request to ${base} was in flight: nothing to wait for`)
    // The run's own time for taking it off the proxy (its drain included), well under drain-timeout.
    const switchMs = stepMs(removed.summary, 'Switch proxy')
    expect(switchMs).toBeLessThan(10_000)
    console.log(`remove of an idle app, drain-timeout 30 s: switch step ${switchMs} ms`)
    expect(await served()).toBe('404 no route')
    expect(await served(domain)).toBe('404 no route')
    expect(await containersOf(base)).toEqual([])
    const taken = await runAction(inputs(next, { image: image('v3') }))
    expectSuccess(taken)
    expect(await served()).toBe('200 v3')
    expect(await served(domain)).toBe('200 v3')
  })

  it('a rollback of an app never deployed here says there is nothing to roll back to (not that another app is the default server)', async () => {
    const run = await runAction(inputs(never, { mode: 'rollback' }))
    expect(run.code).toBe(1)
    expect(run.errors.join('\n')).toContain(`Cannot roll back ${never}: nothing has been deployed on this host yet, so there is nothing to roll back to.`)
    expect(run.errors.join('\n')).not.toContain('already the default server')
    expect(await served()).toBe('200 v3')
  })

  it('remove-data without mode remove is refused before anything changes', async () => {
    const run = await runAction(inputs(next, { image: image('v1'), 'remove-data': 'true' }))
    expect(run.code).toBe(1)
    expect(run.errors.join('\n')).toContain("Input 'remove-data' only applies to mode remove, not deploy")
    expect(await served()).toBe('200 v3')
  })
})

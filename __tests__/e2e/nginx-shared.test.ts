import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { underSteadyLoad } from '../support/load.js'
import { cleanupApp, freePort, image, localDocker, testbed, uniqueName } from '../support/testbed.js'

// The nginx proxy (two tiers, proxy-type nginx) shared by two apps (issue #22): one app's missing
// container no longer takes the switch tier, and with it every app, down; mode remove takes an app
// off both tiers while the other keeps serving.
const docker = localDocker()
const proxy = uniqueName('ngxproxy')
const gone = uniqueName('ngxgone')
const stays = uniqueName('ngxstay')
const domain = `${gone}.example.test`
let port: number

function inputs(app: string, more: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'nginx', 'proxy-image': testbed().CUTOVER_TEST_PROXY_IMAGE, 'proxy-name': proxy, 'drain-timeout': '2s', ...more })
}

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

async function served(host?: string): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`, host ? { host } : {}).catch((e: Error) => ({ status: 0, body: e.message }))
  return `${res.status} ${res.body.trim().split('\n')[0].slice(0, 40)}`
}

beforeAll(async () => {
  port = await freePort()
  expectSuccess(await runAction(inputs(stays, { image: image('v2') })))
  expectSuccess(await runAction(inputs(gone, { image: image('v1'), domains: domain })))
})

afterAll(async () => {
  await cleanupApp(gone)
  await cleanupApp(stays, proxy)
})

describe('an nginx proxy shared by two apps', () => {
  it("one app's containers removed by hand, then the switch tier restarts: the other app serves, the first answers 502", async () => {
    expect(await served(domain)).toBe('200 v1')
    for (const color of ['blue', 'green'])
      await docker
        .getContainer(`${gone}-${color}`)
        .remove({ force: true })
        .catch(() => undefined)
    await docker.getContainer(`${proxy}-switch`).restart({ t: 2 })
    let last = ''
    for (let i = 0; i < 50; i++) {
      last = `${await served()} / ${(await served(domain)).slice(0, 3)}`
      if (last === '200 v2 / 502') break
      await new Promise(r => setTimeout(r, 200))
    }
    expect(last).toBe('200 v2 / 502')
    expect((await docker.getContainer(`${proxy}-switch`).inspect()).State.Running).toBe(true)
  })

  it('mode remove takes the app off both tiers while the other app is under load: no answer fails, at most one request per keep-alive connection is cut', async () => {
    const { result, failures, sent, bodies } = await underSteadyLoad(`http://127.0.0.1:${port}/`, () => runAction(inputs(gone, { mode: 'remove' })))
    expectSuccess(result)
    expect(result.outputs.result).toBe('removed')
    // The edge tier's reload closes idle keep-alive connections (nginx does on every reload): a
    // request sent on one at that moment is cut. underSteadyLoad holds 4 keep-alive connections.
    expect(failures.failures).toBeLessThanOrEqual(4)
    expect(failures.errors.filter(e => e !== 'socket hang up')).toEqual([])
    expect(sent).toBeGreaterThan(50)
    expect(Object.keys(bodies)).toEqual(['v2'])
    // Its domain is no longer routed to it: the default server answers it.
    expect(await served(domain)).toBe('200 v2')
    expect(await docker.listContainers({ all: true, filters: { label: [`cutover.app=${gone}`] } })).toEqual([])
  })
})

import { bedInputs } from '../support/action.js'
import { expectSuccess, haproxyImage, receivedBytes, runAction, sendRequests, served, underLoad } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

// replicas (issue #12) behind HAProxy: N containers per color, balanced, switched at runtime.
const app = uniqueName('rep')
const proxy = `${app}-proxy`
let port: number
const docker = localDocker()

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), 'drain-timeout': '2s', replicas: '3', ...overrides })
}

const names = (color: string) => [`${app}-${color}`, `${app}-${color}-2`, `${app}-${color}-3`]

async function running(): Promise<string[]> {
  const list = await docker.listContainers({ filters: { label: [`cutover.app=${app}`] } })
  return list.map(c => c.Names[0].replace(/^\//, '')).sort()
}

/** Each container's share of the bytes the color received while `count` requests went through the proxy. */
async function sharesOver(color: string, count: number): Promise<{ shares: number[]; answers: Record<string, number> }> {
  const before = await receivedBytes(docker, names(color))
  const answers = await sendRequests(port, count)
  const after = await receivedBytes(docker, names(color))
  const delta = after.map((b, i) => b - before[i])
  const total = delta.reduce((a, b) => a + b, 0)
  return { shares: delta.map(d => d / total), answers }
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  await cleanupApp(app, proxy)
})

describe('replicas', () => {
  it('first deploy with replicas 3 starts and gates three containers', async () => {
    const run = await runAction(inputs({ image: image('v1') }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'deployed', color: 'blue', image: image('v1') })
    expect(await running()).toEqual(names('blue'))
    for (const n of names('blue')) expect(run.stdout).toContain(`Started ${n} (`)
    expect(await served(port)).toBe('200 v1')
  })

  it('v1 -> v2 with 3 replicas under load: runtime switch, no failed request; requests spread over the 3 new containers', async () => {
    const { result, sent, bodies, failures } = await underLoad(port, () => runAction(inputs({ image: image('v2') })))
    expectSuccess(result)
    expect(result.stdout).toContain('through its runtime API (no reload)')
    expect(result.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v2') })
    expect(sent).toBeGreaterThan(100)
    expect(failures).toEqual({ failures: 0, errors: [] })
    expect(Object.keys(bodies).sort()).toEqual(['v1', 'v2'])
    // keep-previous running: the three v1 replicas stay as the standby
    expect(await running()).toEqual([...names('blue'), ...names('green')].sort())

    const { shares, answers } = await sharesOver('green', 900)
    expect(answers).toEqual({ '200 v2': 900 })
    // round robin: each of the three gets about a third (Docker's byte counters, not the proxy's)
    console.log(`replicas: green shares of received bytes ${shares.map(x => x.toFixed(3)).join(' / ')}; ${sent} requests during the deploy`)
    for (const share of shares) expect(share).toBeGreaterThan(0.2)
  })

  it('rollback under load restores blue at its recorded 3 replicas, no failed request', async () => {
    const back = await underLoad(port, () => runAction(inputs({ mode: 'rollback', replicas: '1' })))
    expectSuccess(back.result)
    expect(back.result.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: image('v1') })
    expect(back.failures).toEqual({ failures: 0, errors: [] })
    expect(back.result.stdout).toContain('through its runtime API (no reload)')
    const { shares, answers } = await sharesOver('blue', 900)
    expect(answers).toEqual({ '200 v1': 900 })
    for (const share of shares) expect(share).toBeGreaterThan(0.2)
  })

  it('a deploy with replicas 1 and keep-previous removed leaves one container, every request answered', async () => {
    const { result, failures } = await underLoad(port, () => runAction(inputs({ image: image('v3'), replicas: '1', 'keep-previous': 'removed' })))
    expectSuccess(result)
    expect(result.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v3') })
    expect(failures).toEqual({ failures: 0, errors: [] })
    // the green v2 replicas were replaced; blue's three drained and removed
    expect(await running()).toEqual([`${app}-green`])
    expect(await sendRequests(port, 100)).toEqual({ '200 v3': 100 })
  })
})

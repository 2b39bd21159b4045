import { bedInputs } from '../support/action.js'
import { expectSuccess, haproxyImage, runAction, sendRequests, served, underLoad } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

// canary-weight, mode promote and mode rollback of a canary (issue #12) behind HAProxy.
const app = uniqueName('can')
const proxy = `${app}-proxy`
let port: number
const docker = localDocker()

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), 'drain-timeout': '2s', ...overrides })
}

/** The canary's share in percent over `count` requests, and any answer that was not v1 or v2. */
async function split(count: number, canary: string): Promise<{ percent: number; others: Record<string, number> }> {
  const answers = await sendRequests(port, count)
  const { [`200 ${canary}`]: hits = 0, ...rest } = answers
  const others = Object.fromEntries(Object.entries(rest).filter(([k]) => k !== '200 v1'))
  return { percent: (100 * hits) / count, others }
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  await cleanupApp(app, proxy)
})

describe('canary-weight', () => {
  it('a canary at 20 % under load: no failed request; 2,000 requests split within 3 points', async () => {
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    const { result, failures } = await underLoad(port, () => runAction(inputs({ image: image('v2'), 'canary-weight': '20' })))
    expectSuccess(result)
    expect(result.outputs).toMatchObject({ result: 'canary', color: 'green', image: image('v2'), 'previous-image': image('v1') })
    expect(result.stdout).toContain('through its runtime API (no reload)')
    expect(failures).toEqual({ failures: 0, errors: [] })
    const { percent, others } = await split(2000, 'v2')
    expect(others).toEqual({})
    console.log(`canary: ${percent.toFixed(2)} % of 2,000 requests to the 20 % canary`)
    expect(Math.abs(percent - 20)).toBeLessThanOrEqual(3)
  })

  it('mode rollback during the canary: back to 0 % under load, the canary removed (keep-previous removed)', async () => {
    const { result, failures } = await underLoad(port, () => runAction(inputs({ mode: 'rollback', 'keep-previous': 'removed' })))
    expectSuccess(result)
    expect(result.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: image('v1'), 'standby-state': 'removed' })
    expect(failures).toEqual({ failures: 0, errors: [] })
    expect(await sendRequests(port, 200)).toEqual({ '200 v1': 200 })
    const names = (await docker.listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })).map(c => c.Names[0].slice(1))
    expect(names).toEqual([`${app}-blue`])
  })

  it('a canary at 70 %, then mode promote under load: all traffic to the canary, no failed request', async () => {
    expectSuccess(await runAction(inputs({ image: image('v3'), 'canary-weight': '70' })))
    const { percent } = await split(2000, 'v3')
    console.log(`canary: ${percent.toFixed(2)} % of 2,000 requests to the 70 % canary`)
    expect(Math.abs(percent - 70)).toBeLessThanOrEqual(3)
    const { result, failures } = await underLoad(port, () => runAction(inputs({ mode: 'promote' })))
    expectSuccess(result)
    expect(result.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v3'), 'previous-image': image('v1') })
    expect(result.stdout).toContain('probe 1 of /health')
    expect(failures).toEqual({ failures: 0, errors: [] })
    expect(await served(port)).toBe('200 v3')
    expect(await sendRequests(port, 200)).toEqual({ '200 v3': 200 })
    // a second promote has nothing to promote
    const again = await runAction(inputs({ mode: 'promote' }))
    expect(again.code).not.toBe(0)
    expect(again.errors.join('\n')).toContain('waits to be promoted')
  })

  it('canary-weight with proxy-type nginx is refused before anything is touched', async () => {
    const run = await runAction(inputs({ image: image('v2'), 'canary-weight': '10', 'proxy-type': 'nginx', 'proxy-image': '' }))
    expect(run.code).not.toBe(0)
    expect(run.errors.join('\n')).toContain("Input 'canary-weight' is 10, which needs weighted routing, which the nginx router does not have")
    expect(run.stdout).not.toContain('Connecting to')
  })
})

import { bedInputs, get, startAction, untilOutput } from '../support/action.js'
import { expectSuccess, haproxyImage, runAction } from '../support/strategy.js'
import { cleanupApp, freePort, image, uniqueName } from '../support/testbed.js'

// sticky: cookie (issue #12) behind HAProxy: a client keeps the color it first got, during a canary and across a switch until that color's drain ends.
const app = uniqueName('stk')
const proxy = `${app}-proxy`
const cookieName = `cutover_${app.replace(/-/g, '_')}`
let port: number

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), 'drain-timeout': '8s', sticky: 'cookie', ...overrides })
}

interface Client {
  cookie?: string
  versions: string[]
}

/** One request as a browser would send it: with the client's cookie, keeping the one it is given. */
async function visit(client: Client): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`, client.cookie ? { cookie: client.cookie } : {})
  const set = [res.headers['set-cookie'] ?? []].flat().find(c => c.startsWith(`${cookieName}=`))
  if (set) client.cookie = set.split(';')[0]
  const version = `${res.status} ${res.body.trim()}`
  client.versions.push(version)
  return version
}

async function inBatches<T>(items: T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += 10) await Promise.all(items.slice(i, i + 10).map(fn))
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  await cleanupApp(app, proxy)
})

describe('sticky: cookie', () => {
  const clients: Client[] = Array.from({ length: 100 }, () => ({ versions: [] }))

  it('during a 50 % canary every cookie-bearing client stays on the color it first got', async () => {
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    const canary = await runAction(inputs({ image: image('v2'), 'canary-weight': '50' }))
    expectSuccess(canary)
    expect(canary.outputs.result).toBe('canary')
    await inBatches(clients, visit)
    expect(clients.every(c => c.cookie)).toBe(true)
    for (let round = 0; round < 5; round++) await inBatches(clients, visit)
    const stayed = clients.filter(c => new Set(c.versions).size === 1)
    expect(stayed.length).toBe(100)
    const first = clients.map(c => c.versions[0])
    expect(new Set(first)).toEqual(new Set(['200 v1', '200 v2']))
    expect(first.filter(v => v === '200 v2').length).toBeGreaterThan(30)
  })

  it('across mode promote: v1 clients stay on v1 while it drains, then move to v2; v2 clients never move', async () => {
    const v1Clients = clients.filter(c => c.versions[0] === '200 v1')
    const v2Clients = clients.filter(c => c.versions[0] === '200 v2')
    const started = startAction(inputs({ mode: 'promote' }))
    await untilOutput(started, 'through its runtime API (no reload)')
    // Switched: new clients get v2, v1's cookie-bearing clients still v1 (its drain runs 8 s from the verified switch).
    const newcomer: Client = { versions: [] }
    expect(await visit(newcomer)).toBe('200 v2')
    const during = v1Clients.slice(0, 30)
    await inBatches(during, visit)
    expect(during.map(c => c.versions.at(-1))).toEqual(during.map(() => '200 v1'))
    const run = await started.done
    expectSuccess(run)
    expect(run.stdout).toContain(`Ended the drain of ${app} blue`)
    // Drain over: every v1 client goes to v2 (and gets v2's cookie); v2 clients stayed throughout.
    await inBatches(v1Clients, visit)
    expect(v1Clients.map(c => c.versions.at(-1))).toEqual(v1Clients.map(() => '200 v2'))
    await inBatches(v2Clients, visit)
    expect(v2Clients.every(c => c.versions.every(v => v === '200 v2'))).toBe(true)
    // ...and they stay there
    await inBatches(v1Clients, visit)
    expect(v1Clients.map(c => c.versions.at(-1))).toEqual(v1Clients.map(() => '200 v2'))
  })
})

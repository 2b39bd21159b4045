import { jest } from '@jest/globals'
import { connect } from 'node:net'
import { REQUEST_LOG_MAP, REQUEST_RING } from '../../src/proxy/haproxy-config.js'
import { runtimeCommand } from '../../src/proxy/haproxy-runtime.js'
import { appImages } from '../support/app-images.js'
import { bedInputs, type ActionRun } from '../support/action.js'
import { startLoad, type LoadStats } from '../support/load.js'
import { expectSuccess, runAction, sendRequests } from '../support/strategy.js'
import { cleanupApp, freePort, uniqueName } from '../support/testbed.js'

// canary-steps (issue #24) behind HAProxy under steady load from loopback clients: a good canary
// climbs 5 → 25 → 50 and is promoted; one answering 500 to 10 % of requests (the test app's
// ERROR_PERCENT) and one 300 ms slower (DELAY_MS) are rolled back at their first step; a quiet step
// follows canary-low-traffic. No request fails but those the bad canaries answer 500 themselves.
// Each step's response times per color are p95s of the requests the proxy logged to its ring for
// that step (DELAY_PERCENT: a canary slow for 10 % of its requests, which a mean misses).
jest.setTimeout(300_000)

const app = uniqueName('steps')
const proxy = `${app}-proxy`
let port: number
let images: Record<string, string>

interface Step {
  weight: number
  verdict: string
  why: string
  canary: Figures
  live: Figures
}

interface Figures {
  requests: number
  errors: number
  errorPercent: number
  responseMs?: number
  p95Ms?: number
  p95Of?: number
}

/** One line on the proxy's admin socket (a host directory: the bed's SSH host is this machine). */
function proxyCli(line: string): Promise<string> {
  return runtimeCommand(async () => connect(`/run/cutover/${proxy}/admin.sock`), line)
}

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'haproxy', 'drain-timeout': '2s', ...overrides })
}

/** Runs a deploy under steady load: 4 keep-alive clients and 1 opening a connection per request, each pausing 15 ms. */
async function underLoad(overrides: Record<string, string>): Promise<{ run: ActionRun; seen: LoadStats[] }> {
  const load = [
    startLoad(`http://127.0.0.1:${port}/`, { connections: 4, keepAlive: true, pauseMs: 15, maxMs: 150_000 }),
    startLoad(`http://127.0.0.1:${port}/`, { connections: 1, keepAlive: false, pauseMs: 15, maxMs: 150_000 })
  ]
  await new Promise(r => setTimeout(r, 500))
  const run = await runAction(inputs(overrides))
  await new Promise(r => setTimeout(r, 300))
  return { run, seen: await Promise.all(load.map(l => l.stop())) }
}

function stepsOf(run: ActionRun): Step[] {
  return JSON.parse(run.outputs['canary-steps']) as Step[]
}

/** Every answer that was not a 2xx, by status, and the socket errors. */
function failuresOf(seen: LoadStats[]): { statuses: string[]; socketErrors: number; sent: number } {
  return {
    statuses: [...new Set(seen.flatMap(s => Object.keys(s.non2xx)))],
    socketErrors: seen.reduce((n, s) => n + s.socketErrors, 0),
    sent: seen.reduce((n, s) => n + s.sent, 0)
  }
}

beforeAll(async () => {
  port = await freePort()
  images = await appImages(app.replace(/^cot-/, ''), ['v1', 'v2', 'v3'])
  expectSuccess(await runAction(inputs({ image: images.v1 })))
})

afterAll(async () => {
  await cleanupApp(app, proxy)
})

describe('canary-steps', () => {
  it('a good canary climbs 5 → 25 → 50 under load and is promoted, with no failed request', async () => {
    const { run, seen } = await underLoad({ image: images.v2, 'canary-steps': '5 25 50', 'canary-step-time': '8s', 'watch-max-latency-increase': '100%' })
    const steps = stepsOf(run)
    console.log(`good canary: ${failuresOf(seen).sent} requests; steps ${JSON.stringify(steps.map(s => [s.weight, s.canary, s.live]))}`)
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'deployed', color: 'green', image: images.v2, 'previous-image': images.v1 })
    expect(steps.map(s => [s.weight, s.verdict])).toEqual([
      [5, 'passed'],
      [25, 'passed'],
      [50, 'passed']
    ])
    // The proxy's counters: the canary's share of the step's requests grows with its weight.
    for (const s of steps) {
      const share = (100 * s.canary.requests) / (s.canary.requests + s.live.requests)
      expect(Math.abs(share - s.weight)).toBeLessThan(Math.max(4, s.weight / 3))
      expect(s.canary.errors).toBe(0)
      expect(s.canary.responseMs).toBeLessThan(100)
      // The step's own requests, logged by the proxy: a p95 for each color, over (nearly) every
      // response the counters saw (the ring did not wrap at this load; the two start a moment apart).
      for (const f of [s.canary, s.live]) {
        expect(f.p95Ms).toBeGreaterThanOrEqual(0)
        expect(Math.abs(f.p95Of! - f.requests)).toBeLessThanOrEqual(Math.max(3, f.requests / 20))
      }
    }
    // Logged only while a step held: nothing in the map now, and the ring holds only step lines.
    expect((await proxyCli(`show map /usr/local/etc/haproxy/cutover/${REQUEST_LOG_MAP}`)).trim()).toBe('')
    expect(await proxyCli(`show events ${REQUEST_RING}`)).toMatch(new RegExp(`^${app}\\.5\\.[0-9a-f]{8} \\d+ \\d+ (blue|green) \\d+ 200$`, 'm'))
    expect(failuresOf(seen)).toMatchObject({ statuses: [], socketErrors: 0 })
    expect(run.summary).toContain('**Canary steps**')
    expect(run.summary).toContain('xychart-beta')
    expect(await sendRequests(port, 40)).toEqual({ '200 v2': 40 })
  })

  it('a canary answering 500 to 10 % of requests is rolled back at its first step; only its own 500s fail', async () => {
    const { run, seen } = await underLoad({ image: images.v3, env: 'ERROR_PERCENT=+10', 'canary-steps': '5 25 50', 'canary-step-time': '10s' })
    const steps = stepsOf(run)
    console.log(`10 % errors: ${failuresOf(seen).sent} requests; steps ${JSON.stringify(steps)}`)
    expect(run.code).not.toBe(0)
    expect(run.outputs).toMatchObject({ result: 'auto-rolled-back', color: 'green', image: images.v2 })
    expect(steps).toHaveLength(1)
    expect(steps[0]).toMatchObject({ weight: 5, verdict: 'breached' })
    expect(steps[0].canary.errorPercent).toBeGreaterThan(5)
    expect(steps[0].live.errors).toBe(0)
    expect(run.errors.join('\n').replace(/%25/g, '%')).toMatch(/canary-steps: at 5 %: \d+ of \d+ of the canary's responses \([\d.]+ %\) were 5xx, above 5 %/)
    expect(run.summary).toContain('Rolled back automatically (a canary step breached)')
    const f = failuresOf(seen)
    expect(f.socketErrors).toBe(0)
    expect(f.statuses.filter(s => s !== '500')).toEqual([])
    expect(await sendRequests(port, 40)).toEqual({ '200 v2': 40 })
  })

  it('a canary 300 ms slower is rolled back at its first step by watch-max-latency-increase, with no failed request', async () => {
    const { run, seen } = await underLoad({
      image: images.v3,
      env: 'DELAY_MS=+300',
      'canary-steps': '5 25 50',
      'canary-step-time': '10s',
      'watch-max-latency-increase': '100%'
    })
    const steps = stepsOf(run)
    console.log(`300 ms slower: ${failuresOf(seen).sent} requests; steps ${JSON.stringify(steps)}`)
    expect(run.code).not.toBe(0)
    expect(run.outputs).toMatchObject({ result: 'auto-rolled-back', color: 'green', image: images.v2 })
    expect(steps).toHaveLength(1)
    expect(steps[0]).toMatchObject({ weight: 5, verdict: 'breached' })
    expect(steps[0].canary.responseMs).toBeGreaterThan(250)
    expect(steps[0].canary.responseMs).toBeLessThan(400)
    expect(steps[0].live.responseMs).toBeLessThan(100)
    expect(run.errors.join('\n').replace(/%25/g, '%')).toMatch(
      /the canary's (p95|mean) response time( \(of \d+ requests\))? was \d+ ms against \d+ ms of the live color, .* above watch-max-latency-increase 100 %/
    )
    expect(failuresOf(seen)).toMatchObject({ statuses: [], socketErrors: 0 })
    expect(await sendRequests(port, 40)).toEqual({ '200 v2': 40 })
  })

  it('a canary 300 ms slower for 10 % of its requests: its mean stays low, its p95 breaches watch-max-latency, it is rolled back with no failed request', async () => {
    const { run, seen } = await underLoad({
      image: images.v3,
      env: 'DELAY_MS=+300\nDELAY_PERCENT=+10',
      'canary-steps': '10 50',
      'canary-step-time': '10s',
      'watch-max-latency': '250ms'
    })
    const steps = stepsOf(run)
    console.log(`10 % of requests 300 ms slower: ${failuresOf(seen).sent} requests; steps ${JSON.stringify(steps)}`)
    expect(run.code).not.toBe(0)
    expect(run.outputs).toMatchObject({ result: 'auto-rolled-back', color: 'green', image: images.v2 })
    expect(steps).toHaveLength(1)
    expect(steps[0]).toMatchObject({ weight: 10, verdict: 'breached' })
    // The mean is under the bound (it alone would have passed the canary); the p95 is the slow tail:
    // with 10 % of GET / delayed 300 ms, at least 300 ms by construction, whatever else slows the host.
    expect(steps[0].canary.responseMs).toBeLessThan(250)
    expect(steps[0].canary.p95Ms).toBeGreaterThanOrEqual(300)
    expect(run.errors.join('\n').replace(/%25/g, '%')).toMatch(
      /at 10 %: the canary's p95 response time \(of \d+ requests\) was \d+ ms, above watch-max-latency 250 ms \(live: \d+ ms p95\)/
    )
    expect(run.summary).toMatch(/\| 10 % \| \d+ s \| \d+ \| 0 % \| \d+ ms p95 \(of \d+\), \d+ (±\d+ )?ms mean \|/)
    expect(failuresOf(seen)).toMatchObject({ statuses: [], socketErrors: 0 })
    expect(await sendRequests(port, 40)).toEqual({ '200 v2': 40 })
  })

  it('a step with too few requests follows canary-low-traffic: hold leaves the canary at its weight, mode rollback ends it', async () => {
    const run = await runAction(inputs({ image: images.v3, 'canary-steps': '5 50', 'canary-step-time': '5s', 'canary-low-traffic': 'hold' }))
    expectSuccess(run)
    // A canary's outputs name the canary; previous-* the release still live.
    expect(run.outputs).toMatchObject({ result: 'canary', image: images.v3 })
    expect(run.outputs['previous-color']).not.toBe(run.outputs.color)
    const live = Object.keys(images).find(v => images[v] === run.outputs['previous-image'])!
    const steps = stepsOf(run)
    expect(steps).toHaveLength(1)
    expect(steps[0]).toMatchObject({ weight: 5, verdict: 'low-traffic' })
    expect(steps[0].why).toMatch(/too few to judge/)
    expect(run.stdout).toMatch(/canary-low-traffic is hold/)
    const answers = await sendRequests(port, 200)
    expect(Object.keys(answers).sort()).toEqual([`200 ${live}`, '200 v3'])
    const ended = await runAction(inputs({ mode: 'rollback' }))
    expectSuccess(ended)
    expect(await sendRequests(port, 40)).toEqual({ [`200 ${live}`]: 40 })
  })
})

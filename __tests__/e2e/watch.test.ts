import { jest } from '@jest/globals'
import { bedInputs, get, startAction, untilOutput, type ActionRun } from '../support/action.js'
import { startFakeGithub, type FakeGithub, type RecordedRequest } from '../support/fake-github.js'
import { startLoad } from '../support/load.js'
import { expectSuccess, haproxyImage, runAction, sendRequests, served, underLoad } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

// cutover masks env values as secrets: written "+30" (the app reads 30), so that masking cannot
// garble a number or a random app name in the log and summary ("30" would turn cot-watch-3c308a
// into cot-watch-3c***8a).
const ERROR_30 = 'ERROR_PERCENT=+30'

// watch and watch-max-error-rate (issue #12) behind HAProxy: a healthy release passes the watch; a
// release whose `/` answers 500 to 30 % of requests (the test app's ERROR_PERCENT) under load from a
// loopback client is rolled back automatically, with no failed request at the switch back, and its
// GitHub deployment (a fake API checked against GitHub's OpenAPI description) gets `failure`.
jest.setTimeout(240_000)

const app = uniqueName('watch')
const proxy = `${app}-proxy`
const SHA = 'c0ffee5e4d3c2b1a0f9e8d7c6b5a49382716051a'
let port: number
let fake: FakeGithub
const docker = localDocker()

const env = () => ({
  GITHUB_API_URL: fake.url,
  GITHUB_REPOSITORY: 'acme/web',
  GITHUB_SHA: SHA,
  GITHUB_RUN_ID: '1234567',
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_ACTOR: 'octocat'
})

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, {
    'proxy-type': 'haproxy',
    'proxy-image': haproxyImage(),
    'drain-timeout': '2s',
    deployments: 'true',
    'github-token': 'ghs_fake',
    environment: 'staging',
    ...overrides
  })
}

async function run(overrides: Record<string, string>): Promise<{ run: ActionRun; requests: RecordedRequest[] }> {
  const before = fake.requests.length
  const result = await runAction(inputs(overrides), env())
  return { run: result, requests: fake.requests.slice(before) }
}

/** The deployment a run created, statuses newest first. */
function createdBy(requests: RecordedRequest[]) {
  const creates = requests.filter(r => r.operationId === 'repos/create-deployment')
  expect(creates).toHaveLength(1)
  return fake.deployment((creates[0].response as { id: number }).id)!
}

beforeAll(async () => {
  port = await freePort()
  fake = await startFakeGithub({ repository: 'acme/web', token: 'ghs_fake' })
})

afterAll(async () => {
  await fake.stop()
  await cleanupApp(app, proxy)
})

describe('watch', () => {
  it('a healthy release under load passes a 10 s watch: deployed, no failed request, the old color stopped only after the watch', async () => {
    expectSuccess((await run({ image: image('v1') })).run)
    const { result, failures } = await underLoad(port, () => run({ image: image('v3'), watch: '10s', 'keep-previous': 'stopped' }).then(r => r.run))
    expectSuccess(result)
    expect(result.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v3'), 'standby-state': 'stopped' })
    expect(failures).toEqual({ failures: 0, errors: [] })
    // The run's own clock: the watch took its whole window, then the standby was drained and stopped.
    expect(Number(result.outputs['duration-seconds'])).toBeGreaterThanOrEqual(10)
    const watchRow = /\| Watch \(5xx share, health\) \| ([\d.]+) s \| (.*) \|/.exec(result.summary)
    expect(watchRow).not.toBeNull()
    expect(Number(watchRow![1])).toBeGreaterThanOrEqual(10)
    expect(watchRow![2]).toMatch(/^0 of \d+ responses \(0\.0 %\) were 5xx \(at most 5 % allowed\); \/health answered \d+ of \d+ probes in 10 s$/)
    expect(result.stdout).toMatch(/watch: .*:v3 on green passed: 0 of \d+ responses/)
    const lines = result.stdout.split('\n')
    const passed = lines.findIndex(l => l.includes('on green passed'))
    const draining = lines.findIndex(l => l.includes(`Draining ${app}-blue`))
    expect(passed).toBeGreaterThan(0)
    expect(draining).toBeGreaterThan(passed)
    const blue = await docker.getContainer(`${app}-blue`).inspect()
    expect(blue.State.Running).toBe(false)
  })

  it('a release answering 500 to 30 % of requests under load: rolled back automatically, the previous color serves, the run fails saying so', async () => {
    // v2 with ERROR_PERCENT: its /health passes the gate and the watch; its / fails 3 requests in 10.
    const load = [
      startLoad(`http://127.0.0.1:${port}/`, { connections: 4, keepAlive: true, maxMs: 120_000 }),
      startLoad(`http://127.0.0.1:${port}/`, { connections: 2, keepAlive: false, maxMs: 120_000 })
    ]
    await new Promise(r => setTimeout(r, 300))
    const { run: r, requests } = await run({ image: image('v2'), env: ERROR_30, watch: '60s', 'watch-max-error-rate': '5%' })
    await new Promise(r => setTimeout(r, 300))
    const [a, b] = await Promise.all(load.map(l => l.stop()))

    if (r.code === 0) throw new Error(`expected the watch to fail the run:\n${r.stdout}`)
    // Workflow commands escape '%' as %25.
    const reason = r.errors.join('\n').replace(/%25/g, '%')
    expect(reason).toMatch(
      new RegExp(
        `watch: \\d+ of \\d+ responses \\((2\\d|3\\d)\\.\\d %\\) were 5xx in \\d+ s, above 5 %: rolled back to green \\(${image('v3').replace(/[.]/g, '\\.')}\\)`
      )
    )
    expect(r.outputs).toMatchObject({
      result: 'auto-rolled-back',
      color: 'green',
      image: image('v3'),
      'previous-color': 'blue',
      'previous-image': image('v2'),
      'standby-state': 'running'
    })
    expect(r.summary).toContain(`Rolled back automatically (watch failed): \`${app}\``)
    // Judged early (from 100 responses) rather than after the whole minute.
    expect(Number(r.outputs['duration-seconds'])).toBeLessThan(60)

    // No request failed but those v2 itself answered 500: no connection error, no 502/503 at the switches.
    expect(a.socketErrors + b.socketErrors).toBe(0)
    const statuses = new Set([...Object.keys(a.non2xx), ...Object.keys(b.non2xx)])
    expect([...statuses]).toEqual(['500'])
    const answered = { ...a.bodies }
    for (const [k, n] of Object.entries(b.bodies)) answered[k] = (answered[k] ?? 0) + n
    console.log(`watch rollback: ${a.sent + b.sent} requests, 2xx by version ${JSON.stringify(answered)}, 500: ${(a.non2xx[500] ?? 0) + (b.non2xx[500] ?? 0)}`)
    expect(answered.v2).toBeGreaterThan(0)
    expect(answered.v3).toBeGreaterThan(0)

    // The previous color serves again, for every request.
    expect(await sendRequests(port, 200)).toEqual({ '200 v3': 200 })

    // GitHub: the v2 deployment failed with what the watch saw.
    const d = createdBy(requests)
    expect(d.statuses.map(s => s.state)).toEqual(['failure', 'in_progress'])
    expect(String(d.statuses[0].description)).toMatch(/^watch: \d+ of \d+ responses/)
    expect(fake.violations).toEqual([])

    // The ledger says v3 is live again: mode status agrees with the proxy.
    const status = await runAction(inputs({ mode: 'status' }), env())
    expectSuccess(status)
    expect(status.outputs).toMatchObject({ result: 'unchanged', color: 'green', image: image('v3'), 'previous-image': image('v2') })
  })

  it('the new color going down during the watch: its health path fails 3 times in a row through the proxy, rolled back', async () => {
    const started = startAction(inputs({ image: image('v1'), watch: '60s' }), env())
    await untilOutput(started, 'Watching blue for 60 s', 90_000)
    // As a crash would: the container gone from under the proxy (stopped by hand, so not restarted).
    await docker.getContainer(`${app}-blue`).stop({ t: 0 })
    const r = await started.done
    expect(r.code).toBe(1)
    expect(r.errors.join('\n').replace(/%25/g, '%')).toMatch(
      /watch: \/health failed 3 times in a row through the proxy \(last answer: HTTP 503[^)]*\) after \d+ s: rolled back to green \(/
    )
    expect(r.outputs).toMatchObject({
      result: 'auto-rolled-back',
      color: 'green',
      image: image('v3'),
      'previous-image': image('v1'),
      'standby-state': 'stopped'
    })
    expect(await served(port)).toBe('200 v3')
  })

  it('a cancel during the watch stops watching and leaves the new color live (no rollback)', async () => {
    const started = startAction(inputs({ image: image('v1'), watch: '60s' }), env())
    await untilOutput(started, 'Watching blue for 60 s', 90_000)
    started.child.kill('SIGINT')
    const r = await started.done
    expect(r.code).toBe(1)
    expect(r.errors.join('\n').replace(/%25/g, '%')).toMatch(
      /Cancelled \(SIGINT\) during the watch, after \d+ s \(.*\): blue \(.*:v1\) stays live; a cancelled watch does not roll back\./
    )
    expect(r.outputs).toMatchObject({ result: 'deployed', color: 'blue', image: image('v1') })
    expect(await served(port)).toBe('200 v1')
    // the previous color was left running (keep-previous waits for a watch that passed)
    expect((await docker.getContainer(`${app}-green`).inspect()).State.Running).toBe(true)
  })

  it('a quiet app (fewer than 100 responses): the 5xx share is judged at the end of the window', async () => {
    // About 4 requests a second, one at a time, from a loopback client.
    let stop = false
    const seen: Record<string, number> = {}
    const client = (async () => {
      while (!stop) {
        const res = await get(`http://127.0.0.1:${port}/`)
        seen[res.status] = (seen[res.status] ?? 0) + 1
        await new Promise(r => setTimeout(r, 250))
      }
    })()
    const { run: r } = await run({ image: image('v2'), env: ERROR_30, watch: '12s' })
    stop = true
    await client
    expect(r.code).toBe(1)
    const reason = r.errors.join('\n').replace(/%25/g, '%')
    const m = /watch: (\d+) of (\d+) responses \(([\d.]+) %\) were 5xx in (\d+) s, above 5 %: rolled back to blue \(/.exec(reason)
    if (!m) throw new Error(`unexpected failure: ${reason}`)
    console.log(`watch, quiet app: ${m[1]} of ${m[2]} responses 5xx over ${m[4]} s; the client saw ${JSON.stringify(seen)}`)
    expect(Number(m[2])).toBeGreaterThanOrEqual(20)
    expect(Number(m[2])).toBeLessThan(100)
    expect(Number(m[4])).toBeGreaterThanOrEqual(12)
    expect(r.outputs).toMatchObject({ result: 'auto-rolled-back', color: 'blue', image: image('v1') })
    expect(Object.keys(seen).sort()).toEqual(['200', '500'])
  })

  it('watch with proxy-type nginx is refused before anything is touched', async () => {
    const r = await runAction(inputs({ image: image('v2'), watch: '1m', 'proxy-type': 'nginx', 'proxy-image': '' }), env())
    expect(r.code).not.toBe(0)
    expect(r.errors.join('\n')).toContain("Input 'watch' needs response counters, which the nginx router does not have")
    expect(r.stdout).not.toContain('Connecting to')
  })
})

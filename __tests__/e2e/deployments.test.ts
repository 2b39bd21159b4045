import { jest } from '@jest/globals'
import { bedInputs, runAction, type ActionRun } from '../support/action.js'
import { startFakeGithub, type DeploymentRecord, type FakeGithub, type RecordedRequest } from '../support/fake-github.js'
import { cleanupApp, freePort, image, testbed, uniqueName } from '../support/testbed.js'

// GitHub deployments, end to end: the bundle runs as the runner runs it, against the real test bed
// for Docker and against a fake GitHub API that checks every request against GitHub's OpenAPI
// description. One app walks through deploy, supersede, failure, rollback, 403 and status in order.
// Each test runs the action on the bed once (the unhealthy one waits out its health timeout).
jest.setTimeout(120_000)

const app = uniqueName('ghdep')
const proxy = `${app}-proxy`
const SHA = 'c0ffee5e4d3c2b1a0f9e8d7c6b5a49382716051a'
const RUN_ID = '7654321098'
const LOG_URL = `https://github.com/acme/web/actions/runs/${RUN_ID}`
const ENV_URL = 'https://staging.example.com'
let port: number
let fake: FakeGithub
let otherApp: number

const env = () => ({
  GITHUB_API_URL: fake.url,
  GITHUB_REPOSITORY: 'acme/web',
  GITHUB_SHA: SHA,
  GITHUB_RUN_ID: RUN_ID,
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_ACTOR: 'octocat'
})

const inputs = (overrides: Record<string, string>) =>
  bedInputs(app, port, { deployments: 'true', 'github-token': 'ghs_fake', environment: 'staging', 'environment-url': ENV_URL, ...overrides })

/** Runs the action and returns the run with the API requests it made. */
async function run(overrides: Record<string, string>): Promise<{ run: ActionRun; requests: RecordedRequest[] }> {
  const before = fake.requests.length
  const result = await runAction(inputs(overrides), env())
  return { run: result, requests: fake.requests.slice(before) }
}

function expectCode(r: ActionRun, code: number): void {
  if (r.code !== code) throw new Error(`action exited ${r.code}, expected ${code}:\n${r.stdout}\n${r.stderr}`)
}

/** The one deployment a run created (by the id in its answer), with its statuses newest first. */
function createdBy(requests: RecordedRequest[]): DeploymentRecord {
  const creates = requests.filter(r => r.operationId === 'repos/create-deployment')
  expect(creates).toHaveLength(1)
  expect(creates[0].status).toBe(201)
  return fake.deployment((creates[0].response as { id: number }).id)!
}

const states = (d: DeploymentRecord) => d.statuses.map(s => s.state)
const statusPosts = (requests: RecordedRequest[], id: number) =>
  requests
    .filter(r => r.operationId === 'repos/create-deployment-status' && r.path.endsWith(`/deployments/${id}/statuses`))
    .map(r => r.body as Record<string, unknown>)

const ids: Record<string, number> = {}

beforeAll(async () => {
  port = await freePort()
  fake = await startFakeGithub({ repository: 'acme/web', token: 'ghs_fake' })
  // Another app already deployed to the same environment: cutover must never retire it (and must
  // not let GitHub's auto_inactive do so either, which the fake simulates).
  otherApp = fake.seed({ ref: SHA, environment: 'staging', payload: { app: 'billing', image: 'billing:7' }, auto_merge: false, required_contexts: [] }, [
    'success'
  ])
})

afterAll(async () => {
  await fake.stop()
  await cleanupApp(app, proxy)
})

describe('GitHub deployments, recorded through the real REST shapes', () => {
  it('deploy v1: a deployment for GITHUB_SHA, in_progress, then success with environment_url and log_url', async () => {
    const { run: r, requests } = await run({ image: image('v1') })
    expectCode(r, 0)
    expect(r.outputs).toMatchObject({ result: 'deployed', color: 'blue', image: image('v1') })

    const d = createdBy(requests)
    ids.v1 = d.deployment.id as number
    expect(r.outputs['deployment-id']).toBe(String(ids.v1))
    expect(d.deployment).toMatchObject({
      sha: SHA,
      ref: SHA,
      environment: 'staging',
      payload: { app, image: image('v1') },
      production_environment: false,
      transient_environment: false
    })
    expect(d.deployment.description).toContain(`Deploy of ${app}: blue ${image('v1')}`)
    const create = requests.find(q => q.operationId === 'repos/create-deployment')!
    expect(create.body).toMatchObject({ auto_merge: false, required_contexts: [] })
    expect(create.headers.authorization).toBe('token ghs_fake')

    expect(states(d)).toEqual(['success', 'in_progress'])
    const [success, inProgress] = d.statuses
    expect(success).toMatchObject({
      environment_url: ENV_URL,
      log_url: LOG_URL,
      target_url: LOG_URL,
      environment: 'staging',
      description: `${image('v1')} live on blue`
    })
    expect(inProgress).toMatchObject({ log_url: LOG_URL, environment_url: '' })
    // cutover retires superseded deployments itself (per app), so it turns GitHub's auto_inactive off.
    for (const body of statusPosts(requests, ids.v1)) expect(body.auto_inactive).toBe(false)
    expect(fake.deployment(otherApp)!.statuses[0].state).toBe('success')

    expect(r.summary).toContain(`✅ Deployed \`${app}\``)
    expect(r.summary).toContain(image('v1'))
  })

  it('deploy v2: success, and the v1 deployment is marked inactive by cutover (not the other app’s)', async () => {
    const { run: r, requests } = await run({ image: image('v2') })
    expectCode(r, 0)
    expect(r.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v2'), 'previous-image': image('v1') })
    const d = createdBy(requests)
    ids.v2 = d.deployment.id as number
    expect(ids.v2).toBeGreaterThan(ids.v1)
    expect(r.outputs['deployment-id']).toBe(String(ids.v2))
    expect(d.deployment.payload).toEqual({ app, image: image('v2') })
    expect(d.deployment.description).toContain(`(replacing ${image('v1')})`)
    expect(states(d)).toEqual(['success', 'in_progress'])
    expect(d.statuses[0]).toMatchObject({ environment_url: ENV_URL, log_url: LOG_URL })

    const v1 = fake.deployment(ids.v1)!
    expect(states(v1)).toEqual(['inactive', 'success', 'in_progress'])
    expect(v1.statuses[0].description).toBe(`Superseded by deployment ${ids.v2}`)
    // The inactive status came from an explicit request of this run.
    expect(statusPosts(requests, ids.v1)).toEqual([expect.objectContaining({ state: 'inactive' })])
    expect(fake.deployment(otherApp)!.statuses[0].state).toBe('success')
    expect(statusPosts(requests, otherApp)).toEqual([])
    expect(r.summary).toContain(`✅ Deployed \`${app}\``)
  })

  it('deploy an unhealthy image: failure status with the reason; exit 1, result failed, color still green', async () => {
    const { run: r, requests } = await run({ image: image('unhealthy'), 'health-timeout': '6s' })
    expectCode(r, 1)
    expect(r.outputs).toMatchObject({ result: 'failed', color: 'green', image: image('v2') })
    const d = createdBy(requests)
    ids.unhealthy = d.deployment.id as number
    expect(r.outputs['deployment-id']).toBe(String(ids.unhealthy))
    expect(d.deployment.payload).toEqual({ app, image: image('unhealthy') })
    expect(states(d)).toEqual(['failure', 'in_progress'])
    const failure = d.statuses[0]
    const reason = `${app}-blue (${image('unhealthy')}) did not become healthy`
    expect(failure.description).toContain(reason)
    expect([...String(failure.description)].length).toBeLessThanOrEqual(140)
    expect(failure).toMatchObject({ log_url: LOG_URL, environment_url: '' })
    expect(r.errors.join('\n')).toContain(reason)
    // Nothing was superseded: v2 is still live and its deployment stays active.
    expect(requests.filter(q => q.operationId === 'repos/list-deployments')).toEqual([])
    expect(states(fake.deployment(ids.v2)!)[0]).toBe('success')
    expect(r.summary).toContain(`❌ Failed \`${app}\``)
    expect(r.summary).toContain(reason)
  })

  it('rollback: its own deployment says from v2 to v1, ends in success, and retires the v2 deployment', async () => {
    const { run: r, requests } = await run({ mode: 'rollback' })
    expectCode(r, 0)
    expect(r.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: image('v1'), 'previous-image': image('v2') })
    const d = createdBy(requests)
    ids.rollback = d.deployment.id as number
    expect(r.outputs['deployment-id']).toBe(String(ids.rollback))
    expect(d.deployment.payload).toEqual({ app, image: image('v1') })
    expect(d.deployment.description).toBe(`Rollback of ${app} from green ${image('v2')} to blue ${image('v1')}`)
    expect(states(d)).toEqual(['success', 'in_progress'])
    expect(d.statuses[1].description).toContain(`from green ${image('v2')} to blue ${image('v1')}`)
    expect(d.statuses[0]).toMatchObject({ description: `Rolled back to ${image('v1')} on blue`, environment_url: ENV_URL, log_url: LOG_URL })

    expect(states(fake.deployment(ids.v2)!)[0]).toBe('inactive')
    expect(states(fake.deployment(ids.unhealthy)!)[0]).toBe('failure') // only successes are retired
    expect(states(fake.deployment(ids.v1)!)[0]).toBe('inactive') // already inactive: not touched again
    expect(statusPosts(requests, ids.v1)).toEqual([])
    expect(fake.deployment(otherApp)!.statuses[0].state).toBe('success')
    expect(r.summary).toContain(`↩️ Rolled back \`${app}\``)
  })

  it('a token without deployments: write (403): the deploy still happens, with a warning that says what to add', async () => {
    fake.forbid('writes')
    try {
      const { run: r, requests } = await run({ image: image('v3') })
      expectCode(r, 0)
      expect(r.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v3'), 'deployment-id': '' })
      const warnings = r.stdout.split('\n').filter(l => l.startsWith('::warning'))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/403.*Resource not accessible by integration.*permissions: deployments: write/)
      // One refused create, then no further calls.
      expect(requests.map(q => `${q.operationId} ${q.status}`)).toEqual(['repos/create-deployment 403'])
      expect(r.summary).toContain(`✅ Deployed \`${app}\``)
    } finally {
      fake.forbid('none')
    }
  })

  it('an unreachable host (infrastructure problem): error status, exit 1', async () => {
    const closed = await freePort()
    // Pin the key by fingerprint (known-hosts lines name the port): the inputs are valid, the port is shut.
    const pin = { 'known-hosts': '', 'host-fingerprint': testbed().CUTOVER_TEST_HOST_FINGERPRINT }
    const { run: r, requests } = await run({ image: image('v2'), port: String(closed), ...pin })
    expectCode(r, 1)
    expect(r.outputs.result).toBe('failed')
    const d = createdBy(requests)
    expect(r.outputs['deployment-id']).toBe(String(d.deployment.id))
    expect(states(d)).toEqual(['error', 'in_progress'])
    expect(d.statuses[0].description).toMatch(/ECONNREFUSED|refused/i)
    expect(r.summary).toContain(`❌ Failed \`${app}\``)
  })

  it('status mode: makes no API call at all, and writes its summary', async () => {
    const { run: r, requests } = await run({ mode: 'status' })
    expectCode(r, 0)
    expect(r.outputs).toMatchObject({ result: 'unchanged', color: 'green', image: image('v3'), 'deployment-id': '' })
    expect(requests).toEqual([])
    expect(r.summary).toContain(`🔎 Status of \`${app}\``)
    expect(r.summary).toContain(image('v3'))
  })

  it('remove: creates no deployment, and marks this app’s live deployment inactive (not the other app’s)', async () => {
    const { run: r, requests } = await run({ mode: 'remove', 'drain-timeout': '2s' })
    expectCode(r, 0)
    expect(r.outputs).toMatchObject({ result: 'removed', 'deployment-id': '' })
    expect(requests.filter(q => q.operationId === 'repos/create-deployment')).toEqual([])
    const rollback = fake.deployment(ids.rollback)!
    expect(states(rollback)[0]).toBe('inactive')
    expect(rollback.statuses[0].description).toBe(`Removed from ${inputs({}).host} by mode remove`)
    expect(fake.deployment(otherApp)!.statuses[0].state).toBe('success')
    expect(states(fake.deployment(ids.unhealthy)!)[0]).toBe('failure')
  })

  it('every request of every run matched GitHub’s OpenAPI description, and so did every answer', () => {
    expect(fake.requests.length).toBeGreaterThanOrEqual(20)
    expect(fake.requests.every(q => q.operationId !== undefined)).toBe(true)
    expect(fake.violations).toEqual([])
    expect(fake.responseViolations).toEqual([])
  })
})

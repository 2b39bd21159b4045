import { FakeGithub, openApi, startFakeGithub } from '../support/fake-github.js'
import type { Log } from '../../src/reporting/log.js'

const SHA = 'a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d'
const AUTH = { authorization: 'token ghs_fake', accept: 'application/vnd.github+json' }

let fake: FakeGithub

beforeAll(async () => {
  fake = await startFakeGithub({ token: 'ghs_fake' })
})
afterAll(async () => {
  await fake.stop()
})

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = AUTH) {
  const res = await fetch(fake.url + path, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json; charset=utf-8' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
}

/** Checks an answer against the operation's response schema in the published description. */
function schemaErrors(operationId: string, status: number, body: unknown) {
  const errors = openApi().validateResponse(openApi().byId(operationId), status, body)
  if (errors === undefined) throw new Error(`no response schema for ${operationId} ${status}`)
  return errors
}

const validDeployment = {
  ref: SHA,
  environment: 'staging',
  auto_merge: false,
  required_contexts: [],
  payload: { app: 'web', image: 'ghcr.io/acme/web:1' },
  description: 'Deploy of web',
  production_environment: false,
  transient_environment: false
}

describe('the fake GitHub rejects requests that break the OpenAPI description', () => {
  let deploymentId: number
  beforeAll(async () => {
    deploymentId = (await call('POST', '/repos/acme/web/deployments', validDeployment)).body.id
  })

  const cases: [string, string, (id: number) => string, unknown, RegExp][] = [
    [
      'a state outside the enum',
      'POST',
      id => `/repos/acme/web/deployments/${id}/statuses`,
      { state: 'done' },
      /state: must be equal to one of the allowed values/
    ],
    [
      'a description that is a number',
      'POST',
      id => `/repos/acme/web/deployments/${id}/statuses`,
      { state: 'success', description: 42 },
      /body\/description: must be string/
    ],
    ['a status without state', 'POST', id => `/repos/acme/web/deployments/${id}/statuses`, { description: 'x' }, /must have required property 'state'/],
    [
      'a description over 140 characters',
      'POST',
      id => `/repos/acme/web/deployments/${id}/statuses`,
      { state: 'success', description: 'x'.repeat(141) },
      /maximum is 140/
    ],
    [
      'auto_inactive as a string',
      'POST',
      id => `/repos/acme/web/deployments/${id}/statuses`,
      { state: 'success', auto_inactive: 'false' },
      /auto_inactive: must be boolean/
    ],
    [
      'an unknown (mistyped) field',
      'POST',
      id => `/repos/acme/web/deployments/${id}/statuses`,
      { state: 'success', enviroment_url: 'https://x' },
      /unknown field "enviroment_url"/
    ],
    ['a deployment without ref', 'POST', () => '/repos/acme/web/deployments', { environment: 'staging' }, /must have required property 'ref'/],
    [
      'required_contexts that is not an array',
      'POST',
      () => '/repos/acme/web/deployments',
      { ref: SHA, required_contexts: 'ci' },
      /required_contexts: must be array/
    ],
    ['a payload that is a number', 'POST', () => '/repos/acme/web/deployments', { ref: SHA, payload: 7 }, /payload: must match exactly one schema in oneOf/],
    ['per_page that is not an integer', 'GET', () => '/repos/acme/web/deployments?per_page=many', undefined, /query parameter per_page: must be integer/],
    ['an undeclared query parameter', 'GET', () => '/repos/acme/web/deployments?env=staging', undefined, /query parameter env is not declared/],
    [
      'a deployment_id that is not an integer',
      'GET',
      () => '/repos/acme/web/deployments/abc/statuses',
      undefined,
      /path parameter deployment_id: must be integer/
    ]
  ]

  test.each(cases)('%s: 422, recorded as a violation', async (_what, method, path, body, message) => {
    const before = fake.violations.length
    const res = await call(method, path(deploymentId), body)
    expect(res.status).toBe(422)
    expect(res.body.message).toMatch(/^Invalid request/)
    expect(res.body.message).toMatch(message)
    const added = fake.violations.slice(before)
    expect(added.length).toBeGreaterThan(0)
    expect(added.map(v => v.message).join('\n')).toMatch(message)
    // The 422 itself matches GitHub's validation-error schema where the operation declares one.
    if (method === 'POST') expect(schemaErrors(fake.requests.at(-1)!.operationId!, 422, res.body)).toEqual([])
    // Nothing was stored for a rejected request.
    if (method === 'POST') expect(fake.deployment(deploymentId)!.statuses).toEqual([])
  })

  test('a path that is not in GitHub API is a 404 and a violation', async () => {
    const res = await call('POST', '/repos/acme/web/deployment', validDeployment)
    expect(res.status).toBe(404)
    expect(fake.violations.at(-1)!.message).toMatch(/not an operation of GitHub's REST API/)
  })

  test('a real operation the fake does not implement is a violation, not a silent success', async () => {
    const res = await call('DELETE', `/repos/acme/web/deployments/${deploymentId}`)
    expect(res.status).toBe(501)
    expect(fake.violations.at(-1)!.message).toMatch(/repos\/delete-deployment .*does not implement/)
  })

  test('no token is a 401, another token is "Bad credentials"; another repository is a 404', async () => {
    expect((await call('GET', '/repos/acme/web/deployments', undefined, {})).status).toBe(401)
    const bad = await call('GET', '/repos/acme/web/deployments', undefined, { authorization: 'token nope' })
    expect(bad.status).toBe(401)
    expect(bad.body.message).toBe('Bad credentials')
    expect((await call('GET', '/repos/acme/other/deployments')).status).toBe(404)
  })
})

describe('the fake GitHub accepts valid requests and answers as GitHub does', () => {
  let local: FakeGithub
  beforeAll(async () => {
    local = await startFakeGithub({ token: 'ghs_fake' })
  })
  afterAll(async () => {
    await local.stop()
  })
  const on = (method: string, path: string, body?: unknown) =>
    fetch(local.url + path, {
      method,
      headers: body === undefined ? AUTH : { ...AUTH, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read whatever fields GitHub's answers have
    }).then(async r => ({ status: r.status, headers: r.headers, body: (await r.json()) as any }))

  test('create, statuses, lists: 201/200, realistic bodies that match the response schemas, zero violations', async () => {
    const created = await on('POST', '/repos/acme/web/deployments', validDeployment)
    expect(created.status).toBe(201)
    expect(schemaErrors('repos/create-deployment', 201, created.body)).toEqual([])
    const id = created.body.id
    expect(Number.isInteger(id)).toBe(true)
    expect(created.headers.get('location')).toBe(`${local.url}/repos/acme/web/deployments/${id}`)
    expect(created.body).toMatchObject({
      sha: SHA,
      ref: SHA,
      task: 'deploy',
      environment: 'staging',
      payload: validDeployment.payload,
      description: 'Deploy of web',
      production_environment: false,
      creator: { login: 'github-actions[bot]' }
    })
    expect(created.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)

    const started = await on('POST', `/repos/acme/web/deployments/${id}/statuses`, {
      state: 'in_progress',
      description: 'Deploying',
      log_url: 'https://github.com/acme/web/actions/runs/1',
      auto_inactive: false
    })
    expect(started.status).toBe(201)
    expect(schemaErrors('repos/create-deployment-status', 201, started.body)).toEqual([])
    expect(started.body).toMatchObject({
      state: 'in_progress',
      log_url: 'https://github.com/acme/web/actions/runs/1',
      target_url: 'https://github.com/acme/web/actions/runs/1',
      environment: 'staging',
      environment_url: ''
    })

    const done = await on('POST', `/repos/acme/web/deployments/${id}/statuses`, {
      state: 'success',
      environment_url: 'https://staging.example.com',
      auto_inactive: false
    })
    expect(done.status).toBe(201)
    expect(schemaErrors('repos/create-deployment-status', 201, done.body)).toEqual([])

    const statuses = await on('GET', `/repos/acme/web/deployments/${id}/statuses?per_page=1`)
    expect(statuses.status).toBe(200)
    expect(schemaErrors('repos/list-deployment-statuses', 200, statuses.body)).toEqual([])
    expect(statuses.body.map((s: { state: string }) => s.state)).toEqual(['success']) // newest first
    expect(statuses.headers.get('link')).toMatch(/page=2.*rel="next"/)
    const all = await on('GET', `/repos/acme/web/deployments/${id}/statuses`)
    expect(all.body.map((s: { state: string }) => s.state)).toEqual(['success', 'in_progress'])

    await on('POST', '/repos/acme/web/deployments', { ...validDeployment, environment: 'production', payload: 'a string payload' })
    const second = await on('POST', '/repos/acme/web/deployments', validDeployment)
    const staging = await on('GET', '/repos/acme/web/deployments?environment=staging&per_page=30')
    expect(staging.status).toBe(200)
    expect(schemaErrors('repos/list-deployments', 200, staging.body)).toEqual([])
    expect(staging.body.map((d: { id: number }) => d.id)).toEqual([second.body.id, id]) // filtered, newest first
    const everything = await on('GET', '/repos/acme/web/deployments')
    expect(everything.body).toHaveLength(3)
    expect(everything.body[1].payload).toBe('a string payload')
    expect(schemaErrors('repos/list-deployments', 200, everything.body)).toEqual([])

    expect(local.violations).toEqual([])
    expect(local.responseViolations).toEqual([])
  })

  test('the response check can fail: a body missing required fields or with a long description is caught', () => {
    const status = local.deployments().find(d => d.statuses.length)!.statuses[0]
    expect(schemaErrors('repos/create-deployment-status', 201, status)).toEqual([])
    expect(schemaErrors('repos/create-deployment-status', 201, { ...status, description: 'x'.repeat(141) }).length).toBeGreaterThan(0)
    expect(schemaErrors('repos/create-deployment-status', 201, { ...status, state: 'done' }).length).toBeGreaterThan(0)
    const { id: _id, ...withoutId } = local.deployments()[0].deployment
    expect(schemaErrors('repos/create-deployment', 201, withoutId).length).toBeGreaterThan(0)
  })

  test("GitHub's auto_inactive: a success without auto_inactive: false retires earlier successes of the environment", async () => {
    const a = local.seed({ ref: SHA, environment: 'qa', payload: { app: 'a' } }, ['success'])
    const b = local.seed({ ref: SHA, environment: 'qa', payload: { app: 'b' } }, ['success'])
    const prod = local.seed({ ref: SHA, environment: 'qa', production_environment: true }, ['success'])
    const c = (await on('POST', '/repos/acme/web/deployments', { ref: SHA, environment: 'qa' })).body.id
    await on('POST', `/repos/acme/web/deployments/${c}/statuses`, { state: 'success' })
    expect(local.deployment(a)!.statuses[0].state).toBe('inactive')
    expect(local.deployment(b)!.statuses[0].state).toBe('inactive')
    expect(local.deployment(prod)!.statuses[0].state).toBe('success')
    expect(local.violations).toEqual([])
    expect(local.responseViolations).toEqual([])
  })
})

describe('403 mode', () => {
  test('writes answer 403 "Resource not accessible by integration"; reads still work', async () => {
    const f = await startFakeGithub({ forbid: 'writes' })
    try {
      const res = await fetch(`${f.url}/repos/acme/web/deployments`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body: JSON.stringify(validDeployment)
      })
      expect(res.status).toBe(403)
      expect(((await res.json()) as { message: string }).message).toBe('Resource not accessible by integration')
      expect(f.deployments()).toEqual([])
      const list = await fetch(`${f.url}/repos/acme/web/deployments`, { headers: AUTH })
      expect(list.status).toBe(200)
      expect(f.violations).toEqual([])
    } finally {
      await f.stop()
    }
  })
})

describe('src/reporting/deployments.ts (through @actions/github) against the fake', () => {
  // @actions/github reads GITHUB_API_URL when it is loaded: point it at the fake first.
  let local: FakeGithub
  let mod: typeof import('../../src/reporting/deployments.js')
  const warnings: string[] = []
  const log: Log = { info: () => undefined, warning: m => void warnings.push(m), error: () => undefined, group: (_n, fn) => fn() }
  const ctx = { repository: 'acme/web', sha: SHA, serverUrl: 'https://github.com', runId: '42' }

  beforeAll(async () => {
    local = await startFakeGithub({ token: 'ghs_fake' })
    process.env.GITHUB_API_URL = local.url
    mod = await import('../../src/reporting/deployments.js')
  })
  afterAll(async () => {
    delete process.env.GITHUB_API_URL
    await local.stop()
  })

  const request = (app: string, image: string) => ({ app, image, environment: 'staging', description: `Deploy of ${app}: ${image}` })

  test('create, in_progress, success, then only this app’s earlier success is retired; every request is valid', async () => {
    const other = local.seed({ ref: SHA, environment: 'staging', payload: { app: 'other' } }, ['success'])
    const foreign = local.seed({ ref: SHA, environment: 'staging', description: 'made by another tool' }, ['success'])
    const first = mod.GithubDeployment.forRun('ghs_fake', ctx, request('web', 'web:1'), log)!
    await first.create()
    await first.setStatus('in_progress', 'Deploying web:1')
    await first.setStatus('success', 'web:1 live on blue', 'https://staging.example.com')
    expect(await first.retireSuperseded()).toBe(0)

    const second = mod.GithubDeployment.forRun('ghs_fake', ctx, request('web', 'web:2'), log)!
    await second.create()
    await second.setStatus('in_progress', 'x'.repeat(300)) // clipped to 140
    await second.setStatus('success', 'web:2 live on green', 'https://staging.example.com')
    expect(await second.retireSuperseded()).toBe(1)

    expect(local.deployment(first.id!)!.statuses.map(s => s.state)).toEqual(['inactive', 'success', 'in_progress'])
    expect(local.deployment(second.id!)!.statuses[0]).toMatchObject({
      state: 'success',
      environment_url: 'https://staging.example.com',
      log_url: 'https://github.com/acme/web/actions/runs/42'
    })
    expect(local.deployment(other)!.statuses[0].state).toBe('success')
    expect(local.deployment(foreign)!.statuses[0].state).toBe('success')
    expect(warnings).toEqual([])
    expect(local.violations).toEqual([])
    expect(local.responseViolations).toEqual([])
  })

  test('a 403 on create becomes one warning naming deployments: write, and no further calls', async () => {
    local.forbid('writes')
    try {
      const before = local.requests.length
      const d = mod.GithubDeployment.forRun('ghs_fake', ctx, request('web', 'web:3'), log)!
      await d.create()
      await d.setStatus('success', 'done')
      expect(await d.retireSuperseded()).toBe(0)
      expect(d.id).toBeUndefined()
      expect(local.requests.length - before).toBe(1)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/403.*Resource not accessible by integration.*permissions: deployments: write/)
    } finally {
      local.forbid('none')
      warnings.length = 0
    }
  })
})

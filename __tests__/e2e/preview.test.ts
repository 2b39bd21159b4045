import { readFileSync } from 'node:fs'
import https from 'node:https'
import type { TLSSocket } from 'node:tls'
import { bedInputs, get, runAction as runBundle, startAction, untilOutput, type ActionRun } from '../support/action.js'
import { startLoad } from '../support/load.js'
import { opensslCert } from '../support/certs.js'
import { startFakeGithub, type DeploymentRecord, type FakeGithub } from '../support/fake-github.js'
import { expectSuccess, haproxyImage, served, underLoad } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, REPO, uniqueName } from '../support/testbed.js'

// promote: manual, preview-domains, mode promote and mode rollback of a preview (issue #12) behind HAProxy.
const app = uniqueName('pre')
const proxy = `${app}-proxy`
const previewHost = `next.${app}.test`
let port: number
const docker = localDocker()
// Every run records GitHub deployments in a fake API that checks them against GitHub's OpenAPI description.
let fake: FakeGithub
const SHA = 'c0ffee5e4d3c2b1a0f9e8d7c6b5a49382716051a'

const githubEnv = (): Record<string, string> => ({
  GITHUB_API_URL: fake.url,
  GITHUB_REPOSITORY: 'acme/web',
  GITHUB_SHA: SHA,
  GITHUB_RUN_ID: '42',
  GITHUB_ACTOR: 'octocat'
})

function runAction(inputs: Record<string, string>): Promise<ActionRun> {
  return runBundle(inputs, githubEnv())
}

/** The deployment of `id` (the run's deployment-id output) with its statuses, newest first. */
function deployment(id: string): DeploymentRecord {
  return fake.deployment(Number(id))!
}

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, {
    'proxy-type': 'haproxy',
    'proxy-image': haproxyImage(),
    'drain-timeout': '2s',
    'preview-domains': previewHost,
    deployments: 'true',
    'github-token': 'ghs_fake',
    environment: 'staging',
    ...overrides
  })
}

async function appContainers(): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })
  return list.map(c => c.Names[0].slice(1)).sort()
}

/** What the preview host answers, asked until it is `want` (DNS drops a removed container within seconds) or 15 s pass. */
async function previewServes(want: string): Promise<string> {
  const until = Date.now() + 15_000
  let last = ''
  while (Date.now() < until) {
    last = await served(port, previewHost)
    if (last === want) return last
    await new Promise(r => setTimeout(r, 250))
  }
  return last
}

let previewDeployment: string

beforeAll(async () => {
  port = await freePort()
  fake = await startFakeGithub({ repository: 'acme/web', token: 'ghs_fake' })
})

afterAll(async () => {
  await fake.stop()
  await cleanupApp(app, proxy)
})

describe('promote manual and preview-domains', () => {
  it('with nothing but the live color, the preview domain answers a 503 that says no preview runs', async () => {
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    expect(await served(port)).toBe('200 v1')
    expect(await previewServes(`503 no preview is running for ${app}`)).toBe(`503 no preview is running for ${app}`)
  })

  it('a deploy with promote manual under load: the live domain keeps serving v1 with no failed request, the preview domain serves v2', async () => {
    const { result, failures, bodies, sent } = await underLoad(port, () => runAction(inputs({ image: image('v2'), promote: 'manual' })))
    console.log(`preview deploy: ${sent} requests to the live domain under load, answered only by ${Object.keys(bodies).join(', ')}`)
    expectSuccess(result)
    expect(result.outputs).toMatchObject({
      result: 'preview',
      color: 'green',
      image: image('v2'),
      'previous-color': 'blue',
      'previous-image': image('v1'),
      'preview-url': `http://${previewHost}:${port}`
    })
    expect(failures).toEqual({ failures: 0, errors: [] })
    expect(Object.keys(bodies)).toEqual(['v1'])
    expect(await served(port)).toBe('200 v1')
    expect(await previewServes('200 v2')).toBe('200 v2')
    expect(result.summary).toContain(`| **Preview** | green | \`${image('v2')}\` | at http://${previewHost}:${port};`)
    expect(result.stdout).toContain('waits for mode promote')
    expect(await appContainers()).toEqual([`${app}-blue`, `${app}-green`])
    // The preview is recorded in an environment of its own: staging keeps showing v1's deployment.
    previewDeployment = result.outputs['deployment-id']
    const d = deployment(previewDeployment)
    expect(d.deployment).toMatchObject({ environment: 'staging-preview', transient_environment: true, payload: { app, image: image('v2') } })
    expect(d.statuses.map(x => x.state)).toEqual(['success', 'in_progress'])
    expect(d.statuses[0]).toMatchObject({ environment_url: `http://${previewHost}:${port}` })
    expect(d.statuses[0].description).toContain('waits for mode promote')
  })

  it('mode status reports the waiting preview and its URL', async () => {
    const run = await runAction(inputs({ mode: 'status' }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'unchanged', color: 'blue', image: image('v1'), 'preview-url': `http://${previewHost}:${port}` })
    expect(run.stdout).toMatch(new RegExp(`Preview: green \\S+v2 waits for mode promote since \\S+ at http://${previewHost.replace(/\./g, '\\.')}:${port}`))
    expect(run.summary).toContain(`| Preview | green | \`${image('v2')}\` | waiting since`)
  })

  it('mode maintenance leaves the preview domain reaching the preview', async () => {
    expectSuccess(await runAction(inputs({ mode: 'maintenance' })))
    expect(await served(port)).toMatch(/^503 /)
    expect(await served(port, previewHost)).toBe('200 v2')
    expectSuccess(await runAction(inputs({ mode: 'live' })))
    expect(await served(port)).toBe('200 v1')
  })

  it('mode promote under load: the preview goes live with no failed request; the preview domain then reaches the standby', async () => {
    const { result, failures, sent } = await underLoad(port, () => runAction(inputs({ mode: 'promote' })))
    console.log(`promote: ${sent} requests under load, ${failures.failures} failed`)
    expectSuccess(result)
    expect(result.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v2'), 'previous-image': image('v1'), 'standby-state': 'running' })
    expect(result.outputs['preview-url']).toBe('')
    expect(result.stdout).toContain('probe 1 of /health')
    expect(failures).toEqual({ failures: 0, errors: [] })
    expect(await served(port)).toBe('200 v2')
    expect(await previewServes('200 v1')).toBe('200 v1')
    expect(deployment(result.outputs['deployment-id']).deployment).toMatchObject({ environment: 'staging', payload: { image: image('v2') } })
    // no deployment says a preview waits any more
    expect(deployment(previewDeployment).statuses[0]).toMatchObject({ state: 'inactive', description: 'Promoted: live in staging' })
  })

  it('mode rollback while a preview waits discards it under load: its containers go, the live color is not touched', async () => {
    const preview = await runAction(inputs({ image: image('v3'), promote: 'manual' }))
    expectSuccess(preview)
    expect(preview.stdout).toContain('through its runtime API (no reload)')
    expect(await previewServes('200 v3')).toBe('200 v3')
    const liveBefore = (await docker.getContainer(`${app}-green`).inspect()).Id
    const { result, failures, bodies, sent } = await underLoad(port, () => runAction(inputs({ mode: 'rollback' })))
    console.log(`discard: ${sent} requests under load, answered only by ${Object.keys(bodies).join(', ')}`)
    expectSuccess(result)
    expect(result.outputs).toMatchObject({ result: 'rolled-back', color: 'green', image: image('v2'), 'preview-url': '' })
    expect(result.stdout).toContain(`Discarded the preview of ${image('v3')} on blue`)
    expect(failures).toEqual({ failures: 0, errors: [] })
    expect(Object.keys(bodies)).toEqual(['v2'])
    expect(await appContainers()).toEqual([`${app}-green`])
    expect((await docker.getContainer(`${app}-green`).inspect()).Id).toBe(liveBefore)
    expect(await previewServes(`503 no preview is running for ${app}`)).toBe(`503 no preview is running for ${app}`)
    expect(result.outputs['deployment-id']).toBe('')
    expect(deployment(preview.outputs['deployment-id']).statuses[0]).toMatchObject({ state: 'inactive', description: 'Discarded by mode rollback' })
    expect(fake.violations).toEqual([])
    // nothing waits any more
    const again = await runAction(inputs({ mode: 'promote' }))
    expect(again.code).not.toBe(0)
    expect(again.errors.join('\n')).toContain('waits to be promoted')
  })

  it('a preview right after a rollback: once its domain is routed to it, no request reaches the standby it replaced', async () => {
    // v3 live, then a rollback: blue (v3) is the standby that took requests until a moment ago, its
    // drain long enough that the deploy below still finds it draining on a busy machine
    const drain = { 'drain-timeout': '15s' }
    expectSuccess(await runAction(inputs({ image: image('v3'), ...drain })))
    expectSuccess(await runAction(inputs({ mode: 'rollback', ...drain })))
    // the preview domain reaches that standby under keep-alive load, each request 100 ms long: some
    // are always in flight when the preview's containers take over the preview backend's servers
    const before = startLoad(`http://127.0.0.1:${port}/slow?ms=100`, { connections: 4, keepAlive: true, host: previewHost, pauseMs: 20, maxMs: 60_000 })
    expect(await previewServes('200 v3')).toBe('200 v3')
    const run = startAction(inputs({ image: image('v1'), promote: 'manual', ...drain }), githubEnv())
    await untilOutput(run, 'preview domains to', 60_000)
    // every request from here on starts after the proxy routed the preview domain to the new blue (v1)
    const after = startLoad(`http://127.0.0.1:${port}/`, { connections: 4, keepAlive: true, host: previewHost, pauseMs: 20, maxMs: 60_000 })
    await before.stop()
    const result = await run.done
    await new Promise(r => setTimeout(r, 300))
    const seen = await after.stop()
    console.log(`preview after a rollback: ${seen.sent} requests to the preview domain once routed, answered by ${JSON.stringify(seen.bodies)}`)
    expectSuccess(result)
    expect(result.outputs).toMatchObject({ result: 'preview', color: 'blue', image: image('v1') })
    expect(result.stdout).toContain('letting its connections drain')
    expect(seen.sent).toBeGreaterThan(20)
    expect(after.failures()).toBe(0)
    expect(Object.keys(seen.bodies)).toEqual(['v1'])
    // the preview goes: the app is as before (green v2 live, nothing waiting)
    expectSuccess(await runAction(inputs({ mode: 'rollback' })))
  })

  it('promote manual with proxy-type nginx is refused before anything is touched', async () => {
    const run = await runAction(inputs({ image: image('v2'), promote: 'manual', 'preview-domains': '', 'proxy-type': 'nginx', 'proxy-image': '' }))
    expect(run.code).not.toBe(0)
    expect(run.errors.join('\n')).toContain("Input 'promote' is manual, which needs a preview backend, which the nginx router does not have")
    expect(run.stdout).not.toContain('Connecting to')
  })
})

/** One request over a new TLS connection to 127.0.0.1:port with SNI = host, verified against `ca`. */
function httpsGet(port: number, host: string, ca: string, issuer?: (cn: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/', servername: host, ca, headers: { host, connection: 'close' }, agent: false, timeout: 10000 },
      res => {
        let body = ''
        issuer?.(String((res.socket as TLSSocket).getPeerCertificate().issuer?.CN ?? ''))
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`))
      }
    )
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timeout')))
  })
}

describe('preview-domains with tls custom', () => {
  const tlsApp = uniqueName('prt')
  const tlsProxy = `${tlsApp}-proxy`
  const host = `${tlsApp}.example.test`
  const next = `next.${tlsApp}.example.test`
  const cert = opensslCert([host, next])
  let httpPort: number
  let httpsPort: number
  const tlsInputs = (overrides: Record<string, string> = {}) =>
    bedInputs(tlsApp, httpPort, {
      'proxy-type': 'haproxy',
      'proxy-image': haproxyImage(),
      'drain-timeout': '2s',
      domains: host,
      'preview-domains': next,
      tls: 'custom',
      'tls-certificate': cert.cert,
      'tls-key': cert.key,
      'https-port': String(httpsPort),
      deployments: 'false',
      ...overrides
    })

  beforeAll(async () => {
    httpPort = await freePort()
    httpsPort = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(tlsApp, tlsProxy)
  })

  it('the preview is served over HTTPS with the app certificate; preview-url is https with the https-port', async () => {
    expectSuccess(await runAction(tlsInputs({ image: image('v1') })))
    const run = await runAction(tlsInputs({ image: image('v2'), promote: 'manual' }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'preview', 'preview-url': `https://${next}:${httpsPort}` })
    expect(await httpsGet(httpsPort, host, cert.cert)).toBe('200 v1')
    expect(await httpsGet(httpsPort, next, cert.cert)).toBe('200 v2')
    // plain HTTP to the preview host: redirected to HTTPS as the app's own names are
    const plain = await get(`http://127.0.0.1:${httpPort}/a?b=c`, { host: next })
    expect(plain.status).toBe(308)
    expect(plain.headers.location).toBe(`https://${next}:${httpsPort}/a?b=c`)
  })

  it('a certificate that does not cover the preview domain is refused before anything is touched', async () => {
    const appOnly = opensslCert([host])
    const run = await runAction(tlsInputs({ image: image('v3'), promote: 'manual', 'tls-certificate': appOnly.cert, 'tls-key': appOnly.key }))
    expect(run.code).not.toBe(0)
    expect(run.errors.join('\n')).toContain(`does not cover ${next}`)
    expect(run.stdout).not.toContain('Connecting to')
  })
})

describe('preview-domains with tls auto (ACME against pebble)', () => {
  const acmeApp = uniqueName('pra')
  const acmeProxy = `${acmeApp}-proxy`
  const host = `${acmeApp}.example.test`
  const next = `next.${acmeApp}.example.test`
  const pebble = () =>
    JSON.parse(readFileSync(`${REPO}/.testbed/pebble.json`, 'utf8')) as { directory: string; apiCa: string; management: string; httpPort: number }
  let httpsPort: number
  const acmeInputs = (overrides: Record<string, string> = {}) =>
    // pebble validates HTTP-01 on one fixed port: this proxy publishes HTTP there.
    bedInputs(acmeApp, pebble().httpPort, {
      'proxy-type': 'haproxy',
      'proxy-image': haproxyImage(),
      'drain-timeout': '2s',
      domains: host,
      tls: 'auto',
      // (without acme-email the renewer's second order for an existing account fails on pebble: reported separately)
      'acme-email': 'ops@example.test',
      'acme-directory': pebble().directory,
      'acme-directory-ca': readFileSync(pebble().apiCa, 'utf8'),
      'acme-image': image('v1'),
      'https-port': String(httpsPort),
      deployments: 'false',
      ...overrides
    })
  /** The root pebble signs with (a new one at every start of pebble). */
  const pebbleRoot = () =>
    new Promise<string>((resolve, reject) => {
      https
        .get(`${pebble().management}/roots/0`, { rejectUnauthorized: false }, res => {
          let body = ''
          res.on('data', c => (body += c))
          res.on('end', () => resolve(body))
        })
        .on('error', reject)
    })

  beforeAll(async () => {
    httpsPort = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(acmeApp, acmeProxy)
  })

  it('a preview deploy that adds preview-domains gets a certificate for them before the preview is reported', async () => {
    expectSuccess(await runAction(acmeInputs({ image: image('v1') })))
    const run = await runAction(acmeInputs({ image: image('v2'), promote: 'manual', 'preview-domains': next }))
    expectSuccess(run)
    expect(run.stdout).toContain(`Requesting a certificate for ${host}, ${next}`)
    expect(run.outputs).toMatchObject({ result: 'preview', 'preview-url': `https://${next}:${httpsPort}` })
    const root = await pebbleRoot()
    let issuer = ''
    expect(await httpsGet(httpsPort, next, root, cn => (issuer = cn))).toBe('200 v2')
    expect(issuer).toMatch(/Pebble/i)
    expect(await httpsGet(httpsPort, host, root)).toBe('200 v1')
  })
})

import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { appImages } from '../support/app-images.js'
import { bedInputs, get, runAction } from '../support/action.js'
import { cleanupApp, freePort, localDocker, uniqueName } from '../support/testbed.js'
import { expectSuccess, haproxyImage } from '../support/strategy.js'

// A compose project against the real test bed: the routed web service, a worker of another image
// that consumes a shared queue, a sidecar of a third image it waits for (depends_on:
// service_healthy), the file's own network and a long-syntax named volume.
const docker = localDocker()
const run = promisify(execFile)
let images: Record<string, string> = {}

beforeAll(async () => {
  images = await appImages('compose', ['v1', 'v2', 'v3'])
}, 180_000)

const node = (script: string) => ['CMD', '/usr/bin/node', '-e', script]
const httpOk = (port: number, path: string) =>
  node(`require('http').get('http://127.0.0.1:${port}${path}', r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))`)

/** The compose file: `web` and `jobs` images per deploy; the queue's settings change when `queueNote` is given. */
function composeFile(web: string, jobs: string, queueNote?: string): string {
  return JSON.stringify({
    services: {
      web: { image: web, environment: { GREETING: 'from web' }, depends_on: { queue: { condition: 'service_healthy' } } },
      helper: { image: images.v3, environment: { PORT: '3000' }, healthcheck: { test: httpOk(3000, '/health'), interval: '1s', retries: 30 } },
      jobs: {
        image: jobs,
        command: ['/usr/bin/node', '/app/app.js', 'worker'],
        environment: { QUEUE_URL: 'http://queue:4000', JOB_MS: '100' },
        volumes: [{ type: 'volume', source: 'scratch', target: '/scratch' }],
        networks: ['default', 'back'],
        depends_on: { queue: { condition: 'service_healthy' }, helper: { condition: 'service_healthy' } }
      },
      queue: {
        image: images.v1,
        command: ['/usr/bin/node', '/app/app.js', 'queue'],
        environment: { PORT: '4000', ...(queueNote ? { NOTE: queueNote } : {}) },
        networks: ['default', 'back'],
        healthcheck: { test: httpOk(4000, '/stats'), interval: '1s', retries: 3 }
      }
    },
    volumes: { scratch: {} },
    networks: { back: {} }
  })
}

async function info(name: string) {
  return docker.getContainer(name).inspect()
}

/** The address `name` resolves to inside the container. */
async function lookup(container: string, name: string): Promise<string> {
  const script = `require('dns').lookup(${JSON.stringify(name)}, { all: true }, (e, a) => console.log(e ? e.code : a.map(x => x.address).join(' ')))`
  const { stdout } = await run('docker', ['exec', container, '/usr/bin/node', '-e', script], { timeout: 30_000 })
  return stdout.trim()
}

/** Names of the containers Docker lists for a compose project, by compose's own label. */
async function projectContainers(project: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } })
  return list.map(c => c.Names[0].replace(/^\//, '')).sort()
}

/** Pushes n jobs to the shared queue and waits until all are done; returns who did them (version per job). */
async function jobsDoneBy(app: string, n: number): Promise<string[]> {
  const address = (await info(`${app}-queue`)).NetworkSettings.Networks[`cutover-${app}`].IPAddress
  const stats = async () => JSON.parse((await get(`http://${address}:4000/stats`)).body) as { pushed: number; done: Record<string, string[]> }
  const before = Object.keys((await stats()).done).length
  await get(`http://${address}:4000/push?n=${n}`)
  const until = Date.now() + 30_000
  let s = await stats()
  while (Date.now() < until && Object.keys(s.done).length < before + n) {
    await new Promise(r => setTimeout(r, 200))
    s = await stats()
  }
  const done = Object.entries(s.done)
    .sort(([a], [b]) => Number(a) - Number(b))
    .slice(before)
  expect(done).toHaveLength(n)
  return done.map(([, [who]]) => who.split('@')[0])
}

describe('compose-file', () => {
  it('deploys web + a worker of another image + a sidecar it waits for + a shared queue, with compose labels; a rollback brings back the recorded images', async () => {
    const app = uniqueName('cmpx')
    const port = await freePort()
    const workspace = mkdtempSync(join(tmpdir(), 'cot-cmpx-'))
    const write = (text: string) => writeFileSync(join(workspace, 'docker-compose.yml'), text)
    const inputs = (more: Record<string, string> = {}) =>
      bedInputs(app, port, {
        'proxy-type': 'haproxy',
        'proxy-image': haproxyImage(),
        'drain-timeout': '2s',
        'compose-file': 'docker-compose.yml',
        'compose-service': 'web',
        'compose-shared-services': 'queue',
        'worker-min-uptime': '2s',
        'worker-stop-timeout': '10s',
        ...more
      })
    const action = (more: Record<string, string> = {}) => runAction(inputs(more), { GITHUB_WORKSPACE: workspace })
    try {
      // 1. web v1, jobs of its own image v2, helper v3.
      write(composeFile(images.v1, images.v2))
      const first = await action()
      expectSuccess(first)
      expect(first.outputs).toMatchObject({ result: 'deployed', color: 'blue', image: images.v1 })
      expect(first.outputs.workers.split(' ').sort()).toEqual([`${app}-blue-worker-helper`, `${app}-blue-worker-jobs`])
      expect((await info(`${app}-blue`)).Config.Image).toBe(images.v1)
      expect((await info(`${app}-blue-worker-jobs`)).Config.Image).toBe(images.v2)
      expect((await info(`${app}-blue-worker-helper`)).Config.Image).toBe(images.v3)
      // jobs started only once helper's HEALTHCHECK said healthy.
      const out = first.stdout
      expect(out).toContain(`${app}-blue-worker-jobs waits for helper to be healthy (depends_on)`)
      expect(out.indexOf(`${app}-blue-worker-helper: Docker HEALTHCHECK healthy`)).toBeGreaterThan(0)
      expect(out.indexOf(`${app}-blue-worker-helper: Docker HEALTHCHECK healthy`)).toBeLessThan(out.indexOf(`Started ${app}-blue-worker-jobs`))
      // Each service its own environment.
      const jobsEnv = (await info(`${app}-blue-worker-jobs`)).Config.Env
      const webEnv = (await info(`${app}-blue`)).Config.Env
      expect(jobsEnv).toContain('QUEUE_URL=http://queue:4000')
      expect(jobsEnv).not.toContain('GREETING=from web')
      expect(webEnv).toContain('GREETING=from web')
      expect(webEnv.some(e => e.startsWith('QUEUE_URL='))).toBe(false)
      // The file's own network and named volume, as <app>_<name>.
      const net = await docker.getNetwork(`${app}_back`).inspect()
      expect(net.Labels).toMatchObject({ 'cutover.app': app, 'com.docker.compose.project': app, 'com.docker.compose.network': 'back' })
      expect(Object.keys((await info(`${app}-blue-worker-jobs`)).NetworkSettings.Networks).sort()).toEqual([
        `${app}-blue_default`,
        `${app}_back`,
        `cutover-${app}`
      ])
      // Each color's services find each other by service name on the color's own network: helper from blue's web is blue's helper.
      const blueHelper = (await info(`${app}-blue-worker-helper`)).NetworkSettings.Networks[`${app}-blue_default`].IPAddress
      expect(await lookup(`${app}-blue`, 'helper')).toBe(blueHelper)
      expect(await lookup(`${app}-blue-worker-jobs`, 'web')).toBe((await info(`${app}-blue`)).NetworkSettings.Networks[`${app}-blue_default`].IPAddress)
      expect((await info(`${app}-blue-worker-jobs`)).Mounts).toEqual([
        expect.objectContaining({ Type: 'volume', Name: `${app}_scratch`, Destination: '/scratch' })
      ])
      // Compose's labels: the colors are projects <app>-blue / <app>-green, the shared services <app>.
      expect(await projectContainers(`${app}-blue`)).toEqual([`${app}-blue`, `${app}-blue-worker-helper`, `${app}-blue-worker-jobs`])
      expect(await projectContainers(app)).toEqual([`${app}-queue`])
      const ps = await run('docker-compose', ['-p', `${app}-blue`, 'ps'], { cwd: workspace, timeout: 60_000 })
      for (const name of [`${app}-blue`, `${app}-blue-worker-helper`, `${app}-blue-worker-jobs`]) expect(ps.stdout).toMatch(new RegExp(`^${name} .* Up`, 'm'))
      expect(ps.stdout).not.toContain(`${app}-queue`)
      expect((await run('docker-compose', ['-p', app, 'ps'], { cwd: workspace, timeout: 60_000 })).stdout).toMatch(new RegExp(`^${app}-queue .* Up`, 'm'))
      // The worker of its own image does the jobs.
      expect(new Set(await jobsDoneBy(app, 8))).toEqual(new Set(['v2']))
      const queueId = (await info(`${app}-queue`)).Id
      const blueJobs = (await info(`${app}-blue-worker-jobs`)).Id

      // 2. web v2, jobs v1 (still another image than web's), and the shared queue's settings changed: kept, with a warning.
      write(composeFile(images.v2, images.v1, 'changed'))
      const second = await action()
      expectSuccess(second)
      expect(second.outputs).toMatchObject({ result: 'deployed', color: 'green', image: images.v2 })
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v2')
      expect((await info(`${app}-green-worker-jobs`)).Config.Image).toBe(images.v1)
      expect((await info(`${app}-blue-worker-jobs`)).State).toMatchObject({ Status: 'exited', ExitCode: 0 })
      expect(second.stdout).toContain(`::warning::The shared service ${app}-queue differs from the compose file (other settings) and was NOT replaced`)
      expect(second.summary).toContain(`⚠️ ${app}-queue differs from the compose file (other settings): kept, not replaced`)
      expect((await info(`${app}-queue`)).Id).toBe(queueId)
      expect(new Set(await jobsDoneBy(app, 8))).toEqual(new Set(['v1']))
      expect(await projectContainers(`${app}-green`)).toEqual([`${app}-green`, `${app}-green-worker-helper`, `${app}-green-worker-jobs`])
      const greenHelper = (await info(`${app}-green-worker-helper`)).NetworkSettings.Networks[`${app}-green_default`].IPAddress
      expect(await lookup(`${app}-green`, 'helper')).toBe(greenHelper)
      expect(greenHelper).not.toBe(blueHelper)

      // 3. A rollback (the compose file still says v2 / v1) brings back blue: web v1 and its jobs worker of v2, the same container.
      const back = await action({ mode: 'rollback' })
      expectSuccess(back)
      expect(back.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: images.v1 })
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v1')
      const jobsBack = await info(`${app}-blue-worker-jobs`)
      expect(jobsBack).toMatchObject({ Id: blueJobs, Config: { Image: images.v2 }, State: { Status: 'running' } })
      expect((await info(`${app}-green-worker-jobs`)).State.Status).toBe('exited')
      expect(new Set(await jobsDoneBy(app, 8))).toEqual(new Set(['v2']))

      // 4. compose-shared-update: recreate replaces the changed queue (same data volume rules; here it has none).
      const recreated = await action({ 'compose-shared-update': 'recreate' })
      expectSuccess(recreated)
      expect(recreated.stdout).toContain(`Recreating the shared service ${app}-queue (other settings), as compose-shared-update: recreate asks`)
      const newQueue = await info(`${app}-queue`)
      expect(newQueue.Id).not.toBe(queueId)
      expect(newQueue.Config.Env).toContain('NOTE=changed')
      expect(newQueue.Config.Labels).toMatchObject({ 'com.docker.compose.project': app, 'com.docker.compose.service': 'queue' })
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v2')
    } finally {
      // Also the app's networks and named volumes.
      await cleanupApp(app, `${app}-proxy`)
      rmSync(workspace, { recursive: true, force: true })
    }
  })
})

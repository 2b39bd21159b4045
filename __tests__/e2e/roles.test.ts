import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bedInputs, get, runAction, startAction, untilOutput } from '../support/action.js'
import { appImages } from '../support/app-images.js'
import { cleanupApp, freePort, localDocker, uniqueName } from '../support/testbed.js'
import { expectSuccess, haproxyImage } from '../support/strategy.js'

// Worker roles, app-port none and the release command against the real test bed. The test app's
// `queue` mode is a job queue in a container of its own on a network the app's roles join;
// its `worker` mode consumes it and reports which version (and container) did each job.
const docker = localDocker()
const WORKER = 'jobs: /usr/bin/node /app/app.js worker'

/** The test bed's app images with this checkout's app.js on top (support/app-images.ts). */
let images: Record<string, string> = {}
function image(version: string): string {
  const ref = images[version]
  if (!ref) throw new Error(`no image built for ${version}`)
  return ref
}

beforeAll(async () => {
  images = await appImages('roles', ['v1', 'v2', 'v3'])
}, 120_000)

interface QueueStats {
  pushed: number
  pending: number
  taken: Record<string, string>
  done: Record<string, string[]>
  /** job -> [taken at, done at], by the queue's clock. */
  times: Record<string, number[]>
}

/** A queue container on its own network, and the inputs that let an app's workers reach it. */
async function startQueue(app: string) {
  const network = `${app}-jobs`
  await docker.createNetwork({ Name: network, Labels: { 'cutover-test': '1' } })
  const name = `${app}-queue`
  const container = await docker.createContainer({
    name,
    Image: image('v1'),
    Cmd: ['/usr/bin/node', '/app/app.js', 'queue'],
    Env: ['PORT=4000'],
    HostConfig: { NetworkMode: network }
  })
  await container.start()
  const address = (await container.inspect()).NetworkSettings.Networks[network].IPAddress
  const call = async (path: string) => get(`http://${address}:4000${path}`)
  // Until it listens.
  for (let i = 0; i < 50 && (await call('/stats')).status !== 200; i++) await new Promise(r => setTimeout(r, 100))
  return {
    inputs: { networks: network, env: `QUEUE_URL=http://${name}:4000\nJOB_MS=200` },
    push: async (n: number) => (await call(`/push?n=${n}`)).body,
    stats: async () => JSON.parse((await call('/stats')).body) as QueueStats,
    cleanup: async () => {
      await container.remove({ force: true }).catch(() => undefined)
      await docker
        .getNetwork(network)
        .remove()
        .catch(() => undefined)
    }
  }
}

type Queue = Awaited<ReturnType<typeof startQueue>>

/** Pushes a job every 50 ms until stopped. */
function keepPushing(queue: Queue): () => Promise<void> {
  let on = true
  const loop = (async () => {
    while (on) {
      await queue.push(1)
      await new Promise(r => setTimeout(r, 50))
    }
  })()
  return async () => {
    on = false
    await loop
  }
}

/**
 * Waits until every job pushed is done, and returns the stats. It gives up only when no job has
 * been done for `stallMs` (or after `maxMs`): the backlog a deploy leaves grows with how long the
 * deploy took, so a fixed wait fails on a busy machine while the workers are still at it.
 */
async function drained(queue: Queue, stallMs = 15_000, maxMs = 150_000): Promise<QueueStats> {
  const started = Date.now()
  let s = await queue.stats()
  let progressAt = Date.now()
  let done = Object.keys(s.done).length
  while (Date.now() - progressAt < stallMs && Date.now() - started < maxMs && (s.pending > 0 || Object.keys(s.taken).length > 0 || done < s.pushed)) {
    await new Promise(r => setTimeout(r, 200))
    s = await queue.stats()
    if (Object.keys(s.done).length !== done) [done, progressAt] = [Object.keys(s.done).length, Date.now()]
  }
  return s
}

/** Checks no job was lost or done twice; returns who did how many. */
function exactlyOnce(s: QueueStats): Record<string, number> {
  expect(s.pending).toBe(0)
  expect(s.taken).toEqual({})
  const ids = Object.keys(s.done).map(Number)
  expect(ids.length).toBe(s.pushed)
  const twice = Object.entries(s.done).filter(([, by]) => by.length !== 1)
  expect(twice).toEqual([])
  const counts: Record<string, number> = {}
  for (const [who] of Object.values(s.done)) {
    const version = who.split('@')[0]
    counts[version] = (counts[version] ?? 0) + 1
  }
  return counts
}

async function state(name: string): Promise<{ status: string; exitCode?: number; id?: string }> {
  try {
    const info = await docker.getContainer(name).inspect()
    return { status: info.State.Status, exitCode: info.State.ExitCode, id: info.Id }
  } catch {
    return { status: 'gone' }
  }
}

async function logsOf(name: string): Promise<string> {
  const raw = (await docker.getContainer(name).logs({ stdout: true, stderr: true })) as unknown as Buffer
  return raw.toString('utf8')
}

describe('worker roles', () => {
  it('hands over across a deploy with no job lost or done twice: the old worker finishes its job and stops before the new one takes any; a rollback brings it back', async () => {
    const app = uniqueName('wrk')
    const port = await freePort()
    const queue = await startQueue(app)
    const inputs = (more: Record<string, string> = {}) =>
      bedInputs(app, port, {
        'proxy-type': 'haproxy',
        'proxy-image': haproxyImage(),
        'drain-timeout': '2s',
        workers: WORKER,
        'worker-min-uptime': '2s',
        'worker-stop-timeout': '20s',
        ...queue.inputs,
        ...more
      })
    try {
      const first = await runAction(inputs({ image: image('v1') }))
      expectSuccess(first)
      expect(first.outputs.workers).toBe(`${app}-blue-worker-jobs`)
      expect(first.summary).toContain('| Workers | blue | 1 | jobs (running) |')

      const stop = keepPushing(queue)
      const second = await runAction(inputs({ image: image('v2') }))
      await new Promise(r => setTimeout(r, 1000))
      await stop()
      expectSuccess(second)
      expect(second.outputs).toMatchObject({ result: 'deployed', color: 'green', workers: `${app}-green-worker-jobs` })
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v2')
      // worker-handover stop-first: the old worker stopped, then the new one started and was gated before the switch.
      const out = second.stdout
      expect(out.indexOf(`Stopped the live worker ${app}-blue-worker-jobs before its replacement starts`)).toBeGreaterThan(0)
      expect(out.indexOf(`Stopped the live worker ${app}-blue-worker-jobs`)).toBeLessThan(out.indexOf(`Started ${app}-green-worker-jobs`))
      expect(out.indexOf('1 worker(s) healthy on green')).toBeLessThan(out.indexOf('Switching the proxy to green'))

      const stats = await drained(queue)
      const counts = exactlyOnce(stats)
      console.log(`jobs across the deploy: ${JSON.stringify(counts)}`)
      expect(counts.v1).toBeGreaterThan(0)
      expect(counts.v2).toBeGreaterThan(0)
      // By the queue's own clock: every job v1 did was done before v2 took its first one.
      const byVersion = (v: string) =>
        Object.entries(stats.done)
          .filter(([, [who]]) => who.startsWith(`${v}@`))
          .map(([id]) => stats.times[id])
      const lastV1Done = Math.max(...byVersion('v1').map(t => t[1]))
      const firstV2Taken = Math.min(...byVersion('v2').map(t => t[0]))
      console.log(`hand-over gap (last v1 job done → first v2 job taken): ${firstV2Taken - lastV1Done} ms`)
      expect(lastV1Done).toBeLessThanOrEqual(firstV2Taken)
      // Stopped, not killed: it finished its job and exited 0 on SIGTERM.
      expect(await state(`${app}-blue-worker-jobs`)).toMatchObject({ status: 'exited', exitCode: 0 })
      expect(await logsOf(`${app}-blue-worker-jobs`)).toMatch(/SIGTERM[\s\S]*stopped gracefully/)
      expect((await state(`${app}-green-worker-jobs`)).status).toBe('running')
      // The previous web role keeps running for an instant rollback; its worker does not.
      expect((await state(`${app}-blue`)).status).toBe('running')

      const blueWorker = (await state(`${app}-blue-worker-jobs`)).id
      const back = await runAction(inputs({ mode: 'rollback' }))
      expectSuccess(back)
      expect(back.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', workers: `${app}-blue-worker-jobs` })
      expect(await state(`${app}-blue-worker-jobs`)).toMatchObject({ status: 'running', id: blueWorker })
      expect(await state(`${app}-green-worker-jobs`)).toMatchObject({ status: 'exited', exitCode: 0 })
      const before = Object.keys((await queue.stats()).done).length
      await queue.push(10)
      const after = await drained(queue)
      exactlyOnce(after)
      const latest = Object.entries(after.done)
        .filter(([id]) => Number(id) > before)
        .map(([, [who]]) => who.split('@')[0])
      expect(new Set(latest)).toEqual(new Set(['v1']))
    } finally {
      await cleanupApp(app, `${app}-proxy`)
      await queue.cleanup()
    }
  })

  it('a worker that exits during its gate fails the deploy with its exit code; the old worker, stopped for the hand-over, consumes again', async () => {
    const app = uniqueName('wrkf')
    const port = await freePort()
    const queue = await startQueue(app)
    const inputs = (more: Record<string, string> = {}) =>
      bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), workers: WORKER, 'worker-min-uptime': '2s', ...queue.inputs, ...more })
    try {
      expectSuccess(await runAction(inputs({ image: image('v1') })))
      // An unknown mode makes the test app exit 2 at once.
      const bad = await runAction(inputs({ image: image('v2'), workers: 'jobs: /usr/bin/node /app/app.js no-such-mode' }))
      expect(bad.code).not.toBe(0)
      expect(bad.outputs.result).toBe('failed')
      expect(bad.errors.join('\n')).toContain(`The worker ${app}-green-worker-jobs (${image('v2')}) did not become healthy: it exited with code 2`)
      expect(bad.stdout).toContain('unknown mode no-such-mode')
      expect(bad.stdout).toContain(`Started ${app}-blue-worker-jobs again (the release failed before the switch)`)
      expect(await state(`${app}-green-worker-jobs`)).toEqual({ status: 'gone' })
      expect(await state(`${app}-green`)).toEqual({ status: 'gone' })
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v1')
      await queue.push(5)
      expect(exactlyOnce(await drained(queue))).toEqual({ v1: 5 })
    } finally {
      await cleanupApp(app, `${app}-proxy`)
      await queue.cleanup()
    }
  })

  it('app-port none: deploys only workers, with no proxy; a rollback brings the previous worker back', async () => {
    const app = uniqueName('wonly')
    const port = await freePort()
    const queue = await startQueue(app)
    const inputs = (more: Record<string, string> = {}) =>
      bedInputs(app, port, { 'app-port': 'none', workers: WORKER, 'worker-min-uptime': '2s', 'worker-stop-timeout': '20s', ...queue.inputs, ...more })
    try {
      const first = await runAction(inputs({ image: image('v1') }))
      expectSuccess(first)
      expect(first.outputs).toMatchObject({ result: 'deployed', color: 'blue', 'container-id': '', workers: `${app}-blue-worker-jobs` })
      const stop = keepPushing(queue)
      const second = await runAction(inputs({ image: image('v2') }))
      await stop()
      expectSuccess(second)
      expect(second.outputs).toMatchObject({ result: 'deployed', color: 'green', 'standby-state': 'stopped' })
      exactlyOnce(await drained(queue))
      expect(await state(`${app}-blue-worker-jobs`)).toMatchObject({ status: 'exited', exitCode: 0 })
      // No proxy and no web container, ever.
      expect(await state(`${app}-proxy`)).toEqual({ status: 'gone' })
      expect(await state(`${app}-blue`)).toEqual({ status: 'gone' })
      expect(second.stdout).not.toContain('Switching the proxy')
      expect(await state(`${app}-proxy-switch`)).toEqual({ status: 'gone' })

      const back = await runAction(inputs({ mode: 'rollback' }))
      expectSuccess(back)
      expect(back.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: image('v1') })
      expect((await state(`${app}-blue-worker-jobs`)).status).toBe('running')
      expect((await state(`${app}-green-worker-jobs`)).status).toBe('exited')
      const status = await runAction(inputs({ mode: 'status' }))
      expectSuccess(status)
      expect(status.outputs).toMatchObject({ color: 'blue', workers: `${app}-blue-worker-jobs` })
    } finally {
      await cleanupApp(app, `${app}-proxy`)
      await queue.cleanup()
    }
  })
})

describe('release command', () => {
  it('migrates before the new web version boots (which checks the schema), once per release even when the run is retried; a failure keeps the live color', async () => {
    const app = uniqueName('relc')
    const port = await freePort()
    const data = mkdtempSync(join(tmpdir(), 'cot-relc-'))
    const migrations = () => readFileSync(join(data, 'migrations.log'), 'utf8').trim().split('\n')
    const inputs = (more: Record<string, string> = {}) =>
      bedInputs(app, port, {
        'proxy-type': 'haproxy',
        'proxy-image': haproxyImage(),
        'drain-timeout': '2s',
        volumes: `${data}:/data`,
        env: 'REQUIRE_SCHEMA=/data',
        'release-command': '/usr/bin/node /app/app.js migrate',
        ...more
      })
    try {
      const first = await runAction(inputs({ image: image('v1') }))
      expectSuccess(first)
      expect(first.stdout).toContain('::group::Release command: /usr/bin/node /app/app.js migrate')
      expect(first.stdout).toMatch(/::stop-commands::[0-9a-f]{32}\nmigrating schema to v1 in \/data\nmigration done\n/)
      expect(migrations()).toEqual(['v1'])
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v1')

      // The first attempt at v2 fails after its migration (a wrong health path); the retry must not migrate again.
      const broken = await runAction(inputs({ image: image('v2'), 'health-path': '/nope', 'health-timeout': '4s' }))
      expect(broken.outputs.result).toBe('failed')
      expect(migrations()).toEqual(['v1', 'v2'])
      const retried = await runAction(inputs({ image: image('v2') }))
      expectSuccess(retried)
      expect(retried.stdout).toContain(`The release command (/usr/bin/node /app/app.js migrate) already succeeded for ${image('v2')} with these settings`)
      expect(migrations()).toEqual(['v1', 'v2'])
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v2')

      const failing = await runAction(inputs({ image: image('v3'), 'release-command': '/usr/bin/node /app/app.js migrate --exit=5' }))
      expect(failing.code).not.toBe(0)
      expect(failing.outputs).toMatchObject({ result: 'failed', color: 'green', image: image('v2') })
      expect(failing.errors.join('\n')).toMatch(
        new RegExp(
          `The release command \\(/usr/bin/node /app/app.js migrate --exit=5\\) exited with code 5 after \\d+ s\\. green \\(${image('v2')}\\) is still live\\.`
        )
      )
      expect(failing.stdout).toContain('migration failed with code 5')
      expect(failing.summary).toContain('exit code 5')
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v2')
      expect(await state(`${app}-release`)).toEqual({ status: 'gone' })
      expect(await state(`${app}-blue`)).toMatchObject({ status: 'running' })

      const slow = await runAction(
        inputs({ image: image('v3'), 'release-command': '/usr/bin/node /app/app.js migrate --sleep=120000', 'release-timeout': '3s' })
      )
      expect(slow.outputs.result).toBe('failed')
      expect(slow.errors.join('\n')).toContain('did not finish within 3 s (release-timeout), so it was killed')
      const step = /\| ❌ Release command \| ([\d.]+) (s|ms) \|/.exec(slow.summary)
      expect(step).not.toBeNull()
      console.log(`release-timeout 3s: the step took ${step![1]} ${step![2]}`)
      expect(step![2] === 'ms' || Number(step![1]) < 15).toBe(true)
      expect(await state(`${app}-release`)).toEqual({ status: 'gone' })
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v2')
    } finally {
      await cleanupApp(app, `${app}-proxy`)
      rmSync(data, { recursive: true, force: true })
    }
  })

  it('a cancel while the release command runs kills and removes its container; the live color keeps serving', async () => {
    const app = uniqueName('relx')
    const port = await freePort()
    const inputs = (more: Record<string, string> = {}) => bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), ...more })
    try {
      expectSuccess(await runAction(inputs({ image: image('v1') })))
      const started = startAction(inputs({ image: image('v2'), 'release-command': '/usr/bin/node /app/app.js migrate --sleep=120000' }))
      await untilOutput(started, 'migrating schema to v2', 60_000)
      const signalled = Date.now()
      started.child.kill('SIGINT')
      const run = await started.done
      const ms = Date.now() - signalled
      console.log(`cancel during the release command: the run ended ${ms} ms after SIGINT`)
      expect(run.outputs.result).toBe('failed')
      expect(run.errors.join('\n')).toContain('did not complete: Cancelled (SIGINT)')
      expect(ms).toBeLessThan(15_000)
      expect(await state(`${app}-release`)).toEqual({ status: 'gone' })
      expect(await state(`${app}-green`)).toEqual({ status: 'gone' })
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v1')
    } finally {
      await cleanupApp(app, `${app}-proxy`)
    }
  })
})

describe('compose-file', () => {
  it('deploys web + worker per color with a shared queue started once; jobs keep flowing across a deploy', async () => {
    const app = uniqueName('cmp')
    const port = await freePort()
    // The compose file lives in the run's workspace, as it would in the repository.
    const workspace = mkdtempSync(join(tmpdir(), 'cot-cmp-'))
    const env = { QUEUE_URL: 'http://queue:4000', JOB_MS: '200' }
    const probe = "require('http').get('http://127.0.0.1:4000/stats', r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"
    writeFileSync(
      join(workspace, 'docker-compose.yml'),
      JSON.stringify({
        services: {
          web: { image: image('v1'), environment: env, depends_on: { queue: { condition: 'service_healthy' } } },
          jobs: { image: image('v1'), command: ['/usr/bin/node', '/app/app.js', 'worker'], environment: env, depends_on: ['queue'] },
          queue: {
            image: image('v1'),
            command: ['/usr/bin/node', '/app/app.js', 'queue'],
            environment: { PORT: '4000' },
            healthcheck: { test: ['CMD', '/usr/bin/node', '-e', probe], interval: '1s', retries: 3 }
          }
        }
      })
    )
    const inputs = (more: Record<string, string> = {}) =>
      bedInputs(app, port, {
        'proxy-type': 'haproxy',
        'proxy-image': haproxyImage(),
        'drain-timeout': '2s',
        'compose-file': 'docker-compose.yml',
        'compose-service': 'web',
        'compose-shared-services': 'queue',
        'worker-min-uptime': '2s',
        ...more
      })
    const run = (more: Record<string, string>) => runAction(inputs(more), { GITHUB_WORKSPACE: workspace })
    try {
      const first = await run({})
      expectSuccess(first)
      expect(first.outputs).toMatchObject({ result: 'deployed', color: 'blue', image: image('v1'), workers: `${app}-blue-worker-jobs` })
      expect(first.stdout).toContain(`Started the shared service ${app}-queue`)
      const queueInfo = await docker.getContainer(`${app}-queue`).inspect()
      const address = queueInfo.NetworkSettings.Networks[`cutover-${app}`].IPAddress
      const queue = {
        push: async (n: number) => (await get(`http://${address}:4000/push?n=${n}`)).body,
        stats: async () => JSON.parse((await get(`http://${address}:4000/stats`)).body) as QueueStats
      } as Queue

      const stop = keepPushing(queue)
      const second = await run({ image: image('v2') })
      await stop()
      expectSuccess(second)
      expect(second.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v2'), workers: `${app}-green-worker-jobs` })
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v2')
      const counts = exactlyOnce(await drained(queue))
      console.log(`compose: jobs across the deploy: ${JSON.stringify(counts)}`)
      expect(counts.v2).toBeGreaterThan(0)
      // The shared queue was started once and kept: same container, never restarted.
      const after = await docker.getContainer(`${app}-queue`).inspect()
      expect(after.Id).toBe(queueInfo.Id)
      expect(after.State.StartedAt).toBe(queueInfo.State.StartedAt)
      expect(await state(`${app}-blue-worker-jobs`)).toMatchObject({ status: 'exited', exitCode: 0 })
    } finally {
      await cleanupApp(app, `${app}-proxy`)
      rmSync(workspace, { recursive: true, force: true })
    }
  })
})

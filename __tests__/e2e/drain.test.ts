import { readFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import WebSocket from 'ws'
import { bedInputs, get, runAction, startAction, untilOutput, type ActionRun } from '../support/action.js'
import { HAPROXY_SOCKET, hostRunDir } from '../../src/proxy/haproxy-config.js'
import { workerOf } from '../../src/proxy/haproxy-idle.js'
import { cleanupApp, freePort, image, ledgerDir, localDocker, uniqueName } from '../support/testbed.js'

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

/** The live release as the app's ledger on the host records it. */
function liveRelease(app: string): { color: string; image: string; liveSince: string } {
  const ledger = JSON.parse(readFileSync(join(ledgerDir(app), 'releases.json'), 'utf8')) as { releases: { color: string; image: string; liveSince: string }[] }
  return ledger.releases[0]
}

interface HeldSocket {
  messages: string[]
  openedAt: number
  closedAt?: number
  closed: Promise<void>
  socket: WebSocket
}

function holdWebSocket(url: string): Promise<HeldSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    const held: HeldSocket = { messages: [], openedAt: 0, socket, closed: Promise.resolve() }
    held.closed = new Promise(done => socket.on('close', () => ((held.closedAt = Date.now()), done())))
    socket.on('message', data => held.messages.push(data.toString()))
    socket.on('open', () => ((held.openedAt = Date.now()), resolve(held)))
    socket.on('error', reject)
  })
}

describe('draining the previous color', () => {
  const app = uniqueName('drain')
  let port: number
  const DRAIN_S = 4

  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, `${app}-proxy`)
  })

  it('keeps long requests and WebSockets on the old color until drain-timeout, then stops it', async () => {
    const inputs = (more: Record<string, string>) => bedInputs(app, port, { 'keep-previous': 'stopped', 'drain-timeout': `${DRAIN_S}s`, ...more })
    expectSuccess(await runAction(inputs({ image: image('v1') })))

    const ws = await holdWebSocket(`ws://127.0.0.1:${port}/ws`)
    const longRequest = get(`http://127.0.0.1:${port}/slow?ms=3500`)
    const deploy = startAction(inputs({ image: image('v2') }))

    // The moment the proxy serves v2: the switch.
    let switchedAt = 0
    for (const deadline = Date.now() + 30000; Date.now() < deadline; await new Promise(r => setTimeout(r, 50))) {
      if ((await get(`http://127.0.0.1:${port}/`)).body.trim() === 'v2') {
        switchedAt = Date.now()
        break
      }
    }
    expect(switchedAt).toBeGreaterThan(0)
    // A WebSocket opened after the switch reaches the new version.
    const fresh = await holdWebSocket(`ws://127.0.0.1:${port}/ws`)

    const slow = await longRequest
    const run = await deploy.done
    expectSuccess(run)
    expect(run.outputs['standby-state']).toBe('stopped')

    // The request in flight across the switch finished on v1.
    expect({ status: slow.status, body: slow.body.trim() }).toEqual({ status: 200, body: 'v1' })
    // The old WebSocket lived through the switch and the drain time, and was closed when v1 stopped.
    await ws.closed
    const keptFor = (ws.closedAt! - switchedAt) / 1000
    console.log(`old WebSocket closed ${keptFor.toFixed(1)} s after the switch (drain-timeout ${DRAIN_S} s)`)
    expect(keptFor).toBeGreaterThanOrEqual(DRAIN_S - 0.5)
    expect(new Set(ws.messages)).toEqual(new Set(['v1']))
    expect(ws.messages.length).toBeGreaterThanOrEqual(2 * DRAIN_S - 1)

    await new Promise(r => setTimeout(r, 1200))
    expect(fresh.closedAt).toBeUndefined()
    expect(new Set(fresh.messages)).toEqual(new Set(['v2']))
    fresh.socket.close()
    await fresh.closed
  })
})

describe('draining the standby a deploy replaces', () => {
  const app = uniqueName('drain2')
  let port: number
  // Long enough that the rollback and the next deploy reach cleanup well within it even on a busy
  // machine (about 12 s under load): the deploy then always has a drain left to wait out.
  const DRAIN_S = 30

  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, `${app}-proxy`)
  })

  it('lets a standby that was live moments ago (deploy right after a rollback) finish its drain before removing it', async () => {
    const inputs = (more: Record<string, string>) => bedInputs(app, port, { 'drain-timeout': `${DRAIN_S}s`, ...more })
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    expectSuccess(await runAction(inputs({ image: image('v2') })))
    // A WebSocket to v2 while it is live; then v2 becomes the standby through a rollback.
    const ws = await holdWebSocket(`ws://127.0.0.1:${port}/ws`)
    expectSuccess(await runAction(inputs({ mode: 'rollback' })))
    // The drain counts from the moment the rollback's release went live, as the ledger records it:
    // the test measures from there too, not from when a run ends.
    const live = liveRelease(app)
    expect(live.image).toBe(image('v1'))
    const stoppedBeingLive = Date.parse(live.liveSince)
    // The next deploy goes to v2's color and replaces it while its WebSocket is still open.
    const deploy = await runAction(inputs({ image: image('v3') }))
    expectSuccess(deploy)
    const waited = /letting its connections drain (\d+) s more \(drain-timeout\) before removing it/.exec(deploy.stdout)
    if (!waited) {
      const after = ((Date.now() - stoppedBeingLive) / 1000).toFixed(1)
      // Either v2 went early, or this machine took longer than the whole drain to reach cleanup (then DRAIN_S is too short).
      throw new Error(`The deploy, done ${after} s after v2 stopped being live, did not wait out v2's drain-timeout of ${DRAIN_S} s:\n${deploy.stdout}`)
    }
    expect(Number(waited[1])).toBeLessThanOrEqual(DRAIN_S)
    await ws.closed
    const keptFor = (ws.closedAt! - stoppedBeingLive) / 1000
    console.log(`WebSocket on the replaced standby closed ${keptFor.toFixed(1)} s after it stopped being live (drain-timeout ${DRAIN_S} s)`)
    expect(keptFor).toBeGreaterThanOrEqual(DRAIN_S - 0.1)
    expect(new Set(ws.messages)).toEqual(new Set(['v2']))
    expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v3')
  })
})

describe('the deploy lock', () => {
  const app = uniqueName('lock')
  let port: number

  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, `${app}-proxy`)
  })

  it('makes a second run wait, then fail after lock-timeout naming the holder', async () => {
    expectSuccess(await runAction(bedInputs(app, port, { image: image('v1') })))
    // The holder: a deploy whose image never gets healthy keeps the lock for its health-timeout.
    const holder = startAction(bedInputs(app, port, { image: image('unhealthy'), 'health-timeout': '8s' }), {
      GITHUB_REPOSITORY: 'acme/web',
      GITHUB_RUN_ID: '4242',
      GITHUB_ACTOR: 'alice'
    })
    await untilOutput(holder, '::group::Pulling')
    const waiter = await runAction(bedInputs(app, port, { image: image('v2'), 'lock-timeout': '2s' }))
    expect(waiter.code).toBe(1)
    expect(waiter.stdout).toContain('Another deploy of')
    expect(waiter.errors.join('\n')).toMatch(
      new RegExp(`The deploy lock of ${app} is still held by run acme/web#4242 by alice \\(acme/web\\) since \\S+ after waiting 2 s`)
    )
    expect(waiter.outputs.result).toBe('failed')
    // The waiter touched nothing; the holder fails on its own and v1 serves throughout.
    expect((await holder.done).code).toBe(1)
    expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v1')
    // Once released, the next run goes straight through.
    const next = await runAction(bedInputs(app, port, { image: image('v2') }))
    expectSuccess(next)
    expect(next.stdout).not.toContain('Another deploy of')
  })
})

describe('a deploy right after a rollback (HAProxy)', () => {
  const app = uniqueName('stale')
  let port: number

  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, `${app}-proxy`)
  })

  it('sends no new request to the container it replaced: long requests started all through the rollback and the deploy all succeed', async () => {
    const inputs = (more: Record<string, string>) => bedInputs(app, port, { 'drain-timeout': '10s', ...more })
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    expectSuccess(await runAction(inputs({ image: image('v2') })))
    // v2's container serves these (the proxy keeps its connections to it idle between requests), then
    // the rollback, then a deploy that replaces it and removes it when its drain ends. HAProxy kept
    // those idle connections across the address change: new requests reached the replaced container
    // and failed when it went (bench/stale-pool.mjs).
    const requests: Promise<string>[] = []
    let running = true
    const fire = (async () => {
      // Bounded: one every 100 ms while the rollback and the deploy run, at most 900.
      for (let i = 0; running && i < 900; i++) {
        const started = Date.now()
        requests.push(get(`http://127.0.0.1:${port}/slow?ms=3000`, {}, 15_000).then(r => `${r.status} ${r.body.trim()} @${started}`))
        await new Promise(r => setTimeout(r, 100))
      }
    })()
    await new Promise(r => setTimeout(r, 3000))
    expectSuccess(await runAction(inputs({ mode: 'rollback' })))
    await new Promise(r => setTimeout(r, 2500))
    const deploy = await runAction(inputs({ image: image('v3') }))
    running = false
    await fire
    const answers = await Promise.all(requests)
    expectSuccess(deploy)
    // It replaced v2 either after the rest of its drain, or at once when the proxy vouched that it held none of its requests.
    expect(deploy.stdout).toMatch(/letting its connections drain \d+ s more|held none of them any more before the switch: removing it now/)
    expect(answers.length).toBeGreaterThan(20)
    expect(answers.filter(a => !a.startsWith('200 '))).toEqual([])
  }, 180_000)
})

/** The proxy's serving worker as its admin socket (a host directory on the test bed) answers `show info`. */
function proxyWorker(proxy: string): Promise<{ pid: number; uptimeS: number } | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(`${hostRunDir(proxy)}/${HAPROXY_SOCKET}`)
    let answer = ''
    socket.setTimeout(5000, () => socket.destroy(new Error('the admin socket did not answer within 5 s')))
    socket.on('connect', () => socket.write('show info\n'))
    socket.on('data', d => (answer += d.toString()))
    socket.on('end', () => resolve(workerOf(answer)))
    socket.on('error', reject)
  })
}

describe('a drain the proxy says is over', () => {
  const app = uniqueName('idle')
  const proxy = `${app}-proxy`
  let port: number
  // hard-stop-after is the longest drain-timeout (30 s at least): until the proxy's worker is older
  // than that (and the 5 s margin), a process left by a reload might hold requests it cannot count.
  const DRAIN_S = 40

  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, proxy)
  })

  it('ends early: a standby replaced right after a rollback goes at once, the previous color stops once idle, and no request fails', async () => {
    const inputs = (more: Record<string, string>) => bedInputs(app, port, { 'drain-timeout': `${DRAIN_S}s`, ...more })
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    expectSuccess(await runAction(inputs({ image: image('v2') })))
    // Bounded: the worker is that old within ~50 s of the proxy's start; 120 s at most.
    for (let worker = await proxyWorker(proxy), waited = 0; (worker?.uptimeS ?? 0) < DRAIN_S + 6; worker = await proxyWorker(proxy)) {
      if (++waited > 120) throw new Error(`The proxy's worker did not get ${DRAIN_S + 6} s old within 120 s (now: ${JSON.stringify(worker)})`)
      await new Promise(r => setTimeout(r, 1000))
    }
    const before = await proxyWorker(proxy)
    // Requests all through the rollback and the deploy: new connections and keep-alive ones (bounded: at most 20,000).
    const answers: string[] = []
    let running = true
    const client = async (headers: Record<string, string>) => {
      for (let i = 0; running && i < 5000; i++) {
        const r = await get(`http://127.0.0.1:${port}/`, headers, 10_000)
        answers.push(`${r.status} ${r.body.trim()}`)
      }
    }
    const load = Promise.all([client({}), client({}), client({ connection: 'keep-alive' }), client({ connection: 'keep-alive' })])
    expectSuccess(await runAction(inputs({ mode: 'rollback' })))
    // The deploy goes to green, v2's color, v2 having been live moments ago; blue (v1) then drains before it stops.
    const deploy = await runAction(inputs({ image: image('v3'), 'keep-previous': 'stopped' }))
    running = false
    await load
    expectSuccess(deploy)
    // The proxy was not reloaded in between: the worker that vouched is the one that served.
    expect((await proxyWorker(proxy))?.pid).toBe(before?.pid)
    expect(deploy.stdout).toMatch(/the proxy held none of them any more before the switch: removing it now, without the \d+ s of drain-timeout left/)
    expect(deploy.stdout).not.toMatch(/letting its connections drain/)
    expect(deploy.stdout).toMatch(new RegExp(`The proxy holds no request of ${app}-blue any more, after \\d+ ms: the drain ends early`))
    expect(deploy.outputs.result).toBe('deployed')
    const early = /any more, after (\d+) ms: the drain ends early/.exec(deploy.stdout)![1]
    const spared = /without the (\d+) s of drain-timeout left/.exec(deploy.stdout)![1]
    console.log(
      `${answers.length} requests, none failed; the standby went ${spared} s early, the previous color's drain ended after ${early} ms (drain-timeout ${DRAIN_S} s)`
    )
    const docker = localDocker()
    expect((await docker.getContainer(`${app}-blue`).inspect()).State.Running).toBe(false)
    await expect(docker.getContainer(`${app}-green-replaced`).inspect()).rejects.toThrow()
    expect(answers.length).toBeGreaterThan(50)
    expect(answers.filter(a => !/^200 v[123]$/.test(a))).toEqual([])
    expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v3')
  }, 180_000)
})

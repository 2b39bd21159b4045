import { bedInputs, get, runAction, startAction, untilOutput, type ActionRun } from '../support/action.js'
import { startLoad } from '../support/load.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

// One app walks through the deploy story in order: each test builds on the host state the
// previous one left, as a real app's releases do.
const app = uniqueName('deploy')
const proxy = `${app}-proxy`
let port: number
let inputs: (overrides?: Record<string, string>) => Record<string, string>
const docker = localDocker()

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

async function served(): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`)
  return `${res.status} ${res.body.trim()}`
}

async function colorState(color: string): Promise<{ running: boolean; image: string } | undefined> {
  try {
    const info = await docker.getContainer(`${app}-${color}`).inspect()
    return { running: info.State.Running, image: info.Config.Labels['cutover.image'] }
  } catch {
    return undefined
  }
}

beforeAll(async () => {
  port = await freePort()
  inputs = (overrides = {}) => bedInputs(app, port, overrides)
})

afterAll(async () => {
  await cleanupApp(app, proxy)
})

describe('blue-green deploy through the managed proxy', () => {
  it('first deploy on an empty host creates the proxy and serves v1 on proxy-port', async () => {
    expect(await colorState('blue')).toBeUndefined()
    const run = await runAction(inputs({ image: image('v1') }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'deployed', color: 'blue', image: image('v1'), 'previous-color': '', 'previous-image': '' })
    expect(run.outputs['container-id']).toMatch(/^[0-9a-f]{64}$/)
    expect(await served()).toBe('200 v1')
    const proxyInfo = await docker.getContainer(proxy).inspect()
    expect(proxyInfo.State.Running).toBe(true)
    expect(proxyInfo.HostConfig.PortBindings['80/tcp'][0].HostPort).toBe(String(port))
    const blue = await docker.getContainer(`${app}-blue`).inspect()
    expect(blue.Config.Labels).toMatchObject({ 'cutover.app': app, 'cutover.color': 'blue', 'cutover.image': image('v1'), 'cutover.version': 'v1' })
    expect(blue.HostConfig.RestartPolicy?.Name).toBe('unless-stopped')
  })

  it('v1 -> v2: the proxy serves v2, v1 keeps running, colors alternate', async () => {
    const run = await runAction(inputs({ image: image('v2') }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({
      result: 'deployed',
      color: 'green',
      'previous-color': 'blue',
      image: image('v2'),
      'previous-image': image('v1'),
      'standby-state': 'running'
    })
    expect(await served()).toBe('200 v2')
    expect(await colorState('blue')).toEqual({ running: true, image: image('v1') })
    expect(await colorState('green')).toEqual({ running: true, image: image('v2') })
  })

  it('deploying the live image again changes nothing', async () => {
    const run = await runAction(inputs({ image: image('v2') }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'unchanged', color: 'green', image: image('v2') })
    expect(await colorState('blue')).toEqual({ running: true, image: image('v1') })
  })

  it.each([
    ['unhealthy', /\/health on port 3000 did not give a 2xx answer within 6 s \(health-timeout\); last answer: HTTP 500/],
    ['crash', /exited with code 3 before it became healthy/]
  ])('an image that is %s fails with the reason while v2 keeps serving every request', async (tag, reason) => {
    const load = startLoad(`http://127.0.0.1:${port}/`, { connections: 4, maxMs: 120_000 })
    const run = await runAction(inputs({ image: image(tag), 'health-timeout': '6s' }))
    const stats = await load.stop()
    expect(run.code).toBe(1)
    expect(run.outputs).toMatchObject({ result: 'failed', color: 'green', image: image('v2') })
    expect(run.errors.join('\n')).toMatch(reason)
    expect(run.errors.join('\n')).toContain(`green (${image('v2')}) is still live`)
    // The failing container's last log lines are shown, in a group and in the summary.
    expect(run.stdout).toContain(`::group::Last log lines of ${app}-blue`)
    expect(run.summary).toContain(`cutover-test app ${tag}`)
    // The failed container is removed (keep-failed defaults to false) and the standby v1,
    // set aside while it booted, is back: an instant rollback is still possible.
    expect(await colorState('blue')).toEqual({ running: true, image: image('v1') })
    expect(run.stdout).toContain('Put the previous blue container back')
    expect(stats.sent).toBeGreaterThan(50)
    expect({ failures: load.failures(), errors: stats.firstErrors }).toEqual({ failures: 0, errors: [] })
    expect(Object.keys(stats.bodies)).toEqual(['v2'])
  })

  it('keep-failed keeps the failed container, stopped, for inspection, and the standby too', async () => {
    const run = await runAction(inputs({ image: image('crash'), 'keep-failed': 'true' }))
    expect(run.code).toBe(1)
    const failed = await docker.getContainer(`${app}-blue-failed`).inspect()
    expect({ running: failed.State.Running, exitCode: failed.State.ExitCode, image: failed.Config.Labels['cutover.image'] }).toEqual({
      running: false,
      exitCode: 3,
      image: image('crash')
    })
    expect(await colorState('blue')).toEqual({ running: true, image: image('v1') })
    expect(await served()).toBe('200 v2')
    // The next deploy still works and the standby it replaces is v1.
    const rollback = await runAction(inputs({ mode: 'rollback' }))
    expectSuccess(rollback)
    expect(rollback.stdout).toContain('the previous version is still running')
    expect(await served()).toBe('200 v1')
    expectSuccess(await runAction(inputs({ mode: 'rollback' })))
    expect(await served()).toBe('200 v2')
  })

  it('zero failed requests under steady load during a v2 -> v3 deploy (keep-alive and new connections)', async () => {
    const liveBefore = (await runAction(inputs({ mode: 'status' }))).outputs.color
    const keepAlive = startLoad(`http://127.0.0.1:${port}/`, { connections: 6, keepAlive: true, maxMs: 120_000 })
    const fresh = startLoad(`http://127.0.0.1:${port}/`, { connections: 2, keepAlive: false, maxMs: 120_000 })
    await new Promise(r => setTimeout(r, 500))
    const run = await runAction(inputs({ image: image('v3') }))
    await new Promise(r => setTimeout(r, 500))
    const a = await keepAlive.stop()
    const b = await fresh.stop()
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'deployed', 'previous-color': liveBefore, image: image('v3') })
    expect(run.outputs.color).not.toBe(liveBefore)
    expect(a.sent + b.sent).toBeGreaterThan(300)
    expect({ keepAlive: keepAlive.failures(), fresh: fresh.failures(), errors: [...a.firstErrors, ...b.firstErrors] }).toEqual({
      keepAlive: 0,
      fresh: 0,
      errors: []
    })
    // Both versions answered: the switch happened while the load ran.
    expect(Object.keys(a.bodies).sort()).toEqual(['v2', 'v3'])
  })

  it('two runs started at the same moment do not interleave and end consistent', async () => {
    const first = startAction(inputs({ image: image('v1') }))
    const second = startAction(inputs({ image: image('v2') }))
    const [r1, r2] = await Promise.all([first.done, second.done])
    expectSuccess(r1)
    expectSuccess(r2)
    // Exactly one of them waited for the other's lock.
    const waited = [r1, r2].filter(r => r.stdout.includes('holds the lock'))
    expect(waited).toHaveLength(1)
    // The host ends with the later run's image live and the earlier one on standby.
    const later = waited[0] === r1 ? r1 : r2
    const earlier = later === r1 ? r2 : r1
    expect(later.outputs['previous-image']).toBe(earlier.outputs.image)
    expect(await served()).toBe(`200 ${later.outputs.image.split(':').pop()}`)
    const status = await runAction(inputs({ mode: 'status' }))
    expect(status.outputs).toMatchObject({ color: later.outputs.color, image: later.outputs.image, 'previous-color': earlier.outputs.color })
  })

  it('a run cancelled with SIGINT (as the runner cancels) stops at once, releases the lock, and live keeps serving', async () => {
    const before = await served()
    // Any image but the live one (the run before may leave either v1 or v2 live).
    const cancelled = startAction(inputs({ image: image(before === '200 v1' ? 'v2' : 'v1') }))
    await untilOutput(cancelled, '::group::Waiting for')
    const signalledAt = Date.now()
    cancelled.child.kill('SIGINT')
    const run = await cancelled.done
    expect(Date.now() - signalledAt).toBeLessThan(5000)
    expect(run.code).toBe(1)
    expect(run.stdout).toContain('Received SIGINT')
    expect(await served()).toBe(before)
    // The lock went with it: the next run does not wait.
    const next = await runAction(inputs({ mode: 'rollback', 'lock-timeout': '1s' }))
    expect(next.stdout).not.toContain('holds the lock')
    expectSuccess(next)
    expectSuccess(await runAction(inputs({ mode: 'rollback' })))
    expect(await served()).toBe(before)
  })

  it('a run killed with SIGKILL mid-deploy, then re-run, converges to one live color', async () => {
    const load = startLoad(`http://127.0.0.1:${port}/`, { connections: 4, maxMs: 90000 })
    const before = (await served()).split(' ')[1]
    const victim = startAction(inputs({ image: image('v3') }))
    // Kill it while the new container boots: the lock is held and a container is half-way.
    await untilOutput(victim, '::group::Waiting for')
    victim.child.kill('SIGKILL')
    const killed = await victim.done
    expect(killed.signal).toBe('SIGKILL')
    expect(await served()).toBe(`200 ${before}`)

    // The lock died with the killed run's connection: the re-run does not wait for it.
    const rerun = await runAction(inputs({ image: image('v3') }))
    const stats = await load.stop()
    expectSuccess(rerun)
    expect(rerun.stdout).not.toContain('holds the lock')
    expect(rerun.outputs).toMatchObject({ result: 'deployed', image: image('v3') })
    expect(await served()).toBe('200 v3')
    const live = rerun.outputs.color
    expect(await colorState(live)).toEqual({ running: true, image: image('v3') })
    // The standby the killed run had set aside was put back, then replaced by the re-run.
    expect(rerun.stdout).toContain('Recovering from an interrupted run')
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })
    expect(leftovers.map(c => c.Names[0].slice(1)).filter(n => n.endsWith('-replaced'))).toEqual([])
    expect({ failures: load.failures(), errors: stats.firstErrors }).toEqual({ failures: 0, errors: [] })
  })
})

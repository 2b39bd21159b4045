import { bedInputs, get, runAction, startAction, untilOutput, type ActionRun } from '../support/action.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

// Faults on the way out: every exit path ends with outputs, a summary and an annotation, and
// leaves the host as it was (the live color serving, the standby in place, no new container).

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

describe('faults during a deploy', () => {
  const app = uniqueName('faults')
  let port: number
  const inputs = (more: Record<string, string>) => bedInputs(app, port, more)
  const served = async () => (await get(`http://127.0.0.1:${port}/`)).body.trim()
  const containers = async () =>
    (await localDocker().listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } }))
      .map(c => `${c.Names[0].slice(1)} ${c.Labels['cutover.image'].split(':').pop()} ${c.State}`)
      .sort()

  beforeAll(async () => {
    port = await freePort()
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    expectSuccess(await runAction(inputs({ image: image('v2') })))
  })
  afterAll(async () => {
    await cleanupApp(app, `${app}-proxy`)
  })

  it('SIGTERM during the health gate: the new container is removed, the standby put back, outputs and summary written', async () => {
    const before = await containers()
    expect(before).toEqual([`${app}-blue v1 running`, `${app}-green v2 running`])
    const run = startAction(inputs({ image: image('unhealthy'), 'health-timeout': '60s' }))
    await untilOutput(run, '::group::Waiting for')
    run.child.kill('SIGTERM')
    const done = await run.done
    expect(done.code).toBe(1)
    expect(done.outputs).toMatchObject({ result: 'failed', color: 'green', image: image('v2') })
    expect(done.errors.join('\n')).toMatch(/Cancelled \(SIGTERM\): stopped before the switch; green \(\S+:v2\) is still live/)
    expect(done.summary).toContain('Failed')
    expect(done.summary).toContain('Cancelled (SIGTERM)')
    expect(await containers()).toEqual(before)
    expect(await served()).toBe('v2')
  })

  it('a second SIGINT during the health gate ("stop now"): the standby is put back and the new container removed, outputs and summary written (issue #22)', async () => {
    const before = await containers()
    expect(before).toEqual([`${app}-blue v1 running`, `${app}-green v2 running`])
    const run = startAction(inputs({ image: image('unhealthy'), 'health-timeout': '60s' }))
    await untilOutput(run, '::group::Waiting for')
    run.child.kill('SIGINT')
    await new Promise(r => setTimeout(r, 100))
    run.child.kill('SIGINT')
    const done = await run.done
    expect(done.code).toBe(1)
    // Never a <app>-blue-replaced, nor the unhealthy container: live + standby, as before the run.
    expect(await containers()).toEqual(before)
    expect(done.outputs).toMatchObject({ result: 'failed', color: 'green', image: image('v2') })
    expect(done.errors.join('\n')).toContain('Cancelled (SIGINT)')
    expect(done.summary).toContain('Failed')
    expect(await served()).toBe('v2')
  })

  it('a health endpoint that accepts and never answers ends the gate at health-timeout, not later', async () => {
    const run = await runAction(inputs({ image: image('v3'), 'health-path': '/slow?ms=60000', 'health-timeout': '4s' }))
    expect(run.code).toBe(1)
    expect(run.outputs.result).toBe('failed')
    expect(run.errors.join('\n')).toMatch(/did not become healthy: \/slow\?ms=60000 on port 3000 did not give a 2xx answer within 4 s \(health-timeout\)/)
    // The gate's own duration, as the run counted it (job summary), stays near health-timeout.
    const gate = /\| (?:❌ )?Health gate \| (\d+(?:\.\d)?) (s|ms) \|/.exec(run.summary)
    expect(gate).not.toBeNull()
    const gateSeconds = gate![1] === undefined ? NaN : gate![2] === 's' ? Number(gate![1]) : Number(gate![1]) / 1000
    expect(gateSeconds).toBeLessThan(4 + 2)
    expect(await containers()).toEqual([`${app}-blue v1 running`, `${app}-green v2 running`])
    expect(await served()).toBe('v2')
  })
})

describe('first deploys of two apps on a new proxy at the same moment', () => {
  const apps: string[] = []
  const proxies: string[] = []
  afterAll(async () => {
    // The shared proxies first: an app's network cannot be removed while a proxy is attached to it.
    for (const proxy of proxies) await cleanupApp(`${proxy}-none`, proxy)
    for (const app of apps) await cleanupApp(app)
  })

  it('both succeed, sharing one proxy and one proxy network (3 tries)', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort()
      const proxy = uniqueName('shared')
      proxies.push(proxy)
      const pair = [uniqueName('a'), uniqueName('b')]
      apps.push(...pair)
      const runs = await Promise.all(
        pair.map(app => runAction({ ...bedInputs(app, port, { image: image('v1'), domains: `${app}.test` }), 'proxy-name': proxy }))
      )
      for (const run of runs) expectSuccess(run)
      const networks = await localDocker().listNetworks({ filters: { name: [`${proxy}-net`] } })
      expect(networks.map(n => n.Name)).toEqual([`${proxy}-net`])
      for (const app of pair) expect((await get(`http://127.0.0.1:${port}/`, { host: `${app}.test` })).body.trim()).toBe('v1')
    }
  })

  it('claiming the same domain at the same moment: one app gets it, the other fails naming it and leaves nothing', async () => {
    const port = await freePort()
    const proxy = uniqueName('claim')
    proxies.push(proxy)
    const pair = [uniqueName('c'), uniqueName('d')]
    apps.push(...pair)
    const domain = `${proxy}.test`
    const versions = ['v1', 'v2']
    const runs = await Promise.all(
      pair.map((app, i) => runAction({ ...bedInputs(app, port, { image: image(versions[i]), domains: domain }), 'proxy-name': proxy }))
    )
    // Not exactly one winner: say what each run said, or the failure tells nothing.
    if (runs.filter(r => r.code === 0).length !== 1) {
      throw new Error(runs.map((r, i) => `${pair[i]} exited ${r.code} after ${r.ms} ms: ${r.errors.join(' / ') || '(no error)'}`).join('\n'))
    }
    expect(runs.map(r => r.code).sort()).toEqual([0, 1])
    const winner = runs.findIndex(r => r.code === 0)
    const loser = 1 - winner
    // Whichever check saw it first: the other app's ledger (engine) or the proxy's maps (under the proxy lock)
    expect(runs[loser].errors.join('\n')).toMatch(new RegExp(`${domain.replace(/[.]/g, '\\.')}.*(already serves|already routed to app ${pair[winner]})`))
    expect((await get(`http://127.0.0.1:${port}/`, { host: domain })).body.trim()).toBe(versions[winner])
    const left = await localDocker().listContainers({ all: true, filters: { label: [`cutover.app=${pair[loser]}`] } })
    expect(left).toEqual([])
  })
})

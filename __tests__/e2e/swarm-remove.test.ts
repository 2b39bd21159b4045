import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { get, runAction, startAction, stepMs } from '../support/action.js'
import { fleetHome, fleetImage } from '../support/fleet.js'
import { startLoad } from '../support/load.js'
import { expectSuccess } from '../support/strategy.js'
import { cleanupSwarmApp, swarmManager, swarmInputs, swarmNodes } from '../support/swarm.js'
import { freePort, ledgerDir, uniqueName } from '../support/testbed.js'

// mode remove with target: swarm (issue #22) on the test bed's 3-node swarm: app A (a worker, a Swarm
// secret) leaves the swarm completely, its request in flight finishing, while app B, on the same
// swarm, serves under load with 0 failed requests; then A deploys again from scratch.
// Each test builds on the state the previous one left.
const appA = uniqueName('swrma')
const appB = uniqueName('swrmb')
const nodes = swarmNodes()
const ports: Record<string, number> = {}

function inputs(app: string, overrides: Record<string, string> = {}): Record<string, string> {
  return swarmInputs(app, ports[app], overrides)
}

/** A's deploy: a worker service and a Swarm secret besides its colors and its proxy. */
function inputsA(overrides: Record<string, string> = {}): Record<string, string> {
  return inputs(appA, {
    env: 'BOOT_DELAY_MS=300\nAPI_TOKEN=token-of-a',
    'swarm-secrets': 'API_TOKEN',
    workers: 'jobs: /usr/bin/node /app/app.js',
    'worker-min-uptime': '2s',
    ...overrides
  })
}

/** What of an app is on the swarm, as its manager lists it by the app's label. */
async function onSwarm(app: string): Promise<{ services: string[]; secrets: number; configs: number; network: boolean }> {
  const docker = swarmManager()
  const labelled = { filters: { label: [`cutover.app=${app}`] } }
  const [services, secrets, configs] = await Promise.all([docker.listServices(labelled), docker.listSecrets(labelled), docker.listConfigs(labelled)])
  const network = await docker
    .getNetwork(`cutover-${app}`)
    .inspect()
    .then(
      () => true,
      () => false
    )
  return { services: services.map(s => s.Spec?.Name ?? '').sort(), secrets: secrets.length, configs: configs.length, network }
}

/** What each node's port of the app answers (status and body), node by node. */
async function served(app: string): Promise<string[]> {
  return Promise.all(
    nodes.map(async n => {
      const res = await get(`http://${n}:${ports[app]}/`)
      return `${res.status} ${res.body.trim()}`
    })
  )
}

beforeAll(async () => {
  ports[appA] = await freePort()
  ports[appB] = await freePort()
})

afterAll(async () => {
  await cleanupSwarmApp(appA)
  await cleanupSwarmApp(appB)
})

it('two apps on the swarm, each served on every node', async () => {
  expectSuccess(await runAction(inputsA({ image: fleetImage('v1') })))
  expectSuccess(await runAction(inputs(appB, { image: fleetImage('v2') })))
  expect(await served(appA)).toEqual(['200 v1', '200 v1', '200 v1'])
  expect(await served(appB)).toEqual(['200 v2', '200 v2', '200 v2'])
  const a = await onSwarm(appA)
  expect(a.services).toEqual([`${appA}-blue`, `${appA}-blue-worker-jobs`, `${appA}-proxy`].sort())
  expect(a.secrets).toBe(1)
  expect(a.configs).toBeGreaterThanOrEqual(3)
  expect(a.network).toBe(true)
}, 300_000)

it("mode remove takes A off the swarm while B is under load: B 0 failed, A's request in flight finishes, A's services, secret, configs and network go, its port answers no more, its ledger is archived", async () => {
  const loads = nodes.map(n => startLoad(`http://${n}:${ports[appB]}/`, { connections: 2, keepAlive: true, maxMs: 200_000 }))
  // The default drain-timeout (30 s): the drain lasts as long as the request in flight, no longer.
  // The request is in flight before the run starts (started from the run's output, a loaded machine
  // could let it reach the proxy after the route had left), and lasts past the route's withdrawal:
  // the run connects, locks and reads the swarm first.
  const slow = get(`http://${nodes[1]}:${ports[appA]}/slow?ms=10000`, {}, 60_000)
  await new Promise(r => setTimeout(r, 500))
  const started = startAction(inputsA({ mode: 'remove', 'drain-timeout': '30s' }))
  const run = await started.done
  const inFlight = await slow
  const stats = await Promise.all(loads.map(l => l.stop()))
  expectSuccess(run)
  expect(run.outputs.result).toBe('removed')
  expect(run.outputs['previous-image']).toBe(fleetImage('v1'))
  for (const [i, s] of stats.entries()) {
    expect({ node: nodes[i], failures: s.sent - s.ok, errors: s.firstErrors }).toEqual({ node: nodes[i], failures: 0, errors: [] })
    expect(s.sent).toBeGreaterThan(20)
  }
  expect(`${inFlight.status} ${inFlight.body.trim()}`).toBe('200 v1')
  const waited = Number(new RegExp(`The requests in flight to ${appA} finished: waited (\\d+) ms \\(drain-timeout 30 s\\)`).exec(run.stdout)?.[1])
  expect(waited).toBeGreaterThan(0)
  // The run's own time for taking it off its proxy tasks, drain included: the request's time, not drain-timeout.
  const switchMs = stepMs(run.summary, 'Switch proxy')
  expect(switchMs).toBeLessThan(30_000)
  console.log(
    `swarm remove: B served ${stats.map(s => s.sent).join(', ')} requests per node during the removal, 0 failed; drain ${waited} ms, switch step ${switchMs} ms`
  )
  expect(run.stdout).toContain(`Removed the proxy service ${appA}-proxy`)
  expect(run.stdout).toContain(`Removed the overlay network cutover-${appA}`)
  // Removed from the swarm; the manager's own copy of an overlay goes once its agent catches up
  // (seen still listed right after the run, on a loaded machine): bounded, 20 s.
  let left = await onSwarm(appA)
  for (let i = 0; left.network && i < 40; i++) {
    await new Promise(r => setTimeout(r, 500))
    left = await onSwarm(appA)
  }
  expect(left).toEqual({ services: [], secrets: 0, configs: 0, network: false })
  expect(
    await swarmManager()
      .getContainer(`${appA}-proxy-switch`)
      .inspect()
      .then(
        () => 'there',
        () => 'gone'
      )
  ).toBe('gone')
  // Nothing listens on A's port any more, on any node.
  expect((await served(appA)).map(s => s.split(' ')[0])).toEqual(['0', '0', '0'])
  const ledger = ledgerDir(appA, fleetHome(1))
  expect(existsSync(join(ledger, 'releases.json'))).toBe(false)
  expect(readdirSync(ledger).filter(f => /^removed-.*\.json$/.test(f))).toHaveLength(1)
  // B's own proxy, services and network are untouched.
  expect((await onSwarm(appB)).services).toEqual([`${appB}-blue`, `${appB}-proxy`].sort())
  expect(await served(appB)).toEqual(['200 v2', '200 v2', '200 v2'])
}, 300_000)

it('A deploys again from scratch: a first deploy (blue), served on every node', async () => {
  const run = await runAction(inputsA({ image: fleetImage('v3') }))
  expectSuccess(run)
  expect([run.outputs.result, run.outputs.color, run.outputs['previous-image']]).toEqual(['deployed', 'blue', ''])
  expect(await served(appA)).toEqual(['200 v3', '200 v3', '200 v3'])
  expect(await served(appB)).toEqual(['200 v2', '200 v2', '200 v2'])
}, 300_000)

import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import type { CanaryStepReport } from '../../src/core/outcome.js'
import { REQUEST_LOG_MAP } from '../../src/proxy/haproxy-config.js'
import { runtimeCommand } from '../../src/proxy/haproxy-runtime.js'
import { runAction, type ActionRun } from '../support/action.js'
import { cleanupFleetApp, fleetAddresses, fleetImage, fleetInputs, hostFile, hostsOf, servedOn } from '../support/fleet.js'
import { startLoad, type LoadStats } from '../support/load.js'
import { expectSuccess } from '../support/strategy.js'
import { freePort, REPO, uniqueName } from '../support/testbed.js'

// canary-steps on the bed's three fleet hosts (issue #24), under load on every host's proxy: a good
// canary climbs every step on every host together and is promoted everywhere with no failed
// request; a canary that fails 30 % of its requests on one host only rolls every host back at the
// first step, and the only failed requests are that canary's own 500s on that host.
const app = uniqueName('fsteps')
const proxy = `${app}-proxy`
const addresses = fleetAddresses()
let port: number

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  // Each host mounts its own copy of the test app under its /root (host 2's may differ).
  return fleetInputs(app, port, { volumes: `/root/${app}/app.js:/app/app.js:ro`, 'allow-host-mounts': 'true', ...overrides })
}

const steps = { 'canary-steps': '10 25 50', 'canary-step-time': '6s', 'watch-max-error-rate': '5%' }

/** Runs `action` under steady load on every host's proxy (bounded in time and count); returns its run and each host's counts. */
async function underLoad(action: () => Promise<ActionRun>): Promise<{ run: ActionRun; stats: LoadStats[] }> {
  const loads = addresses.map(a => startLoad(`http://${a}:${port}/`, { connections: 3, keepAlive: true, pauseMs: 5, maxMs: 150_000 }))
  await new Promise(r => setTimeout(r, 300))
  const run = await action()
  await new Promise(r => setTimeout(r, 300))
  return { run, stats: await Promise.all(loads.map(l => l.stop())) }
}

function expectNoFailure(stats: LoadStats[], hosts: string[]): void {
  for (const [i, s] of stats.entries()) {
    expect({ host: hosts[i], failures: s.sent - s.ok, non2xx: s.non2xx, errors: s.firstErrors }).toEqual({
      host: hosts[i],
      failures: 0,
      non2xx: {},
      errors: []
    })
  }
}

/** Host n's proxy's request-log map: empty unless a step is holding. */
async function requestLogMap(n: number): Promise<string> {
  const socket = `/var/lib/cutover-test-h${n}/run-cutover/${proxy}/admin.sock`
  return (await runtimeCommand(async () => connect(socket), `show map /usr/local/etc/haproxy/cutover/${REQUEST_LOG_MAP}`)).trim()
}

const appJs = () => readFileSync(join(REPO, 'scripts/testbed/app/app.js'), 'utf8')

beforeAll(async () => {
  port = await freePort()
  for (const n of [1, 2, 3]) copyFileSync(join(REPO, 'scripts/testbed/app/app.js'), join(hostFile(n, app), 'app.js'))
  expectSuccess(await runAction(inputs({ image: fleetImage('v1') })))
  expect(await servedOn(port)).toEqual(['v1', 'v1', 'v1'])
}, 120_000)

afterAll(async () => {
  await cleanupFleetApp(app, proxy)
})

it("one host's canary failing 30 % of its requests rolls every host back at the first step; only that canary's own 500s fail", async () => {
  // Host 2's copy of the app answers 500 to 30 % of GET /; its health path stays fine. Only the
  // canary reads the changed file: the live containers started before it.
  writeFileSync(join(hostFile(2, app), 'app.js'), appJs().replace("'use strict';\n", "'use strict';\nprocess.env.ERROR_PERCENT = '30';\n"))
  const { run, stats } = await underLoad(() => runAction(inputs({ image: fleetImage('v2'), ...steps })))
  writeFileSync(join(hostFile(2, app), 'app.js'), appJs())
  const hosts = hostsOf(run)
  console.log(
    `fleet bad canary: sent ${stats.map(s => s.sent).join(', ')}; 500s on host 2: ${stats[1].non2xx['500'] ?? 0}; steps ${JSON.stringify(hosts.map(h => h.canarySteps))}`
  )
  expect(run.code).toBe(1)
  expect(hosts.map(h => h.result)).toEqual(['reverted', 'failed', 'reverted'])
  expect(hosts.map(h => h.image)).toEqual([fleetImage('v1'), fleetImage('v1'), fleetImage('v1')])
  expect(hosts[1].error).toMatch(/^canary-steps: at 10 %: \d+ of \d+ of the canary's responses \([\d.]+ %\) were 5xx, above 5 %/)
  expect(hosts[0].error).toMatch(new RegExp(`canary-steps: at 10 %: .*root@${addresses[1].replace(/\./g, '\\.')}:22.*, so every host rolls back`))
  // Every host stopped at the first step; the run's canary-steps output is the breaching host's.
  for (const h of hosts) expect(h.canarySteps?.map(s => s.weight)).toEqual([10])
  const breached = JSON.parse(run.outputs['canary-steps']) as CanaryStepReport[]
  expect(breached).toMatchObject([{ weight: 10, verdict: 'breached' }])
  expect(breached[0].canary.errorPercent).toBeGreaterThan(5)
  expect(breached[0].live.errors).toBe(0)
  // Hosts 1 and 3 never failed a request; host 2's only failures are its canary's own 500s, no
  // more than the canary's share of the requests sent while it held (the step and its ending).
  expectNoFailure([stats[0], stats[2]], [addresses[0], addresses[2]])
  expect(stats[1].socketErrors).toBe(0)
  expect(Object.keys(stats[1].non2xx)).toEqual(['500'])
  expect(stats[1].non2xx['500']).toBeGreaterThanOrEqual(breached[0].canary.errors)
  expect(stats[1].non2xx['500']).toBeLessThan(stats[1].sent * 0.1 * 0.3 + 20)
  expect(await servedOn(port)).toEqual(['v1', 'v1', 'v1'])
  for (const n of [1, 2, 3]) expect(await requestLogMap(n)).toBe('')
}, 300_000)

it('a good canary climbs 10 → 25 → 50 on every host together and is promoted everywhere; 0 failed requests', async () => {
  const { run, stats } = await underLoad(() => runAction(inputs({ image: fleetImage('v2'), ...steps })))
  const hosts = hostsOf(run)
  console.log(
    `fleet good canary: sent ${stats.map(s => s.sent).join(', ')}; steps ${JSON.stringify(hosts.map(h => h.canarySteps?.map(s => [s.weight, s.canary, s.live])))}`
  )
  expectSuccess(run)
  expectNoFailure(stats, addresses)
  expect(hosts.map(h => h.result)).toEqual(['deployed', 'deployed', 'deployed'])
  for (const h of hosts) {
    expect(h.canarySteps?.map(s => [s.weight, s.verdict])).toEqual([
      [10, 'passed'],
      [25, 'passed'],
      [50, 'passed']
    ])
    // Judged on each host's own proxy: its counters, and a p95 from its own request ring.
    for (const s of h.canarySteps!) {
      expect(s.canary.requests).toBeGreaterThanOrEqual(20)
      expect(s.canary.p95Ms).toBeGreaterThanOrEqual(0)
      expect(s.canary.p95Of).toBeGreaterThan(0)
    }
  }
  expect(JSON.parse(run.outputs['canary-steps'])).toHaveLength(3)
  expect(run.summary).toContain('**Canary steps**')
  expect(await servedOn(port)).toEqual(['v2', 'v2', 'v2'])
  for (const n of [1, 2, 3]) expect(await requestLogMap(n)).toBe('')
}, 300_000)

import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { get, runAction, type ActionRun } from '../support/action.js'
import { cleanupFleetApp, hostsOf, servedOn, fleetAddresses, fleetImage, fleetInputs, hostFile } from '../support/fleet.js'
import { expectSuccess } from '../support/strategy.js'
import { startLoad, type LoadStats } from '../support/load.js'
import { freePort, REPO, uniqueName } from '../support/testbed.js'

// Several hosts get everything one host has (issue #20), on the bed's three fleet hosts, under load
// on every host's proxy: a release command run once, a canary, a preview, maintenance and a watch
// that fails on one host. Each test builds on the state the previous one left.
const app = uniqueName('fstrat')
const proxy = `${app}-proxy`
const addresses = fleetAddresses()
let port: number

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  // Each host mounts its own copy of the test app (host 2's may differ) and a data directory of its own.
  // Each host's own files under its /root: a host-level path, so the opt-in says the app needs it.
  return fleetInputs(app, port, { volumes: `/root/${app}/app.js:/app/app.js:ro\n/root/${app}/data:/data`, 'allow-host-mounts': 'true', ...overrides })
}

/** What each host's proxy serves now. */
const served = () => servedOn(port)

/** Runs `action` under steady load on every host's proxy; returns its run and each host's counts. */
async function underLoad(action: () => Promise<ActionRun>): Promise<{ run: ActionRun; stats: LoadStats[] }> {
  const loads = addresses.map(a => startLoad(`http://${a}:${port}/`, { connections: 2, keepAlive: true, maxMs: 150000 }))
  await new Promise(r => setTimeout(r, 300))
  const run = await action()
  await new Promise(r => setTimeout(r, 300))
  return { run, stats: await Promise.all(loads.map(l => l.stop())) }
}

function expectNoFailure(stats: LoadStats[]): void {
  for (const [i, s] of stats.entries()) {
    expect({ host: addresses[i], failures: s.sent - s.ok, non2xx: s.non2xx, errors: s.firstErrors }).toEqual({
      host: addresses[i],
      failures: 0,
      non2xx: {},
      errors: []
    })
  }
}

/** The share of `count` sequential requests to host `a` answered by `version`, in percent. */
async function shareOf(a: string, version: string, count: number): Promise<number> {
  let hits = 0
  for (let i = 0; i < count; i++) if ((await get(`http://${a}:${port}/`)).body.trim() === version) hits++
  return (100 * hits) / count
}

beforeAll(async () => {
  port = await freePort()
  for (const n of [1, 2, 3]) copyFileSync(join(REPO, 'scripts/testbed/app/app.js'), join(hostFile(n, app), 'app.js'))
  expectSuccess(await runAction(inputs({ image: fleetImage('v1') })))
  expect(await served()).toEqual(['v1', 'v1', 'v1'])
}, 120_000)

afterAll(async () => {
  await cleanupFleetApp(app, proxy)
})

it('release-command runs exactly once, on one host, before any host starts the new color; 0 failed requests', async () => {
  const { run, stats } = await underLoad(() => runAction(inputs({ image: fleetImage('v2'), 'release-command': '/usr/bin/node /app/app.js migrate' })))
  expectSuccess(run)
  expectNoFailure(stats)
  expect(hostsOf(run).map(h => h.result)).toEqual(['deployed', 'deployed', 'deployed'])
  // Each host's /data is its own: exactly one of them has a migration log, with one line.
  const logs = [1, 2, 3].map(n => join(hostFile(n, app), 'data', 'migrations.log')).filter(f => existsSync(f))
  expect(logs).toHaveLength(1)
  expect(readFileSync(logs[0], 'utf8').trim().split('\n')).toEqual(['v2'])
  // It was done before any host started its new color.
  const lines = run.stdout.split('\n')
  const done = lines.findIndex(l => l.includes('migration done'))
  const started = lines.findIndex(l => l.includes(`Started ${app}-green`))
  expect(done).toBeGreaterThan(-1)
  expect(started).toBeGreaterThan(done)
  expect(await served()).toEqual(['v2', 'v2', 'v2'])
}, 240_000)

it('canary-weight 20 on three hosts: each host splits within 3 points; then mode promote, 0 failed requests', async () => {
  const canary = await underLoad(() => runAction(inputs({ image: fleetImage('v3'), 'canary-weight': '20' })))
  expectSuccess(canary.run)
  expectNoFailure(canary.stats)
  expect(canary.run.outputs.result).toBe('canary')
  expect(hostsOf(canary.run).map(h => h.result)).toEqual(['canary', 'canary', 'canary'])
  for (const a of addresses) {
    const share = await shareOf(a, 'v3', 300)
    console.log(`fleet canary: ${a} sent ${share.toFixed(1)} % to v3 (weight 20)`)
    expect(Math.abs(share - 20)).toBeLessThanOrEqual(3)
  }
  const promote = await underLoad(() => runAction(inputs({ mode: 'promote' })))
  expectSuccess(promote.run)
  expectNoFailure(promote.stats)
  expect(hostsOf(promote.run).map(h => h.result)).toEqual(['deployed', 'deployed', 'deployed'])
  expect(await served()).toEqual(['v3', 'v3', 'v3'])
}, 300_000)

it('promote manual on three hosts waits as a preview; mode promote makes it live everywhere; 0 failed requests', async () => {
  const preview = await underLoad(() => runAction(inputs({ image: fleetImage('v1'), promote: 'manual' })))
  expectSuccess(preview.run)
  expectNoFailure(preview.stats)
  expect(preview.run.outputs.result).toBe('preview')
  expect(await served()).toEqual(['v3', 'v3', 'v3'])
  const promote = await underLoad(() => runAction(inputs({ mode: 'promote' })))
  expectSuccess(promote.run)
  expectNoFailure(promote.stats)
  expect(await served()).toEqual(['v1', 'v1', 'v1'])
}, 300_000)

it('mode maintenance then mode live on three hosts', async () => {
  const on = await runAction(inputs({ mode: 'maintenance' }))
  expectSuccess(on)
  expect(on.outputs.result).toBe('maintenance')
  for (const a of addresses) expect((await get(`http://${a}:${port}/`)).status).toBe(503)
  const off = await runAction(inputs({ mode: 'live' }))
  expectSuccess(off)
  expect(off.outputs.result).toBe('live')
  expect(await served()).toEqual(['v1', 'v1', 'v1'])
}, 120_000)

it('a watch that fails on one host rolls all three back; the live release serves throughout', async () => {
  // Host 2's copy of the app answers 500 to 30 % of requests to /; its health path stays fine.
  const real = readFileSync(join(REPO, 'scripts/testbed/app/app.js'), 'utf8')
  writeFileSync(join(hostFile(2, app), 'app.js'), real.replace("'use strict';\n", "'use strict';\nprocess.env.ERROR_PERCENT = '30';\n"))
  const { run, stats } = await underLoad(() => runAction(inputs({ image: fleetImage('v2'), watch: '8s' })))
  writeFileSync(join(hostFile(2, app), 'app.js'), real)
  expect(run.code).toBe(1)
  const hosts = hostsOf(run)
  expect(hosts.map(h => h.result)).toEqual(['reverted', 'failed', 'reverted'])
  expect(hosts.map(h => h.image)).toEqual([fleetImage('v1'), fleetImage('v1'), fleetImage('v1')])
  expect(hosts[0].error).toMatch(new RegExp(`the watch failed on root@${addresses[1]}:22 .*every host rolls back`))
  expect(hosts[1].error).toMatch(/^watch: .* were 5xx/)
  // Hosts 1 and 3 never answered with an error; host 2's only errors are its own new release's 500s.
  expectNoFailure([stats[0], stats[2]])
  expect(stats[1].socketErrors).toBe(0)
  expect(Object.keys(stats[1].non2xx).filter(s => s !== '500')).toEqual([])
  expect(await served()).toEqual(['v1', 'v1', 'v1'])
}, 240_000)

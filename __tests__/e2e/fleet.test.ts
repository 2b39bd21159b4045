import { execFileSync } from 'node:child_process'
import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runAction, startAction, untilOutput } from '../support/action.js'
import { cleanupFleetApp, hostsOf, servedOn, fleetAddresses, fleetDocker, fleetImage, fleetInputs, fleetSshdPid, hostFile } from '../support/fleet.js'
import { expectSuccess } from '../support/strategy.js'
import { opensslCert } from '../support/certs.js'
import { startLoad } from '../support/load.js'
import { freePort, REPO, uniqueName } from '../support/testbed.js'

// Several hosts in one run (issue #13), on the test bed's three fleet hosts (scripts/testbed/hosts.sh):
// each its own network namespace, dockerd, sshd and files. Each test builds on the state the previous left.
const app = uniqueName('fleet')
const proxy = `${app}-proxy`
const addresses = fleetAddresses()
let port: number

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return fleetInputs(app, port, overrides)
}

/** What each host's proxy serves now. */
const served = () => servedOn(port)

async function containersOf(n: number): Promise<string[]> {
  const list = await fleetDocker(n).listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })
  return list.map(c => `${c.Names[0].slice(1)} ${c.State}`).sort()
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  await cleanupFleetApp(app, proxy)
})

it('atomic: three hosts switch together under load, 0 failed requests, one release id, spread under 1 s', async () => {
  const first = await runAction(inputs({ image: fleetImage('v1') }))
  expectSuccess(first)
  expect(hostsOf(first).map(h => h.result)).toEqual(['deployed', 'deployed', 'deployed'])
  expect(await served()).toEqual(['v1', 'v1', 'v1'])

  const loads = addresses.map(a => startLoad(`http://${a}:${port}/`, { connections: 2, keepAlive: true, maxMs: 90000 }))
  await new Promise(r => setTimeout(r, 300))
  const run = await runAction(inputs({ image: fleetImage('v2') }))
  await new Promise(r => setTimeout(r, 300))
  const stats = await Promise.all(loads.map(l => l.stop()))
  expectSuccess(run)

  const hosts = hostsOf(run)
  expect(hosts.map(h => [h.host, h.result, h.image])).toEqual(addresses.map(a => [`root@${a}:22`, 'deployed', fleetImage('v2')]))
  expect(new Set(hosts.map(h => h.release)).size).toBe(1)
  for (const [i, s] of stats.entries()) {
    expect({ host: addresses[i], failures: s.sent - s.ok, errors: s.firstErrors }).toEqual({ host: addresses[i], failures: 0, errors: [] })
    expect(s.bodies.v1).toBeGreaterThan(0)
    expect(s.bodies.v2).toBeGreaterThan(0)
  }
  const spread = Number(/switched within (\d+) ms of each other/.exec(run.stdout)?.[1])
  console.log(`fleet atomic: switch spread ${spread} ms; requests per host ${stats.map(s => s.sent).join(', ')}`)
  expect(spread).toBeLessThan(1000)
  expect(run.summary).toContain('| root@10.231.0.12:22 | ✅ deployed |')
  expect(await served()).toEqual(['v2', 'v2', 'v2'])
}, 180_000)

it('one host whose image is broken: no host switches, every new color is removed', async () => {
  // Host 2 alone gets an app.js that answers 500 on every path; hosts 1 and 3 the real one (same image, same inputs).
  for (const n of [1, 3]) copyFileSync(join(REPO, 'scripts/testbed/app/app.js'), join(hostFile(n, app), 'app.js'))
  writeFileSync(
    join(hostFile(2, app), 'app.js'),
    "require('http').createServer((q, s) => { s.statusCode = 500; s.end('broken') }).listen(process.env.PORT || 3000)\n"
  )
  const before = await Promise.all([1, 2, 3].map(containersOf))
  const run = await runAction(
    inputs({ image: fleetImage('v3'), volumes: `/root/${app}/app.js:/app/app.js:ro`, 'allow-host-mounts': 'true', 'health-timeout': '6s' })
  )
  expect(run.code).toBe(1)
  expect(run.outputs.result).toBe('failed')
  expect(hostsOf(run).map(h => h.result)).toEqual(['cancelled', 'failed', 'cancelled'])
  expect(hostsOf(run)[1].error).toContain('did not become healthy')
  expect(run.errors.join('\n')).toContain(`root@${addresses[1]}:22: ${app}-blue (${fleetImage('v3')}) did not become healthy`)
  expect(await served()).toEqual(['v2', 'v2', 'v2'])
  expect(await Promise.all([1, 2, 3].map(containersOf))).toEqual(before)
}, 120_000)

it('a host whose connection is lost mid-run: nothing switches on the others, and the next run converges', async () => {
  const before = await Promise.all([1, 2].map(containersOf))
  const started = startAction(inputs({ image: fleetImage('v3') }))
  // Host 3's engine has started its new color; cut its SSH connection (sshd's session processes; the listener stays).
  await untilOutput(started, `[root@${addresses[2]}:22] Started ${app}-blue`, 60_000)
  execFileSync('pkill', ['-KILL', '-P', String(fleetSshdPid(3))])
  const run = await started.done
  expect(run.code).toBe(1)
  const hosts = hostsOf(run)
  expect(hosts.map(h => h.result)).toEqual(['cancelled', 'cancelled', 'failed'])
  expect(hosts[2].error).toContain(`The SSH connection to root@${addresses[2]}:22 was lost`)
  expect(await served()).toEqual(['v2', 'v2', 'v2'])
  expect(await Promise.all([1, 2].map(containersOf))).toEqual(before)

  const again = await runAction(inputs({ image: fleetImage('v3') }))
  expectSuccess(again)
  expect(await served()).toEqual(['v3', 'v3', 'v3'])
}, 180_000)

it('rolling, batch-size 1: host by host, each gated before the next', async () => {
  const run = await runAction(inputs({ image: fleetImage('v1'), rollout: 'rolling', 'batch-size': '1' }))
  expectSuccess(run)
  expect(hostsOf(run).map(h => h.result)).toEqual(['deployed', 'deployed', 'deployed'])
  const lines = run.stdout.split('\n')
  const at = (text: string) => lines.findIndex(l => l.includes(text))
  // Batch 2 starts only after host 1 verified; batch 3 after host 2.
  for (let i = 0; i < 2; i++) {
    expect(at(`[root@${addresses[i]}:22] ▸ Verifying through the proxy`)).toBeGreaterThan(0)
    expect(at(`Batch ${i + 2} of 3`)).toBeGreaterThan(at(`[root@${addresses[i]}:22] ▸ Verifying through the proxy`))
    expect(at(`[root@${addresses[i + 1]}:22] ▸ Reading the state`)).toBeGreaterThan(at(`Batch ${i + 2} of 3`))
  }
  expect(await served()).toEqual(['v1', 'v1', 'v1'])

  const status = await runAction(inputs({ mode: 'status' }))
  expectSuccess(status)
  expect(status.outputs.drift).toBe('false')
}, 180_000)

it("tls custom on several hosts: the job summary lists each host's certificate", async () => {
  const domain = `${app}.example.test`
  const { cert, key } = opensslCert([domain])
  const run = await runAction(
    inputs({ image: fleetImage('v2'), domains: domain, tls: 'custom', 'tls-certificate': cert, 'tls-key': key, 'https-port': String(await freePort()) })
  )
  expectSuccess(run)
  expect(run.summary).toContain('| host | domain | issuer | expires | |')
  for (const a of addresses)
    expect(run.summary).toMatch(new RegExp(`\\| root@${a.replace(/\./g, '\\.')}:22 \\| ${domain} \\| CN=${domain} \\| 20\\d\\d-.* \\| \\d+ days left \\|`))
}, 180_000)

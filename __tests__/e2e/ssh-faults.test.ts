import { readFileSync } from 'node:fs'
import type { HostOutcome } from '../../src/core/outcome.js'
import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { cleanupFleetApp, fleetAddresses, fleetBed, fleetDocker, fleetImage, fleetInputs } from '../support/fleet.js'
import { startTarpit, type Tarpit } from '../support/tarpit.js'
import { cleanupApp, freePort, testbed, uniqueName } from '../support/testbed.js'

// Issue #27: every SSH failure is an error with a summary, nothing unhandled. The host that never
// speaks SSH is a net.Server started here (accepts, never writes), closed after each test.
const bed = testbed()
/** Some ed25519 key for the tarpit's known_hosts line: the tarpit never gets as far as showing one. */
const ANY_ED25519 = bed.CUTOVER_TEST_KNOWN_HOSTS.split(' ').slice(1).join(' ')

function hostsOf(run: ActionRun): HostOutcome[] {
  return JSON.parse(run.outputs.hosts) as HostOutcome[]
}

/** The connect step's time as the run's own timeline counted it (the summary's step table). */
function connectStepMs(run: ActionRun): number {
  const m = /\| (?:❌ )?Connect \(SSH\) \| ([\d.]+) (ms|s) \|/.exec(run.summary)
  if (!m) throw new Error(`no connect step in the summary:\n${run.summary}`)
  return m[2] === 's' ? Number(m[1]) * 1000 : Number(m[1])
}

function expectNoCrash(run: ActionRun): void {
  expect(run.stderr).not.toContain('Unhandled')
  expect(run.stderr).not.toMatch(/^\s+at /m)
}

describe('one host that accepts TCP and never speaks SSH', () => {
  let tarpit: Tarpit
  beforeEach(async () => {
    tarpit = await startTarpit()
  })
  afterEach(async () => {
    await tarpit.close()
  })

  it('fails within connect-timeout naming the host and what to check; outputs and summary written, no crash', async () => {
    const app = uniqueName('tarpit')
    const port = await freePort()
    const host = `root@127.0.0.1:${tarpit.port}`
    const run = await runAction(
      bedInputs(app, port, {
        image: `${bed.CUTOVER_TEST_IMAGE_PREFIX}:v1`,
        port: String(tarpit.port),
        'known-hosts': `[127.0.0.1]:${tarpit.port} ${ANY_ED25519}`,
        'connect-timeout': '3s'
      })
    )
    expectNoCrash(run)
    expect(tarpit.accepted).toBe(1)
    expect(run.code).toBe(1)
    const error = `SSH connection to ${host} failed: the host accepted the TCP connection but no SSH handshake completed within 3000 ms (connect-timeout)`
    expect(run.errors.join('\n')).toContain(error)
    expect(run.errors.join('\n')).toContain(`Check that an SSH server listens on port ${tarpit.port} of 127.0.0.1`)
    expect(run.outputs.result).toBe('failed')
    expect(hostsOf(run)).toEqual([{ host, result: 'failed', error: expect.stringContaining(error) }])
    expect(run.summary).toContain(`## ❌ Failed \`${app}\` on 127.0.0.1`)
    expect(run.summary).toContain(error)
    // the step ends at connect-timeout, counted by the run itself (not by when the process ended)
    expect(connectStepMs(run)).toBeGreaterThanOrEqual(3000)
    expect(connectStepMs(run)).toBeLessThan(3000 + 2000)
  })
})

describe('an SSH server that offers no host key of the pinned type', () => {
  it('fails naming the host, the pinned type and how to get the key it has', async () => {
    const app = uniqueName('keytype')
    const port = await freePort()
    // The bed's sshd has an ed25519 host key only; pin an RSA key (any: it is never offered).
    const rsa = readFileSync(bed.CUTOVER_TEST_RSA_KEY + '.pub', 'utf8')
      .trim()
      .split(' ')
      .slice(0, 2)
      .join(' ')
    try {
      const run = await runAction(
        bedInputs(app, port, { image: `${bed.CUTOVER_TEST_IMAGE_PREFIX}:v1`, 'known-hosts': `[127.0.0.1]:${bed.CUTOVER_TEST_SSH_PORT} ${rsa}` })
      )
      expectNoCrash(run)
      expect(run.code).toBe(1)
      expect(run.outputs.result).toBe('failed')
      const error = run.errors.join('\n')
      expect(error).toContain(
        `SSH connection to root@127.0.0.1:${bed.CUTOVER_TEST_SSH_PORT} failed: the server offered no host key of the pinned type (ssh-rsa)`
      )
      expect(error).toContain(`Pin the key it has: ssh-keyscan -p ${bed.CUTOVER_TEST_SSH_PORT} 127.0.0.1`)
      expect(run.summary).toContain('the server offered no host key of the pinned type (ssh-rsa)')
    } finally {
      await cleanupApp(app, `${app}-proxy`)
    }
  })
})

describe('three hosts, one of them a tarpit', () => {
  const app = uniqueName('fl-tarpit')
  const proxy = `${app}-proxy`
  const [h1, h2] = fleetAddresses()
  const knownHosts = fleetBed().CUTOVER_TEST_HOSTS_KNOWN_HOSTS.split('\n').slice(0, 2).join('\n')
  let port: number
  let tarpit: Tarpit

  beforeAll(async () => {
    port = await freePort()
    tarpit = await startTarpit()
  })
  afterAll(async () => {
    await tarpit.close()
    await cleanupFleetApp(app, proxy)
  })

  async function containersOf(n: number): Promise<string[]> {
    const list = await fleetDocker(n).listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })
    return list.map(c => `${c.Names[0].slice(1)} ${c.State} ${c.Id}`).sort()
  }

  it('nothing changes on any host; the hosts output lists all three with their result; summary and error name the tarpit', async () => {
    const first = await runAction(fleetInputs(app, port, { host: `${h1}\n${h2}`, 'known-hosts': knownHosts, image: fleetImage('v1') }))
    if (first.code !== 0) throw new Error(`the 2-host deploy failed:\n${first.stdout}\n${first.stderr}`)
    const before = await Promise.all([1, 2].map(containersOf))

    const run = await runAction(
      fleetInputs(app, port, {
        host: `${h1}\n${h2}\n127.0.0.1:${tarpit.port}`,
        'known-hosts': `${knownHosts}\n[127.0.0.1]:${tarpit.port} ${ANY_ED25519}`,
        'connect-timeout': '3s',
        image: fleetImage('v2')
      })
    )
    expectNoCrash(run)
    expect(run.code).toBe(1)
    expect(run.outputs.result).toBe('failed')
    const tarpitHost = `root@127.0.0.1:${tarpit.port}`
    expect(hostsOf(run).map(h => [h.host, h.result])).toEqual([
      [`root@${h1}:22`, 'skipped'],
      [`root@${h2}:22`, 'skipped'],
      [tarpitHost, 'failed']
    ])
    expect(hostsOf(run)[2].error).toContain(`SSH connection to ${tarpitHost} failed: the host accepted the TCP connection but no SSH handshake completed`)
    expect(run.errors.join('\n')).toContain(`Could not connect to 1 of 3 hosts, so nothing was changed on any: ${tarpitHost}: SSH connection`)
    expect(run.summary).toContain(`| ${tarpitHost} | ❌ failed |`)
    expect(run.summary).toContain(`| root@${h1}:22 | ⏭️ not started |`)
    expect(connectStepMs(run)).toBeLessThan(3000 + 2000)

    expect(await Promise.all([1, 2].map(containersOf))).toEqual(before)
    for (const a of [h1, h2]) expect((await get(`http://${a}:${port}/`)).body.trim()).toBe('v1')
  }, 120_000)
})

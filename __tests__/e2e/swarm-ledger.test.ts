import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { get, runAction, type ActionRun } from '../support/action.js'
import { fleetHome, fleetImage } from '../support/fleet.js'
import { expectSuccess } from '../support/strategy.js'
import { cleanupSwarmApp, swarmManager, swarmInputs, swarmNodes } from '../support/swarm.js'
import { freePort, ledgerDir, uniqueName } from '../support/testbed.js'

// The release ledger of target: swarm (issue #27 on a swarm): the manager's own containers are not
// what went live, the app's services across the nodes are. A first deploy that failed leaves its
// proxy service (whose task runs on the manager too), and that is no release: the next deploy goes
// ahead. A ledger missing while the app's colors run, their tasks kept off the manager, stops the
// run; mode status with rebuild-ledger rebuilds it from the services' labels and the proxy's route.
// Each test builds on the state the previous one left.
const app = uniqueName('swldg')
const nodes = swarmNodes()
const ledger = () => join(ledgerDir(app, fleetHome(1)), 'releases.json')
let port = 0
/** The ledger as it was before the second test removed it. */
let lost = ''

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  // The colors' tasks on the two other nodes: nothing of a color runs on the manager.
  return swarmInputs(app, port, { 'swarm-constraints': 'node.role!=manager', ...overrides })
}

/** What each node's port of the app answers. */
async function served(): Promise<string[]> {
  return Promise.all(nodes.map(async n => (await get(`http://${n}:${port}/`)).body.trim()))
}

async function services(): Promise<string[]> {
  const list = await swarmManager().listServices({ filters: { label: [`cutover.app=${app}`] } })
  return list.map(s => `${s.Spec?.Name} ${s.Spec?.Labels?.['cutover.image'] ?? ''}`.trim()).sort()
}

function expectRefused(run: ActionRun, text: string): void {
  expect({ code: run.code, refused: run.errors.join('\n').includes(text) }).toEqual({ code: 1, refused: true })
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  await cleanupSwarmApp(app)
})

it('a first deploy that fails its gate leaves its proxy service and no release; with no ledger at all, the next first deploy goes ahead', async () => {
  const failed = await runAction(inputs({ image: fleetImage('v1'), env: 'BOOT_DELAY_MS=300\nMODE=unhealthy', 'health-timeout': '8s' }))
  expect(failed.code).toBe(1)
  expect(JSON.parse(readFileSync(ledger(), 'utf8')).releases).toEqual([])
  // As a failed first deploy of an earlier version left it (no ledger): the proxy service is no release.
  rmSync(ledger())
  // The proxy service stays (the next deploy reuses it), its task on the manager labelled as the app's.
  expect(await services()).toEqual([`${app}-proxy`])
  const first = await runAction(inputs({ image: fleetImage('v1') }))
  expectSuccess(first)
  expect([first.outputs.result, first.outputs.color]).toEqual(['deployed', 'blue'])
  expect(await served()).toEqual(['v1', 'v1', 'v1'])
}, 300_000)

it('a ledger missing while both colors run stops the deploy and the rollback, naming the services; nothing changes', async () => {
  expectSuccess(await runAction(inputs({ image: fleetImage('v2') })))
  expect(await served()).toEqual(['v2', 'v2', 'v2'])
  const before = await services()
  const kept = readFileSync(ledger(), 'utf8')
  rmSync(ledger())
  try {
    const deploy = await runAction(inputs({ image: fleetImage('v3') }))
    expectRefused(deploy, `The release ledger ~/.cutover/apps/${app}/releases.json is missing on the host, but cutover's services for ${app} exist`)
    expect(deploy.errors.join('\n')).toContain(`${app}-blue (`)
    expect(deploy.errors.join('\n')).toContain(`${app}-green (`)
    expectRefused(await runAction(inputs({ mode: 'rollback' })), 'is missing on the host')
    expect(existsSync(ledger())).toBe(false)
    expect(await services()).toEqual(before)
    expect(await served()).toEqual(['v2', 'v2', 'v2'])
  } finally {
    lost = kept
  }
}, 300_000)

it('mode status with rebuild-ledger rebuilds it from the services and the route; rollback goes to the previous release', async () => {
  const before = JSON.parse(lost) as { releases: { id: string; image: string; color: string }[] }
  const rebuilt = await runAction(inputs({ mode: 'status', 'rebuild-ledger': 'true' }))
  expectSuccess(rebuilt)
  expect(rebuilt.stdout).toContain(`Rebuilt the release ledger of ${app}: live green ${fleetImage('v2')} (release ${before.releases[0].id})`)
  expect(rebuilt.stdout).toContain(`previous: blue ${fleetImage('v1')}`)
  const record = JSON.parse(readFileSync(ledger(), 'utf8')) as { releases: { image: string; color: string; replicas?: number }[] }
  expect(record.releases.map(r => [r.color, r.image, r.replicas])).toEqual([
    ['green', fleetImage('v2'), 2],
    ['blue', fleetImage('v1'), 2]
  ])
  const back = await runAction(inputs({ mode: 'rollback' }))
  expectSuccess(back)
  expect(back.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: fleetImage('v1') })
  expect(await served()).toEqual(['v1', 'v1', 'v1'])
}, 300_000)

import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { get, runAction } from '../support/action.js'
import { fleetImage } from '../support/fleet.js'
import { expectSuccess } from '../support/strategy.js'
import { cleanupSwarmApp, swarmManager, swarmInputs, swarmNodes } from '../support/swarm.js'
import { freePort, uniqueName } from '../support/testbed.js'

// swarm-secrets (issue #26) on the test bed's 3-node swarm: the variables it names reach the tasks as
// Swarm secrets of their release (a file, <NAME>_FILE its path), never as environment values; a
// rollback gets its release's own; a secret goes once no service of the app uses it.
const app = uniqueName('swsec')
const nodes = swarmNodes()
const token = (n: string) => `token-${n}-${randomBytes(6).toString('hex')}`
const tokens = { one: token('one'), two: token('two'), three: token('three') }
let port: number

function inputs(tag: string, secret: string, overrides: Record<string, string> = {}): Record<string, string> {
  return swarmInputs(app, port, {
    image: fleetImage(tag),
    env: `BOOT_DELAY_MS=300\nAPI_TOKEN=${secret}`,
    'swarm-secrets': 'API_TOKEN',
    ...overrides
  })
}

interface RawTask {
  NodeID: string
  DesiredState: string
  Status: { State: string; ContainerStatus?: { ContainerID?: string } }
}

/** What a running task of the color's service sees: its secret file and its API_TOKEN / API_TOKEN_FILE variables. */
async function seenBy(color: string): Promise<{ file: string; env: string }> {
  const docker = swarmManager()
  const [tasks, nodeList] = await Promise.all([docker.listTasks({ filters: { service: [`${app}-${color}`] } }), docker.listNodes()])
  const task = (tasks as RawTask[]).find(t => t.DesiredState === 'running' && t.Status.State === 'running' && t.Status.ContainerStatus?.ContainerID)
  if (!task) throw new Error(`no running task of ${app}-${color}`)
  const addr = (nodeList.find(n => n.ID === task.NodeID)?.Status as { Addr: string }).Addr
  const socket = `/run/cutover-test-h${nodes.indexOf(addr) + 1}/docker.sock`
  const exec = (script: string) =>
    execFileSync('docker', ['-H', `unix://${socket}`, 'exec', task.Status.ContainerStatus!.ContainerID!, '/usr/bin/node', '-e', script], {
      timeout: 30_000
    }).toString()
  return {
    file: exec("process.stdout.write(require('fs').readFileSync('/run/secrets/API_TOKEN', 'utf8'))"),
    env: exec("process.stdout.write(`${process.env.API_TOKEN_FILE}|${process.env.API_TOKEN ?? 'unset'}`)")
  }
}

async function secretReleases(): Promise<string[]> {
  const secrets = (await swarmManager().listSecrets({ filters: { label: [`cutover.app=${app}`] } })) as { Spec: { Labels: Record<string, string> } }[]
  return secrets.map(s => s.Spec.Labels['cutover.release']).sort()
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(() => cleanupSwarmApp(app))

it('a first deploy: the token reaches the tasks as a file of a Swarm secret, never as an environment value, and not in the log', async () => {
  const run = await runAction(inputs('v1', tokens.one))
  expectSuccess(run)
  expect(run.outputs.color).toBe('blue')
  expect(await seenBy('blue')).toEqual({ file: tokens.one, env: '/run/secrets/API_TOKEN|unset' })
  const spec = await swarmManager().getService(`${app}-blue`).inspect()
  expect(JSON.stringify(spec)).not.toContain(tokens.one)
  // (the runner is handed every env value to mask, in ::add-mask:: lines: nothing else may carry it)
  expect(run.stdout.split('\n').filter(l => l.includes(tokens.one) && !l.startsWith('::add-mask::'))).toEqual([])
  expect(run.stdout).toContain('Created 1 Swarm secret(s) of release')
  expect(await secretReleases()).toHaveLength(1)
}, 240_000)

it("a new release gets its own secret; the standby keeps its own; a rollback serves with the previous release's", async () => {
  const second = await runAction(inputs('v2', tokens.two))
  expectSuccess(second)
  expect(second.outputs.color).toBe('green')
  expect(await seenBy('green')).toEqual({ file: tokens.two, env: '/run/secrets/API_TOKEN|unset' })
  expect(await seenBy('blue')).toEqual({ file: tokens.one, env: '/run/secrets/API_TOKEN|unset' })
  expect(await secretReleases()).toHaveLength(2)
  const back = await runAction(inputs('v2', tokens.two, { mode: 'rollback' }))
  expectSuccess(back)
  expect([back.outputs.result, back.outputs.color]).toEqual(['rolled-back', 'blue'])
  expect((await get(`http://${nodes[1]}:${port}/`)).body.trim()).toBe('v1')
  expect(await seenBy('blue')).toEqual({ file: tokens.one, env: '/run/secrets/API_TOKEN|unset' })
}, 240_000)

it("a deploy that replaces a color's release removes that release's secret once no service uses it", async () => {
  const replaced = (await swarmManager().getService(`${app}-green`).inspect()).Spec.Labels['cutover.release']
  expect(await secretReleases()).toContain(replaced)
  const run = await runAction(inputs('v3', tokens.three))
  expectSuccess(run)
  expect(run.outputs.color).toBe('green')
  expect(await seenBy('green')).toEqual({ file: tokens.three, env: '/run/secrets/API_TOKEN|unset' })
  const after = await secretReleases()
  // blue's (the standby's) stays, green's previous one went, the new one is there.
  expect(after).not.toContain(replaced)
  const blueRelease = (await swarmManager().getService(`${app}-blue`).inspect()).Spec.Labels['cutover.release']
  const greenRelease = (await swarmManager().getService(`${app}-green`).inspect()).Spec.Labels['cutover.release']
  expect(after).toEqual([blueRelease, greenRelease].sort())
  expect(run.stdout).toMatch(/Removed 1 Swarm secret\(s\) no service of .* uses/)
  expect((await get(`http://${nodes[2]}:${port}/`)).body.trim()).toBe('v3')
}, 240_000)

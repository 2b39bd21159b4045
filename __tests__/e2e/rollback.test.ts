import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

const docker = localDocker()

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

/** Sets up an app with v1 then v2 deployed, each test its own app, proxy and port. */
async function appWithTwoVersions(name: string, overrides: Record<string, string> = {}) {
  const app = uniqueName(name)
  const port = await freePort()
  const inputs = (more: Record<string, string> = {}) => bedInputs(app, port, { ...overrides, ...more })
  expectSuccess(await runAction(inputs({ image: image('v1') })))
  const v2 = await runAction(inputs({ image: image('v2') }))
  expectSuccess(v2)
  const served = async () => (await get(`http://127.0.0.1:${port}/`)).body.trim()
  expect(await served()).toBe('v2')
  return { app, port, inputs, served, cleanup: () => cleanupApp(app, `${app}-proxy`) }
}

async function containerState(name: string): Promise<string> {
  try {
    return (await docker.getContainer(name).inspect()).State.Status
  } catch {
    return 'gone'
  }
}

describe('rollback', () => {
  it('flips back to the running previous color in about a second, and a second rollback flips forward', async () => {
    const t = await appWithTwoVersions('rb-warm')
    try {
      const rollback = await runAction(t.inputs({ mode: 'rollback' }))
      expectSuccess(rollback)
      expect(await t.served()).toBe('v1')
      // Wall time from process start to v1 serving (the process ends right after verifying it).
      console.log(`warm rollback: ${rollback.ms} ms from process start to v1 serving (outputs say ${rollback.outputs['duration-seconds']} s)`)
      expect(rollback.outputs).toMatchObject({
        result: 'rolled-back',
        color: 'blue',
        image: image('v1'),
        'previous-color': 'green',
        'previous-image': image('v2'),
        'standby-state': 'running'
      })
      // No pull and no new container: the standby was reused as it was.
      expect(rollback.stdout).not.toContain('::group::Pulling')
      expect(rollback.stdout).toContain('the previous version is still running')
      expect(rollback.summary).toContain('Rolled back')
      expect(rollback.summary).toMatch(/\| \*\*Live\*\* \| blue \| `[^`]*:v1`/)

      const forward = await runAction(t.inputs({ mode: 'rollback' }))
      expectSuccess(forward)
      expect(forward.outputs).toMatchObject({ result: 'rolled-back', color: 'green', image: image('v2'), 'previous-image': image('v1') })
      expect(await t.served()).toBe('v2')
    } finally {
      await t.cleanup()
    }
  })

  it('starts the previous color again when keep-previous stopped it, then switches', async () => {
    const t = await appWithTwoVersions('rb-stopped', { 'keep-previous': 'stopped', 'drain-timeout': '1s' })
    try {
      expect(await containerState(`${t.app}-blue`)).toBe('exited')
      const rollback = await runAction(t.inputs({ mode: 'rollback' }))
      expectSuccess(rollback)
      expect(rollback.stdout).toContain('Started the stopped standby')
      expect(await t.served()).toBe('v1')
      expect(rollback.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: image('v1'), 'standby-state': 'stopped' })
      // The color rolled back from was drained, then stopped as keep-previous asks.
      expect(await containerState(`${t.app}-green`)).toBe('exited')
    } finally {
      await t.cleanup()
    }
  })

  it('starts the previous image again when keep-previous removed its container', async () => {
    const t = await appWithTwoVersions('rb-removed', { 'keep-previous': 'removed', 'drain-timeout': '1s' })
    try {
      expect(await containerState(`${t.app}-blue`)).toBe('gone')
      const rollback = await runAction(t.inputs({ mode: 'rollback' }))
      expectSuccess(rollback)
      expect(rollback.stdout).toContain('the previous container is gone, so its image is started again')
      expect(await t.served()).toBe('v1')
      expect(rollback.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: image('v1'), 'standby-state': 'removed' })
      expect(await containerState(`${t.app}-green`)).toBe('gone')
    } finally {
      await t.cleanup()
    }
  })

  it('rolls back to a given image with to-image', async () => {
    const t = await appWithTwoVersions('rb-to')
    try {
      const rollback = await runAction(t.inputs({ mode: 'rollback', 'to-image': image('v3') }))
      expectSuccess(rollback)
      expect(rollback.outputs).toMatchObject({ result: 'rolled-back', image: image('v3'), 'previous-image': image('v2') })
      expect(await t.served()).toBe('v3')
    } finally {
      await t.cleanup()
    }
  })

  it('refuses with a clear reason when there is nothing to roll back to, and changes nothing', async () => {
    const app = uniqueName('rb-none')
    const port = await freePort()
    try {
      const empty = await runAction(bedInputs(app, port, { mode: 'rollback' }))
      expect(empty.code).toBe(1)
      expect(empty.errors.join('\n')).toContain(`Cannot roll back ${app}: nothing has been deployed on this host yet`)
      expectSuccess(await runAction(bedInputs(app, port, { image: image('v1') })))
      const single = await runAction(bedInputs(app, port, { mode: 'rollback' }))
      expect(single.code).toBe(1)
      expect(single.errors.join('\n')).toContain('only one version')
      expect(single.outputs).toMatchObject({ result: 'failed', color: 'blue', image: image('v1') })
      expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v1')
    } finally {
      await cleanupApp(app, `${app}-proxy`)
    }
  })

  it('status reports live and standby without changing anything, with outputs and a summary', async () => {
    const t = await appWithTwoVersions('rb-status')
    try {
      const before = await docker.listContainers({ all: true, filters: { label: [`cutover.app=${t.app}`] } })
      const status = await runAction(t.inputs({ mode: 'status' }))
      expectSuccess(status)
      expect(status.outputs).toMatchObject({
        result: 'unchanged',
        color: 'green',
        image: image('v2'),
        'previous-color': 'blue',
        'previous-image': image('v1'),
        'standby-state': 'running'
      })
      expect(status.outputs['container-id']).toMatch(/^[0-9a-f]{64}$/)
      expect(status.summary).toContain('Status of')
      expect(status.summary).toContain('Standby')
      // What answers through the proxy, asked through it
      expect(status.summary).toMatch(new RegExp(`✅ Served: green \\(${image('v2').replace(/[.]/g, '\\.')}\\) answered through the proxy in \\d+ ms`))
      // No lock, no change.
      expect(status.stdout).not.toContain('deploy lock')
      const after = await docker.listContainers({ all: true, filters: { label: [`cutover.app=${t.app}`] } })
      expect(after.map(c => `${c.Id} ${c.State}`).sort()).toEqual(before.map(c => `${c.Id} ${c.State}`).sort())
    } finally {
      await t.cleanup()
    }
  })
})

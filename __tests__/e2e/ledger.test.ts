import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { cleanupApp, freePort, image, ledgerDir, localDocker, uniqueName } from '../support/testbed.js'

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

async function serving(port: number): Promise<string> {
  return (await get(`http://127.0.0.1:${port}/`)).body.trim()
}

describe('the release ledger on the host', () => {
  const app = uniqueName('ledger')
  const file = join(ledgerDir(app), 'releases.json')
  let port: number
  const run = (more: Record<string, string>, env: Record<string, string> = {}) =>
    runAction(bedInputs(app, port, more), { GITHUB_REPOSITORY: 'acme/web', GITHUB_RUN_ID: '77', GITHUB_ACTOR: 'alice', GITHUB_SHA: 'c0ffee1234567890', ...env })

  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, `${app}-proxy`)
  })

  it('records every release with its image digest, color, time and author; status shows them as a table', async () => {
    for (const tag of ['v1', 'v2', 'v3']) expectSuccess(await run({ image: image(tag) }))
    const record = JSON.parse(readFileSync(file, 'utf8'))
    expect(record.app).toBe(app)
    expect(record.pending).toBeUndefined()
    expect(record.releases.map((r: { image: string; color: string }) => [r.image, r.color])).toEqual([
      [image('v3'), 'blue'],
      [image('v2'), 'green'],
      [image('v1'), 'blue']
    ])
    expect(record.releases[0].digest).toMatch(/^127\.0\.0\.1:5000\/cutover-test\/app@sha256:[0-9a-f]{64}$/)
    expect(record.releases[0].by).toMatchObject({ actor: 'alice', commit: 'c0ffee1234567890', repository: 'acme/web' })
    // the file is private to the SSH user
    const { statSync } = await import('node:fs')
    expect(statSync(file).mode & 0o077).toBe(0)

    const status = await run({ mode: 'status' })
    expectSuccess(status)
    expect(status.summary).toContain('Releases recorded on the host (newest first)')
    expect(status.summary).toMatch(new RegExp(`\\| live \\| blue \\| \`${image('v3').replace(/[.]/g, '\\.')}\` \\|`))
    expect(status.summary).toMatch(/\| 2 \| blue \| `[^`]*:v1` \|/)
  })

  it('to-release 2 rolls back two releases, starting that image again', async () => {
    const rollback = await run({ mode: 'rollback', 'to-release': '2' })
    expectSuccess(rollback)
    expect(rollback.outputs).toMatchObject({ result: 'rolled-back', image: image('v1'), color: 'green', 'previous-image': image('v3') })
    expect(await serving(port)).toBe('v1')
    const record = JSON.parse(readFileSync(file, 'utf8'))
    expect(record.releases[0]).toMatchObject({ image: image('v1'), kind: 'rollback' })
    // and a plain rollback goes back to v3, still running as the standby
    expectSuccess(await run({ mode: 'rollback' }))
    expect(await serving(port)).toBe('v3')
  })

  it('a damaged ledger stops the run with a clear error before anything changes', async () => {
    const good = readFileSync(file, 'utf8')
    const before = (await localDocker().listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })).map(c => c.Id).sort()
    writeFileSync(file, good.slice(0, good.length / 2))
    try {
      const deploy = await run({ image: image('v2') })
      expect(deploy.code).toBe(1)
      expect(deploy.outputs.result).toBe('failed')
      expect(deploy.errors.join('\n')).toMatch(/The release ledger ~\/\.cutover\/apps\/\S+\/releases\.json on the host is damaged: it is not valid JSON/)
      expect(await serving(port)).toBe('v3')
      const after = (await localDocker().listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })).map(c => c.Id).sort()
      expect(after).toEqual(before)
    } finally {
      writeFileSync(file, good)
    }
  })

  it('survives the proxy containers and their volumes being removed: the next run routes from the ledger', async () => {
    const docker = localDocker()
    // HAProxy's one container, or nginx's two tiers: whichever this proxy has
    let removed = 0
    for (const name of [`${app}-proxy`, `${app}-proxy-switch`]) {
      const gone = await docker
        .getContainer(name)
        .remove({ force: true })
        .then(() => docker.getVolume(`${name}-conf`).remove())
        .then(
          () => true,
          () => false
        )
      if (gone) removed++
    }
    expect(removed).toBeGreaterThan(0)
    expect(await serving(port)).toBe('')
    // the same image again: nothing to start, the route comes back from the ledger
    const again = await run({ image: image('v3') })
    expectSuccess(again)
    expect(again.outputs.result).toBe('unchanged')
    expect(await serving(port)).toBe('v3')
    // and the rollback target is still known
    expectSuccess(await run({ mode: 'rollback' }))
    expect(await serving(port)).toBe('v1')
    expect(existsSync(file)).toBe(true)
  })
})

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { bedInputs, get, runAction, startAction, untilOutput, type ActionRun } from '../support/action.js'
import { cleanupApp, freePort, image, ledgerDir, localDocker, testbed, uniqueName } from '../support/testbed.js'

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

  it('leaves no lock holder file behind (the app lock and the proxy lock)', async () => {
    const locks = join(homedir(), '.cutover', 'locks')
    const left = () => [`${app}.holder`, `proxy.${app}-proxy.holder`].filter(f => existsSync(join(locks, f)))
    // The host's shell removes it once the run's channel is closed: a moment after the run exits at most.
    const deadline = Date.now() + 10_000
    while (left().length && Date.now() < deadline) await new Promise(r => setTimeout(r, 100))
    expect(left()).toEqual([])
    // the lock files themselves stay (removing one a next run waits on would let two runs hold it)
    expect(existsSync(join(locks, `${app}.lock`))).toBe(true)
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

  /** The ledger the test removed, as it was. */
  let lostLedger = ''

  /** cutover's containers of the app: id, name and state. */
  async function containers(): Promise<string[]> {
    const list = await localDocker().listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })
    return list.map(c => `${c.Id} ${c.Names[0]} ${c.State}`).sort()
  }

  /** A deploy that must be refused before anything changes, with `expected` in its error. */
  async function expectRefused(expected: string | RegExp, more: Record<string, string> = { image: image('v2') }): Promise<ActionRun> {
    const before = await containers()
    const live = await serving(port)
    const refused = await run(more)
    expect(refused.code).toBe(1)
    expect(refused.outputs.result).toBe('failed')
    if (typeof expected === 'string') expect(refused.errors.join('\n')).toContain(expected)
    else expect(refused.errors.join('\n')).toMatch(expected)
    if (typeof expected === 'string') expect(refused.summary).toContain(expected)
    expect(await serving(port)).toBe(live)
    expect(await containers()).toEqual(before)
    return refused
  }

  it('a ledger replaced by a directory or a symbolic link stops the run, naming the file and the recovery; nothing changes', async () => {
    expect(await serving(port)).toBe('v1')
    const kept = `${file}.kept`
    renameSync(file, kept)
    try {
      mkdirSync(file)
      const dir = await expectRefused(
        `The release ledger ~/.cutover/apps/${app}/releases.json on the host cannot be used: is not a regular file (a directory?). cutover stops before changing anything`
      )
      expect(dir.errors.join('\n')).toContain('run mode status with rebuild-ledger: true')
      rmSync(file, { recursive: true })
      symlinkSync(kept, file)
      await expectRefused(`The release ledger ~/.cutover/apps/${app}/releases.json on the host cannot be used: is a symbolic link.`)
      // and mode status says the same, rather than "nothing deployed"
      await expectRefused('is a symbolic link', { mode: 'status' })
    } finally {
      rmSync(file, { recursive: true, force: true })
      renameSync(kept, file)
    }
    expect(await serving(port)).toBe('v1')
  })

  it('a ledger missing while the app runs (deleted, or another SSH user with another home) stops the run; nothing changes', async () => {
    const kept = readFileSync(file, 'utf8')
    const deployer = testbed().CUTOVER_TEST_DEPLOYER_USER
    // As another user: its home has no ledger of the app, but the host runs the app's containers.
    await expectRefused(`The release ledger ~/.cutover/apps/${app}/releases.json is missing on the host, but cutover's containers for ${app} exist`, {
      image: image('v2'),
      user: deployer
    })
    rmSync(`/home/${deployer}/.cutover/apps/${app}`, { recursive: true, force: true })
    rmSync(`/home/${deployer}/.cutover/locks/${app}.lock`, { force: true })
    rmSync(file)
    const refused = await expectRefused(
      `The release ledger ~/.cutover/apps/${app}/releases.json is missing on the host, but cutover's containers for ${app} exist: ${app}-blue (running), ${app}-green (running).`
    )
    expect(refused.errors.join('\n')).toContain('run mode status with rebuild-ledger: true')
    expect(existsSync(file)).toBe(false)
    // a rollback too: it would otherwise say there is nothing to roll back to
    await expectRefused('is missing on the host', { mode: 'rollback' })
    lostLedger = kept
  })

  it('mode status with rebuild-ledger rebuilds it from the labels and the route; rollback then goes to the inferred previous release, and deploys work', async () => {
    const before = JSON.parse(lostLedger) as { releases: { id: string; image: string; color: string }[] }
    const rebuilt = await run({ mode: 'status', 'rebuild-ledger': 'true' })
    expectSuccess(rebuilt)
    expect(rebuilt.stdout).toContain(`Rebuilt the release ledger of ${app}: live green ${image('v1')} (release ${before.releases[0].id})`)
    expect(rebuilt.stdout).toContain(`previous: blue ${image('v3')}`)
    expect(rebuilt.summary).toContain(`Rebuilt the release ledger of ${app}`)
    expect(rebuilt.outputs).toMatchObject({ result: 'unchanged', color: 'green', image: image('v1'), 'previous-image': image('v3') })
    const record = JSON.parse(readFileSync(file, 'utf8')) as { releases: { id: string; image: string; color: string }[] }
    // live and previous as the lost ledger had them (the live one with its id, from the route; the
    // previous one's id is on no container, its instance stands in)
    expect(record.releases.map(r => [r.color, r.image])).toEqual(before.releases.slice(0, 2).map(r => [r.color, r.image]))
    expect(record.releases[0].id).toBe(before.releases[0].id)

    const back = await run({ mode: 'rollback' })
    expectSuccess(back)
    expect(back.outputs).toMatchObject({ result: 'rolled-back', color: 'blue', image: image('v3') })
    expect(await serving(port)).toBe('v3')
    const next = await run({ image: image('v2') })
    expectSuccess(next)
    expect(next.outputs).toMatchObject({ result: 'deployed', color: 'green', image: image('v2'), 'previous-image': image('v3') })
    expect(await serving(port)).toBe('v2')
  })
})

describe('a first deploy that did not finish', () => {
  // One app per test: each starts from a host with nothing of it.
  const failedApp = uniqueName('ledgf')
  const killedApp = uniqueName('ledgk')
  const ports: Record<string, number> = {}

  beforeAll(async () => {
    for (const app of [failedApp, killedApp]) ports[app] = await freePort()
  })
  afterAll(async () => {
    for (const app of [failedApp, killedApp]) await cleanupApp(app, `${app}-proxy`)
  })

  it('failed: keeps its container with keep-failed and records no release; with no ledger at all, the same deploy run again is a first deploy', async () => {
    const app = failedApp
    const port = ports[app]
    const failed = await runAction(bedInputs(app, port, { image: image('unhealthy'), 'health-timeout': '3s', 'keep-failed': 'true' }))
    expect(failed.code).toBe(1)
    const file = join(ledgerDir(app), 'releases.json')
    expect(JSON.parse(readFileSync(file, 'utf8')).releases).toEqual([])
    // As a failed first deploy of an earlier version left it (no ledger): the kept container is no release.
    rmSync(file)
    const kept = await localDocker().getContainer(`${app}-blue-failed`).inspect()
    expect(kept.State.Running).toBe(false)
    const first = await runAction(bedInputs(app, port, { image: image('v1') }))
    expectSuccess(first)
    expect([first.outputs.result, first.outputs.color, first.outputs['previous-image']]).toEqual(['deployed', 'blue', ''])
    expect(await serving(port)).toBe('v1')
  })

  it('killed with SIGKILL while its container boots, then run again: the re-run is a first deploy and converges', async () => {
    const app = killedApp
    const port = ports[app]
    const victim = startAction(bedInputs(app, port, { image: image('v1'), env: 'BOOT_DELAY_MS=30000', 'health-timeout': '60s' }))
    await untilOutput(victim, '::group::Waiting for')
    victim.child.kill('SIGKILL')
    expect((await victim.done).signal).toBe('SIGKILL')
    const rerun = await runAction(bedInputs(app, port, { image: image('v1') }))
    expectSuccess(rerun)
    expect([rerun.outputs.result, rerun.outputs.color, rerun.outputs['previous-image']]).toEqual(['deployed', 'blue', ''])
    expect(await serving(port)).toBe('v1')
    const left = await localDocker().listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })
    expect(left.map(c => c.Names[0].slice(1))).toEqual([`${app}-blue`])
  })
})

import { createWriteStream, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import { bedInputs, get, runAction } from '../support/action.js'
import { cleanupApp, freePort, image, localDocker, testbed, uniqueName } from '../support/testbed.js'

/** Builds an image that exists only locally (a new VERSION on top of the test app), with the classic builder. */
async function buildUnique(tag: string, version: string): Promise<void> {
  const docker = localDocker()
  const context = tar.pack()
  context.entry({ name: 'Dockerfile' }, `FROM ${image('v2')}\nENV VERSION=${version}\nLABEL cutover.test=archive\n`)
  context.finalize()
  const bed = testbed()
  const registryconfig = { [bed.CUTOVER_TEST_REGISTRY]: { username: bed.CUTOVER_TEST_REGISTRY_USER, password: bed.CUTOVER_TEST_REGISTRY_PASSWORD } }
  const stream = (await docker.buildImage(
    context as unknown as NodeJS.ReadableStream,
    { t: tag, version: '1', registryconfig } as never
  )) as unknown as NodeJS.ReadableStream
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
      const failed = err?.message ?? events.find(e => e.error)?.error
      if (failed) reject(new Error(failed))
      else resolve()
    })
  )
}

describe('deploying without a registry (image-archive)', () => {
  const app = uniqueName('archive')
  const version = `archived-${app.slice(-6)}`
  const tag = `cutover-test/archive-only:${app.slice(-6)}`
  const dir = mkdtempSync(join(tmpdir(), 'cutover-archive-'))
  const archive = join(dir, 'image.tar')
  let port: number

  beforeAll(async () => {
    port = await freePort()
    await buildUnique(tag, version)
    const docker = localDocker()
    await pipeline((await docker.getImage(tag).get()) as unknown as NodeJS.ReadableStream, createWriteStream(archive))
    // From now on the image exists nowhere but in the archive.
    await docker.getImage(tag).remove()
  })
  afterAll(async () => {
    await cleanupApp(app, `${app}-proxy`)
    await localDocker()
      .getImage(tag)
      .remove({ force: true })
      .catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  })

  it('streams the archive over the SSH connection, loads it and deploys it', async () => {
    await expect(localDocker().getImage(tag).inspect()).rejects.toMatchObject({ statusCode: 404 })
    const inputs = bedInputs(app, port, { 'image-archive': archive })
    delete inputs['registry-username']
    delete inputs['registry-password']
    const run = await runAction(inputs)
    if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
    expect(run.outputs).toMatchObject({ result: 'deployed', image: tag })
    expect(run.stdout).toMatch(/Loading cutover-test\/archive-only:\S+ from the image archive \(\d+\.\d MB\)/)
    expect(run.stdout).toMatch(/sent \d+\.\d MB; loaded/)
    expect(run.stdout).not.toMatch(/::group::Pulling/)
    expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe(version)
  })
})

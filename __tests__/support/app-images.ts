import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import tar from 'tar-stream'
import { image as bedImage, localDocker, REPO, testbed } from './testbed.js'

async function follow(stream: NodeJS.ReadableStream): Promise<void> {
  const docker = localDocker()
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: { error?: string }[]) => {
        const failed = err?.message ?? events.find(e => e.error)?.error
        if (failed) reject(new Error(failed))
        else resolve()
      },
      () => undefined
    )
  )
}

/**
 * The test bed's app images with this checkout's app.js on top (its queue, worker and migrate
 * modes), pushed to the bed's registry under tags named by `prefix` and the file's hash:
 * independent of when up.sh last rebuilt the shared tags, and of other sessions' app.js.
 * Returns version -> image reference.
 */
export async function appImages(prefix: string, versions: string[]): Promise<Record<string, string>> {
  const docker = localDocker()
  const appJs = readFileSync(join(REPO, 'scripts', 'testbed', 'app', 'app.js'))
  const hash = createHash('sha256').update(appJs).digest('hex').slice(0, 12)
  const bed = testbed()
  const images: Record<string, string> = {}
  const authconfig = { username: bed.CUTOVER_TEST_REGISTRY_USER, password: bed.CUTOVER_TEST_REGISTRY_PASSWORD, serveraddress: bed.CUTOVER_TEST_REGISTRY }
  for (const version of versions) {
    // The base from the registry: the local copy may be gone (a deploy on this same engine prunes
    // images no color uses any more), and the build would then try to pull it without credentials.
    await follow(await docker.pull(bedImage(version), { authconfig }))
    const tag = `${bed.CUTOVER_TEST_IMAGE_PREFIX}:${prefix}-${version}-${hash}`
    const pack = tar.pack()
    pack.entry({ name: 'Dockerfile' }, `FROM ${bedImage(version)}\nCOPY app.js /app/app.js\n`)
    pack.entry({ name: 'app.js' }, appJs)
    pack.finalize()
    await follow(await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: tag, version: '1' }))
    await follow(await docker.getImage(tag).push({ authconfig }))
    images[version] = tag
  }
  return images
}

/**
 * Images of their own (the bed's `versions` with a label only this call uses, so no other test's
 * tag shares their ids), pushed to the bed's registry; version -> reference.
 */
export async function uniqueImages(name: string, versions: string[]): Promise<Record<string, string>> {
  const docker = localDocker()
  const bed = testbed()
  const images: Record<string, string> = {}
  const authconfig = { username: bed.CUTOVER_TEST_REGISTRY_USER, password: bed.CUTOVER_TEST_REGISTRY_PASSWORD, serveraddress: bed.CUTOVER_TEST_REGISTRY }
  for (const version of versions) {
    await follow(await docker.pull(bedImage(version), { authconfig }))
    const tag = `${bed.CUTOVER_TEST_IMAGE_PREFIX}:${name}-${version}`
    const pack = tar.pack()
    pack.entry({ name: 'Dockerfile' }, `FROM ${bedImage(version)}\nLABEL cutover-test.image=${name}-${version}\n`)
    pack.finalize()
    await follow(await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: tag, version: '1' }))
    await follow(await docker.getImage(tag).push({ authconfig }))
    images[version] = tag
  }
  return images
}

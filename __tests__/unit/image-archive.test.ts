import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import tar from 'tar-stream'
import { readImageArchive } from '../../src/inputs/image-archive.js'
import { parseInputs } from '../../src/inputs/parse.js'
import { sshKeyPair } from '../support/keys.js'
import { tempDir } from '../support/temp-dirs.js'

const dir = tempDir('cutover-archive-')

async function tarFile(name: string, entries: { name: string; content: string | Buffer }[]): Promise<string> {
  const pack = tar.pack()
  for (const e of entries) pack.entry({ name: e.name }, e.content)
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c)
  const path = join(dir, name)
  writeFileSync(path, Buffer.concat(chunks))
  return path
}

const manifest = (tags: string[] | null) => JSON.stringify([{ Config: 'abc.json', RepoTags: tags, Layers: ['l1/layer.tar'] }])

describe('readImageArchive', () => {
  it('finds the tags in manifest.json after large layers, reading headers only', async () => {
    const path = await tarFile('one.tar', [
      { name: 'l1/layer.tar', content: Buffer.alloc(3 * 1024 * 1024 + 7, 1) },
      { name: `${'x'.repeat(120)}/long-name-entry`, content: 'long names use extended headers' },
      { name: 'manifest.json', content: manifest(['ghcr.io/acme/web:1.2.3']) }
    ])
    expect(readImageArchive(path)).toMatchObject({ path, tags: ['ghcr.io/acme/web:1.2.3'] })
    expect(readImageArchive(path).bytes).toBeGreaterThan(3 * 1024 * 1024)
  })

  it('says what is wrong with a file that is not an image archive', async () => {
    const text = join(dir, 'notes.txt')
    writeFileSync(text, 'hello '.repeat(200))
    expect(() => readImageArchive(text)).toThrow(/is not a tar archive/)
    const noManifest = await tarFile('plain.tar', [{ name: 'a.txt', content: 'a' }])
    expect(() => readImageArchive(noManifest)).toThrow(/has no manifest.json/)
  })
})

describe('image-archive input', () => {
  const key = sshKeyPair().private
  const parse = (inputs: Record<string, string>) =>
    parseInputs({
      get: name => inputs[name] ?? '',
      mask: () => undefined,
      workspace: dir
    })
  const base = { app: 'web', host: 'example.com', 'ssh-private-key': key, 'insecure-skip-host-key-check': 'true' }

  it('deploys the one image the archive holds when image is empty, and checks image against its tags', async () => {
    await tarFile('web.tar', [{ name: 'manifest.json', content: manifest(['ghcr.io/acme/web:7']) }])
    const config = parse({ ...base, 'image-archive': 'web.tar' })
    expect(config.image).toBe('ghcr.io/acme/web:7')
    expect(config.imageArchive).toMatchObject({ path: join(dir, 'web.tar'), tags: ['ghcr.io/acme/web:7'] })
    expect(parse({ ...base, 'image-archive': 'web.tar', image: 'ghcr.io/acme/web:7' }).image).toBe('ghcr.io/acme/web:7')
    expect(() => parse({ ...base, 'image-archive': 'web.tar', image: 'ghcr.io/acme/web:8' })).toThrow(
      "Input 'image-archive' holds ghcr.io/acme/web:7, not 'ghcr.io/acme/web:8' as 'image' says"
    )
  })

  it('refuses archives it cannot deploy, naming the input', async () => {
    await tarFile('two.tar', [{ name: 'manifest.json', content: JSON.stringify([{ RepoTags: ['a:1'] }, { RepoTags: ['b:1'] }]) }])
    await tarFile('untagged.tar', [{ name: 'manifest.json', content: manifest(null) }])
    expect(() => parse({ ...base, 'image-archive': 'two.tar' })).toThrow(/holds several images \(a:1, b:1\): set 'image'/)
    expect(() => parse({ ...base, 'image-archive': 'untagged.tar' })).toThrow(/holds no tagged image/)
    expect(() => parse({ ...base, 'image-archive': 'missing.tar' })).toThrow("Input 'image-archive' names missing.tar, which does not exist")
    expect(() => parse({ ...base, mode: 'rollback', 'image-archive': 'two.tar' })).toThrow(/only applies to mode deploy/)
  })
})

import { Readable } from 'node:stream'
import type Docker from 'dockerode'
import { DockerHost } from '../../src/host/docker-host.js'
import type { ContainerSpec } from '../../src/engine/ports.js'

// DockerHost.create against a minimal Docker whose image can vanish between a pull and a create
// (another app's clean-up pruned it: issue #22).

const spec = {
  name: 'web-blue',
  image: 'registry.example.com/web:v1',
  env: {},
  labels: {},
  network: 'cutover-web',
  extraNetworks: [],
  volumes: []
} as unknown as ContainerSpec

function dockerWhoseImage(present: boolean[], pullError?: string) {
  const calls: string[] = []
  let image = present.shift() ?? true
  const docker = {
    calls,
    createContainer: async (opts: { name: string; Image: string }) => {
      calls.push(`create ${opts.Image}`)
      if (!image) throw Object.assign(new Error(`(HTTP code 404) no such container - No such image: ${opts.Image}`), { statusCode: 404 })
      return { id: 'c1' }
    },
    pull: async (ref: string) => {
      calls.push(`pull ${ref}`)
      if (!pullError) image = present.shift() ?? true
      return Object.assign(Readable.from([]), { complete: true })
    },
    modem: {
      followProgress: (_s: unknown, done: (err: Error | null) => void, progress: (e: { error?: string }) => void) => {
        if (pullError) progress({ error: pullError })
        done(null)
      }
    }
  }
  return docker
}

describe('DockerHost.create', () => {
  it('an image removed after the pull is pulled once more and the create tried again', async () => {
    const docker = dockerWhoseImage([false, true])
    const host = new DockerHost(docker as unknown as Docker, () => Promise.reject(new Error('unused')), undefined)
    await expect(host.create(spec)).resolves.toBe('c1')
    expect(docker.calls).toEqual([`create ${spec.image}`, `pull ${spec.image}`, `create ${spec.image}`])
  })

  it('tries again once only, and says why when the second pull fails', async () => {
    const docker = dockerWhoseImage([false], 'manifest unknown')
    const host = new DockerHost(docker as unknown as Docker, () => Promise.reject(new Error('unused')), undefined)
    await expect(host.create(spec)).rejects.toThrow(
      /^The image registry\.example\.com\/web:v1 was removed from the host after it was pulled \(by another app's clean-up, say\), and pulling it again failed: Pull of registry\.example\.com\/web:v1 failed: manifest unknown/
    )
    expect(docker.calls).toEqual([`create ${spec.image}`, `pull ${spec.image}`])
  })

  it('a create that fails for any other reason is not retried', async () => {
    const docker = dockerWhoseImage([true])
    docker.createContainer = async () => {
      docker.calls.push('create')
      throw Object.assign(new Error('Conflict: the name web-blue is in use'), { statusCode: 409 })
    }
    const host = new DockerHost(docker as unknown as Docker, () => Promise.reject(new Error('unused')), undefined)
    await expect(host.create(spec)).rejects.toThrow(/Conflict/)
    expect(docker.calls).toEqual(['create'])
  })
})

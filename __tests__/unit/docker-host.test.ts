import { PassThrough } from 'node:stream'
import type Docker from 'dockerode'
import type { ContainerSpec } from '../../src/engine/ports.js'
import { DockerHost } from '../../src/host/docker-host.js'

const IMAGE = 'registry.example/app:v1'

/** A Docker that answers create with 404 "No such image" while the image is gone; a pull brings it back (or fails). */
function dockerWithImage(state: { present: boolean; pullError?: string; createError?: Error }) {
  const calls: string[] = []
  const docker = {
    createContainer: async (options: { Image: string }) => {
      calls.push(`create ${options.Image}`)
      if (state.createError) throw state.createError
      if (!state.present) throw Object.assign(new Error(`(HTTP code 404) no such container - No such image: ${options.Image} `), { statusCode: 404 })
      return { id: 'c0ffee' }
    },
    pull: async (ref: string) => {
      calls.push(`pull ${ref}`)
      return Object.assign(new PassThrough(), { complete: true })
    },
    modem: {
      followProgress: (_stream: unknown, done: (e: Error | null) => void, onEvent: (event: { error?: string }) => void) => {
        if (state.pullError) onEvent({ error: state.pullError })
        else state.present = true
        setImmediate(() => done(null))
      }
    }
  }
  return { docker: docker as unknown as Docker, calls }
}

const spec: ContainerSpec = { name: 'web-blue', image: IMAGE, env: {}, labels: {}, network: 'cutover-web', extraNetworks: [], volumes: [] }
const noTcp = () => Promise.reject(new Error('no TCP in this test'))

describe('DockerHost.create', () => {
  it('pulls the image again and creates the container when another run pruned it after this run pulled it', async () => {
    const { docker, calls } = dockerWithImage({ present: false })
    await expect(new DockerHost(docker, noTcp, undefined).create(spec)).resolves.toBe('c0ffee')
    expect(calls).toEqual([`create ${IMAGE}`, `pull ${IMAGE}`, `create ${IMAGE}`])
  })

  it('creates once, without a pull, when the image is there', async () => {
    const { docker, calls } = dockerWithImage({ present: true })
    await expect(new DockerHost(docker, noTcp, undefined).create(spec)).resolves.toBe('c0ffee')
    expect(calls).toEqual([`create ${IMAGE}`])
  })

  it('says the image was removed and why pulling it again failed', async () => {
    const { docker, calls } = dockerWithImage({ present: false, pullError: 'manifest unknown' })
    await expect(new DockerHost(docker, noTcp, undefined).create(spec)).rejects.toThrow(
      `${IMAGE} was removed from the host (by another app's cleanup, say) before web-blue was created, and pulling it again failed: Pull of ${IMAGE} failed: manifest unknown`
    )
    expect(calls).toEqual([`create ${IMAGE}`, `pull ${IMAGE}`])
  })

  it('does not pull for any other 404 (a missing network, say)', async () => {
    const createError = Object.assign(new Error('(HTTP code 404) no such container - network cutover-web not found'), { statusCode: 404 })
    const { docker, calls } = dockerWithImage({ present: true, createError })
    await expect(new DockerHost(docker, noTcp, undefined).create(spec)).rejects.toBe(createError)
    expect(calls).toEqual([`create ${IMAGE}`])
  })
})

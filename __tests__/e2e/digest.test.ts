import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

// The examples deploy what the build pushed, by digest (name@sha256:...), not by a tag that can
// move. This walks that path: deploy, deploy again, roll back, all by digest.
const app = uniqueName('digest')
const proxy = `${app}-proxy`
const docker = localDocker()
let port: number

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

/** name@sha256:... of a test image, as the registry knows it (build-push-action's `digest` output). */
async function byDigest(tag: string): Promise<string> {
  const ref = image(tag)
  const name = ref.slice(0, ref.lastIndexOf(':'))
  const info = await docker.getImage(ref).inspect()
  const digest = info.RepoDigests.find(d => d.startsWith(`${name}@sha256:`))
  if (!digest) throw new Error(`${ref} has no digest from ${name}: ${JSON.stringify(info.RepoDigests)}`)
  return digest
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  await cleanupApp(app, proxy)
})

describe('deploying by digest', () => {
  it('deploys v1 and then v2 by digest, and rolls back to v1', async () => {
    const [v1, v2] = [await byDigest('v1'), await byDigest('v2')]
    expect(v1).toMatch(/@sha256:[0-9a-f]{64}$/)

    const first = await runAction(bedInputs(app, port, { image: v1 }))
    expectSuccess(first)
    expect(first.outputs).toMatchObject({ result: 'deployed', image: v1 })
    expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v1')

    const second = await runAction(bedInputs(app, port, { image: v2 }))
    expectSuccess(second)
    expect(second.outputs).toMatchObject({ result: 'deployed', image: v2, 'previous-image': v1 })
    expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v2')

    // The same digest again changes nothing.
    const again = await runAction(bedInputs(app, port, { image: v2 }))
    expectSuccess(again)
    expect(again.outputs).toMatchObject({ result: 'unchanged', image: v2 })

    const back = await runAction(bedInputs(app, port, { mode: 'rollback' }))
    expectSuccess(back)
    expect(back.outputs).toMatchObject({ result: 'rolled-back', image: v1, 'previous-image': v2 })
    expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v1')
  })
})

import { bedInputs, get, runAction, startAction, untilOutput, type ActionRun } from '../support/action.js'
import { expectSuccess, haproxyImage } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

// What cutover says is live is what serves after the proxy dies (issue #27): a proxy killed between
// runs, or during a switch, is started again by the run that sees it down, and its saved
// configuration agrees with the ledger (a restart serves what the run reported).
const app = uniqueName('pdeath')
const proxy = `${app}-proxy`
const docker = localDocker()
let port: number

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), 'drain-timeout': '1s', ...overrides })
}

/** The app version the proxy answers with, waiting up to 15 s for it to answer at all (a proxy just restarted). */
async function servedVersion(): Promise<string> {
  for (const deadline = Date.now() + 15_000; ; await new Promise(r => setTimeout(r, 200))) {
    const res = await get(`http://127.0.0.1:${port}/`)
    if (res.status === 200 || Date.now() > deadline) return res.status === 200 ? res.body.trim() : `HTTP ${res.status}`
  }
}

/** The tag of the image a run reports live (`…/app:v2` → `v2`). */
function reported(run: ActionRun): string {
  return run.outputs.image.split(':').pop() ?? ''
}

beforeAll(async () => {
  port = await freePort()
})

afterAll(async () => {
  await cleanupApp(app, proxy)
})

it('a proxy killed between runs is started again by the next run, which says since when nothing answered', async () => {
  expectSuccess(await runAction(inputs({ image: image('v1') })))
  expectSuccess(await runAction(inputs({ image: image('v2') })))
  await docker.getContainer(proxy).kill()
  await new Promise(r => setTimeout(r, 1500))
  expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(0)

  const run = await runAction(inputs({ image: image('v3') }))
  expectSuccess(run)
  expect(run.stdout).toMatch(
    new RegExp(`Starting the proxy ${proxy} again: it had stopped at \\S+ with exit code 137, \\d+ s ago, and no app on it answered since`)
  )
  expect(await servedVersion()).toBe('v3')
  // Its saved configuration agrees with the ledger: a restart serves the same release.
  await docker.getContainer(proxy).restart({ t: 1 })
  expect(await servedVersion()).toBe('v3')
}, 180_000)

it('a proxy killed during the switch: whatever the moment, the run reports what the proxy serves, before and after a restart', async () => {
  const started = startAction(inputs({ image: image('v1') }))
  await untilOutput(started, '::group::Switching the proxy to', 120_000)
  await docker
    .getContainer(proxy)
    .kill()
    .catch(() => undefined)
  const run = await started.done
  console.log(`proxy killed at the switch: run ${run.code === 0 ? 'succeeded' : 'failed'}, reported ${run.outputs.image}; ${run.errors.join(' ')}`)
  expect(run.summary).not.toBe('')
  // The run that saw it down started it again.
  expect((await docker.getContainer(proxy).inspect()).State.Running).toBe(true)
  // v3 stayed live (the switch was undone) or v1 went live (the switch had been verified): either way the outputs say which.
  expect(['v1', 'v3']).toContain(reported(run))
  expect(await servedVersion()).toBe(reported(run))
  await docker.getContainer(proxy).restart({ t: 1 })
  expect(await servedVersion()).toBe(reported(run))
  // And the next run agrees and converges.
  const next = await runAction(inputs({ image: image('v2') }))
  expectSuccess(next)
  expect(await servedVersion()).toBe('v2')
}, 240_000)

describe('only cutover containers are touched', () => {
  const other = uniqueName('foreign')
  let otherPort: number

  beforeAll(async () => {
    otherPort = await freePort()
  })
  afterAll(async () => {
    await docker
      .getContainer(`${other}-green`)
      .remove({ force: true })
      .catch(() => undefined)
    await cleanupApp(other, `${other}-proxy`)
  })

  it('a container named <app>-green that cutover did not make is refused, named and left as it is; blue keeps serving', async () => {
    const own = (more: Record<string, string>) => bedInputs(other, otherPort, { 'proxy-type': 'haproxy', 'proxy-image': haproxyImage(), ...more })
    expectSuccess(await runAction(own({ image: image('v1') })))
    // A hand-made container where the next color would go (an older "start new, sleep 5" deploy, say).
    const handMade = await docker.createContainer({ name: `${other}-green`, Image: image('v1'), Labels: { owner: 'someone' } })
    await handMade.start()
    const run = await runAction(own({ image: image('v2') }))
    expect(run.code).toBe(1)
    expect(run.errors.join('\n')).toContain(`A container named ${other}-green is in the way, and it is not made by cutover`)
    // Refused after the ledger was read: the outputs and the summary still name the live release.
    expect(run.outputs.image).toBe(image('v1'))
    expect(run.summary).toMatch(/\*\*Live\*\* \| blue \|/)
    const after = await handMade.inspect()
    expect({ name: after.Name, running: after.State.Running, owner: after.Config.Labels.owner }).toEqual({
      name: `/${other}-green`,
      running: true,
      owner: 'someone'
    })
    expect(Object.keys(after.Config.Labels).filter(k => k.startsWith('cutover.'))).toEqual([])
    expect((await get(`http://127.0.0.1:${otherPort}/`)).body.trim()).toBe('v1')
  }, 120_000)
})

import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { startLoad } from '../support/load.js'
import { expectSuccess, haproxyImage } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'
import { BASE_FILE, HAPROXY_CONF_DIR, HAPROXY_RUN_DIR, hostRunDir } from '../../src/proxy/haproxy-config.js'
import { HOLDER_FILE, HOLDER_OFF_VAR, HOLDER_SWITCH_CFG, holderOffSince } from '../../src/proxy/haproxy-holder-config.js'
import { getDirFiles, putFile } from '../../src/transport/docker-ops.js'

// Issue #22: a proxy made by a cutover from before holders (one container whose command line loads
// the config directory only; a base with no holder switch) is taken over by a new proxy-image with no
// gap and without being re-created: the directory's switch (0-holder-switch.cfg) turns it off once a
// generation has its sockets, as a holder's own file does. Each test builds on the one before.
const docker = localDocker()
const proxy = uniqueName('adoptproxy')
const shop = uniqueName('adoptshop')
const blog = uniqueName('adoptblog')
const late = uniqueName('adoptlate')
const later = uniqueName('adoptlater')
const domain = (app: string) => `${app}.example.test`
const baseImage = haproxyImage()
const newImage = `${baseImage.replace(/:[^:/]+$/, '')}:adopt-${proxy}`
let port: number

function inputs(app: string, more: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'haproxy', 'proxy-name': proxy, domains: domain(app), 'drain-timeout': '2s', ...more })
}

async function served(app: string): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`, { host: domain(app) })
  return `${res.status} ${res.body.trim()}`
}

async function generations(): Promise<{ name: string; image: string; running: boolean }[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`cutover.proxy-generation-of=${proxy}`] } })
  return list.map(c => ({ name: c.Names[0].slice(1), image: c.Image, running: c.State === 'running' })).sort((a, b) => a.name.localeCompare(b.name))
}

/** Runs a node script in a throwaway container of the test app's image with the proxy's volume mounted. */
async function inVolume(script: string): Promise<void> {
  const helper = await docker.createContainer({
    Image: image('v1'),
    Entrypoint: ['node', '-e', script],
    HostConfig: { Binds: [`${proxy}-conf:/conf`] }
  })
  try {
    await helper.start()
    await helper.wait()
  } finally {
    await helper.remove({ force: true })
  }
}

/**
 * The proxy as a cutover from before holders left it: the container made with its options then
 * (no holder file on the command line), its base without the holder switch, no switch files.
 */
async function makeEarlierCutoversProxy(): Promise<void> {
  const holder = docker.getContainer(proxy)
  const info = await holder.inspect()
  const base = (await getDirFiles(holder, HAPROXY_CONF_DIR)).get(BASE_FILE)!
  const oldBase = base.replace(new RegExp(`^\\.if !defined\\(${HOLDER_OFF_VAR}\\)\\n([\\s\\S]*?)^\\.endif\\n`, 'gm'), '$1')
  expect(oldBase).not.toContain(HOLDER_OFF_VAR)
  await holder.remove({ force: true })
  await inVolume(`const fs = require('fs'); for (const f of ['${HOLDER_FILE}', '${HOLDER_SWITCH_CFG}']) fs.rmSync('/conf/' + f, { force: true })`)
  const old = await docker.createContainer({
    name: proxy,
    Image: baseImage,
    User: 'root',
    Entrypoint: ['haproxy'],
    Cmd: ['-W', '-db', '-f', HAPROXY_CONF_DIR],
    StopSignal: 'SIGUSR1',
    Labels: { 'cutover.managed': 'true', 'cutover.proxy': 'haproxy' },
    ExposedPorts: { '80/tcp': {} },
    HostConfig: {
      PortBindings: { '80/tcp': [{ HostPort: String(port) }] },
      Binds: [`${proxy}-conf:${HAPROXY_CONF_DIR}`, `${hostRunDir(proxy)}:${HAPROXY_RUN_DIR}`],
      RestartPolicy: { Name: 'unless-stopped' },
      NetworkMode: `${proxy}-net`
    }
  })
  for (const network of Object.keys(info.NetworkSettings.Networks).filter(n => n !== `${proxy}-net`)) {
    await docker.getNetwork(network).connect({ Container: old.id })
  }
  await putFile(old, HAPROXY_CONF_DIR, BASE_FILE, oldBase)
  await old.start()
  for (const deadline = Date.now() + 20_000; (await served(shop)) !== '200 v1' && Date.now() < deadline;) await new Promise(r => setTimeout(r, 250))
}

beforeAll(async () => {
  port = await freePort()
  const [repo, tag] = [newImage.replace(/:[^:/]+$/, ''), newImage.split(':').pop()!]
  await docker.getImage(baseImage).tag({ repo, tag })
  expectSuccess(await runAction(inputs(shop, { image: image('v1'), 'proxy-image': baseImage })))
  expectSuccess(await runAction(inputs(blog, { image: image('v1'), 'proxy-image': baseImage })))
  await makeEarlierCutoversProxy()
  expect(await served(shop)).toBe('200 v1')
  expect(await served(blog)).toBe('200 v1')
}, 180_000)

afterAll(async () => {
  for (const app of [shop, blog, late]) await cleanupApp(app)
  await cleanupApp(later, proxy)
  await docker
    .getImage(newImage)
    .remove()
    .catch(() => undefined)
})

function logged(run: ActionRun): string {
  return run.stdout
}

it("a new proxy-image takes over the earlier cutover's proxy with 0 failed requests: the same container, a new HAProxy generation serves", async () => {
  const before = await docker.getContainer(proxy).inspect()
  const loads = [shop, blog].flatMap(app => [
    startLoad(`http://127.0.0.1:${port}/`, { connections: 3, keepAlive: true, maxMs: 120_000, host: domain(app) }),
    startLoad(`http://127.0.0.1:${port}/`, { connections: 1, keepAlive: false, maxMs: 120_000, host: domain(app) })
  ])
  await new Promise(r => setTimeout(r, 300))
  const longRequest = get(`http://127.0.0.1:${port}/slow?ms=4000`, { host: domain(blog) })
  const run = await runAction(inputs(shop, { image: image('v2'), 'proxy-image': newImage }))
  await new Promise(r => setTimeout(r, 300))
  const long = await longRequest
  let sent = 0
  let failed = 0
  const errors: string[] = []
  for (const load of loads) {
    const stats = await load.stop()
    sent += stats.sent
    failed += load.failures()
    errors.push(...stats.firstErrors)
  }
  console.log(`earlier cutover's proxy taken over under load: ${sent} requests, ${failed} failed; long request ${long.status}`)
  expectSuccess(run)
  expect(logged(run)).toContain(`Updating the shared settings of the proxy ${proxy}`)
  expect(logged(run)).toContain(`Handing the proxy ${proxy} over from ${baseImage} to ${newImage}`)
  expect(logged(run)).not.toContain('re-creating')
  expect({ failed, errors, long: `${long.status} ${long.body.trim()}` }).toEqual({ failed: 0, errors: [], long: '200 v1' })
  expect(sent).toBeGreaterThan(100)
  const after = await docker.getContainer(proxy).inspect()
  expect({ id: after.Id, running: after.State.Running, cmd: after.Config.Cmd }).toEqual({ id: before.Id, running: true, cmd: before.Config.Cmd })
  expect(await generations()).toEqual([{ name: `${proxy}-g1`, image: newImage, running: true }])
  const files = await getDirFiles(docker.getContainer(proxy), HAPROXY_CONF_DIR)
  expect(holderOffSince(files.get(HOLDER_SWITCH_CFG))).toBe(after.State.StartedAt)
  expect(await served(shop)).toBe('200 v2')
  expect(await served(blog)).toBe('200 v1')
}, 240_000)

it('a new app after it (a reload) is answered on every connection: the earlier container serves nothing any more', async () => {
  expectSuccess(await runAction(inputs(late, { image: image('v1'), 'proxy-image': newImage })))
  // Were the earlier container still accepting connections, it would not know the new app (404).
  const answers: Record<string, number> = {}
  for (let i = 0; i < 60; i++) {
    const answer = await served(late)
    answers[answer] = (answers[answer] ?? 0) + 1
  }
  expect(answers).toEqual({ '200 v1': 60 })
}, 240_000)

it('killed and started again, it serves by itself; a later reload (a new app) keeps it serving: its switch was set back', async () => {
  await docker.getContainer(proxy).kill()
  await new Promise(r => setTimeout(r, 1000))
  // Its own image again: no generation is needed.
  const run = await runAction(inputs(blog, { image: image('v2'), 'proxy-image': baseImage }))
  expectSuccess(run)
  expect(logged(run)).toMatch(new RegExp(`Starting the proxy ${proxy} again`))
  expect(await generations()).toEqual([])
  expectSuccess(await runAction(inputs(later, { image: image('v1'), 'proxy-image': baseImage })))
  expect(await served(later)).toBe('200 v1')
  expect(await served(shop)).toBe('200 v2')
  expect(await served(blog)).toBe('200 v2')
  expect(await served(late)).toBe('200 v1')
}, 240_000)

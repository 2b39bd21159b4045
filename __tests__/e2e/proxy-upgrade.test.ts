import WebSocket from 'ws'
import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { opensslCert } from '../support/certs.js'
import { startLoad, type Load } from '../support/load.js'
import { expectSuccess, haproxyImage } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, testbed, uniqueName } from '../support/testbed.js'

// Issue #22: the HAProxy proxy is upgraded with no gap. Its container (the holder) owns the network
// namespace, the published ports and the networks; a changed proxy-image starts a new HAProxy
// generation in that namespace, which takes the listening sockets from the serving one; the old one
// finishes what it serves. Two apps share the proxy, created without HTTPS; a third adds HTTPS later
// (published by a relay beside the proxy). Each hand-over crosses HAProxy versions (the bed's 2.6 and
// Debian 13's 3.0, the version proxy-image defaults to). Each test builds on the state the one
// before left.
const docker = localDocker()
const proxy = uniqueName('upgproxy')
const shop = uniqueName('upgshop')
const blog = uniqueName('upgblog')
const echo = uniqueName('upgecho')
const late = uniqueName('upglate')
const lateDomain = `${late}.example.test`
const shopDomain = `${shop}.example.test`
const blogDomain = `${blog}.example.test`
const echoDomain = `${echo}.example.test`
const echoCert = opensslCert([echoDomain])
// An app that answers with the request headers it got (the client's address as the proxy saw it), as in tls.test.ts.
const ECHO =
  `node -e 'require("http").createServer((q, s) => { s.setHeader("content-type", "application/json"); ` +
  `s.end(JSON.stringify({ url: q.url, headers: q.headers })) }).listen(3000)'`
const baseImage = haproxyImage()
/**
 * Another HAProxy version under this test's own tag: Debian 13's 3.0 (the version proxy-image
 * defaults to), so each hand-over crosses versions, 2.6 -> 3.0 and back.
 */
const nextImage = testbed().CUTOVER_TEST_HAPROXY_NEXT_IMAGE
const newImage = `${baseImage.replace(/:[^:/]+$/, '')}:upgrade-${proxy}`
let port: number
let httpsPort: number

function inputs(app: string, domain: string, more: Record<string, string> = {}): Record<string, string> {
  // https-port is not given to the first deploys (beforeAll): the proxy is created publishing HTTP only.
  return bedInputs(app, port, {
    'proxy-type': 'haproxy',
    'proxy-name': proxy,
    'proxy-image': baseImage,
    'https-port': String(httpsPort),
    domains: domain,
    'drain-timeout': '2s',
    ...more
  })
}

interface Traffic {
  loads: Load[]
  longRequest: Promise<{ status: number; body: string }>
  socket: WebSocket
  socketClosed: { at?: number }
}

/** Keep-alive and new-connection load on both apps (and HTTPS to the echo app), a long request, and a WebSocket on the shop. */
async function startTraffic(withHttps = false): Promise<Traffic> {
  const tls = { ca: echoCert.cert, servername: echoDomain }
  const loads = [shopDomain, blogDomain].flatMap(host => [
    startLoad(`http://127.0.0.1:${port}/`, { connections: 3, keepAlive: true, maxMs: 120_000, host }),
    startLoad(`http://127.0.0.1:${port}/`, { connections: 1, keepAlive: false, maxMs: 120_000, host })
  ])
  if (withHttps) {
    loads.push(
      startLoad(`https://127.0.0.1:${httpsPort}/`, { connections: 2, keepAlive: true, maxMs: 120_000, tls }),
      startLoad(`https://127.0.0.1:${httpsPort}/`, { connections: 1, keepAlive: false, maxMs: 120_000, tls })
    )
  }
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: shopDomain } })
  const socketClosed: { at?: number } = {}
  socket.on('close', () => (socketClosed.at = Date.now()))
  await new Promise((resolve, reject) => socket.on('open', resolve).on('error', reject))
  await new Promise(r => setTimeout(r, 300))
  const longRequest = get(`http://127.0.0.1:${port}/slow?ms=4000`, { host: blogDomain })
  return { loads, longRequest, socket, socketClosed }
}

/** Stops the traffic; what failed (0 is the claim), with the first errors. */
async function stopTraffic(t: Traffic): Promise<{ sent: number; failed: number; errors: string[]; long: string; socketOpen: boolean }> {
  await new Promise(r => setTimeout(r, 300))
  const long = await t.longRequest
  const socketOpen = t.socketClosed.at === undefined
  t.socket.terminate()
  let sent = 0
  let failed = 0
  const errors: string[] = []
  for (const load of t.loads) {
    const stats = await load.stop()
    sent += stats.sent
    failed += load.failures()
    errors.push(...stats.firstErrors)
  }
  return { sent, failed, errors, long: `${long.status} ${long.body.trim()}`, socketOpen }
}

async function served(host: string): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`, { host })
  return `${res.status} ${res.body.trim()}`
}

/** The proxy's HAProxy generations: name, image, running. */
async function generations(): Promise<{ name: string; image: string; running: boolean }[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`cutover.proxy-generation-of=${proxy}`] } })
  return list.map(c => ({ name: c.Names[0].slice(1), image: c.Image, running: c.State === 'running' })).sort((a, b) => a.name.localeCompare(b.name))
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

function logged(run: ActionRun): string {
  return run.stdout
}

beforeAll(async () => {
  port = await freePort()
  httpsPort = await freePort()
  if (!nextImage) throw new Error('The test bed has no CUTOVER_TEST_HAPROXY_NEXT_IMAGE: run "bash scripts/testbed/up.sh" again')
  const [repo, tag] = [newImage.replace(/:[^:/]+$/, ''), newImage.split(':').pop()!]
  await docker.getImage(nextImage).tag({ repo, tag })
  expectSuccess(await runAction(inputs(shop, shopDomain, { image: image('v1'), 'https-port': '' })))
  expectSuccess(await runAction(inputs(blog, blogDomain, { image: image('v1'), 'https-port': '' })))
  // Created without tls and without https-port: Docker publishes no HTTPS port on it.
  expect(Object.keys((await docker.getContainer(proxy).inspect()).HostConfig.PortBindings ?? {})).toEqual(['80/tcp'])
}, 180_000)

afterAll(async () => {
  await cleanupApp(shop)
  await cleanupApp(echo)
  await cleanupApp(late)
  await cleanupApp(blog, proxy)
  await docker
    .getImage(newImage)
    .remove()
    .catch(() => undefined)
})

it('a new proxy-image: a new HAProxy generation takes over with 0 failed requests for both apps; a long request and a WebSocket live on', async () => {
  const traffic = await startTraffic()
  const run = await runAction(inputs(shop, shopDomain, { image: image('v2'), 'proxy-image': newImage }))
  const seen = await stopTraffic(traffic)
  console.log(`proxy-image changed under load: ${seen.sent} requests, ${seen.failed} failed; long request ${seen.long}; WebSocket open: ${seen.socketOpen}`)
  expectSuccess(run)
  expect(logged(run)).toContain(`Handing the proxy ${proxy} over from ${baseImage} to ${newImage}`)
  expect({ failed: seen.failed, errors: seen.errors, long: seen.long, socketOpen: seen.socketOpen }).toEqual({
    failed: 0,
    errors: [],
    long: '200 v1',
    socketOpen: true
  })
  expect(seen.sent).toBeGreaterThan(100)
  expect(await generations()).toEqual([{ name: `${proxy}-g1`, image: newImage, running: true }])
  // The holder keeps the ports and its own image; it serves no more.
  const holder = await docker.getContainer(proxy).inspect()
  expect({ running: holder.State.Running, image: holder.Config.Image }).toEqual({ running: true, image: baseImage })
  expect(await served(shopDomain)).toBe('200 v2')
  expect(await served(blogDomain)).toBe('200 v1')
}, 240_000)

it('the next deploy and a rollback on the new generation work, and hand nothing over', async () => {
  const deploy = await runAction(inputs(blog, blogDomain, { image: image('v2'), 'proxy-image': newImage }))
  expectSuccess(deploy)
  expect(logged(deploy)).not.toContain('Handing the proxy')
  expect(await served(blogDomain)).toBe('200 v2')
  const rollback = await runAction(inputs(blog, blogDomain, { mode: 'rollback', 'proxy-image': newImage }))
  expectSuccess(rollback)
  expect(await served(blogDomain)).toBe('200 v1')
  expect((await generations()).map(g => g.name)).toEqual([`${proxy}-g1`])
}, 240_000)

it("HTTPS added by an app (tls custom) to the proxy created without it: a relay publishes https-port, 0 failed requests, the same proxy container, and the app sees the client's address", async () => {
  const holderBefore = (await docker.getContainer(proxy).inspect()).Id
  const traffic = await startTraffic()
  const run = await runAction(
    inputs(echo, echoDomain, {
      image: image('v1'),
      command: ECHO,
      'proxy-image': newImage,
      tls: 'custom',
      'tls-certificate': echoCert.cert,
      'tls-key': echoCert.key,
      'tls-redirect': 'false'
    })
  )
  const seen = await stopTraffic(traffic)
  console.log(`HTTPS added under load: ${seen.sent} requests, ${seen.failed} failed`)
  expectSuccess(run)
  expect(logged(run)).toContain(`Publishing HTTPS of the proxy ${proxy} on port ${httpsPort} through ${proxy}-https`)
  expect(logged(run)).not.toContain('re-creating it')
  expect({ failed: seen.failed, errors: seen.errors, long: seen.long }).toEqual({ failed: 0, errors: [], long: '200 v1' })
  expect((await docker.getContainer(proxy).inspect()).Id).toBe(holderBefore)
  // TLS terminates in the proxy; the relay's PROXY header gives it the client's address: the app sees
  // the same address as over plain HTTP (Docker's published-port path), never the relay's.
  const overHttps = await httpsGet(echoDomain, echoCert.cert, '/who')
  expect(overHttps.status).toBe(200)
  const httpsHeaders = (JSON.parse(overHttps.body) as { headers: Record<string, string> }).headers
  const httpHeaders = (JSON.parse((await get(`http://127.0.0.1:${port}/who`, { host: echoDomain })).body) as { headers: Record<string, string> }).headers
  const relay = await docker.getContainer(`${proxy}-https`).inspect()
  const relayAddress = relay.NetworkSettings.Networks[`${proxy}-net`].IPAddress
  console.log(`client address: over HTTPS ${httpsHeaders['x-forwarded-for']}, over HTTP ${httpHeaders['x-forwarded-for']}; the relay is at ${relayAddress}`)
  expect(httpsHeaders['x-forwarded-proto']).toBe('https')
  expect(httpsHeaders['x-forwarded-for']).toBe(httpHeaders['x-forwarded-for'])
  expect(httpsHeaders['x-forwarded-for']).not.toBe(relayAddress)
  expect(relay.HostConfig.RestartPolicy?.Name).toBe('unless-stopped')
}, 240_000)

it('metrics added to the proxy: published by a relay beside it, 0 failed requests, the proxy is not re-created', async () => {
  const metricsPort = await freePort()
  const holderBefore = (await docker.getContainer(proxy).inspect()).Id
  const traffic = await startTraffic()
  // A new release: the release series is recorded at a switch (v1 is live after the rollback).
  const run = await runAction(inputs(blog, blogDomain, { image: image('v2'), 'proxy-image': newImage, metrics: String(metricsPort) }))
  const seen = await stopTraffic(traffic)
  console.log(`metrics added under load: ${seen.sent} requests, ${seen.failed} failed`)
  expectSuccess(run)
  expect(logged(run)).toContain(`Publishing the metrics of the proxy ${proxy} at 127.0.0.1:${metricsPort} through ${proxy}-metrics`)
  expect({ failed: seen.failed, errors: seen.errors, long: seen.long }).toEqual({ failed: 0, errors: [], long: '200 v1' })
  expect((await docker.getContainer(proxy).inspect()).Id).toBe(holderBefore)
  const release = await get(`http://127.0.0.1:${metricsPort}/release?app=${blog}`)
  expect(release.status).toBe(200)
  expect(release.body).toContain(`cutover_release_info{app="${blog}"`)
  expect((await get(`http://127.0.0.1:${metricsPort}/metrics`)).body).toContain('haproxy_backend_http_responses_total')
}, 240_000)

it('back to the first image: another generation (it takes the relayed HTTPS listener too), the earlier one finishes and is removed by a later run', async () => {
  const traffic = await startTraffic(true)
  const run = await runAction(inputs(blog, blogDomain, { image: image('v3'), 'proxy-image': baseImage }))
  const seen = await stopTraffic(traffic)
  console.log(`proxy-image changed back under load: ${seen.sent} requests, ${seen.failed} failed`)
  expectSuccess(run)
  expect({ failed: seen.failed, errors: seen.errors }).toEqual({ failed: 0, errors: [] })
  expect((await generations()).find(g => g.name === `${proxy}-g2`)).toEqual({ name: `${proxy}-g2`, image: baseImage, running: true })
  // g1 finishes what it serves (hard-stop-after bounds its WebSockets), then exits; the next run removes it.
  for (const deadline = Date.now() + 60_000; (await generations()).some(g => g.name === `${proxy}-g1` && g.running) && Date.now() < deadline;) {
    await new Promise(r => setTimeout(r, 1000))
  }
  expectSuccess(await runAction(inputs(shop, shopDomain, { image: image('v1'), 'proxy-image': baseImage })))
  expect(await generations()).toEqual([{ name: `${proxy}-g2`, image: baseImage, running: true }])
  expect(await served(shopDomain)).toBe('200 v1')
  expect(await served(blogDomain)).toBe('200 v3')
}, 240_000)

it('the live generation killed: the next run starts another in the holder, which says nothing served', async () => {
  await docker.getContainer(`${proxy}-g2`).kill()
  await new Promise(r => setTimeout(r, 1000))
  expect((await get(`http://127.0.0.1:${port}/`, { host: shopDomain })).status).toBe(0)
  const run = await runAction(inputs(shop, shopDomain, { image: image('v2'), 'proxy-image': baseImage }))
  expectSuccess(run)
  expect(logged(run)).toContain(`The proxy ${proxy} has no HAProxy process serving: starting one (${baseImage})`)
  expect(await served(shopDomain)).toBe('200 v2')
  expect(await served(blogDomain)).toBe('200 v3')
  expect(await generations()).toEqual([{ name: `${proxy}-g3`, image: baseImage, running: true }])
}, 240_000)

it('the holder killed: the next run starts it again (it serves by itself, HTTPS through the relay too), and the dead generations go', async () => {
  const addressBefore = (await docker.getContainer(proxy).inspect()).NetworkSettings.Networks[`${proxy}-net`].IPAddress
  await docker.getContainer(proxy).kill()
  await new Promise(r => setTimeout(r, 1000))
  const run = await runAction(inputs(blog, blogDomain, { image: image('v1'), 'proxy-image': baseImage }))
  expectSuccess(run)
  expect(logged(run)).toMatch(new RegExp(`Starting the proxy ${proxy} again: it had stopped at \\S+ with exit code 137`))
  expect(await served(shopDomain)).toBe('200 v2')
  expect(await served(blogDomain)).toBe('200 v1')
  // The holder runs the same image as proxy-image: it serves, no generation is needed.
  expect(await generations()).toEqual([])
  // The relay finds the restarted proxy by name (Docker's DNS, re-resolved every second).
  const addressAfter = (await docker.getContainer(proxy).inspect()).NetworkSettings.Networks[`${proxy}-net`].IPAddress
  let answer = await httpsGet(echoDomain, echoCert.cert, '/')
  for (const deadline = Date.now() + 15_000; answer.status !== 200 && Date.now() < deadline; answer = await httpsGet(echoDomain, echoCert.cert, '/')) {
    await new Promise(r => setTimeout(r, 500))
  }
  console.log(`the proxy's address before it was killed ${addressBefore}, after ${addressAfter}; HTTPS through the relay: ${answer.status}`)
  expect(answer.status).toBe(200)
}, 240_000)

it('a reload after the holder started again by itself (a new app) keeps it serving: its switch, left "off" for its earlier start, was set back', async () => {
  expectSuccess(await runAction(inputs(late, lateDomain, { image: image('v1'), 'proxy-image': baseImage })))
  expect(await served(lateDomain)).toBe('200 v1')
  expect(await served(shopDomain)).toBe('200 v2')
  expect(await served(blogDomain)).toBe('200 v1')
}, 240_000)

it('two apps giving different proxy-images: the latest change wins, and the other app does not hand the proxy back', async () => {
  // The shop changes to the new image: a hand-over.
  expectSuccess(await runAction(inputs(shop, shopDomain, { image: image('v1'), 'proxy-image': newImage })))
  const running = async () => (await generations()).filter(g => g.running).map(g => g.image)
  expect(await running()).toEqual([newImage])
  // The blog still gives the image it gave before: the proxy keeps the shop's later choice, and says so, on each deploy.
  for (const version of ['v2', 'v3']) {
    const run = await runAction(inputs(blog, blogDomain, { image: image(version), 'proxy-image': baseImage }))
    expectSuccess(run)
    // (the echo app gave the new image too, for its HTTPS case)
    expect(logged(run)).toMatch(
      new RegExp(
        `The proxy ${proxy} keeps ${escaped(newImage)}, the proxy-image (?:[\\w-]+, )*${shop}(?:, [\\w-]+)* gave after this app's ${escaped(baseImage)}`
      )
    )
    expect(logged(run)).not.toContain('Handing the proxy')
    expect(await running()).toEqual([newImage])
    expect(await served(blogDomain)).toBe(`200 ${version}`)
  }
  expect(await served(shopDomain)).toBe('200 v1')
}, 240_000)

it('a hand-over right before the switch, four times over (an app healthy at once): each switch reaches the HAProxy that now serves', async () => {
  // The old process shares the admin socket until it handles its stop: a switch it took was lost to
  // the new one, whose verification then saw the earlier release for 10 s.
  const steps: [string, string][] = [
    [baseImage, 'v3'],
    [newImage, 'v1'],
    [baseImage, 'v2'],
    [newImage, 'v3']
  ]
  for (const [proxyImage, version] of steps) {
    const run = await runAction(inputs(shop, shopDomain, { image: image(version), 'proxy-image': proxyImage }))
    expectSuccess(run)
    expect(logged(run)).toContain(`Handing the proxy ${proxy} over from`)
    expect(await served(shopDomain)).toBe(`200 ${version}`)
    expect((await generations()).filter(g => g.running && g.image === proxyImage).length).toBeGreaterThan(0)
  }
  expect(await served(blogDomain)).toBe('200 v3')
}, 240_000)

/** A GET over HTTPS on a new connection with SNI, trusting `ca` (status 0: no answer, the body says why). */
async function httpsGet(host: string, ca: string, path: string): Promise<{ status: number; body: string }> {
  const { request } = await import('node:https')
  return new Promise(resolve => {
    const req = request({ host: '127.0.0.1', port: httpsPort, path, servername: host, headers: { host }, ca, agent: false, timeout: 5000 }, res => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', e => resolve({ status: 0, body: `error ${e.message}` }))
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

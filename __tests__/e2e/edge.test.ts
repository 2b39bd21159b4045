import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { bedInputs, runAction, type ActionRun } from '../support/action.js'
import { getFrom, startCaddy, startHostNginx, type HostNginx } from '../support/edges.js'
import { underSteadyLoad } from '../support/load.js'
import { opensslCert } from '../support/certs.js'
import { cleanupApp, freePort, image, localDocker, testbed, uniqueName } from '../support/testbed.js'

// Edge mode (issue #23): cutover's HAProxy behind real edges from Debian's packages. nginx on the
// host (stream, PROXY protocol) in front of a proxy published on 127.0.0.1 only; Caddy 2.6 in a
// container in front of a proxy that publishes nothing and joins the edge's network. Deploys and a
// rollback under load through the edge, and the client's address as the app sees it.
const docker = localDocker()

// An app that answers with its version and the request headers it got (the test image has node).
const ECHO =
  `node -e 'require("http").createServer((q, s) => { s.setHeader("content-type", "application/json"); ` +
  `s.end(JSON.stringify({ version: process.env.VERSION, headers: q.headers })) }).listen(3000)'`

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

/** One request with a PROXY protocol v2 header naming `client` as the source, straight to the proxy's port. */
function proxyV2Get(port: number, client: string): Promise<string> {
  const header = Buffer.alloc(16 + 12)
  Buffer.from('0d0a0d0a000d0a515549540a', 'hex').copy(header, 0)
  header[12] = 0x21 // version 2, PROXY command
  header[13] = 0x11 // TCP over IPv4
  header.writeUInt16BE(12, 14)
  client.split('.').forEach((b, i) => (header[16 + i] = Number(b)))
  ;[10, 0, 0, 1].forEach((b, i) => (header[20 + i] = b))
  header.writeUInt16BE(40000, 24)
  header.writeUInt16BE(80, 26)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(Buffer.concat([header, Buffer.from('GET /v2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]))
    })
    let text = ''
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')))
    socket.on('data', c => (text += c))
    socket.on('end', () => resolve(text))
    socket.on('error', reject)
  })
}

async function underLoadThrough(edgePort: number, run: () => Promise<ActionRun>) {
  const seen = await underSteadyLoad(`http://127.0.0.1:${edgePort}/`, run)
  expectSuccess(seen.result)
  return seen
}

describe('behind nginx on the host: proxy-port 127.0.0.1:PORT, PROXY protocol', () => {
  const app = uniqueName('edgn')
  const proxy = `${app}-proxy`
  let proxyPort: number
  let edgePort: number
  let nginx: HostNginx | undefined
  // Docker's gateways: the connections of an edge on the host reach the published port from them.
  const trusted = '172.16.0.0/12 192.168.0.0/16 10.0.0.0/8'
  const inputs = (overrides: Record<string, string> = {}) =>
    bedInputs(app, 0, {
      'proxy-port': `127.0.0.1:${proxyPort}`,
      'proxy-protocol': 'true',
      'trusted-proxies': trusted,
      'drain-timeout': '2s',
      command: ECHO,
      ...overrides
    })

  beforeAll(async () => {
    proxyPort = await freePort()
    edgePort = await freePort()
  })
  afterAll(async () => {
    await nginx?.stop()
    await cleanupApp(app, proxy)
  })

  it('first deploy: published on 127.0.0.1 only, PROXY protocol expected from the trusted sources', async () => {
    const run = await runAction(inputs({ image: image('v1') }))
    expectSuccess(run)
    expect(run.outputs).toMatchObject({ result: 'deployed', color: 'blue' })
    const info = await docker.getContainer(proxy).inspect()
    expect(info.HostConfig.PortBindings['80/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(proxyPort) }])
    expect(run.stdout).toContain(`expects a PROXY protocol header from 172.16.0.0/12, 192.168.0.0/16, 10.0.0.0/8 (proxy-protocol of ${app})`)
    // A hand-made v2 header straight to the proxy: the address it names is the client's.
    const answer = await proxyV2Get(proxyPort, '203.0.113.9')
    expect(answer).toMatch(/^HTTP\/1\.1 200/)
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).headers['x-forwarded-for']).toBe('203.0.113.9')
  })

  it("nginx's stream edge (proxy_protocol on): the app sees the client's address; v2 and a rollback under load through it lose nothing", async () => {
    nginx = await startHostNginx(
      `stream {\n  server {\n    listen 127.0.0.1:${edgePort};\n    proxy_pass 127.0.0.1:${proxyPort};\n    proxy_protocol on;\n  }\n}`,
      edgePort
    )
    const seen = await getFrom('127.0.0.7', edgePort, '/who', { 'x-forwarded-for': '6.6.6.6' })
    expect(seen.status).toBe(200)
    expect(JSON.parse(seen.body).headers['x-forwarded-for']).toBe('127.0.0.7')

    const deploy = await underLoadThrough(edgePort, () => runAction(inputs({ image: image('v2') })))
    expect(deploy.result.outputs).toMatchObject({ result: 'deployed', color: 'green' })
    expect(deploy.failures).toEqual({ failures: 0, errors: [] })
    const back = await underLoadThrough(edgePort, () => runAction(inputs({ mode: 'rollback' })))
    expect(back.result.outputs).toMatchObject({ result: 'rolled-back', color: 'blue' })
    expect(back.failures).toEqual({ failures: 0, errors: [] })
    expect(deploy.sent + back.sent).toBeGreaterThan(200)
    const after = await getFrom('127.0.0.9', edgePort, '/who', {})
    expect(JSON.parse(after.body)).toMatchObject({ version: 'v1', headers: { 'x-forwarded-for': '127.0.0.9' } })
  })
})

describe('behind an edge that passes TCP through: tls on at cutover, the edge only forwards bytes', () => {
  const app = uniqueName('edgt')
  const proxy = `${app}-proxy`
  const domain = `${app}.example.test`
  const cert = opensslCert([domain])
  let nginx: HostNginx | undefined
  afterAll(async () => {
    await nginx?.stop()
    await cleanupApp(app, proxy)
  })

  it("nginx's stream edge forwards TLS to the proxy's https-port; cutover's certificate answers, and a v2 under load through it loses nothing", async () => {
    const [proxyPort, httpsPort, edgePort] = [await freePort(), await freePort(), await freePort()]
    const inputs = (overrides: Record<string, string>) =>
      bedInputs(app, 0, {
        'proxy-port': `127.0.0.1:${proxyPort}`,
        'https-port': String(httpsPort),
        domains: domain,
        tls: 'custom',
        'tls-certificate': cert.cert,
        'tls-key': cert.key,
        'drain-timeout': '2s',
        ...overrides
      })
    expectSuccess(await runAction(inputs({ image: image('v1') })))
    const info = await docker.getContainer(proxy).inspect()
    expect(info.HostConfig.PortBindings['443/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(httpsPort) }])
    nginx = await startHostNginx(`stream {\n  server {\n    listen 127.0.0.1:${edgePort};\n    proxy_pass 127.0.0.1:${httpsPort};\n  }\n}`, edgePort)
    const through = () =>
      new Promise<{ status?: number; body: string; subject: string }>((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port: edgePort, path: '/', servername: domain, headers: { host: domain }, ca: cert.cert, timeout: 10_000 },
          res => {
            // The socket goes back to the agent at the end: read the certificate now.
            const subject = (res.socket as TLSSocket).getPeerCertificate().subjectaltname ?? ''
            let body = ''
            res.on('data', c => (body += c))
            res.on('end', () => resolve({ status: res.statusCode, body, subject }))
          }
        )
        req.on('error', reject)
        req.on('timeout', () => req.destroy(new Error('timeout')))
        req.end()
      })
    const first = await through()
    expect(`${first.status} ${first.body.trim()}`).toBe('200 v1')
    expect(first.subject).toContain(`DNS:${domain}`)

    const seen = await underSteadyLoad(`https://127.0.0.1:${edgePort}/`, () => runAction(inputs({ image: image('v2') })), { ca: cert.cert, servername: domain })
    expectSuccess(seen.result)
    expect(seen.failures).toEqual({ failures: 0, errors: [] })
    expect(seen.sent).toBeGreaterThan(50)
    expect((await through()).body.trim()).toBe('v2')
  })
})

describe('behind Caddy in a container: proxy-port none, proxy-networks, X-Forwarded-For', () => {
  const app = uniqueName('edgc')
  const proxy = `${app}-proxy`
  const edgeNetwork = `${app}-edge`
  const caddy = `${app}-caddy`
  let edgePort: number
  let subnet: string
  const inputs = (overrides: Record<string, string> = {}) =>
    bedInputs(app, 0, {
      'proxy-port': 'none',
      'proxy-networks': edgeNetwork,
      'trusted-proxies': subnet,
      'drain-timeout': '2s',
      command: ECHO,
      ...overrides
    })

  beforeAll(async () => {
    edgePort = await freePort()
    await docker.createNetwork({ Name: edgeNetwork, Driver: 'bridge', Labels: { 'cutover-test': 'edge' } })
    subnet = ((await docker.getNetwork(edgeNetwork).inspect()) as { IPAM: { Config: { Subnet: string }[] } }).IPAM.Config[0].Subnet
  })
  afterAll(async () => {
    await docker
      .getContainer(caddy)
      .remove({ force: true })
      .catch(() => undefined)
    await cleanupApp(app, proxy)
    await docker
      .getNetwork(edgeNetwork)
      .remove()
      .catch(() => undefined)
  })

  it('a missing edge network is refused before anything is created', async () => {
    const run = await runAction(inputs({ image: image('v1'), 'proxy-networks': `${app}-nope` }))
    expect(run.code).not.toBe(0)
    expect(run.stdout).toContain(`The Docker network ${app}-nope named in proxy-networks does not exist on the host. Nothing was changed.`)
    await expect(docker.getContainer(proxy).inspect()).rejects.toThrow()
    await expect(docker.getContainer(`${app}-blue`).inspect()).rejects.toThrow()
  })

  it('first deploy: the proxy publishes nothing and joins the edge network; Caddy reaches it by name', async () => {
    const run = await runAction(inputs({ image: image('v1') }))
    expectSuccess(run)
    const info = await docker.getContainer(proxy).inspect()
    expect(info.HostConfig.PortBindings).toEqual({})
    expect(Object.keys(info.NetworkSettings.Networks)).toContain(edgeNetwork)
    await startCaddy(caddy, edgeNetwork, edgePort, `{\n  admin off\n  auto_https off\n}\n:80 {\n  reverse_proxy ${proxy}:80\n}\n`)
    let answer = await getFrom('127.0.0.1', edgePort, '/', {}).catch(() => undefined)
    for (let i = 0; i < 50 && answer?.status !== 200; i++) {
      await new Promise(r => setTimeout(r, 200))
      answer = await getFrom('127.0.0.1', edgePort, '/', {}).catch(() => undefined)
    }
    expect(answer?.status).toBe(200)
    expect(JSON.parse(answer!.body).version).toBe('v1')
  })

  it('v2 and a rollback under load through Caddy: no failed request', async () => {
    const deploy = await underLoadThrough(edgePort, () => runAction(inputs({ image: image('v2') })))
    expect(deploy.result.outputs).toMatchObject({ result: 'deployed', color: 'green' })
    expect(deploy.failures).toEqual({ failures: 0, errors: [] })
    const back = await underLoadThrough(edgePort, () => runAction(inputs({ mode: 'rollback' })))
    expect(back.result.outputs).toMatchObject({ result: 'rolled-back', color: 'blue' })
    expect(back.failures).toEqual({ failures: 0, errors: [] })
    expect(deploy.sent + back.sent).toBeGreaterThan(200)
  })

  it("a client on the edge's network: the app sees its address (Caddy's X-Forwarded-For, kept from a trusted edge)", async () => {
    const bed = testbed()
    const authconfig = { username: bed.CUTOVER_TEST_REGISTRY_USER, password: bed.CUTOVER_TEST_REGISTRY_PASSWORD, serveraddress: bed.CUTOVER_TEST_REGISTRY }
    await new Promise<void>((resolve, reject) =>
      docker.pull(image('v1'), { authconfig }, (err: unknown, stream?: NodeJS.ReadableStream) =>
        err || !stream ? reject(err as Error) : docker.modem.followProgress(stream, e => (e ? reject(e) : resolve()))
      )
    )
    const script =
      `const os = require("os"); const ip = Object.values(os.networkInterfaces()).flat().find(a => a.family === "IPv4" && !a.internal).address; ` +
      `require("http").get({ host: "${caddy}", port: 80, path: "/who", headers: { "x-forwarded-for": "6.6.6.6" } }, r => { let b = ""; ` +
      `r.on("data", c => b += c); r.on("end", () => console.log(JSON.stringify({ ip, seen: JSON.parse(b).headers["x-forwarded-for"] }))) })`
    const client = await docker.createContainer({
      name: `${app}-client`,
      Image: image('v1'),
      Entrypoint: ['node', '-e', script],
      Labels: { 'cutover-test': 'edge' },
      HostConfig: { NetworkMode: edgeNetwork }
    })
    try {
      await client.start()
      const { StatusCode } = (await client.wait()) as { StatusCode: number }
      const logs = (await client.logs({ stdout: true, stderr: true })).toString('utf8')
      expect({ StatusCode, logs: logs.slice(0, 0) }).toEqual({ StatusCode: 0, logs: '' })
      const line = logs.split('\n').find(l => l.includes('"ip"'))!
      const { ip, seen } = JSON.parse(line.slice(line.indexOf('{'))) as { ip: string; seen: string }
      expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
      expect(seen).toBe(ip)
    } finally {
      await client.remove({ force: true }).catch(() => undefined)
    }
  })
})

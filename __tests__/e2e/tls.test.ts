import { readFileSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { opensslCert } from '../support/certs.js'
import { cleanupApp, freePort, image, localDocker, REPO, testbed, uniqueName } from '../support/testbed.js'

// HTTPS on the HAProxy proxy (issue #10): tls custom with openssl certificates, tls auto against
// Debian's pebble (scripts/testbed/pebble.sh: real HTTP-01 validation through the proxy).
const docker = localDocker()

function haproxyImage(): string {
  const bed = testbed()
  return bed.CUTOVER_TEST_HAPROXY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/haproxy:2.6`
}

interface Pebble {
  directory: string
  apiCa: string
  management: string
  challtestsrv: string
  httpPort: number
}

function pebble(): Pebble {
  return JSON.parse(readFileSync(`${REPO}/.testbed/pebble.json`, 'utf8')) as Pebble
}

/** The root pebble signs with (it makes a new one at every start): what a browser would trust. */
async function pebbleRoot(): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(`${pebble().management}/roots/0`, { rejectUnauthorized: false }, res => {
        let body = ''
        res.on('data', c => (body += c))
        res.on('end', () => resolve(body))
      })
      .on('error', reject)
  })
}

// An app that answers with the request headers it got, so the forwarded headers can be checked.
// (The test app image has node; no shell runs the command, single quotes keep the script one argument.)
const ECHO =
  `node -e 'require("http").createServer((q, s) => { s.setHeader("content-type", "application/json"); ` +
  `s.end(JSON.stringify({ url: q.url, headers: q.headers })) }).listen(3000)'`

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

interface HttpsAnswer {
  status: number
  body: string
  headers: Record<string, string | string[] | undefined>
  serial: string
  issuer: string
  alpn: string | false | null
}

/** One request over a new TLS connection to 127.0.0.1:port with SNI = host, verified against `ca`. */
function httpsGet(port: number, host: string, ca: string, path = '/', headers: Record<string, string> = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path, servername: host, ca, headers: { host, connection: 'close', ...headers }, agent: false, timeout: 10000 },
      res => {
        const socket = res.socket as tls.TLSSocket
        const cert = socket.getPeerCertificate()
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            headers: res.headers,
            serial: cert.serialNumber,
            issuer: String(cert.issuer?.CN ?? ''),
            alpn: socket.alpnProtocol
          })
        )
      }
    )
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timeout')))
  })
}

/** The protocol the proxy picks when the client offers HTTP/2 and HTTP/1.1. */
function negotiatedAlpn(port: number, host: string, ca: string): Promise<string | false | null> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: host, ca, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      resolve(socket.alpnProtocol)
      socket.end()
    })
    socket.on('error', reject)
  })
}

/** One GET over HTTP/2 (TLS with ALPN h2). */
function http2Get(port: number, host: string, ca: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { servername: host, ca })
    session.on('error', reject)
    const req = session.request({ ':path': path, ':authority': host })
    let status = 0
    let body = ''
    req.setEncoding('utf8')
    req.on('response', h => (status = Number(h[':status'])))
    req.on('data', (c: string) => (body += c))
    req.on('end', () => {
      session.close()
      resolve({ status, body })
    })
    req.on('error', reject)
    req.end()
  })
}

/** The worker's pid, from the proxy's admin socket on this host: it changes with every reload. */
function proxyPid(proxy: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(`/run/cutover/${proxy}/admin.sock`)
    let text = ''
    socket.on('data', c => (text += c))
    socket.on('close', () => resolve(Number(/^Pid:\s*(\d+)/m.exec(text)?.[1])))
    socket.on('error', reject)
    socket.write('show info\n')
  })
}

/** Keep-alive HTTPS traffic from a few loops until stopped: counts answers and failures. */
function httpsLoad(port: number, host: string, ca: string, connections = 3) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: connections, ca, servername: host })
  const stats = { ok: 0, failed: 0, errors: [] as string[], sockets: new Set<unknown>() }
  let stopped = false
  const once = () =>
    new Promise<void>(resolve => {
      const req = https.get({ host: '127.0.0.1', port, path: '/', agent, headers: { host }, timeout: 10000 }, res => {
        stats.sockets.add(res.socket)
        res.resume()
        res.on('end', () => {
          if (res.statusCode === 200) stats.ok++
          else {
            stats.failed++
            if (stats.errors.length < 5) stats.errors.push(`HTTP ${res.statusCode}`)
          }
          resolve()
        })
      })
      req.on('error', e => {
        stats.failed++
        if (stats.errors.length < 5) stats.errors.push(e.message)
        resolve()
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
    })
  const loops = Array.from({ length: connections }, async () => {
    while (!stopped) await once()
  })
  return {
    stats,
    stop: async () => {
      stopped = true
      await Promise.all(loops)
      agent.destroy()
      return stats
    }
  }
}

describe('tls custom (openssl certificate)', () => {
  const app = uniqueName('tlsc')
  const proxy = `${app}-proxy`
  const host = `${app}.example.test`
  let port: number
  let httpsPort: number
  const first = opensslCert([host])
  const inputs = (overrides: Record<string, string> = {}) =>
    bedInputs(app, port, {
      'proxy-type': 'haproxy',
      'proxy-image': haproxyImage(),
      'drain-timeout': '2s',
      domains: host,
      image: image('v1'),
      command: ECHO,
      tls: 'custom',
      'tls-certificate': first.cert,
      'tls-key': first.key,
      'https-port': String(httpsPort),
      ...overrides
    })

  beforeAll(async () => {
    port = await freePort()
    httpsPort = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, proxy)
  })

  it('serves HTTPS with the certificate, HTTP/2 by ALPN, a 308 from HTTP, and sets the forwarded headers itself', async () => {
    const run = await runAction(inputs())
    expectSuccess(run)
    // the key is masked: never in the log
    const keyLine = first.key.split('\n')[1]
    const printed = (run.stdout + run.stderr).split('\n').filter(l => !l.startsWith('::add-mask::'))
    expect(printed.join('\n')).not.toContain(keyLine)

    const res = await httpsGet(httpsPort, host, first.cert, '/x?y=1', {
      'x-forwarded-proto': 'gopher',
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-host': 'evil'
    })
    expect(res.status).toBe(200)
    expect(res.serial).toBe(new (await import('node:crypto')).X509Certificate(first.cert).serialNumber)
    const seen = JSON.parse(res.body) as { url: string; headers: Record<string, string> }
    expect(seen.url).toBe('/x?y=1')
    expect(seen.headers['x-forwarded-proto']).toBe('https')
    expect(seen.headers['x-forwarded-host']).toBe(host)
    expect(seen.headers['x-forwarded-for']).toMatch(/^[\d.]+$/)
    expect(seen.headers['x-forwarded-for']).not.toContain('6.6.6.6')
    expect(res.headers['strict-transport-security']).toBeUndefined()
    expect(await negotiatedAlpn(httpsPort, host, first.cert)).toBe('h2')
    // and a real HTTP/2 request gets the app's answer, with the forwarded headers
    const h2 = await http2Get(httpsPort, host, first.cert, '/over-h2')
    expect(h2.status).toBe(200)
    expect(JSON.parse(h2.body)).toMatchObject({ url: '/over-h2', headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': host } })

    const plain = await get(`http://127.0.0.1:${port}/a/b?c=d`, { host })
    expect(plain.status).toBe(308)
    expect(plain.headers.location).toBe(`https://${host}:${httpsPort}/a/b?c=d`)
    // ACME challenges are never redirected (no renewer here: the app answers)
    const challenge = await get(`http://127.0.0.1:${port}/.well-known/acme-challenge/abc`, { host })
    expect(challenge.status).toBe(200)
    expect(JSON.parse(challenge.body).headers['x-forwarded-proto']).toBe('http')

    // root-only in the proxy's volume
    const volume = await docker.getVolume(`${proxy}-conf`).inspect()
    const { statSync } = await import('node:fs')
    expect(statSync(`${volume.Mountpoint}/cert-${app}.pem`).mode & 0o777).toBe(0o600)
    const info = await docker.getContainer(proxy).inspect()
    expect(info.HostConfig.PortBindings['443/tcp'][0].HostPort).toBe(String(httpsPort))
  })

  it('a new certificate, hsts and trusted-proxies take effect at the next deploy; no redirect with tls-redirect false', async () => {
    const second = opensslCert([host, `www.${host}`])
    const run = await runAction(
      inputs({
        domains: `${host} www.${host}`,
        'tls-certificate': second.cert,
        'tls-key': second.key,
        hsts: 'true',
        'trusted-proxies': '0.0.0.0/0',
        'tls-redirect': 'false'
      })
    )
    expectSuccess(run)
    const res = await httpsGet(httpsPort, `www.${host}`, second.cert, '/', {
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-host': 'public.example'
    })
    expect(res.serial).toBe(new (await import('node:crypto')).X509Certificate(second.cert).serialNumber)
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000')
    const seen = JSON.parse(res.body) as { headers: Record<string, string> }
    expect(seen.headers).toMatchObject({ 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9', 'x-forwarded-host': 'public.example' })
    const plain = await get(`http://127.0.0.1:${port}/`, { host })
    expect(plain.status).toBe(200)
    expect(plain.headers['strict-transport-security']).toBeUndefined()
  })

  it('keep-alive HTTPS traffic through a deploy and a rollback: no failed request', async () => {
    const second = opensslCert([host, `www.${host}`])
    const tlsInputs = { domains: `${host} www.${host}`, 'tls-certificate': second.cert, 'tls-key': second.key, command: '' }
    // the certificate in place before the load starts: the load trusts only this one
    expectSuccess(await runAction(inputs({ ...tlsInputs })))
    const load = httpsLoad(httpsPort, host, second.cert, 4)
    await new Promise(r => setTimeout(r, 300))
    expectSuccess(await runAction(inputs({ ...tlsInputs, image: image('v2') })))
    expectSuccess(await runAction(inputs({ ...tlsInputs, mode: 'rollback', image: '' })))
    await new Promise(r => setTimeout(r, 300))
    const stats = await load.stop()
    expect(stats.errors).toEqual([])
    expect(stats.failed).toBe(0)
    expect(stats.ok).toBeGreaterThan(100)
    // the same few TLS connections carried the traffic through both switches
    expect(stats.sockets.size).toBeLessThanOrEqual(4)
  })
})

describe('tls auto (ACME against pebble)', () => {
  const app = uniqueName('tlsa')
  const proxy = `${app}-proxy`
  const host = `${app}.example.test`
  let httpsPort: number
  // pebble validates HTTP-01 on one fixed port: this proxy publishes HTTP there.
  const port = () => pebble().httpPort
  const inputs = (overrides: Record<string, string> = {}) =>
    bedInputs(app, port(), {
      'proxy-type': 'haproxy',
      'proxy-image': haproxyImage(),
      'drain-timeout': '2s',
      domains: host,
      image: image('v1'),
      tls: 'auto',
      'acme-email': 'ops@example.test',
      'acme-directory': pebble().directory,
      'acme-directory-ca': readFileSync(pebble().apiCa, 'utf8'),
      // the bed's Node image (node + its libraries, FROM scratch): what node:24-alpine is in production
      'acme-image': image('v1'),
      'https-port': String(httpsPort),
      ...overrides
    })

  beforeAll(async () => {
    httpsPort = await freePort()
  })
  afterAll(async () => {
    await cleanupApp(app, proxy)
  })

  it('first deploy obtains a certificate through HTTP-01 before the switch, and serves it', async () => {
    // Renewals forced every few seconds: the next test watches one happen with no workflow run.
    const run = await runAction(inputs(), { CUTOVER_ACME_CHECK_INTERVAL_MS: '4000', CUTOVER_ACME_RENEW_FRACTION: '2' })
    expectSuccess(run)
    expect(run.stdout).toMatch(/Requesting a certificate for .* \(no certificate yet\)/)
    const root = await pebbleRoot()
    const res = await httpsGet(httpsPort, host, root)
    expect(res.status).toBe(200)
    expect(res.body.trim()).toBe('v1')
    expect(res.issuer).toMatch(/Pebble/i)
    expect(await negotiatedAlpn(httpsPort, host, root)).toBe('h2')
    const plain = await get(`http://127.0.0.1:${port()}/`, { host })
    expect(plain.status).toBe(308)
    expect(plain.headers.location).toBe(`https://${host}:${httpsPort}/`)
    const renewer = await docker.getContainer(`${proxy}-acme`).inspect()
    expect(renewer.State.Running).toBe(true)
  })

  it('renews on the host by itself: a new certificate is served with no workflow run, no reload and no failed request', async () => {
    const root = await pebbleRoot()
    const before = await httpsGet(httpsPort, host, root)
    const pid = await proxyPid(proxy)
    const load = httpsLoad(httpsPort, host, root)
    // the renewer checks every 4 s and is told every certificate is due (CUTOVER_ACME_RENEW_FRACTION=2)
    let after = before
    const deadline = Date.now() + 60_000
    while (after.serial === before.serial && Date.now() < deadline) {
      await new Promise(r => setTimeout(r, 500))
      after = await httpsGet(httpsPort, host, root)
    }
    await new Promise(r => setTimeout(r, 1000))
    const stats = await load.stop()
    expect(after.serial).not.toBe(before.serial)
    expect(after.issuer).toMatch(/Pebble/i)
    expect(stats.failed).toBe(0)
    expect(stats.ok).toBeGreaterThan(20)
    expect(stats.errors).toEqual([])
    // installed through the admin socket: the same HAProxy worker serves it
    expect(await proxyPid(proxy)).toBe(pid)
    const logs = String(await docker.getContainer(`${proxy}-acme`).logs({ stdout: true, stderr: true, tail: 50 }))
    expect(logs).toContain('HAProxy serves it now (runtime API, no reload)')
  })

  it("mode status and the job summary show each domain's certificate issuer and expiry", async () => {
    const run = await runAction({ ...inputs(), mode: 'status' })
    expectSuccess(run)
    expect(run.stdout).toMatch(new RegExp(`Certificate of ${host}: issued by .*Pebble.*, valid until 20\\d\\d-`))
    expect(run.summary).toContain('### Certificates')
    expect(run.summary).toMatch(new RegExp(`\\| ${host} \\| .*Pebble.* \\| 20\\d\\d-.* \\| \\d+ days left \\|`))
  })

  it('a name the CA cannot validate fails the deploy with the ACME error, and the HTTP route keeps serving', async () => {
    // Another proxy, on another port: pebble validates on its fixed port, where the proxy above
    // does not know this name (as when DNS points elsewhere).
    const other = uniqueName('tlsf')
    const otherProxy = `${other}-proxy`
    const otherHost = `${other}.example.test`
    const otherPort = await freePort()
    const otherHttps = await freePort()
    try {
      const base = {
        ...inputs(),
        app: other,
        'proxy-name': otherProxy,
        'proxy-port': String(otherPort),
        'https-port': String(otherHttps),
        domains: otherHost
      }
      expectSuccess(await runAction({ ...base, tls: 'off', 'acme-email': '', 'acme-directory': '', 'acme-directory-ca': '', 'acme-image': '' }))
      expect((await get(`http://127.0.0.1:${otherPort}/`, { host: otherHost })).body.trim()).toBe('v1')
      // https-port given with tls off (issue #22): the new proxy publishes it from the start.
      const bindings = (await localDocker().getContainer(otherProxy).inspect()).HostConfig.PortBindings as Record<string, { HostPort: string }[]>
      expect(bindings['443/tcp']?.map(b => b.HostPort)).toEqual([String(otherHttps)])

      const run = await runAction({ ...base, image: image('v2') })
      expect(run.code).not.toBe(0)
      expect(run.outputs.result).toBe('failed')
      expect(run.errors.join('\n')).toMatch(new RegExp(`No certificate for ${otherHost}: .*(404|unauthorized|Invalid response)`, 'i'))
      // The failed run's summary says which name has none.
      expect(run.summary).toContain(`| ${otherHost} | — | — | ⚠️ no certificate |`)
      // HTTPS was published from the proxy's creation: adding tls re-created nothing; v1 still answers over HTTP
      expect(run.stdout).not.toContain('re-creating it')
      const still = await get(`http://127.0.0.1:${otherPort}/`, { host: otherHost })
      expect(`${still.status} ${still.body.trim()}`).toBe('200 v1')
    } finally {
      await cleanupApp(other, otherProxy)
    }
  })
})

import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import { join } from 'node:path'
import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { startBind, type TestBind } from '../support/bind.js'
import { cleanupApp, freePort, image, localDocker, REPO, uniqueName } from '../support/testbed.js'
import { tempDir } from '../support/temp-dirs.js'

// tls: auto with acme-challenge: dns-01 (issue #23): a wildcard certificate from a pebble of this
// test's own that validates DNS-01 against Debian's bind9, authoritative for a test zone and
// updated by the renewer over RFC 2136 with a TSIG key.

interface BedPebble {
  directory: string
  directoryFromHost: string
  apiCa: string
}
const bedPebble = JSON.parse(readFileSync(`${REPO}/.testbed/pebble.json`, 'utf8')) as BedPebble
/** The host address the bed's pebble listens on (Docker's bridge gateway: containers reach it as host.docker.internal). */
const gateway = new URL(bedPebble.directoryFromHost).hostname

interface OwnPebble {
  directory: string
  management: string
  stop(): Promise<void>
}

/** A pebble of this test: its own ports, the bed's API certificate, DNS-01 looked up at `dnsPort` on loopback. */
async function startPebble(dnsPort: number): Promise<OwnPebble> {
  const [api, management, http, tls] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const dir = tempDir('cutover-pebble-')
  const bedDir = join(REPO, '.testbed', 'pebble')
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `${gateway}:${api}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: join(bedDir, 'cert.pem'),
        privateKey: join(bedDir, 'key.pem'),
        httpPort: http,
        tlsPort: tls,
        ocspResponderURL: '',
        externalAccountBindingRequired: false
      }
    })
  )
  const child: ChildProcess = spawn('pebble', ['-config', join(dir, 'config.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let log = ''
  child.stdout!.on('data', d => (log += d))
  child.stderr!.on('data', d => (log += d))
  const exited = new Promise<void>(resolve => child.on('exit', () => resolve()))
  const ca = readFileSync(bedPebble.apiCa, 'utf8')
  const started = Date.now()
  for (;;) {
    const up = await new Promise<boolean>(resolve =>
      https
        .get(`https://${gateway}:${api}/dir`, { ca, timeout: 1000 }, res => (res.resume(), resolve(res.statusCode === 200)))
        .on('error', () => resolve(false))
    )
    if (up) break
    if (child.exitCode !== null || Date.now() - started > 20_000) throw new Error(`pebble did not start: ${log.slice(-2000)}`)
    await new Promise(r => setTimeout(r, 200))
  }
  return {
    directory: `https://host.docker.internal:${api}/dir`,
    management: `https://127.0.0.1:${management}`,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      await Promise.race([exited, new Promise(r => setTimeout(r, 5000))])
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  }
}

function pebbleRoot(management: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(`${management}/roots/0`, { rejectUnauthorized: false }, res => {
        let body = ''
        res.on('data', c => (body += c))
        res.on('end', () => resolve(body))
      })
      .on('error', reject)
  })
}

interface Served {
  status: number
  body: string
  serial: string
  names: string
  issuer: string
}

/** One HTTPS request for `host` (SNI and Host), trusting `ca` only; the certificate served. */
function httpsGet(port: number, host: string, ca: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', servername: host, headers: { host }, ca, agent: false, timeout: 10_000 }, res => {
      const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate()
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, serial: cert.serialNumber, names: cert.subjectaltname ?? '', issuer: JSON.stringify(cert.issuer) })
      )
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

describe('tls auto, acme-challenge dns-01: a wildcard certificate through RFC 2136 and bind9', () => {
  const app = uniqueName('dns')
  const proxy = `${app}-proxy`
  const zone = `${app}.test`
  let bind: TestBind
  let pebble: OwnPebble
  let port: number
  let httpsPort: number
  const inputs = (overrides: Record<string, string> = {}) =>
    bedInputs(app, port, {
      'drain-timeout': '2s',
      domains: `*.${zone}`,
      image: image('v1'),
      tls: 'auto',
      'acme-challenge': 'dns-01',
      'acme-dns-server': `host.docker.internal:${bind.port}`,
      'acme-dns-zone': zone,
      'acme-dns-tsig-key': bind.keyBlock,
      'acme-directory': pebble.directory,
      'acme-directory-ca': readFileSync(bedPebble.apiCa, 'utf8'),
      'acme-image': image('v1'),
      'https-port': String(httpsPort),
      ...overrides
    })

  beforeAll(async () => {
    port = await freePort()
    httpsPort = await freePort()
    // On loopback for pebble, on Docker's gateway for the renewer container (host.docker.internal).
    bind = await startBind({ zone, port: await freePort(), addresses: ['127.0.0.1', gateway] })
    pebble = await startPebble(bind.port)
  }, 60_000)
  afterAll(async () => {
    await cleanupApp(app, proxy)
    await pebble?.stop()
    await bind?.stop()
  })

  it('issues a wildcard certificate before the switch and serves it for two subdomains; the TSIG key is never printed', async () => {
    const run = await runAction(inputs(), { CUTOVER_ACME_CHECK_INTERVAL_MS: '4000', CUTOVER_ACME_RENEW_FRACTION: '2' })
    expectSuccess(run)
    expect(run.stdout).toContain(`Requesting a certificate for *.${zone} from ${pebble.directory} by dns-01 (no certificate yet)`)
    const printed = (run.stdout + run.stderr).split('\n').filter(l => !l.startsWith('::add-mask::'))
    expect(printed.join('\n')).not.toContain(bind.secret)
    const root = await pebbleRoot(pebble.management)
    for (const name of [`a.${zone}`, `b.${zone}`]) {
      const res = await httpsGet(httpsPort, name, root)
      expect(res.status).toBe(200)
      expect(res.body.trim()).toBe('v1')
      expect(res.names).toBe(`DNS:*.${zone}`)
      expect(res.issuer).toMatch(/Pebble/i)
    }
    // the challenge records are gone again
    expect(await bind.txt(`_acme-challenge.${zone}`)).toEqual([])
  })

  it('renews on the host by itself (DNS-01 again), with no workflow run', async () => {
    const root = await pebbleRoot(pebble.management)
    const before = await httpsGet(httpsPort, `a.${zone}`, root)
    let after = before
    const deadline = Date.now() + 60_000
    while (after.serial === before.serial && Date.now() < deadline) {
      await new Promise(r => setTimeout(r, 500))
      after = await httpsGet(httpsPort, `c.${zone}`, root)
    }
    const logs = String(await localDocker().getContainer(`${proxy}-acme`).logs({ stdout: true, stderr: true, tail: 30 }))
    expect({ renewed: after.serial !== before.serial, logs: after.serial !== before.serial ? '' : logs }).toEqual({ renewed: true, logs: '' })
    expect(after.names).toBe(`DNS:*.${zone}`)
    expect(logs).toContain('HAProxy serves it now (runtime API, no reload)')
  })

  it("a wrong TSIG key fails the deploy with the DNS server's answer, and HTTP keeps serving", async () => {
    const other = uniqueName('dnsf')
    const otherProxy = `${other}-proxy`
    const otherPort = await freePort()
    const otherHttps = await freePort()
    try {
      const base = {
        ...inputs(),
        app: other,
        'proxy-name': otherProxy,
        'proxy-port': String(otherPort),
        'https-port': String(otherHttps),
        domains: `www.${zone}`
      }
      const plain = { ...base, tls: 'off', 'acme-challenge': '', 'acme-dns-server': '', 'acme-dns-zone': '', 'acme-dns-tsig-key': '' }
      expectSuccess(await runAction({ ...plain, 'acme-directory': '', 'acme-directory-ca': '', 'acme-image': '' }))
      const wrong = bind.keyBlock.replace(bind.secret, Buffer.alloc(32, 7).toString('base64'))
      const run = await runAction({ ...base, image: image('v2'), 'acme-dns-tsig-key': wrong })
      expect(run.code).not.toBe(0)
      expect(run.outputs.result).toBe('failed')
      expect(run.errors.join('\n')).toContain(`No certificate for www.${zone}:`)
      expect(run.errors.join('\n')).toContain(`refused the update of zone ${zone} (adding TXT _acme-challenge.www.${zone}): it answered NOTAUTH (TSIG BADSIG)`)
      const still = await get(`http://127.0.0.1:${otherPort}/`, { host: `www.${zone}` })
      expect(`${still.status} ${still.body.trim()}`).toBe('200 v1')
    } finally {
      await cleanupApp(other, otherProxy)
    }
  })
})

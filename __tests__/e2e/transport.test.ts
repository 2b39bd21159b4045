import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { bedInputs, get, runAction, startAction, untilOutput, type ActionRun } from '../support/action.js'
import { acceptedConnections, cleanupApp, freePort, image, testbed, uniqueName } from '../support/testbed.js'
import { tempDir } from '../support/temp-dirs.js'

// The SSH transport against the real bed: host key pinning (known_hosts, fingerprint, jump host),
// key kinds, one connection per run, and secrets kept out of the log.
const bed = testbed()
const SSH_PORT = Number(bed.CUTOVER_TEST_SSH_PORT)
const BASTION_PORT = Number(bed.CUTOVER_TEST_BASTION_PORT)

const ED25519 = bed.CUTOVER_TEST_KEY
const ED25519_PASS = bed.CUTOVER_TEST_KEY_PASS
const RSA = bed.CUTOVER_TEST_RSA_KEY

/**
 * A TCP relay in front of one of the bed's sshd. Other test files (and other people's runs) use the
 * same sshd at the same time, so counting every "Accepted publickey" line would count theirs too:
 * a run that goes through its own relay has connections we can count, and each has a source port
 * that sshd writes in its log, so we can tell which accepted connections were this run's.
 */
class Relay {
  /** TCP connections the action (or the bastion, for the target) opened through the relay. */
  connections = 0
  /** The local ports of the relay's connections to sshd: sshd logs them as "from 127.0.0.1 port N". */
  readonly sourcePorts = new Set<number>()
  private readonly sockets = new Set<Socket>()

  private constructor(
    private readonly server: Server,
    readonly port: number
  ) {}

  static start(sshdPort: number): Promise<Relay> {
    return new Promise((resolve, reject) => {
      const server = createServer()
      const relay = new Relay(server, 0)
      server.on('connection', client => {
        relay.connections++
        const upstream = connect(sshdPort, '127.0.0.1', () => relay.sourcePorts.add(upstream.localPort!))
        for (const s of [client, upstream]) {
          relay.sockets.add(s)
          s.on('close', () => relay.sockets.delete(s))
          s.on('error', () => undefined)
        }
        client.on('close', () => upstream.destroy())
        upstream.on('close', () => client.destroy())
        client.pipe(upstream).pipe(client)
      })
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        ;(relay as { port: number }).port = (server.address() as { port: number }).port
        resolve(relay)
      })
    })
  }

  /** Cuts every connection through the relay now, as a network failure would. */
  cut(): void {
    for (const s of this.sockets) s.destroy()
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise(resolve => this.server.close(() => resolve()))
  }
}

/** An sshd log from now on. */
class LogWindow {
  private readonly offset: number
  private readonly total: number

  constructor(private readonly file: string) {
    this.offset = existsSync(file) ? statSync(file).size : 0
    this.total = acceptedConnections(file)
  }

  private accepted(): string[] {
    return readFileSync(this.file)
      .subarray(this.offset)
      .toString('utf8')
      .split('\n')
      .filter(l => l.includes('Accepted publickey'))
  }

  /** Connections sshd accepted since the window opened that came through this relay. */
  acceptedVia(relay: Relay): number {
    return this.accepted().filter(l => {
      const m = / from 127\.0\.0\.1 port (\d+) /.exec(l)
      return m !== null && relay.sourcePorts.has(Number(m[1]))
    }).length
  }

  /** All connections sshd accepted since (acceptedConnections' count): ours plus anyone else's. */
  acceptedByAnyone(): number {
    return acceptedConnections(this.file) - this.total
  }
}

const relays: Relay[] = []
async function relayTo(sshdPort: number): Promise<Relay> {
  const relay = await Relay.start(sshdPort)
  relays.push(relay)
  return relay
}

/** The bed's known_hosts line for an sshd, for the port of a relay in front of it. */
function knownHostsVia(line: string, sshdPort: number, relay: Relay): string {
  const from = `[127.0.0.1]:${sshdPort} `
  expect(line.startsWith(from)).toBe(true)
  return `[127.0.0.1]:${relay.port} ${line.slice(from.length)}`
}

function key(file: string): string {
  return readFileSync(file, 'utf8')
}

function log(run: ActionRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`
}

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`the action failed:\n${log(run)}`)
}

function expectFailure(run: ActionRun): string {
  if (run.code !== 1) throw new Error(`expected exit code 1:\n${log(run)}`)
  expect(run.errors.length).toBeGreaterThan(0)
  return run.errors.join('\n')
}

/** The "Connected to ...: Docker ..." line: proof a Docker call went through. */
function connectedLine(port: number, via?: number): RegExp {
  const through = via === undefined ? '' : ` via root@127\\.0\\.0\\.1:${via}`
  return new RegExp(`^Connected to root@127\\.0\\.0\\.1:${port}${through}: Docker \\d+\\.\\d+\\.\\d+\\S* \\(API \\d+\\.\\d+, linux/\\w+\\)$`, 'm')
}
const DOCKER_API = /^Docker API: (\d+) requests over (\d+) channels of 1 SSH connection$/m

/** Nothing touched Docker: no version line, no request counter. */
function expectNoDockerCall(run: ActionRun): void {
  expect(run.stdout).not.toMatch(/^Connected to /m)
  expect(run.stdout).not.toMatch(/^Docker API: /m)
}

const apps: string[] = []
async function newApp(prefix: string): Promise<{ app: string; port: number }> {
  const app = uniqueName(prefix)
  apps.push(app)
  return { app, port: await freePort() }
}

async function cleanupAll(): Promise<void> {
  for (const relay of relays.splice(0)) await relay.close()
  for (const app of apps.splice(0)) {
    await cleanupApp(app, `${app}-proxy`)
    // the deploy lock's flock and holder files, on the host (this machine; the bed's SSH user is this user)
    for (const f of [`${app}.lock`, `${app}.holder`]) rmSync(join(homedir(), '.cutover', 'locks', f), { force: true })
  }
}

afterEach(cleanupAll)
afterAll(cleanupAll)

/** A status run of a new app through a new relay to the target's sshd, pinned to its known_hosts line. */
async function statusViaRelay(prefix: string, overrides: Record<string, string>): Promise<{ run: ActionRun; relay: Relay; sshd: LogWindow }> {
  const { app, port } = await newApp(prefix)
  const relay = await relayTo(SSH_PORT)
  const sshd = new LogWindow(bed.CUTOVER_TEST_SSHD_LOG)
  const inputs = { mode: 'status', port: String(relay.port), 'known-hosts': knownHostsVia(bed.CUTOVER_TEST_KNOWN_HOSTS, SSH_PORT, relay), ...overrides }
  return { run: await runAction(bedInputs(app, port, inputs)), relay, sshd }
}

describe('host key pinning', () => {
  it('connects with the pinned known_hosts line and reports the status', async () => {
    const { app, port } = await newApp('tr-status')
    const run = await runAction(bedInputs(app, port, { mode: 'status', 'known-hosts': bed.CUTOVER_TEST_KNOWN_HOSTS, 'host-fingerprint': '' }))
    expectSuccess(run)
    expect(run.outputs.result).toBe('unchanged')
    expect(run.outputs.color).toBe('')
    expect(run.stdout).toMatch(connectedLine(SSH_PORT))
    expect(run.stdout).toContain(`No deploy of ${app} is recorded on this host.`)
    expect(run.summary).toContain(`Status of \`${app}\``)
  })

  it('connects with the host-fingerprint pin', async () => {
    const { app, port } = await newApp('tr-fp')
    const run = await runAction(bedInputs(app, port, { mode: 'status', 'known-hosts': '', 'host-fingerprint': bed.CUTOVER_TEST_HOST_FINGERPRINT }))
    expectSuccess(run)
    expect(run.outputs.result).toBe('unchanged')
    expect(run.stdout).toMatch(connectedLine(SSH_PORT))
  })

  it('refuses a server whose key does not match the fingerprint, before any Docker call', async () => {
    const { app, port } = await newApp('tr-badfp')
    // A real fingerprint, of another key (the bastion's).
    const wrong = bed.CUTOVER_TEST_BASTION_FINGERPRINT
    expect(wrong).not.toBe(bed.CUTOVER_TEST_HOST_FINGERPRINT)
    const relay = await relayTo(SSH_PORT)
    const sshd = new LogWindow(bed.CUTOVER_TEST_SSHD_LOG)
    const run = await runAction(bedInputs(app, port, { mode: 'status', port: String(relay.port), 'known-hosts': '', 'host-fingerprint': wrong }))
    const error = expectFailure(run)
    expect(error).toContain(`The host key of 127.0.0.1:${relay.port} does not match the pin`)
    expect(error).toContain(`presented ssh-ed25519 ${bed.CUTOVER_TEST_HOST_FINGERPRINT}`)
    expect(error).toContain(`but ${wrong} was expected`)
    expect(run.outputs.result).toBe('failed')
    expectNoDockerCall(run)
    // it reached sshd, and gave up before authenticating
    expect(relay.connections).toBe(1)
    expect(sshd.acceptedVia(relay)).toBe(0)
  })

  it('refuses to run without a pin or the explicit insecure opt-out, before connecting', async () => {
    const { app, port } = await newApp('tr-nopin')
    const relay = await relayTo(SSH_PORT)
    const sshd = new LogWindow(bed.CUTOVER_TEST_SSHD_LOG)
    const run = await runAction(bedInputs(app, port, { mode: 'status', port: String(relay.port), 'known-hosts': '', 'host-fingerprint': '' }))
    const error = expectFailure(run)
    expect(error).toContain("'host-fingerprint' or 'known-hosts' must pin the key of 127.0.0.1")
    expect(error).toContain(`get the pin with: ssh-keyscan -p ${relay.port} 127.0.0.1`)
    expectNoDockerCall(run)
    expect(run.stdout).not.toContain('Connecting to')
    // not even a TCP connection, so sshd accepted nothing from this run
    expect(relay.connections).toBe(0)
    expect(sshd.acceptedVia(relay)).toBe(0)
  })
})

describe('private keys', () => {
  it('uses an encrypted key with its passphrase', async () => {
    const { run, relay, sshd } = await statusViaRelay('tr-pass', {
      'ssh-private-key': key(ED25519_PASS),
      'ssh-passphrase': bed.CUTOVER_TEST_KEY_PASSPHRASE
    })
    expectSuccess(run)
    expect(run.stdout).toMatch(connectedLine(relay.port))
    expect(sshd.acceptedVia(relay)).toBe(1)
    expect(run.stdout).toContain(`::add-mask::${bed.CUTOVER_TEST_KEY_PASSPHRASE}`)
    expect(unmaskedLines(run).filter(l => l.includes(bed.CUTOVER_TEST_KEY_PASSPHRASE))).toEqual([])
  })

  it('names ssh-passphrase when the passphrase is wrong', async () => {
    const { run, relay } = await statusViaRelay('tr-badpass', { 'ssh-private-key': key(ED25519_PASS), 'ssh-passphrase': 'not-the-passphrase' })
    const error = expectFailure(run)
    expect(error).toContain("Input 'ssh-passphrase' does not decrypt 'ssh-private-key' (wrong passphrase)")
    expectNoDockerCall(run)
    expect(relay.connections).toBe(0)
  })

  it('uses an RSA key', async () => {
    const { run, relay, sshd } = await statusViaRelay('tr-rsa', { 'ssh-private-key': key(RSA) })
    expectSuccess(run)
    expect(run.stdout).toMatch(connectedLine(relay.port))
    expect(sshd.acceptedVia(relay)).toBe(1)
  })
})

describe('jump host', () => {
  it('tunnels through the bastion when known-hosts pins both hosts', async () => {
    const { app, port } = await newApp('tr-jump')
    const target = await relayTo(SSH_PORT)
    const jump = await relayTo(BASTION_PORT)
    const targetLog = new LogWindow(bed.CUTOVER_TEST_SSHD_LOG)
    const bastionLog = new LogWindow(bed.CUTOVER_TEST_BASTION_SSHD_LOG)
    const knownHosts = [
      knownHostsVia(bed.CUTOVER_TEST_KNOWN_HOSTS, SSH_PORT, target),
      knownHostsVia(bed.CUTOVER_TEST_BASTION_KNOWN_HOSTS, BASTION_PORT, jump)
    ].join('\n')
    const run = await runAction(
      bedInputs(app, port, { mode: 'status', port: String(target.port), 'jump-host': `root@127.0.0.1:${jump.port}`, 'known-hosts': knownHosts })
    )
    expectSuccess(run)
    expect(run.outputs.result).toBe('unchanged')
    expect(run.stdout).toMatch(connectedLine(target.port, jump.port))
    // one more accepted connection on the bastion: ours
    expect(jump.connections).toBe(1)
    expect(bastionLog.acceptedVia(jump)).toBe(1)
    expect(bastionLog.acceptedByAnyone()).toBeGreaterThanOrEqual(1)
    // and the target was reached from the bastion (its sshd dialled the target's relay), once
    expect(target.connections).toBe(1)
    expect(targetLog.acceptedVia(target)).toBe(1)
  })

  it('refuses a bastion whose key does not match its pin', async () => {
    const { app, port } = await newApp('tr-badjump')
    const target = await relayTo(SSH_PORT)
    const jump = await relayTo(BASTION_PORT)
    const bastionLog = new LogWindow(bed.CUTOVER_TEST_BASTION_SSHD_LOG)
    const knownHosts = [
      knownHostsVia(bed.CUTOVER_TEST_KNOWN_HOSTS, SSH_PORT, target),
      knownHostsVia(bed.CUTOVER_TEST_BASTION_KNOWN_HOSTS, BASTION_PORT, jump)
    ].join('\n')
    // The target's (valid) fingerprint is the wrong one for the bastion.
    const run = await runAction(
      bedInputs(app, port, {
        mode: 'status',
        port: String(target.port),
        'jump-host': `root@127.0.0.1:${jump.port}`,
        'known-hosts': knownHosts,
        'jump-host-fingerprint': bed.CUTOVER_TEST_HOST_FINGERPRINT
      })
    )
    const error = expectFailure(run)
    expect(error).toContain(`The host key of 127.0.0.1:${jump.port} does not match the pin`)
    expect(error).toContain(`presented ssh-ed25519 ${bed.CUTOVER_TEST_BASTION_FINGERPRINT}`)
    expect(error).toContain(`but ${bed.CUTOVER_TEST_HOST_FINGERPRINT} was expected`)
    expectNoDockerCall(run)
    expect(jump.connections).toBe(1)
    expect(bastionLog.acceptedVia(jump)).toBe(0)
    expect(target.connections).toBe(0)
  })

  it('refuses a bastion whose known_hosts line holds another key', async () => {
    const { app, port } = await newApp('tr-badjump-kh')
    const target = await relayTo(SSH_PORT)
    const jump = await relayTo(BASTION_PORT)
    const targetKey = bed.CUTOVER_TEST_KNOWN_HOSTS.split(' ').slice(1).join(' ')
    const knownHosts = [knownHostsVia(bed.CUTOVER_TEST_KNOWN_HOSTS, SSH_PORT, target), `[127.0.0.1]:${jump.port} ${targetKey}`].join('\n')
    const run = await runAction(
      bedInputs(app, port, { mode: 'status', port: String(target.port), 'jump-host': `root@127.0.0.1:${jump.port}`, 'known-hosts': knownHosts })
    )
    const error = expectFailure(run)
    expect(error).toContain(`The host key of 127.0.0.1:${jump.port} does not match the pin`)
    expect(error).toContain(`presented ssh-ed25519 ${bed.CUTOVER_TEST_BASTION_FINGERPRINT}`)
    expect(error).toContain(`but ssh-ed25519 ${bed.CUTOVER_TEST_HOST_FINGERPRINT} was expected`)
    expectNoDockerCall(run)
    expect(target.connections).toBe(0)
  })
})

describe('one SSH connection per run', () => {
  it('makes a whole deploy, with its many Docker API calls, over exactly one connection', async () => {
    const { app, port } = await newApp('tr-one')
    const relay = await relayTo(SSH_PORT)
    const sshd = new LogWindow(bed.CUTOVER_TEST_SSHD_LOG)
    const run = await runAction(
      bedInputs(app, port, {
        mode: 'deploy',
        image: image('v1'),
        port: String(relay.port),
        'known-hosts': knownHostsVia(bed.CUTOVER_TEST_KNOWN_HOSTS, SSH_PORT, relay)
      })
    )
    expectSuccess(run)
    expect(run.outputs.result).toBe('deployed')
    // sshd accepted exactly one connection from this run (others' runs may add theirs meanwhile)
    expect(relay.connections).toBe(1)
    expect(sshd.acceptedVia(relay)).toBe(1)
    expect(sshd.acceptedByAnyone()).toBeGreaterThanOrEqual(1)
    const api = DOCKER_API.exec(run.stdout)
    expect(api).not.toBeNull()
    const requests = Number(api![1])
    const channels = Number(api![2])
    expect(requests).toBeGreaterThanOrEqual(10)
    expect(channels).toBeGreaterThanOrEqual(1)
    // keep-alive: channels are reused, not one per request
    expect(channels).toBeLessThan(requests)
  })
})

/** Lines of the log a reader would see: everything but the ::add-mask:: commands. */
function unmaskedLines(run: ActionRun): string[] {
  return `${run.stdout}\n${run.stderr}`.split('\n').filter(l => !l.startsWith('::add-mask::'))
}

describe('secrets', () => {
  const privateKey = key(ED25519)
  const bodyLines = privateKey
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('-----'))
  const password = bed.CUTOVER_TEST_REGISTRY_PASSWORD

  function expectNoSecrets(run: ActionRun): void {
    expect(bodyLines.length).toBeGreaterThan(2)
    // The runner can only mask what it was told: every secret line was registered...
    for (const line of [password, ...bodyLines]) expect(run.stdout).toContain(`::add-mask::${line}`)
    // ...and none appears anywhere else.
    const leaks = unmaskedLines(run).filter(l => l.includes(password) || bodyLines.some(b => l.includes(b)))
    expect(leaks).toEqual([])
  }

  it('keeps the private key and the registry password out of a deploy log', async () => {
    const { app, port } = await newApp('tr-secret')
    const run = await runAction(bedInputs(app, port, { mode: 'deploy', image: image('v1'), 'ssh-private-key': privateKey }))
    expectSuccess(run)
    // the authenticated pull really happened
    expect(run.stdout).toMatch(/Pulling 127\.0\.0\.1:5000\/cutover-test\/app:v1/)
    expectNoSecrets(run)
  })

  it('keeps them out of the log of a failed pull too', async () => {
    const { app, port } = await newApp('tr-secret-fail')
    const run = await runAction(bedInputs(app, port, { mode: 'deploy', image: image('no-such-tag'), 'ssh-private-key': privateKey }))
    expectFailure(run)
    expect(run.outputs.result).toBe('failed')
    expectNoSecrets(run)
  })
})

// The bed's SSH user is this machine's user: its ~/.cutover/locks is the host's lock directory.
const LOCKS = join(homedir(), '.cutover', 'locks')

describe('the deploy lock on the host', () => {
  it('refuses a lock file planted as a symbolic link, and writes nothing through it', async () => {
    const { app, port } = await newApp('tr-lock-link')
    mkdirSync(LOCKS, { recursive: true, mode: 0o700 })
    const victim = join(tempDir('cutover-victim-'), 'important')
    writeFileSync(victim, 'keep me\n')
    symlinkSync(victim, join(LOCKS, `${app}.lock`))
    const run = await runAction(bedInputs(app, port, { image: image('v1') }))
    const error = expectFailure(run)
    expect(error).toContain(`The deploy lock of ${app} was not taken because its place on the host is unsafe: ${LOCKS}/${app}.lock is a symbolic link.`)
    expect(readFileSync(victim, 'utf8')).toBe('keep me\n')
    // nothing was started
    expect(run.stdout).not.toContain('Pulling')
  })

  it('logs the holder a host reports as text, never as a workflow command', async () => {
    const { app, port } = await newApp('tr-lock-inject')
    mkdirSync(LOCKS, { recursive: true, mode: 0o700 })
    const lock = join(LOCKS, `${app}.lock`)
    writeFileSync(lock, '')
    // Someone on the host holds the lock and wrote a hostile holder.
    const evil = { run: '1\n::error::Deploy failed: call 555-0100', actor: '\n::add-mask::hostile-actor', repository: 'r', since: 's' }
    writeFileSync(join(LOCKS, `${app}.holder`), Buffer.from(JSON.stringify(evil)).toString('base64') + '\n')
    const holder = spawn('flock', [lock, 'sleep', '60'], { stdio: 'ignore' })
    try {
      await new Promise(r => setTimeout(r, 300))
      const run = await runAction(bedInputs(app, port, { image: image('v1'), 'lock-timeout': '1s' }))
      const error = expectFailure(run)
      expect(error).toContain(
        `The deploy lock of ${app} is still held by run 1 ::error::Deploy failed: call 555-0100 by add-mask::hostile-actor (r) since s after waiting 1 s`
      )
      const lines = run.stdout.split('\n')
      expect(lines.filter(l => l.startsWith('::error::Deploy failed'))).toEqual([])
      // The run masks each line of its SSH key (base64, which has no '-'): only the hostile value must not appear.
      expect(lines.filter(l => l.startsWith('::add-mask::hostile-'))).toEqual([])
      expect(run.errors).toHaveLength(1)
      expect(lines).toContain(
        `Another deploy of ${app} holds the lock: run 1 ::error::Deploy failed: call 555-0100 by add-mask::hostile-actor (r) since s; waiting up to 1 s`
      )
    } finally {
      holder.kill()
    }
  })
})

describe('a connection lost mid-run', () => {
  it('ends the run at once through its error path, naming the lost connection', async () => {
    const { app, port } = await newApp('tr-cut')
    const relay = await relayTo(SSH_PORT)
    // An image that never gets healthy keeps the run in its health gate for a minute: the cut
    // comes well inside it however slow the machine is.
    const started = startAction(
      bedInputs(app, port, {
        image: image('unhealthy'),
        'health-timeout': '60s',
        port: String(relay.port),
        'known-hosts': knownHostsVia(bed.CUTOVER_TEST_KNOWN_HOSTS, SSH_PORT, relay)
      })
    )
    await untilOutput(started, 'probe 1 of', 60_000)
    const cutAt = Date.now()
    relay.cut()
    const run = await started.done
    const after = Date.now() - cutAt
    const error = expectFailure(run)
    expect(error).toContain(`The SSH connection to root@127.0.0.1:${relay.port} was lost`)
    expect(run.outputs.result).toBe('failed')
    // a summary and the hosts output say the same (issue #27)
    expect(run.summary).toContain(`The SSH connection to root@127.0.0.1:${relay.port} was lost`)
    expect(JSON.parse(run.outputs.hosts)).toEqual([{ host: `root@127.0.0.1:${relay.port}`, result: 'failed', error: expect.stringContaining('was lost') }])
    expect(run.stderr).not.toContain('Unhandled')
    // not the 60 s health gate, not keep-alive's 30 s
    expect(after).toBeLessThan(20_000)
  })
})

/**
 * A Docker socket in front of the host's that cuts the first answer to a matching request part-way
 * (its headers and a few bytes of its body, then the connection closes), as a daemon that drops a
 * connection mid-answer would. The bed's sshd runs on this machine, so the action reaches it with
 * docker-socket.
 */
class CuttingDockerSocket {
  cuts = 0
  private readonly sockets = new Set<Socket>()

  private constructor(
    private readonly server: Server,
    readonly path: string
  ) {}

  static start(request: RegExp): Promise<CuttingDockerSocket> {
    const path = join(tempDir('cutover-dsock-'), 'docker.sock')
    const server = createServer()
    const relay = new CuttingDockerSocket(server, path)
    server.on('connection', client => relay.relay(client, request))
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => resolve(relay))
    })
  }

  private relay(client: Socket, request: RegExp): void {
    const upstream = connect('/var/run/docker.sock')
    let cutting = false
    let held = Buffer.alloc(0)
    for (const s of [client, upstream]) {
      this.sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => this.sockets.delete(s))
    }
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('data', (d: Buffer) => {
      if (this.cuts === 0 && request.test(d.toString('latin1').split('\r\n')[0])) cutting = true
      upstream.write(d)
    })
    upstream.on('data', (d: Buffer) => {
      if (!cutting) return void client.write(d)
      held = Buffer.concat([held, d])
      const head = held.indexOf('\r\n\r\n')
      if (head < 0 || held.length < head + 4 + 64) return
      this.cuts++
      cutting = false
      client.end(held.subarray(0, head + 4 + 64), () => client.destroy())
      upstream.destroy()
    })
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise(resolve => this.server.close(() => resolve()))
  }
}

describe('a Docker answer cut off part-way', () => {
  it('ends the run through its error path, naming the call, the live color still serving', async () => {
    const { app, port } = await newApp('tr-dcut')
    expectSuccess(await runAction(bedInputs(app, port, { image: image('v1') })))
    // The first read of the proxy's configuration volume (an archive) is cut after 64 bytes of its body.
    const socket = await CuttingDockerSocket.start(new RegExp(`^GET (/v[\\d.]+)?/containers/${app}-proxy/archive\\?`))
    try {
      const started = startAction(bedInputs(app, port, { image: image('v2'), 'docker-socket': socket.path }))
      // Before the fix this run waited for the rest of the archive for ever, with no timer left.
      let timer: NodeJS.Timeout | undefined
      const waited = new Promise<'still waiting'>(r => (timer = setTimeout(() => r('still waiting'), 120_000)))
      const run = await Promise.race([started.done, waited]).finally(() => clearTimeout(timer))
      if (run === 'still waiting') {
        started.child.kill('SIGKILL')
        throw new Error('the run was still waiting 120 s after it started, though its Docker answer had been cut off')
      }
      expect(socket.cuts).toBe(1)
      const error = expectFailure(run)
      expect(error).toContain(`Reading /usr/local/etc/haproxy/cutover from the container failed: the answer was cut off`)
      expect(run.outputs.result).toBe('failed')
      expect((await get(`http://127.0.0.1:${port}/`)).body).toContain('v1')
    } finally {
      await socket.close()
    }
  })
})

import { jest } from '@jest/globals'
import { EventEmitter } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import Docker from 'dockerode'
import type { Client } from 'ssh2'
import { DockerSocketAgent, DockerTimeoutError, requestBound } from '../../src/transport/docker.js'
import tar from 'tar-stream'
import { getDirFiles, pullImage } from '../../src/transport/docker-ops.js'
import { describeProbe, httpGet } from '../../src/transport/http-probe.js'
import { SshConnectionLostError, SshSession } from '../../src/transport/ssh.js'
import { tempDir } from '../support/temp-dirs.js'

/** An HTTP-ish server on a Unix socket whose handler decides how (or whether) to answer. */
async function server(onConnection: (socket: Socket) => void): Promise<{ path: string; srv: Server; sockets: Set<Socket> }> {
  const path = join(tempDir('cutover-sock-'), 's.sock')
  const sockets = new Set<Socket>()
  const srv = createServer(s => {
    sockets.add(s)
    s.on('error', () => undefined)
    onConnection(s)
  })
  await new Promise<void>(r => srv.listen(path, r))
  servers.push({ srv, sockets })
  return { path, srv, sockets }
}
const servers: { srv: Server; sockets: Set<Socket> }[] = []
afterEach(async () => {
  for (const { srv, sockets } of servers.splice(0)) {
    for (const s of sockets) s.destroy()
    await new Promise(r => srv.close(r))
  }
})

const silent = (s: Socket) => s.resume()
const answer = (body: string) => (s: Socket) =>
  s.once('data', () => s.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`))

/** A fake ssh2 Client: channel opens connect to a Unix socket here, or never answer. */
class FakeClient extends EventEmitter {
  hang = false
  connected = true
  constructor(private readonly path?: string) {
    super()
  }
  private channel(cb: (err: Error | undefined, s: Duplex) => void) {
    if (!this.connected) throw new Error('Not connected')
    if (this.hang || !this.path) return
    const s = connect(this.path, () => cb(undefined, s))
  }
  openssh_forwardOutStreamLocal(_p: string, cb: (err: Error | undefined, s: Duplex) => void) {
    this.channel(cb)
  }
  forwardOut(_a: string, _b: number, _h: string, _p: number, cb: (err: Error | undefined, s: Duplex) => void) {
    this.channel(cb)
  }
  exec(_c: string, cb: (err: Error | undefined, s: Duplex) => void) {
    this.channel(cb)
  }
  end() {
    this.connected = false
  }
  /** The TCP connection drops, as ssh2 reports it. */
  drop(reason?: string) {
    this.connected = false
    if (reason) this.emit('error', new Error(reason))
    this.emit('close')
  }
}

const session = (client: FakeClient) => SshSession.fromClient(client as unknown as Client, 'root@deploy.example.com:22')

describe('httpGet: the whole probe is bounded', () => {
  const open = (path: string) => async () => connect(path) as Duplex

  it('gives up on a server that accepts and never answers, within its timeout', async () => {
    const { path } = await server(silent)
    const r = await httpGet(open(path), { host: '10.0.0.2', port: 3000, path: '/up' }, 300)
    expect(r.status).toBeUndefined()
    expect(r.error).toBe('no answer within 300 ms')
    expect(r.ms).toBeLessThan(2000)
  })

  it('gives up on an answer whose body never ends, and does not count it as a status', async () => {
    const { path } = await server(s => s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial')))
    // Long enough for a busy machine to deliver the head: only the body must be what never ends.
    const r = await httpGet(open(path), { host: '10.0.0.2', port: 3000, path: '/up' }, 2000)
    expect(r.status).toBeUndefined()
    expect(r.error).toBe('answered HTTP 200 but the answer did not end within 2000 ms')
  })

  it('gives up when the channel never opens, and closes a channel that opens too late', async () => {
    let late: Duplex | undefined
    const { path } = await server(silent)
    const slowOpen = () => new Promise<Duplex>(r => setTimeout(() => r((late = connect(path))), 400))
    const r = await httpGet(slowOpen, { host: '10.0.0.2', port: 3000, path: '/up' }, 200)
    expect(r.error).toBe('could not open a connection within 200 ms')
    await new Promise(r2 => setTimeout(r2, 400))
    expect(late?.destroyed).toBe(true)
  })

  it('reads a normal answer, and describes it as one sanitized line', async () => {
    const { path } = await server(answer('ok\n::error::x'))
    const r = await httpGet(open(path), { host: '10.0.0.2', port: 3000, path: '/up' }, 2000)
    expect(r.status).toBe(200)
    expect(describeProbe(r)).toBe('HTTP 200: "ok ::error::x"')
  })

  it('throws a lost SSH connection instead of reporting it as a probe result', async () => {
    const lost = new SshConnectionLostError('The SSH connection to h was lost')
    await expect(httpGet(() => Promise.reject(lost), { host: 'h', port: 1, path: '/' }, 1000)).rejects.toBe(lost)
    const { path } = await server(silent)
    const client = new FakeClient(path)
    const ssh = session(client)
    const probing = httpGet((h, p) => ssh.openTcp(h, p), { host: '10.0.0.2', port: 3000, path: '/up' }, 5000)
    await new Promise(r => setTimeout(r, 100))
    client.drop()
    await expect(probing).rejects.toThrow('The SSH connection to root@deploy.example.com:22 was lost (connection closed)')
  })
})

describe('requestBound: which Docker API calls get which deadline', () => {
  const t = { defaultMs: 60_000, heavyMs: 180_000, stopExtraMs: 60_000 }
  it.each([
    ['GET', '/version', 60_000],
    ['GET', '/v1.41/containers/web-blue/json', 60_000],
    ['GET', '/containers/web-blue/logs?stdout=1&tail=30&follow=false', 60_000],
    ['PUT', '/containers/p/archive?path=%2Fetc', 60_000],
    ['POST', '/exec/abc/start', 60_000],
    ['POST', '/containers/create?name=web-blue', 180_000],
    ['POST', '/containers/web-blue/start', 180_000],
    ['DELETE', '/containers/web-blue?force=true', 180_000],
    ['DELETE', '/images/sha256:abc?noprune=false', 180_000],
    ['POST', '/containers/web-blue/stop?t=10', 70_000],
    ['POST', '/containers/web-blue/stop?t=30', 90_000],
    ['POST', '/containers/web-blue/stop', 70_000],
    ['POST', '/images/create?fromImage=ghcr.io%2Facme%2Fweb&tag=1', undefined],
    ['POST', '/containers/web-blue/wait', undefined],
    ['GET', '/containers/web-blue/logs?follow=1', undefined],
    ['GET', '/events', undefined],
    ['POST', '/containers/web-blue/attach?stream=1', undefined]
  ])('%s %s: %p ms', (method, path, ms) => {
    expect(requestBound(method, path, t)).toBe(ms)
  })
})

describe('Docker API calls over the agent', () => {
  it('fail with a clear error when the daemon never answers, after their deadline', async () => {
    const { path } = await server(silent)
    const agent = new DockerSocketAgent({ openUnixSocket: async () => connect(path) as never }, '/var/run/docker.sock', {
      defaultMs: 300,
      heavyMs: 300,
      stopExtraMs: 300
    })
    const docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions)
    const started = Date.now()
    const err = await docker.version().catch((e: Error) => e)
    expect(err).toBeInstanceOf(DockerTimeoutError)
    expect((err as Error).message).toBe('The Docker API call GET /version got no complete answer within 300 ms: the Docker daemon on the host may be stuck')
    expect(Date.now() - started).toBeLessThan(2000)
    agent.destroy()
  })

  it('answer normally otherwise, reusing the channel', async () => {
    const { path } = await server(s => {
      s.on('data', () =>
        s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"Version":"20.10.1"}'.replace('20\r\n\r\n', '21\r\n\r\n'))
      )
    })
    const agent = new DockerSocketAgent({ openUnixSocket: async () => connect(path) as never }, '/var/run/docker.sock')
    const docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions)
    expect((await docker.version()).Version).toBe('20.10.1')
    expect((await docker.version()).Version).toBe('20.10.1')
    expect(agent.channelsOpened).toBe(1)
    agent.destroy()
  })

  it('fail at once with "the SSH connection was lost" when it drops mid-request, and so do later ones', async () => {
    const { path } = await server(silent)
    const client = new FakeClient(path)
    const ssh = session(client)
    const lostSeen: string[] = []
    ssh.onLost(e => lostSeen.push(e.message))
    const agent = new DockerSocketAgent(ssh, '/var/run/docker.sock')
    const docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions)
    const inFlight = docker.listContainers().catch((e: Error) => e)
    await new Promise(r => setTimeout(r, 100))
    client.drop('read ECONNRESET')
    const err = (await inFlight) as Error
    expect(err.message).toBe('The SSH connection to root@deploy.example.com:22 was lost (read ECONNRESET)')
    expect(lostSeen).toEqual([err.message])
    expect(ssh.lost).toBeInstanceOf(SshConnectionLostError)
    await expect(docker.version()).rejects.toThrow('The SSH connection to root@deploy.example.com:22 was lost (read ECONNRESET)')
    await expect(ssh.execStream('true')).rejects.toThrow(SshConnectionLostError)
    agent.destroy()
  })
})

/** A Docker client over the agent, with short deadlines; the agent is destroyed after each test. */
const agents: DockerSocketAgent[] = []
afterEach(() => {
  for (const a of agents.splice(0)) a.destroy()
})
function dockerAt(path: string, ms = 300): Docker {
  const agent = new DockerSocketAgent({ openUnixSocket: async () => connect(path) as never }, '/var/run/docker.sock', {
    defaultMs: ms,
    heavyMs: ms,
    stopExtraMs: ms
  })
  agents.push(agent)
  return new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions)
}

/** Settles `work` within `ms`, or says it did not: a call that never settles fails the test instead of hanging it. */
function settlesWithin<T>(work: Promise<T>, ms: number): Promise<{ value?: T; error?: Error } | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'still waiting'>(r => (timer = setTimeout(() => r('still waiting'), ms)))
  return Promise.race([
    work.then(
      value => ({ value }),
      (error: Error) => ({ error })
    ),
    late
  ]).finally(() => clearTimeout(timer))
}

const TAR_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n'

describe('Docker API answers cut off or stalled part-way (a run must never wait on them for ever)', () => {
  it('a call whose answer the daemon cuts off after its headers fails, naming the call', async () => {
    const { path } = await server(s =>
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"Version":'))
    )
    const outcome = await settlesWithin(dockerAt(path, 60_000).version(), 3000)
    expect(outcome).not.toBe('still waiting')
    expect((outcome as { error?: Error }).error?.message).toBe(
      'The Docker API call GET /version was cut off: the connection to the Docker socket closed before the answer ended (aborted)'
    )
  })

  it('reading a directory of a container fails when the archive is cut off part-way', async () => {
    const { path } = await server(s => s.once('data', () => s.end(TAR_HEAD + chunk('x'.repeat(100)))))
    const outcome = await settlesWithin(getDirFiles(dockerAt(path, 60_000).getContainer('web-proxy'), '/usr/local/etc/haproxy/cutover'), 3000)
    expect(outcome).not.toBe('still waiting')
    expect((outcome as { error?: Error }).error?.message).toMatch(/^Reading \/usr\/local\/etc\/haproxy\/cutover from the container failed: .*cut off/)
  })

  it('reading a directory of a container fails at the deadline of its call when the archive stops part-way', async () => {
    const { path } = await server(s => s.once('data', () => s.write(TAR_HEAD + chunk('x'.repeat(100)))))
    const started = Date.now()
    const outcome = await settlesWithin(getDirFiles(dockerAt(path, 300).getContainer('web-proxy'), '/usr/local/etc/haproxy/cutover'), 3000)
    expect(outcome).not.toBe('still waiting')
    const error = (outcome as { error?: Error }).error
    expect(error?.message).toBe(
      'Reading /usr/local/etc/haproxy/cutover from the container failed: The Docker API call GET /containers/web-proxy/archive got no complete answer within 300 ms: the Docker daemon on the host may be stuck'
    )
    expect(Date.now() - started).toBeLessThan(2500)
  })

  it('a complete archive over the agent still reads as before', async () => {
    const pack = tar.pack()
    pack.entry({ name: 'cutover/app.cfg' }, 'backend be_app\n')
    pack.finalize()
    const chunks: Buffer[] = []
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c)
    const body = Buffer.concat(chunks)
    const { path } = await server(s =>
      s.on('data', () => s.write(Buffer.concat([Buffer.from(TAR_HEAD + body.length.toString(16) + '\r\n'), body, Buffer.from('\r\n0\r\n\r\n')])))
    )
    const docker = dockerAt(path, 2000)
    const files = await getDirFiles(docker.getContainer('web-proxy'), '/usr/local/etc/haproxy/cutover')
    expect(Object.fromEntries(files)).toEqual({ 'app.cfg': 'backend be_app\n' })
  })
})

describe('SshSession when the connection is lost', () => {
  it('fails channel opens still waiting for an answer, and every later one', async () => {
    const client = new FakeClient()
    client.hang = true
    const ssh = session(client)
    const pending = [ssh.openUnixSocket('/var/run/docker.sock'), ssh.openTcp('10.0.0.2', 3000), ssh.execStream('true')]
    client.drop()
    for (const p of pending) await expect(p).rejects.toThrow('The SSH connection to root@deploy.example.com:22 was lost (connection closed)')
    await expect(ssh.openTcp('10.0.0.2', 3000)).rejects.toBeInstanceOf(SshConnectionLostError)
    let told = ''
    ssh.onLost(e => (told = e.message))
    expect(told).toContain('was lost')
  })

  it('says nothing when the run closes it itself', async () => {
    const client = new FakeClient()
    const ssh = session(client)
    const seen: string[] = []
    ssh.onLost(e => seen.push(e.message))
    ssh.close()
    client.drop()
    expect(seen).toEqual([])
    expect(ssh.lost).toBeUndefined()
    await expect(ssh.openTcp('h', 1)).rejects.toThrow('The SSH connection to root@deploy.example.com:22 is closed')
  })
})

describe('pullImage', () => {
  it('gives up on a pull that makes no progress for its idle timeout', async () => {
    const { path } = await server(s =>
      s.once('data', () =>
        s.write(
          'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' + chunk('{"status":"Pulling from acme/web","id":"1"}\n')
        )
      )
    )
    const docker = new Docker({ socketPath: path })
    const lines: string[] = []
    const started = Date.now()
    await expect(pullImage(docker, 'acme/web:1', undefined, l => lines.push(l), 300)).rejects.toThrow(
      'Pull of acme/web:1 failed: no progress from the Docker daemon for 300 ms'
    )
    expect(Date.now() - started).toBeLessThan(3000)
    expect(lines).toEqual(['1: Pulling from acme/web'])
  })

  it("a pull's idle timer does not keep the process alive (a refused run may leave an early pull behind)", async () => {
    const { path } = await server(s =>
      s.once('data', () =>
        s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' + chunk('{"status":"Downloading","id":"1"}\n'))
      )
    )
    // The pull's idle timers (armed with its 60 s bound), none of which may hold the process.
    const idleTimers: NodeJS.Timeout[] = []
    const realSetTimeout = globalThis.setTimeout
    const spy = jest.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const t = realSetTimeout(fn, ms)
      if (ms === 60_000) idleTimers.push(t)
      return t
    }) as typeof setTimeout)
    const lines: string[] = []
    try {
      const pull = pullImage(new Docker({ socketPath: path }), 'acme/web:1', undefined, l => lines.push(l), 60_000)
      pull.catch(() => undefined)
      for (let i = 0; i < 200 && !lines.length; i++) await new Promise(r => realSetTimeout(r, 10))
    } finally {
      spy.mockRestore()
    }
    expect(lines).toEqual(['1: Downloading'])
    expect(idleTimers.length).toBeGreaterThan(0)
    expect(idleTimers.filter(t => t.hasRef())).toEqual([])
  })

  it('fails a pull whose answer is cut off, instead of taking it for done', async () => {
    const { path } = await server(s =>
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' + chunk('{"status":"Downloading","id":"1"}\n'))
        setTimeout(() => s.destroy(), 50)
      })
    )
    await expect(pullImage(new Docker({ socketPath: path }), 'acme/web:1', undefined, () => undefined, 5000)).rejects.toThrow(/Pull of acme\/web:1 failed: /)
  })
})

function chunk(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`
}

describe('getDirFiles', () => {
  const archiveOf = async (entries: { name: string; content?: string; type?: 'file' | 'directory' }[]) => {
    const pack = tar.pack()
    for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file' }, e.content ?? '')
    pack.finalize()
    return pack as unknown as NodeJS.ReadableStream
  }
  const containerWith = (getArchive: () => Promise<NodeJS.ReadableStream>) => ({ getArchive }) as unknown as Docker.Container

  it('reads every file directly in the directory, by name, from one archive; deeper entries are left out', async () => {
    let requests = 0
    const files = await getDirFiles(
      containerWith(async () => {
        requests++
        return archiveOf([
          { name: 'cutover/', type: 'directory' },
          { name: 'cutover/domains.map', content: 'a.example.com be_a\n' },
          { name: 'cutover/app-a.cfg', content: 'backend be_a\n' },
          { name: 'cutover/certs/', type: 'directory' },
          { name: 'cutover/certs/x.pem', content: 'nested' }
        ])
      }),
      '/usr/local/etc/haproxy/cutover'
    )
    expect(requests).toBe(1)
    expect(Object.fromEntries(files)).toEqual({ 'domains.map': 'a.example.com be_a\n', 'app-a.cfg': 'backend be_a\n' })
  })

  it('is empty when the directory or the container does not exist (404), and throws other errors', async () => {
    const notFound = Object.assign(new Error('no such container'), { statusCode: 404 })
    expect(
      (
        await getDirFiles(
          containerWith(() => Promise.reject(notFound)),
          '/x'
        )
      ).size
    ).toBe(0)
    const busy = Object.assign(new Error('daemon busy'), { statusCode: 500 })
    await expect(
      getDirFiles(
        containerWith(() => Promise.reject(busy)),
        '/x'
      )
    ).rejects.toThrow('daemon busy')
  })
})

import { createServer, Socket, type Server } from 'node:net'
import { jest } from '@jest/globals'
import { Server as SshServer, utils } from 'ssh2'
import type { SshConfig } from '../../src/core/config.js'
import { SshSession } from '../../src/transport/ssh.js'
import { sshKeyPair } from '../support/keys.js'

// Every way a connection attempt can fail ends in one rejected promise naming the host, and
// nothing is left to crash the process afterwards (ssh2 emits a second 'error' after a timeout).

const clientKey = sshKeyPair()
const rsaKey = utils.generateKeyPairSync('rsa', { bits: 2048 })

function blobOf(publicLine: string): Buffer {
  return Buffer.from(publicLine.split(' ')[1], 'base64')
}

function configFor(port: number, overrides: Partial<SshConfig> = {}): SshConfig {
  return {
    host: '127.0.0.1',
    port,
    user: 'deploy',
    privateKey: clientKey.private,
    hostKey: { kind: 'insecure' },
    connectTimeoutMs: 400,
    ...overrides
  }
}

const stops: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop()
})

/** A TCP server on loopback that does `onSocket` with each connection; closed after the test. */
async function tcpServer(onSocket: (s: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>()
  const srv: Server = createServer(s => {
    sockets.add(s)
    s.on('error', () => undefined)
    onSocket(s)
  })
  await new Promise<void>(r => srv.listen(0, '127.0.0.1', r))
  stops.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise(r => srv.close(r))
  })
  return (srv.address() as { port: number }).port
}

/** Collects uncaught exceptions while `fn` runs and for `settleMs` after: a late 'error' event would land here. */
async function withoutUncaught<T>(fn: () => Promise<T>, settleMs: number): Promise<{ value?: T; error?: Error; uncaught: Error[] }> {
  const uncaught: Error[] = []
  const onUncaught = (e: Error) => uncaught.push(e)
  process.on('uncaughtException', onUncaught)
  try {
    let value: T | undefined
    let error: Error | undefined
    try {
      value = await fn()
    } catch (e) {
      error = e as Error
    }
    await new Promise(r => setTimeout(r, settleMs))
    return { value, error, uncaught }
  } finally {
    process.removeListener('uncaughtException', onUncaught)
  }
}

describe('SshSession.connect failures', () => {
  it('a host that accepts TCP and never speaks (a tarpit): one error naming the host and connect-timeout, nothing unhandled', async () => {
    const port = await tcpServer(s => s.resume())
    const started = Date.now()
    const r = await withoutUncaught(() => SshSession.connect(configFor(port)), 500)
    expect(r.value).toBeUndefined()
    expect(r.error?.message).toBe(
      `SSH connection to deploy@127.0.0.1:${port} failed: the host accepted the TCP connection but no SSH handshake completed within 400 ms ` +
        `(connect-timeout). Check that an SSH server listens on port ${port} of 127.0.0.1 (not a firewall, a tarpit or a port forward with nothing behind it).`
    )
    // the timeout counts from the connect, and ends the attempt well before a second timeout would
    expect(Date.now() - started).toBeLessThan(400 + 500 + 2000)
    expect(r.uncaught).toEqual([])
  })

  it('a host that accepts TCP and hangs up at once: an error, not a wait', async () => {
    const port = await tcpServer(s => s.destroy())
    const r = await withoutUncaught(() => SshSession.connect(configFor(port, { connectTimeoutMs: 5000 })), 200)
    expect(r.error?.message).toMatch(new RegExp(`^SSH connection to deploy@127\\.0\\.0\\.1:${port} failed: `))
    expect(r.uncaught).toEqual([])
  })

  it('a host that answers something other than SSH: an error naming the host', async () => {
    const port = await tcpServer(s => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
    const r = await withoutUncaught(() => SshSession.connect(configFor(port, { connectTimeoutMs: 2000 })), 200)
    expect(r.error?.message).toMatch(new RegExp(`^SSH connection to deploy@127\\.0\\.0\\.1:${port} failed: `))
    expect(r.uncaught).toEqual([])
  })

  it('nothing listening: says to check host and port', async () => {
    const port = await tcpServer(s => s.destroy())
    await stops.pop()!()
    const r = await withoutUncaught(() => SshSession.connect(configFor(port)), 100)
    expect(r.error?.message).toContain(`SSH connection to deploy@127.0.0.1:${port} failed: connect ECONNREFUSED`)
    expect(r.error?.message).toContain('check host and port')
    expect(r.uncaught).toEqual([])
  })

  it('turns off Nagle before the socket connects: the handshake is small round trips that delayed ACKs would stall', async () => {
    // Calls that set no-delay while the socket was still connecting (from the first packet on).
    const early: boolean[] = []
    const real = Socket.prototype.setNoDelay
    const spy = jest.spyOn(Socket.prototype, 'setNoDelay').mockImplementation(function (this: Socket, noDelay?: boolean) {
      if (this.remoteAddress === undefined) early.push(noDelay ?? true)
      return real.call(this, noDelay)
    })
    try {
      const port = await tcpServer(s => s.resume())
      await withoutUncaught(() => SshSession.connect(configFor(port, { connectTimeoutMs: 200 })), 50)
    } finally {
      spy.mockRestore()
    }
    expect(early).toEqual([true])
  })

  describe('against an SSH server with only an ed25519 host key', () => {
    const hostKey = sshKeyPair()
    let port: number

    beforeEach(async () => {
      const srv = new SshServer({ hostKeys: [hostKey.private] }, client => {
        client.on('error', () => undefined)
        client.on('authentication', ctx => ctx.reject())
      })
      await new Promise<void>(r => srv.listen(0, '127.0.0.1', r))
      port = (srv.address() as { port: number }).port
      stops.push(() => new Promise(r => srv.close(() => r())))
    })

    it('the pinned key type is not offered: says which type was pinned and how to get the key it has', async () => {
      const pin = { kind: 'known-hosts' as const, keys: [{ type: 'ssh-rsa', blob: blobOf(rsaKey.public) }] }
      const r = await withoutUncaught(() => SshSession.connect(configFor(port, { hostKey: pin, connectTimeoutMs: 3000 })), 200)
      expect(r.error?.message).toMatch(
        new RegExp(`^SSH connection to deploy@127\\.0\\.0\\.1:${port} failed: the server offered no host key of the pinned type \\(ssh-rsa\\): `)
      )
      expect(r.error?.message).toContain(`Pin the key it has: ssh-keyscan -p ${port} 127.0.0.1`)
      expect(r.uncaught).toEqual([])
    })

    it('the right key type but a refused user: names the user and authorized_keys', async () => {
      const pin = { kind: 'known-hosts' as const, keys: [{ type: 'ssh-ed25519', blob: blobOf(hostKey.public) }] }
      const r = await withoutUncaught(() => SshSession.connect(configFor(port, { hostKey: pin, connectTimeoutMs: 3000 })), 200)
      expect(r.error?.message).toContain(`SSH connection to deploy@127.0.0.1:${port} failed: `)
      expect(r.error?.message).toContain('user "deploy" was refused with this key')
      expect(r.uncaught).toEqual([])
    })
  })
})

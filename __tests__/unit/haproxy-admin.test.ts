import type { PassThrough } from 'node:stream'
import type { ConfVolume } from '../../src/proxy/haproxy-files.js'
import { HaproxyAdmin } from '../../src/proxy/haproxy-runtime.js'
import { answeringSocket } from '../support/admin-socket.js'

/**
 * Two HAProxy workers on one admin socket, as during a reload or a hand-over (both accept on it until
 * the old one handles its stop signal): connection n is answered by `workers[n]` (the last one after
 * that), like HAProxy answers `;`-separated commands, each answer ending with an empty line.
 */
function twoWorkers(workers: number[]) {
  const applied: { pid: number; line: string }[] = []
  let connections = 0
  const open = async () => {
    const pid = workers[Math.min(connections++, workers.length - 1)]
    return answeringSocket(line => {
      applied.push({ pid, line })
      return line
        .split(/;\s*/)
        .map(c => (c === 'show info' ? `Name: HAProxy\nPid: ${pid}\nStopping: 0\n\n` : `\n`))
        .join('')
    })
  }
  return { open, applied }
}

const noFiles = {} as ConfVolume
const admin = (open: () => Promise<PassThrough>, pinTimeoutMs?: number) =>
  new HaproxyAdmin(async () => undefined, 'cutover-proxy', '/run/cutover/admin.sock', open, noFiles, pinTimeoutMs)

describe('HAProxy admin socket while a worker leaves', () => {
  it('sends each command once, as it is, while no new worker was started by this run', async () => {
    const sock = twoWorkers([7, 8])
    await admin(sock.open).run(['set server be_app/green state ready'], 'the switch')
    expect(sock.applied).toEqual([{ pid: 7, line: 'set server be_app/green state ready' }])
  })

  it('after a new worker took over, sends a command again until that worker has taken it (the leaving one loses it)', async () => {
    const sock = twoWorkers([8, 7, 7, 8])
    const a = admin(sock.open)
    // The hand-over sees the new worker answer once, while the old one still takes most connections.
    expect(await a.anyWorkerPid()).toBe(8)
    a.pinTo(8)
    await a.run(['set server be_app/green state ready', 'add map /m tok r'], 'the switch')
    const switches = sock.applied.filter(x => x.line.includes('set server'))
    expect(switches.map(x => x.pid)).toEqual([7, 7, 8])
    expect(switches.at(-1)?.line).toBe('show info; set server be_app/green state ready; add map /m tok r')
  })

  it("returns the command's answer without the worker's show info", async () => {
    const sock = twoWorkers([9])
    const a = admin(sock.open)
    a.pinTo(9)
    expect(await a.cli('show servers state')).toBe('\n')
  })

  it('is bounded: a socket that keeps answering from another worker is an error naming both', async () => {
    const sock = twoWorkers([7])
    const a = admin(sock.open, 100)
    a.pinTo(8)
    await expect(a.run(['set server be_app/green state ready'], 'the switch')).rejects.toThrow(
      'kept answering from HAProxy worker 7 for 0.1 s, not from worker 8, which this run started and which serves: "set server be_app/green state ready" was not sent to it'
    )
  })
})

/** Helpers of the release-strategy e2e tests (issue #12): steady load, per-container traffic, the HAProxy admin socket. */
import { connect } from 'node:net'
import type Docker from 'dockerode'
import { get, runAction, type ActionRun } from './action.js'
import { underSteadyLoad } from './load.js'
import { testbed } from './testbed.js'

export function haproxyImage(): string {
  const bed = testbed()
  return bed.CUTOVER_TEST_HAPROXY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/haproxy:2.6`
}

export function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

export async function served(port: number, host?: string): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`, host ? { host } : {})
  return `${res.status} ${res.body.trim()}`
}

/** Runs the action under steady load (keep-alive and new connections); returns the failures seen. */
export function underLoad(port: number, run: () => Promise<ActionRun>) {
  return underSteadyLoad(`http://127.0.0.1:${port}/`, run)
}

export { runAction }

/** Bytes each container received on its networks so far (Docker's counters, not the proxy's). */
export async function receivedBytes(docker: Docker, names: string[]): Promise<number[]> {
  return Promise.all(
    names.map(async name => {
      const stats = (await docker.getContainer(name).stats({ stream: false })) as unknown as { networks?: Record<string, { rx_bytes: number }> }
      return Object.values(stats.networks ?? {}).reduce((sum, n) => sum + n.rx_bytes, 0)
    })
  )
}

/** `count` keep-alive and fresh-connection requests; the answers by status and body. */
export async function sendRequests(port: number, count: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const seen: Record<string, number> = {}
  const one = async () => {
    const res = await get(`http://127.0.0.1:${port}/`, headers)
    const key = `${res.status} ${res.body.trim().slice(0, 40)}`
    seen[key] = (seen[key] ?? 0) + 1
  }
  for (let i = 0; i < count; i += 8) await Promise.all(Array.from({ length: Math.min(8, count - i) }, one))
  return seen
}

/** One line to the proxy's admin socket on this host (the test bed's Docker host is this machine). */
export function adminCommand(proxy: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(`/run/cutover/${proxy}/admin.sock`)
    let out = ''
    socket.setEncoding('utf8')
    socket.on('data', (c: string) => (out += c))
    socket.on('end', () => resolve(out))
    socket.on('error', reject)
    socket.setTimeout(5000, () => socket.destroy(new Error('admin socket timed out')))
    socket.write(line + '\n')
  })
}

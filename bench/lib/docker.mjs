// The local docker CLI (what users' shell scripts call) and dockerode on the local socket
// (for setup and cleanup only).
import { execFile } from 'node:child_process'
import Docker from 'dockerode'

export const local = new Docker({ socketPath: '/var/run/docker.sock' })

/** Runs `docker ...args`; rejects with stderr on a non-zero exit. */
export function docker(args, { input, allowFail = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile('docker', args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && !allowFail) reject(new Error(`docker ${args.join(' ')}: ${String(stderr).trim() || err.message}`))
      else resolve({ code: err ? (err.code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) })
    })
    if (input !== undefined) child.stdin.end(input)
  })
}

/** Makes sure the image is in the local daemon, pulling it with the registry credentials if not. */
export async function ensureImage(image, auth) {
  try {
    await local.getImage(image).inspect()
    return false
  } catch {}
  const stream = await local.pull(image, { authconfig: auth })
  await new Promise((resolve, reject) => local.modem.followProgress(stream, err => (err ? reject(err) : resolve())))
  return true
}

/** When the app in `container` logged that it listens (epoch ms), and when the container started. */
export async function bootTimes(container) {
  try {
    const info = await local.getContainer(container).inspect()
    const started = Date.parse(info.State.StartedAt)
    const { stdout } = await docker(['logs', '-t', container], { allowFail: true })
    const line = stdout.split('\n').find(l => l.includes('listening on'))
    const listening = line ? Date.parse(line.split(' ')[0]) : undefined
    return { started, listening }
  } catch {
    return {}
  }
}

export async function removeContainers(filterLabel) {
  const list = await local.listContainers({ all: true, filters: { label: [filterLabel] } })
  await Promise.all(
    list.map(c =>
      local
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined)
    )
  )
  return list.map(c => c.Names[0]?.replace(/^\//, ''))
}

/** When nginx in `container` received SIGHUP (a reload), from its log's Docker timestamps (epoch ms). */
export async function reloadTimes(container, sinceMs) {
  const { stdout, stderr } = await docker(['logs', '-t', '--since', (sinceMs / 1000).toFixed(3), container], { allowFail: true })
  const times = []
  for (const line of (stdout + '\n' + stderr).split('\n')) {
    if (line.includes('signal 1 (SIGHUP) received')) times.push(Date.parse(line.split(' ')[0]))
  }
  return times.filter(Number.isFinite).sort((a, b) => a - b)
}

import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tar from 'tar-stream'
import { localDocker } from './testbed.js'

// Real edge proxies from Debian's packages in front of cutover's proxy (issue #23): Caddy 2.6 in a
// FROM scratch container (its binary and ldd libraries), nginx as a process on the host.

const CADDY = '/usr/bin/caddy'
const CADDY_IMAGE = 'cutover-test/caddy:2.6'

async function follow(stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    localDocker().modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
      const failed = err?.message ?? events.find(e => e.error)?.error
      if (failed) reject(new Error(failed))
      else resolve()
    })
  )
}

/** The local Caddy image, built once per binary: Debian's caddy with its libraries, nothing else. */
export async function caddyImage(): Promise<string> {
  const docker = localDocker()
  const hash = createHash('sha256')
    .update(`${statSync(CADDY).size} ${statSync(CADDY).mtimeMs} v1`)
    .digest('hex')
    .slice(0, 16)
  const found = await docker
    .getImage(CADDY_IMAGE)
    .inspect()
    .catch(() => undefined)
  if (found?.Config.Labels?.['cutover-test.caddy'] === hash) return CADDY_IMAGE
  const libs = execFileSync('ldd', [CADDY], { encoding: 'utf8' }).match(/\/\S+/g) ?? []
  const pack = tar.pack()
  pack.entry(
    { name: 'Dockerfile' },
    `FROM scratch\nCOPY rootfs/ /\nENV HOME=/data XDG_CONFIG_HOME=/data XDG_DATA_HOME=/data\nLABEL cutover-test.caddy=${hash}\n`
  )
  pack.entry({ name: 'rootfs/data', type: 'directory', mode: 0o777 })
  pack.entry({ name: 'rootfs/tmp', type: 'directory', mode: 0o1777 })
  pack.entry({ name: 'rootfs/usr/bin/caddy', mode: 0o755 }, readFileSync(CADDY))
  for (const lib of [...new Set(libs)]) pack.entry({ name: `rootfs${lib}`, mode: 0o755 }, readFileSync(lib))
  pack.finalize()
  await follow(await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: CADDY_IMAGE, version: '1' }))
  return CADDY_IMAGE
}

/** A Caddy container on `network`, publishing its port 80 at 127.0.0.1:`port`, with this Caddyfile. */
export async function startCaddy(name: string, network: string, port: number, caddyfile: string): Promise<void> {
  const docker = localDocker()
  const image = await caddyImage()
  const container = await docker.createContainer({
    name,
    Image: image,
    Entrypoint: ['/usr/bin/caddy'],
    Cmd: ['run', '--config', '/etc/Caddyfile', '--adapter', 'caddyfile'],
    Labels: { 'cutover-test': 'edge' },
    ExposedPorts: { '80/tcp': {} },
    HostConfig: { NetworkMode: network, PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } }
  })
  const pack = tar.pack()
  pack.entry({ name: 'etc/Caddyfile' }, caddyfile)
  pack.finalize()
  await container.putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/' })
  await container.start()
}

export interface HostNginx {
  child: ChildProcess
  dir: string
  stop(): Promise<void>
}

/** Debian's nginx as a process on the host (foreground, its own prefix), with this configuration body. */
export async function startHostNginx(body: string, port: number): Promise<HostNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-edge-nginx-'))
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
${body}
`
  )
  const child = spawn('nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', d => (stderr += d))
  const exited = new Promise<void>(resolve => child.on('exit', () => resolve()))
  // Up once its port accepts a connection, or failed with its own words.
  const started = Date.now()
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx did not start: ${stderr}${safeRead(join(dir, 'error.log'))}`)
    const up = await new Promise<boolean>(resolve => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve(true)))
      socket.on('error', () => resolve(false))
    })
    if (up) break
    if (Date.now() - started > 15_000) throw new Error(`nginx did not listen on ${port} within 15 s: ${stderr}${safeRead(join(dir, 'error.log'))}`)
    await new Promise(r => setTimeout(r, 100))
  }
  return {
    child,
    dir,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGQUIT')
      await Promise.race([exited, new Promise(r => setTimeout(r, 10_000))])
      if (child.exitCode === null) child.kill('SIGKILL')
      // its configuration, pid file and logs: nothing else reads them once it is gone
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-2000)
  } catch {
    return ''
  }
}

/** The JSON an echo app answers (url and headers it got), asked from a given local address (a distinct client). */
export function getFrom(
  localAddress: string,
  port: number,
  path: string,
  headers: Record<string, string>
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, localAddress, headers: { connection: 'close', ...headers }, timeout: 10_000 }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

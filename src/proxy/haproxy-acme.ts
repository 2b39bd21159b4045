import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import tar from 'tar-stream'
import type Docker from 'dockerode'
import type { RegistryAuth } from '../core/config.js'
import type { Log } from '../core/log.js'
import { LABEL } from '../core/names.js'
import { isConflict } from '../transport/docker-ops.js'
import { sanitizeHostText } from '../transport/host-text.js'
import { acmeContainerName, HAPROXY_CONF_DIR, HAPROXY_RUN_DIR, hostRunDir } from './haproxy-config.js'
import { ensureProxyImage, inspectIfExists, ProxyError } from './proxy-container.js'

/** Where the renewer program is copied in its container (never onto the host's disk). */
const PROGRAM_DIR = '/cutover-acme'
const PROGRAM = `${PROGRAM_DIR}/index.mjs`
/** Label holding a hash of the program and image the renewer runs: a new cutover version replaces it. */
const PROGRAM_LABEL = 'cutover.acme-program'

/** The renewer bundle (dist/acme/index.js, built by ncc beside the action's dist/index.js; the command line's dist/cli/index.js looks one folder up). */
export function renewerProgram(): Buffer {
  // Built from a variable, so the bundler does not take it for an asset to copy.
  const parts = ['acme', 'index.js']
  const here = dirname(fileURLToPath(import.meta.url))
  const path = [join(here, ...parts), join(here, '..', ...parts)].find(p => existsSync(p)) ?? join(here, ...parts)
  try {
    return readFileSync(path)
  } catch (e) {
    throw new ProxyError(`The ACME renewer program ${path} is missing from the action (${(e as Error).message}): run npm run build`)
  }
}

/**
 * The `<proxy>-acme` container (tls auto): cutover's renewer program in a Node image, on the proxy's
 * network, with the proxy's config volume and admin socket. It answers HTTP-01 challenges and
 * renews certificates on the host by itself; a deploy asks it for a new certificate with `docker exec`.
 */
export class AcmeRenewer {
  readonly name: string

  constructor(
    private readonly docker: Docker,
    private readonly proxyName: string,
    private readonly network: string,
    private readonly image: string,
    private readonly registry: RegistryAuth | undefined,
    private readonly log: Log
  ) {
    this.name = acmeContainerName(proxyName)
  }

  private get container(): Docker.Container {
    return this.docker.getContainer(this.name)
  }

  /** Creates (or replaces, when its program or image changed) and starts the renewer; returns its address on the proxy network. */
  async ensureRunning(): Promise<string | undefined> {
    const program = renewerProgram()
    const hash = createHash('sha256').update(program).update(this.image).digest('hex').slice(0, 16)
    let info = await inspectIfExists(this.container)
    if (info && info.Config.Labels?.[PROGRAM_LABEL] !== hash) {
      this.log.info(`Replacing the ACME renewer ${this.name} (another cutover version or acme-image); certificates stay in the proxy's volume`)
      await this.container.remove({ force: true })
      info = undefined
    }
    if (!info) {
      await ensureProxyImage(this.docker, this.image, this.registry, this.log)
      this.log.info(`Creating the ACME renewer ${this.name} (${this.image})`)
      // Tuning knobs (tests force renewals with them): passed on as the run has them.
      const env = Object.entries(process.env)
        .filter(([k]) => /^CUTOVER_ACME_[A-Z_]+$/.test(k))
        .map(([k, v]) => `${k}=${v ?? ''}`)
      try {
        await this.docker.createContainer({
          name: this.name,
          Image: this.image,
          User: 'root',
          Entrypoint: ['node'],
          Cmd: [PROGRAM, 'serve'],
          Env: env,
          Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'acme', [PROGRAM_LABEL]: hash },
          HostConfig: {
            Binds: [`${this.proxyName}-conf:${HAPROXY_CONF_DIR}`, `${hostRunDir(this.proxyName)}:${HAPROXY_RUN_DIR}`],
            RestartPolicy: { Name: 'unless-stopped' },
            NetworkMode: this.network,
            // An ACME server on the host itself (a private CA, the test bed's pebble) is reachable by this name.
            ExtraHosts: ['host.docker.internal:host-gateway']
          }
        })
        await this.container.putArchive(Readable.from([await programArchive(program)]), { path: '/' })
      } catch (e) {
        if (!isConflict(e)) throw e
      }
      info = await inspectIfExists(this.container)
      if (!info) throw new ProxyError(`The ACME renewer ${this.name} vanished right after it was created`)
    }
    if (!info.State.Running) {
      await this.container.start().catch(e => {
        if ((e as { statusCode?: number }).statusCode !== 304) throw e
      })
      info = await this.container.inspect()
    }
    return info.NetworkSettings.Networks[this.network]?.IPAddress || undefined
  }

  /** Issues the app's certificate unless a valid one covers its names; the renewer's output goes to the log. */
  async issue(app: string, timeoutMs: number): Promise<void> {
    const exec = await this.container.exec({ Cmd: ['node', PROGRAM, 'issue', app], AttachStdout: true, AttachStderr: true })
    const stream = await exec.start({ hijack: true, stdin: false })
    const out = new PassThrough()
    const lines: string[] = []
    let partial = ''
    out.on('data', (c: Buffer) => {
      const text = partial + c.toString('utf8')
      const all = text.split('\n')
      partial = all.pop() ?? ''
      for (const l of all) {
        const line = sanitizeHostText(l, 500)
        lines.push(line)
        this.log.info(`  acme: ${line}`)
      }
    })
    this.docker.modem.demuxStream(stream, out, out)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.destroy()
        reject(
          new ProxyError(
            `The ACME issuance for ${app} did not finish within ${timeoutMs / 1000} s (the renewer goes on; the next deploy finds its certificate)`
          )
        )
      }, timeoutMs)
      stream.on('end', () => (clearTimeout(timer), resolve()))
      stream.on('close', () => (clearTimeout(timer), resolve()))
      stream.on('error', (e: Error) => (clearTimeout(timer), reject(e)))
    })
    if (partial) lines.push(sanitizeHostText(partial, 500))
    const { ExitCode } = await exec.inspect()
    if (ExitCode !== 0) {
      const why = lines.filter(l => /failed|error/i.test(l)).pop() ?? lines.pop() ?? `exit code ${ExitCode}`
      throw new ProxyError(why)
    }
  }
}

async function programArchive(program: Buffer): Promise<Buffer> {
  const pack = tar.pack()
  pack.entry({ name: PROGRAM_DIR.slice(1), type: 'directory', mode: 0o755 })
  pack.entry({ name: PROGRAM.slice(1), mode: 0o644 }, program)
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c)
  return Buffer.concat(chunks)
}

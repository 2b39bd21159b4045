import { Duplex, Readable } from 'node:stream'
import type Docker from 'dockerode'
import tar from 'tar-stream'

/**
 * A small fake of the dockerode surface the HAProxy router uses: containers (inspect, create,
 * start, remove, kill, exec, logs, archives in and out), networks and images, and the proxy's
 * admin socket. Enough to run HaproxyRouter without a Docker daemon; an HAProxy process is
 * imitated only as far as its runtime API answers go.
 */

export interface FakeContainer {
  name: string
  Id: string
  image: string
  labels: Record<string, string>
  running: boolean
  networks: Record<string, { IPAddress: string }>
  portBindings: Record<string, { HostPort: string }[]>
  /** The files of its directory mounts, by directory then name. */
  files: Map<string, Map<string, string>>
  /** When it last started (never: undefined). */
  startedAt?: string
}

function dockerError(statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { statusCode })
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer))
  return Buffer.concat(chunks)
}

/** HAProxy as its admin socket shows it: a worker pid (new at each reload), backends, and what it was told. */
export class FakeHaproxy {
  pid = 100
  backends: string[] = []
  /** Every runtime API line received, in order. */
  readonly lines: string[] = []
  /** Answers a command (`set server ...`) with an error instead of nothing. */
  refuse?: RegExp
  /** What `show servers state` answers (the format's version line, its header, one line per server). */
  serverState = [
    '1',
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port',
    '3 app_web 1 blue 172.19.0.7 0 5 1 1 7 1 0 0 8 0 0 0 web-blue 3000 - 0 0 - - 0',
    '3 app_web 2 green - 0 32 1 1 10 1 0 0 0 0 0 0 web-green 3000 - 0 0 - - 0',
    ''
  ].join('\n')
  /** The files a reload (SIGUSR2) started the new process with, one map per reload. */
  readonly reloadedWith: Map<string, string>[] = []
  /** Maps as the runtime API changed them (`clear map`, `add map`), by file. */
  readonly maps = new Map<string, [string, string][]>()
  /** Every line received and every Docker call, in one order (FakeDocker.trail). */
  trail?: string[]

  answer(line: string): string {
    this.lines.push(line)
    this.trail?.push(`admin ${line}`)
    return (
      line
        .split(';')
        .map(c => c.trim())
        .map(c => {
          if (c === 'show info') return `Name: HAProxy\nPid: ${this.pid}\n`
          if (c === 'show backend') return `# name\n${this.backends.join('\n')}\n`
          if (c === 'show map') return ''
          const [verb, noun, file, key, value] = c.split(/\s+/)
          if (noun === 'map' && file) {
            if (verb === 'clear') this.maps.set(file, [])
            if (verb === 'add') this.maps.set(file, [...(this.maps.get(file) ?? []), [key, value]])
            if (verb === 'show')
              return this.maps.has(file) ? (this.maps.get(file) ?? []).map(([k, v], i) => `0x${i + 1} ${k} ${v}\n`).join('') : 'Unknown map identifier.\n'
          }
          if (c === 'show servers state') return this.serverState
          if (this.refuse?.test(c)) return `No such server: ${c}\n`
          return ''
        })
        // HAProxy ends the answer to each command with an empty line.
        .map(a => (a.endsWith('\n') || a === '' ? a : `${a}\n`) + '\n')
        .join('')
    )
  }
}

export class FakeDocker {
  readonly containers = new Map<string, FakeContainer>()
  readonly networks = new Set<string>()
  readonly images = new Set<string>()
  /** Every call, as `verb name`. */
  readonly calls: string[] = []
  /** Calls and admin socket lines, in the order they came. */
  readonly trail: string[] = []
  readonly haproxy = Object.assign(new FakeHaproxy(), { trail: this.trail })
  /** What Docker answers when a container is started (a port it cannot publish, say); undefined: it starts. */
  startError?: string
  /** The containers `listContainers` returns (name and published ports), e.g. one holding a port. */
  listed: { Id: string; Names: string[]; Ports: { PublicPort?: number }[] }[] = []
  /** An error for an archive written into a container (a full disk, say); undefined: it is written. */
  putArchiveError?: () => Error | undefined
  /** The exit code of `haproxy -c` (the configuration test). */
  configTestExit = 0
  private ids = 0

  /** A container as if it existed already. */
  add(c: Partial<FakeContainer> & { name: string }): FakeContainer {
    const container: FakeContainer = { Id: `id${++this.ids}`, image: 'img', labels: {}, running: true, networks: {}, portBindings: {}, files: new Map(), ...c }
    this.containers.set(c.name, container)
    return container
  }

  /** The files of a container's directory. */
  filesOf(name: string, dir: string): Map<string, string> {
    const c = this.containers.get(name)
    if (!c) throw new Error(`no container ${name}`)
    if (!c.files.has(dir)) c.files.set(dir, new Map())
    return c.files.get(dir)!
  }

  /** The admin socket: one connection answers one line, then closes (non-interactive mode). */
  openAdminSocket(proxy: string): Promise<Duplex> {
    if (!this.containers.get(proxy)?.running) return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
    const haproxy = this.haproxy
    return Promise.resolve(
      new Duplex({
        read() {},
        write(chunk: Buffer, _enc, done) {
          this.push(haproxy.answer(chunk.toString('utf8').trim()))
          this.push(null)
          done()
        }
      })
    )
  }

  private reload(container: FakeContainer): void {
    this.haproxy.pid++
    for (const dir of container.files.values()) if (dir.has('00-base.cfg')) this.haproxy.reloadedWith.push(new Map(dir))
    const text = [...(container.files.values() ?? [])].flatMap(dir => [...dir.values()]).join('\n')
    this.haproxy.backends = [...text.matchAll(/^backend (\S+)/gm)].map(m => m[1])
  }

  getContainer(name: string): Docker.Container {
    const find = () => {
      const c = this.containers.get(name)
      if (!c) throw dockerError(404, `No such container: ${name}`)
      return c
    }
    const call = (verb: string) => (this.calls.push(`${verb} ${name}`), this.trail.push(`${verb} ${name}`))
    return {
      inspect: async () => {
        const c = find()
        return {
          Id: c.Id,
          Config: { Labels: c.labels, Image: c.image },
          State: { Running: c.running, StartedAt: c.startedAt ?? '0001-01-01T00:00:00Z' },
          HostConfig: { PortBindings: c.portBindings },
          NetworkSettings: { Networks: c.networks }
        }
      },
      start: async () => {
        call('start')
        const c = find()
        if (c.running) throw dockerError(304, 'already started')
        if (this.startError) throw dockerError(500, this.startError)
        c.running = true
        c.startedAt = new Date().toISOString()
        this.reload(c)
      },
      remove: async () => {
        call('remove')
        find()
        this.containers.delete(name)
      },
      kill: async ({ signal }: { signal: string }) => {
        call(`kill ${signal}`)
        if (signal === 'SIGUSR2') this.reload(find())
      },
      logs: async () => Buffer.from(''),
      exec: async ({ Cmd }: { Cmd: string[] }) => {
        call(`exec ${Cmd.join(' ')}`)
        const exitCode = Cmd[0] === 'haproxy' && Cmd[1] === '-c' ? this.configTestExit : 0
        return { start: async () => Readable.from([]), inspect: async () => ({ ExitCode: exitCode }) }
      },
      putArchive: async (archive: NodeJS.ReadableStream, { path }: { path: string }) => {
        call('putArchive')
        const refused = this.putArchiveError?.()
        if (refused) throw refused
        const files = this.filesOf(find().name, path)
        const extract = tar.extract()
        extract.on('entry', (header, stream, next) => {
          readAll(stream as unknown as NodeJS.ReadableStream).then(b => {
            files.set(header.name, b.toString('utf8'))
            next()
          }, next)
        })
        const done = new Promise<void>(resolve => extract.on('finish', () => resolve()))
        extract.end(await readAll(archive))
        await done
      },
      getArchive: async ({ path }: { path: string }) => {
        const c = find()
        const files = c.files.get(path)
        if (!files) throw dockerError(404, `Could not find the file ${path} in container ${name}`)
        const pack = tar.pack()
        const dir = path.split('/').pop()!
        pack.entry({ name: `${dir}/`, type: 'directory' })
        for (const [file, content] of files) pack.entry({ name: `${dir}/${file}` }, content)
        pack.finalize()
        return pack
      }
    } as unknown as Docker.Container
  }

  async createContainer(options: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    const name = options.name!
    this.calls.push(`create ${name}`)
    if (this.containers.has(name)) throw dockerError(409, `Conflict: ${name} is in use`)
    const network = options.HostConfig?.NetworkMode
    const container = this.add({
      name,
      image: options.Image!,
      labels: options.Labels ?? {},
      running: false,
      networks: network ? { [network]: { IPAddress: '172.18.0.2' } } : {},
      portBindings: (options.HostConfig?.PortBindings ?? {}) as FakeContainer['portBindings']
    })
    // A named volume mounted over a directory: empty, and kept with the container.
    for (const bind of options.HostConfig?.Binds ?? []) container.files.set(bind.split(':')[1], new Map())
    return this.getContainer(name)
  }

  getNetwork(name: string): Docker.Network {
    return {
      inspect: async () => {
        if (!this.networks.has(name)) throw dockerError(404, `network ${name} not found`)
        return { Name: name, IPAM: { Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] } }
      },
      connect: async ({ Container }: { Container: string }) => {
        this.calls.push(`connect ${name}`)
        const c = [...this.containers.values()].find(x => x.Id === Container)!
        c.networks[name] = { IPAddress: '172.19.0.2' }
      }
    } as unknown as Docker.Network
  }

  async createNetwork({ Name }: { Name: string }): Promise<Docker.Network> {
    this.calls.push(`createNetwork ${Name}`)
    this.networks.add(Name)
    return this.getNetwork(Name)
  }

  getImage(name: string): Docker.Image {
    return {
      inspect: async () => {
        if (!this.images.has(name)) throw dockerError(404, `No such image: ${name}`)
        return { Id: name }
      }
    } as unknown as Docker.Image
  }

  listContainers(opts?: { filters?: { publish?: string[] } }): Promise<{ Id: string; Names: string[] }[]> {
    const port = Number(opts?.filters?.publish?.[0])
    return Promise.resolve(this.listed.filter(c => !port || c.Ports.some(p => p.PublicPort === port)))
  }

  /** Typed as dockerode for the code under test. */
  get docker(): Docker {
    return this as unknown as Docker
  }
}

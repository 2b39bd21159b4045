import type Docker from 'dockerode'
import { finished, Readable, Writable } from 'node:stream'
import tar from 'tar-stream'
import type { RegistryAuth } from '../core/config.js'
import { pullableRef } from '../core/image-ref.js'
import { sanitizeHostText } from './host-text.js'

/** Splits Docker's multiplexed stdout/stderr framing (used when a container has no TTY). */
export function demux(buf: Buffer): { stdout: string; stderr: string } {
  let stdout = ''
  let stderr = ''
  let i = 0
  while (i + 8 <= buf.length) {
    const kind = buf[i]
    const size = buf.readUInt32BE(i + 4)
    const chunk = buf.subarray(i + 8, i + 8 + size).toString('utf8')
    if (kind === 2) stderr += chunk
    else stdout += chunk
    i += 8 + size
  }
  // Not framed after all (TTY container): return it whole.
  if (i === 0 && buf.length > 0) stdout = buf.toString('utf8')
  return { stdout, stderr }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer))
  return Buffer.concat(chunks)
}

export interface ExecOutput {
  exitCode: number
  stdout: string
  stderr: string
}

/** Runs a command inside a running container and waits for it to end. */
export async function execIn(container: Docker.Container, cmd: string[]): Promise<ExecOutput> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
  const stream = await exec.start({ hijack: true, stdin: false })
  const raw = await readAll(stream)
  const info = await exec.inspect()
  return { exitCode: info.ExitCode ?? -1, ...demux(raw) }
}

/** Writes one file into a container (running or not) through the archive API: no shell needed. */
export async function putFile(container: Docker.Container, dir: string, name: string, content: string, mode = 0o644): Promise<void> {
  await putFiles(container, dir, [{ name, content, mode }])
}

/** Writes several files into a directory of a container in one request (one archive). */
export async function putFiles(container: Docker.Container, dir: string, files: { name: string; content: string; mode?: number }[]): Promise<void> {
  const pack = tar.pack()
  const mtime = new Date()
  for (const f of files) pack.entry({ name: f.name, mode: f.mode ?? 0o644, mtime }, f.content)
  pack.finalize()
  const archive = await readAll(pack as unknown as NodeJS.ReadableStream)
  await container.putArchive(Readable.from([archive]), { path: dir })
}

/** An archive from Docker's archive API; undefined on 404 (no such file, directory or container). */
async function archiveOf(container: Docker.Container, path: string): Promise<NodeJS.ReadableStream | undefined> {
  try {
    return await container.getArchive({ path })
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined
    throw e
  }
}

/** Why a streamed answer ended early: http calls a connection closed part-way "aborted" (ECONNRESET). */
function describeCut(error: NodeJS.ErrnoException): string {
  if (error.code === 'ERR_STREAM_PREMATURE_CLOSE') return 'the answer was cut off'
  if (error.code === 'ECONNRESET') return `the answer was cut off (${error.message})`
  return error.message
}

/**
 * The regular files of a tar stream, in order, by entry name. An archive that errors or closes
 * before its end fails this (pipe() passes neither on, so the extract would wait for ever).
 */
async function filesIn(archive: NodeJS.ReadableStream, path: string): Promise<{ name: string; content: string }[]> {
  const files: { name: string; content: string }[] = []
  const extract = tar.extract()
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = []
      stream.on('data', (c: unknown) => chunks.push(c as Buffer))
      stream.on('end', () => {
        if (header.type === 'file') files.push({ name: header.name, content: Buffer.concat(chunks).toString('utf8') })
        next()
      })
      stream.resume()
    })
    extract.on('finish', resolve)
    extract.on('error', reject)
    finished(archive, error => {
      if (!error) return
      extract.destroy()
      reject(new Error(`Reading ${path} from the container failed: ${describeCut(error)}`))
    })
  })
  archive.pipe(extract)
  await done
  return files
}

/** Reads one file out of a container; undefined when it does not exist. */
export async function getFile(container: Docker.Container, path: string): Promise<string | undefined> {
  const archive = await archiveOf(container, path)
  return archive ? (await filesIn(archive, path))[0]?.content : undefined
}

/**
 * Every regular file directly inside a directory of a container, by name, in one request (each
 * archive request costs a round trip, and Docker serves them one at a time per container); an
 * empty map when the directory does not exist.
 */
export async function getDirFiles(container: Docker.Container, dir: string): Promise<Map<string, string>> {
  const archive = await archiveOf(container, dir)
  const files = new Map<string, string>()
  for (const f of archive ? await filesIn(archive, dir) : []) {
    // Entries are named after the directory: "cutover/a.map"; deeper ones are not ours.
    const parts = f.name.split('/')
    if (parts.length === 2) files.set(parts[1], f.content)
  }
  return files
}

/** The last lines a container wrote, stdout and stderr interleaved as Docker kept them. */
export async function tailLogs(container: Docker.Container, lines = 30): Promise<string> {
  try {
    const raw = (await container.logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer
    const { stdout, stderr } = demux(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)))
    return [stdout, stderr].filter(Boolean).join('').trimEnd()
  } catch (e) {
    return `(logs unavailable: ${(e as Error).message})`
  }
}

/** Calls onLine for every complete line written to the stream, and the rest at its end. */
function lineSplitter(onLine: (line: string) => void): { write(text: string): void; flush(): void } {
  let partial = ''
  return {
    write(text) {
      const lines = (partial + text).split(/\r?\n/)
      partial = lines.pop() ?? ''
      for (const l of lines) onLine(l)
    },
    flush() {
      if (partial) onLine(partial)
      partial = ''
    }
  }
}

/**
 * Follows a started container's output until it exits; resolves with its exit code, or undefined
 * when the time is up or `abort` fires first. Neither request has a deadline of its own
 * (see requestBound): this timer is theirs, and both are ended when it fires.
 */
export async function waitForExit(
  container: Docker.Container,
  timeoutMs: number,
  onLine: (line: string) => void,
  abort?: AbortSignal
): Promise<number | undefined> {
  const stop = new AbortController()
  const stopAll = () => stop.abort()
  abort?.addEventListener('abort', stopAll)
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<undefined>(resolve => {
    timer = setTimeout(() => resolve(undefined), timeoutMs)
    stop.signal.addEventListener('abort', () => resolve(undefined))
  })
  const out = lineSplitter(onLine)
  const followed = (async () => {
    const stream = (await container.logs({ follow: true, stdout: true, stderr: true, abortSignal: stop.signal })) as unknown as NodeJS.ReadableStream
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out.write(chunk.toString('utf8'))
        done()
      }
    })
    container.modem.demuxStream(stream, sink, sink)
    await new Promise<void>(resolve => {
      stream.on('end', resolve)
      stream.on('close', resolve)
      stream.on('error', () => resolve())
    })
    out.flush()
  })().catch(() => undefined)
  try {
    const exited = container.wait({ abortSignal: stop.signal }).then(
      (r: { StatusCode: number }) => r.StatusCode,
      (e: unknown) => {
        if (stop.signal.aborted) return undefined
        throw e
      }
    )
    const code = await Promise.race([exited, timedOut])
    // The last lines may still be on their way after the exit.
    if (code !== undefined) await Promise.race([followed, new Promise(resolve => setTimeout(resolve, 2000).unref())])
    return code
  } finally {
    clearTimeout(timer)
    abort?.removeEventListener('abort', stopAll)
    stop.abort()
  }
}

export function isNotFound(e: unknown): boolean {
  return (e as { statusCode?: number }).statusCode === 404
}

export function isConflict(e: unknown): boolean {
  return (e as { statusCode?: number }).statusCode === 409
}

export interface PullProgress {
  (line: string): void
}

/** How long a pull may go without any progress event before it is given up. */
export const PULL_IDLE_TIMEOUT_MS = 120_000

/**
 * Pulls an image with the credentials (already matched to its registry) sent in the X-Registry-Auth header only:
 * nothing is written to the host's disk. Reports progress per layer, throttled.
 * A pull may take as long as the image needs, but not `idleTimeoutMs` without any progress
 * (the Docker API request itself has no deadline: see requestBound in docker.ts).
 */
export async function pullImage(
  docker: Docker,
  image: string,
  authconfig: RegistryAuth | undefined,
  log: PullProgress,
  idleTimeoutMs = PULL_IDLE_TIMEOUT_MS
): Promise<void> {
  const ref = pullableRef(image)
  const stream = (await docker.pull(ref, authconfig ? { authconfig } : {})) as NodeJS.ReadableStream & { destroy(error?: Error): void; complete?: boolean }
  const lastStatus = new Map<string, string>()
  let lastLog = 0
  // The daemon reports pull failures (auth, missing tag) as an event in the stream, not as an HTTP error.
  let streamError: string | undefined
  let idle: NodeJS.Timeout | undefined
  const arm = () => {
    clearTimeout(idle)
    idle = setTimeout(
      () =>
        stream.destroy(
          new Error(`no progress from the Docker daemon for ${idleTimeoutMs < 1000 ? `${idleTimeoutMs} ms` : `${Math.round(idleTimeoutMs / 1000)} s`}`)
        ),
      idleTimeoutMs
    )
    // Bounds a pull someone awaits; a pull the run left behind (it was refused while an early pull
    // went on) must not keep the finished process alive until the timer fires.
    idle.unref()
  }
  arm()
  try {
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err: Error | null) => {
          const why = err?.message ?? streamError
          if (why) reject(new Error(`Pull of ${image} failed: ${sanitizeHostText(why, 500)}`))
          // followProgress takes a stream that closed early for one that ended: it is not.
          else if (stream.complete === false) reject(new Error(`Pull of ${image} failed: the Docker daemon's answer was cut off`))
          else resolve()
        },
        (event: { id?: string; status?: string; progress?: string; error?: string }) => {
          arm()
          if (event.error) {
            streamError = event.error
            return
          }
          const key = event.id ?? ''
          const status = event.status ?? ''
          const now = Date.now()
          const changed = lastStatus.get(key) !== status
          if (changed || now - lastLog > 2000) {
            lastStatus.set(key, status)
            lastLog = now
            log(sanitizeHostText(`${key ? key + ': ' : ''}${status}${event.progress && !changed ? ' ' + event.progress : ''}`, 200))
          }
        }
      )
    })
  } finally {
    clearTimeout(idle)
  }
}

import type { Duplex } from 'node:stream'

/** Opens a stream to the proxy's admin socket (over SSH: direct-streamlocal to the host's socket file). */
export type OpenAdminSocket = () => Promise<Duplex>

export class RuntimeApiError extends Error {
  override name = 'RuntimeApiError'
}

/**
 * Sends one line to HAProxy's runtime API (commands separated by `;`) and returns its answer.
 * Non-interactive mode: HAProxy answers and closes the connection; bounded by `timeoutMs`.
 */
export async function runtimeCommand(open: OpenAdminSocket, line: string, timeoutMs = 5000): Promise<string> {
  if (/[\r\n]/.test(line)) throw new RuntimeApiError('A runtime API command must be one line')
  const stream = await open()
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = []
    let settled = false
    const finish = (e?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (e) {
        stream.destroy()
        reject(e)
      } else resolve(Buffer.concat(chunks).toString('utf8'))
    }
    const timer = setTimeout(
      () => finish(new RuntimeApiError(`The proxy's runtime API did not answer "${line.slice(0, 80)}" within ${timeoutMs} ms`)),
      timeoutMs
    )
    stream.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c))
    stream.on('end', () => finish())
    stream.on('close', () => finish())
    stream.on('error', (e: Error) => finish(new RuntimeApiError(`The proxy's runtime API failed: ${e.message}`)))
    stream.write(line + '\n')
  })
}

/** Lines of an answer to commands that print nothing on success (or only the note of `set server addr`). */
export function runtimeErrors(answer: string): string[] {
  return answer
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !/^IP changed from|no need to change/i.test(l) && !/^Done\.?$/i.test(l))
}

/** The backends the running process knows (`show backend`). */
export function parseBackends(answer: string): string[] {
  return answer
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('#'))
}

/** The worker's pid from `show info` (it changes with every reload). */
export function parsePid(answer: string): number | undefined {
  const m = /^Pid:\s*(\d+)/m.exec(answer)
  return m ? Number(m[1]) : undefined
}

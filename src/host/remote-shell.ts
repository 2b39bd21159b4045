import type { ClientChannel } from 'ssh2'

/** What host-side adapters need of the SSH connection: a command on the host, over a channel of it. */
export interface CommandChannel {
  execStream(command: string): Promise<ClientChannel>
}

export interface ShellResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Single-quotes a value for sh. */
export function shq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`
}

/**
 * Runs a short sh script on the host with `input` on its standard input, bounded in time:
 * the channel is closed and the promise rejected when it takes longer than timeoutMs.
 */
export async function runScript(ssh: CommandChannel, script: string, input: string, timeoutMs: number): Promise<ShellResult> {
  const channel = await ssh.execStream(`sh -c ${shq(script)}`)
  return new Promise((resolve, reject) => {
    const out: Buffer[] = []
    const err: Buffer[] = []
    const timer = setTimeout(() => {
      channel.close()
      reject(new Error(`a command on the host did not finish within ${timeoutMs} ms`))
    }, timeoutMs)
    channel.on('data', (d: Buffer) => out.push(d))
    channel.stderr.on('data', (d: Buffer) => err.push(d))
    channel.on('close', (code: number | null) => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
    channel.end(input)
  })
}

import { PassThrough } from 'node:stream'

/**
 * A connection to a fake HAProxy admin socket: the line written to it is answered with
 * `answer(line)` and the connection closes, as HAProxy's non-interactive mode does.
 */
export function answeringSocket(answer: (line: string) => string): PassThrough {
  const s = new PassThrough()
  s.write = ((chunk: string) => {
    const text = answer(String(chunk).trim())
    setImmediate(() => {
      s.push(text)
      s.push(null)
    })
    return true
  }) as typeof s.write
  return s
}

import { connect } from 'node:net'

/**
 * Replaces a certificate HAProxy already serves, through its admin socket (no reload):
 * `set ssl cert <file> <<` with the PEM as payload, then `commit ssl cert <file>`.
 * Returns false when HAProxy does not serve that file yet (the next reload loads it from disk).
 */
export async function installCertificate(socketPath: string, file: string, pem: string, timeoutMs = 10_000): Promise<boolean> {
  const payload = pem.replace(/\r\n/g, '\n').replace(/\n+$/, '')
  const set = await adminCommand(socketPath, `set ssl cert ${file} <<\n${payload}\n\n`, timeoutMs)
  if (/unknown|not found|can't (?:find|replace)/i.test(set)) return false
  if (!/Transaction (?:created|updated)/i.test(set)) throw new Error(`HAProxy refused the certificate ${file}: ${set.trim().slice(0, 300)}`)
  const commit = await adminCommand(socketPath, `commit ssl cert ${file}\n`, timeoutMs)
  if (!/Success!/i.test(commit)) {
    await adminCommand(socketPath, `abort ssl cert ${file}\n`, timeoutMs).catch(() => undefined)
    throw new Error(`HAProxy did not commit the certificate ${file}: ${commit.trim().slice(0, 300)}`)
  }
  return true
}

/** One command (with its payload) on the admin socket; HAProxy answers and closes. */
export function adminCommand(socketPath: string, text: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath)
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`HAProxy's admin socket did not answer within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('data', c => chunks.push(c))
    socket.on('error', e => {
      clearTimeout(timer)
      reject(e)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('utf8'))
    })
    socket.write(text)
  })
}

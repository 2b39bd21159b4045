import { createServer, type Socket } from 'node:net'

/** A TCP server on 127.0.0.1 that accepts connections and never writes a byte (a tarpit, a port forward with nothing behind). */
export interface Tarpit {
  port: number
  /** Connections accepted so far. */
  readonly accepted: number
  close(): Promise<void>
}

export async function startTarpit(): Promise<Tarpit> {
  const sockets = new Set<Socket>()
  let accepted = 0
  const server = createServer(s => {
    accepted++
    sockets.add(s)
    s.on('error', () => undefined)
    s.on('close', () => sockets.delete(s))
    s.resume() // read and drop whatever the client sends; answer nothing
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  return {
    port: (server.address() as { port: number }).port,
    get accepted() {
      return accepted
    },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise(r => server.close(r))
    }
  }
}

import net from 'node:net'

/** A TCP port free on 127.0.0.1 at the moment of asking (the bench's proxies and relays publish on it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

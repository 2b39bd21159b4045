// cutover test bed: a plain TCP relay (node tcp-relay.mjs LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT).
// The registry listens on 127.0.0.1, which inside a network namespace is the namespace's own
// loopback: the fleet hosts of hosts.sh reach it through this relay on the bridge address.
import { createConnection, createServer } from 'node:net'

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2)
if (!targetPort) {
  console.error('usage: node tcp-relay.mjs LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT')
  process.exit(2)
}

const server = createServer(client => {
  const upstream = createConnection({ host: targetHost, port: Number(targetPort) })
  client.pipe(upstream).pipe(client)
  const close = () => {
    client.destroy()
    upstream.destroy()
  }
  client.on('error', close)
  upstream.on('error', close)
  client.on('close', close)
  upstream.on('close', close)
})
server.listen(Number(listenPort), listenHost, () => console.log(`relaying ${listenHost}:${listenPort} -> ${targetHost}:${targetPort}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))

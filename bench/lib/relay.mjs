// A delaying TCP relay on loopback: every chunk is forwarded `delayMs` after it arrived, in each
// direction (so a round trip costs 2 x delayMs), in order. The kernel here has no netem; this
// stands in for a real network between the runner and the host. Counts the connections it carried.
import net from 'node:net'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

function listen({ targetHost, targetPort, delayMs }) {
  const stats = { connections: 0, bytesUp: 0, bytesDown: 0 }
  const live = new Set()
  const server = net.createServer({ noDelay: true }, client => {
    stats.connections++
    client.setNoDelay(true)
    const upstream = net.connect({ host: targetHost, port: targetPort, noDelay: true })
    upstream.setNoDelay(true)
    live.add(client)
    live.add(upstream)
    const pipe = (from, to, counter) => {
      // Timers with the same duration fire in the order they were set: order is kept.
      from.on('data', chunk => {
        stats[counter] += chunk.length
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk)
        }, delayMs)
      })
      from.on('end', () => setTimeout(() => to.end(), delayMs))
      from.on('error', () => undefined)
      from.on('close', () => {
        live.delete(from)
        setTimeout(() => to.destroy(), delayMs + 5)
      })
    }
    pipe(client, upstream, 'bytesUp')
    pipe(upstream, client, 'bytesDown')
  })
  return new Promise((resolve, reject) => {
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      resolve({
        port,
        stats,
        close: () =>
          new Promise(r => {
            for (const s of live) s.destroy()
            server.close(() => r())
          })
      })
    })
  })
}

// In a worker thread, so the orchestrator's own work (spawning runs, parsing their output) never
// delays the relay's timers.
if (!isMainThread && workerData?.relay) {
  const relay = await listen(workerData.relay)
  parentPort.on('message', async msg => {
    if (msg === 'stats') parentPort.postMessage({ type: 'stats', stats: { ...relay.stats } })
    if (msg === 'close') {
      await relay.close()
      parentPort.postMessage({ type: 'closed' })
    }
  })
  parentPort.postMessage({ type: 'ready', port: relay.port })
}

/** Starts the relay in its own thread; stats() resolves with its current counters. */
export function startRelay(opts) {
  const worker = new Worker(new URL(import.meta.url), { workerData: { relay: opts } })
  const waiters = { ready: [], stats: [], closed: [] }
  worker.on('message', msg => waiters[msg.type]?.shift()?.(msg))
  const next = type => new Promise(r => waiters[type].push(r))
  let closed = false
  return next('ready').then(({ port }) => ({
    port,
    async stats() {
      worker.postMessage('stats')
      return (await next('stats')).stats
    },
    async close() {
      if (closed) return
      closed = true
      worker.postMessage('close')
      await Promise.race([next('closed'), new Promise(r => setTimeout(r, 2000))])
      await worker.terminate()
    }
  }))
}

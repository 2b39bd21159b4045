import { Worker } from 'node:worker_threads'

/**
 * Starts the load worker against a loopback URL. Returns stop(), which resolves with the raw
 * records, and `ticks` (one progress sample per second).
 */
export function startLoad(url, opts, onTick = () => {}) {
  const worker = new Worker(new URL('./load-worker.mjs', import.meta.url), { workerData: { url, ...opts } })
  const ticks = []
  let resolveResult
  let rejectResult
  const result = new Promise((res, rej) => {
    resolveResult = res
    rejectResult = rej
  })
  worker.on('message', msg => {
    if (msg.type === 'tick') {
      ticks.push(msg)
      onTick(msg)
    } else if (msg.type === 'result') resolveResult(msg)
  })
  worker.on('error', err => rejectResult(err))
  worker.on('exit', code => rejectResult(new Error(`load worker exited (${code}) before reporting`)))
  let stopped = false
  return {
    ticks,
    async stop() {
      if (!stopped) {
        stopped = true
        worker.postMessage({ type: 'stop' })
      }
      const r = await result
      await worker.terminate()
      return { ...r, ticks }
    },
    kill() {
      return worker.terminate()
    }
  }
}

/** The load used for every strategy: same shape, same pacing. */
export function loadProfile(quick) {
  return {
    ka: { connections: 8, rate: 70 }, // 8 keep-alive connections x 70 req/s
    nc: { loops: 4, rate: 35 }, // 4 loops x 35 req/s, a new TCP connection per request
    slow: { everyMs: 250, ms: 3000 }, // ~12 long requests always in flight
    ws: { count: 8, minLifeMs: 4000, maxLifeMs: 20000 },
    maxMs: quick ? 10 * 60_000 : 40 * 60_000,
    maxRequests: 3_000_000
  }
}

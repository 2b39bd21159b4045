// Load generator, run in a worker thread so its timing does not depend on the orchestrator's
// event loop. Everything it does is bounded (time and request count) and loopback only.
//
// - short GET / from `ka.connections` keep-alive loops and `nc.loops` new-connection-per-request
//   loops, each paced to `rate` requests per second (closed loop: at most one request in flight);
// - long GET /slow?ms=N started every `slow.everyMs` on fresh connections, so some are always in
//   flight across a switch;
// - `ws.count` WebSockets held open, each for a random lifetime, then closed by the client and
//   replaced; a close the client did not ask for is a cut.
//
// Every event carries an epoch timestamp in ms (performance.timeOrigin + performance.now(), so it
// is comparable with the orchestrator's clock). Results are posted back when told to stop.
import { parentPort, workerData } from 'node:worker_threads'
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'

const now = () => performance.timeOrigin + performance.now()
const cfg = workerData
const base = new URL(cfg.url)
// (allowHosts: container addresses on this machine's bridge networks, named one by one by the caller)
if (!['127.0.0.1', 'localhost', '[::1]', ...(cfg.allowHosts ?? [])].includes(base.hostname))
  throw new Error('the load only targets loopback (or the container addresses it is given)')

const startedAt = now()
const deadline = startedAt + cfg.maxMs
let stopping = false
const sleep = ms => new Promise(r => setTimeout(r, ms))

// ---------------------------------------------------------------- versions
const versions = []
const versionIndex = new Map()
function vid(text) {
  const key = String(text ?? '')
    .trim()
    .slice(0, 20)
  if (!key) return -1
  let i = versionIndex.get(key)
  if (i === undefined) {
    i = versions.length
    versions.push(key)
    versionIndex.set(key, i)
  }
  return i
}

// ---------------------------------------------------------------- short requests
// Columnar records: start time, latency, class (0 keep-alive, 1 new connection),
// result (0 ok, 1 non-2xx, 2 socket error), HTTP status, version index.
const R = { t: [], lat: [], cls: [], res: [], status: [], ver: [] }
const errorSamples = []
let sent = 0

function record(t0, cls, res, status, ver, err) {
  const t1 = now()
  R.t.push(Math.round(t0 * 10) / 10)
  R.lat.push(Math.round((t1 - t0) * 100) / 100)
  R.cls.push(cls)
  R.res.push(res)
  R.status.push(status)
  R.ver.push(ver)
  if (res !== 0 && errorSamples.length < 400) errorSamples.push({ t: Math.round(t1), cls, status, error: err })
}

function shortRequest(agent, cls) {
  const t0 = now()
  sent++
  return new Promise(resolve => {
    const req = http.get({ host: base.hostname, port: base.port, path: '/', agent, headers: cls === 0 ? {} : { connection: 'close' }, timeout: 15000 }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', c => (body += c))
      res.on('end', () => {
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) record(t0, cls, 0, status, vid(body))
        else record(t0, cls, 1, status, vid(res.headers['x-app-version']), `HTTP ${status}: ${body.trim().slice(0, 60)}`)
        resolve()
      })
      res.on('error', err => {
        record(t0, cls, 2, 0, -1, `${err.code ?? ''} ${err.message}`.trim())
        resolve()
      })
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 15 s'), { code: 'TIMEOUT' })))
    req.on('error', err => {
      record(t0, cls, 2, 0, -1, `${err.code ?? ''} ${err.message}`.trim())
      resolve()
    })
  })
}

const running = () => !stopping && now() < deadline && sent < cfg.maxRequests

async function pacedLoop(agent, cls, rate) {
  const interval = 1000 / rate
  // Spread the loops' phases so they do not fire in lock step.
  await sleep(Math.random() * interval)
  let next = now()
  while (running()) {
    await shortRequest(agent, cls)
    next += interval
    const wait = next - now()
    if (wait > 0) await sleep(wait)
    else if (wait < -interval) next = now() // fell behind (a stall): do not burst to catch up
  }
}

// ---------------------------------------------------------------- long requests
const slow = [] // { t0, t1, res: 'ok'|'non2xx'|'error', status, ver, error }
const slowInFlight = new Set()
function slowRequest() {
  const t0 = now()
  const rec = { t0: Math.round(t0), t1: 0, res: '', status: 0, ver: '', error: '' }
  slow.push(rec)
  const p = new Promise(resolve => {
    const done = (res, status, ver, error) => {
      if (rec.res) return
      Object.assign(rec, { t1: Math.round(now()), res, status, ver, error })
      resolve()
    }
    const req = http.get(
      { host: base.hostname, port: base.port, path: `/slow?ms=${cfg.slow.ms}`, agent: false, headers: { connection: 'close' }, timeout: cfg.slow.ms + 15000 },
      res => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', c => (body += c))
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) done('ok', status, body.trim())
          else done('non2xx', status, String(res.headers['x-app-version'] ?? ''), `HTTP ${status}: ${body.trim().slice(0, 60)}`)
        })
        res.on('error', err => done('error', res.statusCode ?? 0, '', `${err.code ?? ''} ${err.message}`.trim()))
        res.on('close', () => {
          if (!res.complete) done('error', res.statusCode ?? 0, '', 'response cut before its end')
        })
      }
    )
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in time'), { code: 'TIMEOUT' })))
    req.on('error', err => done('error', 0, '', `${err.code ?? ''} ${err.message}`.trim()))
  })
  slowInFlight.add(p)
  p.then(() => slowInFlight.delete(p))
}

async function slowLoop() {
  while (running()) {
    slowRequest()
    await sleep(cfg.slow.everyMs)
  }
}

// ---------------------------------------------------------------- WebSockets
const sockets = [] // { opened, version, closed, how: 'client'|'cut'|'open-failed'|'open', code, reason, frames, lastFrame, error, lifeMs }
const liveWs = new Set()

function openWs() {
  return new Promise(resolve => {
    const t0 = now()
    const lifeMs = cfg.ws.minLifeMs + Math.random() * (cfg.ws.maxLifeMs - cfg.ws.minLifeMs)
    const rec = {
      requested: Math.round(t0),
      opened: 0,
      version: '',
      closed: 0,
      how: 'open',
      code: 0,
      reason: '',
      frames: 0,
      lastFrame: 0,
      error: '',
      lifeMs: Math.round(lifeMs)
    }
    sockets.push(rec)
    const ws = new WebSocket(`ws://${base.host}/ws`, { handshakeTimeout: 10000, perMessageDeflate: false })
    let byClient = false
    let timer
    liveWs.add(ws)
    const closeByClient = () => {
      byClient = true
      try {
        ws.close(1000, 'client done')
      } catch {
        ws.terminate()
      }
    }
    ws.on('open', () => {
      rec.opened = Math.round(now())
      timer = setTimeout(closeByClient, lifeMs)
      ws.closeByClient = closeByClient
    })
    ws.on('upgrade', res => (rec.version = String(res.headers['x-app-version'] ?? '')))
    ws.on('message', data => {
      rec.frames++
      rec.lastFrame = Math.round(now())
      if (!rec.version) rec.version = String(data).trim()
    })
    // No 'unexpected-response' listener: ws then fails the handshake with an error and closes.
    ws.on('error', err => {
      if (!rec.error) rec.error = `${err.code ?? ''} ${err.message}`.trim()
    })
    ws.on('close', (code, reason) => {
      clearTimeout(timer)
      liveWs.delete(ws)
      rec.closed = Math.round(now())
      rec.code = code
      rec.reason = String(reason ?? '')
      // Anything still open when the load stops is closed by us: not a cut.
      rec.how = byClient || stopping ? (rec.opened ? 'client' : 'not-opened') : !rec.opened ? 'open-failed' : 'cut'
      resolve(rec)
    })
  })
}

async function wsLoop() {
  await sleep(Math.random() * 1000)
  while (running()) {
    const rec = await openWs()
    if (stopping) break
    await sleep(rec.how === 'open-failed' ? 250 : 50)
  }
}

// ---------------------------------------------------------------- main
const kaAgent = new http.Agent({ keepAlive: true, maxSockets: cfg.ka.connections, keepAliveMsecs: 1000 })
const loops = []
for (let i = 0; i < cfg.ka.connections; i++) loops.push(pacedLoop(kaAgent, 0, cfg.ka.rate))
for (let i = 0; i < cfg.nc.loops; i++) loops.push(pacedLoop(false, 1, cfg.nc.rate))
if (cfg.slow.everyMs > 0) loops.push(slowLoop())
for (let i = 0; i < cfg.ws.count; i++) loops.push(wsLoop())

// A one-second progress line for the orchestrator's console.
let lastReport = 0
const progress = setInterval(() => {
  const n = R.t.length
  let errs = 0
  for (let i = lastReport; i < n; i++) if (R.res[i] !== 0) errs++
  parentPort.postMessage({ type: 'tick', t: Math.round(now()), done: n, rps: n - lastReport, errs, wsOpen: liveWs.size, slowInFlight: slowInFlight.size })
  lastReport = n
}, 1000)

parentPort.on('message', async msg => {
  if (msg.type !== 'stop') return
  stopping = true
  clearInterval(progress)
  // Close held WebSockets as the client (not a cut), let loops and long requests finish.
  for (const ws of [...liveWs]) {
    if (ws.closeByClient) ws.closeByClient()
    else ws.terminate()
  }
  await Promise.race([Promise.all(loops), sleep(20000)])
  await Promise.race([Promise.all([...slowInFlight]), sleep(cfg.slow.ms + 16000)])
  kaAgent.destroy()
  for (const ws of [...liveWs]) ws.terminate()
  parentPort.postMessage({ type: 'result', startedAt, stoppedAt: now(), versions, short: R, errorSamples, slow, sockets, sent })
})

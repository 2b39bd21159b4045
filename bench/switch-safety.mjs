#!/usr/bin/env node
// Switch safety of proxy designs under load (issue #15): for each candidate, the existing load
// (bench/lib/load-worker.mjs: keep-alive and new-connection clients, 3 s requests, WebSockets)
// plus keep-alive POST clients, while the proxy switches blue <-> green N times (both colors keep
// running), then a second app is added and removed K times (a config change: a reload).
// Every failure is counted and put in the phase it happened in.
//
//   npm run bench:switch-safety                            # keepalive,haproxy,current; 20 switches
//   node bench/switch-safety.mjs --only haproxy --switches 30 --adds 5
//
// Load goes to the proxy container's address on the bridge network (no docker-proxy in the path).
// Everything is named pd-* and removed at the end.
import http from 'node:http'
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startLoad } from './lib/load.mjs'
import { ipOf, loadNginxConfig, setupApps, setupHaproxy, setupTwoTier, teardown, APP2 } from './lib/designs.mjs'
import { getBounded } from './lib/get-bounded.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const REPO = join(HERE, '..')
const argv = process.argv.slice(2)
const flag = (name, def) => {
  const i = argv.indexOf(`--${name}`)
  return i < 0 ? def : argv[i + 1]
}
const ONLY = String(flag('only', 'keepalive,haproxy,current')).split(',')
const SWITCHES = Number(flag('switches', 20))
const ADDS = Number(flag('adds', 4))
const GAP = Number(flag('gap', 1500))
const OUT = flag('out', join(HERE, 'results'))
const sleep = ms => new Promise(r => setTimeout(r, ms))
const log = (...a) => console.log(`[safety ${new Date().toISOString().slice(11, 19)}]`, ...a)
const now = () => performance.timeOrigin + performance.now()

/** Keep-alive POST clients: 405 is the app's answer (it only takes GET), anything else failed. */
function startPosts(host, port, { connections = 4, rate = 50, maxMs = 180000 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
  const rec = { sent: 0, app: 0, failed: [] }
  let stop = false
  const deadline = Date.now() + maxMs
  const one = () =>
    new Promise(resolve => {
      const t = now()
      rec.sent++
      const req = http.request({ host, port, path: '/', method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: 15000 }, res => {
        res.resume()
        res.on('end', () => {
          if (res.statusCode === 405) rec.app++
          else rec.failed.push({ t, status: res.statusCode })
          resolve()
        })
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', e => {
        rec.failed.push({ t, error: `${e.code ?? ''} ${e.message}`.trim() })
        resolve()
      })
      req.end('{"n":1}')
    })
  const loops = Array.from({ length: connections }, async () => {
    while (!stop && Date.now() < deadline) {
      await one()
      await sleep(1000 / rate)
    }
  })
  return {
    async stop() {
      stop = true
      await Promise.all(loops)
      agent.destroy()
      return rec
    }
  }
}

async function versionNow(url) {
  try {
    return (await getBounded(url, 3000, { connection: 'close' })).body.trim()
  } catch {
    return ''
  }
}

async function runCandidate(v) {
  const ip = await ipOf(v.containers[0])
  const url = `http://${ip}:80/`
  log(`${v.name}: load on ${url}`)
  const load = startLoad(url, {
    allowHosts: [ip],
    ka: { connections: 8, rate: 70 },
    nc: { loops: 4, rate: 35 },
    slow: { everyMs: 250, ms: 3000 },
    ws: { count: 8, minLifeMs: 4000, maxLifeMs: 20000 },
    maxMs: 5 * 60_000,
    maxRequests: 1_000_000
  })
  const posts = startPosts(ip, 80)
  await sleep(3000)
  const phases = { switch: { from: now() } }
  const switches = []
  let color = 'blue'
  for (let i = 0; i < SWITCHES; i++) {
    color = color === 'blue' ? 'green' : 'blue'
    const want = color === 'blue' ? 'v1' : 'v2'
    const t0 = now()
    await v.switchTo(color)
    const t1 = now()
    let seen = ''
    while (now() - t1 < 3000 && (seen = await versionNow(url)) !== want) await sleep(10)
    switches.push({ t: Math.round(t0), to: color, applyMs: Math.round(t1 - t0), newVersionAfterMs: Math.round(now() - t1), ok: seen === want })
    await sleep(GAP)
  }
  phases.switch.to = now()
  log(`${v.name}: ${switches.length} switches done; adding/removing ${APP2} ${ADDS} times`)
  phases.addApp = { from: now() }
  const adds = []
  for (let i = 0; i < ADDS; i++) {
    const t0 = now()
    await v.addApp(APP2)
    adds.push({ t: Math.round(t0), what: 'add', ms: Math.round(now() - t0) })
    await sleep(GAP)
    const t1 = now()
    await v.removeApp(APP2)
    adds.push({ t: Math.round(t1), what: 'remove', ms: Math.round(now() - t1) })
    await sleep(GAP)
  }
  phases.addApp.to = now()
  await sleep(2000)
  log(`${v.name}: stopping the load`)
  const [r, p] = await Promise.all([load.stop(), posts.stop()])
  // classify
  const phaseOf = t => (t >= phases.addApp.from ? 'addApp' : t >= phases.switch.from ? 'switch' : 'before')
  const count = () => ({ before: 0, switch: 0, addApp: 0 })
  const short = { requests: r.short.t.length, keepAlive: count(), newConnection: count() }
  for (let i = 0; i < r.short.t.length; i++) {
    if (r.short.res[i] === 0) continue
    short[r.short.cls[i] === 0 ? 'keepAlive' : 'newConnection'][phaseOf(r.short.t[i])]++
  }
  const slowCut = count()
  for (const s of r.slow) if (s.res !== 'ok') slowCut[phaseOf(s.t0)]++
  const wsCut = count()
  for (const s of r.sockets) if (s.how === 'cut' || s.how === 'open-failed') wsCut[phaseOf(s.closed || s.requested)]++
  const postFailed = count()
  for (const f of p.failed) postFailed[phaseOf(f.t)]++
  const versions = r.versions
  // nginx logs every failed try to an upstream (error level) before it tries again: on the edge
  // these are the requests that hit a connection a switch reload closed, and were retried
  const proxyLog = count()
  const logSamples = []
  const { execFileSync: ex } = await import('node:child_process')
  const text = ex('docker', ['logs', '-t', v.containers[0]], { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
  const text2 = (() => {
    try {
      return ex('sh', ['-c', `docker logs -t ${v.containers[0]} 2>&1 >/dev/null`]).toString()
    } catch {
      return ''
    }
  })()
  for (const line of (text + '\n' + text2).split('\n')) {
    if (!/upstream prematurely closed|recv\(\) failed|send\(\) failed|writev\(\) failed|connect\(\) failed|upstream sent/.test(line)) continue
    const t = Date.parse(line.split(' ')[0])
    if (Number.isFinite(t)) proxyLog[phaseOf(t)]++
    if (logSamples.length < 4) logSamples.push(line.slice(0, 300))
  }
  const samples = r.errorSamples.slice(0, 10).map(e => ({ ...e, phase: phaseOf(e.t) }))
  const out = {
    candidate: v.name,
    label: v.label,
    switches: {
      count: switches.length,
      allApplied: switches.every(s => s.ok),
      medianApplyMs: med(switches.map(s => s.applyMs)),
      maxNewVersionAfterMs: Math.max(...switches.map(s => s.newVersionAfterMs)),
      list: switches
    },
    addApp: adds,
    short,
    slow: { count: r.slow.length, failed: slowCut, spanningASwitch: r.slow.filter(s => switches.some(w => w.t > s.t0 && w.t < s.t1)).length },
    websockets: {
      count: r.sockets.length,
      cutOrFailed: wsCut,
      spanningASwitch: r.sockets.filter(s => s.opened && switches.some(w => w.t > s.opened && w.t < s.closed)).length
    },
    posts: { sent: p.sent, reachedApp: p.app, failed: postFailed, samples: p.failed.slice(0, 5) },
    proxyErrorLog: { lines: proxyLog, samples: logSamples },
    versionsSeen: versions,
    errorSamples: samples
  }
  const sum = o => o.before + o.switch + o.addApp
  log(
    `${v.name}: ${short.requests} GETs, failed ka ${JSON.stringify(short.keepAlive)} nc ${JSON.stringify(short.newConnection)}; slow ${r.slow.length} failed ${sum(slowCut)}; ws ${r.sockets.length} cut ${JSON.stringify(wsCut)}; POST ${p.sent} failed ${JSON.stringify(postFailed)}; switches applied ${out.switches.allApplied}`
  )
  return out
}
/** A route to containers that do not exist: does the proxy accept it, and what do both apps get? */
async function missingContainerCheck(cfg) {
  const out = {}
  const { docker } = await import('./lib/docker.mjs')
  const d = await import('./lib/designs.mjs')
  // nginx (cutover's switch config as src/ renders it): nginx -t, then what a restart would do
  const sw = await setupTwoTier(cfg, 'current', 'pd-ghost')
  await d.putFile(
    'pd-ghost-switch',
    '/etc/nginx/conf.d',
    cfg.appConfigFile('pd-ghost'),
    cfg.renderSwitchConfig({ state: { app: 'pd-ghost', color: 'blue', image: 'x', deployedAt: 'now' }, appPort: 3000 })
  )
  const t = await d.nginxExec('pd-ghost-switch', ['-t'])
  await docker(['restart', '-t', '2', 'pd-ghost-switch'], { allowFail: true })
  await sleep(2000)
  const st = (await docker(['inspect', '-f', '{{.State.Status}} restarts={{.RestartCount}} exit={{.State.ExitCode}}', 'pd-ghost-switch'])).stdout.trim()
  const first = await versionNow(`http://${await ipOf('pd-ghost-edge')}:80/`)
  out.nginx = `nginx -t exit ${t.code} (${(t.stderr.match(/host not found[^\n]*/) ?? [''])[0]}); switch container after a restart: ${st}; first app through the edge: ${JSON.stringify(first || 'no answer')}`
  for (const c of sw.containers) await docker(['rm', '-f', c], { allowFail: true })
  // HAProxy: the ghost app's servers resolve to nothing; the proxy still starts and reloads
  const h = await setupHaproxy({ name: 'pd-ghost-hap' })
  await h.addApp('pd-ghost')
  await sleep(1500)
  const ip = await ipOf('pd-ghost-hap')
  const a = await fetch(`http://${ip}:80/`)
    .then(async r => `${r.status} ${(await r.text()).trim()}`)
    .catch(e => e.message)
  const b = await new Promise(res => {
    http
      .get({ host: ip, port: 80, path: '/', headers: { host: 'pd-ghost.example' }, timeout: 5000 }, r => {
        r.resume()
        res(String(r.statusCode))
      })
      .on('error', e => res(e.message))
  })
  await docker(['restart', '-t', '2', 'pd-ghost-hap'], { allowFail: true })
  await sleep(1500)
  const a2 = await fetch(`http://${ip}:80/`)
    .then(async r => `${r.status} ${(await r.text()).trim()}`)
    .catch(e => e.message)
  out.haproxy = `reload with the ghost app accepted; first app ${a}, ghost app ${b}; after a container restart first app ${a2}`
  await docker(['rm', '-f', 'pd-ghost-hap'], { allowFail: true })
  await docker(['volume', 'rm', '-f', 'pd-hap-run', 'pd-hap-conf'], { allowFail: true })
  return out
}
const med = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

let cleaning = false
const cleanup = async () => {
  if (!cleaning) {
    cleaning = true
    await teardown().catch(() => {})
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => cleanup().then(() => process.exit(130)))

async function main() {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).toString().trim()
  await teardown()
  if (ONLY.some(x => x.startsWith('haproxy')))
    execFileSync('bash', [join(REPO, 'scripts/testbed/haproxy-image.sh')], { stdio: ['ignore', 'ignore', 'inherit'] })
  const cfg = await loadNginxConfig()
  await setupApps({ green: true, app2: true })
  const results = []
  for (const name of ONLY) {
    let v
    if (name === 'haproxy') v = await setupHaproxy()
    else if (name === 'haproxy-no-icor') v = await setupHaproxy({ idleCloseOnResponse: false, name: 'pd-hap-noicor' })
    else v = await setupTwoTier(cfg, name, `pd-${name}`)
    results.push(await runCandidate(v))
    // the next candidate on a fresh proxy
    for (const c of v.containers) execFileSync('docker', ['rm', '-f', c], { stdio: 'ignore' })
    if (name.startsWith('haproxy')) execFileSync('docker', ['volume', 'rm', '-f', 'pd-hap-run', 'pd-hap-conf'], { stdio: 'ignore' })
  }
  const missing = await missingContainerCheck(cfg)
  log(`missing container: ${JSON.stringify(missing)}`)
  mkdirSync(OUT, { recursive: true })
  const date = new Date().toISOString()
  const file = join(OUT, `switch-safety-${date.slice(0, 10)}-${commit}.json`)
  writeFileSync(
    file,
    JSON.stringify({ kind: 'switch-safety', date, commit, options: { switches: SWITCHES, adds: ADDS, gapMs: GAP }, results, missing }, null, 1) + '\n'
  )
  writeFileSync(join(OUT, 'switch-safety-latest.md'), renderMarkdown({ date, commit, results, missing }, file.split('/').pop()))
  console.log(renderMarkdown({ date, commit, results, missing }, file.split('/').pop()))
}

function renderMarkdown({ date, commit, results, missing }, file) {
  const sum = o => o.before + o.switch + o.addApp
  const l = [
    `# Switch safety of proxy designs (issue #15)`,
    '',
    `Run ${date} on commit ${commit}; raw: [${file}](${file}). Load: 8 keep-alive GET clients × 70 req/s, 4 new-connection loops × 35 req/s, a 3 s request every 250 ms, 8 WebSockets (4–20 s), 4 keep-alive POST clients × ~50 req/s. Both colors keep running. Failures as "during the switches / during add-remove of a second app".`,
    ''
  ]
  l.push(
    '| candidate | switches (all applied) | GET requests | keep-alive GET failed | new-connection GET failed | 3 s requests failed (of; spanning a switch) | WebSockets cut (of; spanning a switch) | POST failed (of) | add/remove app reloads | edge error-log lines (failed tries nginx retried or returned) |'
  )
  l.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of results) {
    l.push(
      `| ${r.candidate} | ${r.switches.count} (${r.switches.allApplied ? 'yes' : 'NO'}) | ${r.short.requests} | ${r.short.keepAlive.switch} / ${r.short.keepAlive.addApp} | ${r.short.newConnection.switch} / ${r.short.newConnection.addApp} | ${r.slow.failed.switch} / ${r.slow.failed.addApp} (of ${r.slow.count}; ${r.slow.spanningASwitch}) | ${r.websockets.cutOrFailed.switch} / ${r.websockets.cutOrFailed.addApp} (of ${r.websockets.count}; ${r.websockets.spanningASwitch}) | ${r.posts.failed.switch} / ${r.posts.failed.addApp} (of ${r.posts.sent}) | ${r.addApp.length} | ${r.proxyErrorLog.lines.switch} / ${r.proxyErrorLog.lines.addApp} |`
    )
  }
  l.push('')
  for (const r of results) {
    l.push(
      `- ${r.candidate}: median switch apply ${r.switches.medianApplyMs} ms, new version answering at most ${r.switches.maxNewVersionAfterMs} ms after; versions seen ${r.versionsSeen.join(', ')}; failures before the first switch: ${sum({ ...r.short.keepAlive, switch: 0, addApp: 0 })}. ${
        r.errorSamples.length
          ? 'Error samples: ' +
            r.errorSamples
              .slice(0, 3)
              .map(e => `${e.phase} ${e.error}`)
              .join('; ')
          : ''
      }${
        r.posts.samples.length
          ? ' POST samples: ' +
            r.posts.samples
              .slice(0, 3)
              .map(s => s.error ?? `HTTP ${s.status}`)
              .join('; ')
          : ''
      }${r.proxyErrorLog.samples.length ? ' Edge log: `' + r.proxyErrorLog.samples[0].replace(/`/g, "'") + '`' : ''}`
    )
  }
  l.push('')
  if (missing) {
    l.push('A second app whose containers do not exist (pd-ghost-blue/green), added to a running proxy:')
    l.push('')
    for (const [k, m] of Object.entries(missing)) l.push(`- ${k}: ${m}`)
    l.push('')
  }
  return l.join('\n')
}

// a pending promise with nothing left to wait for must not end the run silently (exit 0)
const hold = setInterval(() => {}, 1 << 30)
main()
  .catch(e => {
    console.error(e.stack ?? e)
    process.exitCode = 1
  })
  .finally(() => cleanup().then(() => clearInterval(hold)))

#!/usr/bin/env node
// Steady-state cost of the proxy (issue #15): throughput and latency of the app directly, one
// nginx hop with upstream keepalive (what users know), cutover's two tiers as src/ renders them,
// and candidate designs, side by side in ONE run, with CPU and memory of the proxy containers.
//
//   npm run bench:steady                   # full run, ~5 min on 2 cores
//   npm run bench:steady -- --quick        # smoke run (1 round, 2 s; results go to *-quick files)
//   node bench/steady.mjs --duration 5 --rounds 3 --only single,current,haproxy
//   node bench/steady.mjs --only single-https,cutover-https,single-https-d13,cutover-https-d13
//                                          # -d13: Debian 13's HAProxy 3.0 and nginx 1.26 (OpenSSL 3.5)
// Options: --duration S (4) per wrk run, --rounds N (3) (variants alternate A/B/A/B, order
// rotated per round), --conns N (50), --sat N (200: saturation), --only LIST, --modes LIST, --out DIR,
// --render FILE (the report again from a run's JSON, as steady-rendered.md beside it).
// Load: wrk (-t2, --latency) from the host straight to the container addresses on the bridge
// network (no docker-proxy in the path), keep-alive and `Connection: close` clients.
// Everything it creates is named pd-* and removed at the end (also on failure or Ctrl-C).
import { execFileSync, execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  APP,
  HAPROXY_D13_IMAGE,
  NET,
  cgroupSample,
  containerId,
  ipOf,
  loadNginxConfig,
  setupApps,
  setupCaddy,
  setupHaproxy,
  setupSingle,
  setupTwoTier,
  teardown
} from './lib/designs.mjs'
import { cloneReal, setupReal, setupSingleHttps, teardownReal } from './lib/steady-real.mjs'
import { docker } from './lib/docker.mjs'
import { pairedCell, pairedRounds, yardstickOf } from './lib/steady-paired.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const REPO = join(HERE, '..')
const argv = process.argv.slice(2)
const flag = (name, def) => {
  const i = argv.indexOf(`--${name}`)
  if (i < 0) return def
  const v = argv[i + 1]
  return v === undefined || v.startsWith('--') ? true : v
}
const quick = flag('quick', false) === true
const DURATION = Number(flag('duration', quick ? 2 : 4))
const ROUNDS = Number(flag('rounds', quick ? 1 : 3))
const CONNS = Number(flag('conns', 50))
const SAT = Number(flag('sat', 200))
// --pin: the load and the apps on CPU 0, every proxy on CPU 1 (less noise in CPU per request on a shared 2-core machine)
const PIN = flag('pin', false) === true && os.cpus().length >= 2 ? { client: '0', proxy: '1' } : undefined
const ONLY = flag('only', '') ? String(flag('only', '')).split(',') : undefined
const OUT = flag('out', join(HERE, 'results'))
const ALL = ['direct', 'single', 'cutover', 'single-https', 'cutover-https', 'current', 'keepalive', 'unix', 'unix-keepalive', 'haproxy', 'caddy']
// HAProxy's settings tried for issue #25 (run with --only): each its own container, the same app.
const HAPROXY_SETTINGS = {
  'haproxy-t1': { label: '(h1) as (d4), nbthread 1', settings: { nbthread: 1 } },
  'haproxy-t2': { label: '(h2) as (d4), nbthread 2', settings: { nbthread: 2 } },
  'haproxy-reuse-safe': { label: '(h3) as (d4), http-reuse safe (the default)', settings: { httpReuse: 'safe' } },
  'haproxy-log': { label: '(h4) as (d4), an httplog line per request to stdout', settings: { logging: true } },
  'haproxy-buf32k': { label: '(h5) as (d4), tune.bufsize 32768', settings: { bufsize: 32768 } }
}
// cutover's proxy less one rule or setting each (run with --only): what each costs per request.
function drop(...patterns) {
  return text =>
    text
      .split('\n')
      .filter(l => !patterns.some(re => re.test(l)))
      .join('\n')
}
const base = edit => ({ '00-base.cfg': edit })
const threads = n => text => drop(/nbthread|one thread on a host/)(text).replace(/^global$/m, `global\n  nbthread ${n}`)
const app = edit => ({ 'app-pd-real.cfg': edit })
const RULES = {
  'no-pp': ['without the PROXY-protocol check', base(drop(/expect-proxy/))],
  'no-log': ['without the canary-steps request log', base(drop(/^\s*log /, /log-format/, /cutover_step/))],
  'no-acme': ['without the ACME path rule', base(drop(/use_backend cutover_acme/))],
  'no-maps': ['host by the exact map only', base(drop(/map_end|str\(cutover.default\)/))],
  'no-verify': ['without the verify header rules', app(drop(/cutover_verify|x-cutover/i))],
  'no-xff': ['without the X-Forwarded-* rules', app(drop(/cutover_proto|X-Forwarded/))],
  'no-maint': ['without the maintenance rule', app(drop(/maintenance/))],
  lean: [
    'X-Forwarded-Proto in one rule, the request log looked up only when a line is logged',
    {
      '00-base.cfg': t => drop(/set-var\(txn.cutover_step\)/)(t).replaceAll('var(txn.cutover_step)', 'var(txn.cutover_backend),map(/cfg/request-log.map)'),
      'app-pd-real.cfg': t => drop(/set-var\(txn.cutover_proto\)/)(t).replace('%[var(txn.cutover_proto)]', '%[ssl_fc,iif(https,http)]')
    }
  ],
  // the action writes nbthread 1 on a host of 2 CPUs or fewer: both counts, whatever it wrote
  t1: ['nbthread 1', base(threads(1))],
  t2: ['nbthread 2', base(threads(2))],
  // TLS settings tried for the new-HTTPS-connection row (neither moved it; openssl s_client showed X25519 negotiated without the curves line too)
  curves: ['key exchange X25519 first, then P-256', base(t => t.replace(/^global$/m, 'global\n  ssl-default-bind-curves X25519:P-256'))],
  'no-ssl-cache': ['no TLS session cache', base(t => t.replace(/^global$/m, 'global\n  tune.ssl.cachesize 0'))]
}
/** Several variants' edits at once, file by file. */
const compose = (...editss) => {
  const out = {}
  for (const edits of editss)
    for (const [file, edit] of Object.entries(edits)) {
      const before = out[file] ?? (t => t)
      out[file] = t => edit(before(t))
    }
  return out
}
const without = keys => compose(...keys.map(k => RULES[k][1]))
RULES['no-front'] = ['without the frontend rules above (PROXY protocol, request log, ACME, host maps)', without(['no-pp', 'no-log', 'no-acme', 'no-maps'])]
RULES['no-app'] = ["without the app backend's rules above (verify, X-Forwarded-*, maintenance)", without(['no-verify', 'no-xff', 'no-maint'])]
RULES.bare = ['without all of the rules above (threads as the action wrote them)', without(['no-front', 'no-app'])]
const WANT = ONLY ?? ALL
// --modes keep-alive,new,saturation (all three unless told)
const MODE_KEYS = String(flag('modes', 'keep-alive,new,saturation')).split(',')
const MODES = [
  { key: 'keep-alive', name: `keep-alive c${CONNS}`, conns: CONNS, close: false },
  { key: 'new', name: `new connection c${CONNS}`, conns: CONNS, close: true },
  { key: 'saturation', name: `keep-alive c${SAT} (saturation)`, conns: SAT, close: false }
].filter(m => MODE_KEYS.includes(m.key))
const log = (...a) => console.log(`[steady ${new Date().toISOString().slice(11, 19)}]`, ...a)
const sleep = ms => new Promise(r => setTimeout(r, ms))

// ---------------------------------------------------------------- wrk
function toMs(v) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v)
  if (!m) return NaN
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]]
}
function parseWrk(out) {
  const num = re => {
    const m = re.exec(out)
    return m ? m[1] : undefined
  }
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    rps: Number(num(/Requests\/sec:\s+([\d.]+)/)),
    requests: Number(num(/(\d+) requests in/)),
    p50: toMs(num(/^\s+50%\s+(\S+)/m)),
    p75: toMs(num(/^\s+75%\s+(\S+)/m)),
    p90: toMs(num(/^\s+90%\s+(\S+)/m)),
    p99: toMs(num(/^\s+99%\s+(\S+)/m)),
    non2xx: Number(num(/Non-2xx or 3xx responses: (\d+)/) ?? 0),
    socketErrors: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : { connect: 0, read: 0, write: 0, timeout: 0 }
  }
}
function wrk(url, { conns, close, seconds, host, hostsFile }) {
  const args = ['-t2', `-c${conns}`, `-d${seconds}s`, '--latency', '--timeout', '5s']
  if (close) args.push('-H', 'Connection: close')
  if (host) args.push('-H', `Host: ${host}`)
  args.push(url)
  // wrk sends the URL's host name as TLS SNI (cutover's proxy is strict-sni): the name resolves to
  // the variant's address through a hosts file of a private mount namespace, nothing global.
  const [cmd0, argv0] = hostsFile
    ? ['unshare', ['--mount', '--', 'sh', '-c', `mount --bind ${hostsFile} /etc/hosts && exec wrk "$@"`, 'wrk', ...args]]
    : ['wrk', args]
  // --pin: wrk shares the client core with the apps; the proxies have the other core to themselves
  const [cmd, argv] = PIN ? ['taskset', ['-c', PIN.client, cmd0, ...argv0]] : [cmd0, argv0]
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { timeout: (seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`wrk ${args.join(' ')}: ${stderr || err.message}`))
      else resolve({ ...parseWrk(stdout), raw: stdout })
    })
  })
}

/** fetch for the HTTPS variants' self-signed certificate: the check that each answers v1. */
async function fetchInsecure(url, host) {
  const headers = host ? { host } : {}
  const { request } = await import(url.startsWith('https:') ? 'node:https' : 'node:http')
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, rejectUnauthorized: false, servername: host, timeout: 10_000 }, res => {
      let body = ''
      res.on('data', c => (body += c))
      res.on('end', () => resolve({ status: res.statusCode, text: async () => body }))
    })
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 10 s`)))
    req.on('error', reject)
    req.end()
  })
}

// ---------------------------------------------------------------- measurement
async function measure(v, mode, seconds) {
  const ids = v.ids
  const before = ids.map(cgroupSample)
  const appBefore = cgroupSample(v.appId)
  const memSamples = []
  const p = wrk(v.url, { conns: mode.conns, close: mode.close, seconds, host: v.host, hostsFile: v.hostsFile })
  // memory in the middle and near the end of the run
  for (const at of [seconds * 500, seconds * 400]) {
    await sleep(at)
    memSamples.push(ids.reduce((s, id) => s + (cgroupSample(id).mem ?? 0), 0))
  }
  const r = await p
  const after = ids.map(cgroupSample)
  const appAfter = cgroupSample(v.appId)
  const secs = (after[0]?.t ?? appAfter.t) / 1000 - (before[0]?.t ?? appBefore.t) / 1000
  const proxyCpu = ids.length ? ids.reduce((s, _, i) => s + (after[i].cpuNs - before[i].cpuNs), 0) / 1e9 / secs : 0
  const appCpu = (appAfter.cpuNs - appBefore.cpuNs) / 1e9 / ((appAfter.t - appBefore.t) / 1000)
  const { raw, ...fig } = r
  // CPU per request: much less sensitive to the shared machine's noise than req/s
  const proxyUsPerReq = fig.requests ? (proxyCpu * secs * 1e6) / fig.requests : null
  return {
    ...fig,
    proxyUsPerReq: round(proxyUsPerReq, 1),
    proxyCpuCores: round(proxyCpu, 3),
    appCpuCores: round(appCpu, 3),
    proxyMemMiB: round(Math.max(...memSamples) / 2 ** 20, 1),
    perContainerCpu: ids.map((_, i) => round((after[i].cpuNs - before[i].cpuNs) / 1e9 / secs, 3))
  }
}

async function idleFigures(v) {
  const before = v.ids.map(cgroupSample)
  await sleep(2000)
  const after = v.ids.map(cgroupSample)
  const cpu = v.ids.reduce((s, _, i) => s + (after[i].cpuNs - before[i].cpuNs) / 1e9 / ((after[i].t - before[i].t) / 1000), 0)
  const mem = after.reduce((s, a) => s + (a.mem ?? 0), 0)
  return { cpuCores: round(cpu, 4), memMiB: round(mem / 2 ** 20, 1) }
}

const round = (x, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null)
const median = xs => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN
}

// ---------------------------------------------------------------- main
let cleaning = false
async function cleanup() {
  if (cleaning) return
  cleaning = true
  await teardown().catch(e => console.error('teardown:', e.message))
  if (WANT.some(v => v.startsWith('cutover'))) await teardownReal().catch(e => console.error('teardown:', e.message))
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => cleanup().then(() => process.exit(130)))

async function main() {
  // --render FILE: the report again from a run's JSON (runs of older versions get the paired column too).
  const render = flag('render', '')
  if (render) {
    const r = JSON.parse(readFileSync(render, 'utf8'))
    writeFileSync(join(dirname(render), 'steady-rendered.md'), renderMarkdown(r, basename(render)))
    log(`wrote ${join(dirname(render), 'steady-rendered.md')}`)
    return
  }
  const started = Date.now()
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).toString().trim()
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench', 'scripts'], { cwd: REPO }).toString().trim() !== ''
  await teardown()
  if (WANT.some(v => v.startsWith('haproxy')))
    execFileSync('bash', [join(REPO, 'scripts/testbed/haproxy-image.sh')], { stdio: ['ignore', 'ignore', 'inherit'] })
  // Debian 13's HAProxy 3.0 and nginx 1.26 (OpenSSL 3.5): the -d13 variants.
  if (WANT.some(v => v.endsWith('-d13'))) execFileSync('bash', [join(REPO, 'scripts/testbed/trixie-images.sh')], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (WANT.includes('caddy')) execFileSync('bash', [join(REPO, 'scripts/testbed/caddy-image.sh')], { stdio: ['ignore', 'ignore', 'inherit'] })
  // cutover's two nginx tiers (0.1), rendered from src/: only when one of them is measured.
  const cfg = WANT.some(v => ['current', 'keepalive', 'unix', 'unix-keepalive'].includes(v)) ? await loadNginxConfig() : undefined
  log('setting up the app and the proxies')
  const variants = []
  const direct = await setupApps({ green: false })
  const appId = await containerId(direct.app[0])
  const appIp = await ipOf(direct.app[0])
  if (WANT.includes('direct')) variants.push({ ...direct, url: `http://${appIp}:3000/` })
  const add = async (name, fn) => {
    if (!WANT.includes(name)) return
    const v = await fn()
    variants.push({ ...v, url: `http://${await ipOf(v.containers[0])}:80/` })
  }
  await add('single', setupSingle)
  await add('single-d13', () => setupSingle({ d13: true }))
  if (WANT.includes('single-https')) variants.push(await setupSingleHttps(`${APP}-blue`, 3000, NET))
  if (WANT.includes('single-https-d13')) variants.push(await setupSingleHttps(`${APP}-blue`, 3000, NET, { d13: true }))
  // cutover's own proxy, made by the action: its app container is its own (CPU figures follow it).
  if (WANT.some(v => v.startsWith('cutover'))) for (const v of await setupReal()) if (WANT.includes(v.name)) variants.push(v)
  for (const [rule, [label, edits]] of Object.entries(RULES))
    for (const https of [false, true]) {
      const name = `${https ? 'https-' : ''}${rule}`
      if (WANT.includes(`cutover-${name}`)) variants.push(await cloneReal(name, `(r${https ? 2 : 1}) ${label}`, edits))
    }
  // cutover's proxy configuration, unchanged, served by Debian 13's HAProxy 3.0 (the default proxy-image is haproxy:3.0-alpine).
  for (const https of [false, true])
    if (WANT.includes(`cutover-${https ? 'https-' : ''}d13`))
      variants.push(
        await cloneReal(
          `${https ? 'https-' : ''}d13`,
          `(r${https ? 2 : 1}') the same configuration served by HAProxy 3.0 (Debian 13, OpenSSL 3.5)`,
          {},
          HAPROXY_D13_IMAGE
        )
      )
  await add('current', () => setupTwoTier(cfg, 'current', 'pd-cur'))
  await add('keepalive', () => setupTwoTier(cfg, 'keepalive', 'pd-ka'))
  await add('unix', () => setupTwoTier(cfg, 'unix', 'pd-ux'))
  await add('unix-keepalive', () => setupTwoTier(cfg, 'unix-keepalive', 'pd-uxka'))
  await add('haproxy', () => setupHaproxy())
  await add('caddy', () => setupCaddy())
  for (const [variant, { label, settings }] of Object.entries(HAPROXY_SETTINGS))
    await add(variant, () => setupHaproxy({ name: `pd-${variant}`, variant, label, settings }))
  // The same HAProxy as (d4) through its published port on 127.0.0.1 (Docker's NAT, or its userland proxy), not its container address.
  if (WANT.includes('haproxy-published') && variants.some(v => v.name === 'haproxy')) {
    const hap = variants.find(v => v.name === 'haproxy')
    variants.push({ ...hap, name: 'haproxy-published', label: '(h6) (d4) through its published port on 127.0.0.1', url: `http://127.0.0.1:${hap.port}/` })
  }
  for (const v of variants) {
    v.ids = await Promise.all(v.containers.map(containerId))
    v.appId = v.appContainer ? await containerId(v.appContainer) : appId
    const res = await fetchInsecure(v.checkUrl ?? v.url, v.host)
    const body = (await res.text()).trim()
    if (res.status !== 200 || body !== 'v1') throw new Error(`${v.name} answers ${res.status} ${body}`)
  }
  if (PIN) {
    const apps = [...new Set(variants.map(v => v.appId))]
    const proxies = variants.flatMap(v => v.ids)
    for (const id of apps) await docker(['update', '--cpuset-cpus', PIN.client, id])
    for (const id of proxies) await docker(['update', '--cpuset-cpus', PIN.proxy, id])
    log(`pinned: wrk and the apps on CPU ${PIN.client}, the proxies on CPU ${PIN.proxy}`)
  }
  log(`variants: ${variants.map(v => v.name).join(', ')}; ${ROUNDS} round(s) x ${MODES.length} modes x ${DURATION} s`)

  // idle
  await sleep(1500)
  const idle = {}
  await Promise.all(variants.filter(v => v.ids.length).map(async v => (idle[v.name] = await idleFigures(v))))
  // warm-up (JIT of the app, nginx worker caches, connection pools)
  for (const v of variants) await wrk(v.url, { conns: CONNS, close: false, seconds: 1, host: v.host, hostsFile: v.hostsFile })

  const runs = []
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of MODES) {
      // A/B/A/B: rotate the order each round, and reverse it every other round
      let order = variants.map((_, i) => variants[(i + r) % variants.length])
      if (r % 2) order = order.reverse()
      for (const v of order) {
        let fig
        try {
          fig = await measure(v, mode, DURATION)
        } catch (e) {
          // One failed wrk run (a refused connection) is recorded, not the end of the study.
          log(`${mode.name} ${v.name}: ${e.message.split('\n')[0]}`)
          runs.push({ round: r + 1, mode: mode.name, variant: v.name, failed: e.message.split('\n')[0] })
          continue
        }
        runs.push({ round: r + 1, mode: mode.name, variant: v.name, ...fig })
        log(
          `${mode.name.padEnd(28)} ${v.name.padEnd(15)} ${String(Math.round(fig.rps)).padStart(6)} req/s  p50 ${fig.p50} ms  p99 ${fig.p99} ms  proxy cpu ${fig.proxyCpuCores}  errors ${fig.non2xx + Object.values(fig.socketErrors).reduce((a, b) => a + b, 0)}`
        )
        await sleep(300)
      }
    }
  }

  // summary: median over rounds, ratio to (b)
  const summary = []
  for (const mode of MODES) {
    for (const v of variants) {
      // HTTPS variants against the nginx hop that ends TLS, the others against the plain one.
      const yardstick = yardstickOf(v.name, v.url)
      const base = runs.filter(x => x.mode === mode.name && x.variant === yardstick && !x.failed)
      const baseRps = median(base.map(x => x.rps))
      const baseP99 = median(base.map(x => x.p99))
      const baseUs = median(base.map(x => x.proxyUsPerReq))
      const xs = runs.filter(x => x.mode === mode.name && x.variant === v.name && !x.failed)
      const rps = median(xs.map(x => x.rps))
      const p99 = median(xs.map(x => x.p99))
      summary.push({
        mode: mode.name,
        variant: v.name,
        label: v.label,
        rps: round(rps, 0),
        rpsMin: round(Math.min(...xs.map(x => x.rps)), 0),
        rpsMax: round(Math.max(...xs.map(x => x.rps)), 0),
        p50: round(median(xs.map(x => x.p50)), 2),
        p99: round(p99, 2),
        ratioToSingle: baseRps ? round(rps / baseRps, 2) : null,
        p99MinusSingle: Number.isFinite(baseP99) ? round(p99 - baseP99, 2) : null,
        proxyCpuCores: round(median(xs.map(x => x.proxyCpuCores)), 2),
        proxyUsPerReq: round(median(xs.map(x => x.proxyUsPerReq)), 1),
        appCpuCores: round(median(xs.map(x => x.appCpuCores)), 2),
        proxyMemMiB: round(Math.max(...xs.map(x => x.proxyMemMiB)), 1),
        errors: xs.reduce((s, x) => s + x.non2xx + Object.values(x.socketErrors).reduce((a, b) => a + b, 0), 0),
        cpuRatioToSingle: baseUs ? round(median(xs.map(x => x.proxyUsPerReq)) / baseUs, 2) : null,
        paired: pairedRounds(runs, mode.name, v.name, yardstick),
        // issue #25: throughput >= 0.95x the hop, p99 within +2 ms, CPU per request <= 1.1x
        goal: ['single', 'single-https', 'single-d13', 'single-https-d13', 'direct'].includes(v.name)
          ? null
          : rps >= 0.95 * baseRps && p99 <= baseP99 + 2 && median(xs.map(x => x.proxyUsPerReq)) <= 1.1 * baseUs
      })
    }
  }
  const result = {
    kind: 'steady',
    date: new Date().toISOString(),
    commit,
    dirty,
    quick,
    options: { duration: DURATION, rounds: ROUNDS, conns: CONNS, sat: SAT },
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg(), kernel: os.release() },
    wallSeconds: Math.round((Date.now() - started) / 1000),
    variants: variants.map(v => ({ name: v.name, label: v.label, containers: v.containers, configs: v.configs })),
    idle,
    summary,
    runs
  }
  mkdirSync(OUT, { recursive: true })
  const stamp = `${result.date.slice(0, 10)}-${commit}${quick ? '-quick' : ''}`
  writeFileSync(join(OUT, `steady-${stamp}.json`), JSON.stringify(result, null, 1) + '\n')
  writeFileSync(join(OUT, quick ? 'steady-latest-quick.md' : 'steady-latest.md'), renderMarkdown(result, `steady-${stamp}.json`))
  log(`wrote ${join(OUT, `steady-${stamp}.json`)} (${result.wallSeconds} s)`)
  console.log(renderMarkdown(result, `steady-${stamp}.json`))
}

export function renderMarkdown(r, file) {
  const lines = []
  lines.push(`# Steady-state cost of the proxy (issue #15)`)
  lines.push('')
  lines.push(
    `Run ${r.date} on commit ${r.commit}${r.dirty ? ' (uncommitted changes)' : ''}, ${r.machine.cpus} cores (${r.machine.model}), load average at the end ${r.machine.loadavg.map(x => x.toFixed(2)).join(' ')}; ` +
      `wrk -t2 --latency from the host to the container addresses, ${r.options.duration} s per run, ${r.options.rounds} round(s) alternating the variants (figures: median of the rounds; req/s min–max shown; the last column divides each round by its yardstick's run in the same round). ` +
      `Proxy CPU is the sum over the proxy containers (cores), memory as docker stats counts it (usage without inactive file cache), highest sample. HTTPS variants are compared with single-https, the others with single. Raw: [${file}](${file}).`
  )
  lines.push('')
  lines.push('| variant | |')
  lines.push('|---|---|')
  for (const v of r.variants) lines.push(`| ${v.name} | ${v.label} |`)
  for (const mode of [...new Set(r.summary.map(s => s.mode))]) {
    lines.push('')
    lines.push(`## ${mode}`)
    lines.push('')
    lines.push(
      '| variant | req/s (min–max) | p50 ms | p99 ms | ratio to single hop | p99 − single ms | proxy CPU cores | proxy CPU µs/request | CPU per request, ratio to single hop | app CPU cores | proxy memory MiB | errors | goal (≥ 0.95×, p99 ≤ +2 ms, CPU ≤ 1.1×) | paired by round: throughput ratio, median (quartiles) · CPU per request |'
    )
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|')
    for (const s of r.summary.filter(x => x.mode === mode)) {
      lines.push(
        `| ${s.variant} | ${s.rps} (${s.rpsMin}–${s.rpsMax}) | ${s.p50} | ${s.p99} | ${s.ratioToSingle ?? ''} | ${s.p99MinusSingle ?? ''} | ${s.proxyCpuCores} | ${s.proxyUsPerReq ?? ''} | ${s.cpuRatioToSingle ?? ''} | ${s.appCpuCores} | ${s.proxyMemMiB} | ${s.errors} | ${s.goal === null ? '' : s.goal ? 'met' : 'missed'} | ${pairedCell(s.paired ?? pairedRounds(r.runs ?? [], mode, s.variant, yardstickOf(s.variant)))} |`
      )
    }
  }
  lines.push('')
  lines.push('## Idle (no load, 2 s)')
  lines.push('')
  lines.push('| variant | proxy CPU cores | proxy memory MiB |')
  lines.push('|---|---:|---:|')
  for (const [k, v] of Object.entries(r.idle)) lines.push(`| ${k} | ${v.cpuCores} | ${v.memMiB} |`)
  lines.push('')
  return lines.join('\n')
}

// a pending promise with nothing left to wait for must not end the run silently (exit 0)
const hold = setInterval(() => {}, 1 << 30)
main()
  .catch(e => {
    console.error(e.stack ?? e)
    process.exitCode = 1
  })
  .finally(() => cleanup().then(() => clearInterval(hold)))

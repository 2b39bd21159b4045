#!/usr/bin/env node
// proxy-type caddy (issue #23): what one switch through Caddy's admin API costs, beside HAProxy's
// runtime API, on the same two app colors and the same load. Per proxy: N switches blue <-> green
// under steady load (keep-alive connections and new connections per request, a WebSocket held per
// switch); the switch gap (from the switch call to the first answer of the new version on a new
// connection), failed requests of each kind, WebSockets closed.
//
//   node bench/caddy-switch.mjs [--switches 20] [--out DIR]
//
// Caddy's configuration is the one src/proxy/caddy-config.ts renders (transpiled on the fly);
// HAProxy is the bench's d4 design (bench/lib/designs.mjs). Everything is named pd-* and removed
// at the end.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { execFileSync } from 'node:child_process'
import ts from 'typescript'
import WebSocket from 'ws'
import { docker } from './lib/docker.mjs'
import { APP, ipOf, NET, setupApps, setupHaproxy, teardown } from './lib/designs.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const REPO = join(HERE, '..')
const argv = process.argv.slice(2)
const flag = (name, def) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : def)
const SWITCHES = Number(flag('switches', 20))
const OUT = flag('out', join(HERE, 'results'))
const CADDY_IMAGE = 'cutover-test/caddy-router:2.6'
const log = (...a) => console.log(`[caddy-switch ${new Date().toISOString().slice(11, 19)}]`, ...a)
const sleep = ms => new Promise(r => setTimeout(r, ms))
/** Directories this run made under the system's temp directory, removed at the end. */
const tempDirs = []

/** src/proxy/caddy-config.ts and what it imports, transpiled into a temp dir. */
async function loadCaddyConfig() {
  const out = mkdtempSync(join(os.tmpdir(), 'pd-src-'))
  const files = [
    'proxy/caddy-config.ts',
    'core/names.ts',
    'engine/replicas.ts',
    'proxy/haproxy-config.ts',
    'proxy/haproxy-strategy.ts',
    'proxy/nginx-config.ts'
  ]
  for (const rel of files) {
    let src = readFileSync(join(REPO, 'src', rel), 'utf8')
    // Only encodeRelease/decodeRelease and the header names are used: the rest of their imports are stubbed.
    if (rel === 'proxy/haproxy-config.ts') src = extract(src, ['encodeRelease', 'decodeRelease'])
    if (rel === 'proxy/nginx-config.ts') src = "export const VERIFY_HEADER = 'x-cutover-verify'\nexport const RELEASE_HEADER = 'x-cutover-release'\n"
    if (rel === 'proxy/haproxy-strategy.ts') src = "export const MAINTENANCE_HEADER = 'X-Cutover-Maintenance'\nexport const RETRY_AFTER_S = 60\n"
    if (rel === 'engine/replicas.ts') src = 'export function oneTo(n) { return Array.from({ length: n }, (_, i) => i + 1) }\n'
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
    mkdirSync(join(out, dirname(rel)), { recursive: true })
    writeFileSync(join(out, rel.replace(/\.ts$/, '.js')), js)
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}')
  const module = await import(pathToFileURL(join(out, 'proxy/caddy-config.js')).href)
  rmSync(out, { recursive: true, force: true })
  return module
}

/** The named exported functions of a TypeScript file, alone. */
function extract(src, names) {
  return names
    .map(name => {
      const start = src.indexOf(`export function ${name}`)
      if (start < 0) throw new Error(`src no longer exports ${name}`)
      let depth = 0
      for (let i = src.indexOf('{', start); i < src.length; i++) {
        if (src[i] === '{') depth++
        if (src[i] === '}' && --depth === 0) return src.slice(start, i + 1)
      }
      throw new Error(`unbalanced ${name}`)
    })
    .join('\n')
}

/** One request to Caddy's admin socket (this machine is the Docker host). */
function admin(socketPath, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, setHost: false, headers: { host: '', 'content-type': 'application/json' } }, res => {
      let text = ''
      res.on('data', c => (text += c))
      res.on('end', () => (res.statusCode < 300 ? resolve(text) : reject(new Error(`${res.statusCode} ${text}`))))
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function setupCaddy(cfg) {
  const runDir = mkdtempSync(join(os.tmpdir(), 'pd-caddy-run-'))
  const base = cfg.renderBaseConfig(30)
  const dir = mkdtempSync(join(os.tmpdir(), 'pd-caddy-conf-'))
  writeFileSync(join(dir, 'base.json'), JSON.stringify(base))
  const group = execFileSync('stat', ['-c', '%g', '/var/run/docker.sock']).toString().trim()
  await docker([
    'run',
    '-d',
    '--name',
    'pd-caddy-sw',
    '--network',
    NET,
    '--label',
    'cutover-pd=1',
    '--user',
    `0:${group}`,
    '-v',
    `${runDir}:/run/cutover-caddy`,
    '-v',
    `${dir}/base.json:/etc/caddy/base.json:ro`,
    '--entrypoint',
    '/bin/sh',
    CADDY_IMAGE,
    '-c',
    'umask 007 && exec /usr/bin/caddy run --config /etc/caddy/base.json'
  ])
  const sock = join(runDir, 'admin.sock')
  tempDirs.push(runDir, dir)
  for (let i = 0; i < 100; i++) {
    if (
      await admin(sock, 'GET', '/config/').then(
        () => true,
        () => false
      )
    )
      break
    await sleep(100)
  }
  let config = JSON.parse(await admin(sock, 'GET', '/config/'))
  const route = color => ({ app: APP, color, releaseId: `r-${color}`, appPort: 3000 })
  const switchTo = async color => {
    config = cfg.withAppRoute(config, APP, cfg.renderAppRoute(route(color), `t-${color}`, []), 30)
    await admin(sock, 'POST', '/load', JSON.stringify(config))
  }
  await switchTo('blue')
  return { name: 'caddy', containers: ['pd-caddy-sw'], switchTo }
}

/** Steady GETs from `conns` loops, keep-alive or not: counts and the versions seen. */
function load(url, conns, keepAlive) {
  const agent = new http.Agent({ keepAlive, maxSockets: conns })
  const stats = { sent: 0, failed: 0, errors: {} }
  let stopped = false
  const once = () =>
    new Promise(resolve => {
      stats.sent++
      const fail = e => {
        stats.failed++
        stats.errors[e] = (stats.errors[e] ?? 0) + 1
        resolve()
      }
      const req = http.get(url, { agent, headers: keepAlive ? {} : { connection: 'close' }, timeout: 15000 }, res => {
        res.resume()
        res.on('end', () => (res.statusCode === 200 ? resolve() : fail(`HTTP ${res.statusCode}`)))
        res.on('error', e => fail(e.message))
      })
      req.on('error', e => fail(e.message))
    })
  const loops = Array.from({ length: conns }, async () => {
    while (!stopped) await once()
  })
  return {
    stats,
    async stop() {
      stopped = true
      await Promise.all(loops)
      agent.destroy()
      return stats
    }
  }
}

/** Milliseconds from `t0` until a new connection answers `version`. */
async function gapUntil(url, version, t0) {
  for (;;) {
    const body = await fetch(url, { headers: { connection: 'close' } }).then(
      r => r.text(),
      () => ''
    )
    if (body.trim() === version) return Date.now() - t0
    await sleep(2)
  }
}

async function measure(proxy) {
  const url = `http://${await ipOf(proxy.containers[0])}:80/`
  const keep = load(url, 4, true)
  const fresh = load(url, 2, false)
  const gaps = []
  let wsClosed = 0
  for (let i = 0; i < SWITCHES; i++) {
    const color = i % 2 === 0 ? 'green' : 'blue'
    const version = color === 'green' ? 'v2' : 'v1'
    const ws = new WebSocket(`${url.replace('http', 'ws')}ws`)
    await new Promise((resolve, reject) => ws.on('open', resolve).on('error', reject))
    let closed = false
    ws.on('close', () => (closed = true))
    await sleep(300)
    const t0 = Date.now()
    await proxy.switchTo(color)
    gaps.push(await gapUntil(url, version, t0))
    await sleep(700)
    if (closed) wsClosed++
    ws.terminate()
  }
  const [k, f] = [await keep.stop(), await fresh.stop()]
  const sorted = [...gaps].sort((a, b) => a - b)
  return {
    proxy: proxy.name,
    switches: SWITCHES,
    gapMedianMs: sorted[Math.floor(sorted.length / 2)],
    gapMaxMs: sorted.at(-1),
    keepAlive: k,
    newConnections: f,
    wsClosed
  }
}

async function main() {
  await teardown()
  const cfg = await loadCaddyConfig()
  await setupApps({ green: true })
  const results = []
  log('HAProxy: switches under load')
  const haproxy = await setupHaproxy()
  results.push(await measure(haproxy))
  log('Caddy: switches under load')
  const caddy = await setupCaddy(cfg)
  results.push(await measure(caddy))
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).toString().trim()
  const lines = [
    `# One switch: Caddy's admin API beside HAProxy's runtime API (issue #23)`,
    '',
    `Run ${new Date().toISOString()} on commit ${commit}, ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map(n => n.toFixed(1))
      .join(' ')}; ` + `${SWITCHES} switches per proxy blue <-> green under 4 keep-alive and 2 new-connection GET loops, a WebSocket held across each switch.`,
    '',
    '| proxy | switch gap median / max ms | keep-alive requests failed | new-connection requests failed | WebSockets closed by the switch |',
    '|---|---:|---:|---:|---:|',
    ...results.map(
      r =>
        `| ${r.proxy} | ${r.gapMedianMs} / ${r.gapMaxMs} | ${r.keepAlive.failed} of ${r.keepAlive.sent} ${JSON.stringify(r.keepAlive.errors)} | ${r.newConnections.failed} of ${r.newConnections.sent} | ${r.wsClosed} of ${r.switches} |`
    ),
    ''
  ]
  mkdirSync(OUT, { recursive: true })
  writeFileSync(join(OUT, 'caddy-switch-latest.md'), lines.join('\n'))
  writeFileSync(join(OUT, `caddy-switch-${commit}.json`), JSON.stringify(results, null, 2))
  console.log(lines.join('\n'))
}

main()
  .catch(e => {
    console.error(e)
    process.exitCode = 1
  })
  .finally(async () => {
    await teardown()
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
  })

#!/usr/bin/env node
// HTTPS on the HAProxy proxy (issue #10): what a TLS handshake costs beside plain HTTP, and keep-alive
// TLS connections through deploys and rollbacks (0 failed requests is the target).
//
//   npm run bench:tls                  # 3 deploy+rollback cycles, 400 requests per handshake sample
//   npm run bench:tls -- --quick       # smoke run (1 cycle, 100 requests; results go to *-quick files)
//
// Options: --cycles N (3), --requests N (400), --out DIR. It deploys `bench-tls-XXXX` with the
// bundled action (tls custom, an openssl certificate, proxy-type haproxy) on the test bed; the load
// is a Node client on loopback. Everything it creates is removed at the end (also on failure).
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Docker from 'dockerode'
import { opensslCert } from './lib/certs.mjs'
import { runAction } from './lib/action.mjs'
import { percentile } from './lib/analyze.mjs'
import { testbedInputs } from '../__tests__/support/runner.mjs'
import { freePort } from './lib/ports.mjs'

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
const CYCLES = Number(flag('cycles', quick ? 1 : 3))
const REQUESTS = Number(flag('requests', quick ? 100 : 400))
const OUT = flag('out', join(HERE, 'results'))
const NODE24 = join(REPO, 'node_modules', '.bin', 'node')
const BUNDLE = join(REPO, 'dist', 'index.js')
const log = (...a) => console.log(`[tls ${new Date().toISOString().slice(11, 19)}]`, ...a)
const sleep = ms => new Promise(r => setTimeout(r, ms))
const docker = new Docker({ socketPath: '/var/run/docker.sock' })

const bed = JSON.parse(readFileSync(join(REPO, '.testbed', 'env.json'), 'utf8'))
const app = `bench-tls-${randomBytes(3).toString('hex')}`
const proxy = `${app}-proxy`
const host = `${app}.example.test`

/** One GET; resolves with its wall time in ms, or throws. */
function timedGet(lib, options) {
  const started = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    const req = lib.get({ ...options, timeout: 10000 }, res => {
      res.resume()
      res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error(`HTTP ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timeout')))
  })
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b)
  const round = v => Math.round(v * 100) / 100
  return { n: s.length, median: round(percentile(s, 50)), p90: round(percentile(s, 90)), p99: round(percentile(s, 99)) }
}

/** `REQUESTS` sequential requests, each on a new connection or all on one keep-alive connection. */
async function sample(kind, keepAlive, ports, ca) {
  const lib = kind === 'https' ? https : http
  const Agent = kind === 'https' ? https.Agent : http.Agent
  const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: 1, ca, servername: host }) : false
  const base = {
    host: '127.0.0.1',
    port: kind === 'https' ? ports.https : ports.http,
    path: '/',
    headers: { host, ...(keepAlive ? {} : { connection: 'close' }) }
  }
  const options = kind === 'https' ? { ...base, agent, ca, servername: host } : { ...base, agent }
  const times = []
  for (let i = 0; i < REQUESTS; i++) times.push(await timedGet(lib, options))
  if (agent) agent.destroy()
  return stats(times)
}

/** Keep-alive HTTPS loops plus new-connection HTTPS loops until stopped. */
function tlsLoad(ports, ca) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca, servername: host })
  const result = { keepAlive: { ok: 0, failed: 0 }, fresh: { ok: 0, failed: 0 }, errors: [] }
  let stopped = false
  const loop = async (bucket, opts) => {
    while (!stopped) {
      await timedGet(https, {
        host: '127.0.0.1',
        port: ports.https,
        path: '/',
        headers: { host, ...opts.headers },
        agent: opts.agent,
        ca,
        servername: host
      }).then(
        () => bucket.ok++,
        e => {
          bucket.failed++
          if (result.errors.length < 10) result.errors.push(e.message)
        }
      )
      if (opts.pauseMs) await sleep(opts.pauseMs)
    }
  }
  const loops = [
    ...Array.from({ length: 4 }, () => loop(result.keepAlive, { agent, headers: {} })),
    ...Array.from({ length: 2 }, () => loop(result.fresh, { agent: false, headers: { connection: 'close' }, pauseMs: 20 }))
  ]
  return {
    stop: async () => {
      stopped = true
      await Promise.all(loops)
      agent.destroy()
      return result
    }
  }
}

async function cleanup() {
  const containers = await docker.listContainers({ all: true, filters: { label: [`cutover.app=${app}`] } })
  for (const c of containers)
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined)
  await docker
    .getContainer(proxy)
    .remove({ force: true })
    .catch(() => undefined)
  await docker
    .getVolume(`${proxy}-conf`)
    .remove()
    .catch(() => undefined)
  await docker
    .getNetwork(`${proxy}-net`)
    .remove()
    .catch(() => undefined)
  await docker
    .getNetwork(`cutover-${app}`)
    .remove()
    .catch(() => undefined)
  rmSync(`/run/cutover/${proxy}`, { recursive: true, force: true })
  rmSync(join(os.homedir(), '.cutover', 'apps', app), { recursive: true, force: true })
  for (const name of [app, `proxy.${proxy}`])
    for (const ext of ['lock', 'holder']) rmSync(join(os.homedir(), '.cutover', 'locks', `${name}.${ext}`), { force: true })
}

async function main() {
  const ports = { http: await freePort(), https: await freePort() }
  const { cert, key } = opensslCert([host])
  const inputs = tag => ({
    ...testbedInputs(bed, app, ports.http),
    'proxy-type': 'haproxy',
    'proxy-image': bed.CUTOVER_TEST_HAPROXY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/haproxy:2.6`,
    'drain-timeout': '2s',
    'health-timeout': '30s',
    domains: host,
    image: `${bed.CUTOVER_TEST_IMAGE_PREFIX}:${tag}`,
    tls: 'custom',
    'tls-certificate': cert,
    'tls-key': key,
    'https-port': String(ports.https),
    // plain HTTP answers 200 too, so the two handshakes are compared on the same request
    'tls-redirect': 'false'
  })
  const action = async (extra, tag = 'v1') => {
    const r = await runAction({ node: NODE24, bundle: BUNDLE, cwd: REPO, inputs: { ...inputs(tag), ...extra }, sshPort: Number(bed.CUTOVER_TEST_SSH_PORT) })
    if (r.code !== 0) throw new Error(`action failed: ${r.errors.join(' / ') || r.stderr}`)
    return r
  }
  log(`deploying ${app} (tls custom, HTTP ${ports.http}, HTTPS ${ports.https})`)
  await action({})

  log(`handshake cost: ${REQUESTS} sequential requests per sample`)
  const handshake = {}
  for (const [name, kind, keepAlive] of [
    ['HTTP, new connection each', 'http', false],
    ['HTTPS, new connection each (TCP + TLS handshake)', 'https', false],
    ['HTTP, one keep-alive connection', 'http', true],
    ['HTTPS, one keep-alive TLS connection', 'https', true]
  ]) {
    handshake[name] = await sample(kind, keepAlive, ports, cert)
    log(`  ${name}: median ${handshake[name].median} ms, p99 ${handshake[name].p99} ms`)
  }

  log(`${CYCLES} deploy + rollback cycles under keep-alive and new-connection HTTPS load`)
  const load = tlsLoad(ports, cert)
  await sleep(500)
  const runs = []
  for (let i = 0; i < CYCLES; i++) {
    const d = await action({}, i % 2 ? 'v3' : 'v2')
    const r = await action({ mode: 'rollback', image: '' })
    runs.push({ deployMs: Math.round(d.ms), rollbackMs: Math.round(r.ms) })
    log(`  cycle ${i + 1}: deploy ${Math.round(d.ms)} ms, rollback ${Math.round(r.ms)} ms`)
  }
  await sleep(500)
  const traffic = await load.stop()
  log(`  keep-alive: ${traffic.keepAlive.ok} ok, ${traffic.keepAlive.failed} failed; new connections: ${traffic.fresh.ok} ok, ${traffic.fresh.failed} failed`)

  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).toString().trim()
  const date = new Date().toISOString().slice(0, 10)
  const result = { date, commit, machine: { cpus: os.cpus().length, node: process.version }, requests: REQUESTS, cycles: CYCLES, handshake, runs, traffic }
  const suffix = quick ? '-quick' : ''
  mkdirSync(OUT, { recursive: true })
  writeFileSync(join(OUT, `tls-${date}-${commit}${suffix}.json`), JSON.stringify(result, null, 2) + '\n')
  const failed = traffic.keepAlive.failed + traffic.fresh.failed
  const md = [
    `# HTTPS benchmark (${date}, ${commit})`,
    '',
    `HAProxy proxy (test bed image), tls custom, Node client on loopback, ${os.cpus().length} cores. \`npm run bench:tls\`.`,
    '',
    '| sample | requests | median ms | p90 ms | p99 ms |',
    '|---|---|---|---|---|',
    ...Object.entries(handshake).map(([name, s]) => `| ${name} | ${s.n} | ${s.median} | ${s.p90} | ${s.p99} |`),
    '',
    `TLS handshake cost per new connection (median): ${Math.round((handshake['HTTPS, new connection each (TCP + TLS handshake)'].median - handshake['HTTP, new connection each'].median) * 100) / 100} ms.`,
    '',
    `## ${CYCLES} deploy + rollback cycles under HTTPS load`,
    '',
    '| traffic | ok | failed |',
    '|---|---|---|',
    `| 4 keep-alive TLS connections | ${traffic.keepAlive.ok} | ${traffic.keepAlive.failed} |`,
    `| 2 loops, a new TLS connection per request | ${traffic.fresh.ok} | ${traffic.fresh.failed} |`,
    '',
    failed === 0 ? '0 failed requests (target met).' : `**${failed} failed requests** (target: 0): ${traffic.errors.join('; ')}`,
    ''
  ].join('\n')
  writeFileSync(join(OUT, `tls-latest${suffix}.md`), md)
  log(`results: ${join(OUT, `tls-latest${suffix}.md`)}`)
  if (failed) process.exitCode = 1
}

let cleaned = false
const finish = async () => {
  if (cleaned) return
  cleaned = true
  await cleanup().catch(e => log(`cleanup: ${e.message}`))
}
process.on('SIGINT', () => void finish().then(() => process.exit(130)))
main()
  .catch(e => {
    console.error(e)
    process.exitCode = 1
  })
  .finally(finish)

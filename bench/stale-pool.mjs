#!/usr/bin/env node
// A deploy right after a rollback, under long requests (found by the full bench, 2026-12-05): the
// standby that served until the rollback is replaced by the deploy and removed when its drain ends.
// Counts long requests (GET /slow?ms=3000, a new connection every 100 ms) that fail, and keep-alive
// answers of another version 5 s after a deploy began. Reproduces on 13c4695 and later.
//
//   node bench/stale-pool.mjs                          # dist/index.js, 3 rollback + deploy cycles
//   BUNDLE=/path/index.js CYCLES=5 DRAIN=10s node bench/stale-pool.mjs
//   CANARY=1 node bench/stale-pool.mjs                 # canary (20 %) right after a promote, as the full bench does
//   PREVIEW=1 node bench/stale-pool.mjs                # a preview (promote manual) right after a rollback
//   PREVIEW=1 KEEPALIVE_MS=150 node bench/stale-pool.mjs # ... its keep-alive requests each 150 ms long (always in flight)
//   KEEPALIVE_MS=8000 node bench/stale-pool.mjs        # keep-alive requests still in flight from the rollback to the deploy
//   PROXY_IMAGE=cutover-test/haproxy:3.0 node bench/stale-pool.mjs   # another HAProxy than the bed's (2.6)
//
// With CANARY=1 each cycle is a canary deploy (canary-weight 20), 3 s, mode promote, 1 s: the canary
// goes to the color that served until the promote. Counted then: answers of the version it replaced
// (neither live nor the canary) during the canary, and long requests that fail.
//
// With PREVIEW=1 the app has preview-domains and the keep-alive clients ask the preview domain: each
// cycle is a rollback, 2.5 s, a deploy with promote manual (its preview replaces the standby that
// served until the rollback), 3 s, mode promote, 1 s. Counted then: answers of the preview domain
// from another version than the preview's, from the switch that routed it to the preview on.
//
// Needs the test bed (bash scripts/testbed/up.sh). Its app is stale-pool-XXXX on a free port, with its own
// proxy; load goes to loopback only, bounded by the cycles. It ends with `mode: remove` of its app, then
// removes its proxy, archived ledger and lock files.
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runAction } from './lib/action.mjs'
import { testbedInputs } from '../__tests__/support/runner.mjs'
import { freePort } from './lib/ports.mjs'
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')
const bundle = process.env.BUNDLE ?? join(REPO, 'dist/index.js')
const bed = JSON.parse(readFileSync(join(REPO, '.testbed', 'env.json'), 'utf8'))
const app = 'stale-pool-' + Math.random().toString(16).slice(2, 6)
const port = await freePort()
const img = v => `${bed.CUTOVER_TEST_IMAGE_PREFIX}:${v}`
const PREVIEW_HOST = `next.${app}.test`
const previewInputs = process.env.PREVIEW ? { 'preview-domains': PREVIEW_HOST } : {}
async function run(mode, v, more = {}) {
  const inputs = {
    ...previewInputs,
    ...more,
    ...testbedInputs(bed, app, port),
    'proxy-name': `${app}-proxy`,
    ...(process.env.PROXY_IMAGE ? { 'proxy-image': process.env.PROXY_IMAGE } : {}),
    user: bed.CUTOVER_TEST_DEPLOYER_USER,
    'drain-timeout': process.env.DRAIN ?? '10s',
    mode,
    ...(v ? { image: img(v) } : {})
  }
  const started = Date.now()
  const r = await runAction({ node: join(REPO, 'node_modules/.bin/node'), bundle, cwd: REPO, inputs, sshPort: Number(bed.CUTOVER_TEST_SSH_PORT) })
  console.log(`=== @${started - t0} ${mode} ${v ?? ''} code ${r.code} ${Math.round(r.exitedAt - r.spawnedAt)} ms ${r.errors.join(' | ')}`)
  if (more['canary-weight']) {
    const replaced = answers.filter(([t, b]) => t > started && !b.includes(v) && !b.includes(live))
    console.log(`   ${replaced.length} answers of the replaced version during the canary of ${v} (live ${live})`)
    stats.replacedAnswers += replaced.length
  } else if (mode === 'deploy' && !process.env.PREVIEW) {
    const late = answers.filter(([t, b]) => t > started + 5000 && t < Date.now() && !b.includes(v))
    if (late.length)
      console.log(
        `   ${late.length} answers of another version 5 s+ after the deploy began: ${[...new Set(late.map(x => x[1].slice(0, 40)))].join('; ')} at +${late
          .map(x => x[0] - started)
          .slice(0, 5)
          .join(', ')} ms`
      )
  }
  return { started, ...r }
}
const answers = []
const stats = { long: 0, longFail: [], short: 0, shortFail: [], replacedAnswers: 0 }
let live = 'v2'
let on = true
const get = (path, agent, headers = {}) =>
  new Promise(res => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, headers, timeout: 10000 }, r => {
      let b = ''
      r.on('data', d => (b += d))
      r.on('end', () => {
        // the keep-alive clients' answers (the long requests open a new connection each: no agent)
        if (agent) answers.push([Date.now(), b.trim()])
        res(r.statusCode)
      })
    })
    req.on('error', e => res(e.code ?? 'ERR'))
    req.on('timeout', () => req.destroy())
  })
const t0 = Date.now()
async function longLoop() {
  const ps = []
  while (on) {
    stats.long++
    const at = Date.now() - t0
    ps.push(
      get('/slow?ms=3000', false).then(s => {
        if (s !== 200) stats.longFail.push(`${s}@${at}`)
      })
    )
    await new Promise(r => setTimeout(r, 100))
  }
  await Promise.all(ps)
}
const ka = new http.Agent({ keepAlive: true, maxSockets: 8 })
async function shortLoop() {
  while (on) {
    stats.short++
    const path = process.env.KEEPALIVE_MS ? `/slow?ms=${Number(process.env.KEEPALIVE_MS)}` : '/'
    const at = Date.now() - t0
    const s = await get(path, ka, process.env.PREVIEW ? { host: PREVIEW_HOST } : {})
    if (s !== 200) stats.shortFail.push(`${s}@${at}`)
    await new Promise(r => setTimeout(r, 20))
  }
}
await run('deploy', 'v1')
await run('deploy', 'v2')
const loops = [longLoop(), ...Array.from({ length: 4 }, shortLoop)]
const versions = ['v3', 'v1', 'v2']
for (let i = 0; i < Number(process.env.CYCLES ?? 3); i++) {
  if (process.env.CANARY) {
    const v = versions[i % 3]
    await run('deploy', v, { 'canary-weight': '20' })
    await new Promise(r => setTimeout(r, 3000))
    await run('promote')
    live = v
    await new Promise(r => setTimeout(r, 1000))
    continue
  }
  await run('rollback')
  await new Promise(r => setTimeout(r, 2500))
  if (process.env.PREVIEW) {
    // the rollback makes v1 live again: the preview is of another version each cycle
    const v = ['v3', 'v2'][i % 2]
    const r = await run('deploy', v, { promote: 'manual' })
    // from the end of the switch that routed the preview domain to the new containers (the run then waits out the replaced standby's drain)
    const line = r.log.find(l => l.line.includes('preview domains to'))
    if (!line) throw new Error(`the deploy of ${v} never routed its preview domain: ${r.errors.join(' | ')}`)
    const routed = r.started + line.t
    await new Promise(res => setTimeout(res, 3000))
    const stale = answers.filter(([t, b]) => t > routed && !b.includes(v))
    console.log(
      `   ${stale.length} answers of another version than ${v} from the preview domain after it was routed to the preview (${Math.round(Date.now() - routed)} ms)`
    )
    stats.replacedAnswers += stale.length
    await run('promote')
    await new Promise(res => setTimeout(res, 1000))
    continue
  }
  await run('deploy', versions[i % 3])
  await new Promise(r => setTimeout(r, 1000))
}
on = false
await Promise.all(loops)
console.log(JSON.stringify(stats))
await run('remove')
// mode remove leaves the shared proxy (this script's own) and the archived ledger: they go too.
const quiet = args => {
  try {
    execFileSync('docker', args, { stdio: 'ignore' })
  } catch {
    /* already gone */
  }
}
quiet(['rm', '-f', `${app}-proxy`])
quiet(['volume', 'rm', `${app}-proxy-conf`])
quiet(['network', 'rm', `${app}-proxy-net`])
rmSync(`/run/cutover/${app}-proxy`, { recursive: true, force: true })
const state = `/home/${bed.CUTOVER_TEST_DEPLOYER_USER}/.cutover`
rmSync(`${state}/apps/${app}`, { recursive: true, force: true })
for (const lock of [`${app}.lock`, `proxy.${app}-proxy.lock`]) rmSync(`${state}/locks/${lock}`, { force: true })

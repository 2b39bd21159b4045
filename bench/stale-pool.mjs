#!/usr/bin/env node
// A deploy right after a rollback, under long requests (found by the full bench, 2026-12-05): the
// standby that served until the rollback is replaced by the deploy and removed when its drain ends.
// Counts long requests (GET /slow?ms=3000, a new connection every 100 ms) that fail, and keep-alive
// answers of another version 5 s after a deploy began. Reproduces on 13c4695 and later.
//
//   node bench/stale-pool.mjs                          # dist/index.js, 3 rollback + deploy cycles
//   BUNDLE=/path/index.js CYCLES=5 DRAIN=10s node bench/stale-pool.mjs
//   CANARY=1 node bench/stale-pool.mjs                 # canary (20 %) right after a promote, as the full bench does
//
// With CANARY=1 each cycle is a canary deploy (canary-weight 20), 3 s, mode promote, 1 s: the canary
// goes to the color that served until the promote. Counted then: answers of the version it replaced
// (neither live nor the canary) during the canary, and long requests that fail.
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
async function run(mode, v, more = {}) {
  const inputs = {
    ...more,
    ...testbedInputs(bed, app, port),
    'proxy-name': `${app}-proxy`,
    user: bed.CUTOVER_TEST_DEPLOYER_USER,
    'drain-timeout': process.env.DRAIN ?? '10s',
    mode,
    ...(v ? { image: img(v) } : {})
  }
  const started = Date.now()
  const r = await runAction({ node: join(REPO, 'node_modules/.bin/node'), bundle, cwd: REPO, inputs, sshPort: Number(bed.CUTOVER_TEST_SSH_PORT) })
  console.log(`=== ${mode} ${v ?? ''} code ${r.code} ${Math.round(r.exitedAt - r.spawnedAt)} ms ${r.errors.join(' | ')}`)
  if (more['canary-weight']) {
    const replaced = answers.filter(([t, b]) => t > started && !b.includes(v) && !b.includes(live))
    console.log(`   ${replaced.length} answers of the replaced version during the canary of ${v} (live ${live})`)
    stats.replacedAnswers += replaced.length
  } else if (mode === 'deploy') {
    const late = answers.filter(([t, b]) => t > started + 5000 && t < Date.now() && !b.includes(v))
    if (late.length)
      console.log(
        `   ${late.length} answers of another version 5 s+ after the deploy began: ${[...new Set(late.map(x => x[1].slice(0, 40)))].join('; ')} at +${late
          .map(x => x[0] - started)
          .slice(0, 5)
          .join(', ')} ms`
      )
  }
}
const answers = []
const stats = { long: 0, longFail: [], short: 0, shortFail: 0, replacedAnswers: 0 }
let live = 'v2'
let on = true
const get = (path, agent) =>
  new Promise(res => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 10000 }, r => {
      let b = ''
      r.on('data', d => (b += d))
      r.on('end', () => {
        if (path === '/') answers.push([Date.now(), b.trim()])
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
    const s = await get('/', ka)
    if (s !== 200) stats.shortFail++
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

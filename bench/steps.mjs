#!/usr/bin/env node
// Where a deploy's and a rollback's time goes, from the process's start to its exit (issue #25).
//
//   node bench/steps.mjs                                   # dist/index.js, 5 rollback + deploy pairs, no load
//   node bench/steps.mjs --bundle before=/tmp/old/index.js --bundle after=dist/index.js --pairs 6
//   node bench/steps.mjs --load                            # the same under the bench's load (lib/load-worker.mjs)
//   node bench/steps.mjs --user deployer                   # as the test bed's clean SSH user (/bin/sh, no rc files)
//
// One app (bench-steps-XXXXXX) on its own free port, v1 then v2 deployed first; then, per pair, a
// warm rollback and a deploy of the next version (image present on the host, so the pull is short),
// each bundle in turn (interleaved, so old and new run under the same conditions). drain-timeout 2 s,
// so a deploy right after a rollback does not spend 30 s waiting on the replaced standby's drain.
// A poller on the proxy port (a new connection every ~5 ms) times the first answer of the new version.
// Steps come from the ::group:: lines (any bundle) and, where the bundle prints it, the action's own
// trace (process start, module loading, inputs, each Docker call, reporting, exit).
// Writes results/steps-<date>-<commit>.json, steps-latest.md and steps-chart.svg. Figures only.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runAction, now, liveChildren } from './lib/action.mjs'
import { bootTimes, local, removeContainers } from './lib/docker.mjs'
import { loadProfile, startLoad } from './lib/load.mjs'
import { renderStepsMarkdown, renderStepsSvg, stepSegments } from './lib/steps-report.mjs'
import { testbedInputs } from '../__tests__/support/runner.mjs'
import { freePort } from './lib/ports.mjs'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')
const NODE24 = join(REPO, 'node_modules', '.bin', 'node')

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : fallback
}
const pairs = Number(option('pairs', 5))
const withLoad = process.argv.includes('--load')
// root (the test bed's default) runs ~/.bashrc with `pyenv init` on every SSH exec, as a heavy shell
// setup on a real host would; deployer is the test bed's docker-group user whose shell is /bin/sh.
const sshUser = option('user', 'root')
if (!['root', 'deployer'].includes(sshUser)) throw new Error(`--user is root or deployer, not ${sshUser}`)
const outDir = resolve(option('out', join(REPO, 'bench', 'results')))
const bundles = process.argv
  .map((a, i) => (a === '--bundle' ? process.argv[i + 1] : undefined))
  .filter(Boolean)
  .map(spec => {
    const [label, path] = spec.includes('=') ? spec.split('=', 2) : ['current', spec]
    return { label, path: resolve(path) }
  })
if (!bundles.length) bundles.push({ label: 'current', path: join(REPO, 'dist', 'index.js') })

const sleep = ms => new Promise(r => setTimeout(r, ms))
const log = (...a) => console.log(`[steps ${new Date().toISOString().slice(11, 19)}]`, ...a)
const load1 = () => Math.round(os.loadavg()[0] * 100) / 100

/** The entry file's bytes (parsed at start) and all of the bundle's .js files (chunks loaded later included). */
function bundleBytes(entry) {
  const dir = dirname(entry)
  const files = readdirSync(dir).filter(f => f.endsWith('.js'))
  return { bytes: statSync(entry).size, totalBytes: files.reduce((n, f) => n + statSync(join(dir, f)).size, 0) }
}

/** One GET on a new connection: the body, or '' on any error. */
function getBody(port) {
  return new Promise(res => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, r => {
      let body = ''
      r.on('data', c => (body += c))
      r.on('end', () => res(body.trim()))
      r.on('error', () => res(''))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => res(''))
  })
}

/** Polls until the proxy answers `version`; resolves with the epoch ms of that answer's start. */
function watchServing(port, version, stopAt) {
  let stop = false
  const done = (async () => {
    while (!stop && now() < stopAt) {
      const sent = now()
      if ((await getBody(port)) === version) return sent
      await sleep(5)
    }
    return undefined
  })()
  return { done, cancel: () => (stop = true) }
}

async function removeApp(app, home = os.homedir()) {
  await removeContainers(`cutover.app=${app}`)
  const proxy = `${app}-proxy`
  await local
    .getContainer(proxy)
    .remove({ force: true })
    .catch(() => undefined)
  await local
    .getVolume(`${proxy}-conf`)
    .remove()
    .catch(() => undefined)
  for (const name of [`${proxy}-net`, `cutover-${app}`])
    await local
      .getNetwork(name)
      .remove()
      .catch(() => undefined)
  rmSync(`/run/cutover/${proxy}`, { recursive: true, force: true })
  for (const f of [`locks/${app}.lock`, `locks/${app}.holder`, `locks/proxy.${proxy}.lock`, `apps/${app}`])
    rmSync(join(home, '.cutover', f), { recursive: true, force: true })
}

/** The SSH user the runs log in as, and its home (where cutover keeps its state on the host). */
function userOf(bed) {
  if (sshUser === 'root') return { user: bed.CUTOVER_TEST_SSH_USER, home: os.homedir() }
  return { user: bed.CUTOVER_TEST_DEPLOYER_USER, home: `/home/${bed.CUTOVER_TEST_DEPLOYER_USER}` }
}

async function oneRun({ bundle, bed, app, port, mode, image, expect }) {
  const inputs = {
    ...testbedInputs(bed, app, port),
    user: userOf(bed).user,
    'health-timeout': '20s',
    'drain-timeout': '2s',
    mode,
    ...(image ? { image } : {})
  }
  const startedAt = now()
  const serving = watchServing(port, expect, startedAt + 60_000)
  const loadAvg = load1()
  const run = await runAction({ node: NODE24, bundle: bundle.path, cwd: REPO, inputs, sshPort: Number(bed.CUTOVER_TEST_SSH_PORT) })
  const servedAt = await Promise.race([serving.done, sleep(3000).then(() => undefined)])
  serving.cancel()
  if (run.code !== 0) throw new Error(`${bundle.label} ${mode} failed (${run.code}): ${run.errors.join(' | ')}\n${run.stderr}`)
  const toServingMs = servedAt === undefined ? null : Math.round(servedAt - run.spawnedAt)
  const segments = stepSegments(run)
  // A deploy's overhead: to serving, less the pull and the app's own boot (container start to its "listening" line).
  let appBootMs
  if (mode === 'deploy') {
    const boot = await bootTimes(`${app}-${run.outputs.color}`)
    if (boot.started && boot.listening) appBootMs = boot.listening - boot.started
  }
  const pullMs = segments.find(s => s.name === 'pull')?.ms ?? 0
  return {
    bundle: bundle.label,
    mode,
    loadAvg,
    totalMs: Math.round(run.exitedAt - run.spawnedAt),
    toServingMs,
    appBootMs,
    overheadMs: toServingMs === null ? null : mode === 'deploy' ? (appBootMs === undefined ? null : toServingMs - pullMs - appBootMs) : toServingMs,
    segments,
    trace: run.trace,
    dockerApi: run.dockerApi
  }
}

async function main() {
  const bed = JSON.parse(readFileSync(join(REPO, '.testbed', 'env.json'), 'utf8'))
  for (const b of bundles) if (!existsSync(b.path)) throw new Error(`no bundle at ${b.path}`)
  const app = `bench-steps-${randomBytes(3).toString('hex')}`
  const port = await freePort()
  const image = tag => `${bed.CUTOVER_TEST_IMAGE_PREFIX}:${tag}`
  const cleanup = async () => {
    for (const child of liveChildren) child.kill('SIGTERM')
    await removeApp(app, userOf(bed).home)
  }
  process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)))
  const runs = []
  let load
  try {
    log(
      `${app} on port ${port}; bundles ${bundles.map(b => b.label).join(', ')}; SSH user ${userOf(bed).user}; ${withLoad ? 'under load' : 'no load'}; load average ${os
        .loadavg()
        .map(x => x.toFixed(2))
        .join(' ')}`
    )
    const first = bundles[0]
    await oneRun({ bundle: first, bed, app, port, mode: 'deploy', image: image('v1'), expect: 'v1' })
    await oneRun({ bundle: first, bed, app, port, mode: 'deploy', image: image('v2'), expect: 'v2' })
    if (withLoad) load = startLoad(`http://127.0.0.1:${port}`, loadProfile(false))
    let live = 'v2'
    let standby = 'v1'
    const order = ['v1', 'v2', 'v3']
    let previous = first
    for (let p = 0; p < pairs; p++) {
      // A B, then B A: a bundle that always runs second (after the other's deploy) would be favoured or not by the order alone.
      for (const bundle of p % 2 ? [...bundles].reverse() : bundles) {
        if (bundle !== previous) await settle(bundle, { bed, app, port, live, standby })
        previous = bundle
        await sleep(1000)
        const rb = await oneRun({ bundle, bed, app, port, mode: 'rollback', expect: standby })
        ;[live, standby] = [standby, live]
        runs.push(rb)
        log(`${bundle.label} rollback → ${live}: ${rb.totalMs} ms to exit, ${rb.toServingMs} ms to serving (load ${rb.loadAvg})`)
        await sleep(1000)
        const next = order.find(v => v !== live && v !== standby)
        const dp = await oneRun({ bundle, bed, app, port, mode: 'deploy', image: image(next), expect: next })
        ;[live, standby] = [next, live]
        runs.push(dp)
        log(`${bundle.label} deploy → ${live}: ${dp.totalMs} ms to exit, ${dp.toServingMs} ms to serving (load ${dp.loadAvg})`)
      }
    }
  } finally {
    if (load) await load.stop().catch(() => undefined)
    await cleanup()
  }
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim()
  const date = new Date().toISOString().slice(0, 10)
  const result = {
    date: new Date().toISOString(),
    commit,
    load: withLoad ? "the bench's load (lib/load-worker.mjs) on the app's proxy" : 'no bench load',
    sshUser: userOf(bed).user,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadAverageAtEnd: os.loadavg().map(x => Math.round(x * 100) / 100) },
    bundles: bundles.map(b => ({ ...b, ...bundleBytes(b.path) })),
    runs
  }
  mkdirSync(outDir, { recursive: true })
  const suffix = (withLoad ? '-load' : '') + (sshUser === 'root' ? '' : `-${sshUser}`)
  const jsonName = `steps${suffix}-${date}-${commit}.json`
  writeFileSync(join(outDir, jsonName), JSON.stringify(result, null, 1))
  writeFileSync(join(outDir, `steps${suffix}-latest.md`), renderStepsMarkdown(result, jsonName, `steps${suffix}-chart.svg`))
  writeFileSync(join(outDir, `steps${suffix}-chart.svg`), renderStepsSvg(result))
  log(`wrote ${join(outDir, jsonName)} and steps${suffix}-latest.md, steps${suffix}-chart.svg`)
}

/**
 * Two versions of cutover render the proxy's shared settings differently: the first run of a bundle
 * after the other's reloads the proxy once to write its own (~1.5 s), which a user upgrading pays
 * once, not on every rollback. Two rollbacks, not measured, leave the same live and standby.
 */
async function settle(bundle, { bed, app, port, live, standby }) {
  const first = await oneRun({ bundle, bed, app, port, mode: 'rollback', expect: standby })
  await oneRun({ bundle, bed, app, port, mode: 'rollback', expect: live })
  log(`${bundle.label}: settled on its own proxy settings (two rollbacks, not counted; the first took ${first.totalMs} ms)`)
}

/** --render FILE.json: the table and chart again from a results file (after a change to the report). */
function renderAgain(file) {
  const result = JSON.parse(readFileSync(file, 'utf8'))
  const loaded = !(result.load === 'no bench load' || result.load === 'none')
  const suffix = (loaded ? '-load' : '') + (result.sshUser && result.sshUser !== 'root' ? '-deployer' : '')
  const jsonName = file.split('/').pop()
  writeFileSync(join(dirname(file), `steps${suffix}-latest.md`), renderStepsMarkdown(result, jsonName, `steps${suffix}-chart.svg`))
  writeFileSync(join(dirname(file), `steps${suffix}-chart.svg`), renderStepsSvg(result))
}

if (option('render')) renderAgain(resolve(option('render')))
else
  main().catch(e => {
    console.error(e)
    process.exit(1)
  })

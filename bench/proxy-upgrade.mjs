#!/usr/bin/env node
// The HAProxy proxy upgraded under the bench's load (issue #22): an app is deployed, then under the
// load of lib/load-worker.mjs (keep-alive and new-connection requests, long requests, WebSockets),
// `--upgrades` deploys alternate proxy-image between the test bed's HAProxy image and the same image
// under another tag: each is a hand-over to a new HAProxy generation. Then the one-time move of a
// proxy made by an older cutover (`--old-bundle`, one container), taken over the same way.
// Failed requests, long requests and WebSockets cut are counted per phase.
//
//   node bench/proxy-upgrade.mjs [--upgrades 4] [--old-bundle /work/main/dist/index.js] [--out DIR]
//
// Writes results/proxy-upgrade-<date>-<commit>.json and proxy-upgrade-latest.md. Everything is named
// bench-upg-* and removed at the end.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { liveChildren, runAction } from './lib/action.mjs'
import { local, removeContainers } from './lib/docker.mjs'
import { loadProfile, startLoad } from './lib/load.mjs'
import { testbedInputs } from '../__tests__/support/runner.mjs'
import { freePort } from './lib/ports.mjs'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')
const NODE24 = join(REPO, 'node_modules', '.bin', 'node')
const option = (name, fallback) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback)
const UPGRADES = Number(option('upgrades', 4))
const OLD_BUNDLE = option('old-bundle', undefined)
const OUT = resolve(option('out', join(REPO, 'bench', 'results')))
const BUNDLE = join(REPO, 'dist', 'index.js')
const log = (...a) => console.log(`[proxy-upgrade ${new Date().toISOString().slice(11, 19)}]`, ...a)
const sleep = ms => new Promise(r => setTimeout(r, ms))

/** Failed short requests by kind, long requests that did not answer 200, WebSockets the server cut. */
function tally(result) {
  const R = result.short
  const kinds = { keepAlive: { requests: 0, failed: 0 }, newConnection: { requests: 0, failed: 0 } }
  for (let i = 0; i < R.t.length; i++) {
    const k = R.cls[i] === 0 ? kinds.keepAlive : kinds.newConnection
    k.requests++
    if (R.res[i] !== 0) k.failed++
  }
  // The longest stretch without a successful answer (the gap, if there is one).
  const done = []
  for (let i = 0; i < R.t.length; i++) if (R.res[i] === 0) done.push(R.t[i] + R.lat[i])
  done.sort((a, b) => a - b)
  let longestSilenceMs = 0
  for (let i = 1; i < done.length; i++) longestSilenceMs = Math.max(longestSilenceMs, Math.round(done[i] - done[i - 1]))
  return {
    requests: R.t.length,
    longestSilenceMs,
    failed: kinds.keepAlive.failed + kinds.newConnection.failed,
    ...kinds,
    longRequests: result.slow.length,
    longFailed: result.slow.filter(s => s.res !== 'ok').length,
    webSockets: result.sockets.length,
    webSocketsCut: result.sockets.filter(s => s.how === 'cut' || s.how === 'open-failed').length,
    firstErrors: result.errorSamples.slice(0, 5).map(e => e.error)
  }
}

async function removeProxy(proxy) {
  await removeContainers(`cutover.proxy-generation-of=${proxy}`)
  for (const name of [proxy, `${proxy}-metrics`]) {
    await local
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined)
  }
  await local
    .getVolume(`${proxy}-conf`)
    .remove()
    .catch(() => undefined)
  await local
    .getNetwork(`${proxy}-net`)
    .remove()
    .catch(() => undefined)
  rmSync(`/run/cutover/${proxy}`, { recursive: true, force: true })
}

async function removeApp(app) {
  await removeContainers(`cutover.app=${app}`)
  await local
    .getNetwork(`cutover-${app}`)
    .remove()
    .catch(() => undefined)
  for (const f of [`locks/${app}.lock`, `locks/${app}.holder`, `apps/${app}`]) rmSync(join(os.homedir(), '.cutover', f), { recursive: true, force: true })
}

/** One phase: a first deploy (no load), then the upgrades under load. */
async function phase({ bed, app, proxyImages, firstBundle, label }) {
  const port = await freePort()
  const image = tag => `${bed.CUTOVER_TEST_IMAGE_PREFIX}:${tag}`
  const run = async (bundle, inputs) => {
    const r = await runAction({
      node: NODE24,
      bundle,
      cwd: REPO,
      inputs: { ...testbedInputs(bed, app, port), 'proxy-type': 'haproxy', 'health-timeout': '20s', 'drain-timeout': '2s', ...inputs },
      sshPort: Number(bed.CUTOVER_TEST_SSH_PORT)
    })
    if (r.code !== 0) throw new Error(`${label}: run failed (${r.code}): ${r.errors.join(' | ')}\n${r.stderr}`)
    return r
  }
  await run(firstBundle, { image: image('v1'), 'proxy-image': proxyImages[0] })
  const load = startLoad(`http://127.0.0.1:${port}`, loadProfile(false))
  await sleep(3000)
  const runs = []
  for (let i = 1; i < proxyImages.length; i++) {
    const r = await run(BUNDLE, { image: image(i % 2 ? 'v2' : 'v1'), 'proxy-image': proxyImages[i] })
    const line = r.log.find(l => /Handing the proxy|re-creating it/.test(l.line))?.line ?? '(no hand-over logged)'
    runs.push({ ms: Math.round(r.ms), proxyImage: proxyImages[i], said: line.replace(/^::warning::/, '') })
    log(`${label}: ${proxyImages[i]} in ${Math.round(r.ms)} ms: ${line.slice(0, 140)}`)
    await sleep(2000)
  }
  await sleep(3000)
  const seen = tally(await load.stop())
  log(
    `${label}: ${seen.requests} requests, ${seen.failed} failed; long ${seen.longFailed}/${seen.longRequests} failed; WebSockets cut ${seen.webSocketsCut}/${seen.webSockets}`
  )
  return { label, runs, ...seen }
}

async function main() {
  const bed = JSON.parse(readFileSync(join(REPO, '.testbed', 'env.json'), 'utf8'))
  const base = bed.CUTOVER_TEST_HAPROXY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/haproxy:2.6`
  const id = randomBytes(3).toString('hex')
  const other = `${base.replace(/:[^:/]+$/, '')}:bench-upg-${id}`
  execFileSync('docker', ['tag', base, other])
  const apps = [`bench-upg-${id}`, `bench-upg-old-${id}`]
  const cleanup = async () => {
    for (const child of liveChildren) child.kill('SIGTERM')
    for (const app of apps) {
      await removeApp(app)
      await removeProxy(`${app}-proxy`)
    }
    execFileSync('docker', ['rmi', other], { stdio: 'ignore' })
  }
  process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)))
  const phases = []
  try {
    log(
      `load average ${os
        .loadavg()
        .map(x => x.toFixed(2))
        .join(' ')}; ${UPGRADES} upgrades between ${base} and ${other}`
    )
    const images = Array.from({ length: UPGRADES + 1 }, (_, i) => (i % 2 ? other : base))
    phases.push(await phase({ bed, app: apps[0], proxyImages: images, firstBundle: BUNDLE, label: 'hand-over (holder + generations)' }))
    if (OLD_BUNDLE && existsSync(OLD_BUNDLE)) {
      phases.push(
        await phase({
          bed,
          app: apps[1],
          proxyImages: [base, other],
          firstBundle: resolve(OLD_BUNDLE),
          label: 'proxy of an older cutover taken over (no re-creation)'
        })
      )
    }
  } finally {
    await cleanup()
  }
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim()
  const date = new Date().toISOString().slice(0, 10)
  const result = {
    date: new Date().toISOString(),
    commit,
    load: JSON.stringify(loadProfile(false)),
    machine: { cpus: os.cpus().length, loadAverageAtEnd: os.loadavg().map(x => Math.round(x * 100) / 100) },
    phases
  }
  mkdirSync(OUT, { recursive: true })
  const jsonName = `proxy-upgrade-${date}-${commit}.json`
  writeFileSync(join(OUT, jsonName), JSON.stringify(result, null, 1))
  const rows = phases.map(
    p =>
      `| ${p.label} | ${p.runs.length} | ${p.requests} | ${p.keepAlive.failed} of ${p.keepAlive.requests} | ${p.newConnection.failed} of ${p.newConnection.requests} | ${p.longFailed} of ${p.longRequests} | ${p.webSocketsCut} of ${p.webSockets} | ${p.longestSilenceMs} |`
  )
  writeFileSync(
    join(OUT, 'proxy-upgrade-latest.md'),
    `# HAProxy proxy upgrades under load (${result.date.slice(0, 10)}, ${commit})\n\n` +
      `\`node bench/proxy-upgrade.mjs\`: deploys that change proxy-image under the bench's load (8 keep-alive connections x 70 req/s, ` +
      `4 new-connection loops x 35 req/s, a 3 s request every 250 ms, 8 WebSockets held 4-20 s). ${result.machine.cpus} cores, ` +
      `load average at the end ${result.machine.loadAverageAtEnd.join(' ')}. Raw: [${jsonName}](${jsonName}).\n\n` +
      `| phase | upgrades | requests | keep-alive failed | new-connection failed | long requests failed | WebSockets cut or refused | longest time without an answer (ms) |\n|---|---|---|---|---|---|---|---|\n` +
      rows.join('\n') +
      '\n'
  )
  log(`wrote ${join(OUT, jsonName)} and proxy-upgrade-latest.md`)
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})

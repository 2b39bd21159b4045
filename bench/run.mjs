#!/usr/bin/env node
// Zero-downtime benchmark under load, side by side with what users do today (issue #5).
//
//   npm run bench                      # full run: 10 cycles per strategy (~16 min on 2 cores)
//   npm run bench -- --quick           # smoke run: 2 cycles, short steady windows
//   node bench/run.mjs --cycles 5 --only cutover,transport
//
// Options (flag or environment variable):
//   --cycles N          BENCH_CYCLES          deploy -> rollback -> deploy again, N times (10)
//   --baseline-cycles N BENCH_BASELINE_CYCLES cycles for the two baselines (same as --cycles)
//   --quick             BENCH_QUICK=1         2 cycles, 4 s steady windows, 1 transport repeat
//   --gap MS            BENCH_GAP_MS          pause between two runs (2500)
//   --relay-delay MS    BENCH_RELAY_DELAY_MS  one-way delay of the TCP relay before sshd (20)
//   --only LIST         BENCH_ONLY            any of cutover,transport,replicas,canary,canary-steps,caddy,recreate,script
//   --out DIR           BENCH_OUT             where results go (bench/results)
//   --user NAME         BENCH_USER            the SSH user of cutover's runs: root, or deployer (the test bed's
//                                             docker-group user whose shell is /bin/sh: no rc files) (root)
//   --render FILE                             only write latest.md and chart.svg again from a results JSON
//
// Needs the test bed (bash scripts/testbed/up.sh) and a built dist/index.js. It uses its own app
// name (bench-XXXXXX) and free ports, and removes every container, volume and network it created
// when it ends, also on failure or Ctrl-C. Targets are reported, never asserted: the exit code is
// 0 unless the bench itself could not run.
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runAction, now, liveChildren } from './lib/action.mjs'
import { analyze } from './lib/analyze.mjs'
import { setupRecreate, setupScript } from './lib/baselines.mjs'
import { bootTimes, ensureImage, local, reloadTimes, removeContainers } from './lib/docker.mjs'
import { loadProfile, startLoad } from './lib/load.mjs'
import { startRelay } from './lib/relay.mjs'
import { renderMarkdown, renderSvg } from './lib/report.mjs'
import { sshdAcceptedSince, sshdOffset } from './lib/sshd.mjs'
import { callSequence, clientConnections, measureCalls, sshModeDocker, tunnelDocker } from './lib/transport.mjs'
import { testbedInputs } from '../__tests__/support/runner.mjs'
import { freePort } from './lib/ports.mjs'

// docker-modem's ssh mode builds a URL Node deprecates; the warning is noise here.
process.noDeprecation = true

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')
const NODE24 = join(REPO, 'node_modules', '.bin', 'node')
const BUNDLE = join(REPO, 'dist', 'index.js')
const DRAIN_TIMEOUT_MS = 30_000 // the action's default drain-timeout
const APP_BOOT_MS = 1500 // BOOT_DELAY_MS of the test app

// ---------------------------------------------------------------- options
function options() {
  const argv = process.argv.slice(2)
  const flag = (name, env) => {
    const i = argv.indexOf(`--${name}`)
    if (i >= 0) return argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[i + 1] : 'true'
    const eq = argv.find(a => a.startsWith(`--${name}=`))
    if (eq) return eq.slice(name.length + 3)
    return process.env[env]
  }
  const quick = flag('quick', 'BENCH_QUICK') !== undefined && flag('quick', 'BENCH_QUICK') !== '0'
  const cycles = Number(flag('cycles', 'BENCH_CYCLES') ?? (quick ? 2 : 10))
  const o = {
    quick,
    cycles,
    baselineCycles: Number(flag('baseline-cycles', 'BENCH_BASELINE_CYCLES') ?? cycles),
    gapMs: Number(flag('gap', 'BENCH_GAP_MS') ?? 2500),
    relayDelayMs: Number(flag('relay-delay', 'BENCH_RELAY_DELAY_MS') ?? 20),
    only: (flag('only', 'BENCH_ONLY') ?? 'cutover,transport,replicas,canary,canary-steps,caddy,recreate,script').split(',').map(s => s.trim()),
    strategyCycles: Number(flag('strategy-cycles', 'BENCH_STRATEGY_CYCLES') ?? (quick ? 1 : 3)),
    canaryWeight: Number(flag('canary-weight', 'BENCH_CANARY_WEIGHT') ?? 20),
    canaryHoldMs: quick ? 6000 : 15000,
    out: flag('out', 'BENCH_OUT') ?? join(REPO, 'bench', 'results'),
    warmupMs: 3000,
    steadyPreMs: quick ? 4000 : 10000,
    steadyPostMs: quick ? 3000 : 5000,
    transportReps: quick ? 1 : 3,
    user: flag('user', 'BENCH_USER') ?? 'root'
  }
  if (!['root', 'deployer'].includes(o.user)) throw new Error(`--user is root or deployer, not ${o.user}`)
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && !(v >= 0)) throw new Error(`bad value for ${k}: ${v}`)
  return o
}

const sleep = ms => new Promise(r => setTimeout(r, ms))
const log = (...a) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a)
const s1 = ms => (ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`)

function testbed() {
  const file = join(REPO, '.testbed', 'env.json')
  if (!existsSync(file)) throw new Error(`The test bed is not up (${file} is missing): run "bash scripts/testbed/up.sh" first`)
  return JSON.parse(readFileSync(file, 'utf8'))
}

// ---------------------------------------------------------------- cleanup (always)
const cleanupTasks = []
let cleaningUp
function cleanup() {
  cleaningUp ??= (async () => {
    for (const child of liveChildren) child.kill('SIGTERM')
    for (const task of cleanupTasks.reverse()) {
      try {
        await task()
      } catch (e) {
        console.error(`cleanup: ${e.message}`)
      }
    }
  })()
  return cleaningUp
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    console.error(`\n${sig}: cleaning up what the bench created...`)
    cleanup().finally(() => process.exit(130))
  })
}

/**
 * Who cutover's runs log in as, and the home where it keeps its lock and ledger on the host. root
 * on this test bed runs ~/.bashrc with `pyenv init` on every SSH exec (2-4 s under load), as a heavy
 * shell set-up would; deployer is a clean deploy user.
 */
let sshUser = { name: 'root', home: os.homedir() }
function useSshUser(bed, which) {
  sshUser =
    which === 'deployer'
      ? { name: bed.CUTOVER_TEST_DEPLOYER_USER, home: `/home/${bed.CUTOVER_TEST_DEPLOYER_USER}` }
      : { name: bed.CUTOVER_TEST_SSH_USER, home: os.homedir() }
}

async function removeCutoverApp(app) {
  const removed = await removeContainers(`cutover.app=${app}`)
  const proxy = `${app}-proxy`
  for (const name of [proxy, `${proxy}-switch`]) {
    await local
      .getContainer(name)
      .remove({ force: true })
      .then(
        () => removed.push(name),
        () => undefined
      )
    // -conf: HAProxy's and nginx's routes; -data: Caddy's (its autosaved config and certificates).
    for (const volume of [`${name}-conf`, `${name}-data`])
      await local
        .getVolume(volume)
        .remove()
        .catch(() => undefined)
  }
  for (const net of [`${proxy}-net`, `cutover-${app}`])
    await local
      .getNetwork(net)
      .remove()
      .catch(() => undefined)
  // The deploy lock and the release ledger live in the SSH user's home on the host.
  rmSync(`/run/cutover/${proxy}`, { force: true, recursive: true })
  for (const f of [
    join(sshUser.home, '.cutover', 'locks', `${app}.lock`),
    join(sshUser.home, '.cutover', 'locks', `${app}.holder`),
    join(sshUser.home, '.cutover', 'locks', `proxy.${proxy}.lock`),
    join(sshUser.home, '.cutover', 'apps', app)
  ])
    rmSync(f, { force: true, recursive: true })
  return removed
}

async function removeLabelled(label) {
  const removed = await removeContainers(label)
  const nets = await local.listNetworks({ filters: { label: [label] } })
  for (const n of nets)
    await local
      .getNetwork(n.Id)
      .remove()
      .catch(() => undefined)
  return removed
}

// ---------------------------------------------------------------- machine
function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

async function machineInfo(id) {
  const dockerVersion = await local.version().catch(() => ({}))
  const others = await local.listContainers().catch(() => [])
  const dist = existsSync(BUNDLE) ? readFileSync(BUNDLE) : Buffer.alloc(0)
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: sh('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
    benchNode: process.version,
    actionNode: sh(NODE24, ['--version']),
    docker: { server: dockerVersion.Version, api: dockerVersion.ApiVersion, client: sh('docker', ['version', '--format', '{{.Client.Version}}']) },
    git: {
      commit: sh('git', ['-C', REPO, 'rev-parse', 'HEAD']),
      distSha256: createHash('sha256').update(dist).digest('hex').slice(0, 16),
      distUncommittedChanges: Boolean(sh('git', ['-C', REPO, 'status', '--porcelain', '--', 'dist/index.js']))
    },
    loadAverageAtStart: os.loadavg().map(x => Math.round(x * 100) / 100),
    otherRunningContainersAtStart: others.filter(c => !c.Names.some(n => n.includes(id))).length
  }
}

/** Busy CPU share of the whole machine, sampled once a second. */
function cpuSampler() {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3] + (f[4] ?? 0)
    return { idle, total: f.reduce((a, b) => a + b, 0) }
  }
  let prev = read()
  const samples = []
  const timer = setInterval(() => {
    const cur = read()
    const dt = cur.total - prev.total
    if (dt > 0) samples.push({ t: Math.round(now()), busy: Math.round((1 - (cur.idle - prev.idle) / dt) * 1000) / 10 })
    prev = cur
  }, 1000)
  timer.unref()
  return {
    between(a, b) {
      const xs = samples.filter(s => s.t >= a && s.t <= b).map(s => s.busy)
      return xs.length ? Math.round(xs.reduce((x, y) => x + y, 0) / xs.length) : null
    },
    samples
  }
}

// ---------------------------------------------------------------- shared
const ORDER = ['v1', 'v2', 'v3']
const nextVersion = v => ORDER[(ORDER.indexOf(v) + 1) % ORDER.length]

async function underLoad(name, port, opts, body) {
  const profile = loadProfile(opts.quick)
  let lastPrint = 0
  const load = startLoad(`http://127.0.0.1:${port}`, profile, tick => {
    if (tick.t - lastPrint >= 15000) {
      lastPrint = tick.t
      log(
        `  ${name} load: ${tick.done} requests so far, ${tick.rps} req/s, ${tick.errs} failed in the last second, ${tick.wsOpen} WebSockets open, ${tick.slowInFlight} long requests in flight`
      )
    }
  })
  cleanupTasks.push(() => load.kill())
  const startedAt = now()
  await sleep(opts.warmupMs)
  const pre = [now(), now() + opts.steadyPreMs]
  await sleep(opts.steadyPreMs)
  const events = await body()
  const post = [now(), now() + opts.steadyPostMs]
  await sleep(opts.steadyPostMs)
  log(`  ${name}: stopping the load (waiting for long requests in flight)`)
  const stopRequestedAt = now()
  const result = await load.stop()
  return { load: { ...result, stopRequestedAt }, events, steady: [pre, post], startedAt, profile }
}

// ---------------------------------------------------------------- cutover
function cutoverInputs(bed, app, port, extra = {}) {
  return { ...testbedInputs(bed, app, port), user: sshUser.name, ...extra }
}

/** The action's inputs for one run: rollback, promote, a canary deploy, or a deploy; plus the variant's own (replicas). */
function runInputs(ctx, kind, version) {
  const image = `${ctx.bed.CUTOVER_TEST_IMAGE_PREFIX}:${version}`
  const byKind = {
    rollback: { mode: 'rollback' },
    promote: { mode: 'promote' },
    canary: { mode: 'deploy', image, 'canary-weight': String(ctx.canaryWeight) },
    deploy: { mode: 'deploy', image }
  }
  // A variant's deploy-only inputs (canary-steps) are not given to its rollbacks.
  return { ...(ctx.inputs ?? {}), ...(kind === 'deploy' ? (ctx.deployInputs ?? {}) : {}), ...byKind[kind] }
}

async function cutoverRun(ctx, { kind, version, fromVersion, via }) {
  const { bed, app, port } = ctx
  const sshPort = via ? via.port : Number(bed.CUTOVER_TEST_SSH_PORT)
  const extra = runInputs(ctx, kind, version)
  if (via) Object.assign(extra, { port: String(via.port), 'known-hosts': via.knownHosts })
  const offset = sshdOffset(bed.CUTOVER_TEST_SSHD_LOG)
  const relayBefore = via ? (await via.relay.stats()).connections : undefined
  const r = await runAction({ node: NODE24, bundle: BUNDLE, cwd: REPO, inputs: cutoverInputs(bed, app, port, extra), sshPort })
  const accepted = sshdAcceptedSince(bed.CUTOVER_TEST_SSHD_LOG, offset)
  const ours = via ? undefined : accepted.filter(p => r.sshClientPorts.includes(p))
  const ev = {
    strategy: ctx.strategy ?? 'cutover',
    kind,
    version,
    fromVersion,
    image: extra.image,
    route: via ? `relay +${via.delayMs} ms each way` : 'direct',
    ok: r.code === 0,
    result: r.outputs.result,
    color: r.outputs.color,
    t0: r.spawnedAt,
    tSwitch: r.switchEnd ?? r.exitedAt,
    switchStepStart: r.switchStart,
    switchStepEnd: r.switchEnd,
    tEnd: r.exitedAt,
    runMs: Math.round(r.ms),
    steps: r.steps,
    marks: r.marks.map(m => ({ ...m, t: Math.round(m.t) })),
    markOffsetsMs: Object.fromEntries(r.marks.map(m => [`${m.step}:${m.at}`, Math.round(m.t - r.spawnedAt)])),
    dockerApi: r.dockerApi,
    ssh: {
      sshdAcceptedDuringRun: accepted.length,
      ofThisProcess: via ? (await via.relay.stats()).connections - relayBefore : ours.length,
      how: via ? 'connections through the relay' : 'sshd "Accepted publickey" lines whose client port this process held'
    },
    errors: r.errors,
    stderr: r.stderr.slice(0, 2000)
  }
  if (!ev.ok) ev.log = r.log.slice(-40)
  // The switch moment: nginx's SIGHUP in the switch tier, inside the switch step (Docker's log
  // timestamps); the step's end as printed on stdout is the fallback.
  if (ev.ok && r.switchStart) {
    const hups = await reloadTimes(`${app}-proxy-switch`, r.spawnedAt - 1000)
    const hup = hups.find(t => t >= r.switchStart - 250 && t <= r.switchEnd + 250)
    // HAProxy: the runtime API's answer to the switch's `set server` lines (the action's trace),
    // which come before the step writes the route's files (~150 ms) and ends.
    const origin = r.trace?.origin
    const runtime = origin
      ? (r.trace.spans ?? []).filter(s => s.name.startsWith('admin set server') && origin + s.end >= r.switchStart && origin + s.end <= r.switchEnd).at(-1)
      : undefined
    if (hup) ev.tSwitch = hup
    else if (runtime) ev.tSwitch = origin + runtime.end
    ev.switchMomentFrom = hup
      ? 'nginx SIGHUP log line of the switch tier'
      : runtime
        ? "the runtime API's answer to the switch (action trace)"
        : 'end of the switch step on stdout'
  }
  if (ev.ok && (kind === 'deploy' || kind === 'canary') && ev.color) {
    const b = await bootTimes(`${app}-${ev.color}`)
    ev.appStartedAt = b.started
    ev.appListeningAt = b.listening
    ev.appBootMs = b.started && b.listening ? b.listening - b.started : null
  }
  ev.breakdown = breakdown(ev)
  return ev
}

/**
 * Where a run's time goes, from its stdout marks (ms). "to switched" ends when the switch step
 * ends; for deploys, pull and the app's own boot (container start to its "listening" line) are
 * the parts that are not the action's.
 */
function breakdown(ev) {
  const m = ev.markOffsetsMs
  const d = (a, b) => (m[a] !== undefined && m[b] !== undefined ? m[b] - m[a] : null)
  const t = k => (ev[k] ? Math.round(ev[k] - ev.t0) : null)
  const out = {
    nodeStart: m['connect:start'] ?? null,
    connect: d('connect:start', 'connect:end'),
    lock: d('lock:start', 'lock:end'),
    inspect: d('inspect:start', 'inspect:end'),
    pull: d('pull:start', 'pull:end'),
    proxyCheck: m['pull:end'] !== undefined ? d('pull:end', 'boot:start') : d('inspect:end', 'boot:start'),
    containerCreateStart: ev.kind === 'deploy' && ev.appStartedAt ? t('appStartedAt') - m['boot:start'] : d('boot:start', 'boot:end'),
    appBoot: ev.appBootMs ?? null,
    healthSlack: ev.appListeningAt ? m['healthy:end'] - t('appListeningAt') : d('healthy:start', 'healthy:end'),
    beforeSwitch: d('healthy:end', 'switch:start'),
    switch: d('switch:start', 'switch:end'),
    toSwitched: m['switch:end'] ?? null
  }
  if (ev.kind === 'deploy' && out.toSwitched !== null) out.overheadToSwitched = out.toSwitched - (ev.steps.pull ?? 0) - (ev.appBootMs ?? APP_BOOT_MS)
  else if (out.toSwitched !== null) out.overheadToSwitched = out.toSwitched
  return out
}

async function benchCutover(ctx, opts) {
  const { app } = ctx
  log(`cutover: first deploy of ${app} (v1) without load: creates its two proxy tiers on port ${ctx.port}`)
  const setup = await cutoverRun(ctx, { kind: 'deploy', version: 'v1' })
  if (!setup.ok) throw new Error(`the first deploy failed: ${setup.errors.join(' ')} ${JSON.stringify(setup.log)}`)
  let live = 'v1'
  const failedRuns = []
  const out = await underLoad('cutover', ctx.port, opts, async () => {
    const events = []
    const one = async spec => {
      const ev = await cutoverRun(ctx, spec)
      log(
        `  cutover ${spec.kind.padEnd(8)} ${spec.fromVersion} -> ${spec.version}: exit ${ev.ok ? 0 : 'FAILED'}, run ${s1(ev.runMs)} ` +
          `(pull ${ev.steps.pull ?? 0} ms, healthy ${ev.steps.healthy ?? 0} ms, switch ${ev.steps.switch ?? 0} ms), ` +
          `${ev.dockerApi?.requests ?? '?'} API requests over ${ev.dockerApi?.channels ?? '?'} channels, SSH connections ${ev.ssh.ofThisProcess}`
      )
      if (ev.ok) {
        events.push(ev)
        live = spec.version
      } else {
        failedRuns.push(ev)
        log(`  !! ${ev.errors.join(' | ')}`)
      }
      await sleep(opts.gapMs)
    }
    for (let c = 0; c < opts.cycles; c++) {
      const before = live
      const target = nextVersion(before)
      await one({ kind: 'deploy', version: target, fromVersion: before })
      await one({ kind: 'rollback', version: before, fromVersion: live })
      await one({ kind: 'deploy', version: target, fromVersion: live })
    }
    return events
  })
  ctx.live = live
  return { ...out, setup, failedRuns }
}

// ---------------------------------------------------------------- strategies (issue #12)
/** A variant gets its own app and proxy port, so its figures are its own. */
async function variantContext(ctx, strategy, inputs) {
  return {
    ...ctx,
    strategy,
    app: `${ctx.id}-${strategy
      .split('-')
      .map(w => w.slice(0, 3))
      .join('')}`,
    port: await freePort(),
    inputs
  }
}

/** One run of a variant, logged like the cutover ones; failed runs are kept apart. */
async function variantRun(vctx, spec, into, opts) {
  const ev = await cutoverRun(vctx, spec)
  log(
    `  ${vctx.strategy} ${spec.kind.padEnd(8)} ${spec.fromVersion} -> ${spec.version}: exit ${ev.ok ? 0 : 'FAILED'} (${ev.result ?? '?'}), run ${s1(ev.runMs)} ` +
      `(healthy ${ev.steps.healthy ?? 0} ms, switch ${ev.steps.switch ?? 0} ms)`
  )
  if (ev.ok) into.events.push(ev)
  else {
    into.failedRuns.push(ev)
    log(`  !! ${ev.errors.join(' | ')}`)
  }
  await sleep(opts.gapMs)
  return ev
}

/**
 * A variant of cutover's own runs (replicas 3, proxy-type caddy): deploy, rollback, deploy cycles as
 * for cutover, under the same load, with the variant's inputs.
 */
async function benchVariant(ctx, opts, name, inputs, deployInputs = {}) {
  const vctx = { ...(await variantContext(ctx, name, inputs)), deployInputs }
  cleanupTasks.push(() => removeCutoverApp(vctx.app))
  log(`${name}: first deploy of ${vctx.app} (v1, ${JSON.stringify(inputs)}) without load, proxy port ${vctx.port}`)
  const setup = await cutoverRun(vctx, { kind: 'deploy', version: 'v1' })
  if (!setup.ok) throw new Error(`the first ${name} deploy failed: ${setup.errors.join(' ')}`)
  const into = { events: [], failedRuns: [] }
  let live = 'v1'
  const out = await underLoad(name, vctx.port, opts, async () => {
    for (let c = 0; c < opts.strategyCycles; c++) {
      const target = nextVersion(live)
      const before = live
      if ((await variantRun(vctx, { kind: 'deploy', version: target, fromVersion: before }, into, opts)).ok) live = target
      if ((await variantRun(vctx, { kind: 'rollback', version: before, fromVersion: live }, into, opts)).ok) live = before
      if ((await variantRun(vctx, { kind: 'deploy', version: target, fromVersion: live }, into, opts)).ok) live = target
    }
    return into.events
  })
  await removeCutoverApp(vctx.app)
  return { ...out, setup, failedRuns: into.failedRuns }
}

/**
 * canary-weight: per cycle, a canary deploy of the next version, held under load (its share of
 * answers measured by the version each answer names), then promoted; every second cycle the
 * canary is ended by a rollback instead.
 */
async function benchCanary(ctx, opts) {
  const vctx = await variantContext(ctx, 'canary', {})
  vctx.canaryWeight = opts.canaryWeight
  cleanupTasks.push(() => removeCutoverApp(vctx.app))
  log(`canary: first deploy of ${vctx.app} (v1) without load, proxy port ${vctx.port}, canary-weight ${opts.canaryWeight}`)
  const setup = await cutoverRun(vctx, { kind: 'deploy', version: 'v1' })
  if (!setup.ok) throw new Error(`the first canary deploy failed: ${setup.errors.join(' ')}`)
  const into = { events: [], failedRuns: [] }
  const holds = []
  let live = 'v1'
  const out = await underLoad('canary', vctx.port, opts, async () => {
    for (let c = 0; c < opts.strategyCycles * 2; c++) {
      const target = nextVersion(live)
      const ev = await variantRun(vctx, { kind: 'canary', version: target, fromVersion: live }, into, opts)
      if (!ev.ok) continue
      // The gap after the run is part of the hold: the split is measured from the run's end.
      const from = ev.tEnd + 500
      await sleep(Math.max(0, opts.canaryHoldMs - opts.gapMs))
      holds.push({ live, canary: target, from, to: now() })
      const end = c % 2 === 0 ? 'promote' : 'rollback'
      const done = await variantRun(vctx, { kind: end, version: end === 'promote' ? target : live, fromVersion: end === 'promote' ? live : target }, into, opts)
      if (done.ok && end === 'promote') live = target
    }
    return into.events
  })
  await removeCutoverApp(vctx.app)
  return { ...out, setup, failedRuns: into.failedRuns, holds }
}

/** The canary's share of successful answers in each hold window, from the load's own per-request record. */
function canarySplit(raw, weight) {
  const R = raw.load.short
  const versions = raw.load.versions
  return raw.holds.map(h => {
    let all = 0
    let canary = 0
    for (let i = 0; i < R.t.length; i++) {
      if (R.t[i] < h.from || R.t[i] > h.to || R.res[i] !== 0) continue
      all++
      if (versions[R.ver[i]] === h.canary) canary++
    }
    const percent = all ? Math.round((canary / all) * 10000) / 100 : null
    return {
      live: h.live,
      canary: h.canary,
      windowMs: Math.round(h.to - h.from),
      answers: all,
      toCanary: canary,
      percent,
      offByPoints: percent === null ? null : Math.round((percent - weight) * 100) / 100
    }
  })
}

// ---------------------------------------------------------------- transport
async function benchTransport(ctx, opts) {
  const { bed, app } = ctx
  const relay = await startRelay({ targetHost: '127.0.0.1', targetPort: Number(bed.CUTOVER_TEST_SSH_PORT), delayMs: opts.relayDelayMs })
  cleanupTasks.push(() => relay.close())
  const via = { port: relay.port, relay, delayMs: opts.relayDelayMs, knownHosts: bed.CUTOVER_TEST_KNOWN_HOSTS.replace(/^\S+/, `[127.0.0.1]:${relay.port}`) }
  log(`transport: relay 127.0.0.1:${relay.port} -> sshd 127.0.0.1:${bed.CUTOVER_TEST_SSH_PORT}, +${opts.relayDelayMs} ms each way`)

  // (1) Whole runs, no load: rollback (warm) then deploy again, direct and through the relay.
  if (!ctx.live) {
    for (const v of ['v1', 'v2']) {
      const ev = await cutoverRun(ctx, { kind: 'deploy', version: v })
      if (!ev.ok) throw new Error(`setup deploy ${v} failed: ${ev.errors.join(' ')}`)
    }
    ctx.live = 'v2'
  }
  const live = ctx.live
  const runs = []
  for (let rep = 0; rep < opts.transportReps; rep++) {
    for (const route of [undefined, via]) {
      const rb = await cutoverRun(ctx, { kind: 'rollback', fromVersion: live, version: '(previous)', via: route })
      await sleep(500)
      const dp = await cutoverRun(ctx, { kind: 'deploy', fromVersion: '(previous)', version: live, via: route })
      await sleep(500)
      for (const ev of [rb, dp]) {
        runs.push(ev)
        log(
          `  ${ev.kind.padEnd(8)} ${ev.route.padEnd(22)} exit ${ev.ok ? 0 : 'FAILED'} run ${s1(ev.runMs)}, ${ev.dockerApi?.requests} API requests, SSH connections ${ev.ssh.ofThisProcess}`
        )
      }
    }
  }

  // (2) The same 30 Docker API calls: one tunnel vs dockerode's protocol 'ssh'.
  const keyB64 = bed.CUTOVER_TEST_KNOWN_HOSTS.trim().split(/\s+/)[2]
  const calls = callSequence({ app, proxy: `${app}-proxy`, network: `cutover-${app}`, imageRepo: bed.CUTOVER_TEST_IMAGE_PREFIX })
  const base = { host: '127.0.0.1', user: bed.CUTOVER_TEST_SSH_USER, keyFile: bed.CUTOVER_TEST_KEY }
  const api = []
  const modes = [
    'one tunnel, as the action (a session first, the agent inspected as one word)',
    'same, the agent inspected whole (as before the fix)',
    'one tunnel, no session channel',
    "dockerode protocol 'ssh'"
  ]
  for (const concurrency of [1, 10]) {
    for (const route of ['direct', 'relay']) {
      const port = route === 'direct' ? Number(bed.CUTOVER_TEST_SSH_PORT) : relay.port
      for (const mode of modes) {
        const samples = []
        for (let rep = 0; rep < opts.transportReps; rep++) {
          const offset = sshdOffset(bed.CUTOVER_TEST_SSHD_LOG)
          const relayBefore = (await relay.stats()).connections
          const clientBefore = clientConnections.count
          const make = {
            [modes[0]]: () => tunnelDocker({ ...base, port, hostKeyBase64: keyB64, session: true, shortInspect: true }),
            [modes[1]]: () => tunnelDocker({ ...base, port, hostKeyBase64: keyB64, session: true }),
            [modes[2]]: () => tunnelDocker({ ...base, port, hostKeyBase64: keyB64, shortInspect: true }),
            [modes[3]]: async () => sshModeDocker({ ...base, port })
          }[mode]
          const m = await measureCalls(make, calls, concurrency)
          await sleep(300) // let sshd write its log lines
          m.sshConnections = clientConnections.count - clientBefore
          m.sshdLogDelta = sshdAcceptedSince(bed.CUTOVER_TEST_SSHD_LOG, offset).length
          if (route === 'relay') m.relayConnections = (await relay.stats()).connections - relayBefore
          samples.push(m)
        }
        const ms = samples.map(s => s.ms).sort((a, b) => a - b)
        const row = {
          mode,
          route: route === 'direct' ? 'direct' : `relay +${opts.relayDelayMs} ms each way`,
          concurrency,
          calls: calls.length,
          wallMsMedian: ms[Math.floor(ms.length / 2)],
          wallMs: samples.map(s => s.ms),
          sshConnections: samples.map(s => s.sshConnections),
          sshdLogDelta: samples.map(s => s.sshdLogDelta),
          relayConnections: samples.map(s => s.relayConnections),
          channels: samples.map(s => s.channels),
          answered: samples.map(s => s.answered),
          errors: samples.flatMap(s => s.errors).slice(0, 10)
        }
        api.push(row)
        log(
          `  ${calls.length} API calls x${concurrency} ${mode.padEnd(50)} ${row.route.padEnd(22)} ${row.wallMsMedian} ms, SSH connections ${row.sshConnections.join('/')} (sshd log ${row.sshdLogDelta.join('/')})${row.errors.length ? `, errors: ${row.errors[0]}` : ''}`
        )
      }
    }
  }
  await relay.close()
  return { relayDelayMs: opts.relayDelayMs, runs, api }
}

// ---------------------------------------------------------------- baselines
async function benchBaseline(kind, ctx, opts) {
  const { bed, id, label } = ctx
  const port = await freePort()
  const auth = { username: bed.CUTOVER_TEST_REGISTRY_USER, password: bed.CUTOVER_TEST_REGISTRY_PASSWORD, serveraddress: bed.CUTOVER_TEST_REGISTRY }
  const image = v => `${bed.CUTOVER_TEST_IMAGE_PREFIX}:${v}`
  const pulledBefore = []
  for (const v of ORDER) if (await ensureImage(image(v), auth)) pulledBefore.push(v)
  const setupFn = kind === 'recreate' ? setupRecreate : setupScript
  log(`${kind}: plain nginx on port ${port}, app v1`)
  const strat = await setupFn({ prefix: id, label, port, proxyImage: bed.CUTOVER_TEST_PROXY_IMAGE, image: image('v1') })
  let live = 'v1'
  const out = await underLoad(kind, port, opts, async () => {
    const events = []
    const one = async (evKind, version) => {
      // Outside the timed part: the image must be in the daemon (a cutover run may have pruned it).
      if (await ensureImage(image(version), auth)) pulledBefore.push(version)
      const r = await strat.deploy(image(version))
      const b = await bootTimes(strat.container())
      const ev = {
        strategy: kind,
        kind: evKind,
        version,
        fromVersion: live,
        ok: true,
        ...r,
        runMs: Math.round(r.tEnd - r.t0),
        appBootMs: b.started && b.listening ? b.listening - b.started : null
      }
      events.push(ev)
      log(`  ${kind} ${evKind.padEnd(8)} ${live} -> ${version}: script ${s1(ev.runMs)}`)
      live = version
      await sleep(opts.gapMs)
    }
    for (let c = 0; c < opts.baselineCycles; c++) {
      const before = live
      const target = nextVersion(before)
      await one('deploy', target)
      await one('rollback', before)
      await one('deploy', target)
    }
    return events
  })
  return { ...out, port, pulledOutsideTimedPart: pulledBefore }
}

// ---------------------------------------------------------------- main
function summarize(name, raw, cpu) {
  const ours = ['cutover', 'replicas', 'canary', 'canary-steps', 'caddy'].includes(name)
  const a = analyze({ load: raw.load, events: raw.events, steady: raw.steady, drainTimeoutMs: ours ? DRAIN_TIMEOUT_MS : undefined })
  // Merge the per-switch figures back into the run records.
  const runs = raw.events.map((e, i) => {
    const p = a.perEvent[i]
    const run = { ...e, ...p }
    delete run.marks
    if (name === 'cutover' && e.kind === 'deploy' && p.wallToServingMs !== null) {
      run.overheadMs = Math.round(p.wallToServingMs - (e.steps.pull ?? 0) - (e.appBootMs ?? APP_BOOT_MS))
    }
    if (name === 'cutover' && e.kind === 'rollback' && p.wallToServingMs !== null) run.overheadMs = p.wallToServingMs
    return run
  })
  delete a.perEvent
  // Requests sent while the cycles ran (from the first run's start to the steady window after).
  const [from, to] = [raw.events[0]?.t0 ?? Infinity, raw.steady[1][0]]
  const R = raw.load.short
  const duringCycles = { requests: 0, failed: 0 }
  for (let i = 0; i < R.t.length; i++) {
    if (R.t[i] < from || R.t[i] > to) continue
    duringCycles.requests++
    if (R.res[i] !== 0) duringCycles.failed++
  }
  a.totals.duringCycles = duringCycles
  return {
    profile: raw.profile,
    loadStartedAt: Math.round(raw.load.startedAt),
    loadStoppedAt: Math.round(raw.load.stoppedAt),
    steadyWindows: raw.steady.map(w => w.map(Math.round)),
    cpuBusyPercent: cpu.between(raw.load.startedAt, raw.load.stoppedAt),
    ...a,
    runs,
    failedRuns: raw.failedRuns ?? [],
    setup: raw.setup ? { runMs: raw.setup.runMs, steps: raw.setup.steps, dockerApi: raw.setup.dockerApi } : undefined,
    // Every long request and WebSocket, times in ms from the load's start (requests are in `series`).
    raw: {
      longRequests: {
        columns: ['start', 'end', 'result', 'status', 'version'],
        rows: raw.load.slow.map(x => [Math.round(x.t0 - raw.load.startedAt), Math.round(x.t1 - raw.load.startedAt), x.res, x.status, x.ver])
      },
      webSockets: {
        columns: ['requested', 'opened', 'closed', 'how', 'code', 'version', 'frames', 'plannedLifeMs', 'error'],
        rows: raw.load.sockets.map(x => [
          Math.round(x.requested - raw.load.startedAt),
          x.opened ? Math.round(x.opened - raw.load.startedAt) : null,
          x.closed ? Math.round(x.closed - raw.load.startedAt) : null,
          x.how,
          x.code,
          x.version,
          x.frames,
          x.lifeMs,
          x.error || undefined
        ])
      }
    },
    pulledOutsideTimedPart: raw.pulledOutsideTimedPart
  }
}

function checklist(results) {
  const c = results.strategies.cutover
  const items = []
  if (c) {
    const deploys = c.runs.filter(r => r.kind === 'deploy')
    const rollbacks = c.runs.filter(r => r.kind === 'rollback')
    const sshPerRun = [...c.runs, ...(results.transport?.runs ?? [])].map(r => r.ssh.ofThisProcess)
    const overheads = deploys.map(r => r.overheadMs).filter(x => x !== undefined && x !== null)
    const maxOverhead = overheads.length ? Math.max(...overheads) : null
    const sortedOverheads = [...overheads].sort((a, b) => a - b)
    const medOverhead = sortedOverheads.length ? sortedOverheads[Math.floor(sortedOverheads.length / 2)] : null
    const rbWall = rollbacks.map(r => r.wallToServingMs)
    items.push({
      target: 'cutover: 0 failed requests of >= 100,000 over the cycles',
      pass: c.totals.failed === 0 && c.totals.duringCycles.requests >= 100_000 && c.failedRuns.length === 0,
      value: `${c.totals.duringCycles.failed} failed of ${c.totals.duringCycles.requests.toLocaleString('en-US')} sent while the ${c.runs.length} runs went on (${c.totals.failed} of ${c.totals.requests.toLocaleString('en-US')} with the steady windows)${c.failedRuns.length ? `, ${c.failedRuns.length} runs FAILED` : ''}`
    })
    items.push({
      target: 'cutover: 0 long requests and 0 WebSockets cut',
      pass: c.long.cut === 0 && c.websockets.cut === 0,
      value: `${c.long.cut} of ${c.long.started} long requests failed (${c.long.cutInFlight} of the ${c.long.inFlightAcrossASwitch} in flight across a switch cut); ${c.websockets.cut} of ${c.websockets.opened} WebSockets cut (${c.websockets.cutBeforeDrainTimeout} before drain-timeout; ${c.websockets.heldAcrossASwitch} held across a switch)`
    })
    items.push({
      target: 'cutover: switch gap < 100 ms',
      pass: c.summary.switchGapMs.max !== null && c.summary.switchGapMs.max < 100 && c.runs.every(r => r.switchGapMs !== null),
      value: `median ${c.summary.switchGapMs.median} ms, max ${c.summary.switchGapMs.max} ms over ${c.runs.length} switches`
    })
    items.push({
      target: 'cutover: warm rollback < 2 s from process start to serving',
      pass: rbWall.length > 0 && rbWall.every(x => x !== null && x < 2000),
      value: `median ${c.summary.rollbackWallMs.median} ms, max ${c.summary.rollbackWallMs.max} ms over ${rollbacks.length} rollbacks`
    })
    items.push({
      target: 'cutover: exactly 1 SSH connection per run',
      pass: sshPerRun.length > 0 && sshPerRun.every(x => x === 1),
      value: `${sshPerRun.filter(x => x === 1).length} of ${sshPerRun.length} runs used exactly 1 (sshd log delta over the load runs: ${c.runs.reduce((a, r) => a + r.ssh.sshdAcceptedDuringRun, 0)} / ${c.runs.length} runs)`
    })
    const quiet = (results.transport?.runs ?? []).filter(r => r.kind === 'deploy' && r.route === 'direct' && r.ok).map(r => r.breakdown.overheadToSwitched)
    const quietMed = quiet.length ? [...quiet].sort((a, b) => a - b)[Math.floor((quiet.length - 1) / 2)] : null
    items.push({
      target: 'cutover: action overhead beyond pull and app boot < 1 s',
      pass: maxOverhead !== null && maxOverhead < 1000,
      value:
        `deploys under load: median ${medOverhead} ms, max ${maxOverhead} ms (process start to new version serving, minus pull and the app's own boot)` +
        (quietMed !== null ? `; without load: median ${quietMed} ms to the switch (${quiet.length} deploys)` : '')
    })
  }
  const r = results.strategies.replicas
  if (r) {
    items.push({
      target: 'replicas 3: 0 failed requests, 0 long requests and 0 WebSockets cut',
      pass: r.totals.failed === 0 && r.long.cut === 0 && r.websockets.cut === 0 && r.failedRuns.length === 0 && r.runs.length > 0,
      value: `${r.totals.failed} failed of ${r.totals.requests.toLocaleString('en-US')}; ${r.long.cut} long requests and ${r.websockets.cut} WebSockets cut over ${r.runs.length} runs${r.failedRuns.length ? `, ${r.failedRuns.length} runs FAILED` : ''}`
    })
  }
  const k = results.strategies.canary
  if (k) {
    const holds = k.split?.holds ?? []
    const worst = holds.reduce((a, h) => Math.max(a, Math.abs(h.offByPoints ?? Infinity)), 0)
    items.push({
      target: `canary: 0 failed requests; measured split within ±3 points of canary-weight ${k.split?.weight}`,
      pass: k.totals.failed === 0 && k.failedRuns.length === 0 && holds.length > 0 && worst <= 3,
      value: `${k.totals.failed} failed of ${k.totals.requests.toLocaleString('en-US')}; split ${holds.map(h => `${h.percent} %`).join(', ')} over ${holds.length} canaries (worst ${worst} points off)${k.failedRuns.length ? `, ${k.failedRuns.length} runs FAILED` : ''}`
    })
  }
  return items
}

/** JSON with objects indented but arrays of plain values (and table rows) kept on one line each. */
function toJson(value, indent = '') {
  const flat = v => v === null || typeof v !== 'object'
  if (flat(value)) return JSON.stringify(value) ?? 'null'
  const inner = indent + ' '
  if (Array.isArray(value)) {
    if (value.every(flat)) return JSON.stringify(value)
    if (value.every(v => Array.isArray(v) && v.every(flat))) return `[\n${value.map(v => inner + JSON.stringify(v)).join(',\n')}\n${indent}]`
    return `[\n${value.map(v => inner + toJson(v, inner)).join(',\n')}\n${indent}]`
  }
  const entries = Object.entries(value).filter(([, v]) => v !== undefined)
  if (!entries.length) return '{}'
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${toJson(v, inner)}`).join(',\n')}\n${indent}}`
}

/** --render FILE: writes latest.md and chart.svg again from a results JSON (no bench run). */
function render(file, out) {
  const results = JSON.parse(readFileSync(file, 'utf8'))
  writeFileSync(file, toJson(results) + '\n')
  const suffix = results.options.quick ? '-quick' : ''
  const svgName = `chart${suffix}.svg`
  writeFileSync(join(out, svgName), renderSvg(results))
  writeFileSync(join(out, `latest${suffix}.md`), renderMarkdown(results, { jsonFile: relative(out, file), svgFile: svgName }))
  log(`rendered ${relative(REPO, join(out, `latest${suffix}.md`))} and ${relative(REPO, join(out, svgName))} from ${relative(REPO, file)}`)
}

async function main() {
  const renderFrom = process.argv.indexOf('--render')
  if (renderFrom >= 0) return render(process.argv[renderFrom + 1], options().out)
  const opts = options()
  const bed = testbed()
  useSshUser(bed, opts.user)
  if (!existsSync(BUNDLE)) throw new Error('dist/index.js is missing: npm run build')
  if (!existsSync(NODE24)) throw new Error('node_modules/.bin/node (Node 24) is missing: npm ci')
  await local.ping().catch(e => {
    throw new Error(`the local Docker daemon does not answer (${e.message}): bash scripts/testbed/up.sh`)
  })
  const id = `bench-${randomBytes(3).toString('hex')}`
  const label = `cutover.bench=${id}`
  const ctx = { bed, id, label, app: id, port: await freePort() }
  cleanupTasks.push(async () => {
    const a = await removeCutoverApp(ctx.app)
    const b = await removeLabelled(label)
    log(`cleanup: removed ${[...a, ...b].length} containers (${[...a, ...b].join(', ') || 'none'}), their volumes and networks`)
  })
  const startedAt = new Date()
  const machine = await machineInfo(id)
  const cpu = cpuSampler()
  log(
    `run ${id}: ${opts.quick ? 'QUICK, ' : ''}${opts.cycles} cycles (baselines ${opts.baselineCycles}), ${machine.cores} cores, load average ${machine.loadAverageAtStart.join(' ')}, ${machine.otherRunningContainersAtStart} other containers running`
  )
  if (machine.git.distUncommittedChanges) log('note: dist/index.js has uncommitted changes in this checkout; the bench runs it as it is')

  const results = { id, startedAt: startedAt.toISOString(), options: opts, machine, strategies: {} }
  const raw = {}
  try {
    if (opts.only.includes('cutover')) raw.cutover = await benchCutover(ctx, opts)
    if (opts.only.includes('transport')) results.transport = await benchTransport(ctx, opts)
    if (raw.cutover || results.transport) {
      await removeCutoverApp(ctx.app)
      log(`removed ${ctx.app} (containers, proxies, volumes, networks)`)
    }
    if (opts.only.includes('replicas')) raw.replicas = await benchVariant(ctx, opts, 'replicas', { replicas: '3' })
    if (opts.only.includes('canary-steps'))
      raw['canary-steps'] = await benchVariant(
        ctx,
        opts,
        'canary-steps',
        {},
        {
          'canary-steps': '5 25 50',
          'canary-step-time': '5s',
          'canary-low-traffic': 'promote'
        }
      )
    if (opts.only.includes('caddy')) {
      const caddyImage = ctx.bed.CUTOVER_TEST_CADDY_IMAGE ?? `${ctx.bed.CUTOVER_TEST_REGISTRY}/cutover-test/caddy-router:2.6`
      raw.caddy = await benchVariant(ctx, opts, 'caddy', { 'proxy-type': 'caddy', 'proxy-image': caddyImage })
    }
    if (opts.only.includes('canary')) raw.canary = await benchCanary(ctx, opts)
    if (opts.only.includes('recreate')) raw.recreate = await benchBaseline('recreate', ctx, opts)
    if (opts.only.includes('script')) raw.script = await benchBaseline('script', ctx, opts)
  } finally {
    await cleanup()
  }
  for (const [name, r] of Object.entries(raw)) results.strategies[name] = summarize(name, r, cpu)
  if (raw.canary) results.strategies.canary.split = { weight: opts.canaryWeight, holds: canarySplit(raw.canary, opts.canaryWeight) }
  results.finishedAt = new Date().toISOString()
  results.checklist = checklist(results)

  // ---- write
  const out = opts.out
  mkdirSync(out, { recursive: true })
  const short = machine.git.commit?.slice(0, 7) ?? 'nogit'
  const suffix = opts.quick ? '-quick' : ''
  const jsonFile = join(out, `${startedAt.toISOString().slice(0, 10)}-${short}${suffix}.json`)
  writeFileSync(jsonFile, toJson(results) + '\n')
  const svgName = `chart${suffix}.svg`
  writeFileSync(join(out, svgName), renderSvg(results))
  writeFileSync(join(out, `latest${suffix}.md`), renderMarkdown(results, { jsonFile: relative(out, jsonFile), svgFile: svgName }))
  log(`wrote ${relative(REPO, jsonFile)}, ${relative(REPO, join(out, `latest${suffix}.md`))}, ${relative(REPO, join(out, svgName))}`)

  console.log('\nTargets (reported, not asserted):')
  for (const item of results.checklist) console.log(`  [${item.pass ? 'pass' : 'MISS'}] ${item.target}: ${item.value}`)
}

main().catch(async e => {
  console.error(`bench failed: ${e.stack ?? e.message}`)
  await cleanup()
  process.exit(1)
})

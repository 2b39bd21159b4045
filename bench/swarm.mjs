#!/usr/bin/env node
// target: swarm (issue #26) beside what Swarm users do otherwise: `docker service update
// --update-order start-first`, under the same load through every node's proxy.
//
//   node bench/swarm.mjs [--deploys 4] [--quick] [--out DIR]
//
// On the test bed's 3-node swarm (scripts/testbed/swarm.sh), two apps side by side, each 3
// replicas of the bed's app (boots in 1.5 s, drains on SIGTERM):
// - cutover: `dist/index.js` with target swarm (the colors as services, its HAProxy service on
//   every node); a first deploy without load, then --deploys deploys under load (v2, v3, v1, ...).
// - start-first: one service updated in place by Swarm (`--update-order start-first`, the CLI's
//   defaults otherwise: parallelism 1, monitor 5 s), with a Docker HEALTHCHECK so Swarm waits for
//   each new task. This kernel has no IPVS, so Swarm's routing mesh (ingress, VIPs) cannot run: the
//   service is dnsrr behind a static HAProxy on every node, with the very configuration cutover's
//   swarm proxy runs (src/proxy/swarm-proxy-config.ts, transpiled here), its route fixed to the
//   one service. The only difference between the rows is who replaces the tasks, and how.
// The load (lib/load-worker.mjs, one worker per node, to the netns node addresses only, bounded in
// time and count): 3 keep-alive connections x 25 req/s, 1 new-connection loop x 10 req/s, a 3 s
// request every second and 2 WebSockets held 4-20 s, on each node's published port.
// Everything is named bench-swarm-* and removed at the end, also on failure or Ctrl-C.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import Docker from 'dockerode'
import ts from 'typescript'
import { runAction } from './lib/action.mjs'
import { startLoad } from './lib/load.mjs'
import { testbedInputs } from '../__tests__/support/runner.mjs'
import { getBounded } from './lib/get-bounded.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const REPO = join(HERE, '..')
const argv = process.argv.slice(2)
const flag = (name, def) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : def)
const QUICK = argv.includes('--quick')
const DEPLOYS = Number(flag('deploys', QUICK ? 2 : 4))
const OUT = flag('out', join(HERE, 'results'))
const REPLICAS = 3
const GAP_MS = 3000
const log = (...a) => console.log(`[swarm ${new Date().toISOString().slice(11, 19)}]`, ...a)
const sleep = ms => new Promise(r => setTimeout(r, ms))

const bed = JSON.parse(readFileSync(join(REPO, '.testbed/env.json'), 'utf8'))
if (!bed.CUTOVER_TEST_SWARM_MANAGER) throw new Error('The swarm is not up: run "bash scripts/testbed/up.sh"')
const NODES = bed.CUTOVER_TEST_SWARM_NODES.split(' ')
const manager = new Docker({ socketPath: '/run/cutover-test-h1/docker.sock' })
const image = tag => `${bed.CUTOVER_TEST_HOSTS_IMAGE_PREFIX}:${tag}`
const auth = {
  username: bed.CUTOVER_TEST_REGISTRY_USER,
  password: bed.CUTOVER_TEST_REGISTRY_PASSWORD,
  serveraddress: bed.CUTOVER_TEST_HOSTS_IMAGE_PREFIX.split('/')[0]
}
const suffix = randomBytes(3).toString('hex')
const APP = `bench-swarm-${suffix}`
/** The start-first rows: with cutover's proxy configuration (it retries a failed connection on another task), and without its retries (as the routing mesh, which does not retry). */
const BASELINES = [
  { name: `bench-swarm-sf-${suffix}`, retries: true, label: 'start-first, proxy retrying failed connections' },
  { name: `bench-swarm-sfnr-${suffix}`, retries: false, label: 'start-first, proxy without retries (as the mesh)' }
]
const NODE24 = join(REPO, 'node_modules/.bin/node')

/** A port free on every node: not published by any service of the swarm. */
async function freeSwarmPort(taken = []) {
  const services = await manager.listServices()
  const used = new Set([...taken, ...services.flatMap(s => (s.Endpoint?.Ports ?? []).map(p => p.PublishedPort))])
  for (;;) {
    const port = 31000 + Math.floor(Math.random() * 2000)
    if (!used.has(port)) return port
  }
}

/** src/proxy/swarm-proxy-config.ts (and core/names.ts), transpiled into a temp dir. */
async function loadSwarmProxyConfig() {
  const out = mkdtempSync(join(os.tmpdir(), 'bench-swarm-src-'))
  try {
    for (const rel of ['proxy/swarm-proxy-config.ts', 'core/names.ts']) {
      const js = ts.transpileModule(readFileSync(join(REPO, 'src', rel), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }
      }).outputText
      mkdirSync(join(out, dirname(rel)), { recursive: true })
      writeFileSync(join(out, rel.replace(/\.ts$/, '.js')), js)
    }
    writeFileSync(join(out, 'package.json'), '{"type":"module"}')
    return await import(pathToFileURL(join(out, 'proxy/swarm-proxy-config.js')).href)
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- the start-first baseline

const HEALTHCHECK = {
  Test: [
    'CMD',
    '/usr/bin/node',
    '-e',
    "require('http').get({host: '127.0.0.1', port: 3000, path: '/health', timeout: 1500}, r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"
  ],
  // Lenient, so that a busy machine (a node process started per check) does not fail healthy tasks.
  Interval: 2e9,
  Timeout: 10e9,
  StartPeriod: 30e9,
  Retries: 5
}

function appServiceSpec(base, tag) {
  return {
    Name: `${base}-blue`,
    Labels: { 'bench.swarm': suffix },
    TaskTemplate: {
      ContainerSpec: { Image: image(tag), Healthcheck: HEALTHCHECK, StopGracePeriod: 35e9 },
      RestartPolicy: { Condition: 'any', Delay: 1e9 },
      Networks: [{ Target: `${base}-net` }]
    },
    Mode: { Replicated: { Replicas: REPLICAS } },
    // What `docker service update --update-order start-first` sets, with the CLI's other defaults.
    UpdateConfig: { Parallelism: 1, Delay: 0, Order: 'start-first', FailureAction: 'pause', Monitor: 5e9 },
    EndpointSpec: { Mode: 'dnsrr' }
  }
}

async function setupBaseline({ name: base, retries }, port) {
  const { renderSwarmProxyConfig, SWARM_PROXY_PORT, SWARM_CONF_DIR, SWARM_ROUTE_MAP, SWARM_VERIFY_MAP } = await loadSwarmProxyConfig()
  await manager.createNetwork({ Name: `${base}-net`, Driver: 'overlay', Attachable: true, Labels: { 'bench.swarm': suffix } })
  const files = [
    [
      `${SWARM_CONF_DIR}/haproxy.cfg`,
      proxyConfig(renderSwarmProxyConfig(base, { port: 3000, path: '/health', intervalMs: 1000, timeoutMs: 60000, passes: 1 }), retries)
    ],
    [SWARM_ROUTE_MAP, 'app be_blue\n'],
    [SWARM_VERIFY_MAP, '# unused\n']
  ]
  const configs = []
  for (const [i, [path, content]] of files.entries()) {
    const name = `${base}-cfg${i}`
    const created = await manager.createConfig({ Name: name, Labels: { 'bench.swarm': suffix }, Data: Buffer.from(content).toString('base64') })
    configs.push({ ConfigID: created.id ?? created.ID, ConfigName: name, File: { Name: path, UID: '0', GID: '0', Mode: 0o444 } })
  }
  await manager.createService(auth, appServiceSpec(base, 'v1'))
  await manager.createService(auth, {
    Name: `${base}-proxy`,
    Labels: { 'bench.swarm': suffix },
    TaskTemplate: {
      ContainerSpec: { Image: bed.CUTOVER_TEST_HOSTS_HAPROXY_IMAGE, Configs: configs },
      RestartPolicy: { Condition: 'any', Delay: 1e9 },
      Networks: [{ Target: `${base}-net` }]
    },
    Mode: { Global: {} },
    EndpointSpec: { Mode: 'dnsrr', Ports: [{ Protocol: 'tcp', TargetPort: SWARM_PROXY_PORT, PublishedPort: port, PublishMode: 'host' }] }
  })
  await untilServed(port, 'v1', 120_000)
}

/** cutover's swarm proxy configuration, or the same without its retries of a failed connection. */
function proxyConfig(cfg, retries) {
  if (retries) return cfg
  const without = cfg.replace(/^\s*(retries|option redispatch|retry-on) .*\n/gm, '')
  if (without === cfg) throw new Error('the swarm proxy configuration has no retry lines to take out')
  return without.replace('defaults\n', 'defaults\n  retries 0\n')
}

/** `docker service update --image` as the CLI sends it; resolves when Swarm says the update completed (or paused it). */
async function startFirstUpdate(base, tag) {
  const service = manager.getService(`${base}-blue`)
  const before = await service.inspect()
  const started = Date.now()
  await service.update({ ...appServiceSpec(base, tag), _query: { version: before.Version.Index }, authconfig: auth })
  for (;;) {
    const status = (await service.inspect()).UpdateStatus ?? {}
    // paused: a new task failed (FailureAction pause, the CLI's default); the service stays half updated.
    if (status.State === 'completed' || status.State === 'paused' || Date.now() - started > 300_000)
      return { ms: Date.now() - started, state: status.State ?? 'none', ...(status.Message ? { message: status.Message } : {}) }
    await sleep(250)
  }
}

// ---------------------------------------------------------------- cutover

function cutoverInputs(port, tag) {
  return {
    ...testbedInputs(bed, APP, port),
    host: NODES[0],
    port: '22',
    'known-hosts': bed.CUTOVER_TEST_HOSTS_KNOWN_HOSTS,
    'proxy-type': 'haproxy',
    'proxy-image': bed.CUTOVER_TEST_HOSTS_HAPROXY_IMAGE,
    target: 'swarm',
    replicas: String(REPLICAS),
    'health-timeout': '90s',
    image: image(tag)
  }
}

async function cutoverDeploy(port, tag) {
  const run = await runAction({
    node: existsSync(NODE24) ? NODE24 : process.execPath,
    bundle: join(REPO, 'dist/index.js'),
    cwd: REPO,
    inputs: cutoverInputs(port, tag),
    sshPort: 22
  })
  if (run.code !== 0) throw new Error(`cutover's deploy of ${tag} failed: ${run.errors.join(' ') || run.stderr.slice(0, 400)}`)
  return { ms: Math.round(run.ms), spreadMs: Number(run.outputs['switch-spread-ms']), result: run.outputs.result }
}

// ---------------------------------------------------------------- load and figures

async function untilServed(port, version, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const bodies = await Promise.all(
      NODES.map(n =>
        getBounded(`http://${n}:${port}/`, 3000)
          .then(r => r.body)
          .catch(() => '')
      )
    )
    if (bodies.every(b => b.trim() === version)) return
    if (Date.now() > deadline) throw new Error(`not every node serves ${version} on port ${port}: ${bodies.map(b => b.trim()).join(', ')}`)
    await sleep(500)
  }
}

function loadEveryNode(port) {
  return NODES.map(n =>
    startLoad(`http://${n}:${port}/`, {
      ka: { connections: 3, rate: 25 },
      nc: { loops: 1, rate: 10 },
      slow: { everyMs: 1000, ms: 3000 },
      ws: { count: 2, minLifeMs: 4000, maxLifeMs: 20000 },
      maxMs: 20 * 60_000,
      maxRequests: 500_000,
      allowHosts: [n]
    })
  )
}

/** What the loads of every node saw: requests, failed ones by kind and a few samples, long requests and WebSockets cut. */
function figures(results) {
  const out = { requests: 0, failed: 0, non2xx: 0, socketErrors: 0, slow: 0, slowFailed: 0, websockets: 0, websocketsCut: 0, samples: [], perNode: [] }
  for (const [i, r] of results.entries()) {
    const failed = r.short.res.filter(x => x !== 0).length
    out.requests += r.short.res.length
    out.failed += failed
    out.non2xx += r.short.res.filter(x => x === 1).length
    out.socketErrors += r.short.res.filter(x => x === 2).length
    out.slow += r.slow.length
    out.slowFailed += r.slow.filter(s => s.res && s.res !== 'ok').length
    out.websockets += r.sockets.filter(s => s.opened).length
    out.websocketsCut += r.sockets.filter(s => s.how === 'cut').length
    for (const e of r.errorSamples) if (out.samples.length < 8 && !out.samples.some(s => s.error === e.error)) out.samples.push({ node: NODES[i], ...e })
    out.perNode.push({ node: NODES[i], requests: r.short.res.length, failed })
  }
  return out
}

async function underLoad(port, deploys, deployOne) {
  const loads = loadEveryNode(port)
  const runs = []
  let results
  try {
    await sleep(GAP_MS)
    const tags = ['v2', 'v3', 'v1']
    for (let i = 0; i < deploys; i++) {
      const tag = tags[i % tags.length]
      const run = await deployOne(tag)
      log(`  ${tag}: ${JSON.stringify(run)}`)
      // (an update Swarm paused may never serve it everywhere: noted, and the next one goes on)
      const served = await untilServed(port, tag, 60_000).then(
        () => true,
        e => (log(`  ${e.message}`), false)
      )
      runs.push({ tag, ...run, served })
      await sleep(GAP_MS)
    }
  } finally {
    results = await Promise.all(loads.map(l => l.stop()))
  }
  return { runs, ...figures(results) }
}

// ---------------------------------------------------------------- cleanup and report

async function cleanup() {
  for (const name of [`${APP}-blue`, `${APP}-green`, `${APP}-proxy`, ...BASELINES.flatMap(b => [`${b.name}-blue`, `${b.name}-proxy`])])
    await manager
      .getService(name)
      .remove()
      .catch(() => undefined)
  await manager
    .getContainer(`${APP}-proxy-switch`)
    .remove({ force: true })
    .catch(() => undefined)
  for (const net of [`cutover-${APP}`, ...BASELINES.map(b => `${b.name}-net`)])
    for (let i = 0; i < 40; i++) {
      const err = await manager
        .getNetwork(net)
        .remove()
        .then(
          () => undefined,
          e => e
        )
      if (!err || err.statusCode === 404) break
      await sleep(500)
    }
  const configs = [
    ...(await manager.listConfigs({ filters: { label: [`cutover.app=${APP}`] } })),
    ...(await manager.listConfigs({ filters: { label: [`bench.swarm=${suffix}`] } }))
  ]
  for (const c of configs)
    await manager
      .getConfig(c.ID)
      .remove()
      .catch(() => undefined)
  const home = '/var/lib/cutover-test-h1/home/.cutover'
  rmSync(join(home, 'apps', APP), { recursive: true, force: true })
  rmSync(join(home, 'locks', `${APP}.lock`), { force: true })
}

function markdown(report) {
  const row = r =>
    `| ${r.label} | ${r.runs.length}${r.runs.some(x => x.state === 'paused') ? ` (${r.runs.filter(x => x.state === 'paused').length} paused by Swarm)` : ''} | ${r.requests.toLocaleString('en-US')} | **${r.failed}** (${r.non2xx} non-2xx, ${r.socketErrors} socket errors) | ${r.slowFailed} of ${r.slow} | ${r.websocketsCut} of ${r.websockets} | ${(median(r.runs.map(x => x.ms)) / 1000).toFixed(1)} s |`
  const failures = r => (r.samples.length ? `\n${r.label}, first failure of each kind:\n\n${r.samples.map(s => `- ${s.node}: ${s.error}`).join('\n')}\n` : '')
  return `# Swarm: cutover's switch vs \`docker service update --update-order start-first\`

Commit ${report.commit}, ${report.date}, ${report.machine}. \`node bench/swarm.mjs --deploys ${report.deploys}\`.
3-node swarm of netns dockerds (scripts/testbed/swarm.sh), ${report.replicas} replicas of the bed's app
(boots in 1.5 s, drains on SIGTERM), load through every node's published port (per node: 3
keep-alive connections x 25 req/s, 1 new-connection loop x 10 req/s, a 3 s request every second,
2 WebSockets held 4-20 s). The kernel here has no IPVS, so Swarm's routing mesh cannot run: each
start-first service is dnsrr behind a static HAProxy on every node with the configuration
cutover's swarm proxy runs (health checks every second), its route fixed to that service; the
second one without its retries of a failed connection on another task (the mesh does not retry).

| strategy | deploys | requests | failed | long requests (3 s) failed | WebSockets cut | deploy time (median) |
|---|---|---|---|---|---|---|
${report.rows.map(row).join('\n')}

cutover's proxy tasks switched within ${report.rows[0].runs.map(r => r.spreadMs).join(', ')} ms of each other (switch-spread-ms, per deploy).
${report.rows.map(failures).join('')}`
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)] : 0
}

async function main() {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).toString().trim()
  process.on('SIGINT', () => cleanup().finally(() => process.exit(130)))
  try {
    const cutPort = await freeSwarmPort()
    log(`cutover: ${APP} on port ${cutPort}; first deploy (v1, no load)`)
    await cutoverDeploy(cutPort, 'v1')
    await untilServed(cutPort, 'v1', 60_000)
    log(`cutover: ${DEPLOYS} deploys under load`)
    const rows = [{ label: 'cutover (target: swarm)', ...(await underLoad(cutPort, DEPLOYS, tag => cutoverDeploy(cutPort, tag))) }]
    log(`cutover: ${rows[0].failed} failed of ${rows[0].requests}`)
    for (const baseline of BASELINES) {
      const port = await freeSwarmPort([cutPort])
      log(`${baseline.label}: ${baseline.name} on port ${port}, the service and its static proxy (v1, no load)`)
      await setupBaseline(baseline, port)
      log(`${baseline.label}: ${DEPLOYS} updates under load`)
      rows.push({ label: baseline.label, ...(await underLoad(port, DEPLOYS, tag => startFirstUpdate(baseline.name, tag))) })
      log(`${baseline.label}: ${rows.at(-1).failed} failed of ${rows.at(-1).requests}`)
    }
    const date = new Date().toISOString().slice(0, 10)
    const report = { commit, date, machine: `${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`, deploys: DEPLOYS, replicas: REPLICAS, rows }
    mkdirSync(OUT, { recursive: true })
    const tag = QUICK ? '-quick' : ''
    writeFileSync(join(OUT, `swarm-${date}-${commit}${tag}.json`), JSON.stringify(report, null, 1))
    writeFileSync(join(OUT, `swarm${tag}-latest.md`), markdown(report))
    console.log(markdown(report))
  } finally {
    await cleanup()
  }
}

await main()

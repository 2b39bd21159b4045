// Proxy designs for issue #15 (steady-state cost of the proxy, and whether a switch drops
// nothing), each built as real containers on the local dockerd of the test bed.
//
// Every name created here starts with `pd-` (containers, the network, volumes); teardown()
// removes them all. The nginx configs of cutover's current two tiers are rendered by the real
// src/proxy/nginx-config.ts (transpiled on the fly), and each candidate is that config plus a
// small, visible delta (see CANDIDATE_DELTAS), so the figures follow src/ as it changes.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'
import tar from 'tar-stream'
import { docker, ensureImage } from './docker.mjs'
import { getBounded } from './get-bounded.mjs'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const NGINX_IMAGE = process.env.CUTOVER_TEST_PROXY_IMAGE ?? '127.0.0.1:5000/cutover-test/nginx:1.22'
export const APP_REPO = process.env.CUTOVER_TEST_IMAGE_PREFIX ?? '127.0.0.1:5000/cutover-test/app'
export const HAPROXY_IMAGE = 'cutover-test/haproxy:2.6'
/** Debian 13's builds (scripts/testbed/trixie-images.sh): HAProxy 3.0 as users get by default, and the nginx to compare it with, both on OpenSSL 3.5. */
export const HAPROXY_D13_IMAGE = 'cutover-test/haproxy:3.0'
export const NGINX_D13_IMAGE = 'cutover-test/nginx:1.26'
export const NET = 'pd-net'
export const APP = 'pd-app'
export const APP2 = 'pd-app2'
const APP_PORT = 3000
const CONF_DIR = '/etc/nginx/conf.d'

// ---------------------------------------------------------------- cutover's real configs
/** Transpiles src/proxy/nginx-config.ts and what it imports into a temp dir and imports it. */
export async function loadNginxConfig() {
  const out = mkdtempSync(join(os.tmpdir(), 'pd-src-'))
  for (const rel of ['proxy/nginx-config.ts', 'engine/names.ts', 'engine/state.ts']) {
    const src = readFileSync(join(REPO, 'src', rel), 'utf8')
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
    mkdirSync(join(out, dirname(rel)), { recursive: true })
    writeFileSync(join(out, rel.replace(/\.ts$/, '.js')), js)
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}')
  return import(pathToFileURL(join(out, 'proxy/nginx-config.js')).href)
}

function replaceOnce(text, from, to, what) {
  if (!text.includes(from)) throw new Error(`cannot apply "${what}": src/proxy/nginx-config.ts no longer renders ${JSON.stringify(from)}`)
  return text.replace(from, to)
}
function replaceAll(text, from, to, what) {
  if (!text.includes(from)) throw new Error(`cannot apply "${what}": src/proxy/nginx-config.ts no longer renders ${JSON.stringify(from)}`)
  return text.split(from).join(to)
}

/**
 * The candidates' deltas to cutover's current two-tier config, as functions of the rendered
 * text. `keepalive`: the edge keeps connections to the switch and retries a request that fails
 * on a cached one (nginx grants a failed cached keep-alive connection one extra try); `unix`:
 * the tiers talk over a Unix socket in a shared volume.
 */
export const CANDIDATE_DELTAS = {
  keepaliveEdgeCommon: t => {
    t = replaceOnce(t, "'' close;", "'' '';", 'keep-alive: no Connection: close to the switch')
    t = replaceOnce(
      t,
      'max_fails=0;\n}',
      'max_fails=0;\n  # keep-alive to the switch: a connection a switch reload closes is retired by nginx;\n' +
        '  # a request that fails on such a cached connection is tried again on a fresh one.\n' +
        '  keepalive 64;\n  keepalive_requests 100000;\n  keepalive_timeout 60s;\n}',
      'keep-alive: upstream keepalive'
    )
    return t
  },
  keepaliveEdgeRoute: (t, nonIdempotent = true) =>
    replaceOnce(
      t,
      '    proxy_read_timeout 1h;',
      '    # default "error timeout": a request that fails on a cached connection gets one more try;\n' +
        '    # POST/PATCH/LOCK only with non_idempotent (a switch reload never read them: see bench/PROXY-DESIGN.md)\n' +
        `    proxy_next_upstream error timeout${nonIdempotent ? ' non_idempotent' : ''};\n    proxy_read_timeout 1h;`,
      'keep-alive: retry'
    ),
  keepaliveSwitchCommon: t => `keepalive_requests 100000;\n${t}`,
  unix: (t, sock) => replaceAll(t, 'listen 8080', `listen unix:${sock}`, 'unix socket listen'),
  unixUpstream: (t, switchName, sock) => replaceOnce(t, `server ${switchName}:8080`, `server unix:${sock}`, 'unix socket upstream')
}

// ---------------------------------------------------------------- docker helpers
export async function putFile(container, dir, name, content) {
  const pack = tar.pack()
  pack.entry({ name, mode: 0o644 }, content)
  pack.finalize()
  const chunks = []
  for await (const c of pack) chunks.push(c)
  await docker(['cp', '-', `${container}:${dir}`], { input: Buffer.concat(chunks) })
}

// (the docker CLI rather than dockerode: a dockerode call here once left a promise that never
// settled, and the process exited silently with nothing left to wait for)
async function inspect(name) {
  return JSON.parse((await docker(['inspect', '--type', 'container', name])).stdout)[0]
}

export async function containerId(name) {
  return (await inspect(name)).Id
}

export async function publishedPort(name, port) {
  const info = await inspect(name)
  return Number(info.NetworkSettings.Ports[`${port}/tcp`][0].HostPort)
}

export async function ipOf(name) {
  const info = await inspect(name)
  return info.NetworkSettings.Networks[NET].IPAddress
}

async function run(name, image, { publish, volumes = [], env = [], cmd = [] } = {}) {
  const args = ['run', '-d', '--name', name, '--network', NET, '--label', 'cutover-pd=1']
  if (publish) args.push('-p', `127.0.0.1::${publish}`)
  for (const v of volumes) args.push('-v', v)
  for (const e of env) args.push('-e', e)
  args.push(image, ...cmd)
  await docker(args)
}

export async function nginxExec(container, args) {
  return docker(['exec', container, '/usr/sbin/nginx', ...args], { allowFail: true })
}

async function nginxTestReload(container) {
  const t = await nginxExec(container, ['-t'])
  if (t.code !== 0) throw new Error(`nginx -t in ${container}: ${t.stderr}`)
  await docker(['kill', '-s', 'HUP', container])
}

async function createNginx(name, files, opts) {
  await docker([
    'create',
    '--name',
    name,
    '--network',
    NET,
    '--label',
    'cutover-pd=1',
    ...(opts.publish ? ['-p', `127.0.0.1::${opts.publish}`] : []),
    ...(opts.volumes ?? []).flatMap(v => ['-v', v]),
    opts.image ?? NGINX_IMAGE
  ])
  await putFile(name, CONF_DIR, 'default.conf', '# disabled\n')
  for (const [file, text] of Object.entries(files)) await putFile(name, CONF_DIR, file, text)
  await docker(['start', name])
  const t = await nginxExec(name, ['-t'])
  if (t.code !== 0) throw new Error(`nginx -t in ${name}: ${t.stderr}`)
}

export async function waitHttp(port, { path = '/', expect, timeoutMs = 15000 } = {}) {
  const until = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < until) {
    try {
      const res = await getBounded(`http://127.0.0.1:${port}${path}`, 2000)
      last = `${res.status} ${res.body.trim()}`
      if (res.ok && (!expect || last.endsWith(expect))) return last
    } catch (e) {
      last = String(e.cause?.code ?? e.message)
    }
    await new Promise(r => setTimeout(r, 100))
  }
  throw new Error(`127.0.0.1:${port}${path} did not answer ${expect ?? '2xx'} within ${timeoutMs} ms (last: ${last})`)
}

// ---------------------------------------------------------------- HAProxy
/** The HAProxy single tier: one backend per app, blue and green servers, the idle one disabled. */
export function haproxyConfig({
  apps = [APP],
  live = { [APP]: 'blue' },
  idleCloseOnResponse = true,
  httpReuse = 'always',
  poolPurge = true,
  nbthread,
  logging = false,
  bufsize
} = {}) {
  const be = app => `app_${app.replace(/-/g, '_')}`
  const backends = apps
    .map(app => {
      const servers = ['blue', 'green'].map(c => {
        const idle = live[app] !== c
        // by name, resolved by Docker's DNS at run time: a missing container is a server in
        // maintenance (503 for that app), never a proxy that cannot start.
        return `  server ${c} ${app}-${c}:${APP_PORT} resolvers docker init-addr last,libc,none${idle ? ' disabled' : ''}`
      })
      return `backend ${be(app)}
  # which color answered (cutover's verify probe reads it)
  http-response set-header X-Cutover-Color %[srv_name]
${servers.join('\n')}
`
    })
    .join('\n')
  const hosts = apps
    .slice(1)
    .map(app => `  use_backend ${be(app)} if { req.hdr(host),lower,field(1,:) -m str ${app}.example }`)
    .join('\n')
  return `# cutover proxy (design study, issue #15): one HAProxy tier, switched through the runtime API
global
  maxconn 8000
${nbthread ? `  nbthread ${nbthread}\n` : ''}${bufsize ? `  tune.bufsize ${bufsize}\n` : ''}${logging ? '  log stdout format raw local0\n' : ''}  # the runtime API, in a volume: reached from the host (or over SSH stream-local forwarding)
  stats socket /var/run/haproxy/admin.sock mode 600 level admin expose-fd listeners
  stats timeout 1m
  # an old process after a reload (adding an app) keeps WebSockets at most this long
  hard-stop-after 35s

defaults
  mode http
${logging ? '  log global\n  option httplog\n' : ''}  ${idleCloseOnResponse ? '' : 'no '}option idle-close-on-response
  timeout connect 5s
  timeout client 65s
  timeout http-keep-alive 65s
  timeout http-request 30s
  timeout server 1h
  timeout tunnel 1h
  timeout client-fin 5s
  # a client's first request may take an idle connection to the app that already served one
  # ("safe", the default, opens a new one for it: every Connection: close client cost a connect)
  http-reuse ${httpReuse}
  # idle connections to the apps are closed within ~1 s of no use, well before a Node app's 5 s
  # keepAliveTimeout, so reuse does not race the app closing them
  ${poolPurge ? 'default-server pool-purge-delay 1s' : ''}

resolvers docker
  nameserver dns 127.0.0.11:53
  hold valid 10s
  hold nx 2s
  timeout resolve 1s
  timeout retry 1s

frontend web
  bind :80
${hosts}
  default_backend ${be(apps[0])}

${backends}`
}

export function haproxySocketPath(name = 'pd-hap') {
  const mp = execFileSync('docker', ['volume', 'inspect', '-f', '{{.Mountpoint}}', `${name}-run`])
    .toString()
    .trim()
  return join(mp, 'admin.sock')
}

/** Sends one line of runtime API commands (`;`-separated) and returns the answer. */
export function haproxyCommand(line, socketPath = haproxySocketPath()) {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath)
    let out = ''
    s.setTimeout(5000, () => s.destroy(new Error(`runtime API timeout: ${line}`)))
    s.on('connect', () => s.end(line + '\n'))
    s.on('data', d => (out += d))
    s.on('end', () => resolve(out.trim()))
    s.on('error', reject)
  })
}

// ---------------------------------------------------------------- the variants
/**
 * Each variant: { name, label, containers: proxy containers (for CPU/memory), port (loopback),
 * switchTo(color)?, addApp()? }. `apps` starts the app containers once for all variants.
 */
export async function setupApps({ green = true, app2 = false } = {}) {
  // other tests remove local copies to make pulls real: pull what is missing, with the test bed's credentials
  const auth = { username: process.env.CUTOVER_TEST_REGISTRY_USER, password: process.env.CUTOVER_TEST_REGISTRY_PASSWORD, serveraddress: APP_REPO.split('/')[0] }
  for (const image of [`${APP_REPO}:v1`, `${APP_REPO}:v2`, `${APP_REPO}:v3`, NGINX_IMAGE]) await ensureImage(image, auth)
  await docker(['network', 'create', NET, '--label', 'cutover-pd=1'], { allowFail: true })
  const env = ['BOOT_DELAY_MS=0']
  await run(`${APP}-blue`, `${APP_REPO}:v1`, { publish: APP_PORT, env })
  if (green) await run(`${APP}-green`, `${APP_REPO}:v2`, { env })
  if (app2) {
    await run(`${APP2}-blue`, `${APP_REPO}:v3`, { env })
  }
  const port = await publishedPort(`${APP}-blue`, APP_PORT)
  await waitHttp(port, { expect: 'v1' })
  return { name: 'direct', label: '(a) app container directly', containers: [], port, app: [`${APP}-blue`] }
}

/** One nginx hop; `d13`: Debian 13's nginx 1.26 (scripts/testbed/trixie-images.sh) instead of the bed's 1.22. */
export async function setupSingle({ d13 = false } = {}) {
  const name = d13 ? 'pd-single-d13' : 'pd-single'
  const conf = `upstream app {
  server ${APP}-blue:${APP_PORT} max_fails=0;
  keepalive 64;
}
server {
  listen 80;
  location / {
    proxy_pass http://app;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
  }
}
`
  await createNginx(name, { 'single.conf': conf }, { publish: 80, image: d13 ? NGINX_D13_IMAGE : undefined })
  const port = await publishedPort(name, 80)
  await waitHttp(port, { expect: 'v1' })
  const label = d13 ? "(b') one nginx 1.26 hop (Debian 13, OpenSSL 3.5), upstream keepalive 64" : '(b) one nginx hop, upstream keepalive 64'
  return { name: d13 ? 'single-d13' : 'single', label, containers: [name], port, configs: { 'single.conf': conf } }
}

/**
 * cutover's two tiers, as src/ renders them, or a candidate delta of it.
 * kind: 'current' | 'keepalive' | 'unix' | 'unix-keepalive'
 */
export async function setupTwoTier(cfg, kind, prefix) {
  const edge = `${prefix}-edge`
  const sw = `${prefix}-switch`
  const unix = kind.startsWith('unix')
  const ka = kind.includes('keepalive')
  const nonIdempotent = kind !== 'keepalive-idempotent-only'
  const vol = `${prefix}-sock`
  const sock = '/run/cutover/switch.sock'
  const volumes = unix ? [`${vol}:/run/cutover`] : []
  const deployedAt = new Date().toISOString()
  const render = {
    edgeCommon: () => {
      let t = cfg.edgeCommonConfig(sw)
      if (unix) t = CANDIDATE_DELTAS.unixUpstream(t, sw, sock)
      if (ka) t = CANDIDATE_DELTAS.keepaliveEdgeCommon(t)
      return t
    },
    edgeRoute: app => {
      let t = cfg.renderEdgeConfig(app, app === APP ? [] : [`${app}.example`])
      if (ka) t = CANDIDATE_DELTAS.keepaliveEdgeRoute(t, nonIdempotent)
      return t
    },
    switchCommon: () => {
      let t = cfg.SWITCH_COMMON_CONFIG
      if (unix) t = CANDIDATE_DELTAS.unix(t, sock)
      if (ka) t = CANDIDATE_DELTAS.keepaliveSwitchCommon(t)
      return t
    },
    switchRoute: (app, color) => {
      let t = cfg.renderSwitchConfig({ state: { app, color, image: `${APP_REPO}:${color === 'blue' ? 'v1' : 'v2'}`, deployedAt }, appPort: APP_PORT })
      if (unix) t = CANDIDATE_DELTAS.unix(t, sock)
      return t
    }
  }
  const swFiles = { [cfg.COMMON_CONFIG_FILE]: render.switchCommon(), [cfg.appConfigFile(APP)]: render.switchRoute(APP, 'blue') }
  const edgeFiles = { [cfg.COMMON_CONFIG_FILE]: render.edgeCommon(), [cfg.appConfigFile(APP)]: render.edgeRoute(APP) }
  await createNginx(sw, swFiles, { volumes })
  await createNginx(edge, edgeFiles, { publish: 80, volumes })
  const port = await publishedPort(edge, 80)
  await waitHttp(port, { expect: 'v1' })
  const labels = {
    current: '(c) cutover today: edge -> switch, new TCP connection per request',
    keepalive: '(d1) two tiers, keep-alive edge -> switch, retry on a cached connection',
    unix: '(d2) two tiers over a Unix socket, new connection per request',
    'unix-keepalive': '(d3) two tiers over a Unix socket with keep-alive + retry',
    'keepalive-idempotent-only': '(d1 without non_idempotent) keep-alive edge -> switch, POST not retried'
  }
  return {
    name: kind,
    label: labels[kind],
    containers: [edge, sw],
    port,
    configs: { edge: edgeFiles, switch: swFiles },
    /** cutover's switch: rewrite the app's switch route, nginx -t, SIGHUP. */
    async switchTo(color) {
      await putFile(sw, CONF_DIR, cfg.appConfigFile(APP), render.switchRoute(APP, color))
      await nginxTestReload(sw)
    },
    /** A second app: its route on the switch, then its domain on the edge (both reloaded). */
    async addApp(app = APP2) {
      await putFile(sw, CONF_DIR, cfg.appConfigFile(app), render.switchRoute(app, 'blue'))
      await nginxTestReload(sw)
      await putFile(edge, CONF_DIR, cfg.appConfigFile(app), render.edgeRoute(app))
      await nginxTestReload(edge)
    },
    async removeApp(app = APP2) {
      await putFile(edge, CONF_DIR, cfg.appConfigFile(app), '# removed\n')
      await nginxTestReload(edge)
      await putFile(sw, CONF_DIR, cfg.appConfigFile(app), '# removed\n')
      await nginxTestReload(sw)
    }
  }
}

export async function setupHaproxy({ idleCloseOnResponse = true, name = 'pd-hap', variant, label, settings = {} } = {}) {
  await docker(['volume', 'create', `${name}-run`], { allowFail: true })
  await docker(['volume', 'create', `${name}-conf`], { allowFail: true })
  const confDir = execFileSync('docker', ['volume', 'inspect', '-f', '{{.Mountpoint}}', `${name}-conf`])
    .toString()
    .trim()
  const state = { apps: [APP], live: { [APP]: 'blue' }, idleCloseOnResponse, ...settings }
  const write = () => writeFileSync(join(confDir, 'haproxy.cfg'), haproxyConfig(state))
  write()
  await run(name, HAPROXY_IMAGE, { publish: 80, volumes: [`${name}-run:/var/run/haproxy`, `${name}-conf:/usr/local/etc/haproxy`] })
  const port = await publishedPort(name, 80)
  await waitHttp(port, { expect: 'v1' })
  const sock = haproxySocketPath(name)
  const be = app => `app_${app.replace(/-/g, '_')}`
  const reload = async () => {
    // haproxy -c first (a bad config must not reach the master), then SIGUSR2 to the master
    const c = await docker(['exec', name, '/usr/sbin/haproxy', '-c', '-q', '-f', '/usr/local/etc/haproxy/haproxy.cfg'], { allowFail: true })
    if (c.code !== 0) throw new Error(`haproxy -c: ${c.stderr}`)
    await docker(['kill', '-s', 'USR2', name])
  }
  return {
    name: variant ?? (idleCloseOnResponse ? 'haproxy' : 'haproxy-no-icor'),
    label: label ?? '(d4) one HAProxy 2.6 tier, switched through its runtime API (no reload)',
    containers: [name],
    port,
    configs: { 'haproxy.cfg': haproxyConfig(state) },
    sock,
    /** The config file records the live color (for a restart); the runtime API applies it now. */
    async switchTo(color, app = APP) {
      const old = color === 'blue' ? 'green' : 'blue'
      state.live[app] = color
      write()
      const out = await haproxyCommand(`set server ${be(app)}/${color} state ready; set server ${be(app)}/${old} state drain`, sock)
      if (out) throw new Error(`runtime API: ${out}`)
    },
    /** A second app is a new backend: config change + graceful reload (master-worker, SIGUSR2). */
    async addApp(app = APP2) {
      state.apps.push(app)
      state.live[app] = 'blue'
      write()
      await reload()
    },
    async removeApp(app = APP2) {
      state.apps = state.apps.filter(a => a !== app)
      write()
      await reload()
    },
    reload
  }
}

export const CADDY_IMAGE = 'cutover-test/caddy-router:2.6'

/**
 * (d5) one Caddy 2.6 tier (proxy-type caddy, issue #23), its route as src/proxy/caddy-config.ts
 * renders it for one app: a verify rule that no benchmark request matches, then reverse_proxy to
 * the live color. Loaded from a file at start (switches go through the admin API in the e2e test).
 */
export async function setupCaddy({ name = 'pd-caddy' } = {}) {
  const proxy = {
    handler: 'reverse_proxy',
    upstreams: [{ dial: `${APP}-blue:${APP_PORT}` }],
    load_balancing: { selection_policy: { policy: 'round_robin' }, try_duration: '2s' },
    health_checks: { passive: { fail_duration: '10s' } },
    headers: { response: { delete: ['x-cutover-release'] } }
  }
  const verify = {
    match: [{ header: { 'x-cutover-verify': ['bench-token'] } }],
    handle: [{ handler: 'headers', response: { set: { 'x-cutover-release': ['bench'] }, deferred: true } }]
  }
  const config = {
    apps: {
      http: {
        grace_period: '30s',
        servers: {
          cutover: {
            listen: [':80'],
            automatic_https: { disable: true },
            routes: [
              {
                handle: [
                  { handler: 'vars', cutover_route: '{}' },
                  { handler: 'subroute', routes: [verify, { handle: [proxy] }] }
                ],
                terminal: true
              }
            ]
          }
        }
      }
    }
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'pd-caddy-'))
  writeFileSync(join(dir, 'caddy.json'), JSON.stringify(config))
  await run(name, CADDY_IMAGE, { publish: 80, volumes: [`${join(dir, 'caddy.json')}:/etc/caddy/caddy.json:ro`] })
  const port = await publishedPort(name, 80)
  await waitHttp(port, { expect: 'v1' })
  return {
    name: 'caddy',
    label: '(d5) one Caddy 2.6 tier (proxy-type caddy)',
    containers: [name],
    port,
    configs: { 'caddy.json': JSON.stringify(config, null, 2) }
  }
}

export async function teardown() {
  const { stdout } = await docker(['ps', '-aq', '--filter', 'label=cutover-pd=1'], { allowFail: true })
  const ids = stdout.split('\n').filter(Boolean)
  if (ids.length) await docker(['rm', '-f', ...ids], { allowFail: true })
  const vols = (await docker(['volume', 'ls', '-q', '--filter', 'name=^pd-'], { allowFail: true })).stdout.split('\n').filter(v => /^pd-/.test(v))
  if (vols.length) await docker(['volume', 'rm', '-f', ...vols], { allowFail: true })
  await docker(['network', 'rm', NET], { allowFail: true })
}

// ---------------------------------------------------------------- cgroup (v1 and v2) figures
function cgRead(paths) {
  for (const p of paths) {
    try {
      return readFileSync(p, 'utf8')
    } catch {}
  }
  return undefined
}
/** CPU time (ns) and memory (bytes, without inactive file cache, as `docker stats` counts) of a container. */
export function cgroupSample(id) {
  const cpu = cgRead([`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`])
  let cpuNs = cpu ? Number(cpu.trim()) : undefined
  if (cpuNs === undefined) {
    const st = cgRead([`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, `/sys/fs/cgroup/docker/${id}/cpu.stat`])
    const m = st && /usage_usec (\d+)/.exec(st)
    if (m) cpuNs = Number(m[1]) * 1000
  }
  let mem
  const usage = cgRead([`/sys/fs/cgroup/memory/docker/${id}/memory.usage_in_bytes`])
  const stat = cgRead([`/sys/fs/cgroup/memory/docker/${id}/memory.stat`])
  if (usage) {
    const inactive = stat && /^total_inactive_file (\d+)/m.exec(stat)
    mem = Number(usage.trim()) - (inactive ? Number(inactive[1]) : 0)
  } else {
    const cur = cgRead([`/sys/fs/cgroup/system.slice/docker-${id}.scope/memory.current`, `/sys/fs/cgroup/docker/${id}/memory.current`])
    const st2 = cgRead([`/sys/fs/cgroup/system.slice/docker-${id}.scope/memory.stat`, `/sys/fs/cgroup/docker/${id}/memory.stat`])
    const inactive = st2 && /^inactive_file (\d+)/m.exec(st2)
    if (cur) mem = Number(cur.trim()) - (inactive ? Number(inactive[1]) : 0)
  }
  return { t: performance.now(), cpuNs, mem }
}

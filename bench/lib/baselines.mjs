// What users' shell scripts do today, driven with the local docker CLI, behind one plain nginx
// (same image as cutover's proxy). Their failures are what they are: nothing here tries to help.
//
// recreate: `docker stop` + `docker rm` the app, `docker run` the new version under the same name
//           (what `docker compose up -d` does). nginx points at the name through Docker's DNS
//           (resolver 127.0.0.11 valid=1s), so it follows the new container by itself.
// script:   start the new version beside the old one, sleep a fixed 5 s, rewrite the nginx
//           upstream to it and `nginx -s reload`, then stop the old one at once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { docker, reloadTimes } from './docker.mjs'
import { now } from './action.mjs'
import { getBounded } from './get-bounded.mjs'

const sleep = ms => new Promise(r => setTimeout(r, ms))
const NGINX = '/usr/sbin/nginx'

const COMMON = `map $http_upgrade $connection_upgrade {
  default upgrade;
  '' close;
}
`
const LOCATION = `    proxy_http_version 1.1;
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    proxy_read_timeout 1h;
`

function recreateConfig(appName) {
  return `# bench baseline "recreate": nginx follows the container name through Docker's DNS
${COMMON}resolver 127.0.0.11 valid=1s ipv6=off;
server {
  listen 80 default_server;
  location / {
    set $app_upstream http://${appName}:3000;
    proxy_pass $app_upstream;
${LOCATION}  }
}
`
}

function scriptConfig(target) {
  return `# bench baseline "script": the upstream is rewritten and nginx reloaded at each switch
${COMMON}upstream app {
  server ${target}:3000;
}
server {
  listen 80 default_server;
  location / {
    proxy_pass http://app;
${LOCATION}  }
}
`
}

async function putConfig(proxy, text) {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-bench-nginx-'))
  try {
    const file = join(dir, 'default.conf')
    writeFileSync(file, text)
    await docker(['cp', file, `${proxy}:/etc/nginx/conf.d/default.conf`])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function waitServing(port, timeoutMs = 30000) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    try {
      const res = await getBounded(`http://127.0.0.1:${port}/`, 2000, { connection: 'close' })
      if (res.ok) return res.body.trim()
    } catch {}
    await sleep(100)
  }
  throw new Error(`the baseline proxy on port ${port} did not serve within ${timeoutMs} ms`)
}

function runArgs(name, network, label, image) {
  return ['run', '-d', '--name', name, '--network', network, '--label', label, image]
}

/** Names a baseline creates, all with the bench run's prefix and label (for cleanup). */
export function baselineNames(prefix, kind) {
  const base = `${prefix}-${kind}`
  return { network: `${base}-net`, proxy: `${base}-proxy`, app: `${base}-app`, blue: `${base}-blue`, green: `${base}-green` }
}

export async function setupRecreate({ prefix, label, port, proxyImage, image }) {
  const n = baselineNames(prefix, 'recreate')
  await docker(['network', 'create', '--label', label, n.network])
  await docker(runArgs(n.app, n.network, label, image))
  await docker(['create', '--name', n.proxy, '--network', n.network, '--label', label, '-p', `127.0.0.1:${port}:80`, proxyImage])
  await putConfig(n.proxy, recreateConfig(n.app))
  await docker(['start', n.proxy])
  await waitServing(port)
  return {
    names: n,
    container: () => n.app,
    /** compose-style: stop (SIGTERM, 10 s grace) and remove the old one, run the new one. */
    async deploy(image) {
      const t0 = now()
      const tSwitch = t0 // the old container stops accepting as soon as it gets SIGTERM
      await docker(['stop', '-t', '10', n.app])
      const tStopped = now()
      await docker(['rm', n.app])
      await docker(runArgs(n.app, n.network, label, image))
      return { t0, tSwitch, tStopped, tEnd: now() }
    }
  }
}

export async function setupScript({ prefix, label, port, proxyImage, image, sleepMs = 5000 }) {
  const n = baselineNames(prefix, 'script')
  let live = n.blue
  await docker(['network', 'create', '--label', label, n.network])
  await docker(runArgs(live, n.network, label, image))
  await docker(['create', '--name', n.proxy, '--network', n.network, '--label', label, '-p', `127.0.0.1:${port}:80`, proxyImage])
  await putConfig(n.proxy, scriptConfig(live))
  await sleep(1600) // nginx resolves the upstream name when it starts; the app listens after 1.5 s
  await docker(['start', n.proxy])
  await waitServing(port)
  return {
    names: n,
    container: () => live,
    /** start new, sleep 5 s, rewrite the upstream + nginx -s reload, stop the old one at once. */
    async deploy(image) {
      const t0 = now()
      const next = live === n.blue ? n.green : n.blue
      await docker(runArgs(next, n.network, label, image))
      await sleep(sleepMs)
      await putConfig(n.proxy, scriptConfig(next))
      await docker(['exec', n.proxy, NGINX, '-s', 'reload'])
      const tReloadReturned = now()
      const old = live
      live = next
      await docker(['stop', old])
      const tStopped = now()
      await docker(['rm', old])
      // The switch moment: nginx's SIGHUP log line (as for cutover), else when the command returned.
      const hup = (await reloadTimes(n.proxy, t0)).find(t => t >= t0)
      return {
        t0,
        tSwitch: hup ?? tReloadReturned,
        tReloadReturned,
        switchMomentFrom: hup ? 'nginx SIGHUP log line' : 'reload command returned',
        tStopped,
        tEnd: now()
      }
    }
  }
}

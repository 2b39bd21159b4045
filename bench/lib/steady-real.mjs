// The proxies as users get them, for bench/steady.mjs (issue #25): cutover's own proxy, made by the
// action itself (dist/index.js) with the shared settings src/ renders, over HTTP and HTTPS; and one
// nginx hop that terminates TLS with the same certificate, the HTTPS yardstick.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { testbedInputs } from '../../__tests__/support/runner.mjs'
import { runAction } from './action.mjs'
import { opensslCert } from './certs.mjs'
import { docker, removeContainers } from './docker.mjs'
import { NGINX_D13_IMAGE, NGINX_IMAGE, putFile } from './designs.mjs'
import { freePort } from './ports.mjs'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The app cutover deploys for the bench (its own, beside the pd-* containers of the design study). */
export const REAL_APP = 'pd-real'
const REAL_PROXY = `${REAL_APP}-proxy`
/** Its domain (tls custom needs one): wrk sends it as the Host header. */
export const REAL_HOST = 'pd.example.test'

const cert = opensslCert([REAL_HOST])
/** The configuration copies and hosts files of this run, removed with the rest. */
const clones = []

async function addressOf(container) {
  const { stdout } = await docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', container])
  const ip = stdout.trim().split(' ')[0]
  if (!ip) throw new Error(`${container} has no address`)
  return ip
}

/**
 * cutover's proxy as the action makes it: v1 of the test app deployed by dist/index.js with
 * `tls: custom` (HTTPS published from creation), as the default server (no domains, so wrk's Host
 * header routes). Two variants on the one proxy: HTTP on its port 80, HTTPS on 443 (TLS ends there).
 */
export async function setupReal() {
  const bed = JSON.parse(readFileSync(join(REPO, '.testbed', 'env.json'), 'utf8'))
  const inputs = {
    ...testbedInputs(bed, REAL_APP, await freePort()),
    image: `${bed.CUTOVER_TEST_IMAGE_PREFIX}:v1`,
    domains: REAL_HOST,
    tls: 'custom',
    'tls-certificate': cert.cert,
    'tls-key': cert.key,
    'tls-redirect': 'false',
    'https-port': String(await freePort()),
    env: 'BOOT_DELAY_MS=0'
  }
  const run = await runAction({
    node: join(REPO, 'node_modules', '.bin', 'node'),
    bundle: join(REPO, 'dist', 'index.js'),
    cwd: REPO,
    inputs,
    sshPort: Number(bed.CUTOVER_TEST_SSH_PORT)
  })
  if (run.code !== 0) throw new Error(`the deploy of ${REAL_APP} failed (${run.code}): ${run.errors.join(' | ')}`)
  const ip = await addressOf(REAL_PROXY)
  const app = `${REAL_APP}-${run.outputs.color}`
  const common = { containers: [REAL_PROXY], appContainer: app, host: REAL_HOST }
  return [
    { ...common, name: 'cutover', label: "(r1) cutover's proxy as the action makes it (HAProxy, shared settings from src/), HTTP", url: `http://${ip}:80/` },
    {
      ...common,
      name: 'cutover-https',
      label: '(r2) the same proxy over HTTPS (tls custom, P-256 certificate; TLS ends in the proxy)',
      ...byName('cutover-https', ip)
    }
  ]
}

/**
 * One nginx hop that ends TLS with the same certificate, upstream keep-alive: the HTTPS yardstick.
 * `d13`: Debian 13's nginx 1.26 on OpenSSL 3.5, the yardstick of HAProxy 3.0 on the same library.
 */
export async function setupSingleHttps(appHost, appPort, network, { d13 = false } = {}) {
  const name = d13 ? 'pd-single-https-d13' : 'pd-single-https'
  const conf = `upstream app {
  server ${appHost}:${appPort} max_fails=0;
  keepalive 64;
}
server {
  listen 443 ssl;
  # TLS 1.3 as cutover's proxy negotiates (nginx 1.22 offers up to 1.2 by default, 1.23.4 and later 1.3:
  # a 1.2 handshake cost it half the CPU of a 1.3 one here, which compared protocols, not proxies)
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_certificate /etc/nginx/conf.d/pd.crt;
  ssl_certificate_key /etc/nginx/conf.d/pd.key;
  location / {
    proxy_pass http://app;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
  }
}
`
  await docker(['create', '--name', name, '--network', network, '--label', 'cutover-pd=1', d13 ? NGINX_D13_IMAGE : NGINX_IMAGE])
  await putFile(name, '/etc/nginx/conf.d', 'default.conf', '# disabled\n')
  await putFile(name, '/etc/nginx/conf.d', 'pd.crt', cert.cert)
  await putFile(name, '/etc/nginx/conf.d', 'pd.key', cert.key)
  await putFile(name, '/etc/nginx/conf.d', 'single-https.conf', conf)
  await docker(['start', name])
  return {
    name: d13 ? 'single-https-d13' : 'single-https',
    label: d13
      ? "(b2') one nginx 1.26 hop (Debian 13, OpenSSL 3.5) ending TLS (same certificate), upstream keepalive 64"
      : '(b2) one nginx hop ending TLS (same certificate), upstream keepalive 64',
    containers: [name],
    ...byName(name, await addressOf(name)),
    host: REAL_HOST,
    configs: { 'single-https.conf': conf }
  }
}

/**
 * An HTTPS variant asked by name, as clients do (SNI; cutover's proxy is strict-sni): wrk resolves
 * the name through its own hosts file (bench/steady.mjs mounts it in a private namespace); the
 * check that it answers connects to the address and sends the name.
 */
function byName(variant, ip) {
  const hostsFile = join(os.tmpdir(), `pd-hosts-${variant}`)
  clones.push(hostsFile)
  writeFileSync(hostsFile, `127.0.0.1 localhost\n${ip} ${REAL_HOST}\n`)
  return { url: `https://${REAL_HOST}:443/`, checkUrl: `https://${ip}:443/`, hostsFile }
}

/** cutover's app, proxy and state of the bench's real variant, whatever the run left. */
export async function teardownReal() {
  await removeContainers(`cutover.app=${REAL_APP}`).catch(() => undefined)
  await docker(['rm', '-f', REAL_PROXY, `${REAL_PROXY}-metrics`], { allowFail: true })
  await docker(['volume', 'rm', '-f', `${REAL_PROXY}-conf`], { allowFail: true })
  for (const n of [`${REAL_PROXY}-net`, `cutover-${REAL_APP}`]) await docker(['network', 'rm', n], { allowFail: true })
  rmSync(`/run/cutover/${REAL_PROXY}`, { recursive: true, force: true })
  for (const path of clones.splice(0)) rmSync(path, { recursive: true, force: true })
  for (const f of [`locks/${REAL_APP}.lock`, `locks/${REAL_APP}.holder`, `locks/proxy.${REAL_PROXY}.lock`, `apps/${REAL_APP}`])
    rmSync(join(os.homedir(), '.cutover', f), { recursive: true, force: true })
}

/**
 * cutover's proxy with some of its rules taken out (issue #25: which rule costs what): a copy of
 * the real proxy's configuration, edited, served by another container of the same image on the
 * app's network. `edits` maps a file of the configuration to a function of its text; `image`, when
 * given, serves the copy instead of the real proxy's image (HAProxy 3.0 on the same configuration).
 */
export async function cloneReal(name, label, edits, image) {
  const container = `${REAL_PROXY}-${name}`
  const { stdout } = await docker(['inspect', '-f', '{{.Config.Image}}', REAL_PROXY])
  const src = `/var/lib/docker/volumes/${REAL_PROXY}-conf/_data`
  const dir = join(os.tmpdir(), container)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir)
  clones.push(dir)
  const configs = {}
  for (const file of readdirSync(src)) {
    if (file === 'holder-switch.conf' || file === '0-holder-switch.cfg') continue
    const text = readFileSync(join(src, file), 'utf8')
      .replaceAll('/usr/local/etc/haproxy/cutover', '/cfg')
      .replace(/^\s*stats socket .*$/m, '')
    const edited = edits[file] ? edits[file](text) : text
    if (edited !== text) configs[file] = edited
    writeFileSync(join(dir, file), edited)
  }
  const run = ['run', '-d', '--name', container, '--network', `cutover-${REAL_APP}`, '--label', 'cutover-pd=1', '-v', `${dir}:/cfg:ro`]
  await docker([...run, '--entrypoint', 'haproxy', image ?? stdout.trim(), '-W', '-db', '-f', '/cfg'])
  const ip = await addressOf(container)
  const https = name.includes('https')
  return {
    name: `cutover-${name}`,
    label,
    containers: [container],
    appContainer: `${REAL_APP}-blue`,
    host: REAL_HOST,
    configs,
    ...(https ? byName(`cutover-${name}`, ip) : { url: `http://${ip}:80/` })
  }
}

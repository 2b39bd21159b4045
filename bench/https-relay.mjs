#!/usr/bin/env node
// The cost of the HTTPS relay (issue #22): HTTPS added to a HAProxy proxy created without an HTTPS
// port goes through `<proxy>-https`, one more local TCP hop with a PROXY protocol header. Two proxies
// on this machine, one app each (tls custom): one created with HTTPS published by itself, one
// created without it and given HTTPS later (the relay). wrk against each, alternating, keep-alive and
// a new connection per request (Connection: close: a TLS handshake each time).
//
//   node bench/https-relay.mjs [--rounds 3] [--seconds 8] [--connections 8]
//
// Prints a table and writes results/https-relay-<date>-<commit>.json and https-relay-latest.md.
// Load goes to 127.0.0.1 only, bounded by --rounds x --seconds. Everything is named bench-hr-* and
// removed at the end.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { liveChildren, runAction } from './lib/action.mjs'
import { local, removeContainers } from './lib/docker.mjs'
import { freePort } from './lib/ports.mjs'
import { testbedInputs } from '../__tests__/support/runner.mjs'
import { opensslCert } from './lib/certs.mjs'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')
const NODE24 = join(REPO, 'node_modules', '.bin', 'node')
const BUNDLE = join(REPO, 'dist', 'index.js')
const option = (name, fallback) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback)
const ROUNDS = Number(option('rounds', 3))
const SECONDS = Number(option('seconds', 8))
const CONNECTIONS = Number(option('connections', 8))
const OUT = resolve(option('out', join(REPO, 'bench', 'results')))
const log = (...a) => console.log(`[https-relay ${new Date().toISOString().slice(11, 19)}]`, ...a)

/** wrk's requests/s and latency percentiles (ms). */
function wrk(url, host, close) {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', '-H', `Host: ${host}`, ...(close ? ['-H', 'Connection: close'] : []), url]
  const out = execFileSync('wrk', args, { encoding: 'utf8' })
  const ms = text => {
    const [, n, unit] = /([\d.]+)(us|ms|s)/.exec(text) ?? []
    return Number(n) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1)
  }
  const pct = p => ms(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '')
  const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none'
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]), p50: pct(50), p99: pct(99), errors, non2xx }
}

async function removeAll(apps) {
  for (const child of liveChildren) child.kill('SIGTERM')
  for (const app of apps) {
    const proxy = `${app}-proxy`
    await removeContainers(`cutover.app=${app}`)
    await removeContainers(`cutover.proxy-generation-of=${proxy}`)
    for (const name of [`${proxy}-https`, proxy]) {
      await local
        .getContainer(name)
        .remove({ force: true })
        .catch(() => undefined)
    }
    await local
      .getVolume(`${proxy}-conf`)
      .remove()
      .catch(() => undefined)
    for (const network of [`${proxy}-net`, `cutover-${app}`]) {
      await local
        .getNetwork(network)
        .remove()
        .catch(() => undefined)
    }
    rmSync(`/run/cutover/${proxy}`, { recursive: true, force: true })
    for (const f of [`locks/${app}.lock`, `locks/${app}.holder`, `apps/${app}`]) rmSync(join(os.homedir(), '.cutover', f), { recursive: true, force: true })
  }
}

/** An app on its own proxy with tls custom: HTTPS published by the proxy itself, or added later through the relay. */
async function deploy(bed, app, relayed) {
  const port = await freePort()
  const httpsPort = await freePort()
  const host = `${app}.example.test`
  // The app's name and 127.0.0.1 as a DNS name: wrk sends the URL's host as SNI, and the proxy
  // answers only names it has a certificate for (strict-sni).
  const { cert, key } = opensslCert([host, '127.0.0.1'])
  const base = bed.CUTOVER_TEST_HAPROXY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/haproxy:2.6`
  const run = async inputs => {
    const r = await runAction({
      node: NODE24,
      bundle: BUNDLE,
      cwd: REPO,
      inputs: { ...testbedInputs(bed, app, port), 'proxy-type': 'haproxy', 'proxy-image': base, 'health-timeout': '20s', domains: host, ...inputs },
      sshPort: Number(bed.CUTOVER_TEST_SSH_PORT)
    })
    if (r.code !== 0) throw new Error(`${app}: run failed (${r.code}): ${r.errors.join(' | ')}\n${r.stderr}`)
    return r
  }
  const tls = { tls: 'custom', 'tls-certificate': cert, 'tls-key': key, 'tls-redirect': 'false', 'https-port': String(httpsPort) }
  const image = tag => `${bed.CUTOVER_TEST_IMAGE_PREFIX}:${tag}`
  if (relayed) await run({ image: image('v1') })
  const r = await run({ image: image(relayed ? 'v2' : 'v1'), ...tls })
  const said = r.log.find(l => /Publishing HTTPS/.test(l.line))
  if (relayed !== !!said) throw new Error(`${app}: expected ${relayed ? 'a relay' : 'no relay'}; the run said: ${said?.line ?? 'nothing about a relay'}`)
  return { url: `https://127.0.0.1:${httpsPort}/`, host }
}

async function main() {
  const bed = JSON.parse(readFileSync(join(REPO, '.testbed', 'env.json'), 'utf8'))
  const id = randomBytes(3).toString('hex')
  const apps = { direct: `bench-hr-direct-${id}`, relay: `bench-hr-relay-${id}` }
  process.on('SIGINT', () => void removeAll(Object.values(apps)).finally(() => process.exit(130)))
  const rows = []
  try {
    const targets = { direct: await deploy(bed, apps.direct, false), relay: await deploy(bed, apps.relay, true) }
    log(
      `load average ${os
        .loadavg()
        .map(x => x.toFixed(2))
        .join(' ')}; ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections`
    )
    for (let round = 1; round <= ROUNDS; round++) {
      for (const close of [false, true]) {
        for (const path of round % 2 ? ['direct', 'relay'] : ['relay', 'direct']) {
          const seen = wrk(targets[path].url, targets[path].host, close)
          rows.push({ round, path, connection: close ? 'new per request' : 'keep-alive', ...seen })
          log(
            `round ${round} ${path} ${close ? 'new connection' : 'keep-alive'}: ${seen.rps} req/s, p50 ${seen.p50} ms, p99 ${seen.p99} ms, errors ${seen.errors}, non-2xx ${seen.non2xx}`
          )
        }
      }
    }
  } finally {
    await removeAll(Object.values(apps))
  }
  const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const summary = ['keep-alive', 'new per request'].flatMap(connection =>
    ['direct', 'relay'].map(path => {
      const r = rows.filter(x => x.path === path && x.connection === connection)
      return { connection, path, rps: median(r.map(x => x.rps)), p50: median(r.map(x => x.p50)), p99: median(r.map(x => x.p99)) }
    })
  )
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim()
  const date = new Date().toISOString()
  mkdirSync(OUT, { recursive: true })
  const jsonName = `https-relay-${date.slice(0, 10)}-${commit}.json`
  writeFileSync(
    join(OUT, jsonName),
    JSON.stringify({ date, commit, rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, cpus: os.cpus().length, rows, summary }, null, 1)
  )
  const table = summary.map(s => `| ${s.connection} | ${s.path} | ${s.rps} | ${s.p50} | ${s.p99} |`).join('\n')
  writeFileSync(
    join(OUT, 'https-relay-latest.md'),
    `# HTTPS through the relay vs published by the proxy (${date.slice(0, 10)}, ${commit})\n\n` +
      `\`node bench/https-relay.mjs\`: wrk, 1 thread, ${CONNECTIONS} connections, ${SECONDS} s per run, ${ROUNDS} rounds alternating the order; ` +
      `medians. ${os.cpus().length} cores shared with the proxy, the relay, the app and wrk. Raw: [${jsonName}](${jsonName}).\n\n` +
      `| connections | HTTPS | requests/s | p50 (ms) | p99 (ms) |\n|---|---|---|---|---|\n${table}\n`
  )
  console.log(`\n| connections | HTTPS | requests/s | p50 (ms) | p99 (ms) |\n|---|---|---|---|---|\n${table}`)
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})

/**
 * cutover's ACME renewer (issue #10): runs in the `<proxy>-acme` container beside the HAProxy
 * proxy, with the proxy's config volume and admin socket mounted.
 *   serve        answer HTTP-01 challenges on :8402 and renew every app's certificate when due
 *   issue APP    issue APP's certificate now unless a valid one covers its names (a deploy runs it
 *                through `docker exec` before its switch); exit 1 with the ACME server's error
 * Tuning (env): CUTOVER_ACME_CHECK_INTERVAL_MS (12 h), CUTOVER_ACME_RENEW_FRACTION (1/3 of the
 * lifetime left).
 */
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ACME_CHALLENGE_PORT, ACME_PATH, HAPROXY_CONF_DIR, HAPROXY_RUN_DIR, HAPROXY_SOCKET } from './layout.js'
import { ensureCertificate, wantedApps } from './renewer.js'
import { challengeFile, TOKEN } from './state.js'

const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`)
const number = (name: string, fallback: number) => {
  const v = Number(process.env[name])
  return Number.isFinite(v) && v > 0 ? v : fallback
}
const options = {
  dir: HAPROXY_CONF_DIR,
  socket: `${HAPROXY_RUN_DIR}/${HAPROXY_SOCKET}`,
  renewFraction: number('CUTOVER_ACME_RENEW_FRACTION', 1 / 3),
  log
}

function serve(): void {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    const token = path.startsWith(ACME_PATH) ? path.slice(ACME_PATH.length) : ''
    const answer = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
      res.end(body)
    }
    if (!TOKEN.test(token)) return answer(404, 'not found\n')
    readFile(join(options.dir, challengeFile(token)), 'utf8').then(
      text => answer(200, text),
      () => answer(404, 'not found\n')
    )
  })
  server.listen(ACME_CHALLENGE_PORT, () => log(`answering ACME HTTP-01 challenges on :${ACME_CHALLENGE_PORT}`))
  const interval = number('CUTOVER_ACME_CHECK_INTERVAL_MS', 12 * 3_600_000)
  let running = false
  const check = async () => {
    if (running) return
    running = true
    try {
      for (const app of await wantedApps(options.dir)) {
        // One app's failure (a name no longer pointing here) never stops the others' renewals.
        await ensureCertificate(options, app).then(
          done => log(done),
          e => log(`${app}: renewal failed, retrying at the next check: ${(e as Error).message}`)
        )
      }
    } finally {
      running = false
    }
  }
  log(
    `checking certificates every ${Math.round(interval / 1000)} s (renewing with less than ${Math.round(options.renewFraction * 100)} % of their lifetime left)`
  )
  setInterval(() => void check(), interval)
  // A first check soon after a start (a restart after months away), not at once: the deploy that
  // created this container issues its own certificate.
  setTimeout(() => void check(), Math.min(interval, 60_000))
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.close(() => process.exit(0)))
}

async function main(): Promise<void> {
  const [command, app, flag] = process.argv.slice(2)
  if (command === 'serve' || command === undefined) return serve()
  if (command === 'issue' && app && /^[a-z0-9-]+$/.test(app)) {
    try {
      log(await ensureCertificate(options, app, flag === '--force'))
      process.exit(0)
    } catch (e) {
      console.error(`ACME issuance for ${app} failed: ${(e as Error).message}`)
      process.exit(1)
    }
  }
  console.error('usage: index.mjs serve | issue APP [--force]')
  process.exit(2)
}

void main()

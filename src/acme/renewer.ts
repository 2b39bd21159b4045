import { chmod, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { Agent } from 'node:https'
import { join } from 'node:path'
import * as acme from 'acme-client'
import { certFile } from './layout.js'
import { installCertificate } from './install.js'
import type { DnsChallengeSettings, DnsProvider } from './dns-provider.js'
import { Rfc2136Provider } from './rfc2136.js'
import { parseTsigKey } from './tsig.js'
import { ACCOUNT_KEY_FILE, challengeFile, dnsFile, readCertificate, renewalDue, WANTED_FILE, wantedFile, type AcmeWanted } from './state.js'

export interface RenewerOptions {
  /** The proxy's config volume. */
  dir: string
  /** HAProxy's admin socket. */
  socket: string
  /** Renew when less than this fraction of the lifetime is left. */
  renewFraction: number
  log: (line: string) => void
}

/** A lock file per app: the timer and an issuance a deploy asked for never order the same certificate twice. */
async function withLock<T>(dir: string, app: string, fn: () => Promise<T>, waitMs = 300_000): Promise<T> {
  const path = join(dir, `acme-${app}.lock`)
  const started = Date.now()
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.close()
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      // A renewer killed mid-order leaves its lock: 10 minutes is longer than any order takes.
      const age =
        Date.now() -
        (await stat(path).then(
          s => s.mtimeMs,
          () => Date.now()
        ))
      if (age > 600_000) await unlink(path).catch(() => undefined)
      else if (Date.now() - started > waitMs) throw new Error(`another issuance for ${app} has been running for ${Math.round(age / 1000)} s`, { cause: e })
      else await new Promise(r => setTimeout(r, 500))
    }
  }
  try {
    return await fn()
  } finally {
    await unlink(path).catch(() => undefined)
  }
}

async function writePrivate(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  await writeFile(tmp, content, { mode: 0o600 })
  await chmod(tmp, 0o600)
  await rename(tmp, path)
}

async function accountKey(dir: string): Promise<Buffer> {
  const path = join(dir, ACCOUNT_KEY_FILE)
  try {
    return await readFile(path)
  } catch {
    const key = await acme.crypto.createPrivateEcdsaKey()
    await writePrivate(path, key.toString())
    return key
  }
}

/** dns-01: the app's DNS provider, from the root-only file the action wrote (the TSIG key in it). */
async function dnsProviderOf(dir: string, app: string): Promise<DnsProvider> {
  const settings = JSON.parse(await readFile(join(dir, dnsFile(app)), 'utf8')) as Partial<DnsChallengeSettings>
  if (settings.kind !== 'rfc2136' || !settings.server || !settings.port || !settings.zone || !settings.tsigKey) {
    throw new Error(`the DNS settings of ${app} (${dnsFile(app)}) are missing: deploy the app again`)
  }
  return new Rfc2136Provider({ server: settings.server, port: settings.port, zone: settings.zone, key: parseTsigKey(settings.tsigKey) })
}

export async function readWanted(dir: string, app: string): Promise<AcmeWanted> {
  return JSON.parse(await readFile(join(dir, wantedFile(app)), 'utf8')) as AcmeWanted
}

/** The apps that want a certificate; an emptied wanted file is an app taken off the proxy (mode remove). */
export async function wantedApps(dir: string): Promise<string[]> {
  const apps = (await readdir(dir)).flatMap(f => WANTED_FILE.exec(f)?.[1] ?? [])
  const sizes = await Promise.all(
    apps.map(app =>
      stat(join(dir, wantedFile(app))).then(
        s => s.size,
        () => 0
      )
    )
  )
  return apps.filter((_, i) => sizes[i] > 0)
}

/**
 * Issues (or renews) the certificate of one app when it is due — or always with `force` — and
 * installs it into the running HAProxy. Returns what was done, for the log.
 */
export async function ensureCertificate(o: RenewerOptions, app: string, force = false): Promise<string> {
  return withLock(o.dir, app, async () => {
    const wanted = await readWanted(o.dir, app)
    const path = join(o.dir, certFile(app))
    const current = readCertificate(await readFile(path, 'utf8').catch(() => undefined))
    const due = force ? 'forced' : renewalDue(current, wanted.domains, new Date(), o.renewFraction)
    if (!due) return `${app}: the certificate for ${wanted.domains.join(', ')} is valid until ${current!.notAfter.toISOString()}; nothing to do`
    o.log(`${app}: ordering a certificate for ${wanted.domains.join(', ')} from ${wanted.directory} (${due})`)
    // The private ACME server's root (acme-directory-ca) is trusted for this order only.
    acme.axios.defaults.httpsAgent = new Agent({ ca: wanted.directoryCa, keepAlive: false })
    const client = new acme.Client({ directoryUrl: wanted.directory, accountKey: await accountKey(o.dir) })
    const [key, csr] = await acme.crypto.createCsr({ commonName: wanted.domains[0], altNames: wanted.domains }, await acme.crypto.createPrivateEcdsaKey())
    // newAccount finds the account of this key (or makes it): acme-client's own registration then
    // "updates" an existing account with nothing new, which pebble refuses (a renewal without acme-email failed so).
    const api = (client as unknown as { api: { createAccount(data: object): Promise<unknown> } }).api
    await api.createAccount({ termsOfServiceAgreed: true, ...(wanted.email ? { contact: [`mailto:${wanted.email}`] } : {}) })
    const dns = wanted.challenge === 'dns-01' ? await dnsProviderOf(o.dir, app) : undefined
    // dns-01 publishes `_acme-challenge.<name>` (a wildcard's is its base name's); the value is the key authorization's digest.
    const txtName = (authz: { identifier: { value: string } }) => `_acme-challenge.${authz.identifier.value.replace(/^\*\./, '')}`
    const cert = await client.auto({
      csr,
      email: wanted.email,
      termsOfServiceAgreed: true,
      challengePriority: [dns ? 'dns-01' : 'http-01'],
      // The ACME server validates through the proxy (or the zone's DNS); this container may not resolve the names at all.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (dns) await dns.setTxt(txtName(authz), keyAuthorization)
        else await writeFile(join(o.dir, challengeFile(challenge.token)), keyAuthorization, { mode: 0o600 })
      },
      challengeRemoveFn: async (authz, challenge, keyAuthorization) => {
        if (dns) await dns.removeTxt(txtName(authz), keyAuthorization).catch(e => o.log(`${app}: could not remove a TXT record: ${(e as Error).message}`))
        else await unlink(join(o.dir, challengeFile(challenge.token))).catch(() => undefined)
      }
    })
    const pem = `${cert.trim()}\n${key.toString().trim()}\n`
    await writePrivate(path, pem)
    const issued = readCertificate(pem)
    const live = await installCertificate(o.socket, path, pem)
    return (
      `${app}: issued by ${issued?.issuer ?? '?'}, serial ${issued?.serial ?? '?'}, valid until ${issued?.notAfter.toISOString() ?? '?'}` +
      (live ? '; HAProxy serves it now (runtime API, no reload)' : '; HAProxy loads it at the deploy that adds it')
    )
  })
}

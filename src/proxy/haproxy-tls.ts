import type Docker from 'dockerode'
import type { ProxySettings, RegistryAuth, TlsSettings } from '../core/config.js'
import type { Log } from '../core/log.js'
import type { DomainCertificate } from '../engine/ports.js'
import { dnsFile, readCertificate, renewalDue, wantedFile, type AcmeWanted } from '../acme/state.js'
import { AcmeRenewer } from './haproxy-acme.js'
import { ACME_BACKEND, ACME_CHALLENGE_PORT, ACME_MAP, certFile, EMPTY_ACME_MAP, updateAcmeMap, updateCertsList, type AppTls } from './haproxy-config.js'
import type { ConfVolume, TlsFiles } from './haproxy-files.js'
import type { HaproxyAdmin } from './haproxy-runtime.js'
import { inspectIfExists, ProxyError, underLock, type ProxyLocker } from './proxy-container.js'

/** How long a deploy waits for the ACME server to issue a new certificate. */
const ISSUE_TIMEOUT_MS = 180_000
const TLS_OFF: TlsSettings = { mode: 'off', httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] }

/** What an app's TLS on the proxy needs: the proxy's container, files, admin socket and lock. */
export interface HaproxyTlsHost {
  docker: Docker
  container: Docker.Container
  network: string
  app: string
  settings: ProxySettings
  registry: RegistryAuth | undefined
  log: Log
  lockProxy: ProxyLocker
  files: ConfVolume
  admin: HaproxyAdmin
}

/**
 * An app's HTTPS on the HAProxy proxy (issue #10): its certificate (custom, or from ACME through
 * the renewer container), its entries in the shared crt-list and ACME map, and what it reports.
 */
export class HaproxyTls {
  constructor(private readonly host: HaproxyTlsHost) {}

  get settings(): TlsSettings {
    return this.host.settings.tls ?? TLS_OFF
  }

  /** The app's TLS rules as its backend file renders them. */
  get appTls(): AppTls {
    const t = this.settings
    return { enabled: t.mode !== 'off', httpsPort: t.httpsPort, redirect: t.redirect, hsts: t.hsts, trustedProxies: t.trustedProxies }
  }

  /** The names the app's certificate covers: its domains and its preview domains. */
  get certifiedNames(): string[] {
    return [...this.host.settings.domains, ...(this.host.settings.previewDomains ?? [])].map(d => d.toLowerCase())
  }

  /** The shared TLS files with this app's entries as its settings say (other apps' kept). */
  filesWanted(now: TlsFiles): TlsFiles {
    const mode = this.settings.mode
    return {
      certsList: updateCertsList(now.certsList, this.host.app, mode !== 'off'),
      acmeMap: updateAcmeMap(now.acmeMap, this.host.app, this.httpChallengeNames)
    }
  }

  /** The names whose HTTP-01 challenges the proxy routes to the renewer (none with dns-01). */
  private get httpChallengeNames(): string[] {
    return this.settings.mode === 'auto' && this.settings.acme?.challenge !== 'dns-01' ? this.certifiedNames : []
  }

  /** tls custom: the one file HAProxy reads, certificate chain then key. */
  customCertText(): string | undefined {
    const t = this.settings
    return t.mode === 'custom' && t.certificate && t.key ? `${t.certificate.trim()}\n${t.key.trim()}\n` : undefined
  }

  /**
   * tls auto: the renewer runs, HTTP-01 challenges of the app's names reach it, and a certificate
   * covering every name exists before the switch. A valid certificate means no wait at all: a deploy
   * never waits on a renewal (the renewer does those on its own).
   */
  async ensure(): Promise<void> {
    const acme = this.settings.acme
    if (this.settings.mode !== 'auto' || !acme) return
    const { docker, network, app, registry, log, lockProxy, files } = this.host
    const proxy = this.host.settings.name
    const renewer = new AcmeRenewer(docker, proxy, network, acme.image, registry, log)
    const names = this.certifiedNames
    const challenge = acme.challenge ?? 'http-01'
    const wanted: AcmeWanted = { app, domains: names, email: acme.email, directory: acme.directory, directoryCa: acme.directoryCa, challenge }
    const wantedText = JSON.stringify(wanted, null, 2) + '\n'
    // dns-01: the TSIG key goes into a root-only file the renewer reads; http-01 keeps no key there.
    const dnsText = acme.dns ? JSON.stringify(acme.dns, null, 2) + '\n' : undefined
    const dnsNow = await files.file(dnsFile(app))
    if (dnsText !== undefined ? dnsNow !== dnsText : dnsNow !== undefined && dnsNow !== '{}\n') await files.put(dnsFile(app), dnsText ?? '{}\n', 0o600)
    if ((await files.file(wantedFile(app))) !== wantedText) await files.put(wantedFile(app), wantedText, 0o600)
    // Under the proxy's lock: two apps' first deploys must not both create (and half-fill) it.
    const address = await underLock(lockProxy, () => renewer.ensureRunning())
    await this.routeChallenges(renewer.name, this.httpChallengeNames)
    // Its address now rather than at the next DNS resolution (it may have just been created).
    // Through run(): HAProxy 3.0 applies an address after its line, so `ready` waits until it shows.
    if (address) {
      const acmeServer = `${ACME_BACKEND}/acme`
      await this.host.admin
        .run([`set server ${acmeServer} addr ${address} port ${ACME_CHALLENGE_PORT}`, `set server ${acmeServer} state ready`], 'the ACME challenge route')
        .catch((e: Error) => log.warning(`${e.message}; the proxy's DNS resolution of the renewer takes over`))
    }
    files.forget() // the renewer writes certificates, not this run
    const cert = readCertificate(await files.file(certFile(app)))
    const due = renewalDue(cert, names, new Date(), 0)
    if (!due) return
    log.info(`Requesting a certificate for ${names.join(', ')} from ${acme.directory} by ${challenge} (${due})`)
    try {
      await renewer.issue(app, ISSUE_TIMEOUT_MS)
    } catch (e) {
      throw new ProxyError(
        `No certificate for ${names.join(', ')}: ${(e as Error).message}. Nothing was switched; ` +
          (challenge === 'dns-01'
            ? `the renewer must reach the DNS server ${acme.dns?.server}:${acme.dns?.port} and its TSIG key must allow updates of ${acme.dns?.zone}.`
            : 'the names must point at this host and its port 80 must reach the proxy.')
      )
    }
  }

  /** HTTP-01 challenges of the app's names to the renewer (a reload, once). */
  private async routeChallenges(renewer: string, names: string[]): Promise<void> {
    const { app, log, lockProxy, files, admin } = this.host
    if (!names.length && !(await files.file(ACME_MAP))?.includes(` ${app}\n`)) return
    await underLock(lockProxy, async () => {
      files.forget()
      const current = (await files.file(ACME_MAP)) ?? EMPTY_ACME_MAP
      const next = updateAcmeMap(current, app, names)
      if (next === current) return
      log.info(
        names.length
          ? `Routing ACME challenges for ${names.join(', ')} to ${renewer}: reloading the proxy`
          : `No HTTP-01 challenges of ${app} go to ${renewer} any more: reloading the proxy`
      )
      await files.put(ACME_MAP, next)
      await admin.testAndReload([{ file: ACME_MAP, content: current }])
    })
  }

  /** The certificate of each of the app's names, as the proxy has it. */
  async certificates(): Promise<DomainCertificate[]> {
    if (this.settings.mode === 'off' || !(await inspectIfExists(this.host.container))) return []
    this.host.files.forget()
    const cert = readCertificate(await this.host.files.file(certFile(this.host.app)))
    return [...this.host.settings.domains, ...(this.host.settings.previewDomains ?? [])].map(domain => {
      const covered = cert && renewalDue(cert, [domain], new Date(), 0) === undefined
      return covered ? { domain, issuer: cert.issuer, notAfter: cert.notAfter.toISOString(), serial: cert.serial } : { domain }
    })
  }
}

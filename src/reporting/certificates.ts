import type { Log } from '../core/log.js'
import type { DomainCertificate, Router } from '../engine/ports.js'

/** Certificates expiring sooner than this are warned about (issue #10). */
export const EXPIRY_WARNING_DAYS = 14

export function daysLeft(c: DomainCertificate, now = Date.now()): number | undefined {
  return c.notAfter ? Math.floor((Date.parse(c.notAfter) - now) / 86_400_000) : undefined
}

/** Reads and logs each domain's certificate; never fails the run (it is a report, not a step). */
export async function reportCertificates(router: Router, log: Log): Promise<DomainCertificate[]> {
  let certs: DomainCertificate[]
  try {
    certs = (await router.certificates?.()) ?? []
  } catch (e) {
    log.warning(`Could not read the certificates on the proxy: ${(e as Error).message}`)
    return []
  }
  for (const c of certs) {
    const days = daysLeft(c)
    if (days === undefined) log.warning(`Certificate of ${c.domain}: none on the proxy covers it`)
    else if (days < EXPIRY_WARNING_DAYS) log.warning(`Certificate of ${c.domain} expires in ${days} days (${c.notAfter}), issued by ${c.issuer}`)
    else log.info(`Certificate of ${c.domain}: issued by ${c.issuer}, valid until ${c.notAfter} (${days} days)`)
  }
  return certs
}

/** The job summary's certificate table (markdown; issuer names escaped). */
export function renderCertificates(certs: DomainCertificate[], now = Date.now()): string {
  if (!certs.length) return ''
  const esc = (t: string) => t.replace(/[|<>`*_[\]\\]/g, m => `\\${m}`)
  // Several hosts: each proxy has its own certificates, so each row names its host.
  const byHost = certs.some(c => c.host)
  const rows = certs.map(c => {
    const days = daysLeft(c, now)
    const state = days === undefined ? '⚠️ no certificate' : days < EXPIRY_WARNING_DAYS ? `⚠️ expires in ${days} days` : `${days} days left`
    return `|${byHost ? ` ${esc(c.host ?? '—')} |` : ''} ${esc(c.domain)} | ${esc(c.issuer ?? '—')} | ${c.notAfter ?? '—'} | ${state} |`
  })
  const head = byHost ? ['| host | domain | issuer | expires | |', '|---|---|---|---|---|'] : ['| domain | issuer | expires | |', '|---|---|---|---|']
  return ['', '### Certificates', '', ...head, ...rows, ''].join('\n')
}

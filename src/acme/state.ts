import { X509Certificate } from 'node:crypto'

/**
 * What the renewer keeps in the proxy's config volume, shared by the action (which writes the
 * wanted names) and the renewer container (which issues, renews and installs). Only files HAProxy
 * ignores (it loads *.cfg); certificates and keys are root-only (0600).
 */
export interface AcmeWanted {
  app: string
  /** Host names of one certificate (the app's domains). */
  domains: string[]
  email?: string
  directory: string
  /** PEM of the ACME server's TLS root, for private ACME servers. */
  directoryCa?: string
  /** Absent: http-01. dns-01: the DNS settings (and secret) are in dnsFile(app), read by the renewer only. */
  challenge?: 'http-01' | 'dns-01'
}

export function wantedFile(app: string): string {
  return `acme-${app}.json`
}

export const WANTED_FILE = /^acme-([a-z0-9-]+)\.json$/

/**
 * dns-01: where the renewer publishes TXT records, the TSIG key included (issue #23). Root-only
 * (0600) in the proxy's config volume, the one place the renewer reads; never in an environment
 * variable (docker inspect shows those) nor in the log. Not matched by WANTED_FILE (`.dns.json`).
 */
export function dnsFile(app: string): string {
  return `acme-${app}.dns.json`
}
export const ACCOUNT_KEY_FILE = 'acme-account.key'

export function challengeFile(token: string): string {
  return `acme-challenge-${token}`
}

/** ACME tokens are base64url (RFC 8555 §8.1): anything else is not looked up. */
export const TOKEN = /^[A-Za-z0-9_-]{1,256}$/

export interface CertificateState {
  issuer: string
  notBefore: Date
  notAfter: Date
  serial: string
  names: string[]
}

/** The leaf of a PEM file (certificate chain + key), or undefined when it holds none. */
export function readCertificate(pem: string | undefined): CertificateState | undefined {
  const block = pem && /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0]
  if (!block) return undefined
  try {
    const c = new X509Certificate(block)
    return {
      issuer: c.issuer.replace(/\n/g, ', '),
      notBefore: new Date(c.validFrom),
      notAfter: new Date(c.validTo),
      serial: c.serialNumber,
      names: (c.subjectAltName ?? '')
        .split(',')
        .map(s => s.trim())
        .filter(s => s.startsWith('DNS:'))
        .map(s => s.slice(4).toLowerCase())
    }
  } catch {
    return undefined
  }
}

/** Renewal is due when less than `fraction` of the lifetime is left (Let's Encrypt suggests a third). */
export function renewalDue(cert: CertificateState | undefined, domains: string[], now: Date, fraction: number): string | undefined {
  if (!cert) return 'no certificate yet'
  const missing = domains.filter(d => !cert.names.includes(d.toLowerCase()))
  if (missing.length) return `the certificate does not cover ${missing.join(', ')}`
  const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime()
  const left = cert.notAfter.getTime() - now.getTime()
  if (left < lifetime * fraction) return `${Math.max(0, Math.round(left / 3_600_000))} h of ${Math.round(lifetime / 3_600_000)} h left`
  return undefined
}

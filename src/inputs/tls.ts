import { BlockList, isIP } from 'node:net'
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import type { TlsMode, TlsSettings } from '../core/config.js'
import { parseChallenge } from './dns01.js'

/** Let's Encrypt's production directory: the default ACME server. */
export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory'
/** The image the ACME renewer runs in (Node 24, as the action itself). */
export const DEFAULT_ACME_IMAGE = 'node:24-alpine'
const TLS_MODES: TlsMode[] = ['off', 'auto', 'custom']

/** What the TLS inputs need from the reader of parse.ts (kept small so this module stands alone). */
export interface TlsInputReader {
  str(name: string, fallback?: string): string
  secret(name: string): string
  bool(name: string, fallback: boolean): boolean
  int(name: string, fallback: number, min: number, max: number): number
  lines(name: string): string[]
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T
}

/** Raised as parse.ts's InputError: the input's name and one sentence. */
export type InputErrorFactory = (input: string, message: string) => Error

/**
 * The TLS inputs (issue #10): checked before anything touches the host. A custom certificate is
 * parsed with node:crypto (a certificate, its key, the app's names, still valid), so a wrong paste
 * fails here rather than on the proxy. Whether the router terminates TLS at all is the capability
 * check's (src/proxy/capabilities.ts).
 */
export function parseTls(
  r: TlsInputReader,
  error: InputErrorFactory,
  the: { proxyPort: number | undefined; domains: string[]; now?: Date; checkImage: (input: string, value: string) => string }
): TlsSettings {
  const mode = r.oneOf('tls', TLS_MODES, 'off')
  const httpsPort = r.int('https-port', 443, 1, 65535)
  const trustedProxies = parseTrustedProxies(r.lines('trusted-proxies'), error)
  const settings: TlsSettings = {
    mode,
    httpsPort,
    // Given without tls: the proxy publishes it from its creation, so HTTPS added later has no gap.
    ...(r.str('https-port') ? { httpsPortGiven: true } : {}),
    redirect: r.bool('tls-redirect', true),
    hsts: r.bool('hsts', false),
    trustedProxies
  }
  // Read (and so masked) whatever the mode: a key pasted by mistake must not reach the log.
  const certificate = r.secret('tls-certificate')
  const key = r.secret('tls-key')
  const tsigKey = r.secret('acme-dns-tsig-key')
  if (mode !== 'auto' && tsigKey.trim())
    throw error('acme-dns-tsig-key', "is set but 'tls' is not auto: it is only used with tls: auto and acme-challenge: dns-01")
  if (mode === 'off') {
    if (certificate.trim() || key.trim()) throw error(certificate.trim() ? 'tls-certificate' : 'tls-key', "is set but 'tls' is off: set tls: custom to use it")
    return settings
  }
  // proxy-port none publishes neither: an edge passes HTTPS through to the proxy's port 443.
  if (the.proxyPort !== undefined && httpsPort === the.proxyPort)
    throw error('https-port', `must differ from proxy-port (${the.proxyPort}): the proxy serves HTTP and HTTPS on separate ports`)
  if (!the.domains.length) throw error('tls', `is "${mode}", which needs 'domains': certificates are for host names`)
  if (mode === 'custom') {
    if (!certificate.trim()) throw error('tls-certificate', 'is required when tls is custom (PEM text, the chain included)')
    if (!key.trim()) throw error('tls-key', 'is required when tls is custom (the PEM private key of tls-certificate)')
    checkCustomCertificate(certificate, key, the.domains, the.now ?? new Date(), error)
    return { ...settings, certificate: normalizePem(certificate), key: normalizePem(key) }
  }
  if (certificate.trim() || key.trim()) throw error(certificate.trim() ? 'tls-certificate' : 'tls-key', 'is only used with tls: custom, not auto')
  const challenge = parseChallenge(r, error, the.domains)
  const email = r.str('acme-email')
  if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw error('acme-email', `is not an email address: ${JSON.stringify(email)}`)
  const directory = r.str('acme-directory', LETS_ENCRYPT)
  let url: URL
  try {
    url = new URL(directory)
  } catch {
    throw error('acme-directory', `must be the https URL of an ACME directory, not ${JSON.stringify(directory)}`)
  }
  if (url.protocol !== 'https:') throw error('acme-directory', `must be an https URL (ACME is served over TLS), not ${JSON.stringify(directory)}`)
  const ca = r.str('acme-directory-ca')
  if (ca) {
    try {
      new X509Certificate(ca)
    } catch (e) {
      throw error('acme-directory-ca', `must be a PEM certificate (the ACME server's TLS root): ${(e as Error).message}`)
    }
  }
  const image = the.checkImage('acme-image', r.str('acme-image', DEFAULT_ACME_IMAGE))
  return { ...settings, acme: { email: email || undefined, directory, directoryCa: ca ? normalizePem(ca) : undefined, image, ...challenge } }
}

function normalizePem(text: string): string {
  return text.replace(/\r\n/g, '\n').trim() + '\n'
}

function parseTrustedProxies(lines: string[], error: InputErrorFactory): string[] {
  const entries = lines.flatMap(l => l.split(/[\s,]+/)).filter(Boolean)
  for (const e of entries) {
    const [address, bits, extra] = e.split('/')
    const family = isIP(address)
    const max = family === 4 ? 32 : 128
    const ok = family !== 0 && extra === undefined && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max))
    if (!ok) throw error('trusted-proxies', `has "${e}", which is not an IP address or CIDR range (such as 10.0.0.0/8 or 2001:db8::/32)`)
    // BlockList accepts exactly what HAProxy's src ACL does for these forms.
    new BlockList().addSubnet(address, bits === undefined ? max : Number(bits), family === 4 ? 'ipv4' : 'ipv6')
  }
  return entries
}

/** Certificates of a PEM bundle, leaf first. */
export function pemCertificates(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  return blocks.map(b => new X509Certificate(b))
}

/** Whether a certificate's names cover a host name (a wildcard covers one label). */
export function certificateCovers(cert: X509Certificate, domain: string): boolean {
  const names = (cert.subjectAltName ?? '')
    .split(',')
    .map(s => s.trim())
    .filter(s => s.startsWith('DNS:'))
    .map(s => s.slice(4).toLowerCase())
  const d = domain.toLowerCase()
  return names.some(n => n === d || (n.startsWith('*.') && !d.startsWith('*.') && d.slice(d.indexOf('.')) === n.slice(1)))
}

function checkCustomCertificate(certificate: string, keyText: string, domains: string[], now: Date, error: InputErrorFactory): void {
  let certs: X509Certificate[]
  try {
    certs = pemCertificates(certificate)
  } catch (e) {
    throw error('tls-certificate', `is not a valid PEM certificate: ${(e as Error).message}`)
  }
  if (!certs.length) throw error('tls-certificate', 'has no "-----BEGIN CERTIFICATE-----" block (PEM text, the chain included)')
  if (/PRIVATE KEY-----/.test(certificate)) throw error('tls-certificate', "holds a private key: give it in 'tls-key' instead")
  let key: KeyObject
  try {
    key = createPrivateKey(keyText)
  } catch (e) {
    throw error('tls-key', `is not a PEM private key (an encrypted key is not supported): ${(e as Error).message}`)
  }
  const leaf = certs[0]
  if (!leaf.checkPrivateKey(key)) throw error('tls-key', `does not match tls-certificate (${leaf.subject.replace(/\n/g, ', ')})`)
  const notAfter = new Date(leaf.validTo)
  if (notAfter.getTime() <= now.getTime()) throw error('tls-certificate', `expired on ${notAfter.toISOString()}`)
  if (new Date(leaf.validFrom).getTime() > now.getTime()) throw error('tls-certificate', `is not valid before ${new Date(leaf.validFrom).toISOString()}`)
  const missing = domains.filter(d => !certificateCovers(leaf, d))
  if (missing.length) {
    throw error('tls-certificate', `does not cover ${missing.join(', ')} (its names: ${leaf.subjectAltName ?? 'none'}): it must name every domain of the app`)
  }
}

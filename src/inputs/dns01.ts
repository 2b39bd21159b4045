import { isIP } from 'node:net'
import type { TlsSettings } from '../core/config.js'
import { parseTsigKey } from '../acme/tsig.js'
import { HOSTNAME } from './patterns.js'

/** What the challenge inputs need of tls.ts's reader and error factory (not imported: tls.ts imports this file). */
interface ChallengeReader {
  str(name: string, fallback?: string): string
  secret(name: string): string
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T
}
type InputErrorFactory = (input: string, message: string) => Error

type AcmeChallenge = Pick<NonNullable<TlsSettings['acme']>, 'challenge' | 'dns'>

/**
 * acme-challenge (issue #23): http-01 (through the proxy, the default) or dns-01 (TXT records by an
 * RFC 2136 update signed with a TSIG key): the one that issues wildcards. Read with tls: auto.
 */
export function parseChallenge(r: ChallengeReader, error: InputErrorFactory, domains: string[]): AcmeChallenge {
  const challenge = r.oneOf('acme-challenge', ['http-01', 'dns-01'] as const, 'http-01')
  const wildcard = domains.find(d => d.startsWith('*.'))
  if (challenge === 'http-01') {
    if (wildcard) {
      throw error(
        'domains',
        `has the wildcard "${wildcard}", which ACME HTTP-01 cannot validate: set acme-challenge: dns-01 (with acme-dns-server, acme-dns-zone and acme-dns-tsig-key), or use tls: custom`
      )
    }
    for (const input of ['acme-dns-server', 'acme-dns-zone', 'acme-dns-tsig-key']) {
      if (r.str(input)) throw error(input, 'is only used with acme-challenge: dns-01')
    }
    return {}
  }
  const zone = r.str('acme-dns-zone').replace(/\.$/, '').toLowerCase()
  if (!zone) throw error('acme-dns-zone', 'is required with acme-challenge: dns-01: the DNS zone the TXT records are added to (e.g. example.com)')
  if (!HOSTNAME.test(zone)) throw error('acme-dns-zone', `must be a DNS zone name such as example.com, not ${JSON.stringify(zone)}`)
  const outside = domains.filter(d => {
    const bare = d.replace(/^\*\./, '').toLowerCase()
    return bare !== zone && !bare.endsWith(`.${zone}`)
  })
  if (outside.length) throw error('acme-dns-zone', `is ${zone}, which does not hold ${outside.join(', ')}: every name in domains must be in it`)
  const { server, port } = parseServer(r.str('acme-dns-server'), error)
  const keyText = r.secret('acme-dns-tsig-key')
  if (!keyText.trim())
    throw error('acme-dns-tsig-key', 'is required with acme-challenge: dns-01: the TSIG key the DNS server accepts updates of the zone with (from a secret)')
  try {
    parseTsigKey(keyText)
  } catch (e) {
    throw error('acme-dns-tsig-key', (e as Error).message)
  }
  return { challenge, dns: { kind: 'rfc2136', server, port, zone, tsigKey: keyText.trim() } }
}

/** acme-dns-server: `host`, `host:port`, `[v6]:port`, as the renewer container reaches the zone's primary. */
function parseServer(value: string, error: InputErrorFactory): { server: string; port: number } {
  if (!value)
    throw error(
      'acme-dns-server',
      'is required with acme-challenge: dns-01: the primary DNS server of the zone that takes RFC 2136 updates (host or host:port)'
    )
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(value) ?? /^([^:[\]]+)(?::(\d+))?$/.exec(value)
  const port = m?.[2] === undefined ? 53 : Number(m[2])
  const host = m?.[1] ?? ''
  const valid = !!m && port >= 1 && port <= 65535 && (isIP(host) !== 0 || HOSTNAME.test(host))
  if (!valid) throw error('acme-dns-server', `must be a host or host:port (such as ns1.example.com or 192.0.2.53:53), not ${JSON.stringify(value)}`)
  return { server: host, port }
}

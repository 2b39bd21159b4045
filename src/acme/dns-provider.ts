/**
 * DNS-01 (issue #23): the renewer publishes `_acme-challenge.<name>` TXT records through a DNS
 * provider. One adapter exists (RFC 2136 with TSIG, src/acme/rfc2136.ts); a provider's HTTP API
 * (Cloudflare, Route 53, ...) is one more class with these two methods and one more `kind`.
 */
export interface DnsProvider {
  /** For messages: "RFC 2136". */
  readonly name: string
  /** Publishes the TXT record (other values at the name are kept: a wildcard and its base name share it). */
  setTxt(fqdn: string, value: string): Promise<void>
  /** Removes exactly that value. */
  removeTxt(fqdn: string, value: string): Promise<void>
}

/** The DNS settings the renewer keeps for an app (acme-<app>-dns.json, 0600 in the proxy's volume): secrets included. */
export interface DnsChallengeSettings {
  kind: 'rfc2136'
  server: string
  port: number
  zone: string
  /** As the input gave it (BIND key block or algorithm:name:secret). */
  tsigKey: string
}

export const DNS_PROVIDER_KINDS = ['rfc2136'] as const

import { randomBytes } from 'node:crypto'
import { inputParser } from '../support/inputs.js'
import { sshKeyPair } from '../support/keys.js'

// acme-challenge: dns-01 (issue #23): wildcards, the DNS server, zone and TSIG key, checked before
// anything on the host changes; the key is masked and never quoted.

const secret = randomBytes(32).toString('base64')
const keyBlock = `key "acme" {\n\talgorithm hmac-sha256;\n\tsecret "${secret}";\n};\n`
const base: Record<string, string> = {
  app: 'web',
  host: 'deploy.example.com',
  'ssh-private-key': sshKeyPair().private,
  'insecure-skip-host-key-check': 'true',
  image: 'ghcr.io/acme/web:1.2.3',
  domains: '*.example.com example.com',
  tls: 'auto',
  'acme-challenge': 'dns-01',
  'acme-dns-server': 'ns1.example.com:5353',
  'acme-dns-zone': 'example.com',
  'acme-dns-tsig-key': keyBlock
}

const { parse, errorOf } = inputParser(base)

describe('acme-challenge dns-01', () => {
  it('takes a wildcard with its zone, server and TSIG key; the key is masked', () => {
    const masked: string[] = []
    const acme = parse({}, masked).proxy.tls!.acme!
    expect(acme).toMatchObject({
      challenge: 'dns-01',
      dns: { kind: 'rfc2136', server: 'ns1.example.com', port: 5353, zone: 'example.com', tsigKey: keyBlock.trim() }
    })
    expect(masked.some(m => m.includes(secret))).toBe(true)
    expect(parse({ 'acme-dns-server': '192.0.2.53' }).proxy.tls!.acme!.dns).toMatchObject({ server: '192.0.2.53', port: 53 })
  })

  it.each([
    [{ 'acme-dns-zone': '' }, "Input 'acme-dns-zone' is required with acme-challenge: dns-01"],
    [
      { 'acme-dns-zone': 'other.com' },
      "Input 'acme-dns-zone' is other.com, which does not hold *.example.com, example.com: every name in domains must be in it"
    ],
    [{ 'acme-dns-server': '' }, "Input 'acme-dns-server' is required with acme-challenge: dns-01"],
    [{ 'acme-dns-server': 'ns1:99999' }, 'Input \'acme-dns-server\' must be a host or host:port (such as ns1.example.com or 192.0.2.53:53), not "ns1:99999"'],
    [{ 'acme-dns-tsig-key': '' }, "Input 'acme-dns-tsig-key' is required with acme-challenge: dns-01"],
    [{ 'acme-dns-tsig-key': `hmac-md5:acme:${secret}` }, 'Input \'acme-dns-tsig-key\' has the algorithm "hmac-md5"'],
    [{ 'acme-challenge': 'http-01' }, 'Input \'domains\' has the wildcard "*.example.com", which ACME HTTP-01 cannot validate: set acme-challenge: dns-01'],
    [{ 'acme-challenge': 'http-01', domains: 'example.com' }, "Input 'acme-dns-server' is only used with acme-challenge: dns-01"],
    [{ tls: 'off' }, "Input 'acme-dns-tsig-key' is set but 'tls' is not auto"]
  ])('refuses %j', (overrides, message) => {
    const text = errorOf(overrides)
    expect(text).toContain(message)
    expect(text).not.toContain(secret)
  })
})

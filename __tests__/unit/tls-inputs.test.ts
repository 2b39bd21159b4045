import { InputError } from '../../src/inputs/parse.js'
import { inputParser } from '../support/inputs.js'
import { certificateCovers, LETS_ENCRYPT, parseTls, pemCertificates } from '../../src/inputs/tls.js'
import { opensslCert } from '../support/certs.js'
import { sshKeyPair } from '../support/keys.js'

const key = sshKeyPair().private
const base: Record<string, string> = {
  app: 'web',
  host: 'deploy.example.com',
  'ssh-private-key': key,
  'insecure-skip-host-key-check': 'true',
  image: 'ghcr.io/acme/web:1.2.3',
  'proxy-type': 'haproxy',
  domains: 'app.example.com www.example.com'
}

const { parse, errorOf } = inputParser(base)

const good = opensslCert(['app.example.com', 'www.example.com'])

describe('TLS inputs', () => {
  it('defaults: tls off, https-port 443, redirect on, hsts off, nobody trusted', () => {
    expect(parse().proxy.tls).toEqual({ mode: 'off', httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] })
  })

  it("tls auto: Let's Encrypt production and node:24-alpine unless told otherwise", () => {
    const tls = parse({ tls: 'auto', 'acme-email': 'ops@example.com' }).proxy.tls!
    expect(tls.acme).toEqual({ email: 'ops@example.com', directory: LETS_ENCRYPT, directoryCa: undefined, image: 'node:24-alpine' })
    const ca = opensslCert(['acme.test']).cert
    const custom = parse({
      tls: 'auto',
      'acme-directory': 'https://acme.test:14000/dir',
      'acme-directory-ca': ca,
      'acme-image': 'registry.example.com/node:24'
    }).proxy.tls!
    expect(custom.acme).toMatchObject({ directory: 'https://acme.test:14000/dir', image: 'registry.example.com/node:24' })
    expect(custom.acme?.directoryCa).toContain('BEGIN CERTIFICATE')
  })

  it('tls custom: accepts a matching, valid certificate covering every domain, and masks both', () => {
    const masked: string[] = []
    const tls = parse({ tls: 'custom', 'tls-certificate': good.cert, 'tls-key': good.key, hsts: 'true', 'https-port': '8443' }, masked).proxy.tls!
    expect(tls).toMatchObject({ mode: 'custom', httpsPort: 8443, hsts: true })
    expect(tls.certificate).toContain('BEGIN CERTIFICATE')
    expect(masked).toEqual(expect.arrayContaining([good.cert, good.key]))
    // every line of the key too: the runner masks line by line
    expect(masked).toEqual(
      expect.arrayContaining(
        good.key
          .trim()
          .split('\n')
          .filter(l => l.length >= 4)
      )
    )
  })

  it('a wildcard certificate covers one label below it', () => {
    const wild = pemCertificates(opensslCert(['*.example.com']).cert)[0]
    expect(certificateCovers(wild, 'a.example.com')).toBe(true)
    expect(certificateCovers(wild, '*.example.com')).toBe(true)
    expect(certificateCovers(wild, 'a.b.example.com')).toBe(false)
    expect(certificateCovers(wild, 'example.com')).toBe(false)
  })

  it('trusted-proxies: addresses and CIDRs of both families', () => {
    expect(parse({ 'trusted-proxies': '10.0.0.0/8\n173.245.48.0/20, 2400:cb00::/32\n192.0.2.7' }).proxy.tls!.trustedProxies).toEqual([
      '10.0.0.0/8',
      '173.245.48.0/20',
      '2400:cb00::/32',
      '192.0.2.7'
    ])
  })

  const other = opensslCert(['other.example.com'])
  const expired = opensslCert(['app.example.com', 'www.example.com'], 1)
  it.each([
    [{ 'proxy-type': 'nginx', tls: 'auto' }, "Input 'tls' is auto, which needs TLS termination, which the nginx router does not have: remove 'tls'"],
    [{ 'proxy-type': 'nginx', tls: 'custom', 'tls-certificate': good.cert, 'tls-key': good.key }, "Input 'tls' is custom, which needs TLS termination"],
    [{ 'proxy-type': 'nginx', 'trusted-proxies': '10.0.0.0/8' }, "Input 'trusted-proxies' needs TLS termination, which the nginx router does not have"],
    [{ tls: 'yes' }, "Input 'tls' must be one of off, auto, custom"],
    [{ tls: 'auto', domains: '' }, "which needs 'domains'"],
    [
      { tls: 'auto', domains: '*.example.com' },
      'Input \'domains\' has the wildcard "*.example.com", which ACME HTTP-01 cannot validate: set acme-challenge: dns-01'
    ],
    [{ tls: 'auto', 'https-port': '80' }, "Input 'https-port' must differ from proxy-port"],
    [{ tls: 'auto', 'https-port': '0' }, "Input 'https-port' must be from 1 to 65535"],
    [{ tls: 'auto', 'acme-directory': 'http://acme.test/dir' }, "Input 'acme-directory' must be an https URL"],
    [{ tls: 'auto', 'acme-directory': 'not a url' }, "Input 'acme-directory' must be the https URL"],
    [{ tls: 'auto', 'acme-directory-ca': 'nope' }, "Input 'acme-directory-ca' must be a PEM certificate"],
    [{ tls: 'auto', 'acme-email': 'ops' }, "Input 'acme-email' is not an email address"],
    [{ tls: 'auto', 'acme-image': 'Bad Image' }, "Input 'acme-image' is not a valid image reference"],
    [{ tls: 'custom' }, "Input 'tls-certificate' is required when tls is custom"],
    [{ tls: 'custom', 'tls-certificate': good.cert }, "Input 'tls-key' is required when tls is custom"],
    [{ tls: 'custom', 'tls-certificate': 'garbage', 'tls-key': good.key }, 'has no "-----BEGIN CERTIFICATE-----" block'],
    [{ tls: 'custom', 'tls-certificate': good.cert, 'tls-key': 'garbage' }, "Input 'tls-key' is not a PEM private key"],
    [{ tls: 'custom', 'tls-certificate': good.cert, 'tls-key': other.key }, "Input 'tls-key' does not match tls-certificate"],
    [{ tls: 'custom', 'tls-certificate': other.cert, 'tls-key': other.key }, 'does not cover app.example.com, www.example.com'],
    [{ tls: 'custom', 'tls-certificate': good.cert + good.key, 'tls-key': good.key }, 'holds a private key'],
    [{ 'tls-key': good.key }, "Input 'tls-key' is set but 'tls' is off"],
    [{ tls: 'auto', 'tls-certificate': good.cert }, "Input 'tls-certificate' is only used with tls: custom"],
    [{ 'trusted-proxies': '10.0.0.0/33' }, 'has "10.0.0.0/33", which is not an IP address or CIDR range'],
    [{ 'trusted-proxies': 'cloudflare' }, 'has "cloudflare"'],
    [{ hsts: 'maybe' }, "Input 'hsts' must be true or false"]
  ])('rejects %j', (overrides, message) => {
    expect(errorOf(overrides as Record<string, string>)).toContain(message)
  })

  it('rejects an expired certificate, naming when it expired', () => {
    const values: Record<string, string> = { tls: 'custom', 'tls-certificate': expired.cert, 'tls-key': expired.key }
    const str = (n: string, f = '') => values[n] ?? f
    const reader = {
      str,
      secret: str,
      bool: (n: string, f: boolean) => (values[n] ? values[n] === 'true' : f),
      int: (n: string, f: number) => Number(values[n] ?? f),
      lines: () => [],
      oneOf: <T extends string>(n: string, _a: readonly T[], f: T) => (values[n] ?? f) as T
    }
    const run = (now: Date) =>
      parseTls(reader, (input, m) => new InputError(input, m), {
        proxyPort: 80,
        domains: ['app.example.com'],
        now,
        checkImage: (_i, v) => v
      })
    expect(run(new Date()).mode).toBe('custom')
    expect(() => run(new Date(Date.now() + 3 * 86_400_000))).toThrow(/Input 'tls-certificate' expired on 20\d\d-/)
  })
})

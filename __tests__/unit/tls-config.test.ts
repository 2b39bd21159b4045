import { renewalDue, readCertificate } from '../../src/acme/state.js'
import {
  EMPTY_ACME_MAP,
  EMPTY_CERTS_LIST,
  HAPROXY_CONF_DIR,
  parseCertsList,
  renderAppConfig,
  renderBaseConfig,
  renderTlsRules,
  TLS_OFF,
  updateAcmeMap,
  updateCertsList
} from '../../src/proxy/haproxy-config.js'
import { renderCertificates } from '../../src/reporting/certificates.js'
import { opensslCert } from '../support/certs.js'
import { tempDir } from '../support/temp-dirs.js'

const route = { app: 'web', color: 'blue' as const, releaseId: 'r1', appPort: 3000 }
const verifyMap = `${HAPROXY_CONF_DIR}/verify-web.map`

describe('HAProxy TLS config', () => {
  it('base: HTTPS with HTTP/2 from the crt-list, strict SNI, ACME challenges to the renewer before any app', () => {
    const base = renderBaseConfig(30, 'edge')
    expect(base).toContain(`bind :443 ssl crt-list ${HAPROXY_CONF_DIR}/certs.list strict-sni alpn h2,http/1.1`)
    expect(base).toContain('server acme edge-acme:8402 resolvers docker')
    const acme = base.indexOf('use_backend cutover_acme')
    expect(acme).toBeGreaterThan(0)
    expect(acme).toBeLessThan(base.indexOf('use_backend %[var(txn.cutover_backend)]'))
    // appending forwardfor would let clients spoof X-Forwarded-For
    expect(base).not.toMatch(/^\s*option forwardfor/m)
  })

  it("forwarded headers come from the proxy's view for everyone, or pass through from trusted proxies only", () => {
    const untrusted = renderTlsRules(TLS_OFF, verifyMap)
    expect(untrusted).toContain('http-request set-header X-Forwarded-For %[src]\n')
    expect(untrusted).toContain('http-request set-header X-Forwarded-Proto %[var(txn.cutover_proto)]\n')
    expect(untrusted).not.toContain('redirect')
    expect(untrusted).not.toContain('Strict-Transport-Security')
    const trusted = renderTlsRules({ ...TLS_OFF, trustedProxies: ['10.0.0.0/8', '2400:cb00::/32'] }, verifyMap)
    expect(trusted).toContain('acl cutover_trusted src 10.0.0.0/8 2400:cb00::/32')
    expect(trusted).toContain('set-header X-Forwarded-For %[src] unless cutover_trusted { req.hdr(x-forwarded-for) -m found }')
  })

  it("tls: a 308 to the HTTPS port (none shown for 443) except for cutover's own verification, HSTS over TLS only", () => {
    const rules = renderTlsRules({ enabled: true, httpsPort: 8443, redirect: true, hsts: true, trustedProxies: [] }, verifyMap)
    expect(rules).toContain(
      `http-request redirect location https://%[req.hdr(host),field(1,:)]:8443%[capture.req.uri] code 308 if !{ ssl_fc } !{ path_beg /.well-known/acme-challenge/ } !{ var(txn.cutover_verify),map(${verifyMap}) -m found }`
    )
    expect(rules).toContain('http-response set-header Strict-Transport-Security "max-age=31536000" if { ssl_fc }')
    expect(renderTlsRules({ enabled: true, httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] }, verifyMap)).toContain(
      'location https://%[req.hdr(host),field(1,:)]%[capture.req.uri] code 308'
    )
    expect(renderTlsRules({ enabled: true, httpsPort: 443, redirect: false, hsts: false, trustedProxies: [] }, verifyMap)).not.toContain('redirect')
    expect(renderAppConfig(route, 'tok', 1, undefined, false, { enabled: true, httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] })).toContain(
      'code 308'
    )
  })

  it("crt-list and ACME map: one app's entries replaced, the others kept", () => {
    let list = updateCertsList(EMPTY_CERTS_LIST, 'b', true)
    list = updateCertsList(list, 'a', true)
    expect(parseCertsList(list)).toEqual(['cert-a.pem', 'cert-b.pem'])
    expect(list).toContain(`${HAPROXY_CONF_DIR}/cert-a.pem\n`)
    expect(updateCertsList(list, 'a', true)).toBe(list)
    expect(parseCertsList(updateCertsList(list, 'b', false))).toEqual(['cert-a.pem'])

    let map = updateAcmeMap(EMPTY_ACME_MAP, 'a', ['a.example.com', 'www.a.example.com'])
    map = updateAcmeMap(map, 'b', ['b.example.com'])
    expect(map).toContain('a.example.com a\nb.example.com b\nwww.a.example.com a\n')
    expect(updateAcmeMap(map, 'a', ['a.example.com'])).not.toContain('www.a.example.com')
    expect(updateAcmeMap(map, 'a', [])).toBe(EMPTY_ACME_MAP + 'b.example.com b\n')
  })
})

describe('certificate state', () => {
  const pem = opensslCert(['a.example.com', 'b.example.com'], 90)
  const cert = readCertificate(pem.cert + pem.key)!

  it('reads issuer, dates, serial and names of the leaf', () => {
    expect(cert.names).toEqual(['a.example.com', 'b.example.com'])
    expect(cert.issuer).toContain('CN=a.example.com')
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBeGreaterThan(89 * 86_400_000)
    expect(readCertificate('# Removed by cutover.\n')).toBeUndefined()
    expect(readCertificate(undefined)).toBeUndefined()
  })

  it('renewal is due without a certificate, for a name it lacks, or with less than the fraction of its life left', () => {
    const now = new Date()
    expect(renewalDue(undefined, ['a.example.com'], now, 1 / 3)).toBe('no certificate yet')
    expect(renewalDue(cert, ['c.example.com'], now, 1 / 3)).toBe('the certificate does not cover c.example.com')
    expect(renewalDue(cert, ['A.example.com'], now, 1 / 3)).toBeUndefined()
    expect(renewalDue(cert, ['a.example.com'], new Date(cert.notAfter.getTime() - 20 * 86_400_000), 1 / 3)).toMatch(/^480 h of 2160 h left$/)
    expect(renewalDue(cert, ['a.example.com'], now, 2)).toBeDefined()
  })

  it('the summary lists each domain, warning under 14 days and when none covers it', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    const md = renderCertificates(
      [
        { domain: 'a.example.com', issuer: 'CN=Pebble | Intermediate', notAfter: '2026-03-01T00:00:00.000Z' },
        { domain: 'b.example.com', issuer: 'CN=R11', notAfter: '2026-01-10T00:00:00.000Z' },
        { domain: 'c.example.com' }
      ],
      now
    )
    expect(md).toContain('| a.example.com | CN=Pebble \\| Intermediate | 2026-03-01T00:00:00.000Z | 59 days left |')
    expect(md).toContain('| b.example.com | CN=R11 | 2026-01-10T00:00:00.000Z | ⚠️ expires in 9 days |')
    expect(md).toContain('| c.example.com | — | — | ⚠️ no certificate |')
    expect(renderCertificates([])).toBe('')
  })

  it('with several hosts, each row names the host whose proxy serves the certificate', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    const md = renderCertificates(
      [
        { host: 'deploy@10.0.0.1:22', domain: 'a.example.com', issuer: 'CN=R11', notAfter: '2026-03-01T00:00:00.000Z' },
        { host: 'deploy@10.0.0.2:22', domain: 'a.example.com' }
      ],
      now
    )
    expect(md).toContain('| host | domain | issuer | expires | |')
    expect(md).toContain('| deploy@10.0.0.1:22 | a.example.com | CN=R11 | 2026-03-01T00:00:00.000Z | 59 days left |')
    expect(md).toContain('| deploy@10.0.0.2:22 | a.example.com | — | — | ⚠️ no certificate |')
  })
})

describe('the renewer after mode remove', () => {
  it('skips an app whose wanted file was emptied (taken off the proxy), keeps the others', async () => {
    const { writeFileSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { wantedApps } = await import('../../src/acme/renewer.js')
    const dir = tempDir('cutover-acme-')
    writeFileSync(join(dir, 'acme-shop.json'), '{"app":"shop","domains":["shop.test"],"directory":"https://acme.test/dir"}')
    writeFileSync(join(dir, 'acme-gone.json'), '')
    writeFileSync(join(dir, 'cert-gone.pem'), '')
    expect((await wantedApps(dir)).sort()).toEqual(['shop'])
  })
})

import { randomBytes } from 'node:crypto'
import { Rfc2136Provider, updateMessage } from '../../src/acme/rfc2136.js'
import { parseTsigKey, signMessage } from '../../src/acme/tsig.js'
import { startBind, type TestBind } from '../support/bind.js'
import { freePort } from '../support/testbed.js'

// The RFC 2136 DNS provider (DNS-01, issue #23) against Debian's bind9 (scripts/testbed/up.sh
// installs it): TXT records added and removed with the zone's TSIG key; a wrong key is refused
// with the server's own answer.

describe('TSIG keys', () => {
  const secret = randomBytes(32).toString('base64')

  it('reads what tsig-keygen prints and what nsupdate -y takes', () => {
    const block = `key "acme-update" {\n\talgorithm hmac-sha256;\n\tsecret "${secret}";\n};\n`
    expect(parseTsigKey(block)).toEqual({ name: 'acme-update', algorithm: 'hmac-sha256', secret: Buffer.from(secret, 'base64') })
    expect(parseTsigKey(`hmac-sha512:Acme-Update.:${secret}`)).toEqual({ name: 'acme-update', algorithm: 'hmac-sha512', secret: Buffer.from(secret, 'base64') })
  })

  it('refuses what is not a key, never quoting the secret', () => {
    const bad = (text: string) => {
      try {
        parseTsigKey(text)
      } catch (e) {
        expect((e as Error).message).not.toContain(secret)
        return (e as Error).message
      }
      throw new Error('accepted')
    }
    expect(bad(secret)).toBe('must be a BIND key block (as tsig-keygen prints it) or algorithm:name:secret')
    expect(bad(`hmac-md5:k:${secret}`)).toContain('has the algorithm "hmac-md5"; use one of hmac-sha1')
    expect(bad('hmac-sha256:k:c2hvcnQ=')).toBe('has a secret that is not base64 of at least 16 bytes')
  })

  it('a signed update carries one more additional record and a MAC of the algorithm size', () => {
    const key = parseTsigKey(`hmac-sha256:k:${secret}`)
    const message = updateMessage(7, 'example.test', '_acme-challenge.example.test', 'abc', true)
    const { signed, mac } = signMessage(message, key, 1_700_000_000_000)
    expect(signed.readUInt16BE(10)).toBe(1)
    expect(mac.length).toBe(32)
    expect(signed.subarray(0, message.length).subarray(12)).toEqual(message.subarray(12))
  })
})

describe('Rfc2136Provider against bind9', () => {
  let bind: TestBind
  const zone = 'cutover-dns.test'

  beforeAll(async () => {
    bind = await startBind({ zone, port: await freePort() })
  }, 30_000)
  afterAll(async () => {
    await bind?.stop()
  })

  const provider = (secret = bind.secret) =>
    new Rfc2136Provider({ server: '127.0.0.1', port: bind.port, zone, key: parseTsigKey(`hmac-sha256:${bind.keyName}:${secret}`) })

  it('adds two values at one name (a wildcard and its base share it) and removes exactly one', async () => {
    const name = `_acme-challenge.${zone}`
    await provider().setTxt(name, 'first-value')
    await provider().setTxt(name, 'second-value')
    expect((await bind.txt(name)).sort()).toEqual(['first-value', 'second-value'])
    await provider().removeTxt(name, 'first-value')
    expect(await bind.txt(name)).toEqual(['second-value'])
    await provider().removeTxt(name, 'second-value')
    expect(await bind.txt(name)).toEqual([])
  })

  it("a wrong key is refused with the server's answer, and nothing is published", async () => {
    const name = `_acme-challenge.sub.${zone}`
    await expect(provider(randomBytes(32).toString('base64')).setTxt(name, 'nope')).rejects.toThrow(
      `the DNS server 127.0.0.1:${bind.port} refused the update of zone ${zone} (adding TXT ${name}): it answered NOTAUTH (TSIG BADSIG)`
    )
    expect(await bind.txt(name)).toEqual([])
  })

  it('a name outside the zone is refused before anything is sent; a server that does not answer is bounded', async () => {
    await expect(provider().setTxt('_acme-challenge.other.test', 'x')).rejects.toThrow('_acme-challenge.other.test is not in the zone cutover-dns.test')
    const silent = new Rfc2136Provider({ server: '127.0.0.1', port: await freePort(), zone, key: parseTsigKey(`hmac-sha256:k:${bind.secret}`) }, 500)
    await expect(silent.setTxt(`x.${zone}`, 'v')).rejects.toThrow(/did not answer within 0.5 s|could not be asked/)
  })
})

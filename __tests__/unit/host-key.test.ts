import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { HostKeyPin } from '../../src/core/config.js'
import {
  algorithmsForKeyType,
  checkHostKey,
  fingerprintOf,
  keyTypeOf,
  keysForHost,
  knownHostsName,
  parseKnownHosts,
  type KnownHostsLine
} from '../../src/core/host-key.js'
import { tempDir } from '../support/temp-dirs.js'

const dir = tempDir('cutover-hostkey-')

/** A real key written by ssh-keygen, with what ssh-keygen says of it. */
function sshKeygen(type: 'ed25519' | 'rsa' | 'ecdsa', name: string) {
  const file = join(dir, name)
  const args = ['-q', '-t', type, '-N', '', '-C', `test-${name}`, '-f', file]
  if (type === 'rsa') args.push('-b', '2048')
  execFileSync('ssh-keygen', args)
  const pub = readFileSync(`${file}.pub`, 'utf8').trim()
  const [keyType, data] = pub.split(' ')
  // e.g. "256 SHA256:abc... test-name (ED25519)"
  const listed = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' })
    .trim()
    .split(' ')
  return { file, pub, keyType, data, blob: Buffer.from(data, 'base64'), keygenFingerprint: listed[1] }
}

const ed = sshKeygen('ed25519', 'ed')
const rsa = sshKeygen('rsa', 'rsa')
const ecdsa = sshKeygen('ecdsa', 'ecdsa')
const other = sshKeygen('ed25519', 'other')

describe('fingerprintOf', () => {
  it.each([
    ['ed25519', ed],
    ['rsa', rsa],
    ['ecdsa', ecdsa]
  ])('prints the same SHA256 fingerprint as ssh-keygen -lf for a %s key', (_name, key) => {
    expect(key.keygenFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    expect(fingerprintOf(key.blob)).toBe(key.keygenFingerprint)
  })

  it('differs between two keys', () => {
    expect(fingerprintOf(ed.blob)).not.toBe(fingerprintOf(other.blob))
  })

  it('reads the key type from the blob', () => {
    expect(keyTypeOf(ed.blob)).toBe('ssh-ed25519')
    expect(keyTypeOf(rsa.blob)).toBe('ssh-rsa')
    expect(keyTypeOf(ecdsa.blob)).toBe('ecdsa-sha2-nistp256')
    expect(keyTypeOf(Buffer.alloc(2))).toBe('unknown')
  })
})

describe('parseKnownHosts', () => {
  it('reads host lines, skipping blanks and comments, with CRLF', () => {
    const lines = parseKnownHosts(`# a comment\r\n\r\n[127.0.0.1]:2222 ${ed.keyType} ${ed.data}\r\nexample.com ${rsa.pub}\n`)
    expect(Array.isArray(lines)).toBe(true)
    const parsed = lines as KnownHostsLine[]
    expect(parsed).toHaveLength(2)
    expect(parsed[0].hosts).toBe('[127.0.0.1]:2222')
    expect(parsed[0].key.type).toBe('ssh-ed25519')
    expect(parsed[0].key.blob.equals(ed.blob)).toBe(true)
    expect(parsed[1].key.type).toBe('ssh-rsa')
  })

  it.each([
    ['', 'it holds no host key line'],
    ['# only a comment\n\n', 'it holds no host key line'],
    [`@cert-authority *.example.com ${ed.keyType} ${ed.data}`, 'line 1 uses the marker @cert-authority'],
    [`# c\n@revoked host ${ed.keyType} ${ed.data}`, 'line 2 uses the marker @revoked'],
    [`host ${ed.keyType}`, 'line 1 is not "host keytype base64-key"'],
    [`host ${ed.data}`, 'line 1 is not "host keytype base64-key"'],
    [`ok ${ed.keyType} ${ed.data}\nhost ssh-rsa ${ed.data}`, 'line 2 does not hold a valid ssh-rsa public key'],
    ['host ssh-ed25519 AAAA', 'line 1 does not hold a valid ssh-ed25519 public key'],
    ['host ssh-ed25519 not-base64-at-all!!', 'line 1 does not hold a valid ssh-ed25519 public key']
  ])('explains what is wrong with %j', (text, message) => {
    const result = parseKnownHosts(text)
    expect(typeof result).toBe('string')
    expect(result as string).toContain(message)
  })
})

describe('keysForHost', () => {
  it('names hosts as known_hosts does: bare on port 22, [host]:port otherwise', () => {
    expect(knownHostsName('example.com', 22)).toBe('example.com')
    expect(knownHostsName('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222')
  })

  it('selects the lines for one host and port', () => {
    const lines = parseKnownHosts(
      [`[127.0.0.1]:2222 ${ed.keyType} ${ed.data}`, `[127.0.0.1]:2223 ${other.keyType} ${other.data}`, `127.0.0.1 ${rsa.keyType} ${rsa.data}`].join('\n')
    ) as KnownHostsLine[]
    expect(keysForHost(lines, '127.0.0.1', 2222).map(k => k.blob)).toEqual([ed.blob])
    expect(keysForHost(lines, '127.0.0.1', 2223).map(k => k.blob)).toEqual([other.blob])
    expect(keysForHost(lines, '127.0.0.1', 22).map(k => k.blob)).toEqual([rsa.blob])
    expect(keysForHost(lines, '127.0.0.2', 2222)).toEqual([])
  })

  it('honours comma lists, wildcards and negation', () => {
    const lines = parseKnownHosts(
      [`web1.example.com,10.0.0.5 ${ed.keyType} ${ed.data}`, `*.example.com,!db.example.com ${rsa.keyType} ${rsa.data}`].join('\n')
    ) as KnownHostsLine[]
    expect(keysForHost(lines, '10.0.0.5', 22).map(k => k.type)).toEqual(['ssh-ed25519'])
    expect(keysForHost(lines, 'WEB1.example.com', 22).map(k => k.type)).toEqual(['ssh-ed25519', 'ssh-rsa'])
    expect(keysForHost(lines, 'api.example.com', 22).map(k => k.type)).toEqual(['ssh-rsa'])
    expect(keysForHost(lines, 'db.example.com', 22)).toEqual([])
    // the dot is literal, not "any character"
    expect(keysForHost(lines, 'web1xexample.com', 22).map(k => k.type)).toEqual([])
  })

  it('matches hashed entries written by ssh-keygen -H', () => {
    const file = join(dir, 'known_hosts_hashed')
    writeFileSync(file, `[127.0.0.1]:2222 ${ed.keyType} ${ed.data}\nexample.com ${rsa.keyType} ${rsa.data}\n`)
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' })
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain('127.0.0.1')
    expect(text).toContain('|1|')
    const lines = parseKnownHosts(text) as KnownHostsLine[]
    expect(keysForHost(lines, '127.0.0.1', 2222).map(k => k.blob)).toEqual([ed.blob])
    expect(keysForHost(lines, 'example.com', 22).map(k => k.blob)).toEqual([rsa.blob])
    expect(keysForHost(lines, '127.0.0.1', 22)).toEqual([])
  })

  it('offers every RSA signature algorithm for an ssh-rsa pin', () => {
    expect(algorithmsForKeyType('ssh-rsa')).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'])
    expect(algorithmsForKeyType('ssh-ed25519')).toEqual(['ssh-ed25519'])
  })
})

describe('checkHostKey', () => {
  it('accepts any key only with the insecure opt-out, and says so', () => {
    const check = checkHostKey({ kind: 'insecure' }, other.blob)
    expect(check.ok).toBe(true)
    expect(check.presented).toBe(`ssh-ed25519 ${other.keygenFingerprint}`)
    expect(check.expected).toContain('insecure-skip-host-key-check')
  })

  it('accepts the pinned fingerprint and refuses another key', () => {
    const pin: HostKeyPin = { kind: 'fingerprint', fingerprint: ed.keygenFingerprint }
    expect(checkHostKey(pin, ed.blob)).toEqual({ ok: true, presented: `ssh-ed25519 ${ed.keygenFingerprint}`, expected: ed.keygenFingerprint })
    const refused = checkHostKey(pin, other.blob)
    expect(refused.ok).toBe(false)
    expect(refused.presented).toBe(`ssh-ed25519 ${other.keygenFingerprint}`)
    expect(refused.expected).toBe(ed.keygenFingerprint)
  })

  it('accepts any of the known_hosts keys and names them all when none matches', () => {
    const pin: HostKeyPin = {
      kind: 'known-hosts',
      keys: [
        { type: ed.keyType, blob: ed.blob },
        { type: rsa.keyType, blob: rsa.blob }
      ]
    }
    expect(checkHostKey(pin, ed.blob).ok).toBe(true)
    expect(checkHostKey(pin, rsa.blob).ok).toBe(true)
    const refused = checkHostKey(pin, ecdsa.blob)
    expect(refused.ok).toBe(false)
    expect(refused.presented).toBe(`ecdsa-sha2-nistp256 ${ecdsa.keygenFingerprint}`)
    expect(refused.expected).toBe(`ssh-ed25519 ${ed.keygenFingerprint} or ssh-rsa ${rsa.keygenFingerprint}`)
  })

  it('compares whole keys, not just the type', () => {
    const pin: HostKeyPin = { kind: 'known-hosts', keys: [{ type: ed.keyType, blob: ed.blob }] }
    expect(checkHostKey(pin, other.blob).ok).toBe(false)
  })
})

import { createHash, createHmac } from 'node:crypto'
import type { HostKeyPin, PinnedKey } from './config.js'

/** OpenSSH's fingerprint of a public key blob: `SHA256:` + unpadded base64 of its SHA-256. */
export function fingerprintOf(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
}

/** The key type written inside a public key blob (its first SSH string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown'
  const len = blob.readUInt32BE(0)
  return blob.subarray(4, 4 + len).toString('latin1')
}

/** How known_hosts names a host: bare for port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function globMatches(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
    'i'
  )
  return re.test(name)
}

function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    // Hashed entry: |1|base64(salt)|base64(HMAC-SHA1(salt, name))
    const [, , salt, hash] = field.split('|')
    if (!salt || !hash) return false
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64')
    return mac === hash
  }
  let matched = false
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!')
    const pattern = negated ? raw.slice(1) : raw
    if (globMatches(pattern, name)) {
      if (negated) return false
      matched = true
    }
  }
  return matched
}

export interface KnownHostsLine {
  hosts: string
  key: PinnedKey
}

/**
 * Parses known_hosts text. Returns the lines, or a sentence saying what is wrong
 * (1-based line number) so the input error can name it.
 */
export function parseKnownHosts(text: string): KnownHostsLine[] | string {
  const lines: KnownHostsLine[] = []
  const rows = text.split(/\r?\n/)
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i].trim()
    if (!row || row.startsWith('#')) continue
    const fields = row.split(/\s+/)
    if (fields[0].startsWith('@')) {
      return `line ${i + 1} uses the marker ${fields[0]}, which cutover does not support; give plain "host keytype key" lines`
    }
    if (fields.length < 3) return `line ${i + 1} is not "host keytype base64-key"`
    const [hosts, type, data] = fields
    const blob = Buffer.from(data, 'base64')
    if (blob.length < 20 || keyTypeOf(blob) !== type) {
      return `line ${i + 1} does not hold a valid ${type} public key`
    }
    lines.push({ hosts, key: { type, blob } })
  }
  if (lines.length === 0) return 'it holds no host key line'
  return lines
}

/** The keys known_hosts pins for one host and port. */
export function keysForHost(lines: KnownHostsLine[], host: string, port: number): PinnedKey[] {
  const name = knownHostsName(host, port)
  return lines.filter(l => hostFieldMatches(l.hosts, name)).map(l => l.key)
}

/** ssh2 host key algorithm names that can present a key of this type. */
export function algorithmsForKeyType(type: string): string[] {
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
  return [type]
}

export interface HostKeyCheck {
  ok: boolean
  /** Fingerprint and type of the key the server presented. */
  presented: string
  /** What was expected, for the error message. */
  expected: string
}

export function checkHostKey(pin: HostKeyPin, presentedBlob: Buffer): HostKeyCheck {
  const presented = `${keyTypeOf(presentedBlob)} ${fingerprintOf(presentedBlob)}`
  switch (pin.kind) {
    case 'insecure':
      return { ok: true, presented, expected: 'any key (insecure-skip-host-key-check)' }
    case 'fingerprint':
      return { ok: fingerprintOf(presentedBlob) === pin.fingerprint, presented, expected: pin.fingerprint }
    case 'known-hosts':
      return {
        ok: pin.keys.some(k => k.blob.equals(presentedBlob)),
        presented,
        expected: pin.keys.map(k => `${k.type} ${fingerprintOf(k.blob)}`).join(' or ')
      }
  }
}

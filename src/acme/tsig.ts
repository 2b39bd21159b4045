import { createHmac } from 'node:crypto'

/**
 * TSIG (RFC 8945): the shared-key signature a DNS UPDATE carries. No maintained npm package signs
 * with TSIG (dns-packet, the usual encoder, has no TSIG record), so the few fields are written here.
 */
export interface TsigKey {
  name: string
  /** hmac-sha256 etc., as BIND names it. */
  algorithm: TsigAlgorithm
  secret: Buffer
}

export const TSIG_ALGORITHMS = ['hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512'] as const
export type TsigAlgorithm = (typeof TSIG_ALGORITHMS)[number]

const TYPE_TSIG = 250
const CLASS_ANY = 255
const FUDGE_S = 300

/**
 * A key as `tsig-keygen` prints it (`key "name" { algorithm hmac-sha256; secret "base64"; };`) or as
 * nsupdate -y takes it (`hmac-sha256:name:base64`). Throws a sentence naming what is wrong (never the secret).
 */
export function parseTsigKey(text: string): TsigKey {
  const t = text.trim()
  const bind = /^key\s+"?([^"\s{]+)"?\s*\{([\s\S]*)\}\s*;?\s*$/.exec(t)
  let name: string, algorithm: string, secret: string
  if (bind) {
    name = bind[1]
    algorithm = /algorithm\s+"?([\w-]+)"?\s*;/.exec(bind[2])?.[1] ?? ''
    secret = /secret\s+"([^"]+)"\s*;/.exec(bind[2])?.[1] ?? ''
  } else {
    const parts = t.split(':')
    if (parts.length !== 3) throw new Error('must be a BIND key block (as tsig-keygen prints it) or algorithm:name:secret')
    ;[algorithm, name, secret] = parts
  }
  const alg = algorithm.toLowerCase().replace(/\.$/, '')
  if (!(TSIG_ALGORITHMS as readonly string[]).includes(alg)) throw new Error(`has the algorithm "${algorithm}"; use one of ${TSIG_ALGORITHMS.join(', ')}`)
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret) || Buffer.from(secret, 'base64').length < 16)
    throw new Error('has a secret that is not base64 of at least 16 bytes')
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`has the key name "${name}", which is not a DNS name`)
  return { name: name.replace(/\.$/, '').toLowerCase(), algorithm: alg as TsigAlgorithm, secret: Buffer.from(secret, 'base64') }
}

/** A DNS name in wire format, lower case (TSIG's canonical form), no compression. */
export function wireName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').toLowerCase().split('.').filter(Boolean)
  return Buffer.concat([...labels.map(l => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])])
}

function uint48(seconds: number): Buffer {
  const b = Buffer.alloc(6)
  b.writeUIntBE(seconds, 0, 6)
  return b
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

/** The TSIG variables a MAC covers (RFC 8945 §4.3.3). */
function variables(key: TsigKey, timeSigned: number, error = 0, other: Buffer = Buffer.alloc(0)): Buffer {
  const classTtl = Buffer.from([0, CLASS_ANY, 0, 0, 0, 0])
  return Buffer.concat([wireName(key.name), classTtl, wireName(key.algorithm), uint48(timeSigned), u16(FUDGE_S), u16(error), u16(other.length), other])
}

function hmac(key: TsigKey, ...parts: Buffer[]): Buffer {
  const h = createHmac(key.algorithm.slice('hmac-'.length), key.secret)
  for (const p of parts) h.update(p)
  return h.digest()
}

/** The message signed: a TSIG record appended and ARCOUNT raised. Returns the request's MAC (the answer's signature covers it). */
export function signMessage(message: Buffer, key: TsigKey, now = Date.now()): { signed: Buffer; mac: Buffer } {
  const timeSigned = Math.floor(now / 1000)
  const mac = hmac(key, message, variables(key, timeSigned))
  const id = message.readUInt16BE(0)
  const rdata = Buffer.concat([wireName(key.algorithm), uint48(timeSigned), u16(FUDGE_S), u16(mac.length), mac, u16(id), u16(0), u16(0)])
  const record = Buffer.concat([wireName(key.name), u16(TYPE_TSIG), u16(CLASS_ANY), Buffer.alloc(4), u16(rdata.length), rdata])
  const signed = Buffer.concat([message, record])
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10)
  return { signed, mac }
}

/** What an answer's TSIG record says: its error (BADSIG, BADKEY, BADTIME) and whether its MAC is the key's. */
export interface AnswerTsig {
  error: number
  verified: boolean
}

/**
 * The answer's TSIG record, checked against the request's MAC (RFC 8945 §5.3): undefined when the
 * answer carries none. `tsigOffset` is where the record starts (the last additional record).
 */
export function verifyAnswer(answer: Buffer, tsigOffset: number, key: TsigKey, requestMac: Buffer): AnswerTsig {
  let o = tsigOffset + wireName(key.name).length + 10
  const algEnd = answer.indexOf(0, o) + 1
  o = algEnd
  const timeSigned = answer.readUIntBE(o, 6)
  const macSize = answer.readUInt16BE(o + 8)
  const mac = answer.subarray(o + 10, o + 10 + macSize)
  o += 10 + macSize
  const error = answer.readUInt16BE(o + 2)
  const otherLength = answer.readUInt16BE(o + 4)
  const other = answer.subarray(o + 6, o + 6 + otherLength)
  if (macSize === 0) return { error, verified: false }
  const unsigned = Buffer.from(answer.subarray(0, tsigOffset))
  unsigned.writeUInt16BE(answer.readUInt16BE(0), 0)
  unsigned.writeUInt16BE(answer.readUInt16BE(10) - 1, 10)
  const expected = hmac(key, u16(requestMac.length), requestMac, unsigned, variables(key, timeSigned, error, other))
  return { error, verified: expected.length === mac.length && expected.equals(mac) }
}

export const TSIG_ERRORS: Record<number, string> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' }

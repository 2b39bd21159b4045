import { randomInt } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { isIP } from 'node:net'
import type { DnsProvider } from './dns-provider.js'
import { signMessage, TSIG_ERRORS, verifyAnswer, wireName, type TsigKey } from './tsig.js'

/** Where RFC 2136 updates go: the zone's primary server, the zone and the TSIG key it accepts. */
export interface Rfc2136Settings {
  server: string
  port: number
  zone: string
  key: TsigKey
}

const TYPE_SOA = 6
const TYPE_TXT = 16
const CLASS_IN = 1
const CLASS_NONE = 254
const OPCODE_UPDATE = 5
const TXT_TTL_S = 60
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE']

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

/** TXT rdata: the value in character-strings of at most 255 bytes. */
function txtRdata(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8')
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    const part = bytes.subarray(i, i + 255)
    chunks.push(Buffer.from([part.length]), part)
  }
  return Buffer.concat(chunks)
}

/** An UPDATE of `zone` adding (class IN) or deleting (class NONE) one TXT record. */
export function updateMessage(id: number, zone: string, fqdn: string, value: string, add: boolean): Buffer {
  const header = Buffer.concat([u16(id), u16(OPCODE_UPDATE << 11), u16(1), u16(0), u16(1), u16(0)])
  const zoneSection = Buffer.concat([wireName(zone), u16(TYPE_SOA), u16(CLASS_IN)])
  const rdata = txtRdata(value)
  const ttl = Buffer.alloc(4)
  ttl.writeUInt32BE(add ? TXT_TTL_S : 0)
  const update = Buffer.concat([wireName(fqdn), u16(TYPE_TXT), u16(add ? CLASS_IN : CLASS_NONE), ttl, u16(rdata.length), rdata])
  return Buffer.concat([header, zoneSection, update])
}

/** Skips a (possibly compressed) name; returns the offset after it. */
function skipName(b: Buffer, o: number): number {
  for (;;) {
    const len = b[o]
    if (len === 0) return o + 1
    if ((len & 0xc0) === 0xc0) return o + 2
    o += len + 1
  }
}

/** The offset of the answer's last additional record when it is a TSIG record, else undefined. */
function tsigOffset(b: Buffer): number | undefined {
  const counts = [4, 6, 8, 10].map(i => b.readUInt16BE(i))
  let o = 12
  for (let i = 0; i < counts[0]; i++) o = skipName(b, o) + 4
  let last: number | undefined
  let lastType = 0
  for (let i = 0; i < counts[1] + counts[2] + counts[3]; i++) {
    last = o
    o = skipName(b, o)
    lastType = b.readUInt16BE(o)
    o += 10 + b.readUInt16BE(o + 8)
  }
  return counts[3] > 0 && lastType === 250 ? last : undefined
}

/** What the server answered an update, as one phrase: `NOTAUTH (TSIG BADSIG)`. Throws unless NOERROR with a signature that verifies. */
export function checkAnswer(answer: Buffer, id: number, key: TsigKey, requestMac: Buffer, where: string): void {
  if (answer.length < 12 || answer.readUInt16BE(0) !== id) throw new Error(`the DNS server ${where} sent an answer that is not to this update`)
  const rcode = answer.readUInt16BE(2) & 0xf
  const offset = tsigOffset(answer)
  const tsig = offset === undefined ? undefined : verifyAnswer(answer, offset, key, requestMac)
  const said = `${RCODES[rcode] ?? `RCODE ${rcode}`}${tsig?.error ? ` (TSIG ${TSIG_ERRORS[tsig.error] ?? tsig.error})` : ''}`
  if (rcode !== 0 || tsig?.error) throw new Error(`the DNS server ${where} refused the update of zone: it answered ${said}`)
  if (!tsig?.verified) throw new Error(`the DNS server ${where} answered NOERROR without a valid TSIG signature of key ${key.name}: not trusted`)
}

/** Sends one message over UDP and waits for the answer with the same id (bounded). */
function exchange(server: string, port: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(server) === 6 ? 'udp6' : 'udp4')
    const timer = setTimeout(() => {
      socket.close()
      reject(new Error(`the DNS server ${server}:${port} did not answer within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    socket.on('message', answer => {
      if (answer.length >= 2 && answer.readUInt16BE(0) === message.readUInt16BE(0)) {
        clearTimeout(timer)
        socket.close()
        resolve(answer)
      }
    })
    socket.on('error', e => {
      clearTimeout(timer)
      socket.close()
      reject(new Error(`the DNS server ${server}:${port} could not be asked: ${e.message}`))
    })
    socket.send(message, port, server)
  })
}

/** RFC 2136 dynamic updates signed with TSIG: BIND, Knot, PowerDNS, Windows DNS and many hosted primaries take them. */
export class Rfc2136Provider implements DnsProvider {
  readonly name = 'RFC 2136'

  constructor(
    private readonly settings: Rfc2136Settings,
    private readonly timeoutMs = 10_000
  ) {}

  setTxt(fqdn: string, value: string): Promise<void> {
    return this.update(fqdn, value, true)
  }

  removeTxt(fqdn: string, value: string): Promise<void> {
    return this.update(fqdn, value, false)
  }

  private async update(fqdn: string, value: string, add: boolean): Promise<void> {
    const { server, port, zone, key } = this.settings
    const inZone = fqdn.toLowerCase() === zone.toLowerCase() || fqdn.toLowerCase().endsWith(`.${zone.toLowerCase()}`)
    if (!inZone) throw new Error(`${fqdn} is not in the zone ${zone} that updates go to`)
    const id = randomInt(0, 65536)
    const { signed, mac } = signMessage(updateMessage(id, zone, fqdn, value, add), key)
    const answer = await exchange(server, port, signed, this.timeoutMs)
    try {
      checkAnswer(answer, id, key, mac, `${server}:${port}`)
    } catch (e) {
      throw new Error(`${(e as Error).message.replace('of zone:', `of zone ${zone} (${add ? 'adding' : 'removing'} TXT ${fqdn}):`)}`, { cause: e })
    }
  }
}

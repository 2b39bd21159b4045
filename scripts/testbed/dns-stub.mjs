// cutover test bed: a DNS server that answers every query at once with NXDOMAIN
// (node dns-stub.mjs HOST). The fleet hosts' dockerd use it as their upstream nameserver: the
// machine's own is not reachable from their namespaces, and Docker's embedded DNS would then take
// seconds to give up on each name it does not know itself (HAProxy resolves its servers' names on
// every reload). Names of containers are answered by Docker's embedded DNS, never asked here.
import { createSocket } from 'node:dgram'

const host = process.argv[2]
if (!host) {
  console.error('usage: node dns-stub.mjs HOST')
  process.exit(2)
}
const socket = createSocket('udp4')
socket.on('message', (query, peer) => {
  if (query.length < 12) return
  const answer = Buffer.from(query)
  // QR=1, same opcode and RD; RA=1, RCODE=3 (NXDOMAIN); no answer, authority or additional records.
  answer[2] = 0x80 | (query[2] & 0x79)
  answer[3] = 0x80 | 3
  answer.writeUInt16BE(0, 6)
  answer.writeUInt16BE(0, 8)
  answer.writeUInt16BE(0, 10)
  // Only the header and the question: cut any EDNS record the query carried.
  let end = 12
  for (let q = query.readUInt16BE(4); q > 0 && end < query.length; q--) {
    while (end < query.length && query[end] !== 0) end += query[end] + 1
    end += 5
  }
  socket.send(answer.subarray(0, Math.min(end, answer.length)), peer.port, peer.address)
})
socket.bind(53, host, () => console.log(`answering NXDOMAIN on ${host}:53`))
process.on('SIGTERM', () => socket.close(() => process.exit(0)))

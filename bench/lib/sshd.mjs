// The bed's sshd logs one "Accepted publickey for root from 127.0.0.1 port P" line per accepted
// connection (LogLevel VERBOSE). Other people may use the same sshd at the same time, so besides
// the raw delta of the log we attribute lines to a run by the client ports its process held.
import { openSync, readSync, closeSync, statSync, existsSync } from 'node:fs'

export function sshdOffset(logFile) {
  return existsSync(logFile) ? statSync(logFile).size : 0
}

/** Client ports of the connections accepted since `offset`. */
export function sshdAcceptedSince(logFile, offset) {
  if (!existsSync(logFile)) return []
  const size = statSync(logFile).size
  if (size <= offset) return []
  const fd = openSync(logFile, 'r')
  try {
    const buf = Buffer.alloc(size - offset)
    readSync(fd, buf, 0, buf.length, offset)
    const ports = []
    for (const line of buf.toString('utf8').split('\n')) {
      const m = /Accepted publickey for \S+ from \S+ port (\d+)/.exec(line)
      if (m) ports.push(Number(m[1]))
    }
    return ports
  } finally {
    closeSync(fd)
  }
}

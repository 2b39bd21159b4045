import { closeSync, fstatSync, openSync, readSync } from 'node:fs'

import type { ImageArchive } from '../core/config.js'

export type { ImageArchive }

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done)
    if (n === 0) break
    done += n
  }
  return buf.subarray(0, done)
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0)
  return buf.subarray(0, end < 0 ? buf.length : end).toString('utf8')
}

/**
 * The `manifest.json` of a `docker save` archive, found by walking the tar headers only (a
 * gigabyte archive is read in a few milliseconds). Throws a sentence saying what is wrong.
 */
export function readImageArchive(path: string): ImageArchive {
  const fd = openSync(path, 'r')
  try {
    const bytes = fstatSync(fd).size
    let position = 0
    let longName: string | undefined
    while (position + 512 <= bytes) {
      const header = readAt(fd, position, 512)
      if (header.every(b => b === 0)) break
      const size = parseInt(cString(header.subarray(124, 136)).trim() || '0', 8)
      const type = String.fromCharCode(header[156] || 48)
      const prefix = cString(header.subarray(345, 500))
      let name = longName ?? (prefix ? `${prefix}/` : '') + cString(header.subarray(0, 100))
      longName = undefined
      const body = position + 512
      if (Number.isNaN(size) || !header.subarray(257, 262).toString().startsWith('ustar')) {
        throw new Error('is not a tar archive (write it with docker save, or build-push-action with outputs: type=docker,dest=...)')
      }
      if (type === 'L') longName = cString(readAt(fd, body, size))
      else if (type === 'x') {
        const pathRecord = /\d+ path=([^\n]*)\n/.exec(readAt(fd, body, size).toString('utf8'))
        if (pathRecord) longName = pathRecord[1]
      } else if (name.replace(/^\.\//, '') === 'manifest.json') {
        if (size > 1024 * 1024) throw new Error('has a manifest.json larger than 1 MiB')
        const manifest = JSON.parse(readAt(fd, body, size).toString('utf8')) as { RepoTags?: string[] | null }[]
        const tags = manifest.flatMap(m => m.RepoTags ?? [])
        return { path, bytes, tags }
      }
      name = ''
      position = body + Math.ceil(size / 512) * 512
    }
    throw new Error(
      'has no manifest.json: it is not an image archive from docker save (an OCI layout archive needs Docker 25 or newer on the host; use outputs: type=docker)'
    )
  } finally {
    closeSync(fd)
  }
}

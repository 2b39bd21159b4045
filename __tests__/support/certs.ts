import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestCert {
  cert: string
  key: string
}

/** A self-signed certificate made by openssl, as a user would make one (names as subjectAltName DNS entries). */
export function opensslCert(names: string[], days = 30, extra: string[] = []): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-cert-'))
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        String(days),
        '-subj',
        `/CN=${names[0]}`,
        '-addext',
        `subjectAltName=${names.map(n => `DNS:${n}`).join(',')}`,
        ...extra
      ],
      { stdio: 'pipe' }
    )
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { Resolver } from 'node:dns/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Debian's bind9 (named) as the authoritative primary of a test zone, on its own port, taking
// RFC 2136 updates of TXT records signed with one TSIG key (issue #23, DNS-01).

export interface TestBind {
  port: number
  zone: string
  keyName: string
  /** base64 */
  secret: string
  /** The key as tsig-keygen prints it (what the acme-dns-tsig-key input takes). */
  keyBlock: string
  /** TXT values at a name, asked from the server itself. */
  txt(name: string): Promise<string[]>
  stop(): Promise<void>
}

export async function startBind(opts: { zone: string; port: number; addresses?: string[] }): Promise<TestBind> {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-bind-'))
  chmodSync(dir, 0o755)
  const keyName = 'cutover-test-key'
  const secret = randomBytes(32).toString('base64')
  const keyBlock = `key "${keyName}" {\n\talgorithm hmac-sha256;\n\tsecret "${secret}";\n};\n`
  const listen = (opts.addresses ?? ['127.0.0.1']).map(a => `${a};`).join(' ')
  writeFileSync(
    join(dir, 'named.conf'),
    `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  listen-on port ${opts.port} { ${listen} };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
};
${keyBlock}
zone "${opts.zone}" {
  type primary;
  file "${dir}/zone.db";
  update-policy { grant ${keyName} zonesub TXT; };
};
`
  )
  writeFileSync(join(dir, 'zone.db'), `$TTL 60\n@ IN SOA ns.${opts.zone}. admin.${opts.zone}. 1 60 60 600 60\n@ IN NS ns.${opts.zone}.\nns IN A 127.0.0.1\n`)
  const child: ChildProcess = spawn('named', ['-g', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stdout!.on('data', d => (log += d))
  child.stderr!.on('data', d => (log += d))
  const exited = new Promise<void>(resolve => child.on('exit', () => resolve()))
  const resolver = new Resolver({ timeout: 1000, tries: 1 })
  resolver.setServers([`127.0.0.1:${opts.port}`])
  const txt = async (name: string) =>
    (
      await resolver.resolveTxt(name).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENODATA' || e.code === 'ENOTFOUND') return [] as string[][]
        throw e
      })
    ).map(parts => parts.join(''))
  const started = Date.now()
  for (;;) {
    if (child.exitCode !== null) throw new Error(`named did not start: ${log.slice(-2000)}`)
    if (/running$/m.test(log) || log.includes('all zones loaded')) {
      const soa = await resolver.resolveSoa(opts.zone).catch(() => undefined)
      if (soa) break
    }
    if (Date.now() - started > 20_000) throw new Error(`named did not serve ${opts.zone} within 20 s: ${log.slice(-2000)}`)
    await new Promise(r => setTimeout(r, 100))
  }
  return {
    port: opts.port,
    zone: opts.zone,
    keyName,
    secret,
    keyBlock,
    txt,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      await Promise.race([exited, new Promise(r => setTimeout(r, 10_000))])
      if (child.exitCode === null) child.kill('SIGKILL')
      // its configuration, pid file and logs: nothing else reads them once it is gone
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

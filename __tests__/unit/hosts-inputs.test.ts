import { inputParser } from '../support/inputs.js'
import { sshKeyPair } from '../support/keys.js'

// Several hosts in `host` (issue #13): parsed and pinned before anything connects.
const userKey = sshKeyPair().private
const keyA = sshKeyPair().public
const keyB = sshKeyPair().public
const blobOf = (pub: string) => Buffer.from(pub.split(' ')[1], 'base64')

const base: Record<string, string> = {
  app: 'web',
  host: 'a.example.com\nb.example.com:2222\n',
  'ssh-private-key': userKey,
  'known-hosts': `a.example.com ${keyA}\n[b.example.com]:2222 ${keyB}`,
  image: 'ghcr.io/acme/web:1.2.3'
}

const { parse, errorOf } = inputParser(base)

describe('host with several hosts', () => {
  it('reads one host a line, each pinned by its own known-hosts line; atomic, batch 1, rollback on failure by default', () => {
    const c = parse()
    expect(c.ssh).toMatchObject({ host: 'a.example.com', port: 22 })
    expect(c.fleet).toMatchObject({ rollout: 'atomic', batchSize: 1, rollbackOnFailure: true })
    expect(c.fleet!.hosts.map(h => `${h.host}:${h.port}`)).toEqual(['a.example.com:22', 'b.example.com:2222'])
    const pins = c.fleet!.hosts.map(h => (h.hostKey.kind === 'known-hosts' ? h.hostKey.keys.map(k => k.blob) : []))
    expect(pins).toEqual([[blobOf(keyA)], [blobOf(keyB)]])
  })

  it('takes port as the default for lines without one, and comments and blank lines are skipped', () => {
    const c = parse({
      host: '# web tier\na.example.com\n\n10.0.0.2\n[2001:db8::1]:2200',
      port: '2222',
      'insecure-skip-host-key-check': 'true',
      'known-hosts': ''
    })
    expect(c.fleet!.hosts.map(h => [h.host, h.port])).toEqual([
      ['a.example.com', 2222],
      ['10.0.0.2', 2222],
      ['2001:db8::1', 2200]
    ])
  })

  it('reads rollout, batch-size and rollback-on-failure', () => {
    expect(parse({ rollout: 'rolling', 'batch-size': '2', 'rollback-on-failure': 'false' }).fleet).toMatchObject({
      rollout: 'rolling',
      batchSize: 2,
      rollbackOnFailure: false
    })
  })

  it('one host is the single-host run, as before', () => {
    expect(parse({ host: 'a.example.com' }).fleet).toBeUndefined()
  })

  it.each([
    [{ host: 'a.example.com\na.example.com' }, "Input 'host' lists a.example.com:22 twice"],
    [{ host: 'a.example.com\nb.example.com:99999' }, 'Input \'host\' has "b.example.com:99999", whose port 99999 is not from 1 to 65535'],
    [{ host: 'a.example.com\nb.example.com:ssh' }, 'Input \'host\' has "b.example.com:ssh", whose port is not a number'],
    [{ host: 'a.example.com b.example.com' }, 'Input \'host\' has "a.example.com b.example.com": give one host a line'],
    [{ host: 'a.example.com\nbad_host!' }, 'Input \'host\' is not a valid host name or IP address: "bad_host!"'],
    [{ host: '# nothing here' }, "Input 'host' is required but lists no host"],
    [{ host: 'a.example.com\nc.example.com' }, "Input 'known-hosts' has no line for c.example.com"],
    [{ 'host-fingerprint': 'SHA256:' + 'A'.repeat(43) }, "Input 'host-fingerprint' pins one host's key, but 'host' lists several"],
    [{ rollout: 'canary' }, 'Input \'rollout\' must be one of atomic, rolling, not "canary"'],
    [{ 'batch-size': '0' }, "Input 'batch-size' must be from 1 to 50, not 0"],
    [{ 'rollback-on-failure': 'maybe' }, "Input 'rollback-on-failure' must be true or false"]
  ])('%j fails with a clear error', (overrides, message) => {
    expect(errorOf(overrides)).toContain(message)
  })
})

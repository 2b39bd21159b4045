import { untouchedHosts } from '../../src/fleet/hosts.js'
import { outputsOf } from '../../src/reporting/outputs.js'
import { renderInputErrorSummary } from '../../src/reporting/summary.js'
import { inputParser } from '../support/inputs.js'
import { sshKeyPair } from '../support/keys.js'

// Issue #27: every exit writes a summary and sets every output; a run stopped before any host
// changed still lists every host with its result; rebuild-ledger is read only where it applies.

describe('a run refused for its inputs', () => {
  const reason = 'Input \'health-path\' must start with /, not "health"'

  it('has a summary naming what was refused and saying nothing was touched', () => {
    const md = renderInputErrorSummary(reason, 'web')
    expect(md).toContain('## ❌ Input refused for `web`')
    expect(md).toContain(`> Input 'health-path' must start with /, not "health"`)
    expect(md).toContain('Nothing was touched')
    expect(md).toContain('no host was contacted')
  })

  it('leaves out an app name that is not one (it may be what was refused), and masks secrets', () => {
    const md = renderInputErrorSummary('Input \'app\' must be lower case, not "Web|<b>"', 'Web|<b>', ['s3cr3t-value'])
    expect(md.split('\n')[0]).toBe('## ❌ Input refused')
    expect(md).toContain('not "Web\\|&lt;b&gt;"')
    expect(renderInputErrorSummary("Input 'env' has s3cr3t-value twice", 'web', ['s3cr3t-value'])).toContain("Input 'env' has *** twice")
  })

  it('sets every output, result failed', () => {
    const outputs = outputsOf({ result: 'failed', failure: { reason }, hosts: [], durationMs: 0 }, undefined)
    expect(outputs).toMatchObject({ result: 'failed', color: '', image: '', hosts: '[]', 'duration-seconds': '0.0' })
    expect(Object.keys(outputs)).toHaveLength(15)
  })
})

describe('untouchedHosts (hosts output of a fleet stopped before any change)', () => {
  it('lists every host in input order: failed with its reason, the others skipped and why', () => {
    const hosts = untouchedHosts(
      ['root@a:22', 'root@b:22', 'root@c:22'],
      new Map([['root@b:22', 'SSH connection to root@b:22 failed: no SSH handshake']]),
      'a host could not be reached'
    )
    expect(hosts).toEqual([
      { host: 'root@a:22', result: 'skipped', error: 'Nothing was done here: a host could not be reached' },
      { host: 'root@b:22', result: 'failed', error: 'SSH connection to root@b:22 failed: no SSH handshake' },
      { host: 'root@c:22', result: 'skipped', error: 'Nothing was done here: a host could not be reached' }
    ])
  })
})

describe('input rebuild-ledger', () => {
  const key = sshKeyPair()
  const { parse, errorOf } = inputParser({
    app: 'web',
    host: 'a.example.com',
    'ssh-private-key': key.private,
    'insecure-skip-host-key-check': 'true',
    mode: 'status'
  })

  it('is off by default, and on with mode status', () => {
    expect(parse().rebuildLedger).toBeUndefined()
    expect(parse({ 'rebuild-ledger': 'true' }).rebuildLedger).toBe(true)
  })

  it('is refused with another mode, or with several hosts', () => {
    expect(errorOf({ 'rebuild-ledger': 'true', mode: 'deploy', image: 'acme/web:1' })).toBe("Input 'rebuild-ledger' only applies to mode status, not deploy")
    expect(errorOf({ 'rebuild-ledger': 'true', host: 'a.example.com\nb.example.com' })).toBe("Input 'rebuild-ledger' rebuilds one host's ledger: give one host")
  })
})

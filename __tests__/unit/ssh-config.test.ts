import { tmpdir } from 'node:os'
import { parseInputs } from '../../src/inputs/parse.js'
import { sshConfigSettings } from '../../src/cli/ssh-config.js'
import { sshKeyPair } from '../support/keys.js'

const CONFIG = [
  'Host web',
  '  HostName 203.0.113.10',
  '  User deploy',
  '  IdentityFile ~/.ssh/deploy_key',
  '  ProxyJump bastion',
  'Host bastion',
  '  HostName 198.51.100.7',
  '  Port 2200',
  '  User jump',
  'Host other',
  '  HostName 203.0.113.11',
  '  Port 2222',
  'Host *.internal',
  '  User ops',
  ''
].join('\n')

describe('~/.ssh/config Host aliases on the command line', () => {
  it('replaces an alias by its HostName and takes its User, IdentityFile and ProxyJump (its hop resolved too)', () => {
    expect(sshConfigSettings(CONFIG, 'web', '/home/me')).toEqual({
      host: '203.0.113.10',
      fallback: { user: 'deploy', 'jump-host': 'jump@198.51.100.7:2200' },
      identityFile: '/home/me/.ssh/deploy_key'
    })
  })

  it('keeps an alias Port with its host line, resolves each line of several hosts, and leaves unknown names alone', () => {
    expect(sshConfigSettings(CONFIG, 'other\nweb\nplain.example.com', '/h').host).toBe('203.0.113.11:2222\n203.0.113.10\nplain.example.com')
    expect(sshConfigSettings(CONFIG, 'plain.example.com', '/h')).toEqual({ fallback: {} })
    expect(sshConfigSettings(CONFIG, 'db.internal', '/h')).toEqual({ fallback: { user: 'ops' } })
    expect(sshConfigSettings('', 'web', '/h')).toEqual({ fallback: {} })
    expect(sshConfigSettings(CONFIG, '10.0.0.5:22', '/h')).toEqual({ fallback: {} })
  })
})

describe('ssh-agent-socket', () => {
  const base: Record<string, string> = { app: 'web', host: 'deploy.example.com', image: 'ghcr.io/acme/web:1', 'insecure-skip-host-key-check': 'true' }
  const parse = (values: Record<string, string>) => parseInputs({ get: n => values[n] ?? '', mask: () => undefined, workspace: tmpdir() })

  it('signs with the agent when no key is given, and beside the key when one is', () => {
    expect(parse({ ...base, 'ssh-agent-socket': '/run/user/1000/ssh-agent.sock' }).ssh).toMatchObject({
      privateKey: '',
      agent: '/run/user/1000/ssh-agent.sock'
    })
    const key = sshKeyPair().private
    expect(parse({ ...base, 'ssh-private-key': key, 'ssh-agent-socket': '/tmp/a.sock' }).ssh).toMatchObject({ privateKey: key, agent: '/tmp/a.sock' })
  })

  it('still wants a key or an agent, and an absolute socket path', () => {
    expect(() => parse(base)).toThrow("Input 'ssh-private-key' is required but was empty (or give ssh-agent-socket)")
    expect(() => parse({ ...base, 'ssh-agent-socket': 'agent.sock' })).toThrow(/^Input 'ssh-agent-socket' must be the absolute path of the agent's socket/)
  })
})

import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigFileError, parseConfigFile } from '../../src/inputs/config-file.js'
import { InputError } from '../../src/inputs/errors.js'
import { LayeredSource, parseLayeredInputs, readLayeredConfig, type LayerOptions } from '../../src/inputs/layers.js'
import { sshKeyPair } from '../support/keys.js'
import { tempDir } from '../support/temp-dirs.js'

const pair = sshKeyPair()
const key = pair.private
const hostKey = pair.public.split(' ').slice(0, 2).join(' ')
const PIN = 'SHA256:' + 'A'.repeat(43)

function source(yaml: string | undefined, explicit: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}, more: Partial<LayerOptions> = {}): LayeredSource {
  return new LayeredSource({
    explicit: n => explicit[n] ?? '',
    env,
    file: yaml === undefined ? undefined : parseConfigFile(yaml, 'cutover.yml', env),
    mask: () => undefined,
    workspace: tmpdir(),
    ...more
  })
}

/** The error a file (with these inputs and environment variables) is refused with. */
function refusal(yaml: string, explicit: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}): ConfigFileError {
  try {
    parseLayeredInputs(source(yaml, { 'ssh-private-key': key, ...explicit }, env))
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigFileError)
    return e as ConfigFileError
  }
  throw new Error('expected the file to be refused')
}

const BASE = `app: web\nhost: example.com\nhost-fingerprint: ${PIN}\nimage: ghcr.io/acme/web:1\n`

describe('config file precedence', () => {
  const file = `${BASE}health-timeout: 10s\nproxy-port: 8080\nenvironments:\n  staging:\n    health-timeout: 20s\n    host: [a.example.com, b.example.com]\n    host-fingerprint: ''\n    known-hosts: ['a.example.com ${hostKey}', 'b.example.com ${hostKey}']\n  production:\n    health-path: /up\n`

  it('takes the file top level, then the environment section, then CUTOVER_<NAME>, then the input', () => {
    expect(source(file).get('proxy-port')).toBe('8080')
    expect(source(file, { environment: 'staging' }).get('health-timeout')).toBe('20s')
    expect(source(file, { environment: 'staging' }, { CUTOVER_HEALTH_TIMEOUT: '30s' }).get('health-timeout')).toBe('30s')
    expect(source(file, { environment: 'staging', 'health-timeout': '40s' }, { CUTOVER_HEALTH_TIMEOUT: '30s' }).get('health-timeout')).toBe('40s')
    // production is the environment when none is chosen
    expect(source(file).get('health-path')).toBe('/up')
    expect(source(file).get('health-timeout')).toBe('10s')
    // a list becomes the input's lines
    expect(source(file, { environment: 'staging' }).get('host')).toBe('a.example.com\nb.example.com')
  })

  it('chooses the environment by CUTOVER_ENVIRONMENT too', () => {
    expect(source(file, {}, { CUTOVER_ENVIRONMENT: 'staging' }).get('health-timeout')).toBe('20s')
  })

  it('counts an action input equal to its action.yml default as not given (the runner fills defaults in)', () => {
    const s = source(file, { 'proxy-port': '80' }, {}, { explicitDefaults: { 'proxy-port': '80' } })
    expect(s.get('proxy-port')).toBe('8080')
    expect(source(file, { 'proxy-port': '81' }, {}, { explicitDefaults: { 'proxy-port': '80' } }).get('proxy-port')).toBe('81')
  })

  it('gives parseInputs the merged settings: a whole config from file, section and environment', () => {
    const config = parseLayeredInputs(source(file, { environment: 'staging' }, { CUTOVER_SSH_PRIVATE_KEY: key }))
    expect(config.fleet?.hosts.map(h => h.host)).toEqual(['a.example.com', 'b.example.com'])
    expect(config.health.timeoutMs).toBe(20_000)
    expect(config.proxy.port).toBe(8080)
    expect(config.ssh.privateKey).toBe(key)
  })

  it('turns env, labels and workers maps into their lines; an env entry without a value comes from the environment', () => {
    const s = source(
      `env:\n  PORT: 3000\n  DEBUG: true\n  DATABASE_URL:\nworkers:\n  jobs: bin/jobs --queue default\nlabels: [a=b]\n`,
      {},
      { DATABASE_URL: 'postgres://db' }
    )
    expect(s.get('env')).toBe('PORT=3000\nDEBUG=true\nDATABASE_URL=postgres://db')
    expect(s.get('workers')).toBe('jobs: bin/jobs --queue default')
    expect(s.get('labels')).toBe('a=b')
  })

  it('reads cutover.yml from the workspace, and refuses a named file that does not exist', () => {
    const dir = tempDir('cutover-config-')
    writeFileSync(join(dir, 'cutover.yml'), BASE)
    const options = { explicit: (n: string) => (n === 'ssh-private-key' ? key : ''), env: {}, mask: () => undefined, workspace: dir }
    expect(readLayeredConfig(options).config.image).toBe('ghcr.io/acme/web:1')
    expect(() => readLayeredConfig({ ...options, explicit: n => (n === 'config' ? 'deploy/other.yml' : '') })).toThrow(
      /Input 'config' names deploy\/other.yml, which cannot be read/
    )
  })
})

describe('config file refusals name file:line:col, the key and what is allowed', () => {
  it('an unknown key, with the nearest setting', () => {
    const e = refusal(`${BASE}helth-path: /up\n`)
    expect(e.message).toBe(
      "cutover.yml:5:1: 'helth-path' is not a setting; did you mean 'health-path'? (settings are the action's input names, see docs/configuration.md)"
    )
  })

  it('an unknown key inside an environment', () => {
    expect(refusal(`${BASE}environments:\n  production:\n    replica: 2\n`).message).toMatch(
      /^cutover\.yml:7:5: 'replica' is not a setting; did you mean 'replicas'\?/
    )
  })

  it('wrong types: a string for a number, a list for a string, a map for a list, a word for a boolean, a value outside an enum', () => {
    expect(refusal(`${BASE}https-port: eighty\n`).message).toBe(`cutover.yml:5:13: 'https-port' must be a whole number, not "eighty"`)
    expect(refusal(`${BASE}health-path: [/a, /b]\n`).message).toBe(`cutover.yml:5:14: 'health-path' must be a string, not a list`)
    expect(refusal(`${BASE}domains:\n  a: b\n`).message).toBe(`cutover.yml:6:3: 'domains' must be a list of strings, not a map`)
    expect(refusal(`${BASE}keep-failed: maybe\n`).message).toBe(`cutover.yml:5:14: 'keep-failed' must be true or false, not "maybe"`)
    expect(refusal(`${BASE}tls: on\n`).message).toBe(`cutover.yml:5:6: 'tls' must be one of off, auto, custom, not "on"`)
    expect(refusal(`${BASE}env: PORT=1\n`).message).toBe(`cutover.yml:5:6: 'env' must be a map of NAME: value, not "PORT=1"`)
  })

  it('a secret setting in the file, naming the variable to use instead', () => {
    expect(refusal(`${BASE}registry-password: hunter22\n`).message).toBe(
      "cutover.yml:5:1: 'registry-password' is a secret and is never read from the file: give it in the environment variable CUTOVER_REGISTRY_PASSWORD (or the action input, from a secret)"
    )
    expect(refusal(`${BASE}environments:\n  production:\n    tls-key: x\n`).message).toMatch(/^cutover\.yml:7:5: 'tls-key' is a secret/)
    expect(refusal(`${BASE}github-token: x\n`).message).toMatch(/^cutover\.yml:5:1: 'github-token' is a secret .* CUTOVER_GITHUB_TOKEN/)
  })

  it('a value that looks like a private key or a token, under any key', () => {
    const pem = key.trim().split('\n').join('\n    ')
    expect(refusal(`${BASE}env:\n  DEPLOY_KEY: |\n    ${pem}\n`).message).toMatch(/^cutover\.yml:6:3: 'env' holds what looks like a private key or a token/)
    expect(refusal(`${BASE}acme-email: ghp_${'a'.repeat(36)}\n`).message).toMatch(/^cutover\.yml:5:13: 'acme-email' holds what looks like a private key/)
  })

  it('a setting that does not apply to the mode of the run', () => {
    expect(refusal(`${BASE}to-release: 2\n`).message).toBe(
      "cutover.yml:5:13: 'to-release' only applies to mode rollback, and this run is mode deploy: remove it from the file (or give it for that run only)"
    )
    expect(refusal(`${BASE}rebuild-ledger: true\n`, { mode: 'rollback' }).message).toMatch(/^cutover\.yml:5:17: 'rebuild-ledger' only applies to mode status/)
    expect(() => parseLayeredInputs(source(`${BASE}to-release: 2\n`, { mode: 'rollback', 'ssh-private-key': key }))).not.toThrow()
  })

  it('a setting chosen per run', () => {
    expect(refusal(`${BASE}mode: rollback\n`).message).toBe("cutover.yml:5:1: 'mode' is chosen for each run (the command or the action input), not in the file")
  })

  it('a value parseInputs refuses, where the file wrote it', () => {
    expect(refusal(`${BASE}environments:\n  production:\n    health-path: up\n`).message).toMatch(/^cutover\.yml:7:18: 'health-path' must start with \//)
    expect(refusal(`app: Web_1\nhost: example.com\n`).message).toMatch(/^cutover\.yml:1:6: 'app' must be/)
  })

  it('an environment that is not in the file', () => {
    const file = `${BASE}environments:\n  staging: {}\n  qa: {}\n`
    expect(refusal(file, { environment: 'prod' }).message).toBe(`cutover.yml:5:1: 'environments' has no environment "prod"; it has staging, qa`)
    expect(refusal(file).message).toMatch(/has no environment "production" and none was chosen: choose one of staging, qa with --environment/)
  })

  it('an env entry without a value whose variable is not set', () => {
    expect(refusal(`${BASE}env:\n  DATABASE_URL:\n`).message).toBe(
      "cutover.yml:6:3: 'env.DATABASE_URL' has no value and the environment has no variable DATABASE_URL: set it, or give a value"
    )
  })

  it('YAML that does not parse, and a file that is not a map', () => {
    expect(refusal(`${BASE}domains: [a, b\n`).message).toMatch(/^cutover\.yml:\d+:\d+: 'config' is not valid YAML/)
    expect(refusal(`- app: web\n`).message).toBe("cutover.yml:1:1: 'config' must be a map of settings (key: value), such as app: web")
    expect(refusal(`${BASE}app: other\n`).message).toMatch(/^cutover\.yml:5:1: 'config' is not valid YAML: Map keys must be unique/)
  })

  it('a value from CUTOVER_<NAME> that parseInputs refuses names the variable', () => {
    try {
      parseLayeredInputs(source(BASE, { 'ssh-private-key': key }, { CUTOVER_HEALTH_PATH: 'up' }))
      throw new Error('expected a refusal')
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      expect((e as Error).message).toMatch(/^Input 'health-path' \(from CUTOVER_HEALTH_PATH\) must start with \//)
    }
  })
})

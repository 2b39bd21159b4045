import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import { InputError, parseInputs } from '../../src/inputs/parse.js'
import { fingerprintOf } from '../../src/transport/host-key.js'

const { utils } = ssh2

// Real keys, generated per run: the parser must accept what ssh-keygen writes.
const plainKey = utils.generateKeyPairSync('ed25519').private
const encryptedKey = utils.generateKeyPairSync('ed25519', { passphrase: 'correct horse', cipher: 'aes256-ctr' } as never).private
const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
const hostPublic = utils.generateKeyPairSync('ed25519').public
const hostBlob = Buffer.from(hostPublic.split(' ')[1], 'base64')
const hostFingerprint = fingerprintOf(hostBlob)

const base: Record<string, string> = {
  app: 'web',
  host: 'deploy.example.com',
  'ssh-private-key': plainKey,
  'host-fingerprint': hostFingerprint,
  image: 'ghcr.io/acme/web:1.2.3'
}

function parse(overrides: Record<string, string | undefined> = {}, masked: string[] = []) {
  const values: Record<string, string | undefined> = { ...base, ...overrides }
  return parseInputs({ get: n => values[n] ?? '', mask: s => masked.push(s), workspace: tmpdir() })
}

function errorOf(overrides: Record<string, string | undefined>): InputError {
  try {
    parse(overrides)
  } catch (e) {
    expect(e).toBeInstanceOf(InputError)
    return e as InputError
  }
  throw new Error('expected an InputError')
}

describe('parseInputs', () => {
  it('applies the documented defaults', () => {
    const c = parse()
    expect(c.mode).toBe('deploy')
    expect(c.ssh).toMatchObject({ host: 'deploy.example.com', port: 22, user: 'root', connectTimeoutMs: 20000 })
    expect(c.ssh.hostKey).toEqual({ kind: 'fingerprint', fingerprint: hostFingerprint })
    expect(c.dockerSocket).toBe('/var/run/docker.sock')
    expect(c.health).toEqual({ port: 3000, path: '/health', timeoutMs: 60000, intervalMs: 1000, passes: 1, expectedStatus: undefined })
    expect(c.proxy).toMatchObject({ name: 'cutover-proxy', port: 80, domains: [], drainTimeoutMs: 30000 })
    expect(c.keepPrevious).toBe('running')
    expect(c.lockTimeoutMs).toBe(600000)
    expect(c.container.restart).toEqual({ Name: 'unless-stopped' })
  })

  it.each([
    [{ host: '' }, "Input 'host' is required but was empty"],
    [{ host: 'bad host!' }, "Input 'host' is not a valid host name or IP address"],
    [{ host: '300.1.1.1' }, "Input 'host' is not a valid host name or IP address"],
    [{ port: '0' }, "Input 'port' must be from 1 to 65535, not 0"],
    [{ port: '70000' }, "Input 'port' must be from 1 to 65535, not 70000"],
    [{ port: '22x' }, "Input 'port' must be a whole number"],
    [{ app: '' }, "Input 'app' is required"],
    [{ app: 'my_app' }, "Input 'app' must be letters, digits and dashes"],
    [{ app: '-web' }, "Input 'app' must be letters, digits and dashes"],
    [{ 'ssh-private-key': '' }, "Input 'ssh-private-key' is required"],
    [{ 'ssh-private-key': 'hunter2' }, "Input 'ssh-private-key' does not look like a private key"],
    [{ 'ssh-private-key': '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----' }, "Input 'ssh-private-key' could not be parsed"],
    [{ 'ssh-private-key': encryptedKey }, "Input 'ssh-private-key' is encrypted: give its passphrase in 'ssh-passphrase'"],
    [{ 'ssh-private-key': encryptedKey, 'ssh-passphrase': 'wrong' }, "Input 'ssh-passphrase' does not decrypt 'ssh-private-key' (wrong passphrase)"],
    [{ 'host-fingerprint': 'SHA256:short' }, "Input 'host-fingerprint' must look like SHA256:"],
    [{ 'host-fingerprint': 'MD5:aa:bb' }, "Input 'host-fingerprint' must look like SHA256:"],
    [{ 'host-fingerprint': '' }, "Input 'host-fingerprint' or 'known-hosts' must pin the key of deploy.example.com"],
    [{ 'host-fingerprint': '', 'known-hosts': 'garbage' }, "Input 'known-hosts' is not valid known_hosts text"],
    [{ 'host-fingerprint': '', 'known-hosts': `other.example.com ${hostPublic}` }, "Input 'known-hosts' has no line for deploy.example.com; get one with: ssh-keyscan -p 22 deploy.example.com"],
    [{ 'insecure-skip-host-key-check': 'maybe' }, "Input 'insecure-skip-host-key-check' must be true or false"],
    [{ mode: 'redeploy' }, "Input 'mode' must be one of deploy, rollback, status"],
    [{ image: '' }, "Input 'image' is required when mode is deploy"],
    [{ image: 'UPPER/case:1' }, "Input 'image' is not a valid image reference"],
    [{ 'jump-host': 'user@:22' }, "Input 'jump-host' must look like user@host:port"],
    [{ 'jump-host': 'bastion:99999' }, "Input 'jump-host' has port 99999"],
    [{ 'docker-socket': 'docker.sock' }, "Input 'docker-socket' must be an absolute path"],
    [{ 'registry-password': 'pw' }, "Input 'registry-username' is required when 'registry-password' is set"],
    [{ env: 'NOT A PAIR' }, "Input 'env' has a line that is not KEY=VALUE"],
    [{ 'env-file': 'does/not/exist.env' }, "Input 'env-file' names does/not/exist.env, which cannot be read"],
    [{ volumes: 'data' }, "Input 'volumes' has \"data\", which is not source:/container/path[:ro]"],
    [{ restart: 'sometimes' }, "Input 'restart' must be no, always, unless-stopped or on-failure[:N]"],
    [{ memory: 'lots' }, "Input 'memory' must be a size such as 512m or 1g"],
    [{ memory: '1k' }, "Input 'memory' must be at least 6m"],
    [{ cpus: '-1' }, "Input 'cpus' must be a positive number"],
    [{ command: 'node server.js | tee log' }, "Input 'command' must be a plain command"],
    [{ 'health-timeout': 'soon' }, "Input 'health-timeout' must be a duration"],
    [{ 'health-path': 'health' }, "Input 'health-path' must start with /"],
    [{ 'health-passes': '0' }, "Input 'health-passes' must be from 1 to 100"],
    [{ 'keep-previous': 'paused' }, "Input 'keep-previous' must be one of running, stopped, removed"],
    [{ 'proxy-port': '0' }, "Input 'proxy-port' must be from 1 to 65535"],
    [{ domains: 'exa mple!.com' }, "Input 'domains' has an invalid domain"]
  ])('rejects %j with a sentence naming the input', (overrides, message) => {
    const err = errorOf(overrides)
    expect(err.message).toContain(message)
    expect(err.message.startsWith("Input '")).toBe(true)
  })

  it('accepts an encrypted key with its passphrase, and an RSA PEM key', () => {
    expect(parse({ 'ssh-private-key': encryptedKey, 'ssh-passphrase': 'correct horse' }).ssh.passphrase).toBe('correct horse')
    expect(parse({ 'ssh-private-key': rsaPem }).ssh.privateKey).toBe(rsaPem)
  })

  it('pins keys from known_hosts lines for the host and port, including hashed ones', () => {
    const lines = `# comment\n[deploy.example.com]:2222 ${hostPublic}\nother.example.com ${utils.generateKeyPairSync('ed25519').public}`
    const c = parse({ 'host-fingerprint': '', port: '2222', 'known-hosts': lines })
    expect(c.ssh.hostKey.kind).toBe('known-hosts')
    if (c.ssh.hostKey.kind === 'known-hosts') expect(c.ssh.hostKey.keys.map(k => k.blob)).toEqual([hostBlob])
  })

  it('matches hashed known_hosts entries, as ssh-keyscan -H writes them', async () => {
    const { createHmac, randomBytes } = await import('node:crypto')
    const salt = randomBytes(20)
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[deploy.example.com]:2222').digest('base64')}`
    const c = parse({ 'host-fingerprint': '', port: '2222', 'known-hosts': `${hashed} ${hostPublic}` })
    expect(c.ssh.hostKey.kind).toBe('known-hosts')
    expect(errorOf({ 'host-fingerprint': '', port: '2223', 'known-hosts': `${hashed} ${hostPublic}` }).message).toContain('has no line for [deploy.example.com]:2223')
  })

  it('allows an explicit opt-out of host key checking', () => {
    expect(parse({ 'host-fingerprint': '', 'insecure-skip-host-key-check': 'true' }).ssh.hostKey).toEqual({ kind: 'insecure' })
  })

  it('parses a jump host, defaulting its user and key to the target', () => {
    const c = parse({ 'jump-host': 'bastion.example.com:2200', 'jump-host-fingerprint': hostFingerprint })
    expect(c.ssh.jump).toMatchObject({ host: 'bastion.example.com', port: 2200, user: 'root', privateKey: plainKey })
    expect(errorOf({ 'jump-host': 'ops@bastion.example.com' }).message).toContain("Input 'jump-host-fingerprint' or 'known-hosts' must pin the key of bastion.example.com")
  })

  it('masks every secret: key, passphrase, registry password, env values, token', () => {
    const masked: string[] = []
    parse(
      {
        'ssh-private-key': encryptedKey,
        'ssh-passphrase': 'correct horse',
        'registry-username': 'bot',
        'registry-password': 'registry-pw',
        env: 'DATABASE_URL=postgres://u:p@db/app\nEMPTY=',
        'github-token': 'ghs_token'
      },
      masked
    )
    expect(masked).toEqual(expect.arrayContaining([encryptedKey, 'correct horse', 'registry-pw', 'postgres://u:p@db/app', 'ghs_token']))
    // multi-line secrets are masked line by line too
    expect(masked).toContain(encryptedKey.split('\n')[1])
  })

  it('merges env-file under env and parses container settings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cutover-env-'))
    writeFileSync(join(dir, 'app.env'), 'A=from-file\nB="quoted value"\n')
    const c = parseInputs({
      get: n =>
        ({
          ...base,
          'env-file': 'app.env',
          env: 'A=from-input',
          volumes: 'data:/var/lib/app\n/srv/static:/static:ro',
          labels: 'team=web',
          memory: '512m',
          cpus: '1.5',
          restart: 'on-failure:3',
          command: 'node server.js --port "3000"'
        })[n] ?? '',
      mask: () => undefined,
      workspace: dir
    })
    expect(c.container.env).toEqual({ A: 'from-input', B: 'quoted value' })
    expect(c.container.volumes).toEqual(['data:/var/lib/app', '/srv/static:/static:ro'])
    expect(c.container.memoryBytes).toBe(512 * 1024 * 1024)
    expect(c.container.nanoCpus).toBe(1.5e9)
    expect(c.container.restart).toEqual({ Name: 'on-failure', MaximumRetryCount: 3 })
    expect(c.container.command).toEqual(['node', 'server.js', '--port', '3000'])
  })

  it('takes registry credentials for the image registry by default', () => {
    const c = parse({ 'registry-username': 'bot', 'registry-password': 'pw' })
    expect(c.registry).toEqual({ serveraddress: 'ghcr.io', username: 'bot', password: 'pw' })
    expect(parse({ 'registry-username': 'bot', 'registry-password': 'pw', registry: 'registry.example.com:5000' }).registry?.serveraddress).toBe(
      'registry.example.com:5000'
    )
  })

  it('leaves the registry open in a rollback without an image: the credentials go to the image it pulls', () => {
    const c = parse({ mode: 'rollback', image: '', 'registry-username': 'bot', 'registry-password': 'pw' })
    expect(c.registry).toEqual({ serveraddress: '', username: 'bot', password: 'pw' })
  })

  it('does not need an image for status and rollback', () => {
    expect(parse({ mode: 'status', image: '' }).mode).toBe('status')
    expect(parse({ mode: 'rollback', image: '', 'to-image': 'ghcr.io/acme/web:1.2.2' }).toImage).toBe('ghcr.io/acme/web:1.2.2')
  })
})

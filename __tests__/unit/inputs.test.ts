import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { APP_NAME_MAX, InputError, parseInputs } from '../../src/inputs/parse.js'
import { fingerprintOf } from '../../src/core/host-key.js'
import { sshKeyPair } from '../support/keys.js'
import { tempDir } from '../support/temp-dirs.js'

// Real keys, generated per run: the parser must accept what ssh-keygen writes.
const plainKey = sshKeyPair().private
const encryptedKey = sshKeyPair({ passphrase: 'correct horse', cipher: 'aes256-ctr' }).private
const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
const hostPublic = sshKeyPair().public
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
    expect(c.proxy).toEqual({
      type: 'auto',
      name: 'cutover-proxy',
      image: undefined,
      port: 80,
      domains: [],
      drainTimeoutMs: 30000,
      tls: { mode: 'off', httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] }
    })
    expect(c.keepPrevious).toBe('running')
    expect(c.lockTimeoutMs).toBe(600000)
    expect(c.container.restart).toEqual({ Name: 'unless-stopped' })
  })

  it('proxy-type and proxy-image are taken as given; the image of the type is settled on the host (src/proxy/choose.ts)', () => {
    expect(parse({ 'proxy-type': 'nginx' }).proxy).toMatchObject({ type: 'nginx', image: undefined })
    expect(parse({ 'proxy-type': 'haproxy', 'proxy-image': 'registry.example.com/haproxy:2.6' }).proxy).toMatchObject({
      type: 'haproxy',
      image: 'registry.example.com/haproxy:2.6'
    })
  })

  it.each([
    [{ host: '' }, "Input 'host' is required but was empty (set it in the step's with:, in cutover.yml, or as CUTOVER_HOST)"],
    [{ host: 'bad host!' }, "Input 'host' is not a valid host name or IP address"],
    [{ host: '300.1.1.1' }, "Input 'host' is not a valid host name or IP address"],
    [{ port: '0' }, "Input 'port' must be from 1 to 65535, not 0"],
    [{ port: '70000' }, "Input 'port' must be from 1 to 65535, not 70000"],
    [{ port: '22x' }, "Input 'port' must be a whole number"],
    [{ app: '' }, "Input 'app' is required"],
    [{ app: 'my_app' }, "Input 'app' must be lower-case letters, digits and dashes"],
    [{ app: '-web' }, "Input 'app' must be lower-case letters, digits and dashes"],
    [{ 'ssh-private-key': '' }, "Input 'ssh-private-key' is required"],
    [{ 'ssh-private-key': 'hunter2' }, "Input 'ssh-private-key' does not look like a private key"],
    [{ 'ssh-private-key': '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----' }, "Input 'ssh-private-key' could not be parsed"],
    [{ 'ssh-private-key': encryptedKey }, "Input 'ssh-private-key' is encrypted: give its passphrase in 'ssh-passphrase'"],
    [{ 'ssh-private-key': encryptedKey, 'ssh-passphrase': 'wrong' }, "Input 'ssh-passphrase' does not decrypt 'ssh-private-key' (wrong passphrase)"],
    [{ 'host-fingerprint': 'SHA256:short' }, "Input 'host-fingerprint' must look like SHA256:"],
    [{ 'host-fingerprint': 'MD5:aa:bb' }, "Input 'host-fingerprint' must look like SHA256:"],
    [{ 'host-fingerprint': '' }, "Input 'host-fingerprint' or 'known-hosts' must pin the key of deploy.example.com"],
    [{ 'host-fingerprint': '', 'known-hosts': 'garbage' }, "Input 'known-hosts' is not valid known_hosts text"],
    [
      { 'host-fingerprint': '', 'known-hosts': `other.example.com ${hostPublic}` },
      "Input 'known-hosts' has no line for deploy.example.com; get one with: ssh-keyscan -p 22 deploy.example.com"
    ],
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
    [{ volumes: 'data' }, 'Input \'volumes\' has "data", which is not source:/container/path[:ro]'],
    [{ restart: 'sometimes' }, "Input 'restart' must be no, always, unless-stopped or on-failure[:N]"],
    [{ memory: 'lots' }, "Input 'memory' must be a size such as 512m or 1g"],
    [{ memory: '1k' }, "Input 'memory' must be at least 6m"],
    [{ cpus: '-1' }, "Input 'cpus' must be a positive number"],
    [{ command: 'node server.js | tee log' }, "Input 'command' must be a plain command"],
    [{ 'health-timeout': 'soon' }, "Input 'health-timeout' must be a duration"],
    [{ 'health-path': 'health' }, "Input 'health-path' must start with /"],
    [{ 'health-passes': '0' }, "Input 'health-passes' must be from 1 to 100"],
    [{ 'keep-previous': 'paused' }, "Input 'keep-previous' must be one of running, stopped, removed"],
    [{ 'proxy-port': '0' }, 'Input \'proxy-port\' must be a port (80), an address and port (127.0.0.1:8080, [::1]:8080) or none, not "0"'],
    [{ 'proxy-type': 'traefik' }, "Input 'proxy-type' must be one of auto, haproxy, nginx"],
    [{ domains: 'exa mple!.com' }, "Input 'domains' has an invalid domain"],
    // Late failures on the host (issue #9), caught before connecting:
    [{ app: 'rzN' }, 'Input \'app\' must be lower case, not "rzN": its containers are found by DNS name, where names differing only by case are the same name'],
    [
      { app: 'a'.repeat(49) },
      "Input 'app' is 49 characters long; at most 48 are allowed, because its container names (up to <app>-green-replaced) must fit a 63-character DNS label"
    ],
    [{ app: 'a'.repeat(58) }, "Input 'app' is 58 characters long; at most 48 are allowed"],
    [{ 'health-path': '/he alth' }, "Input 'health-path' must be a URL path without spaces, control or non-ASCII characters"],
    [{ 'health-path': '/health\tx' }, "Input 'health-path' must be a URL path without spaces"],
    [{ 'health-path': '/h\u00e9' }, "Input 'health-path' must be a URL path without spaces"],
    [{ 'health-path': '/up#top' }, "Input 'health-path' must not have a #fragment"],
    [{ volumes: './data:/data' }, 'Input \'volumes\' has "./data:/data", whose source "./data" is neither an absolute host path nor a volume name'],
    [{ volumes: 'data/x:/y' }, 'Input \'volumes\' has "data/x:/y", whose source "data/x" is neither an absolute host path nor a volume name'],
    [{ volumes: '~/data:/data' }, 'whose source "~/data" is neither an absolute host path nor a volume name'],
    [{ volumes: 'x:/data' }, 'whose source "x" is neither'],
    [{ volumes: '/srv/data:data' }, 'Input \'volumes\' has "/srv/data:data", whose container path "data" is not absolute'],
    [{ volumes: '/srv/data:/' }, "Input 'volumes' has \"/srv/data:/\", which would mount over the container's root /"],
    [{ volumes: '/srv/data:/data:rx' }, 'Input \'volumes\' has "/srv/data:/data:rx" with unknown option "rx"'],
    [{ volumes: '/srv/data:/data:ro,rw' }, 'Input \'volumes\' has "/srv/data:/data:ro,rw" with conflicting options'],
    [{ volumes: 'data:/data:rshared' }, 'Input \'volumes\' has "data:/data:rshared": "rshared" applies to host paths only'],
    [{ volumes: '/srv:/data:nocopy' }, 'Input \'volumes\' has "/srv:/data:nocopy": "nocopy" applies to named volumes only'],
    [{ volumes: '/a:/data\n/b:/data/' }, "Input 'volumes' mounts two sources on the same container path /data"],
    [{ networks: 'my net' }, 'Input \'networks\' has an invalid network name "my net"'],
    [{ networks: 'host' }, "Input 'networks' has \"host\", which Docker cannot combine with the app's own network"],
    [{ networks: 'none' }, 'Input \'networks\' has "none"'],
    [{ networks: 'cutover-web' }, "Input 'networks' has \"cutover-web\", the app's own network"],
    [{ networks: 'backend\nbackend' }, 'Input \'networks\' has "backend" twice'],
    [{ domains: '*' }, 'Input \'domains\' has an invalid domain "*"'],
    [{ domains: '*.com' }, 'Input \'domains\' has "*.com", a wildcard over a whole top-level domain'],
    [{ domains: `${'a'.repeat(64)}.example.com` }, "Input 'domains' has an invalid domain"],
    [{ domains: `${Array(40).fill('abcdef').join('.')}.com` }, "Input 'domains' has a domain of 283 characters; at most 253 are allowed"],
    [{ domains: 'app.example.com, App.Example.com' }, 'Input \'domains\' has "App.Example.com" twice'],
    [{ domains: '10.0.0.1' }, 'Input \'domains\' has an invalid domain "10.0.0.1"'],
    [{ labels: 'cutover.app=other' }, 'Input \'labels\' has the key "cutover.app", but the cutover. prefix is reserved'],
    [{ labels: 'Cutover.Color=blue' }, 'Input \'labels\' has the key "Cutover.Color", but the cutover. prefix is reserved'],
    [{ labels: 'bad key=1' }, 'Input \'labels\' has a line that is not KEY=VALUE with a valid key: "bad key=..."'],
    [{ env: '1ST=x' }, 'Input \'env\' has a line that is not KEY=VALUE with a valid key: "1ST=..."'],
    [{ env: 'A=x\u0000y' }, "Input 'env' has a NUL character in the value of A"],
    [{ 'health-timeout': '0' }, "Input 'health-timeout' must be at least 1000 ms"],
    [{ 'health-interval': '0s' }, "Input 'health-interval' must be at least 100 ms"],
    [{ 'connect-timeout': '0' }, "Input 'connect-timeout' must be at least 1000 ms"],
    [{ 'lock-timeout': '600h' }, 'Input \'lock-timeout\' must be at most 24h, not "600h"'],
    [{ 'health-timeout': '30d' }, "Input 'health-timeout' must be a duration"],
    [{ cpus: '0.001' }, "Input 'cpus' must be at least 0.01"],
    [{ 'app-port': '0' }, "Input 'app-port' must be from 1 to 65535"],
    [{ 'health-status': '99' }, "Input 'health-status' must be from 100 to 599"],
    [{ command: 'node server.js # comment' }, "Input 'command' must be a plain command with arguments"],
    [{ command: 'echo $(id)' }, "Input 'command' must be a plain command with arguments"],
    [{ 'registry-username': 'bot', 'registry-password': 'pw', registry: 'not a host' }, "Input 'registry' must be a registry host such as ghcr.io"],
    [{ 'registry-username': 'bot', 'registry-password': 'pw', registry: 'reg.example.com:99999' }, "Input 'registry' must be a registry host"],
    [{ 'proxy-name': 'My_Proxy' }, "Input 'proxy-name' must be lower-case letters, digits and dashes"],
    [
      { 'proxy-name': 'p'.repeat(57) },
      "Input 'proxy-name' is 57 characters long; at most 56 are allowed, so that <proxy-name>-switch fits a 63-character DNS label"
    ],
    [{ user: 'deploy user' }, "Input 'user' is not a valid user name"],
    [{ 'docker-socket': '/var/run/do\tcker.sock' }, "Input 'docker-socket' has a control character"],
    [{ 'environment-url': 'app.example.com' }, "Input 'environment-url' must be an http(s) URL"],
    [{ 'environment-url': 'javascript:alert(1)' }, "Input 'environment-url' must be an http(s) URL"]
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
    const lines = `# comment\n[deploy.example.com]:2222 ${hostPublic}\nother.example.com ${sshKeyPair().public}`
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
    expect(errorOf({ 'host-fingerprint': '', port: '2223', 'known-hosts': `${hashed} ${hostPublic}` }).message).toContain(
      'has no line for [deploy.example.com]:2223'
    )
  })

  it('allows an explicit opt-out of host key checking', () => {
    expect(parse({ 'host-fingerprint': '', 'insecure-skip-host-key-check': 'true' }).ssh.hostKey).toEqual({ kind: 'insecure' })
  })

  it('parses a jump host, defaulting its user and key to the target', () => {
    const c = parse({ 'jump-host': 'bastion.example.com:2200', 'jump-host-fingerprint': hostFingerprint })
    expect(c.ssh.jump).toMatchObject({ host: 'bastion.example.com', port: 2200, user: 'root', privateKey: plainKey })
    expect(errorOf({ 'jump-host': 'ops@bastion.example.com' }).message).toContain(
      "Input 'jump-host-fingerprint' or 'known-hosts' must pin the key of bastion.example.com"
    )
  })

  it('masks every secret: key, passphrase, registry password, env values, token', () => {
    const masked: string[] = []
    parse(
      {
        'ssh-private-key': encryptedKey,
        'ssh-passphrase': 'correct horse',
        'registry-username': 'bot',
        'registry-password': 'registry-pw',
        env: 'DATABASE_URL=postgres://u:p@db/app\nEMPTY=\nDEBUG=1\nJOB_MS=200\nPIN=1234',
        'github-token': 'ghs_token'
      },
      masked
    )
    expect(masked).toEqual(expect.arrayContaining([encryptedKey, 'correct horse', 'registry-pw', 'postgres://u:p@db/app', 'ghs_token', '1234']))
    // Values under 4 characters are not: masking "1" or "200" would blank them everywhere in the log.
    expect(masked).not.toContain('1')
    expect(masked).not.toContain('200')
    // multi-line secrets are masked line by line too
    expect(masked).toContain(encryptedKey.split('\n')[1])
  })

  it('merges env-file under env and parses container settings', () => {
    const dir = tempDir('cutover-env-')
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

  it('computes the app name limit from the longest container name cutover makes', () => {
    expect(APP_NAME_MAX).toBe(63 - '-green-replaced'.length)
    expect(parse({ app: 'a'.repeat(APP_NAME_MAX) }).app).toBe('a'.repeat(48))
    expect(parse({ app: 'web-2' }).app).toBe('web-2')
  })

  it('accepts valid health paths, with a query string or percent-encoding', () => {
    expect(parse({ 'health-path': '/up?full=1&x=%20' }).health.path).toBe('/up?full=1&x=%20')
    expect(parse({ 'health-path': '/' }).health.path).toBe('/')
  })

  it('accepts absolute host paths and named volumes with valid options', () => {
    const volumes = ['/srv/data:/data', 'app-data:/var/lib/app:ro', '/srv/static:/static:ro,Z', '/srv/m:/mnt:rshared', 'cache_1:/cache:nocopy', 'db.v2:/db:rw']
    expect(parse({ volumes: volumes.join('\n') }).container.volumes).toEqual(volumes)
  })

  it('accepts valid networks, domains and labels', () => {
    const c = parse({
      networks: 'backend\nmy_net.2\nbridge',
      domains: 'app.example.com, *.app.example.com www.example.com',
      labels: 'traefik.enable=false\norg.opencontainers.image.ref-name=web\ncom.example/team=web'
    })
    expect(c.container.networks).toEqual(['backend', 'my_net.2', 'bridge'])
    expect(c.proxy.domains).toEqual(['app.example.com', '*.app.example.com', 'www.example.com'])
    expect(c.container.labels).toEqual({ 'traefik.enable': 'false', 'org.opencontainers.image.ref-name': 'web', 'com.example/team': 'web' })
  })

  it('keeps $VARIABLES in command literal: no shell runs it', () => {
    expect(parse({ command: 'echo $HOME "${HOME}/x" \'$PATH\' $1' }).container.command).toEqual(['echo', '$HOME', '${HOME}/x', '$PATH', '$1'])
    expect(parse({ command: 'sh -c "echo $HOME && ls"' }).container.command).toEqual(['sh', '-c', 'echo $HOME && ls'])
  })

  it('takes durations up to 24h and a drain or lock timeout of 0', () => {
    const c = parse({ 'lock-timeout': '24h', 'drain-timeout': '0', 'health-timeout': '1s' })
    expect(c.lockTimeoutMs).toBe(86_400_000)
    expect(c.proxy.drainTimeoutMs).toBe(0)
    expect(parse({ 'lock-timeout': '0' }).lockTimeoutMs).toBe(0)
  })

  it('accepts registry hosts with a port or as a URL, and an https environment URL', () => {
    const creds = { 'registry-username': 'bot', 'registry-password': 'pw' }
    for (const registry of ['ghcr.io', 'localhost:5000', '127.0.0.1:5000', 'https://index.docker.io/v1/']) {
      expect(parse({ ...creds, registry }).registry?.serveraddress).toBe(registry)
    }
    expect(parse({ 'environment-url': 'https://app.example.com/x' }).github.environmentUrl).toBe('https://app.example.com/x')
  })

  describe('env-file', () => {
    const workspace = tempDir('cutover-ws-')
    mkdirSync(join(workspace, 'config'))
    writeFileSync(join(workspace, 'config', 'app.env'), 'A=1\n')
    const outside = tempDir('cutover-outside-')
    writeFileSync(join(outside, 'secret.env'), 'LEAK=1\n')
    symlinkSync('/proc/self/environ', join(workspace, 'environ.env'))
    symlinkSync(join(outside, 'secret.env'), join(workspace, 'config', 'linked.env'))
    symlinkSync(join(workspace, 'config', 'app.env'), join(workspace, 'inside-link.env'))

    const withFile = (file: string) => () => parseInputs({ get: n => ({ ...base, 'env-file': file })[n] ?? '', mask: () => undefined, workspace })

    it('reads files of the workspace, by relative or absolute path or through a link that stays inside', () => {
      expect(withFile('config/app.env')().container.env).toEqual({ A: '1' })
      expect(withFile(join(workspace, 'config/app.env'))().container.env).toEqual({ A: '1' })
      expect(withFile('inside-link.env')().container.env).toEqual({ A: '1' })
    })

    it.each([
      ['/proc/self/environ', 'but /proc/self/environ is a link to /proc/'],
      ['environ.env', 'is a link to /proc/'],
      ['config/linked.env', 'is a link to '],
      ['../' + 'x'.repeat(3), 'cannot be read'],
      ['/etc/hostname', 'is /etc/hostname'],
      ['.', 'must name a file inside the workspace']
    ])('refuses %s, outside the workspace', (file, detail) => {
      let err: Error | undefined
      try {
        withFile(file)()
      } catch (e) {
        err = e as Error
      }
      expect(err).toBeInstanceOf(InputError)
      expect(err!.message).toContain("Input 'env-file' ")
      expect(err!.message).toContain(detail)
      if (!detail.includes('cannot be read')) expect(err!.message).toContain(`must name a file inside the workspace`)
    })

    it('names the variable, not the value, of an env-file with a bad key', () => {
      writeFileSync(join(workspace, 'bad.env'), 'OK=1\nNOT-VALID=2\n')
      expect(withFile('bad.env')).toThrow('Input \'env-file\' has an invalid variable name "NOT-VALID"')
    })
  })
})

import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bedInputs, get, NODE24, runAction } from '../support/action.js'
import { cleanupApp, freePort, image, localDocker, REPO, testbed, uniqueName } from '../support/testbed.js'

// The command line (issue #21) against the test bed: a project directory with a cutover.yml of two
// environments (each its own app and proxy), a HOME whose ~/.ssh holds the key and known_hosts as
// ssh would use them, and a git checkout whose user and commit become the release's author.
const CLI = join(REPO, 'dist', 'cli', 'index.js')
const bed = testbed()
const staging = { app: uniqueName('cli-stg'), port: 0 }
const production = { app: uniqueName('cli-prd'), port: 0 }
const docker = localDocker()
let project: string
let home: string
let commit: string

interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

function startCli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliRun>; seen: (text: string) => Promise<void> } {
  const child = spawn(NODE24, [CLI, ...args], {
    cwd: project,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, CUTOVER_REGISTRY_PASSWORD: bed.CUTOVER_TEST_REGISTRY_PASSWORD, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  const waiters: { text: string; resolve: () => void }[] = []
  child.stdout!.on('data', d => {
    stdout += d
    for (const w of waiters.filter(w => stdout.includes(w.text))) w.resolve()
  })
  child.stderr!.on('data', d => (stderr += d))
  const done = new Promise<CliRun>(resolve => child.on('close', code => resolve({ code, stdout, stderr })))
  const seen = (text: string) =>
    new Promise<void>((resolve, reject) => {
      if (stdout.includes(text)) return resolve()
      const timer = setTimeout(() => reject(new Error(`the command line never printed "${text}":\n${stdout}`)), 60_000)
      waiters.push({ text, resolve: () => (clearTimeout(timer), resolve()) })
    })
  return { child, done, seen }
}

const cli = (args: string[], env: Record<string, string> = {}) => startCli(args, env).done

function expectCode(run: CliRun, code: number): void {
  if (run.code !== code) throw new Error(`cutover exited ${run.code}, not ${code}:\n${run.stdout}\n${run.stderr}`)
}

async function served(port: number): Promise<string> {
  const res = await get(`http://127.0.0.1:${port}/`)
  return `${res.status} ${res.body.trim()}`
}

beforeAll(async () => {
  staging.port = await freePort()
  production.port = await freePort()
  project = mkdtempSync(join(tmpdir(), 'cutover-cli-project-'))
  home = join(project, 'home')
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 })
  writeFileSync(join(home, '.ssh', 'id_ed25519'), readFileSync(bed.CUTOVER_TEST_KEY, 'utf8'), { mode: 0o600 })
  writeFileSync(join(home, '.ssh', 'known_hosts'), bed.CUTOVER_TEST_KNOWN_HOSTS + '\n')
  const env = (e: { app: string; port: number }) => [`    app: ${e.app}`, `    proxy-name: ${e.app}-proxy`, `    proxy-port: ${e.port}`].join('\n')
  writeFileSync(
    join(project, 'cutover.yml'),
    [
      `host: ${bed.CUTOVER_TEST_SSH_HOST}`,
      `port: ${bed.CUTOVER_TEST_SSH_PORT}`,
      `registry-username: ${bed.CUTOVER_TEST_REGISTRY_USER}`,
      `proxy-image: ${bed.CUTOVER_TEST_HAPROXY_IMAGE ?? `${bed.CUTOVER_TEST_REGISTRY}/cutover-test/haproxy:2.6`}`,
      'health-timeout: 20s',
      'environments:',
      '  staging:',
      env(staging),
      '  production:',
      env(production),
      ''
    ].join('\n')
  )
  const git = (...args: string[]) => execFileSync('git', args, { cwd: project, encoding: 'utf8', env: { ...process.env, HOME: home } }).trim()
  git('init', '-q')
  git('config', 'user.name', 'Cli Tester')
  git('config', 'user.email', 'cli@example.com')
  git('add', 'cutover.yml')
  git('commit', '-q', '-m', 'config')
  commit = git('rev-parse', 'HEAD')
})

afterAll(async () => {
  await cleanupApp(staging.app, `${staging.app}-proxy`)
  await cleanupApp(production.app, `${production.app}-proxy`)
  rmSync(project, { recursive: true, force: true })
})

describe('the command line on the test bed', () => {
  it('deploys each environment of one config file to its own app, with the git user and commit as author', async () => {
    expectCode(await cli(['deploy', '--environment', 'staging', '--image', image('v1')]), 0)
    const prod = await cli(['deploy', '--image', image('v2')])
    expectCode(prod, 0)
    expect(prod.stdout).toMatch(/^Connecting to root@127\.0\.0\.1:\d+: \d+\.\d s$/m)
    expect(prod.stdout).toContain(`deploy ${production.app}: deployed — blue ${image('v2')} live`)
    expect(prod.stdout).not.toContain('\u001b[')
    expect(await served(staging.port)).toBe('200 v1')
    expect(await served(production.port)).toBe('200 v2')
    const status = await cli(['status', '--json', '-e', 'production'])
    const releases = (JSON.parse(status.stdout) as { releases: { by: { actor?: string; commit?: string } }[] }).releases
    expect(releases[0].by).toMatchObject({ actor: 'Cli Tester <cli@example.com>', commit })
  })

  it('rolls back with --yes, and status --json prints the result object only; the Action sees the same release', async () => {
    expectCode(await cli(['deploy', '-e', 'staging', '--image', image('v2')]), 0)
    expect(await served(staging.port)).toBe('200 v2')
    const rollback = await cli(['rollback', '-e', 'staging', '--yes'])
    expectCode(rollback, 0)
    expect(await served(staging.port)).toBe('200 v1')

    const status = await cli(['status', '-e', 'staging', '--json'])
    expectCode(status, 0)
    const result = JSON.parse(status.stdout) as Record<string, unknown>
    expect(result).toMatchObject({ mode: 'status', app: staging.app, result: 'unchanged', color: 'blue', image: image('v1') })
    expect(status.stderr).toContain('Connecting to')

    const action = await runAction(bedInputs(staging.app, staging.port, { mode: 'status' }))
    expect(action.outputs).toMatchObject({ color: 'blue', image: image('v1') })
  })

  it('lets the Action read the same cutover.yml through its config and environment inputs', async () => {
    const action = await runAction({
      config: join(project, 'cutover.yml'),
      environment: 'staging',
      mode: 'status',
      'ssh-private-key': readFileSync(bed.CUTOVER_TEST_KEY, 'utf8'),
      'known-hosts': bed.CUTOVER_TEST_KNOWN_HOSTS,
      'registry-password': bed.CUTOVER_TEST_REGISTRY_PASSWORD,
      // The runner fills in every default: the file's settings still win over them.
      'proxy-port': '80',
      'proxy-name': 'cutover-proxy',
      deployments: 'false'
    })
    if (action.code !== 0) throw new Error(`the Action failed (${action.code}):\n${action.stdout}`)
    expect(action.outputs).toMatchObject({ result: 'unchanged', color: 'blue', image: image('v1') })
    expect(action.stdout).toContain(`Proxy: ${staging.app}-proxy`)
  })

  it('Ctrl-C during the health gate undoes the boot, exits 130, and live keeps serving', async () => {
    const before = await served(staging.port)
    const run = startCli(['deploy', '-e', 'staging', '--image', image('unhealthy')])
    await run.seen('→ Waiting for')
    run.child.kill('SIGINT')
    const ended = await run.done
    expectCode(ended, 130)
    expect(ended.stdout).toContain('Received SIGINT')
    expect(await served(staging.port)).toBe(before)
    const containers = await docker.listContainers({ all: true, filters: { label: [`cutover.app=${staging.app}`] } })
    expect(containers.map(c => c.Labels['cutover.image']).filter(i => i === image('unhealthy'))).toEqual([])
    // The lock went with the run: the next one does not wait.
    expectCode(await cli(['status', '-e', 'staging']), 0)
  })

  it('refuses a host whose key ~/.ssh/known_hosts does not know, or knows as another key, and changes nothing', async () => {
    const before = await served(production.port)
    // known_hosts knows another host (the bastion, on its own port) but not this one.
    writeFileSync(join(home, '.ssh', 'known_hosts'), bed.CUTOVER_TEST_BASTION_KNOWN_HOSTS + '\n')
    const unknown = await cli(['deploy', '--image', image('v1')])
    expectCode(unknown, 2)
    expect(unknown.stdout).toContain(
      `✗ Input 'known-hosts' (here ~/.ssh/known_hosts) has no line for [127.0.0.1]:${bed.CUTOVER_TEST_SSH_PORT}; get one with: ssh-keyscan -p ${bed.CUTOVER_TEST_SSH_PORT} 127.0.0.1, and append it to ~/.ssh/known_hosts`
    )
    // Another host's key under this host's name: the handshake is refused, as ssh refuses a changed key.
    writeFileSync(join(home, '.ssh', 'known_hosts'), bed.CUTOVER_TEST_BASTION_KNOWN_HOSTS.replace(/^\S+/, `[127.0.0.1]:${bed.CUTOVER_TEST_SSH_PORT}`) + '\n')
    const changed = await cli(['deploy', '--image', image('v1')])
    writeFileSync(join(home, '.ssh', 'known_hosts'), bed.CUTOVER_TEST_KNOWN_HOSTS + '\n')
    expectCode(changed, 1)
    expect(changed.stdout).toMatch(/host key/i)
    expect(await served(production.port)).toBe(before)
  })
  it('connects as ssh would: a ~/.ssh/config Host alias whose ProxyJump is the bastion, signed by ssh-agent, with no key file', async () => {
    const agentHome = join(project, 'home-agent')
    mkdirSync(join(agentHome, '.ssh'), { recursive: true, mode: 0o700 })
    writeFileSync(join(agentHome, '.ssh', 'known_hosts'), `${bed.CUTOVER_TEST_KNOWN_HOSTS}\n${bed.CUTOVER_TEST_BASTION_KNOWN_HOSTS}\n`)
    writeFileSync(
      join(agentHome, '.ssh', 'config'),
      [
        'Host bed-target',
        '  HostName 127.0.0.1',
        '  User root',
        '  ProxyJump bed-bastion',
        'Host bed-bastion',
        '  HostName 127.0.0.1',
        `  Port ${bed.CUTOVER_TEST_BASTION_PORT}`,
        ''
      ].join('\n')
    )
    const socket = join(agentHome, 'agent.sock')
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' })
    try {
      for (let i = 0; i < 50 && !existsSync(socket); i++) await new Promise(r => setTimeout(r, 100))
      execFileSync('ssh-add', ['-q', bed.CUTOVER_TEST_KEY], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SSH_AUTH_SOCK: socket }, stdio: 'ignore' })
      const run = await cli(['status', '-e', 'staging'], { HOME: agentHome, SSH_AUTH_SOCK: socket, CUTOVER_HOST: 'bed-target' })
      expectCode(run, 0)
      expect(run.stdout).toContain(`root@127.0.0.1:${bed.CUTOVER_TEST_SSH_PORT} via root@127.0.0.1:${bed.CUTOVER_TEST_BASTION_PORT}`)
      // Without the agent there is no key at all: refused before connecting.
      const keyless = await cli(['status', '-e', 'staging'], { HOME: agentHome, CUTOVER_HOST: 'bed-target' })
      expectCode(keyless, 2)
      expect(keyless.stdout).toContain("'ssh-private-key' is required but was empty (or give ssh-agent-socket)")
    } finally {
      agent.kill()
    }
  })
})

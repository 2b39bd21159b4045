import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { EXIT, parseCommand, usage } from '../../src/cli/args.js'
import { repositoryOf } from '../../src/cli/identity.js'
import { cli } from '../../src/cli/main.js'
import { TerminalSink } from '../../src/cli/terminal.js'
import { progressBar } from '../../src/core/log.js'
import YAML from 'yaml'
import { REPO } from '../support/testbed.js'
import { tempDir } from '../support/temp-dirs.js'

function capture(isTTY = false) {
  const out = { text: '', isTTY, write: (t: string) => (out.text += t) }
  return out
}

/** Runs the command line in a directory holding `files`, with no terminal and an empty HOME. */
async function run(argv: string[], files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}) {
  const cwd = tempDir('cutover-cli-')
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cwd, name), text)
  const stdout = capture()
  const stderr = capture()
  const code = await cli(argv, { stdout, stderr, stdin: Readable.from([]), env: { HOME: cwd, ...env }, cwd })
  return { code, stdout: stdout.text, stderr: stderr.text }
}

describe('the command line', () => {
  it('parses a command and its flags with util.parseArgs', () => {
    expect(parseCommand(['rollback', '--to-release', '2', '-e', 'staging', '--json', '-y'])).toEqual({
      mode: 'rollback',
      help: false,
      json: true,
      yes: true,
      settings: { environment: 'staging', 'to-release': '2' }
    })
    expect(() => parseCommand(['deploys'])).toThrow('Unknown command "deploys": use one of deploy, rollback, status, promote, maintenance, live')
    expect(() => parseCommand(['status', '--image', 'x'])).toThrow('--image applies to deploy, not status')
    expect(() => parseCommand(['deploy', '--to-release', '2'])).toThrow('--to-release and --to-image apply to rollback, not deploy')
  })

  it('prints help per command and documents every exit code', async () => {
    const help = await run(['rollback', '--help'])
    expect(help.code).toBe(EXIT.success)
    expect(help.stdout).toContain('Usage: cutover rollback [flags]')
    expect(help.stdout).toContain('--to-release N')
    for (const code of Object.values(EXIT)) expect(usage()).toMatch(new RegExp(`^  ${code} `, 'm'))
    const bad = await run(['deploy', '--bogus'])
    expect(bad.code).toBe(EXIT.badInput)
    expect(bad.stderr).toMatch(/Unknown option '--bogus'/)
  })

  it('refuses a bad config file before connecting, exit 2, naming file:line:col', async () => {
    const r = await run(['deploy'], { 'cutover.yml': 'app: web\nhost: example.com\nhelth-path: /up\n' })
    expect(r.code).toBe(EXIT.badInput)
    expect(r.stdout).toContain("✗ cutover.yml:3:1: 'helth-path' is not a setting; did you mean 'health-path'?")
  })

  it('with --json prints only the result object on stdout', async () => {
    const r = await run(['status', '--json', '--config', 'other.yml'], { 'other.yml': 'app: web\nhost: example.com\nport: x\n' })
    expect(r.code).toBe(EXIT.badInput)
    expect(JSON.parse(r.stdout)).toEqual({ result: 'failed', failure: { reason: 'other.yml:3:7: \'port\' must be a whole number, not "x"' } })
  })

  it('asks before a rollback, and without a terminal wants --yes', async () => {
    const key = (await import('../support/keys.js')).sshKeyPair().private
    const r = await run(['rollback'], { 'cutover.yml': 'app: web\nhost: example.com\ninsecure-skip-host-key-check: true\n' }, { CUTOVER_SSH_PRIVATE_KEY: key })
    expect(r.code).toBe(EXIT.badInput)
    expect(r.stdout).toContain('rollback changes the host: add --yes to run it without a terminal to ask on')
  })

  it('refuses a host ~/.ssh/known_hosts does not know, before connecting, naming the file', async () => {
    const { sshKeyPair } = await import('../support/keys.js')
    const other = sshKeyPair().public.split(' ').slice(0, 2).join(' ')
    const cwd = tempDir('cutover-cli-')
    mkdirSync(join(cwd, '.ssh'))
    writeFileSync(join(cwd, '.ssh', 'known_hosts'), `other.example.com ${other}\n`)
    writeFileSync(join(cwd, 'cutover.yml'), 'app: web\nhost: example.com\nimage: web:1\n')
    const stdout = capture()
    const code = await cli(['deploy'], {
      stdout,
      stderr: capture(),
      stdin: Readable.from([]),
      env: { HOME: cwd, CUTOVER_SSH_PRIVATE_KEY: sshKeyPair().private },
      cwd
    })
    expect(code).toBe(EXIT.badInput)
    expect(stdout.text).toContain("✗ Input 'known-hosts' (here ~/.ssh/known_hosts) has no line for example.com; get one with: ssh-keyscan -p 22 example.com")
  })

  it('never prints a registered secret, and paints only on a terminal', async () => {
    const plain = capture()
    const sink = new TerminalSink(plain, capture(), false, {})
    sink.mask('hunter2hunter2')
    sink.log.warning('the password hunter2hunter2 leaked')
    await sink.log.group('Pulling', async () => sink.log.info('inside'))
    expect(plain.text).toMatch(/^warning: the password \*\*\* leaked\n→ Pulling\n {2}inside\nPulling: \d+\.\d s\n$/)
    const tty = capture(true)
    new TerminalSink(tty, capture(), false, {}).log.warning('x')
    expect(tty.text).toBe('\u001b[33mwarning: x\u001b[0m\n')
    const noColor = capture(true)
    new TerminalSink(noColor, capture(), false, { NO_COLOR: '1' }).log.warning('x')
    expect(noColor.text).toBe('warning: x\n')
  })

  it('redraws a pull or upload progress line in place on a terminal, and prints plain lines elsewhere', async () => {
    const tty = capture(true)
    const sink = new TerminalSink(tty, capture(), false, { NO_COLOR: '1' })
    await sink.log.group('Pulling', async () => {
      sink.log.progress!(`sent ${progressBar(5, 20)} 5.0 of 20.0 MB`)
      sink.log.progress!(`sent ${progressBar(20, 20)} 20.0 of 20.0 MB`)
      sink.log.info('Pulled')
    })
    const clear = '\r\u001b[2K'
    expect(tty.text.replace(/Pulling: .*\n$/, '')).toBe(
      `→ Pulling\n${clear}  sent [====>               ] 25% 5.0 of 20.0 MB${clear}  sent [====================] 100% 20.0 of 20.0 MB${clear}  Pulled\n`
    )
    const plain = capture()
    new TerminalSink(plain, capture(), false, {}).log.progress!('sent 1.0 of 2.0 MB')
    expect(plain.text).toBe('sent 1.0 of 2.0 MB\n')
    expect(progressBar(0, 10, 4)).toBe('[    ] 0%')
  })

  it('takes owner/repo from the git remote for the release author', () => {
    expect(repositoryOf('git@github.com:acme/web.git')).toBe('acme/web')
    expect(repositoryOf('https://gitlab.example.com/acme/web')).toBe('acme/web')
    expect(repositoryOf(undefined)).toBeUndefined()
  })

  it('has GitLab CI and shell examples that run known commands with known flags, never a bare npx cutover', () => {
    const gitlab = YAML.parse(readFileSync(join(REPO, 'examples', 'gitlab', '.gitlab-ci.yml'), 'utf8')) as Record<string, { script?: string[] }>
    const shell = readFileSync(join(REPO, 'examples', 'shell', 'deploy.sh'), 'utf8')
    const commands = [
      ...Object.values(gitlab).flatMap(job => (job.script ?? []).filter(l => l.startsWith('$CUTOVER ')).map(l => l.slice('$CUTOVER '.length))),
      ...[...shell.matchAll(/\) cutover ([^;]+) ;;/g)].map(m => m[1])
    ]
    expect(commands.length).toBeGreaterThanOrEqual(5)
    for (const line of commands) expect(() => parseCommand(line.replace(/"/g, '').split(/\s+/))).not.toThrow()
    const shellCode = shell
      .split('\n')
      .filter(l => !l.trimStart().startsWith('#'))
      .join('\n')
    expect(`${JSON.stringify(gitlab)}\n${shellCode}`).not.toMatch(/npx (--yes )?cutover/)
  })
})

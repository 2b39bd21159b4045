import { inputParser } from '../support/inputs.js'
import { sshKeyPair } from '../support/keys.js'

const base: Record<string, string> = {
  app: 'web',
  host: 'deploy.example.com',
  'ssh-private-key': sshKeyPair().private,
  'insecure-skip-host-key-check': 'true',
  image: 'ghcr.io/acme/web:1.2.3'
}

const { parse, errorOf } = inputParser(base)

describe('role inputs', () => {
  it('defaults: a web role, no workers, 10s min uptime, 30s stop timeout, no release command', () => {
    const c = parse()
    expect(c.roles).toEqual({ web: true, workers: [], minUptimeMs: 10_000, stopTimeoutMs: 30_000, handover: 'stop-first' })
    expect(c.releaseCommand).toBeUndefined()
    expect(c.health.port).toBe(3000)
  })

  it('reads workers as name: command lines, with shell-style quoting and comments', () => {
    const c = parse({
      workers: '# background\njobs: bin/jobs --queue "high prio"\n\nmailer:node mail.js $HOME\n',
      'worker-min-uptime': '3s',
      'worker-stop-timeout': '1m',
      'worker-handover': 'Overlap'
    })
    expect(c.roles).toEqual({
      web: true,
      workers: [
        { name: 'jobs', command: ['bin/jobs', '--queue', 'high prio'] },
        { name: 'mailer', command: ['node', 'mail.js', '$HOME'] }
      ],
      minUptimeMs: 3000,
      stopTimeoutMs: 60_000,
      handover: 'overlap'
    })
  })

  it.each([
    [{ workers: 'jobs bin/jobs' }, `Input 'workers' has a line that is not "name: command"`],
    [{ 'worker-handover': 'rolling' }, `Input 'worker-handover' must be stop-first or overlap, not "rolling"`],
    [{ workers: 'Jobs: bin/jobs' }, `Input 'workers' has a line that is not "name: command"`],
    [{ workers: 'jobs: a\njobs: b' }, `Input 'workers' names the worker "jobs" twice`],
    [{ workers: 'jobs:   ' }, `Input 'workers' gives no command for the worker "jobs"`],
    [{ workers: 'jobs: a | b' }, `Input 'workers' must be a plain command`],
    [{ workers: `${'w'.repeat(40)}: a` }, `whose container name web-green-worker-${'w'.repeat(40)}-replaced would be longer than 63 characters`],
    [{ 'app-port': 'none' }, `Input 'app-port' is none (no web role), so 'workers' must name at least one worker`],
    [{ 'app-port': 'none', workers: 'jobs: a', domains: 'app.example.com' }, `Input 'domains' cannot be routed with app-port: none`],
    [{ 'app-port': 'nope' }, `Input 'app-port' must be a whole number`],
    [{ 'worker-min-uptime': 'soon' }, `Input 'worker-min-uptime' must be a duration`],
    [{ 'release-timeout': '0s', 'release-command': 'migrate' }, `Input 'release-timeout' must be at least 1000 ms`],
    [{ 'release-command': 'migrate && seed' }, `Input 'release-command' must be a plain command`]
  ])('refuses %j', (inputs, message) => {
    expect(errorOf(inputs)).toContain(message)
  })

  it('takes a release command with several hosts (it runs once, on one host: fleet-strategies tests)', () => {
    expect(parse({ host: 'a.example.com\nb.example.com', 'release-command': 'migrate' }).releaseCommand?.command).toEqual(['migrate'])
    expect(parse({ host: 'a.example.com\nb.example.com', workers: 'jobs: run' }).roles?.workers).toHaveLength(1)
  })

  it('app-port none: no web role, port 0', () => {
    const c = parse({ 'app-port': 'None', workers: 'jobs: a' })
    expect(c.roles?.web).toBe(false)
    expect(c.health.port).toBe(0)
  })

  it('reads the release command and its timeout', () => {
    expect(parse({ 'release-command': 'bin/rails db:migrate', 'release-timeout': '90s' }).releaseCommand).toEqual({
      command: ['bin/rails', 'db:migrate'],
      timeoutMs: 90_000
    })
  })
})

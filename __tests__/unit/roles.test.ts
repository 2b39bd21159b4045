/** Worker roles, app-port none and the release command, in the engine, against the in-memory fakes. */
import type { Config, RoleSettings } from '../../src/core/config.js'
import type { ReleaseResult } from '../../src/core/outcome.js'
import type { ReleaseRequest } from '../../src/engine/plan.js'
import type { ImageBehaviour } from '../support/fakes.js'
import { EngineBed, releaseFailure, testConfig } from '../support/engine-bed.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const V3 = 'registry.test/web:3'

const JOBS = { name: 'jobs', command: ['node', 'jobs.js'] }
const MAIL = { name: 'mail', command: ['node', 'mail.js', '--fast'] }

function configFor(roles: Partial<RoleSettings> = {}, more: Partial<Config> = {}): Config {
  return testConfig({
    container: { env: { A: '1' }, volumes: [], networks: [], labels: {}, restart: { Name: 'unless-stopped' } },
    health: { port: 3000, path: '/health', timeoutMs: 30_000, intervalMs: 1000, passes: 1 },
    roles: { web: true, workers: [JOBS, MAIL], minUptimeMs: 10_000, stopTimeoutMs: 30_000, handover: 'stop-first', ...roles },
    ...more
  })
}

const WORKERS_ONLY = (more: Partial<RoleSettings> = {}) => configFor({ web: false, ...more })

class Bed extends EngineBed {
  constructor() {
    super([V1, V2, V3])
  }

  image(ref: string, behaviour: ImageBehaviour): void {
    this.host.addImage(ref, { bootMs: 1500, ...behaviour })
  }

  deploy(image: string, config = configFor()): Promise<ReleaseResult> {
    return this.engine(config).release({ kind: 'deploy', image })
  }

  rollback(config = configFor(), more: Omit<Extract<ReleaseRequest, { kind: 'rollback' }>, 'kind'> = {}): Promise<ReleaseResult> {
    return this.engine(config).release({ kind: 'rollback', ...more })
  }

  /** Index of an event; fails the test when it did not happen. */
  at(event: string, from = 0): number {
    const i = this.host.events.indexOf(event, from)
    if (i < 0) throw new Error(`no event "${event}" after ${from} in:\n${this.host.events.slice(from).join('\n')}`)
    return i
  }
}

describe('worker roles', () => {
  it('overlap: starts the new workers once the web color is healthy, gates them, switches, then stops the old workers', async () => {
    const bed = new Bed()
    const overlap = configFor({ handover: 'overlap' })
    await bed.deploy(V1, overlap)
    const from = bed.host.events.length
    await bed.deploy(V2, overlap)
    const jobs = bed.at('start web-green-worker-jobs', from)
    const sw = bed.at('switch green', from)
    expect(bed.at('start web-green', from)).toBeLessThan(jobs)
    expect(jobs).toBeLessThan(sw)
    expect(sw).toBeLessThan(bed.at('stop web-blue-worker-jobs', from))
    expect(bed.log.text()).toContain('Stopped the previous worker web-blue-worker-jobs')
  })

  it('stop-first (default): once the web color is healthy, the live workers stop, then the new ones start and are gated before the switch', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    expect(bed.host.state()).toMatchObject({ 'web-blue-worker-jobs': `${V1} running`, 'web-blue-worker-mail': `${V1} running` })
    const from = bed.host.events.length
    const startedAt = bed.clock.now()
    const r = await bed.deploy(V2)

    const web = bed.at('start web-green', from)
    const jobs = bed.at('start web-green-worker-jobs', from)
    const mail = bed.at('start web-green-worker-mail', from)
    const sw = bed.at('switch green', from)
    const stopJobs = bed.at('stop web-blue-worker-jobs', from)
    const stopMail = bed.at('stop web-blue-worker-mail', from)
    expect(web).toBeLessThan(Math.min(stopJobs, stopMail))
    // No moment where both versions consume: every old worker stopped before any new one started.
    expect(Math.max(stopJobs, stopMail)).toBeLessThan(Math.min(jobs, mail))
    expect(Math.max(jobs, mail)).toBeLessThan(sw)
    expect(bed.log.text()).toContain('Stopped the live worker web-blue-worker-jobs before its replacement starts')
    // Stopped once (the cleanup after the switch finds them stopped already).
    expect(bed.host.events.slice(from).filter(e => e === 'stop web-blue-worker-jobs')).toHaveLength(1)
    // The web gate (1.5 s boot) passed before the workers started, and they then ran worker-min-uptime before the switch.
    const switchedAt = bed.clock.now()
    expect(switchedAt - startedAt).toBeGreaterThanOrEqual(1500 + 10_000)

    // SIGTERM with worker-stop-timeout, and no restart policy that could start them again.
    expect(bed.host.stops.filter(s => s.name.startsWith('web-blue-worker-'))).toEqual([
      expect.objectContaining({ graceSeconds: 30 }),
      expect.objectContaining({ graceSeconds: 30 })
    ])
    expect(bed.host.restartPolicies.get('web-blue-worker-jobs')).toEqual({ Name: 'no' })
    expect(bed.host.restartPolicies.get('web-green-worker-jobs')).toEqual({ Name: 'unless-stopped' })
    expect(bed.host.state()).toEqual({
      'web-blue': `${V1} running`,
      'web-green': `${V2} running`,
      'web-blue-worker-jobs': `${V1} stopped`,
      'web-blue-worker-mail': `${V1} stopped`,
      'web-green-worker-jobs': `${V2} running`,
      'web-green-worker-mail': `${V2} running`
    })
    // Same image and settings as the web role, their own command and labels.
    const spec = bed.host.containers.get('web-green-worker-mail')!.spec!
    expect(spec).toMatchObject({ image: V2, env: { A: '1' }, command: MAIL.command, network: 'cutover-web' })
    expect(spec.labels).toMatchObject({
      'cutover.app': 'web',
      'cutover.color': 'green',
      'cutover.role': 'worker',
      'cutover.worker': 'mail',
      'cutover.release': 'r2'
    })
    expect(bed.ledger.record!.releases[0].workers).toEqual([JOBS, MAIL])
    expect(r.workers).toEqual([
      { name: 'jobs', container: 'web-green-worker-jobs', state: 'running' },
      { name: 'mail', container: 'web-green-worker-mail', state: 'running' }
    ])
  })

  it('a worker that exits before worker-min-uptime fails the deploy with its exit code and logs; the old workers keep running', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:bad-worker', { workerCrashWith: 7, workerCrashAfterMs: 4000 })
    await bed.deploy(V1)
    const e = await releaseFailure(bed.deploy('registry.test/web:bad-worker'))
    expect(e.failure).toMatchObject({ exitCode: 7, logs: expect.stringContaining('web-green-worker-') })
    expect(e.message).toMatch(
      /^The worker web-green-worker-(jobs|mail) \(registry.test\/web:bad-worker\) did not become healthy: it exited with code 7 within 4 s\. blue \(registry.test\/web:1\) is still live\.$/
    )
    expect(bed.router.route?.color).toBe('blue')
    // Stopped for the hand-over, then started again with their restart policy.
    expect(bed.host.stops.filter(s => s.name.startsWith('web-blue')).map(s => s.name)).toEqual(['web-blue-worker-jobs', 'web-blue-worker-mail'])
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-blue-worker-jobs': `${V1} running`, 'web-blue-worker-mail': `${V1} running` })
    expect(bed.host.restartPolicies.get('web-blue-worker-jobs')).toEqual({ Name: 'unless-stopped' })
    expect(bed.log.text()).toContain('Started web-blue-worker-jobs again (the release failed before the switch)')
    expect(bed.ledger.record!.releases.map(r => r.image)).toEqual([V1])
  })

  it('overlap: a failing new worker leaves the old workers running, never stopped', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:bad-worker', { workerCrashWith: 7, workerCrashAfterMs: 4000 })
    const overlap = configFor({ handover: 'overlap' })
    await bed.deploy(V1, overlap)
    await releaseFailure(bed.deploy('registry.test/web:bad-worker', overlap))
    expect(bed.host.stops.filter(s => s.name.startsWith('web-blue'))).toEqual([])
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-blue-worker-jobs': `${V1} running`, 'web-blue-worker-mail': `${V1} running` })
  })

  it('a worker whose Docker HEALTHCHECK says unhealthy fails the deploy; one that says healthy passes without waiting worker-min-uptime', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:hc-bad', { workerHealth: 'unhealthy' })
    bed.image('registry.test/web:hc-ok', { workerHealth: 'healthy' })
    await bed.deploy(V1)
    const e = await releaseFailure(bed.deploy('registry.test/web:hc-bad'))
    expect(e.message).toContain("Docker's HEALTHCHECK reports unhealthy (last check exited 1: no jobs table)")
    expect(bed.host.state()['web-green-worker-jobs']).toBeUndefined()

    const before = bed.clock.now()
    await bed.deploy('registry.test/web:hc-ok', configFor({ minUptimeMs: 600_000 }))
    expect(bed.clock.now() - before).toBeLessThan(60_000)
    expect(bed.router.route?.color).toBe('green')
  })

  it('any failure before the switch removes the new workers and leaves the old ones running', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    bed.router.failApply = new Error('proxy is down')
    const e = await releaseFailure(bed.deploy(V2))
    expect(e.message).toContain('The proxy could not be switched to green')
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-blue-worker-jobs': `${V1} running`, 'web-blue-worker-mail': `${V1} running` })
  })

  it('a failed deploy puts the standby workers back, so a rollback still brings them back', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:bad-worker', { workerCrashWith: 1 })
    await bed.deploy(V1)
    await bed.deploy(V2)
    const blueJobs = bed.host.containers.get('web-blue-worker-jobs')!.id
    await releaseFailure(bed.deploy('registry.test/web:bad-worker'))
    expect(bed.host.containers.get('web-blue-worker-jobs')!.id).toBe(blueJobs)
    await bed.rollback()
    expect(bed.host.containers.get('web-blue-worker-jobs')).toMatchObject({ id: blueJobs, running: true })
  })

  it('a rollback brings the previous workers back (the same containers) with the web role, and stops the rolled-back ones', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    const ids = ['jobs', 'mail'].map(n => bed.host.containers.get(`web-blue-worker-${n}`)!.id)
    const from = bed.host.events.length
    // The inputs' workers changed since: a rollback brings back what the release ran.
    const r = await bed.rollback(configFor({ workers: [JOBS] }))
    expect(r).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1 })
    // stop-first on a rollback too: the rolled-back workers stop before the previous ones start.
    expect(bed.at('stop web-green-worker-mail', from)).toBeLessThan(bed.at('start web-blue-worker-mail', from))
    expect(bed.at('start web-blue-worker-mail', from)).toBeLessThan(bed.at('switch blue', from))
    expect(['jobs', 'mail'].map(n => bed.host.containers.get(`web-blue-worker-${n}`)!.id)).toEqual(ids)
    expect(bed.host.state()).toMatchObject({
      'web-blue-worker-jobs': `${V1} running`,
      'web-blue-worker-mail': `${V1} running`,
      'web-green-worker-jobs': `${V2} stopped`,
      'web-green-worker-mail': `${V2} stopped`
    })
    expect(bed.host.restartPolicies.get('web-blue-worker-mail')).toEqual({ Name: 'unless-stopped' })
    expect(r.workers?.map(w => w.state)).toEqual(['running', 'running'])
  })

  it('with keep-previous removed, the previous workers are removed; a rollback starts them again from the recorded commands', async () => {
    const bed = new Bed()
    const config = configFor({}, { keepPrevious: 'removed' })
    await bed.deploy(V1, config)
    await bed.deploy(V2, config)
    expect(Object.keys(bed.host.state()).sort()).toEqual(['web-green', 'web-green-worker-jobs', 'web-green-worker-mail'])
    await bed.rollback(configFor({ workers: [] }, { keepPrevious: 'removed' }))
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-blue-worker-jobs': `${V1} running`, 'web-blue-worker-mail': `${V1} running` })
    expect(bed.host.containers.get('web-blue-worker-mail')!.spec!.command).toEqual(MAIL.command)
  })

  it('a deploy of the same image and workers changes nothing; a changed worker command is a new release', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    expect((await bed.deploy(V1)).result).toBe('unchanged')
    const changed = await bed.deploy(V1, configFor({ workers: [JOBS, { name: 'mail', command: ['node', 'mail.js'] }] }))
    expect(changed).toMatchObject({ result: 'deployed', color: 'green' })
  })

  it('a run that died after starting new workers leaves them running: the next run stops them', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    // As if a run had started blue's workers again and died before switching.
    await bed.host.start('web-blue-worker-jobs')
    await bed.deploy(V2)
    expect(bed.host.state()['web-blue-worker-jobs']).toBe(`${V1} stopped`)
    expect(bed.log.text()).toContain('Stopping web-blue-worker-jobs, a worker of a color that is not live')
  })
})

describe('app-port none (workers only)', () => {
  it('deploys workers without any proxy call: start new, gate, stop old; a rollback and status work', async () => {
    const bed = new Bed()
    const first = await bed.deploy(V1, WORKERS_ONLY())
    expect(first).toMatchObject({ result: 'deployed', color: 'blue', image: V1, containerId: undefined })
    expect(bed.host.state()).toEqual({ 'web-blue-worker-jobs': `${V1} running`, 'web-blue-worker-mail': `${V1} running` })

    const from = bed.host.events.length
    const second = await bed.deploy(V2, WORKERS_ONLY())
    expect(second).toMatchObject({ result: 'deployed', color: 'green', previousColor: 'blue', standby: { color: 'blue', state: 'stopped' } })
    expect(bed.at('stop web-blue-worker-jobs', from)).toBeLessThan(bed.at('start web-green-worker-jobs', from))
    expect(bed.host.state()).toEqual({
      'web-blue-worker-jobs': `${V1} stopped`,
      'web-blue-worker-mail': `${V1} stopped`,
      'web-green-worker-jobs': `${V2} running`,
      'web-green-worker-mail': `${V2} running`
    })
    expect(bed.ledger.record!.releases[0]).toMatchObject({ web: false, workers: [JOBS, MAIL] })
    expect(bed.ledger.record!.routing).toBeUndefined()

    expect((await bed.deploy(V2, WORKERS_ONLY())).result).toBe('unchanged')

    const ids = bed.host.containers.get('web-blue-worker-jobs')!.id
    const back = await bed.rollback(WORKERS_ONLY())
    expect(back).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1 })
    expect(bed.host.containers.get('web-blue-worker-jobs')).toMatchObject({ id: ids, running: true })
    expect(bed.host.state()['web-green-worker-jobs']).toBe(`${V2} stopped`)

    const status = await bed.engine(WORKERS_ONLY()).status()
    expect(status).toMatchObject({
      result: 'unchanged',
      color: 'blue',
      image: V1,
      workers: [
        { name: 'jobs', state: 'running' },
        { name: 'mail', state: 'running' }
      ]
    })
    expect(bed.router.calls).toEqual([])
    expect(bed.host.containers.has('web-blue')).toBe(false)
  })

  it('a failing worker fails the deploy and the old workers keep running', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:bad-worker', { workerCrashWith: 2, workerCrashAfterMs: 500 })
    await bed.deploy(V1, WORKERS_ONLY())
    const e = await releaseFailure(bed.deploy('registry.test/web:bad-worker', WORKERS_ONLY()))
    expect(e.failure.exitCode).toBe(2)
    expect(bed.host.state()).toEqual({ 'web-blue-worker-jobs': `${V1} running`, 'web-blue-worker-mail': `${V1} running` })
    expect(bed.router.calls).toEqual([])
  })

  it('refuses to take the web role away from an app that has one', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    const e = await releaseFailure(bed.deploy(V2, WORKERS_ONLY()))
    expect(e.message).toContain("Input 'app-port' is none, but the live release of web (registry.test/web:1) has a web role behind the proxy")
    expect(bed.host.state()['web-green-worker-jobs']).toBeUndefined()
  })
})

describe('release command', () => {
  const MIGRATE = { command: ['node', 'migrate.js'], timeoutMs: 60_000 }

  it('runs in a one-off container of the new image before the new color starts, its output in a log group; recorded in the ledger', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:m', { runOutput: ['migrating', 'schema 7'], runMs: 3000 })
    await bed.deploy(V1)
    const from = bed.host.events.length
    await bed.deploy('registry.test/web:m', configFor({}, { releaseCommand: MIGRATE }))
    expect(bed.host.waited).toEqual(['web-release'])
    expect(bed.at('start web-release', from)).toBeLessThan(bed.at('remove web-release', from))
    expect(bed.at('remove web-release', from)).toBeLessThan(bed.at('start web-green', from))
    expect(bed.log.text()).toContain('## Release command: node migrate.js\nmigrating\nschema 7')
    expect(bed.host.containers.has('web-release')).toBe(false)
    expect(bed.ledger.record!.releaseCommands).toEqual([expect.objectContaining({ image: 'registry.test/web:m' })])
    expect(bed.ledger.record!.releases[0].image).toBe('registry.test/web:m')
  })

  it('a non-zero exit fails the deploy with the exit code and last lines; the live color keeps serving, nothing new started', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:m-bad', { runOutput: ['migrating', 'ERROR: column exists'], runExitCode: 3 })
    await bed.deploy(V1)
    const from = bed.host.events.length
    const e = await releaseFailure(bed.deploy('registry.test/web:m-bad', configFor({}, { releaseCommand: MIGRATE })))
    expect(e.message).toMatch(/^The release command \(node migrate.js\) exited with code 3 after \d+ s\. blue \(registry.test\/web:1\) is still live\.$/)
    expect(e.failure).toMatchObject({ exitCode: 3, container: 'web-release', logs: 'migrating\nERROR: column exists' })
    expect(bed.host.events.slice(from)).toEqual(['start web-release', 'remove web-release'])
    expect(bed.router.route?.color).toBe('blue')
    expect(bed.ledger.record!.releaseCommands ?? []).toEqual([])
  })

  it('is killed and removed at release-timeout', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:m-slow', { runMs: 120_000 })
    await bed.deploy(V1)
    const e = await releaseFailure(bed.deploy('registry.test/web:m-slow', configFor({}, { releaseCommand: { ...MIGRATE, timeoutMs: 5000 } })))
    expect(e.message).toContain('did not complete: it did not finish within 5 s (release-timeout), so it was killed')
    expect(bed.host.containers.has('web-release')).toBe(false)
    expect(bed.host.containers.has('web-green')).toBe(false)
  })

  it('is killed and removed when the run is cancelled while it runs', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:m-slow', { runOutput: ['migrating'], runMs: 120_000 })
    await bed.deploy(V1)
    bed.output = async (_title, body) => body(() => bed.last!.abort('Cancelled (SIGINT)'))
    const e = await releaseFailure(bed.deploy('registry.test/web:m-slow', configFor({}, { releaseCommand: MIGRATE })))
    expect(e.message).toContain('did not complete: Cancelled (SIGINT)')
    expect(bed.host.containers.has('web-release')).toBe(false)
    expect(bed.router.route?.color).toBe('blue')
  })

  it('never runs twice for one release: a retried run skips it; another image or command runs it again', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:m', { runOutput: ['migrating'], healthStatus: 500 })
    await bed.deploy(V1)
    const config = configFor({}, { releaseCommand: MIGRATE })
    await releaseFailure(bed.deploy('registry.test/web:m', config))
    expect(bed.host.waited).toHaveLength(1)
    // The web role was broken (say, by a setting); the retry gets past it but must not migrate again.
    bed.host.images.get('registry.test/web:m')!.behaviour.healthStatus = 200
    await bed.deploy('registry.test/web:m', config)
    expect(bed.host.waited).toHaveLength(1)
    expect(bed.log.text()).toContain('The release command (node migrate.js) already succeeded for registry.test/web:m with these settings')
    await bed.deploy(V3, config)
    expect(bed.host.waited).toHaveLength(2)
    await bed.deploy(
      V3,
      configFor({}, { releaseCommand: { ...MIGRATE, command: ['node', 'migrate.js', '--seed'] }, container: { ...config.container, env: { A: '2' } } })
    )
    expect(bed.host.waited).toHaveLength(3)
  })

  it('does not run on a rollback', async () => {
    const bed = new Bed()
    const config = configFor({}, { releaseCommand: MIGRATE, keepPrevious: 'removed' })
    await bed.deploy(V1, config)
    await bed.deploy(V2, config)
    await bed.rollback(config)
    expect(bed.host.waited).toHaveLength(2)
  })
})

describe('shared services (compose-shared-services)', () => {
  const DB = 'registry.test/db:16'
  const shared = (image = DB) => [{ name: 'db', image, env: { PW: 'x' }, volumes: ['web_db:/data'], networks: [], labels: {}, dependsOn: [] }]

  it('starts each shared service once, before the release, found by its service name; later deploys leave it alone', async () => {
    const bed = new Bed()
    bed.image(DB, {})
    await bed.deploy(V1, configFor({}, { shared: shared() }))
    expect(bed.at('start web-db')).toBeLessThan(bed.at('start web-blue'))
    const db = bed.host.containers.get('web-db')!
    expect(db.spec).toMatchObject({ image: DB, network: 'cutover-web', aliases: ['db'], volumes: ['web_db:/data'], labels: { 'cutover.role': 'shared' } })
    // No HEALTHCHECK: it had to stay up for worker-min-uptime first.
    expect(bed.clock.sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(10_000)
    const from = bed.host.events.length
    await bed.deploy(V2, configFor({}, { shared: shared() }))
    expect(bed.host.containers.get('web-db')!.id).toBe(db.id)
    expect(bed.host.events.slice(from).filter(e => e.includes('web-db'))).toEqual([])
    expect(bed.host.state()['web-db']).toBe(`${DB} running`)
  })

  it('a shared service that exits fails the run before anything of the release starts', async () => {
    const bed = new Bed()
    bed.image('registry.test/db:crash', { crashWith: 9 })
    const e = await releaseFailure(bed.deploy(V1, configFor({}, { shared: shared('registry.test/db:crash') })))
    expect(e.message).toBe('The shared service web-db exited with code 9. Nothing was switched.')
    expect(e.failure.exitCode).toBe(9)
    expect(bed.host.containers.has('web-blue')).toBe(false)
  })
})

describe('worker roles and keep-failed', () => {
  it('keeps a failed new worker stopped as <name>-failed, and the standby workers are put back', async () => {
    const bed = new Bed()
    bed.image('registry.test/web:bad-worker', { workerCrashWith: 1 })
    await bed.deploy(V1)
    await bed.deploy(V2)
    await releaseFailure(bed.deploy('registry.test/web:bad-worker', configFor({}, { keepFailed: true })))
    expect(bed.host.state()).toMatchObject({
      'web-blue-worker-jobs': `${V1} stopped`,
      'web-blue-worker-jobs-failed': 'registry.test/web:bad-worker stopped',
      'web-green-worker-jobs': `${V2} running`
    })
    // The next deploy is not confused by it.
    await bed.deploy(V3)
    expect(bed.host.state()['web-blue-worker-jobs']).toBe(`${V3} running`)
  })

  it('a first deploy that failed (its containers kept, its shared service running) leaves no release: running it again is a first deploy', async () => {
    const bed = new Bed()
    const db = 'registry.test/db:1'
    bed.image(db, {})
    bed.image('registry.test/web:bad-worker', { workerCrashWith: 1 })
    const shared = [{ name: 'db', image: db, env: {}, volumes: [], networks: [], labels: {}, dependsOn: [] }]
    await releaseFailure(bed.deploy('registry.test/web:bad-worker', configFor({}, { keepFailed: true, shared })))
    expect(bed.ledger.record?.releases).toEqual([])
    // As on a host where the ledger is gone (or an older version failed so): still no release.
    bed.ledger.record = undefined
    expect(bed.host.state()).toMatchObject({ 'web-db': `${db} running`, 'web-blue-worker-jobs-failed': 'registry.test/web:bad-worker stopped' })
    const first = await bed.deploy(V1, configFor({}, { shared }))
    expect(first).toMatchObject({ result: 'deployed', color: 'blue', image: V1, previousImage: undefined })
    expect(bed.host.state()).toMatchObject({ 'web-db': `${db} running`, 'web-blue': `${V1} running`, 'web-blue-worker-jobs': `${V1} running` })
  })
})

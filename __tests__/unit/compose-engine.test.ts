/** Compose projects in the engine, against the in-memory fakes: services of other images per color, their order, labels, networks, shared updates. */
import type { Config, SharedService, WorkerRole } from '../../src/core/config.js'
import type { ReleaseResult } from '../../src/core/outcome.js'
import { EngineBed, releaseFailure, testConfig } from '../support/engine-bed.js'

const V1 = 'registry.test/shop:1'
const V2 = 'registry.test/shop:2'
const MAILER1 = 'registry.test/mailer:1'
const MAILER2 = 'registry.test/mailer:2'
const CACHE = 'registry.test/cache:7'
const DB = 'registry.test/db:16'

const JOBS: WorkerRole = { name: 'jobs', command: ['bin/jobs'] }
const mailer = (image = MAILER1, env: Record<string, string> = { SMTP: 'smtp.test', SMTP_PASSWORD: 's3cr3t-value' }): WorkerRole => ({
  name: 'mailer',
  command: [],
  image,
  settings: { env, volumes: [], networks: [], labels: { team: 'mail' }, composeService: 'mailer' }
})

function composeConfig(workers: WorkerRole[], more: Partial<Config> = {}): Config {
  return testConfig({
    container: { env: { ROLE: 'web' }, volumes: [], networks: [], labels: {}, restart: { Name: 'unless-stopped' }, composeService: 'web' },
    health: { port: 3000, path: '/health', timeoutMs: 30_000, intervalMs: 1000, passes: 1 },
    roles: { web: true, workers, minUptimeMs: 2000, stopTimeoutMs: 10_000, handover: 'stop-first' },
    compose: { networks: [], sharedUpdate: 'keep' },
    ...more
  })
}

class Bed extends EngineBed {
  constructor() {
    super([V1, V2, MAILER1, MAILER2])
  }
  deploy(image: string, config: Config): Promise<ReleaseResult> {
    return this.engine(config).release({ kind: 'deploy', image })
  }
  rollback(config: Config): Promise<ReleaseResult> {
    return this.engine(config).release({ kind: 'rollback' })
  }
  at(event: string): number {
    const i = this.host.events.indexOf(event)
    if (i < 0) throw new Error(`no event "${event}" in:\n${this.host.events.join('\n')}`)
    return i
  }
  image(name: string): string | undefined {
    return this.host.containers.get(name)?.image
  }
}

describe('compose services of another image, per color', () => {
  it('pulls its image and starts it with its own settings and compose labels; the ledger keeps its image and only a hash of its settings', async () => {
    const bed = new Bed()
    const r = await bed.deploy(V1, composeConfig([JOBS, mailer()]))
    expect(r.result).toBe('deployed')
    const m = bed.host.containers.get('web-blue-worker-mailer')!
    expect(m.spec).toMatchObject({ image: MAILER1, env: { SMTP: 'smtp.test', SMTP_PASSWORD: 's3cr3t-value' }, command: undefined })
    expect(m.labels).toMatchObject({
      team: 'mail',
      'cutover.role': 'worker',
      'com.docker.compose.project': 'web-blue',
      'com.docker.compose.service': 'mailer',
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.container-number': '1'
    })
    // jobs: the release's image with the web role's settings.
    expect(bed.host.containers.get('web-blue-worker-jobs')!.spec).toMatchObject({ image: V1, env: { ROLE: 'web' }, command: ['bin/jobs'] })
    expect(bed.host.containers.get('web-blue-worker-jobs')!.labels['com.docker.compose.service']).toBe('jobs')
    expect(m.spec).toMatchObject({ extraNetworks: ['web-blue_default'], networkAliases: { 'web-blue_default': ['mailer'] } })
    expect(bed.host.containers.get('web-blue')!.labels).toMatchObject({ 'com.docker.compose.project': 'web-blue', 'com.docker.compose.service': 'web' })
    expect(bed.log.text()).toContain(`pulled ${MAILER1}`)
    const recorded = bed.ledger.record!.releases[0].workers!
    expect(recorded).toEqual([
      { name: 'jobs', command: ['bin/jobs'] },
      { name: 'mailer', command: [], image: MAILER1, settingsHash: expect.stringMatching(/^[0-9a-f]{16}$/) }
    ])
    expect(JSON.stringify(bed.ledger.record)).not.toContain('s3cr3t-value')
  })

  it('a deploy of v2 (new web and mailer images), then a rollback brings back v1 with mailer:1, from the stopped standby or, when removed, from the record', async () => {
    for (const keepPrevious of ['running', 'removed'] as const) {
      const bed = new Bed()
      await bed.deploy(V1, composeConfig([JOBS, mailer(MAILER1)], { keepPrevious }))
      const blueMailer = bed.host.containers.get('web-blue-worker-mailer')!.id
      await bed.deploy(V2, composeConfig([JOBS, mailer(MAILER2)], { keepPrevious }))
      expect(bed.image('web-green-worker-mailer')).toBe(MAILER2)
      expect(bed.host.state()['web-blue-worker-mailer']).toBe(keepPrevious === 'running' ? `${MAILER1} stopped` : undefined)
      // The inputs now say mailer:2; the rollback restores what v1's release recorded.
      const back = await bed.rollback(composeConfig([JOBS, mailer(MAILER2)], { keepPrevious }))
      expect(back).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1 })
      expect(bed.host.state()).toMatchObject({
        'web-blue': `${V1} running`,
        'web-blue-worker-jobs': `${V1} running`,
        'web-blue-worker-mailer': `${MAILER1} running`
      })
      expect(bed.host.state()['web-green-worker-mailer']).toBe(keepPrevious === 'running' ? `${MAILER2} stopped` : undefined)
      if (keepPrevious === 'running') expect(bed.host.containers.get('web-blue-worker-mailer')!.id).toBe(blueMailer)
      expect(bed.ledger.record!.releases[0].workers?.find(w => w.name === 'mailer')?.image).toBe(MAILER1)
    }
  })

  it('a rollback that starts a removed worker again with other settings than its release had says so', async () => {
    const bed = new Bed()
    await bed.deploy(V1, composeConfig([mailer(MAILER1, { SMTP: 'a' })], { keepPrevious: 'removed' }))
    await bed.deploy(V2, composeConfig([mailer(MAILER1, { SMTP: 'b' })], { keepPrevious: 'removed' }))
    await bed.rollback(composeConfig([mailer(MAILER1, { SMTP: 'b' })], { keepPrevious: 'removed' }))
    expect(bed.log.text()).toContain(
      'warning: The worker mailer is started again with the settings the inputs give it now, which are not those its release was deployed with'
    )
  })

  it('the same images and settings again are unchanged; a new image of the worker alone is a new release', async () => {
    const bed = new Bed()
    await bed.deploy(V1, composeConfig([JOBS, mailer(MAILER1)]))
    expect((await bed.deploy(V1, composeConfig([JOBS, mailer(MAILER1)]))).result).toBe('unchanged')
    const r = await bed.deploy(V1, composeConfig([JOBS, mailer(MAILER2)]))
    expect(r).toMatchObject({ result: 'deployed', color: 'green' })
    expect(bed.image('web-green-worker-mailer')).toBe(MAILER2)
    // Its own settings too.
    expect((await bed.deploy(V1, composeConfig([JOBS, mailer(MAILER2, { SMTP: 'other' })]))).result).toBe('deployed')
  })

  it('a worker image that cannot be pulled fails the deploy before anything starts', async () => {
    const bed = new Bed()
    await bed.deploy(V1, composeConfig([mailer(MAILER1)]))
    const e = await releaseFailure(bed.deploy(V2, composeConfig([mailer('registry.test/mailer:nope')])))
    expect(e.message).toBe(
      'Pulling registry.test/mailer:nope, the image of a worker, failed: Pull of registry.test/mailer:nope failed: manifest unknown. Nothing was switched.'
    )
    expect(bed.host.containers.has('web-green')).toBe(false)
    expect(bed.router.route?.color).toBe('blue')
  })
})

describe('compose depends_on between per-color services', () => {
  const cache: WorkerRole = { name: 'cache', command: [], image: CACHE }
  const jobsAfter = (condition: 'service_started' | 'service_healthy'): WorkerRole => ({ ...JOBS, dependsOn: [{ service: 'cache', condition }] })

  it('service_healthy: the dependent starts only once the other is healthy (its HEALTHCHECK)', async () => {
    const bed = new Bed()
    bed.host.addImage(CACHE, { workerHealth: 'healthy' })
    await bed.deploy(V1, composeConfig([cache, jobsAfter('service_healthy')]))
    expect(bed.at('start web-blue-worker-cache')).toBeLessThan(bed.at('start web-blue-worker-jobs'))
    expect(bed.log.text()).toContain('web-blue-worker-jobs waits for cache to be healthy (depends_on)')
    expect(bed.log.text().indexOf('web-blue-worker-cache: Docker HEALTHCHECK healthy')).toBeLessThan(bed.log.text().indexOf('Started web-blue-worker-jobs'))
    expect(bed.ledger.record!.releases[0].workers![1].dependsOn).toEqual([{ service: 'cache', condition: 'service_healthy' }])
  })

  it('service_healthy: when the other turns unhealthy the dependent never starts and the deploy fails naming it', async () => {
    const bed = new Bed()
    bed.host.addImage(CACHE, { workerHealth: 'unhealthy' })
    const e = await releaseFailure(bed.deploy(V1, composeConfig([cache, jobsAfter('service_healthy')])))
    expect(e.message).toMatch(/^The worker web-blue-worker-cache \(registry.test\/cache:7\) did not become healthy: Docker's HEALTHCHECK reports unhealthy/)
    expect(bed.host.events).not.toContain('start web-blue-worker-jobs')
  })

  it('service_started: started in order, gated together', async () => {
    const bed = new Bed()
    bed.host.addImage(CACHE, {})
    await bed.deploy(V1, composeConfig([cache, jobsAfter('service_started')]))
    expect(bed.at('start web-blue-worker-cache')).toBeLessThan(bed.at('start web-blue-worker-jobs'))
    expect(bed.log.text()).not.toContain('waits for')
  })
})

describe('compose networks', () => {
  it('creates the project’s own networks before anything starts; only external ones must exist already', async () => {
    const bed = new Bed()
    const config = composeConfig([], { compose: { networks: ['web_back'], sharedUpdate: 'keep' } })
    config.container.networks = ['web_back']
    await bed.deploy(V1, config)
    expect([...bed.host.networks].sort()).toEqual(['bridge', 'cutover-web', 'web-blue_default', 'web-green_default', 'web_back'])
    // Each color's services find each other by service name on the color's default network.
    expect(bed.host.containers.get('web-blue')!.spec).toMatchObject({
      extraNetworks: ['web_back', 'web-blue_default'],
      networkAliases: { 'web-blue_default': ['web'] }
    })
    config.container.networks = ['web_back', 'traefik']
    const e = await releaseFailure(bed.deploy(V2, config))
    expect(e.message).toContain("Input 'networks' names traefik, which the host does not have")
  })
})

describe('a changed shared service (compose-shared-update)', () => {
  const db = (image = DB, env = { PW: 'x' }): SharedService[] => [
    { name: 'db', image, env, volumes: ['web_db:/data'], networks: [], labels: {}, dependsOn: [] }
  ]

  it('keep (the default): left running as it is, with a warning in the log and a note in the summary saying how to replace it', async () => {
    const bed = new Bed()
    bed.host.addImage(DB, {})
    bed.host.addImage('registry.test/db:17', {})
    await bed.deploy(V1, composeConfig([], { shared: db() }))
    const first = bed.host.containers.get('web-db')!
    expect(first.labels).toMatchObject({ 'com.docker.compose.project': 'web', 'com.docker.compose.service': 'db', 'com.docker.compose.oneoff': 'False' })
    await bed.deploy(V2, composeConfig([], { shared: db('registry.test/db:17') }))
    expect(bed.host.containers.get('web-db')!.id).toBe(first.id)
    expect(bed.image('web-db')).toBe(DB)
    expect(bed.log.text()).toContain(
      `warning: The shared service web-db differs from the compose file (image ${DB} → registry.test/db:17) and was NOT replaced: shared services are kept by a deploy (compose-shared-update: keep). To replace it, deploy once with compose-shared-update: recreate`
    )
    expect(bed.timeline!.steps.find(s => s.name === 'shared')?.detail).toBe(
      `⚠️ web-db differs from the compose file (image ${DB} → registry.test/db:17): kept, not replaced (compose-shared-update: recreate replaces it)`
    )
  })

  it('recreate: stopped (SIGTERM, worker-stop-timeout), removed and created again before the release starts; an unchanged one is left alone', async () => {
    const bed = new Bed()
    bed.host.addImage(DB, {})
    const recreate = (shared: SharedService[]) => composeConfig([], { shared, compose: { networks: [], sharedUpdate: 'recreate' } })
    await bed.deploy(V1, recreate(db()))
    const first = bed.host.containers.get('web-db')!.id
    await bed.deploy(V2, recreate(db()))
    expect(bed.host.containers.get('web-db')!.id).toBe(first)
    const from = bed.host.events.length
    await bed.deploy(V1, recreate(db(DB, { PW: 'rotated' })))
    expect(bed.host.events.slice(from).filter(e => e.includes('web-db') || e === 'start web-blue')).toEqual([
      'stop web-db',
      'remove web-db',
      'start web-db',
      'start web-blue'
    ])
    expect(bed.host.stops.find(s => s.name === 'web-db')?.graceSeconds).toBe(10)
    expect(bed.host.containers.get('web-db')!.spec!.env).toEqual({ PW: 'rotated' })
    expect(bed.timeline!.steps.find(s => s.name === 'shared')?.detail).toBe('web-db recreated (other settings)')
  })
})

describe('the release command of a compose project', () => {
  it('is a one-off: no compose labels and not on a color’s network', async () => {
    const bed = new Bed()
    await bed.deploy(V1, composeConfig([JOBS], { releaseCommand: { command: ['bin/migrate'], timeoutMs: 60_000 } }))
    expect(bed.host.waited).toEqual(['web-release'])
    const created = bed.host.created.find(s => s.name === 'web-release')!
    expect(Object.keys(created.labels).filter(k => k.startsWith('com.docker.compose.'))).toEqual([])
    expect(created.extraNetworks).toEqual([])
  })
})

import type { ContainerSummary } from '../../src/engine/ports.js'
import { LedgerError } from '../../src/engine/ports.js'
import { describeRebuilt, missingLedgerProblem, rebuildLedger } from '../../src/engine/ledger-guard.js'
import { ledgerPath } from '../../src/host/ledger-file.js'
import { EngineBed, releaseFailure, testConfig } from '../support/engine-bed.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const V3 = 'registry.test/web:3'

/** A container as `docker ps` lists it, with cutover's labels for app web. */
function container(name: string, labels: Record<string, string>, state = 'running'): ContainerSummary {
  return {
    name,
    state,
    status: state,
    image: labels['cutover.image'] ?? 'x',
    labels: { 'cutover.managed': 'true', 'cutover.app': 'web', ...labels }
  }
}

function colorContainer(color: string, image: string, release: string, startedAt: string, name = `web-${color}`, state = 'running'): ContainerSummary {
  return container(
    name,
    {
      'cutover.color': color,
      'cutover.image': image,
      'cutover.release': release,
      'cutover.deployed-at': startedAt,
      'cutover.config-hash': `hash-${release}`,
      'cutover.role': 'web'
    },
    state
  )
}

/** A Swarm service of app web as SwarmManagerHost lists it (listAppUnits). */
function service(name: string, labels: Record<string, string>, replicas: number | undefined): ContainerSummary {
  const state = replicas === 0 ? 'scaled to 0' : 'running'
  return { ...container(name, labels, state), status: `${replicas ?? 'global'}`, service: { replicas } }
}

function colorService(color: string, image: string, release: string, startedAt: string, replicas: number): ContainerSummary {
  return { ...colorContainer(color, image, release, startedAt), ...service(`web-${color}`, colorContainer(color, image, release, startedAt).labels, replicas) }
}

describe('missingLedgerProblem', () => {
  it('is undefined on a host with no container of the app (a real first deploy)', () => {
    expect(missingLedgerProblem('web', [])).toBeUndefined()
  })

  it('ignores a look-alike without cutover’s labels, and another app’s containers', () => {
    const foreign: ContainerSummary = { name: 'web-blue', state: 'running', status: 'Up', image: 'nginx', labels: {} }
    const other = container('shop-blue', { 'cutover.app': 'shop', 'cutover.color': 'blue' })
    expect(missingLedgerProblem('web', [foreign, other])).toBeUndefined()
  })

  it('stops when cutover’s containers for the app exist: names the file, the containers and the recovery', () => {
    const problem = missingLedgerProblem('web', [colorContainer('blue', V1, 'r1', '2026-12-01T10:00:00.000Z')])
    expect(problem).toContain(`The release ledger ~/${ledgerPath('web')} is missing on the host, but cutover's containers for web exist: web-blue (running).`)
    expect(problem).toContain('another SSH user (with another home)')
    expect(problem).toContain('nothing was changed')
    expect(problem).toContain('run mode status with rebuild-ledger: true')
    expect(problem).not.toContain('manager')
  })

  it('a first deploy that failed is no release: its swarm proxy and switch helper, a container kept with keep-failed, a service scaled to 0, a release command', () => {
    const leftovers = [
      service('web-proxy', { 'cutover.role': 'proxy' }, undefined),
      container('web-proxy-switch', { 'cutover.role': 'proxy-switch' }),
      container('web-proxy.1ab.2cd', { 'cutover.role': 'proxy' }),
      colorContainer('blue', V1, 'r1', 't', 'web-blue-failed', 'exited'),
      colorContainer('blue', V1, 'r1', 't', 'web-blue-2-failed', 'exited'),
      container('web-blue-worker-jobs-failed', { 'cutover.color': 'blue', 'cutover.role': 'worker', 'cutover.worker': 'jobs' }, 'exited'),
      container('web-db', { 'cutover.role': 'shared' }),
      colorService('green', V1, 'r1', 't', 0),
      container('web-release', { 'cutover.color': 'blue', 'cutover.role': 'release-command', 'cutover.release': 'r1' }, 'exited')
    ]
    expect(missingLedgerProblem('web', leftovers)).toBeUndefined()
    // but a worker of that name, or a standby set aside, is a release that went out
    const worker = container('web-blue-worker-failed', { 'cutover.color': 'blue', 'cutover.role': 'worker', 'cutover.worker': 'failed' })
    expect(missingLedgerProblem('web', [...leftovers, worker])).toContain('exist: web-blue-worker-failed (running).')
    const aside = colorContainer('green', V1, 'r1', 't', 'web-green-replaced', 'exited')
    expect(missingLedgerProblem('web', [...leftovers, aside])).toContain('exist: web-green-replaced (exited).')
  })

  it('on a swarm, names the services that run, and rebuilding from their labels', () => {
    const problem = missingLedgerProblem('web', [
      service('web-proxy', { 'cutover.role': 'proxy' }, undefined),
      colorService('blue', V1, 'r1', 't', 2),
      colorService('green', V2, 'r2', 't', 0)
    ])
    expect(problem).toContain("but cutover's services for web exist: web-blue (running).")
    expect(problem).toContain('or to another manager of the swarm (the ledger is on the manager they deployed through)')
    expect(problem).toContain('connect as the SSH user that deployed web, on that manager, or run')
    expect(problem).toContain("rebuild the ledger from the services' labels and the proxy's route")
  })

  it('names at most four containers', () => {
    const many = [1, 2, 3, 4, 5, 6].map(i => colorContainer('blue', V1, 'r1', 't', i === 1 ? 'web-blue' : `web-blue-${i}`))
    expect(missingLedgerProblem('web', many)).toContain('web-blue (running), web-blue-2 (running), web-blue-3 (running), web-blue-4 (running) and 2 more.')
  })
})

describe('rebuildLedger', () => {
  const blue = colorContainer('blue', V1, 'r1', '2026-12-01T10:00:00.000Z')
  const green = colorContainer('green', V2, 'r2', '2026-12-01T11:00:00.000Z')

  it('live = the color the proxy routes to, with the release id it reports; previous = the other color, started before it', () => {
    const record = rebuildLedger('web', [blue, green], { color: 'green', releaseId: 'r5' })
    expect(record.version).toBe(1)
    expect(record.app).toBe('web')
    expect(record.releases).toEqual([
      { id: 'r5', instance: 'r2', app: 'web', color: 'green', image: V2, configHash: 'hash-r2', kind: 'deploy', liveSince: '2026-12-01T11:00:00.000Z', by: {} },
      { id: 'r1', instance: 'r1', app: 'web', color: 'blue', image: V1, configHash: 'hash-r1', kind: 'deploy', liveSince: '2026-12-01T10:00:00.000Z', by: {} }
    ])
    expect(describeRebuilt(record, true)).toBe(
      `Rebuilt the release ledger of web: live green ${V2} (release r5), the color the proxy routes to, with the release id it reports; ` +
        `previous: blue ${V1} (release r1), what mode rollback goes back to. ` +
        'Not known from containers, so not recorded: older releases, image digests, authors, switch times (their start times stand in) and worker commands.'
    )
  })

  it('no previous release when the other color was started after the live one (a preview or a canary never went live)', () => {
    const record = rebuildLedger('web', [blue, green], { color: 'blue', releaseId: 'r1' })
    expect(record.releases.map(r => r.id)).toEqual(['r1'])
    expect(describeRebuilt(record, true)).toContain('no previous release could be inferred')
  })

  it('counts replicas of the same release; skips set-aside, failed and release-command containers', () => {
    const record = rebuildLedger(
      'web',
      [
        blue,
        colorContainer('blue', V1, 'r1', '2026-12-01T10:00:00.000Z', 'web-blue-2'),
        colorContainer('green', V3, 'r3', '2026-12-01T12:00:00.000Z', 'web-green-failed', 'exited'),
        colorContainer('green', V2, 'r2', '2026-12-01T09:00:00.000Z', 'web-green-replaced', 'exited'),
        container('web-release', { 'cutover.color': 'green', 'cutover.role': 'release-command', 'cutover.release': 'r9', 'cutover.image': V3 })
      ],
      { color: 'blue', releaseId: 'r1' }
    )
    expect(record.releases).toHaveLength(1)
    expect(record.releases[0]).toMatchObject({ color: 'blue', image: V1, replicas: 2 })
  })

  it('from swarm services: replicas from the service; a standby scaled to 0 is the previous release, not a running one', () => {
    const services = [colorService('blue', V1, 'r1', '2026-12-01T10:00:00.000Z', 0), colorService('green', V2, 'r2', '2026-12-01T11:00:00.000Z', 3)]
    const record = rebuildLedger('web', services, { color: 'green', releaseId: 'r5' })
    expect(record.releases.map(r => [r.id, r.color, r.image, r.replicas])).toEqual([
      ['r5', 'green', V2, 3],
      ['r1', 'blue', V1, undefined]
    ])
    // without a route: the one that runs is live
    expect(rebuildLedger('web', services, undefined).releases.map(r => r.color)).toEqual(['green', 'blue'])
  })

  it('without a route: the one color whose containers run; refuses when that cannot be told', () => {
    const stoppedGreen = colorContainer('green', V2, 'r2', '2026-12-01T11:00:00.000Z', 'web-green', 'exited')
    expect(rebuildLedger('web', [blue, stoppedGreen], undefined).releases.map(r => r.color)).toEqual(['blue'])
    expect(() => rebuildLedger('web', [blue, green], undefined)).toThrow(
      'Cannot tell which release of web is live (the proxy has no route for web and both colors run), so the ledger was not rebuilt. Nothing was changed.'
    )
    expect(() => rebuildLedger('web', [blue], { color: 'green', releaseId: 'r2' })).toThrow(LedgerError)
    expect(() => rebuildLedger('web', [], undefined)).toThrow("No container or service of web carries cutover's labels")
  })
})

/** The images of the ledger's releases, newest first. */
function recorded(bed: EngineBed): string[] | undefined {
  return bed.ledger.record?.releases.map(r => r.image)
}

describe('the engine with a missing ledger', () => {
  it('a first deploy writes a ledger with no release before it changes anything on the host, so a run killed later leaves a first deploy to the next one', async () => {
    const bed = new EngineBed([V1, V2])
    const write = bed.ledger.write.bind(bed.ledger)
    let hostCallsAtFirstWrite: string[] | undefined
    bed.ledger.write = async record => {
      hostCallsAtFirstWrite ??= [...bed.host.calls]
      return write(record)
    }
    await bed.engine(testConfig()).release({ kind: 'deploy', image: V1 })
    expect(bed.ledger.writes[0]).toMatchObject({ app: 'web', releases: [] })
    expect(hostCallsAtFirstWrite?.filter(c => /^(create|start|stop|remove|rename|ensureNetwork|setRestartPolicy)/.test(c))).toEqual([])
    // a deploy with a release live writes nothing before its switch
    const writes = bed.ledger.writes.length
    bed.ledger.write = async record => {
      expect(record.pending ?? record.releases[0].image).not.toBe(V1)
      return write(record)
    }
    await bed.engine(testConfig()).release({ kind: 'deploy', image: V2 })
    expect(bed.ledger.writes.slice(writes).map(r => r.pending?.image ?? `live ${r.releases[0].image}`)).toEqual([V2, `live ${V2}`])
  })

  it('a first deploy that failed, its container kept with keep-failed, is no release: the next deploy goes ahead as a first deploy', async () => {
    const bed = new EngineBed([V1])
    const broken = 'registry.test/web:broken'
    bed.host.addImage(broken, { healthStatus: 500 })
    await releaseFailure(bed.engine(testConfig({ keepFailed: true })).release({ kind: 'deploy', image: broken }))
    // The run wrote a ledger with no release before it started anything; without it (a host where an
    // older version failed so, or the file removed since) the kept container is no release either.
    expect(bed.ledger.record?.releases).toEqual([])
    bed.ledger.record = undefined
    expect(bed.host.state()).toEqual({ 'web-blue-failed': `${broken} stopped` })
    const first = await bed.engine(testConfig()).release({ kind: 'deploy', image: V1 })
    expect(first).toMatchObject({ result: 'deployed', color: 'blue', image: V1, previousImage: undefined })
    expect(recorded(bed)).toEqual([V1])
  })

  it('a deploy stops before touching anything when the ledger is gone while blue runs; rebuild-ledger restores it, then deploy and rollback work', async () => {
    const bed = new EngineBed([V1, V2, V3])
    await bed.engine(testConfig()).release({ kind: 'deploy', image: V1 })
    await bed.engine(testConfig()).release({ kind: 'deploy', image: V2 })
    bed.ledger.record = undefined
    const calls = bed.host.calls.length
    await expect(bed.engine(testConfig()).release({ kind: 'deploy', image: V3 })).rejects.toThrow(
      `The release ledger ~/${ledgerPath('web')} is missing on the host, but cutover's containers for web exist`
    )
    expect(bed.host.calls.slice(calls).filter(c => !/^(inspect|listApp|missingNetworks)/.test(c))).toEqual([])
    await expect(bed.engine(testConfig({ mode: 'status' })).status()).rejects.toThrow('rebuild-ledger: true')

    const status = await bed.engine(testConfig({ mode: 'status', rebuildLedger: true })).status()
    expect(status).toMatchObject({ result: 'unchanged', color: 'green', image: V2, previousImage: V1 })
    expect(recorded(bed)).toEqual([V2, V1])
    expect(bed.timeline?.steps[0].detail).toContain(`Rebuilt the release ledger of web: live green ${V2}`)
    // a second rebuild is refused: the ledger is there
    await expect(bed.engine(testConfig({ mode: 'status', rebuildLedger: true })).status()).rejects.toThrow('is there and readable, so it was not rebuilt')

    const deployed = await bed.engine(testConfig()).release({ kind: 'deploy', image: V3 })
    expect(deployed).toMatchObject({ result: 'deployed', color: 'blue', image: V3, previousImage: V2 })
    const rolled = await bed.engine(testConfig({ mode: 'rollback' })).release({ kind: 'rollback' })
    expect(rolled).toMatchObject({ result: 'rolled-back', color: 'green', image: V2 })
    // the ledger now: V2 (the rollback), V3, V2 and V1 (both rebuilt): the rebuilt previous is still reachable
    expect(recorded(bed)).toEqual([V2, V3, V2, V1])
    const again = await bed.engine(testConfig({ mode: 'rollback' })).release({ kind: 'rollback', toRelease: 3 })
    expect(again).toMatchObject({ result: 'rolled-back', image: V1 })
  })
})

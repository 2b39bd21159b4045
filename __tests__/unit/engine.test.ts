import type { Config } from '../../src/core/config.js'
import type { ReleaseResult } from '../../src/core/outcome.js'
import type { LedgerRecord } from '../../src/core/release.js'
import { ReleaseEngine } from '../../src/engine/release.js'
import type { ReleaseRequest } from '../../src/engine/plan.js'
import { EngineBed, releaseFailure, testConfig } from '../support/engine-bed.js'

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const V3 = 'registry.test/web:3'
const BROKEN = 'registry.test/web:broken'
const CRASH = 'registry.test/web:crash'
const SLOW = 'registry.test/web:slow'

function configFor(more: Partial<Config> = {}, container: Partial<Config['container']> = {}): Config {
  return testConfig({
    container: { env: { A: '1' }, volumes: [], networks: [], labels: {}, restart: { Name: 'unless-stopped' }, ...container },
    ...more
  })
}

/** One host with its proxy and ledger, and a way to run releases against it. */
class Bed extends EngineBed {
  constructor() {
    super([V1, V2, V3], { actor: 'alice', commit: 'abc1234def', runUrl: 'https://github.test/acme/web/actions/runs/1' })
    this.host.addImage(BROKEN, { healthStatus: 500 })
    this.host.addImage(CRASH, { crashWith: 3 })
    this.host.addImage(SLOW, { bootMs: 60_000 })
  }

  override engine(config = configFor()): ReleaseEngine {
    return super.engine(config)
  }

  deploy(image: string, config?: Config): Promise<ReleaseResult> {
    return this.engine(config).release({ kind: 'deploy', image })
  }

  rollback(more: Omit<Extract<ReleaseRequest, { kind: 'rollback' }>, 'kind'> = {}, config?: Config): Promise<ReleaseResult> {
    return this.engine(config).release({ kind: 'rollback', ...more })
  }

  /** The image the proxy sends traffic to now. */
  serving(): string | undefined {
    const route = this.router.route
    return route && this.host.containers.get(`web-${route.color}`)?.image
  }
}

describe('deploy', () => {
  it('first deploy: starts blue, gates it, switches, records the release in the ledger', async () => {
    const bed = new Bed()
    const r = await bed.deploy(V1)
    expect(r).toMatchObject({ result: 'deployed', color: 'blue', image: V1, previousColor: undefined, standby: undefined })
    expect(bed.serving()).toBe(V1)
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running` })
    // the restart policy is applied only once healthy
    expect(bed.host.restartPolicies.get('web-blue')).toEqual({ Name: 'unless-stopped' })
    const record = bed.ledger.record!
    expect(record.pending).toBeUndefined()
    expect(record.releases).toHaveLength(1)
    expect(record.releases[0]).toMatchObject({
      id: 'r1',
      instance: 'r1',
      color: 'blue',
      image: V1,
      kind: 'deploy',
      by: { actor: 'alice', commit: 'abc1234def' }
    })
    expect(record.releases[0].digest).toMatch(/@sha256:/)
    // live since the verified switch, not since the container started (it booted for 1.5 s)
    expect(Date.parse(record.releases[0].liveSince)).toBeGreaterThanOrEqual(Date.parse('2026-11-22T10:00:01.500Z'))
  })

  it('writes the release as pending before the switch, and as live after it is verified', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    const before = bed.ledger.writes.length
    await bed.deploy(V2)
    const writes = bed.ledger.writes.slice(before)
    expect(writes.map(w => [w.pending?.image, w.releases.map(r => r.image)])).toEqual([
      [V2, [V1]],
      [undefined, [V2, V1]]
    ])
  })

  it('second deploy goes to green and keeps blue running as the standby', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    const r = await bed.deploy(V2)
    expect(r).toMatchObject({
      result: 'deployed',
      color: 'green',
      image: V2,
      previousColor: 'blue',
      previousImage: V1,
      standby: { color: 'blue', state: 'running' }
    })
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-green': `${V2} running` })
  })

  it('the same image with the same settings is unchanged; changed settings make a new release', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    const same = await bed.deploy(V1)
    expect(same.result).toBe('unchanged')
    expect(bed.ledger.record!.releases).toHaveLength(1)
    // a rotated secret is a new release, on the other color
    const rotated = await bed.deploy(V1, configFor({}, { env: { A: '2' } }))
    expect(rotated).toMatchObject({ result: 'deployed', color: 'green', image: V1 })
    expect(bed.host.containers.get('web-green')!.spec!.env).toEqual({ A: '2' })
    expect(bed.ledger.record!.releases).toHaveLength(2)
  })

  it('the same image with changed proxy settings (a new certificate) re-applies the live route, still unchanged', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    const applied = bed.router.applied.length
    let outdated = true
    Object.assign(bed.router, { outdated: async () => outdated })
    const r = await bed.deploy(V1)
    expect(r).toMatchObject({ result: 'unchanged', color: 'blue', image: V1 })
    expect(bed.router.applied.slice(applied)).toEqual([expect.objectContaining({ color: 'blue', releaseId: r.release!.id })])
    outdated = false
    await bed.deploy(V1)
    expect(bed.router.applied.length).toBe(applied + 1)
  })

  it('keeps at most 10 releases in the ledger, newest first', async () => {
    const bed = new Bed()
    for (let i = 0; i < 12; i++) await bed.deploy([V1, V2, V3][i % 3])
    const releases = bed.ledger.record!.releases
    expect(releases).toHaveLength(10)
    expect(releases.map(r => r.id)).toEqual(['r12', 'r11', 'r10', 'r9', 'r8', 'r7', 'r6', 'r5', 'r4', 'r3'])
  })

  it('loads an image archive instead of pulling, then deploys as usual', async () => {
    const bed = new Bed()
    const archived = 'registry.test/web:from-archive'
    const r = await bed.deploy(archived, configFor({ imageArchive: { path: `/archives/${archived}`, bytes: 1_000_000, tags: [archived] } }))
    expect(r).toMatchObject({ result: 'deployed', image: archived })
    expect(bed.host.calls).toContain('load')
    expect(bed.host.calls).not.toContain('pull')
    expect(bed.serving()).toBe(archived)
  })

  it('refuses before touching anything when a network in networks does not exist', async () => {
    const bed = new Bed()
    const e = await releaseFailure(bed.deploy(V1, configFor({}, { networks: ['backend'] })))
    expect(e.message).toMatch(/Input 'networks' names backend, which the host does not have/)
    expect(bed.host.calls).not.toContain('create')
    expect(bed.host.calls).not.toContain('pull')
  })
})

describe('a failure at each step leaves the live color serving and the host as it was', () => {
  async function liveOnGreen(): Promise<Bed> {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    return bed
  }
  const untouched = { 'web-blue': `${V1} running`, 'web-green': `${V2} running` }

  it('pull: the registry refuses', async () => {
    const bed = await liveOnGreen()
    const e = await releaseFailure(bed.deploy('registry.test/web:missing'))
    expect(e.message).toMatch(/manifest unknown/)
    expect(bed.serving()).toBe(V2)
    expect(bed.host.state()).toEqual(untouched)
  })

  it('restart policy: set beside the pending ledger write, before the switch; when Docker refuses it, nothing switches and the standby is put back', async () => {
    const bed = await liveOnGreen()
    const switches = bed.router.applied.length
    bed.host.failures.set('setRestartPolicy', new Error('cannot update container'))
    await expect(bed.deploy(V3)).rejects.toThrow('The restart policy of blue could not be set: cannot update container. green (')
    expect(bed.router.applied.length).toBe(switches)
    expect(bed.ledger.record!.pending).toBeUndefined()
    expect(bed.serving()).toBe(V2)
    expect(bed.host.state()).toEqual(untouched)
  })

  it('boot: the container cannot be created; the standby set aside is put back', async () => {
    const bed = await liveOnGreen()
    bed.host.failures.set('create', new Error('invalid mount config'))
    await expect(bed.deploy(V3)).rejects.toThrow('invalid mount config')
    expect(bed.serving()).toBe(V2)
    expect(bed.host.state()).toEqual(untouched)
  })

  it('health: an unhealthy image fails with the reason and its logs; nothing switched', async () => {
    const bed = await liveOnGreen()
    const e = await releaseFailure(bed.deploy(BROKEN))
    expect(e.failure.reason).toMatch(
      /web-blue \(registry.test\/web:broken\) did not become healthy: \/health on port 3000 did not give a 2xx answer within 10 s \(health-timeout\); last answer: HTTP 500: "broken"\. green \(registry.test\/web:2\) is still live\./
    )
    expect(e.failure.logs).toBe('last lines of web-blue')
    expect(bed.serving()).toBe(V2)
    expect(bed.host.state()).toEqual(untouched)
    expect(bed.ledger.record!.releases.map(r => r.image)).toEqual([V2, V1])
    expect(bed.ledger.record!.pending).toBeUndefined()
  })

  it('health: a crash at boot reports its exit code', async () => {
    const bed = await liveOnGreen()
    const e = await releaseFailure(bed.deploy(CRASH))
    expect(e.failure).toMatchObject({ exitCode: 3, container: 'web-blue' })
    expect(e.failure.reason).toMatch(/exited with code 3 before it became healthy/)
    expect(bed.host.state()).toEqual(untouched)
  })

  it('health: keep-failed keeps the failed container stopped under its own name', async () => {
    const bed = await liveOnGreen()
    await releaseFailure(bed.deploy(BROKEN, configFor({ keepFailed: true })))
    expect(bed.host.state()).toEqual({ ...untouched, 'web-blue-failed': `${BROKEN} stopped` })
  })

  it('health: the gate ends at health-timeout even when the app never listens', async () => {
    const bed = await liveOnGreen()
    const started = bed.clock.now()
    const e = await releaseFailure(bed.deploy(SLOW))
    expect(e.message).toMatch(/within 10 s \(health-timeout\)/)
    expect(bed.clock.now() - started).toBeLessThanOrEqual(10_000)
  })

  it('switch: the proxy refuses the route; the pending release is forgotten', async () => {
    const bed = await liveOnGreen()
    bed.router.failApply = new Error('nginx -t failed')
    const e = await releaseFailure(bed.deploy(V3))
    expect(e.message).toBe('The proxy could not be switched to blue: nginx -t failed. green (registry.test/web:2) is still live.')
    expect(bed.serving()).toBe(V2)
    expect(bed.host.state()).toEqual(untouched)
    expect(bed.ledger.record!.pending).toBeUndefined()
  })

  it('verify: the proxy does not answer from the new color; the route is switched back', async () => {
    const bed = await liveOnGreen()
    bed.router.brokenColor = 'blue'
    const e = await releaseFailure(bed.deploy(V3))
    expect(e.message).toMatch(
      /After the switch the proxy did not answer from blue within 10 s \(last answer: HTTP 502: "Bad Gateway"\), so it was switched back to green\./
    )
    expect(bed.router.route).toMatchObject({ color: 'green', releaseId: bed.ledger.record!.releases[0].id })
    expect(bed.serving()).toBe(V2)
    expect(bed.host.state()).toEqual(untouched)
    expect(bed.ledger.record!.releases.map(r => r.image)).toEqual([V2, V1])
  })

  it('ledger: a damaged ledger stops the run before anything is touched', async () => {
    const bed = await liveOnGreen()
    bed.ledger.damaged = true
    await expect(bed.deploy(V3)).rejects.toThrow(/damaged/)
    expect(bed.host.state()).toEqual(untouched)
    expect(bed.router.applied).toHaveLength(2)
  })

  it('abort (a cancel signal) during the health gate undoes the boot and fails', async () => {
    const bed = await liveOnGreen()
    const engine = bed.engine()
    // cancel as soon as the new container has started
    const start = bed.host.start.bind(bed.host)
    bed.host.start = async name => {
      await start(name)
      engine.abort('Cancelled (SIGINT)')
    }
    const e = await releaseFailure(engine.release({ kind: 'deploy', image: V3 }))
    expect(e.message).toMatch(/^Cancelled \(SIGINT\): stopped before the switch; green \(registry.test\/web:2\) is still live\.$/)
    expect(bed.host.state()).toEqual(untouched)
    expect(bed.serving()).toBe(V2)
  })
})

describe('rollback', () => {
  it('flips to the running standby without starting anything, and a second rollback flips forward', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    const creates = bed.host.calls.filter(c => c === 'create').length
    const back = await bed.rollback()
    expect(back).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1, previousColor: 'green', standby: { color: 'green', state: 'running' } })
    expect(bed.serving()).toBe(V1)
    const forward = await bed.rollback()
    expect(forward).toMatchObject({ result: 'rolled-back', color: 'green', image: V2 })
    expect(bed.host.calls.filter(c => c === 'create').length).toBe(creates)
    expect(bed.ledger.record!.releases.map(r => [r.image, r.kind])).toEqual([
      [V2, 'rollback'],
      [V1, 'rollback'],
      [V2, 'deploy'],
      [V1, 'deploy']
    ])
  })

  it('starts a stopped standby, or its image again when it was removed', async () => {
    const stopped = new Bed()
    const stopConfig = configFor({ keepPrevious: 'stopped' })
    await stopped.deploy(V1, stopConfig)
    await stopped.deploy(V2, stopConfig)
    expect(stopped.host.state()['web-blue']).toBe(`${V1} stopped`)
    expect(await stopped.rollback({}, stopConfig)).toMatchObject({ result: 'rolled-back', image: V1 })
    expect(stopped.serving()).toBe(V1)

    const removed = new Bed()
    const removeConfig = configFor({ keepPrevious: 'removed' })
    await removed.deploy(V1, removeConfig)
    await removed.deploy(V2, removeConfig)
    expect(removed.host.state()['web-blue']).toBeUndefined()
    expect(await removed.rollback({}, removeConfig)).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1 })
    expect(removed.serving()).toBe(V1)
  })

  it('to-release N starts the release N back again, from the ledger', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    await bed.deploy(V3)
    const r = await bed.rollback({ toRelease: 2 })
    expect(r).toMatchObject({ result: 'rolled-back', color: 'green', image: V1 })
    expect(bed.serving()).toBe(V1)
  })

  it('uses the copy on the host when the registry no longer has the image', async () => {
    const bed = new Bed()
    await bed.deploy(V1, configFor({ keepPrevious: 'removed' }))
    await bed.deploy(V2, configFor({ keepPrevious: 'removed' }))
    bed.host.failures.set('pull', new Error('Pull of registry.test/web:1 failed: unauthorized'))
    const r = await bed.rollback()
    expect(r).toMatchObject({ result: 'rolled-back', image: V1 })
    expect(bed.log.text()).toMatch(/using the copy already on the host/)
  })

  it('is refused with a reason when there is nothing to roll back to', async () => {
    const bed = new Bed()
    await expect(bed.rollback()).rejects.toThrow('Cannot roll back web: nothing has been deployed on this host yet, so there is nothing to roll back to.')
    await bed.deploy(V1)
    await expect(bed.rollback()).rejects.toThrow(/only one version/)
    await expect(bed.rollback({ toRelease: 3 })).rejects.toThrow(/only one version/)
  })
})

describe('recovering from an interrupted run', () => {
  it('puts back a standby a crashed run had set aside, and removes its unswitched container', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    // a run died after setting blue aside and starting V3 as blue
    await bed.host.rename('web-blue', 'web-blue-replaced')
    await bed.host.create({ name: 'web-blue', image: V3, env: {}, labels: { 'cutover.app': 'web' }, network: 'cutover-web', extraNetworks: [], volumes: [] })
    await bed.deploy(V2)
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-green': `${V2} running` })
    expect(await bed.rollback()).toMatchObject({ image: V1 })
  })

  it('finishes a switch that happened but was never recorded (pending release the proxy routes to)', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    // the run dies right after the switch: the ledger still says pending
    const writes = bed.ledger.write.bind(bed.ledger)
    let n = 0
    bed.ledger.write = async (record: LedgerRecord) => {
      await writes(record)
      if (++n === 1) throw new Error('SSH connection lost')
    }
    bed.router.brokenColor = undefined
    const engine = bed.engine()
    const lost = engine.release({ kind: 'deploy', image: V2 })
    // the pending write succeeded, the error after it ends the run before the switch
    await expect(lost).rejects.toThrow('SSH connection lost')
    bed.ledger.write = writes
    expect(bed.serving()).toBe(V1)

    // now: pending written, switch done, final write lost
    const pendingThenSwitch = new Bed()
    await pendingThenSwitch.deploy(V1)
    pendingThenSwitch.ledger.failWriteAt = 2
    await expect(pendingThenSwitch.deploy(V2)).rejects.toThrow('disk full')
    expect(pendingThenSwitch.serving()).toBe(V2)
    expect(pendingThenSwitch.ledger.record!.pending?.image).toBe(V2)
    const status = await pendingThenSwitch.engine().status()
    expect(status).toMatchObject({ color: 'green', image: V2 })
    const next = await pendingThenSwitch.deploy(V2)
    expect(next.result).toBe('unchanged')
    expect(pendingThenSwitch.ledger.record!.releases.map(r => r.image)).toEqual([V2, V1])
    expect(pendingThenSwitch.ledger.record!.pending).toBeUndefined()
  })

  it('a pending release the proxy serves at run time but never saved (the run died between the two) went live, and its route is saved', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    const blueRoute = bed.router.route!
    bed.ledger.failWriteAt = 2
    await expect(bed.deploy(V2)).rejects.toThrow('disk full')
    // the proxy switched at run time; its saved route still names blue
    bed.router.saved = blueRoute
    expect(bed.serving()).toBe(V2)
    const next = await bed.deploy(V2)
    expect(next.result).toBe('unchanged')
    expect(bed.ledger.record!.releases.map(r => r.image)).toEqual([V2, V1])
    expect(bed.router.saved).toBeUndefined()
    expect(await bed.router.current()).toMatchObject({ color: 'green' })
    expect(bed.log.text()).toContain('An interrupted run had switched to green')
  })

  it('forgets a pending release the proxy never switched to', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    bed.ledger.record = { ...bed.ledger.record!, pending: { ...bed.ledger.record!.releases[0], id: 'never', color: 'green', image: V2 } }
    const r = await bed.deploy(V3)
    expect(r).toMatchObject({ result: 'deployed', color: 'green', image: V3 })
    expect(bed.ledger.record!.releases.map(r => r.image)).toEqual([V3, V1])
    expect(bed.log.text()).toMatch(/never switched to green/)
  })

  it('imports the state a router kept before the ledger existed', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    const live = bed.ledger.record!.releases[0]
    bed.ledger.record = undefined
    bed.router.legacy = {
      version: 1,
      app: 'web',
      releases: [
        { ...live, by: {} },
        { id: 'old', instance: 'old', app: 'web', color: 'blue', image: V1, configHash: '', kind: 'deploy', liveSince: '', by: {} }
      ]
    }
    // containers of older versions carry no release label: they are matched by image
    delete bed.host.containers.get('web-blue')!.labels['cutover.release']
    const r = await bed.rollback()
    expect(r).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1 })
    expect(bed.log.text()).toMatch(/Imported the live release/)
  })
})

describe('drain timing (injected clock)', () => {
  it('keep-previous stopped waits drain-timeout after the switch, then stops the previous color', async () => {
    const bed = new Bed()
    const config = configFor({ keepPrevious: 'stopped', proxy: { ...configFor().proxy, drainTimeoutMs: 7000 } })
    await bed.deploy(V1, config)
    bed.clock.sleeps.length = 0
    const r = await bed.deploy(V2, config)
    expect(r.standby).toEqual({ color: 'blue', image: V1, state: 'stopped' })
    expect(bed.clock.sleeps).toContain(7000)
  })

  it('a replaced standby that was live moments ago drains the rest of its drain-timeout, counted from its switch', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    await bed.rollback() // blue live again; green (V2) was live until now
    bed.clock.t += 12_000
    bed.clock.sleeps.length = 0
    const liveSince = Date.parse(bed.ledger.record!.releases[0].liveSince)
    await bed.deploy(V3) // replaces green
    // 30 s drain from the rollback's switch, of which 12 s (+ the new color's boot) had passed
    const waited = bed.clock.sleeps.find(ms => ms > 5000)!
    expect(liveSince + 30_000 - (bed.clock.t - waited)).toBe(waited)
    expect(waited).toBeGreaterThan(16_000)
    expect(waited).toBeLessThan(18_000)
    expect(bed.log.text()).toMatch(/letting its connections drain 17 s more/)
  })

  it('a replaced standby live moments ago goes at once when the proxy, asked before the switch, held none of its requests', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    await bed.rollback() // blue live again; green (V2) was live until now
    bed.router.answerIdle(['green'])
    bed.clock.t += 12_000
    bed.clock.sleeps.length = 0
    bed.router.calls.length = 0
    await bed.deploy(V3) // replaces green
    expect(bed.clock.sleeps.every(ms => ms < 1000)).toBe(true)
    expect(bed.log.text()).toMatch(/the proxy held none of them any more before the switch: removing it now, without the 17 s of drain-timeout left/)
    expect(bed.log.text()).not.toMatch(/letting its connections drain/)
    // Asked once, before the switch: after it, green's servers are the new container's.
    expect(bed.router.calls.filter(c => c === 'idleColors')).toHaveLength(1)
    expect(bed.router.calls.indexOf('idleColors')).toBeLessThan(bed.router.calls.indexOf('apply'))
    expect(bed.host.containers.has('web-green-replaced')).toBe(false)
    expect(bed.host.removedImages).toHaveLength(1)
  })

  it('a replaced standby the proxy still holds requests of (or cannot say) drains the rest of its drain-timeout', async () => {
    for (const answer of [['blue'] as const, new Error('socket closed')]) {
      const bed = new Bed()
      await bed.deploy(V1)
      await bed.deploy(V2)
      await bed.rollback()
      bed.router.answerIdle(answer instanceof Error ? answer : [...answer])
      bed.clock.t += 12_000
      bed.clock.sleeps.length = 0
      await bed.deploy(V3)
      expect(bed.clock.sleeps.find(ms => ms > 5000)).toBeGreaterThan(16_000)
      expect(bed.log.text()).toMatch(/letting its connections drain 17 s more/)
    }
  })

  it('does not ask the proxy about a replaced standby whose drain-timeout is long over', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    bed.router.answerIdle(['green'])
    bed.clock.t += 60_000
    bed.router.calls.length = 0
    await bed.deploy(V3)
    expect(bed.router.calls).not.toContain('idleColors')
  })

  it('keep-previous stopped stops the previous color as soon as the proxy holds none of its requests', async () => {
    const bed = new Bed()
    const config = configFor({ keepPrevious: 'stopped', proxy: { ...configFor().proxy, drainTimeoutMs: 7000 } })
    await bed.deploy(V1, config)
    bed.router.answerIdle([], [], ['blue'])
    bed.clock.sleeps.length = 0
    const r = await bed.deploy(V2, config)
    expect(r.standby).toEqual({ color: 'blue', image: V1, state: 'stopped' })
    // Asked at once and every 200 ms: idle at the third answer.
    expect(bed.clock.sleeps.filter(ms => ms === 200)).toHaveLength(2)
    expect(bed.clock.sleeps).not.toContain(7000)
    expect(bed.log.text()).toMatch(/The proxy holds no request of web-blue any more, after 400 ms: the drain ends early/)
  })

  it('with sticky cookies the drain is all of drain-timeout: their clients keep coming to the draining color', async () => {
    const bed = new Bed()
    const config = configFor({ keepPrevious: 'stopped', proxy: { ...configFor().proxy, drainTimeoutMs: 7000, sticky: true } })
    await bed.deploy(V1, config)
    bed.router.answerIdle(['blue'])
    bed.clock.sleeps.length = 0
    bed.router.calls.length = 0
    const r = await bed.deploy(V2, config)
    expect(r.standby).toEqual({ color: 'blue', image: V1, state: 'stopped' })
    expect(bed.clock.sleeps).toContain(7000)
    expect(bed.router.calls).not.toContain('idleColors')
  })

  it('keep-previous stopped waits all of drain-timeout while the proxy holds requests of the previous color, or cannot say', async () => {
    for (const answer of [['green'] as const, new Error('socket closed')]) {
      const bed = new Bed()
      const config = configFor({ keepPrevious: 'stopped', proxy: { ...configFor().proxy, drainTimeoutMs: 7000 } })
      await bed.deploy(V1, config)
      bed.router.answerIdle(answer instanceof Error ? answer : [...answer])
      bed.clock.sleeps.length = 0
      const r = await bed.deploy(V2, config)
      expect(r.standby).toEqual({ color: 'blue', image: V1, state: 'stopped' })
      expect(bed.clock.sleeps.filter(ms => ms === 200).reduce((a, b) => a + b, 0)).toBe(7000)
      expect(bed.log.text()).not.toMatch(/the drain ends early/)
    }
  })

  it('a replaced standby that stopped being live long ago is removed at once', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    bed.clock.t += 60_000
    bed.clock.sleeps.length = 0
    await bed.deploy(V3)
    expect(bed.clock.sleeps.every(ms => ms < 1000)).toBe(true)
    expect(bed.host.removedImages).toHaveLength(1)
  })
})

describe('images shared with other apps on the host (issue #22)', () => {
  async function replacedImage(setup: (bed: Bed) => void) {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    bed.clock.t += 60_000
    setup(bed)
    const r = await bed.deploy(V3) // removes the blue container of V1: its image is pruned unless kept
    return { bed, r, v1: bed.host.images.get(V1)!.id }
  }

  it("an image another app's record names (by reference) is kept, and the log says which app", async () => {
    const { bed, r, v1 } = await replacedImage(b => (b.ledger.othersImages = [{ app: 'shop', image: V1 }]))
    expect(r.result).toBe('deployed')
    expect(bed.host.removedImages).not.toContain(v1)
    expect(bed.log.text()).toContain(`Kept the image ${v1.slice(7, 19)}: the app shop records it (${V1})`)
  })

  it("an image another app's record names by digest only is kept too", async () => {
    const { bed, v1 } = await replacedImage(b => (b.ledger.othersImages = [{ app: 'shop', image: b.host.images.get(V1)!.digest! }]))
    expect(bed.host.removedImages).not.toContain(v1)
  })

  it('an image no other app records is pruned as before', async () => {
    const { bed, v1 } = await replacedImage(b => (b.ledger.othersImages = [{ app: 'shop', image: V2 }]))
    expect(bed.host.removedImages).toEqual([v1])
  })

  it("other apps' records that cannot be read keep the image and never fail the deploy", async () => {
    const { bed, r, v1 } = await replacedImage(
      b =>
        (b.ledger.othersImages = () => {
          throw new Error('Channel open failure')
        })
    )
    expect(r.result).toBe('deployed')
    expect(bed.host.removedImages).not.toContain(v1)
    expect(bed.log.text()).toMatch(/Kept the image \S+: could not tell whether another app on the host records it \(Channel open failure\)/)
  })
})

describe('status', () => {
  it('reports live, standby and the ledger without changing anything', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    const writes = bed.ledger.writes.length
    const r = await bed.engine().status()
    expect(r).toMatchObject({ result: 'unchanged', color: 'green', image: V2, standby: { color: 'blue', image: V1, state: 'running' } })
    expect(r.releases!.map(x => x.image)).toEqual([V2, V1])
    expect(bed.ledger.writes.length).toBe(writes)
  })

  it('asks the proxy what it serves: the live release answering is ok', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    const r = await bed.engine().status()
    expect(r.served).toEqual({ ok: true, text: `Served: blue (${V1}) answered through the proxy in 1 ms.` })
  })

  it('warns when the proxy serves another release than the ledger says (an interrupted run, a route changed by hand)', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    await bed.deploy(V2)
    const green = bed.ledger.record!.releases[0]
    const blue = bed.ledger.record!.releases[1]
    // the proxy routes to blue's release while the ledger says green is live
    bed.router.route = { ...bed.router.route!, color: 'blue', releaseId: blue.id }
    const r = await bed.engine().status()
    expect(r.served).toEqual({
      ok: false,
      text: `The proxy serves blue (${V1}), not the recorded live green (${green.image}): the next deploy or rollback re-applies the recorded route.`
    })
    expect(bed.log.text()).toContain('warning: The proxy serves blue')
  })

  it('warns when nothing answers through the proxy from the routed release', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    bed.router.brokenColor = 'blue'
    const r = await bed.engine().status()
    expect(r.served?.ok).toBe(false)
    expect(r.served?.text).toMatch(/^Through the proxy, web did not answer from blue \(.*\) within 3 s \(last answer: .*502/)
  })

  it('warns when the proxy has no route for the app', async () => {
    const bed = new Bed()
    await bed.deploy(V1)
    bed.router.route = undefined
    expect((await bed.engine().status()).served).toEqual({
      ok: false,
      text: 'The proxy has no route for web: the next deploy or rollback re-applies the recorded route.'
    })
  })
})

describe('routing claims on a shared proxy', () => {
  it('refuses a domain another app already serves on the same proxy, before touching anything', async () => {
    const bed = new Bed()
    bed.ledger.others = [{ app: 'shop', routing: { proxy: 'cutover-proxy', domains: ['shop.example.com', 'www.example.com'] } }]
    const config = configFor({ proxy: { ...configFor().proxy, domains: ['app.example.com', 'WWW.example.com'] } })
    const e = await releaseFailure(bed.deploy(V1, config))
    expect(e.message).toBe(
      "Input 'domains' claims WWW.example.com, which app shop already serves on the proxy cutover-proxy: remove it from one of the two apps. Nothing was changed."
    )
    expect(bed.host.calls).not.toContain('create')
    expect(bed.router.applied).toHaveLength(0)
  })

  it('refuses a second default server (no domains), allows other proxies and distinct domains, and records the claim', async () => {
    const bed = new Bed()
    bed.ledger.others = [{ app: 'shop', routing: { proxy: 'cutover-proxy', domains: [] } }]
    await expect(bed.deploy(V1)).rejects.toThrow('App shop is already the default server of the proxy cutover-proxy (it has no domains), and so would web be')
    bed.ledger.others = [
      { app: 'shop', routing: { proxy: 'other-proxy', domains: [] } },
      { app: 'blog', routing: { proxy: 'cutover-proxy', domains: ['blog.example.com'] } },
      { app: 'old' }
    ]
    await bed.deploy(V1)
    expect(bed.ledger.record!.routing).toEqual({ proxy: 'cutover-proxy', domains: [] })
  })
})

/** mode remove with target: swarm (issue #22), against the in-memory swarm, host, proxy and ledger. */
import type { Config } from '../../src/core/config.js'
import { LABEL } from '../../src/core/names.js'
import type { ServiceSpec, SwarmProxyHealth } from '../../src/engine/swarm-ports.js'
import { MODES } from '../../src/engine/modes.js'
import { ReleaseEngine } from '../../src/engine/release.js'
import { SwarmColorSet } from '../../src/engine/swarm-color-set.js'
import { Timeline } from '../../src/engine/timeline.js'
import { testConfig } from '../support/engine-bed.js'
import { FakeClock, FakeHost, FakeLedger, FakeRouter, RecordingLog } from '../support/fakes.js'
import { FakeSwarm } from '../support/swarm-fakes.js'
import { COLOR_BACKENDS, unrouteLine } from '../../src/proxy/swarm-proxy-config.js'
import { SWARM_CAPABILITIES } from '../../src/proxy/capabilities.js'

const RELEASE = {
  id: 'r1',
  instance: 'r1',
  app: 'web',
  color: 'blue' as const,
  image: 'web:1',
  configHash: 'h',
  kind: 'deploy' as const,
  liveSince: '',
  by: { actor: 'a' }
}

function service(app: string, name: string, role: string, replicas?: number, more: Partial<ServiceSpec> = {}): ServiceSpec {
  const labels = { [LABEL.managed]: 'true', [LABEL.app]: app, [LABEL.role]: role }
  return { name, image: `${app}:1`, labels, containerLabels: labels, env: {}, replicas, networks: [`cutover-${app}`], constraints: [], ...more }
}

/** Two apps on one swarm: web (two colors, a worker, its proxy, a secret, its proxy's configs) and shop. */
class SwarmBed {
  clock = new FakeClock()
  host = new FakeHost(this.clock)
  router = new FakeRouter(this.host)
  ledger = new FakeLedger()
  log = new RecordingLog()
  swarm = new FakeSwarm()
  timeline?: Timeline

  async setUp(): Promise<void> {
    const { swarm } = this
    for (const app of ['web', 'shop']) {
      await swarm.create(service(app, `${app}-blue`, 'web', 2))
      await swarm.create(service(app, `${app}-proxy`, 'proxy'))
      await swarm.ensureConfig(`${app}-proxy-cfg-0123456789ab`, '', { [LABEL.app]: app })
      await swarm.createSecret(`${app}.r1.API_TOKEN`, 's3cr3t', { [LABEL.app]: app })
      await swarm.ensureOverlay(`cutover-${app}`)
    }
    await swarm.create(service('web', 'web-green', 'web', 2))
    await swarm.create(service('web', 'web-blue-worker-jobs', 'worker', 1))
    // The switch relay on the manager, and a task container of web-blue that Swarm runs there.
    this.container('web-proxy-switch', { [LABEL.managed]: 'true', [LABEL.app]: 'web', [LABEL.role]: 'proxy-switch' })
    const task = (service: string, id: string) => ({ 'com.docker.swarm.task.id': id, 'com.docker.swarm.service.id': service })
    this.container('web-blue.1.abc', { [LABEL.managed]: 'true', [LABEL.app]: 'web', [LABEL.role]: 'web', ...task('web-blue', 'abc') })
    this.container('shop-blue.1.xyz', { [LABEL.managed]: 'true', [LABEL.app]: 'shop', [LABEL.role]: 'web', ...task('shop-blue', 'xyz') })
    this.ledger.record = { version: 1, app: 'web', releases: [RELEASE] }
    await this.router.apply({ app: 'web', color: 'blue', releaseId: 'r1', appPort: 3000 })
    swarm.calls.length = 0
    // One list of what happened, in order: the proxy's withdrawal and drain, then Swarm's removals.
    const remove = swarm.remove.bind(swarm)
    swarm.remove = async name => {
      this.host.events.push(`remove service ${name}`)
      return remove(name)
    }
  }

  private container(name: string, labels: Record<string, string>): void {
    const info = {
      id: name,
      name,
      running: true,
      restarting: false,
      status: 'running',
      exitCode: 0,
      oomKilled: false,
      restartCount: 0,
      imageId: 'i',
      labels,
      addresses: {}
    }
    this.host.containers.set(name, { ...info, image: 'haproxy' })
  }

  remove(more: Partial<Config> = {}) {
    const config = testConfig({ mode: 'remove', swarm: { constraints: [], secrets: [] }, ...more })
    const health: SwarmProxyHealth = { serversUp: async () => [] }
    const engine = new ReleaseEngine(
      {
        config,
        host: this.host,
        router: this.router,
        ledger: this.ledger,
        log: this.log,
        timeline: (this.timeline = new Timeline(this.log, () => this.clock.now())),
        run: 'acme/web#2',
        author: { actor: 'alice' },
        clock: this.clock
      },
      ctx => new SwarmColorSet(ctx, this.swarm, health, { constraints: [], secrets: [] })
    )
    return MODES.remove.run(engine, config)
  }

  step(name: string) {
    return this.timeline!.steps.find(s => s.name === name)
  }
}

describe('mode remove, target swarm', () => {
  it("drains the route first, then removes the app's services (its proxy's too), secrets, configs, relay and network; another app's stay", async () => {
    const bed = new SwarmBed()
    await bed.setUp()
    bed.swarm.overlays.get('cutover-web')!.busy = 2
    bed.router.inFlight = [1, 0]
    const r = await bed.remove()
    expect(r).toMatchObject({ result: 'removed', previousColor: 'blue', previousImage: 'web:1' })
    const events = bed.host.events.filter(e => !e.startsWith('switch'))
    expect(events.slice(0, 2)).toEqual(['withdraw', 'drained'])
    expect(events.slice(2).sort()).toEqual(
      [
        'remove service web-blue',
        'remove service web-blue-worker-jobs',
        'remove service web-green',
        'remove service web-proxy',
        'remove web-proxy-switch',
        'remove web-blue.1.abc'
      ].sort()
    )
    expect([...bed.swarm.services.keys()].sort()).toEqual(['shop-blue', 'shop-proxy'])
    expect((await bed.swarm.secretsOf('web')).length).toBe(0)
    expect((await bed.swarm.secretsOf('shop')).map(s => s.name)).toEqual(['shop.r1.API_TOKEN'])
    expect([...bed.swarm.configs.keys()]).toEqual(['shop-proxy-cfg-0123456789ab'])
    expect([...bed.swarm.overlays.keys()]).toEqual(['cutover-shop'])
    // A task container Swarm leaves on the manager after its service is gone goes too (the next
    // deploy would take it for the app's, with no ledger); another app's stay.
    expect(bed.host.containers.has('web-blue.1.abc')).toBe(false)
    expect(bed.host.containers.has('shop-blue.1.xyz')).toBe(true)
    expect(bed.ledger.record).toBeUndefined()
    expect(bed.ledger.archived?.releases[0].image).toBe('web:1')
    expect(bed.step('inspect')?.detail).toBe('4 service(s), 1 secret(s), 1 config(s), 1 release(s) recorded')
    expect(bed.step('switch')?.detail).toBe('its domains are free; requests in flight finished in 200 ms')
    expect(bed.step('cleanup')?.detail).toBe('4 service(s) removed, 1 secret(s), 1 config(s), the network cutover-web')
    const log = bed.log.text()
    expect(log).toContain('Removed the proxy service web-proxy (on a swarm each app has its own: proxy-port 80 is free on every node)')
    expect(log).toContain('Removed 1 Swarm secret(s) of web: web.r1.API_TOKEN')
    expect(log).toContain('Removed the overlay network cutover-web')
    expect(log).toContain('web is removed from the swarm; its release ledger was archived to')
    expect(log).not.toContain('s3cr3t')
  })

  it('a network its stopping tasks still hold past their stop grace is kept, said, and the run still succeeds', async () => {
    const bed = new SwarmBed()
    await bed.setUp()
    bed.swarm.overlays.get('cutover-web')!.busy = 1000
    const r = await bed.remove()
    expect(r.result).toBe('removed')
    expect(bed.swarm.overlays.has('cutover-web')).toBe(true)
    expect(bed.log.text()).toContain(
      'Kept the overlay network cutover-web: tasks on it have not stopped on every node yet. Run mode remove again to remove it.'
    )
    // Bounded: 10 s once the tasks went.
    expect(bed.step('cleanup')!.ms).toBeGreaterThanOrEqual(10_000)
    expect(bed.step('cleanup')!.ms).toBeLessThan(12_000)
  })

  it('waits until Swarm lists no task of the removed services (stopped on every node) before the network, secrets and configs go', async () => {
    const bed = new SwarmBed()
    await bed.setUp()
    bed.swarm.stoppingFor = 3
    await bed.remove()
    expect(bed.step('cleanup')!.ms).toBe(3000)
    expect(bed.log.text()).toContain("The tasks of web's services stopped on every node (3000 ms)")
    expect(bed.swarm.overlays.has('cutover-web')).toBe(false)
  })

  it('tasks still stopping past their stop grace and 20 s: said, and the removal goes on (bounded)', async () => {
    const bed = new SwarmBed()
    await bed.setUp()
    bed.swarm.stoppingFor = 1000
    const r = await bed.remove()
    expect(r.result).toBe('removed')
    expect(bed.log.text()).toContain("4 task(s) of web's removed services are still stopping (on 10.0.0.1): Swarm removes them once they stop")
    // drain-timeout (30 s) + the tasks' 5 s + 20 s.
    expect(bed.step('cleanup')!.ms).toBe(55_000)
  })

  it('a shared service stays unless remove-data, and a config it still mounts stays with a warning', async () => {
    const bed = new SwarmBed()
    await bed.setUp()
    await bed.swarm.create(service('web', 'web-db', 'shared', 1))
    bed.swarm.configsInUse.add('web-proxy-cfg-0123456789ab')
    await bed.remove()
    expect(bed.swarm.services.has('web-db')).toBe(true)
    expect(bed.log.text()).toContain('Kept the shared service web-db: remove-data: true removes it too')
    expect(bed.log.text()).toContain('Kept the Swarm config web-proxy-cfg-0123456789ab: config web-proxy-cfg-0123456789ab is in use by a service')
    const again = new SwarmBed()
    await again.setUp()
    await again.swarm.create(service('web', 'web-db', 'shared', 1))
    await again.remove({ removeData: true })
    expect(again.swarm.services.has('web-db')).toBe(false)
  })

  it('nothing of the app on the swarm: says so and succeeds; nothing of another app is touched', async () => {
    const bed = new SwarmBed()
    await bed.setUp()
    await bed.remove()
    const calls = bed.swarm.calls.length
    const r = await bed.remove()
    expect(r.result).toBe('removed')
    expect(bed.swarm.calls.slice(calls)).toEqual([])
    expect(bed.log.text()).toContain('Nothing of web was on the swarm: nothing to remove.')
  })
})

describe("the swarm proxy's side of mode remove", () => {
  it('one runtime API line per proxy task: no verify token, the route to no release (a 503 for new requests)', () => {
    expect(unrouteLine()).toBe('clear map /usr/local/etc/haproxy/verify.map;set map /usr/local/etc/haproxy/route.map app be_none')
  })

  it("counts the sessions of both colors' backends, and declares that it does (the drain asks it)", () => {
    expect(COLOR_BACKENDS).toEqual(['be_blue', 'be_green'])
    expect(SWARM_CAPABILITIES.inFlight).toBe(true)
  })
})

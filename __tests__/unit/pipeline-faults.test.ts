import type { Config } from '../../src/core/config.js'
import { withLive, type LedgerRecord, type Release } from '../../src/core/release.js'
import { ReleaseError } from '../../src/core/outcome.js'
import { ReleaseEngine } from '../../src/engine/release.js'
import { Timeline } from '../../src/engine/timeline.js'
import { EngineBed, testConfig } from '../support/engine-bed.js'

/**
 * A fault at every pipeline step of every exposure: each scenario runs once to count the calls it
 * makes to the host, the proxy and the ledger, then once more per call with that call failing.
 * Whatever failed, the proxy must route to the release the ledger says is live (a pending release
 * the proxy routes to counts, as the next run settles it), that release's containers must run
 * under its color's name, and the run's outcome must name it.
 */

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const V3 = 'registry.test/web:3'

type Ports = Pick<EngineBed, 'host' | 'router' | 'ledger'>

interface Counter {
  n: number
  at?: number
  calls: string[]
}

/** The port with every method counted, the `at`-th call (over all ports) failing. */
function faulty<T extends object>(target: T, name: string, counter: Counter): T {
  return new Proxy(target, {
    get(t, p, r) {
      const v = Reflect.get(t, p, r) as unknown
      if (typeof v !== 'function') return v
      return async (...args: unknown[]) => {
        counter.n++
        counter.calls.push(`${name}.${String(p)}`)
        if (counter.n === counter.at) throw new Error(`injected fault at ${name}.${String(p)}`)
        return (v as (...a: unknown[]) => unknown).apply(t, args)
      }
    }
  })
}

function engineOn(bed: EngineBed, config: Config, counter: Counter): ReleaseEngine {
  const ports: Ports = { host: faulty(bed.host, 'host', counter), router: faulty(bed.router, 'router', counter), ledger: faulty(bed.ledger, 'ledger', counter) }
  let ids = 100
  return new ReleaseEngine({
    config,
    ...ports,
    log: bed.log,
    timeline: new Timeline(bed.log, () => bed.clock.now()),
    run: 'acme/web#1',
    author: { actor: 'alice' },
    clock: bed.clock,
    newId: () => `f${++ids}`
  })
}

/** The ledger as the next run settles it: a pending release the proxy routes to went live. */
function settled(record: LedgerRecord | undefined, routedId: string | undefined): LedgerRecord | undefined {
  if (record?.pending && routedId === record.pending.id) return withLive(record, record.pending)
  return record
}

interface Scenario {
  name: string
  /** Brings the bed to the state the faulted run starts from (no faults). */
  setup(bed: EngineBed): Promise<void>
  run(engine: ReleaseEngine): Promise<unknown>
  config: Config
}

const plain = testConfig({ proxy: { ...testConfig().proxy, drainTimeoutMs: 1000 } })
const withStrategy = (strategy: Partial<Config['strategy']>, more: Partial<Config> = {}): Config => ({
  ...plain,
  strategy: { ...plain.strategy, ...strategy },
  ...more
})

async function deployed(bed: EngineBed, ...images: string[]): Promise<void> {
  for (const image of images) await bed.engine(plain).release({ kind: 'deploy', image })
}

const scenarios: Scenario[] = [
  { name: 'switch: a deploy', config: plain, setup: b => deployed(b, V1), run: e => e.release({ kind: 'deploy', image: V2 }) },
  {
    name: 'switch: a rollback to the running standby',
    config: { ...plain, mode: 'rollback' },
    setup: b => deployed(b, V1, V2),
    run: e => e.release({ kind: 'rollback' })
  },
  {
    name: 'switch: a rollback to a stopped standby',
    config: { ...plain, mode: 'rollback', keepPrevious: 'stopped' },
    setup: async b => {
      await deployed(b, V1)
      await b.engine({ ...plain, keepPrevious: 'stopped' }).release({ kind: 'deploy', image: V2 })
    },
    run: e => e.release({ kind: 'rollback' })
  },
  {
    name: 'switch: three replicas replacing the standby',
    config: withStrategy({ replicas: 3 }),
    setup: b => deployed(b, V1, V2),
    run: e => e.release({ kind: 'deploy', image: V3 })
  },
  {
    name: 'canary: a canary starts',
    config: withStrategy({ canaryWeight: 20 }),
    setup: b => deployed(b, V1),
    run: e => e.release({ kind: 'deploy', image: V2 })
  },
  {
    name: 'canary: promote',
    config: { ...plain, mode: 'promote' },
    setup: async b => {
      await deployed(b, V1)
      await b.engine(withStrategy({ canaryWeight: 20 })).release({ kind: 'deploy', image: V2 })
    },
    run: e => e.promote()
  },
  {
    name: 'canary: ended by mode rollback',
    config: { ...plain, mode: 'rollback' },
    setup: async b => {
      await deployed(b, V1)
      await b.engine(withStrategy({ canaryWeight: 20 })).release({ kind: 'deploy', image: V2 })
    },
    run: e => e.release({ kind: 'rollback' })
  },
  {
    name: 'preview: a preview starts',
    config: withStrategy({ promote: 'manual' }),
    setup: b => deployed(b, V1),
    run: e => e.release({ kind: 'deploy', image: V2 })
  },
  {
    name: 'preview: promote',
    config: { ...plain, mode: 'promote' },
    setup: async b => {
      await deployed(b, V1)
      await b.engine(withStrategy({ promote: 'manual' })).release({ kind: 'deploy', image: V2 })
    },
    run: e => e.promote()
  },
  {
    name: 'preview: discarded by mode rollback',
    config: { ...plain, mode: 'rollback' },
    setup: async b => {
      await deployed(b, V1)
      await b.engine(withStrategy({ promote: 'manual' })).release({ kind: 'deploy', image: V2 })
    },
    run: e => e.release({ kind: 'rollback' })
  }
]

/** Runs the scenario with the `at`-th call failing (none when undefined); returns the bed, the calls made and the error. */
async function attempt(s: Scenario, at: number | undefined): Promise<{ bed: EngineBed; counter: Counter; error?: unknown }> {
  const bed = new EngineBed([V1, V2, V3])
  await s.setup(bed)
  const counter: Counter = { n: 0, at, calls: [] }
  try {
    await s.run(engineOn(bed, s.config, counter))
    return { bed, counter }
  } catch (error) {
    return { bed, counter, error }
  }
}

function expectServesWhatLedgerSays(bed: EngineBed, error: unknown, where: string): void {
  const routed = bed.router.route
  const record = settled(bed.ledger.record, routed?.releaseId)
  const live: Release | undefined = record?.releases[0]
  const context = `${where}\n${bed.log.text().split('\n').slice(-8).join('\n')}`
  expect({ where: context, routed: routed?.releaseId }).toEqual({ where: context, routed: live?.id })
  const container = bed.host.containers.get(`web-${live!.color}`)
  expect({ where: context, running: container?.running, release: container?.labels['cutover.release'] }).toEqual({
    where: context,
    running: true,
    release: live!.instance
  })
  // A canary recorded is a canary routed, and the other way round.
  expect({ where: context, canary: !!bed.router.canaryState }).toEqual({ where: context, canary: !!record?.canary })
  if (error !== undefined) {
    expect(error).toBeInstanceOf(ReleaseError)
    // The outcome names what serves (an automatic rollback's or a committed release's too), or
    // nothing when the run failed before it could know (the ledger unread): never another release.
    const reported = (error as ReleaseError).result?.release?.id
    expect({ where: context, reported: reported === undefined ? 'unknown' : reported }).toEqual({
      where: context,
      reported: reported === undefined ? 'unknown' : live?.id
    })
  }
}

describe('a fault at every step of the pipeline', () => {
  it.each(scenarios.map(s => [s.name, s] as const))('%s: the live color still serves and the ledger and outcome say so', async (_name, s) => {
    const clean = await attempt(s, undefined)
    expect(clean.error).toBeUndefined()
    expectServesWhatLedgerSays(clean.bed, undefined, 'without a fault')
    const total = clean.counter.n
    expect(total).toBeGreaterThan(5)
    let failed = 0
    for (let at = 1; at <= total; at++) {
      const { bed, counter, error } = await attempt(s, at)
      if (error !== undefined) failed++
      expectServesWhatLedgerSays(
        bed,
        error,
        `fault at call ${at} of ${total} (${counter.calls[at - 1]}); calls: ${counter.calls.join(' ')}; error: ${(error as Error)?.message}`
      )
    }
    // Most faults fail the run; some (a probe while booting) are retried through.
    expect(failed).toBeGreaterThan(total / 3)
  })
})

describe('an undo that fails', () => {
  it('a failed switch-back keeps the containers the proxy still routes to, and reports that release', async () => {
    const bed = new EngineBed([V1, V2])
    await deployed(bed, V1)
    // The new color answers wrong after the switch, and the proxy refuses the switch back.
    bed.router.brokenColor = 'green'
    const engine = engineOn(bed, plain, { n: 0, calls: [] })
    const applyOnce = bed.router.apply.bind(bed.router)
    let applies = 0
    bed.router.apply = async route => {
      applies++
      if (applies > 1) throw new Error('the proxy is down')
      return applyOnce(route)
    }
    let ensured = 0
    const ensure = bed.router.ensure.bind(bed.router)
    bed.router.ensure = async () => {
      if (++ensured > 1) throw new Error('the proxy cannot be started')
      return ensure()
    }
    const error = (await engine.release({ kind: 'deploy', image: V2 }).catch(e => e)) as ReleaseError
    expect(error).toBeInstanceOf(ReleaseError)
    expect(error.message).toMatch(/switching back to blue failed too/)
    expect(error.message).toMatch(/still routes web to green .* its containers were kept/)
    // What the proxy's configuration routes to is what runs under that name, and what the outcome says.
    expect(bed.router.route?.color).toBe('green')
    expect(bed.host.containers.get('web-green')?.image).toBe(V2)
    expect(bed.ledger.record?.pending?.image).toBe(V2)
    expect(error.result?.image).toBe(V2)
    // The previous release still runs, as the standby it becomes once the next run settles the ledger.
    expect(bed.host.containers.get('web-blue')?.running).toBe(true)
  })

  it('a proxy that is down when switching back is started again, then switched back', async () => {
    const bed = new EngineBed([V1, V2])
    await deployed(bed, V1)
    bed.router.brokenColor = 'green'
    const apply = bed.router.apply.bind(bed.router)
    let down = false
    bed.router.apply = async route => {
      if (down) throw new Error('connection refused')
      await apply(route)
      down = true // the proxy dies right after the switch
    }
    let started = 0
    bed.router.ensure = async () => {
      started++
      down = false
    }
    const error = (await bed
      .engine(plain)
      .release({ kind: 'deploy', image: V2 })
      .catch(e => e)) as ReleaseError
    expect(error.message).toMatch(/so it was switched back to blue\./)
    expect(bed.log.text()).toMatch(/starting the proxy again if it is down/)
    expect(started).toBeGreaterThanOrEqual(2) // the prepare step's, then the switch-back's
    expect(bed.router.route?.color).toBe('blue')
    expect(bed.host.containers.get('web-blue')?.image).toBe(V1)
    expect(error.result?.image).toBe(V1)
  })
})

describe('only cutover containers are touched', () => {
  it('a container of the same name without cutover labels is refused, named and left as it is', async () => {
    const bed = new EngineBed([V1, V2])
    await deployed(bed, V1)
    // A hand-made container where green would go.
    await bed.host.create({ name: 'web-green', image: V1, env: {}, labels: { owner: 'me' }, network: 'bridge', extraNetworks: [], volumes: [] })
    await bed.host.start('web-green')
    const error = (await bed
      .engine(plain)
      .release({ kind: 'deploy', image: V2 })
      .catch(e => e)) as ReleaseError
    expect(error.message).toMatch(/A container named web-green is in the way, and it is not made by cutover .* Nothing was changed\./)
    // The refusal comes once the ledger was read: the outcome still names what is live.
    expect(error.result?.image).toBe(V1)
    expect(bed.host.containers.get('web-green')?.labels).toEqual({ owner: 'me' })
    expect(bed.host.containers.get('web-green')?.running).toBe(true)
    expect(bed.host.containers.has('web-green-replaced')).toBe(false)
    expect(bed.router.route?.color).toBe('blue')
  })
})

/** Green (V2) live, blue (V1) its standby, and the proxy routed to blue behind cutover's back. */
async function routedToStandby(): Promise<EngineBed> {
  const bed = new EngineBed([V1, V2, V3])
  await deployed(bed, V1, V2)
  const standby = bed.ledger.record!.releases[1]
  await bed.router.apply(bed.router.applied.find(r => r.releaseId === standby.id)!)
  return bed
}

/** Holds the read of the proxy's saved route until the returned function is called. */
function holdRouteRead(bed: EngineBed): () => void {
  let readDone!: () => void
  bed.router.holdCurrent = new Promise<void>(resolve => (readDone = resolve))
  return readDone
}

describe('a run that fails leaves no call to the host in flight', () => {
  it("a pull that fails while the app's network is being made: the run ends once Docker answered", async () => {
    const bed = new EngineBed([V1])
    await deployed(bed, V1)
    let networkMade!: () => void
    const ensureNetwork = bed.host.ensureNetwork.bind(bed.host)
    bed.host.ensureNetwork = async name => {
      await new Promise<void>(resolve => (networkMade = resolve))
      return ensureNetwork(name)
    }
    let pullFailed = false
    const pull = bed.host.pull.bind(bed.host)
    bed.host.pull = (image, progress) => pull(image, progress).catch(e => ((pullFailed = true), Promise.reject(e as Error)))
    const run = bed.engine(plain).release({ kind: 'deploy', image: 'registry.test/web:no-such-tag' })
    let ended = false
    void run.finally(() => (ended = true)).catch(() => undefined)
    for (let i = 0; i < 500; i++) await new Promise(r => setImmediate(r))
    expect(pullFailed).toBe(true)
    expect(ended).toBe(false)
    networkMade()
    await expect(run).rejects.toThrow(/manifest unknown/)
  })
})

describe("a rollback's read of the proxy's route", () => {
  it('starts with its inspect step, before any container is inspected (it is the slowest read before the switch)', async () => {
    const bed = new EngineBed([V1, V2])
    await deployed(bed, V1, V2)
    const inspectedBefore: number[] = []
    const current = bed.router.current.bind(bed.router)
    const inspectedAtStart = bed.host.inspected.length
    bed.router.current = () => (inspectedBefore.push(bed.host.inspected.length - inspectedAtStart), current())
    const r = await bed.engine({ ...plain, mode: 'rollback' }).release({ kind: 'rollback' })
    expect(r).toMatchObject({ result: 'rolled-back', image: V1 })
    expect(inspectedBefore[0]).toBe(0)
  })

  it('a rollback refused by the inspect step ends only once that read has its answer', async () => {
    const bed = new EngineBed([V1, V2])
    await deployed(bed, V1, V2)
    const readDone = holdRouteRead(bed)
    const config = { ...plain, mode: 'rollback' as const, container: { ...plain.container, networks: ['no-such-network'] } }
    bed.router.calls.length = 0
    const run = bed.engine(config).release({ kind: 'rollback' })
    let ended = false
    void run.finally(() => (ended = true)).catch(() => undefined)
    for (let i = 0; i < 500; i++) await new Promise(r => setImmediate(r))
    expect(bed.router.calls).toEqual(['current'])
    expect(ended).toBe(false)
    readDone()
    await expect(run).rejects.toThrow(/Input 'networks' names no-such-network/)
  })
})

describe('the proxy checked against the ledger at the start', () => {
  it('a route changed behind cutover is put back to the recorded live release before anything else, and said', async () => {
    const bed = new EngineBed([V1, V2, V3])
    await deployed(bed, V1, V2)
    // Someone (or a proxy restarted with an older saved configuration) routes to the standby.
    const standby = bed.ledger.record!.releases[1]
    await bed.router.apply(bed.router.applied.find(r => r.releaseId === standby.id)!)
    expect(bed.router.route?.color).toBe('blue')
    const from = bed.router.applied.length
    await bed.engine(plain).release({ kind: 'deploy', image: V3 })
    expect(bed.log.text()).toMatch(
      /The proxy routes web to blue \(release r1\), but the ledger records green \(registry.test\/web:2, release r2\) as live: routing it back to green before anything else changes on the proxy\./
    )
    // Back to green first, then the deploy's own switch to blue.
    expect(bed.router.applied.slice(from).map(r => `${r.color} ${r.releaseId}`)).toEqual(['green r2', 'blue r3'])
  })

  it('the new color boots while the route is read; the route is put right before the proxy check and the switch', async () => {
    const bed = await routedToStandby()
    const readDone = holdRouteRead(bed)
    const applied = bed.router.applied.length
    const calls = bed.router.calls.length
    const events = bed.host.events.length
    const run = bed.engine(plain).release({ kind: 'deploy', image: V3 })
    const booted = () => bed.host.events.slice(events).includes('start web-blue')
    for (let i = 0; i < 1000 && !booted(); i++) await new Promise(r => setImmediate(r))
    // Booted while the read is held: nothing on the proxy changed yet.
    expect(booted()).toBe(true)
    expect(bed.router.applied.length).toBe(applied)
    expect(bed.router.calls.slice(calls)).not.toContain('ensure')
    readDone()
    await run
    expect(bed.router.applied.slice(applied).map(r => `${r.color} ${r.releaseId}`)).toEqual(['green r2', 'blue r3'])
    expect(bed.router.calls.slice(calls).filter(c => c === 'apply' || c === 'ensure')).toEqual(['apply', 'ensure', 'apply'])
  })

  it('a route found wrong is put right when the new color fails to start, before the proxy was asked anything else', async () => {
    const bed = await routedToStandby()
    const applied = bed.router.applied.length
    bed.host.failures.set('start', new Error('OCI runtime create failed'))
    await expect(bed.engine(plain).release({ kind: 'deploy', image: V3 })).rejects.toThrow(/OCI runtime create failed/)
    expect(bed.router.applied.slice(applied).map(r => `${r.color} ${r.releaseId}`)).toEqual(['green r2'])
    expect(bed.log.text()).toMatch(/routing it back to green/)
  })

  it('a new color that fails its gate while the route is read is removed after the route was put right', async () => {
    const bed = await routedToStandby()
    const readDone = holdRouteRead(bed)
    bed.host.addImage(V3, { bootMs: 1500, crashWith: 1 })
    // The gate asks for the failed container's logs once it failed.
    let gateFailed = false
    const logs = bed.host.logs.bind(bed.host)
    bed.host.logs = async name => ((gateFailed = true), logs(name))
    const applied = bed.router.applied.length
    const run = bed.engine(plain).release({ kind: 'deploy', image: V3 })
    run.catch(() => undefined)
    let settled = false
    void run.finally(() => (settled = true)).catch(() => undefined)
    // Long enough for the gate to fail (the fake clock's waits end at once): the undo waits for the repair.
    for (let i = 0; i < 2000; i++) await new Promise(r => setImmediate(r))
    expect(gateFailed).toBe(true)
    expect(bed.host.events).not.toContain('remove web-blue')
    expect(settled).toBe(false)
    readDone()
    await expect(run).rejects.toThrow(/blue.*did not become healthy|exited/)
    expect(bed.router.applied.slice(applied).map(r => `${r.color} ${r.releaseId}`)).toEqual(['green r2'])
    expect(bed.router.route?.color).toBe('green')
    // The undo ran once the repair was done: the failed container went after the switch back to green.
    const events = bed.host.events.join('\n')
    expect(events.indexOf('switch green')).toBeLessThan(events.lastIndexOf('remove web-blue'))
    // The standby blue had been set aside for the new container: it is back under its name.
    expect(bed.host.state()['web-blue']).toBe('registry.test/web:1 running')
  })
})

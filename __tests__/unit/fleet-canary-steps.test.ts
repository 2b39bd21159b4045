import type { CanaryStepsSettings, Config } from '../../src/core/config.js'
import { StepMeetings } from '../../src/fleet/barrier.js'
import { fleetResult } from '../../src/fleet/outcome.js'
import { FleetRollout } from '../../src/fleet/rollout.js'
import { Traffic } from '../support/canary-traffic.js'
import { testConfig } from '../support/engine-bed.js'
import { RecordingLog } from '../support/fakes.js'
import { FakeFleetHost } from '../support/fleet-fakes.js'

/** canary-steps over several hosts (issue #24): the steps move every host together; one host's breach rolls all back. */

const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const steps: CanaryStepsSettings = { weights: [5, 25, 50], stepMs: 20_000, maxErrorRate: 5, lowTraffic: 'hold' }
const base: Config = testConfig({ proxy: { type: 'haproxy', name: 'cutover-proxy', image: 'haproxy', port: 80, domains: [], drainTimeoutMs: 0 } })

/** What every host's proxy was told, in the order it happened across hosts. */
const events: string[] = []

class Host extends FakeFleetHost {
  traffic = new Traffic(this.clock, this.host, this.router)
  constructor(label: string) {
    super(label, base)
    for (const v of [V1, V2]) this.host.addImage(v, { bootMs: 1500 })
    const canary = this.router.canary.bind(this.router)
    this.router.canary = async (live, c, weight) => {
      await canary(live, c, weight)
      events.push(`${label} ${weight}`)
    }
  }
}

let runIds = 0
async function fleetOf(n: number) {
  events.length = 0
  const hosts = Array.from({ length: n }, (_, i) => new Host(`root@h${i + 1}:22`))
  for (const h of hosts) await h.engine({}).release({ kind: 'deploy', image: V1 })
  for (const h of hosts) h.config = { ...base, strategy: { replicas: 1, canarySteps: steps } }
  const rollout = new FleetRollout(hosts, { rollout: 'atomic', batchSize: 1, rollbackOnFailure: true }, new RecordingLog(), () => `run${++runIds}`)
  return { hosts, rollout }
}

describe('canary-steps on several hosts', () => {
  it('every host climbs each step together and is promoted once every host passed every step', async () => {
    const { hosts, rollout } = await fleetOf(3)
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['deployed', 'deployed', 'deployed'])
    for (const h of hosts) expect(h.routed).toBe(`green ${V2}`)
    // No host goes to 25 % before every host's 5 % step was judged, nor to 50 % before 25 %.
    const order = events.map(e => Number(e.split(' ')[1]))
    expect(order).toEqual([5, 5, 5, 25, 25, 25, 50, 50, 50])
    expect(runs[0].outcome?.canarySteps?.map(s => s.verdict)).toEqual(['passed', 'passed', 'passed'])
    const result = fleetResult('deploy', runs)
    expect(result.canarySteps?.map(s => s.weight)).toEqual([5, 25, 50])
    expect(result.hosts?.map(h => h.canarySteps?.length)).toEqual([3, 3, 3])
  })

  it("one host's breach rolls every host back at that step", async () => {
    const { hosts, rollout } = await fleetOf(3)
    hosts[1].traffic.rps = 400
    hosts[1].traffic.behaviour.set(V2, { errorShare: 0.2 })
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['reverted', 'failed', 'reverted'])
    for (const h of hosts) {
      expect(h.routed).toBe(`blue ${V1}`)
      expect(h.router.canaryState).toBeUndefined()
      expect(h.ledger.record?.canary).toBeUndefined()
      expect(h.ledger.record?.releases[0].image).toBe(V1)
    }
    expect(events.every(e => e.endsWith(' 5'))).toBe(true)
    expect(runs[1].failure?.reason).toMatch(/^canary-steps: at 5 %: \d+ of \d+ of the canary's responses \(20(\.0)? %\) were 5xx/)
    expect(runs[0].failure?.reason).toMatch(/canary-steps: at 5 %: .*root@h2:22.*, so every host rolls back/)
    const result = fleetResult('deploy', runs)
    expect(result.result).toBe('failed')
    // The outputs: the breaching host's steps for the run, each host's own in `hosts`.
    expect(result.canarySteps?.map(s => [s.weight, s.verdict])).toEqual([[5, 'breached']])
    expect(result.canarySteps?.[0].canary.errorPercent).toBeGreaterThan(15)
    expect(result.hosts?.map(h => h.canarySteps?.map(s => s.verdict))).toEqual([['failed-elsewhere'], ['breached'], ['failed-elsewhere']])
  })

  // Too few of its requests for an early verdict (MIN_RESPONSES_EARLY): the breach is known only
  // when the step ends, at the hosts' meeting. The others still switch back as reverted.
  it("one host's breach judged only at the step's end: every host back, the others reverted", async () => {
    const { hosts, rollout } = await fleetOf(3)
    hosts[1].traffic.rps = 40
    hosts[1].traffic.behaviour.set(V2, { errorShare: 0.3 })
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs[1].outcome?.canarySteps?.[0].ms).toBeGreaterThanOrEqual(steps.stepMs)
    expect(runs.map(r => r.result)).toEqual(['reverted', 'failed', 'reverted'])
    for (const h of hosts) expect(h.routed).toBe(`blue ${V1}`)
    expect(runs[0].failure?.reason).toMatch(/canary-steps: at 5 %: .*root@h2:22.*, so every host rolls back/)
  })

  it('a step too quiet on one host holds every host at that weight (canary-low-traffic: hold)', async () => {
    const { hosts, rollout } = await fleetOf(2)
    hosts[0].traffic.rps = 1
    const runs = await rollout.release({ kind: 'deploy', image: V2 })
    expect(runs.map(r => r.result)).toEqual(['canary', 'canary'])
    for (const h of hosts) expect(h.router.canaryState?.weight).toBe(5)
    expect(runs[1].outcome?.canarySteps?.[0].why).toMatch(/root@h1:22: the canary answered \d+ requests, too few to judge/)
  })
})

describe('StepMeetings', () => {
  it('opens when every host still taking part has arrived; a host that leaves is not waited for', async () => {
    const m = new StepMeetings(['a', 'b', 'c'])
    const a = m.arrive('a', 5, { verdict: 'passed', why: 'fine' })
    const b = m.arrive('b', 5, { verdict: 'low-traffic', why: 'quiet' })
    let opened = false
    void a.then(() => (opened = true))
    await Promise.resolve()
    expect(opened).toBe(false)
    m.leave('c')
    expect(await a).toEqual({ verdict: 'low-traffic', why: 'b: quiet' })
    expect(await b).toEqual({ verdict: 'low-traffic', why: 'b: quiet' })
    const breach = m.arrive('a', 25, { verdict: 'breached', why: 'errors' })
    m.arrive('b', 25, { verdict: 'passed', why: 'fine' })
    expect(await breach).toEqual({ verdict: 'breached', why: 'a: errors' })
  })
})

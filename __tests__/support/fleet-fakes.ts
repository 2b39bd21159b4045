import type { Config } from '../../src/core/config.js'
import { ReleaseEngine } from '../../src/engine/release.js'
import type { FleetMember } from '../../src/fleet/rollout.js'
import { StampedTimeline } from '../../src/fleet/timeline.js'
import { FakeClock, FakeHost, FakeLedger, FakeRouter, RecordingLog } from './fakes.js'

/** One fake host of a fleet: its Docker, proxy and ledger, each host with its own clock; `config` is what its engines run with. */
export class FakeFleetHost<R extends FakeRouter = FakeRouter> implements FleetMember {
  clock = new FakeClock()
  host = new FakeHost(this.clock)
  router: R
  ledger = new FakeLedger()
  log = new RecordingLog()
  timeline = new StampedTimeline(this.log, () => this.clock.now())
  private ids = 0

  constructor(
    readonly label: string,
    public config: Config,
    makeRouter: (host: FakeHost) => R = host => new FakeRouter(host) as R
  ) {
    this.router = makeRouter(this.host)
  }

  engine(extra: Parameters<FleetMember['engine']>[0]): ReleaseEngine {
    return new ReleaseEngine({
      config: this.config,
      host: this.host,
      router: this.router,
      ledger: this.ledger,
      log: this.log,
      timeline: this.timeline,
      run: 'acme/web#1',
      author: { actor: 'alice' },
      clock: this.clock,
      newId: () => `${this.label}-r${++this.ids}`,
      ...extra
    })
  }

  switchedAt(): number | undefined {
    return this.timeline.switchedAt
  }

  /** The release the proxy routes to: `<color> <image>`. */
  get routed(): string | undefined {
    return this.router.route && `${this.router.route.color} ${this.host.containers.get(`web-${this.router.route.color}`)?.image}`
  }
}

import type { Config } from '../../src/core/config.js'
import { ReleaseError } from '../../src/core/outcome.js'
import type { ReleaseAuthor } from '../../src/core/release.js'
import { ReleaseEngine } from '../../src/engine/release.js'
import type { UntrustedOutput } from '../../src/engine/release-command.js'
import { Timeline } from '../../src/engine/timeline.js'
import { FakeClock, FakeHost, FakeLedger, FakeRouter, RecordingLog } from './fakes.js'

/** A deploy of `web` as the engine's unit tests start from; `more` replaces whole sections. */
export function testConfig(more: Partial<Config> = {}): Config {
  return {
    mode: 'deploy',
    app: 'web',
    ssh: { host: 'h', port: 22, user: 'root', privateKey: '', hostKey: { kind: 'insecure' }, connectTimeoutMs: 1000 },
    dockerSocket: '/var/run/docker.sock',
    container: { env: {}, volumes: [], networks: [], labels: {}, restart: { Name: 'unless-stopped' } },
    health: { port: 3000, path: '/health', timeoutMs: 10_000, intervalMs: 1000, passes: 1 },
    proxy: { type: 'nginx', name: 'cutover-proxy', image: 'nginx', port: 80, domains: [], drainTimeoutMs: 30_000 },
    strategy: { replicas: 1 },
    keepPrevious: 'running',
    keepFailed: false,
    lockTimeoutMs: 1000,
    github: { deployments: false, token: '', environment: 'production' },
    ...more
  }
}

/** One fake host with its proxy and ledger, on a fake clock, and engines that release on it. */
export class EngineBed {
  clock = new FakeClock()
  host = new FakeHost(this.clock)
  router = new FakeRouter(this.host)
  ledger = new FakeLedger()
  log = new RecordingLog()
  /** The engine made last (what it observed, its releases). */
  last?: ReleaseEngine
  /** The last engine's timeline (its steps and their details, as the summary shows them). */
  timeline?: Timeline
  output?: UntrustedOutput
  private ids = 0

  /** `images` boot in 1.5 s and answer their health path. */
  constructor(
    images: string[],
    private readonly author: ReleaseAuthor = { actor: 'alice' }
  ) {
    for (const v of images) this.host.addImage(v, { bootMs: 1500 })
  }

  engine(config: Config): ReleaseEngine {
    this.last = new ReleaseEngine({
      config,
      host: this.host,
      router: this.router,
      ledger: this.ledger,
      log: this.log,
      timeline: (this.timeline = new Timeline(this.log, () => this.clock.now())),
      run: 'acme/web#1',
      author: this.author,
      clock: this.clock,
      newId: () => `r${++this.ids}`,
      output: this.output
    })
    return this.last
  }
}

/** The ReleaseError a release fails with; fails the test when it succeeds or throws something else. */
export async function releaseFailure(p: Promise<unknown>): Promise<ReleaseError> {
  try {
    await p
  } catch (e) {
    if (e instanceof ReleaseError) return e
    throw e
  }
  throw new Error('expected the release to fail')
}

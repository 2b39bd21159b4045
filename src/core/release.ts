import type { Color } from './names.js'

/** Who made a release: enough to find the run and the commit again. */
export interface ReleaseAuthor {
  /** owner/repo */
  repository?: string
  /** URL of the workflow run. */
  runUrl?: string
  actor?: string
  commit?: string
}

/** One release of an app on a host, as the ledger records it. */
export interface Release {
  /** Unique per release; the proxy reports it so verification knows which release answered. */
  id: string
  /**
   * The id of the release whose container serves this one: its own id when it started a container,
   * the restored release's instance when a rollback switched back to a standby that still ran.
   * Containers carry it as a label, so a later rollback finds the container that belongs to a release.
   */
  instance: string
  app: string
  color: Color
  image: string
  /** `repo@sha256:...` of the image as pulled, when the registry gave one. */
  digest?: string
  /** Hash of the container settings (env, volumes, limits...): a change makes a new release. */
  configHash: string
  kind: 'deploy' | 'rollback'
  /** Containers of its color (absent: 1, as before replicas existed); a rollback restores this many. */
  replicas?: number
  /** When it went live (after the switch was verified); drain times of the color it replaced count from here. */
  liveSince: string
  by: ReleaseAuthor
  /** The worker roles started with it (what a rollback brings back); absent on releases recorded before workers existed. */
  workers?: WorkerRecord[]
  /** false when it had no web role (`app-port: none`). */
  web?: boolean
}

export interface WorkerRecord {
  name: string
  /** Empty: the image's own command. */
  command: string[]
  /** Its own image (a compose service of another image); absent: the release's image. */
  image?: string
  /** Hash of its own settings (compose); absent: it had the web role's. Only a hash: env values stay off the host's disk. */
  settingsHash?: string
  /** Workers of the release it waited for before it started (compose depends_on), so a rollback starts them in the same order. */
  dependsOn?: { service: string; condition: 'service_started' | 'service_healthy' }[]
}

/** A release command that ran to success: a retried run of the same release does not run it again. */
export interface ReleaseCommandRun {
  /** Hash of the image id, the command and the container settings. */
  key: string
  image: string
  ranAt: string
}

export const RELEASE_COMMAND_RUNS_KEPT = 20

/**
 * What the ledger holds per app: the releases that went live, newest first (the first one is live),
 * at most LEDGER_SIZE of them, and a release being switched to, written before the switch so that
 * a run that dies between the switch and the ledger update can be finished by the next one.
 */
export interface LedgerRecord {
  version: 1
  app: string
  releases: Release[]
  pending?: Release
  /**
   * canary-weight: a release gated and serving `weight` % of new requests beside the live one
   * (releases[0]); mode promote makes it live, mode rollback ends it. Any release going live drops it.
   */
  canary?: { release: Release; weight: number; since: string }
  /**
   * promote manual: a release gated on the idle color and not switched to, reachable at the preview
   * domains; mode promote makes it live, mode rollback discards it, a deploy replaces it. Any release
   * going live drops it.
   */
  preview?: { release: Release; since: string }
  /**
   * A canary ended without going live (mode rollback, a failed promote): its color stopped taking
   * new requests at `at`, so its connections (WebSockets above all) drain from then, not from when
   * the live release went live.
   */
  endedCanary?: { color: Color; at: string }
  /** What the app claims on its proxy, so other apps' runs can refuse conflicting claims before touching anything. */
  routing?: RoutingClaim
  /** Release commands that succeeded, newest first. */
  releaseCommands?: ReleaseCommandRun[]
}

/** The host names an app is routed by on a shared proxy; no domains = the proxy's default server. */
export interface RoutingClaim {
  proxy: string
  domains: string[]
  /** preview-domains: names routed to the app's idle color (absent: none). */
  previewDomains?: string[]
}

/** A conflict between this app's claim and other apps' claims on the same proxy: one sentence, or undefined. */
export function routingConflict(app: string, claim: RoutingClaim, others: { app: string; routing?: RoutingClaim }[]): string | undefined {
  for (const other of others) {
    if (other.app === app || !other.routing || other.routing.proxy !== claim.proxy) continue
    if (!claim.domains.length && !other.routing.domains.length) {
      return `App ${other.app} is already the default server of the proxy ${claim.proxy} (it has no domains), and so would ${app} be: give one of them 'domains'.`
    }
    const theirs = new Set([...other.routing.domains, ...(other.routing.previewDomains ?? [])].map(d => d.toLowerCase()))
    for (const [input, names] of [
      ['domains', claim.domains],
      ['preview-domains', claim.previewDomains ?? []]
    ] as const) {
      const taken = names.filter(d => theirs.has(d.toLowerCase()))
      if (taken.length) {
        return `Input '${input}' claims ${taken.join(', ')}, which app ${other.app} already serves on the proxy ${claim.proxy}: remove ${taken.length > 1 ? 'them' : 'it'} from one of the two apps.`
      }
    }
  }
  return undefined
}

export const LEDGER_SIZE = 10

export function emptyLedger(app: string): LedgerRecord {
  return { version: 1, app, releases: [] }
}

/** The ledger with `release` live: prepended, pending cleared, trimmed to LEDGER_SIZE. */
export function withLive(record: LedgerRecord, release: Release): LedgerRecord {
  return {
    version: 1,
    app: record.app,
    releases: [release, ...record.releases.filter(r => r.id !== release.id)].slice(0, LEDGER_SIZE),
    routing: record.routing,
    releaseCommands: record.releaseCommands
  }
}

/** Checks a parsed ledger; returns a reason when it is not one. */
export function ledgerProblem(value: unknown, app: string): string | undefined {
  const r = value as Partial<LedgerRecord> | null
  if (!r || typeof r !== 'object') return 'it is not a JSON object'
  if (r.version !== 1) return `its version is ${JSON.stringify(r.version)}, not 1`
  if (r.app !== app) return `it is for app ${JSON.stringify(r.app)}, not ${JSON.stringify(app)}`
  if (!Array.isArray(r.releases)) return 'it has no list of releases'
  if (r.canary !== undefined) {
    const c = r.canary as Partial<NonNullable<LedgerRecord['canary']>> | null
    if (!c || typeof c !== 'object' || !c.release || typeof c.weight !== 'number') return 'its canary is not a release with a weight'
  }
  if (r.preview !== undefined) {
    const p = r.preview as Partial<NonNullable<LedgerRecord['preview']>> | null
    if (!p || typeof p !== 'object' || !p.release || typeof p.since !== 'string') return 'its preview is not a release with a time'
  }
  if (r.endedCanary !== undefined) {
    const e = r.endedCanary as Partial<NonNullable<LedgerRecord['endedCanary']>> | null
    if (!e || (e.color !== 'blue' && e.color !== 'green') || typeof e.at !== 'string') return 'its ended canary is not a color with a time'
  }
  const extra = [r.pending, r.canary?.release, r.preview?.release].filter(x => x !== undefined)
  for (const rel of [...r.releases, ...extra]) {
    if (!rel || typeof rel !== 'object') return 'a release is not an object'
    if (rel.color !== 'blue' && rel.color !== 'green') return `a release has color ${JSON.stringify(rel.color)}`
    if (typeof rel.image !== 'string' || !rel.image) return 'a release has no image'
    if (typeof rel.id !== 'string' || !rel.id) return 'a release has no id'
    if (typeof rel.liveSince !== 'string') return 'a release has no time'
  }
  return undefined
}

/**
 * The ledger is never silently reset (issue #27): a ledger missing while cutover's containers for
 * the app exist stops the run, and `mode: status` with `rebuild-ledger: true` rebuilds it from the
 * containers' labels and the proxy's route.
 */
import type { Log } from '../core/log.js'
import { COLORS, LABEL, containerName, replicaOf, workerName, type Color } from '../core/names.js'
import { LEDGER_SIZE, type LedgerRecord, type Release, type RoutingClaim } from '../core/release.js'
import { LedgerError, type ContainerHost, type ContainerSummary, type Ledger, type Router } from './ports.js'

/** Where the ledger is, as the user finds it (host/ledger-file.ts's ledgerPath, under the SSH user's home). */
function ledgerWhere(app: string): string {
  return `~/.cutover/apps/${app}/releases.json`
}

/** The app's containers (or services) that cutover made (its labels, not its names: a look-alike is not one of them). */
function cutoverContainers(app: string, containers: ContainerSummary[]): ContainerSummary[] {
  return containers.filter(c => c.labels[LABEL.managed] === 'true' && c.labels[LABEL.app] === app)
}

/**
 * Roles that are no release of the app: the shared services (started before a release, they stay
 * when it fails), a swarm app's own proxy and its switch helper, a release command's run.
 */
const NOT_A_RELEASE = new Set(['shared', 'proxy', 'proxy-switch', 'release-command'])

/** `<app>-<color>[-N]-failed` or `<app>-<color>-worker-<name>-failed`: a container that failed its gate, kept with keep-failed. */
function isKeptFailed(app: string, unit: ContainerSummary): boolean {
  if (!unit.name.endsWith('-failed')) return false
  const base = unit.name.slice(0, -'-failed'.length)
  const worker = unit.labels[LABEL.worker]
  return COLORS.some(color => (worker ? base === workerName(app, color, worker) : replicaOf(app, color, base) !== undefined))
}

/**
 * What shows that a release of the app went out: cutover's containers or services of it, but not
 * what a first deploy that failed leaves behind (shared services, a swarm app's proxy, containers
 * kept with keep-failed, a service it scaled to 0), so that deploy can simply run again.
 */
function releaseEvidence(app: string, units: ContainerSummary[]): ContainerSummary[] {
  return cutoverContainers(app, units).filter(u => !NOT_A_RELEASE.has(u.labels[LABEL.role] ?? '') && !isKeptFailed(app, u) && u.service?.replicas !== 0)
}

/** Why a missing ledger must stop the run (a release of the app went out), or undefined for a real first deploy. */
export function missingLedgerProblem(app: string, appUnits: ContainerSummary[]): string | undefined {
  const ours = releaseEvidence(app, appUnits)
  if (!ours.length) return undefined
  const what = ours.some(u => u.service) ? 'services' : 'containers'
  const names = ours.map(c => `${c.name} (${c.state})`).sort()
  const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ')
  return (
    `The release ledger ${ledgerWhere(app)} is missing on the host, but cutover's ${what} for ${app} exist: ${shown}. ` +
    `It was deleted, or this run connects as another SSH user (with another home) than the runs that deployed them${what === 'services' ? ', or to another manager of the swarm (the ledger is on the manager they deployed through)' : ''}. ` +
    `cutover stops rather than plan a first deploy over the live color and lose the rollback history; nothing was changed, and what was live still serves. ` +
    `To recover: connect as the SSH user that deployed ${app}${what === 'services' ? ', on that manager' : ''}, or run mode status with rebuild-ledger: true to rebuild the ledger from the ${what}' labels and the proxy's route.`
  )
}

/** One color as its containers' labels describe it. */
interface ColorFound {
  color: Color
  image: string
  instance: string
  configHash: string
  startedAt: string
  replicas: number
  running: boolean
  web: boolean
}

function colorFound(app: string, color: Color, ours: ContainerSummary[]): ColorFound | undefined {
  const ofColor = ours.filter(c => c.labels[LABEL.color] === color && c.labels[LABEL.role] !== 'release-command')
  // The color's own containers: `<app>-<color>`, `<app>-<color>-N`; not a `-replaced` or `-failed` one, never live as such.
  const web = ofColor.filter(c => c.labels[LABEL.role] !== 'worker' && replicaOf(app, color, c.name) !== undefined)
  const first = web.find(c => c.name === containerName(app, color)) ?? ofColor.find(c => c.labels[LABEL.role] === 'worker')
  if (!first || !first.labels[LABEL.release] || !first.labels[LABEL.image]) return undefined
  const same = web.filter(c => c.labels[LABEL.release] === first.labels[LABEL.release])
  return {
    color,
    image: first.labels[LABEL.image],
    instance: first.labels[LABEL.release],
    configHash: first.labels[LABEL.configHash] ?? '',
    startedAt: first.labels[LABEL.deployedAt] ?? '',
    // A service stands for its tasks; a standby scaled to 0 was last seen with 1 or more (not known: 1).
    replicas: Math.max(1, first.service ? (first.service.replicas ?? 1) : same.length),
    running: (same.length ? same : [first]).every(c => c.state === 'running'),
    web: first.labels[LABEL.role] !== 'worker'
  }
}

function releaseOf(app: string, found: ColorFound, id: string): Release {
  return {
    id,
    instance: found.instance,
    app,
    color: found.color,
    image: found.image,
    configHash: found.configHash,
    kind: 'deploy',
    ...(found.replicas > 1 ? { replicas: found.replicas } : {}),
    // The switch time is on no container: its start time is the nearest known.
    liveSince: found.startedAt,
    by: {},
    ...(found.web ? {} : { web: false })
  }
}

/**
 * A ledger rebuilt from the app's containers and the proxy's route. The live release is the color
 * the proxy routes to (with the release id it reports); without a route, the one color whose
 * containers run. The previous release is the other color, when it was started before the live
 * one (one started after it never went live: a preview, a canary). Throws when the live color
 * cannot be told.
 */
export function rebuildLedger(app: string, containers: ContainerSummary[], routed: { color: Color; releaseId: string } | undefined): LedgerRecord {
  const ours = cutoverContainers(app, containers)
  const colors = COLORS.map(c => colorFound(app, c, ours)).filter((c): c is ColorFound => c !== undefined)
  if (!colors.length)
    throw new LedgerError(
      `No container or service of ${app} carries cutover's labels: there is nothing to rebuild the ledger from (a first deploy starts a new one).`
    )
  const running = colors.filter(c => c.running)
  const live = routed ? colors.find(c => c.color === routed.color) : running.length === 1 ? running[0] : undefined
  if (!live) {
    const why = routed
      ? `the proxy routes ${app} to ${routed.color}, which has no container of ${app}`
      : `the proxy has no route for ${app} and ${running.length ? 'both colors run' : 'no color runs'}`
    throw new LedgerError(`Cannot tell which release of ${app} is live (${why}), so the ledger was not rebuilt. Nothing was changed.`)
  }
  const releases = [releaseOf(app, live, routed?.releaseId ?? live.instance)]
  const other = colors.find(c => c.color !== live.color)
  if (other && other.startedAt && live.startedAt && other.startedAt < live.startedAt && other.instance !== live.instance) {
    releases.push(releaseOf(app, other, other.instance))
  }
  return { version: 1, app, releases: releases.slice(0, LEDGER_SIZE) }
}

/** What a rebuilt ledger holds, in one sentence for the log and the summary. */
export function describeRebuilt(record: LedgerRecord, routed: boolean): string {
  const [live, previous] = record.releases
  const how = routed ? 'the color the proxy routes to, with the release id it reports' : 'the only color whose containers run (the proxy has no route)'
  const before = previous
    ? `; previous: ${previous.color} ${previous.image} (release ${previous.id}), what mode rollback goes back to`
    : '; no previous release could be inferred (the other color has no container started before the live one), so mode rollback needs to-image'
  return (
    `Rebuilt the release ledger of ${record.app}: live ${live.color} ${live.image} (release ${live.id}), ${how}${before}. ` +
    `Not known from containers, so not recorded: older releases, image digests, authors, switch times (their start times stand in) and worker commands.`
  )
}

/**
 * mode status with rebuild-ledger: rebuilds the ledger when it is missing, writes it, and returns
 * what was rebuilt. A ledger that is there is left alone (move a damaged one away first).
 */
export async function rebuildMissingLedger(
  deps: { ledger: Ledger; host: ContainerHost; router?: Router; log: Log },
  app: string,
  routing: RoutingClaim | undefined
): Promise<string> {
  if (await deps.ledger.read()) {
    throw new LedgerError(
      `rebuild-ledger: the release ledger ${ledgerWhere(app)} is there and readable, so it was not rebuilt. Nothing was changed. To rebuild it anyway, move it away first.`
    )
  }
  const [containers, routed] = await Promise.all([deps.host.listAppUnits(app), deps.router?.current()])
  const record = rebuildLedger(app, containers, routed)
  await deps.ledger.write(routing ? { ...record, routing } : record)
  const text = describeRebuilt(record, routed !== undefined)
  deps.log.info(text)
  return text
}

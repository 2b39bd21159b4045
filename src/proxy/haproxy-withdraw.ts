import type Docker from 'dockerode'
import type { Log } from '../core/log.js'
import type { WithdrawDrain } from '../engine/ports.js'
import { sanitizeHostText } from '../transport/host-text.js'
import {
  ACME_MAP,
  appFile,
  appMapKeys,
  backendName,
  CERTS_LIST,
  certFile,
  DOMAINS_MAP,
  HAPROXY_CONF_DIR,
  updateAcmeMap,
  updateCertsList,
  verifyMapFile,
  WILDCARDS_MAP,
  withoutApp
} from './haproxy-config.js'
import type { ConfVolume } from './haproxy-files.js'
import { runtimeErrors, type FileBefore, type HaproxyAdmin } from './haproxy-runtime.js'
import { previewBackendName } from './haproxy-preview.js'
import { ALL_BACKENDS_STAT, sessionsOf } from './haproxy-stats.js'
import { maintenanceMapFile, maintenancePageFile } from './haproxy-strategy.js'
import { inspectIfExists, ProxyError, underLock, type ProxyLocker } from './proxy-container.js'
import { wantedFile } from '../acme/state.js'

export interface WithdrawDeps {
  app: string
  name: string
  container: Docker.Container
  files: ConfVolume
  admin: HaproxyAdmin
  lockProxy: ProxyLocker
  log: Log
}

/** What an app's own files become once it is off the proxy: nothing HAProxy loads, no key left on disk. */
const REMOVED = '# Removed by cutover.\n'

/**
 * Takes an app off the shared HAProxy (mode remove, the undo of a failed first deploy): its map
 * entries (domains, the default claim, preview domains), its crt-list and ACME lines go from the
 * shared files, its backend file, verify token, maintenance files and certificate are emptied, and
 * the proxy reloads. A reload is HAProxy's graceful one: the old process finishes the requests it
 * holds (up to hard-stop-after), every other app's backend comes up unchanged in the new one.
 * Under the proxy's lock, read again there, like every change of the shared files. false: the proxy
 * held nothing of the app (or does not exist). With `drain` (mode remove), its host names leave the
 * running process first, and the files and the reload wait until its requests in flight finished
 * (the drain's count, from the running process: a reload would hide them in the old one).
 */
export async function withdrawFromHaproxy(deps: WithdrawDeps, drain?: WithdrawDrain): Promise<boolean> {
  const info = await inspectIfExists(deps.container)
  if (!info) return false
  const running = info.State.Running
  if (!drain || !running) return underLock(deps.lockProxy, () => removeFiles(deps, running))
  // With a drain: the host names go first, at run time; the backend stays until its requests
  // finished. Nothing in flight (the usual case): one hold of the proxy's lock. Requests in flight
  // are waited for outside it, so no other app's run waits on this one's drain.
  const before = await underLock(deps.lockProxy, async () => {
    if (!(await unroute(deps))) return { withdrawn: await removeFiles(deps, true) }
    const counted = await inFlight(deps)
    if (counted > 0) return undefined
    // No request reaches the app any more: none in flight now is none for good.
    await drain(async () => counted)
    return { withdrawn: await afterUnroute(() => removeFiles(deps, true)) }
  })
  if (before) return before.withdrawn
  await drain(() => inFlight(deps))
  return afterUnroute(() => underLock(deps.lockProxy, () => removeFiles(deps, true)))
}

/** The last step of a withdrawal whose host names already left the proxy: a failure says so. */
async function afterUnroute(removal: () => Promise<boolean>): Promise<boolean> {
  try {
    await removal()
    return true
  } catch (e) {
    throw new ProxyError(`its host names already left the proxy, but its backend could not: ${(e as Error).message}`)
  }
}

/**
 * New requests no longer reach the app: its entries leave the shared maps, in the files (so a
 * reload by any run keeps them out) and in the running process through its runtime API (`del map`,
 * no reload), which keeps the app's backend and the requests it holds. The caller holds the
 * proxy's lock; false when the maps held nothing of the app.
 */
async function unroute(deps: WithdrawDeps): Promise<boolean> {
  const { app, name, files, admin, log } = deps
  files.forget()
  const maps = await files.maps()
  const keys = { [DOMAINS_MAP]: appMapKeys(maps.domains, app), [WILDCARDS_MAP]: appMapKeys(maps.wildcards, app) }
  const commands = Object.entries(keys).flatMap(([map, names]) => names.map(key => `del map ${HAPROXY_CONF_DIR}/${map} ${key}`))
  if (!commands.length) return false
  const next = withoutApp(maps, app)
  await files.putMany([
    { name: DOMAINS_MAP, content: next.domains },
    { name: WILDCARDS_MAP, content: next.wildcards }
  ])
  // A key the process no longer has (another run's reload in between) is already what we want.
  const errors = runtimeErrors(await admin.cli(commands.join('; '))).filter(l => !/not found/i.test(l))
  if (errors.length) {
    await files.putMany([
      { name: DOMAINS_MAP, content: maps.domains },
      { name: WILDCARDS_MAP, content: maps.wildcards }
    ])
    throw new ProxyError(`HAProxy (${name}) refused to take ${app}'s host names off: ${sanitizeHostText(errors.join(' / '), 400)}`)
  }
  log.info(`Took ${app}'s host names off the proxy ${name} through its runtime API (no reload): new requests no longer reach it`)
  return true
}

/** The app's requests the running process still holds (its backends' current sessions). */
async function inFlight(deps: WithdrawDeps): Promise<number> {
  return sessionsOf(await deps.admin.cli(ALL_BACKENDS_STAT), [backendName(deps.app), previewBackendName(deps.app)])
}

/**
 * The app's own files emptied and its lines out of the shared ones, then a graceful reload (when
 * the proxy runs). The caller holds the proxy's lock; false when the proxy held nothing of the app.
 */
async function removeFiles(deps: WithdrawDeps, running: boolean): Promise<boolean> {
  const { app, name, files, admin, log } = deps
  files.forget()
  const all = await files.all()
  const maps = { domains: all.get(DOMAINS_MAP) ?? '', wildcards: all.get(WILDCARDS_MAP) ?? '' }
  const nextMaps = withoutApp(maps, app)
  const certsList = all.get(CERTS_LIST)
  const acmeMap = all.get(ACME_MAP)
  const own = [appFile(app), verifyMapFile(app), maintenanceMapFile(app), maintenancePageFile(app)]
  // The maps as they render with nobody taken out: only entries compared, not how the file was written.
  const asIs = withoutApp(maps, '')
  const hasContent = (f: string) => ![undefined, '', REMOVED].includes(all.get(f))
  const held =
    nextMaps.domains !== asIs.domains ||
    nextMaps.wildcards !== asIs.wildcards ||
    own.some(hasContent) ||
    hasContent(certFile(app)) ||
    hasContent(wantedFile(app))
  if (!held) return false
  const changes: { name: string; content: string; mode?: number }[] = [
    { name: DOMAINS_MAP, content: nextMaps.domains },
    { name: WILDCARDS_MAP, content: nextMaps.wildcards },
    ...(certsList !== undefined ? [{ name: CERTS_LIST, content: updateCertsList(certsList, app, false) }] : []),
    ...(acmeMap !== undefined ? [{ name: ACME_MAP, content: updateAcmeMap(acmeMap, app, []) }] : []),
    ...own.filter(f => all.has(f)).map(f => ({ name: f, content: REMOVED })),
    ...(all.has(certFile(app)) ? [{ name: certFile(app), content: '', mode: 0o600 }] : []),
    // tls auto: the renewer skips an emptied wanted file, so the app's certificate is not renewed again.
    ...(all.has(wantedFile(app)) ? [{ name: wantedFile(app), content: '', mode: 0o600 }] : [])
  ]
  const restore: FileBefore[] = changes.map(c => ({ file: c.name, content: all.get(c.name), mode: c.mode }))
  log.info(`Taking ${app} off the proxy ${name} (its domains, backend ${backendName(app)} and certificate): reloading it gracefully`)
  await files.putMany(changes)
  // A stopped proxy loads its files when it starts: there is no process to reload.
  if (running) await admin.testAndReload(restore)
  return true
}

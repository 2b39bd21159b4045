import type Docker from 'dockerode'
import type { Log } from '../core/log.js'
import {
  ACME_MAP,
  appFile,
  backendName,
  CERTS_LIST,
  certFile,
  DOMAINS_MAP,
  updateAcmeMap,
  updateCertsList,
  verifyMapFile,
  WILDCARDS_MAP,
  withoutApp
} from './haproxy-config.js'
import type { ConfVolume } from './haproxy-files.js'
import type { FileBefore, HaproxyAdmin } from './haproxy-runtime.js'
import { maintenanceMapFile, maintenancePageFile } from './haproxy-strategy.js'
import { inspectIfExists, underLock, type ProxyLocker } from './proxy-container.js'
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
 * held nothing of the app (or does not exist).
 */
export async function withdrawFromHaproxy(deps: WithdrawDeps): Promise<boolean> {
  const { app, name, files, admin, log } = deps
  const info = await inspectIfExists(deps.container)
  if (!info) return false
  return underLock(deps.lockProxy, async () => {
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
    if (info.State.Running) await admin.testAndReload(restore)
    return true
  })
}

import type { Log } from '../core/log.js'
import type { Route } from '../engine/ports.js'
import { EMPTY_RELEASES_MAP, HAPROXY_CONF_DIR, RELEASES_MAP, releaseLabels } from './haproxy-config.js'
import type { ConfVolume } from './haproxy-files.js'
import type { HaproxyAdmin } from './haproxy-runtime.js'
import { underLock, type ProxyLocker } from './proxy-container.js'

export interface ReleaseRecorder {
  app: string
  files: ConfVolume
  admin: HaproxyAdmin
  lockProxy: ProxyLocker
  log: Log
  /** The running proxy serves metrics (its base declares the releases map). */
  metricsPublished: boolean
}

/** The releases map's text with `app`'s line replaced by `labels`. */
export function withRelease(text: string | undefined, app: string, labels: string): string {
  const kept = (text ?? EMPTY_RELEASES_MAP).split('\n').filter(l => l && !l.startsWith(`${app} `))
  return [...kept, `${app} ${labels}`].join('\n') + '\n'
}

/**
 * metrics (issue #24), when the proxy serves them: the app's live release in the shared releases
 * map, for the series cutover_release_info: in the file (a restart or reload comes up with it)
 * under the proxy's lock, and in the running proxy through the runtime API. Never fails a switch:
 * a failure is said, and the next switch writes it again.
 */
export async function recordRelease(r: ReleaseRecorder, route: Route): Promise<void> {
  // Without metrics nothing reads it: a switch takes no lock and no extra round trip for it.
  if (!r.metricsPublished) return
  const labels = releaseLabels(route.color, route.releaseId)
  try {
    await underLock(r.lockProxy, async () => {
      r.files.forget()
      await r.files.put(RELEASES_MAP, withRelease(await r.files.file(RELEASES_MAP), r.app, labels))
      const map = `${HAPROXY_CONF_DIR}/${RELEASES_MAP}`
      // del answers "Key not found" for an app the running proxy has no line of yet: not an error.
      await r.admin.cli(`del map ${map} ${r.app}`)
      await r.admin.run([`add map ${map} ${r.app} ${labels}`], `the release of ${r.app} for its metrics`)
    })
  } catch (e) {
    r.log.warning(`metrics: could not record ${r.app}'s live release for cutover_release_info (${(e as Error).message}); the next switch records it`)
  }
}

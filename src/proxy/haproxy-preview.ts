import { COLORS, containerName, otherColor, type Color } from '../core/names.js'
import type { Route } from '../engine/ports.js'
import { oneTo } from '../engine/replicas.js'
import { repointCommands, SERVER_RESOLVE, serverName } from './haproxy-strategy.js'

/**
 * preview-domains (issue #12): a second backend in the app's file, reached by the preview domains
 * only, whose servers are the color that is NOT live: the preview waiting for mode promote, or, when
 * none waits, the standby while it runs. Nothing running there: a 503 that says so. It has no
 * maintenance rule (mode maintenance leaves previews reachable) and no stickiness.
 */
export function previewBackendName(app: string): string {
  // App names have no underscore: no app's own backend can be named like another app's preview.
  return `app_${app}_preview`
}

export const NO_PREVIEW_TEXT = 'no preview is running'

/**
 * No idle connection is kept to a preview server. Its servers are re-pointed while they serve (the
 * standby, under load, replaced by a preview): a request in flight through maintenance would give
 * its connection back to the pool after the purge, and keep-alive reuse would send later requests to
 * the replaced container, for as long as it runs. A preview domain is a tester's, not the app's
 * traffic: a new connection per request costs little there.
 */
export const PREVIEW_SERVER_POOL = 'pool-max-conn 0'

/** The preview backend: the live color's slots disabled, the idle color's enabled (missing containers drop out by DNS). */
export function renderPreviewBackend(route: Route, slots: number, tlsRules: string): string {
  const be = previewBackendName(route.app)
  const idle = otherColor(route.color)
  const servers = COLORS.flatMap(color =>
    oneTo(slots).map(
      i =>
        `  server ${serverName(color, i)} ${containerName(route.app, color, i)}:${route.appPort} ${SERVER_RESOLVE} ${PREVIEW_SERVER_POOL}${color === idle ? '' : ' disabled'}\n`
    )
  ).join('')
  return `
# preview-domains: the color that is not live (a preview waiting for mode promote, else the standby)
backend ${be}
  http-request del-header x-cutover-verify
  http-response del-header x-cutover-release
${tlsRules}  # nothing of the idle color runs: say so rather than a bare 503
  http-request return status 503 content-type text/plain string "${NO_PREVIEW_TEXT} for ${route.app}" hdr Cache-Control no-store if { nbsrv(${be}) eq 0 }
${servers}`
}

/**
 * Runtime API commands that point the preview backend at the color that is not live: the live
 * color's servers to maintenance, the idle color's ready (at `addresses`, by replica, when known).
 * The idle color's servers are purged (repointCommands): a preview's new containers take servers
 * that served the standby they replaced. For a color live until now they are in maintenance already.
 */
export function previewCommands(app: string, live: Color, slots: number, appPort: number, addresses: (string | undefined)[]): string[] {
  const be = previewBackendName(app)
  const idle = otherColor(live)
  const commands = oneTo(slots).map(i => `set server ${be}/${serverName(live, i)} state maint`)
  for (const i of oneTo(slots)) {
    const server = `${be}/${serverName(idle, i)}`
    commands.push(...repointCommands(server, addresses[i - 1], appPort, true), `set server ${server} state ready`)
  }
  return commands
}

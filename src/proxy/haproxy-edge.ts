import type { Log } from '../core/log.js'
import { PROXY_PROTOCOL_MAP } from './haproxy-config.js'
import type { ConfVolume } from './haproxy-files.js'
import type { HaproxyAdmin } from './haproxy-runtime.js'
import { underLock, type ProxyLocker } from './proxy-container.js'

/**
 * Edge mode (issue #23): which sources' connections start with a PROXY protocol header. One map for
 * the proxy (the header comes before any request, so before any app is known): each source with
 * the apps that trust it, so an app that stops asking removes only its own claim.
 */
const HEADER = '# Managed by cutover: source (trusted-proxies of apps with proxy-protocol) -> apps.\n'
export const EMPTY_PROXY_PROTOCOL_MAP = HEADER

/** The map with `app` claiming exactly `sources` (none: the app's claims removed, other apps' kept). */
export function updateProxyProtocolMap(current: string, app: string, sources: string[]): string {
  const claims = new Map<string, Set<string>>()
  for (const line of current.split('\n')) {
    const [source, apps] = line.trim().split(/\s+/)
    if (!source || source.startsWith('#') || !apps) continue
    const set = claims.get(source) ?? new Set()
    for (const a of apps.split(',')) if (a && a !== app) set.add(a)
    claims.set(source, set)
  }
  for (const source of sources) claims.set(source, (claims.get(source) ?? new Set()).add(app))
  const lines = [...claims]
    .filter(([, apps]) => apps.size > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([source, apps]) => `${source} ${[...apps].sort().join(',')}\n`)
  return HEADER + lines.join('')
}

/** The sources an app's claims in the map. */
export function proxyProtocolSources(current: string, app: string): string[] {
  return current
    .split('\n')
    .map(l => l.trim().split(/\s+/))
    .filter(([source, apps]) => source && !source.startsWith('#') && apps?.split(',').includes(app))
    .map(([source]) => source)
}

export interface ProxyProtocolHost {
  app: string
  proxyName: string
  log: Log
  lockProxy: ProxyLocker
  files: ConfVolume
  admin: HaproxyAdmin
}

/** The app's PROXY protocol sources as its inputs say (a reload, under the proxy's lock, only when they change). */
export async function ensureProxyProtocol(host: ProxyProtocolHost, sources: string[]): Promise<void> {
  const { app, proxyName, log, lockProxy, files, admin } = host
  const current = (await files.file(PROXY_PROTOCOL_MAP)) ?? EMPTY_PROXY_PROTOCOL_MAP
  if (updateProxyProtocolMap(current, app, sources) === current) return
  await underLock(lockProxy, async () => {
    files.forget()
    const now = (await files.file(PROXY_PROTOCOL_MAP)) ?? EMPTY_PROXY_PROTOCOL_MAP
    const next = updateProxyProtocolMap(now, app, sources)
    if (next === now) return
    log.info(
      sources.length
        ? `The proxy ${proxyName} expects a PROXY protocol header from ${sources.join(', ')} (proxy-protocol of ${app}): reloading it`
        : `The proxy ${proxyName} no longer expects a PROXY protocol header for ${app}: reloading it`
    )
    await files.put(PROXY_PROTOCOL_MAP, next)
    await admin.testAndReload([{ file: PROXY_PROTOCOL_MAP, content: now }])
  })
}

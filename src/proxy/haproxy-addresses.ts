import type Docker from 'dockerode'
import type { Log } from '../core/log.js'
import { containerName } from '../core/names.js'
import type { Route } from '../engine/ports.js'
import { oneTo } from '../engine/replicas.js'
import type { HaproxyAdmin } from './haproxy-runtime.js'
import { backendName } from './haproxy-config.js'
import { staleServers, type ContainerAddresses } from './haproxy-state.js'

/** Per replica of the route's color: its address on the app's network (where the proxy reaches it), and on every network it is on. */
export async function containerAddresses(docker: Docker, app: string, route: Route): Promise<ContainerAddresses[]> {
  return Promise.all(
    oneTo(route.replicas ?? 1).map(async i => {
      const info = await docker
        .getContainer(containerName(app, route.color, i))
        .inspect()
        .catch(() => undefined)
      const networks = Object.values(info?.NetworkSettings.Networks ?? {})
      return {
        wanted: info?.NetworkSettings.Networks[`cutover-${app}`]?.IPAddress || undefined,
        all: networks.map(n => n.IPAddress).filter(Boolean)
      }
    })
  )
}

/**
 * The release header proves the proxy routes this release, not which container answered: the
 * route's servers must be at the addresses its containers have now (Docker's truth). One that is
 * not (a container replaced under its name while the proxy kept the old address) is set right at
 * run time, and said.
 */
export async function confirmAddresses(proxy: { app: string; name: string; docker: Docker; admin: HaproxyAdmin; log: Log }, route: Route): Promise<void> {
  const { app, name, docker, admin, log } = proxy
  const be = backendName(app)
  const [state, addresses] = await Promise.all([admin.cli(`show servers state ${be}`), containerAddresses(docker, app, route)])
  const stale = staleServers(state, be, route, addresses)
  if (!stale.length) return
  await admin.run(
    stale.map(s => `set server ${be}/${s.server} addr ${s.wanted} port ${route.appPort}`),
    `the addresses of ${app} ${route.color}`
  )
  log.warning(
    `The proxy ${name} sent ${app} ${route.color}'s requests to ${stale.map(s => `${s.had} (${s.server})`).join(', ')}, ` +
      `not to its container${stale.length > 1 ? 's' : ''} at ${stale.map(s => s.wanted).join(', ')}: set right through the runtime API`
  )
}

import type Docker from 'dockerode'
import {
  appRecord,
  domainConflicts,
  renderAppRoute,
  renderBaseConfig,
  routeRecords,
  serverRoutes,
  withAppRoute,
  withMaintenance,
  type CaddyConfig
} from '../../src/proxy/caddy-config.js'
import { caddyError } from '../../src/proxy/caddy-admin.js'
import { CADDY_CAPABILITIES, proxyCapabilityProblem } from '../../src/proxy/capabilities.js'
import { existingProxyType, resolveProxy } from '../../src/proxy/choose.js'
import type { ProxyInputs } from '../../src/core/config.js'
import type { Route } from '../../src/engine/ports.js'

const route = (over: Partial<Route> = {}): Route => ({ app: 'shop', color: 'blue', releaseId: 'r1', appPort: 3000, ...over })

/** The handlers of an app's route, by handler name. */
function handlers(config: CaddyConfig, app: string): Record<string, unknown>[] {
  const r = serverRoutes(config).find(x => x['@id'] === `cutover-app-${app}`)
  return (r?.handle ?? []) as Record<string, unknown>[]
}

describe('Caddy configuration (proxy-type caddy)', () => {
  it('a new proxy: its admin socket, one server on :80 without automatic HTTPS, a 503 for every name, a grace period of at least 5 s', () => {
    const base = renderBaseConfig(2)
    expect(base.admin).toEqual({ listen: 'unix//run/cutover-caddy/admin.sock' })
    expect(base.apps?.http?.grace_period).toBe('5s')
    const server = base.apps!.http!.servers!.cutover
    expect(server).toMatchObject({ listen: [':80'], automatic_https: { disable: true } })
    expect(serverRoutes(base)).toEqual([{ handle: [expect.objectContaining({ handler: 'static_response', status_code: 503 })] }])
    expect(routeRecords(base)).toEqual([])
  })

  it("an app's route: its domains, the verify rule with the release (URI-encoded), the color's replicas balanced; its record reads back", () => {
    const config = withAppRoute(
      renderBaseConfig(30),
      'shop',
      renderAppRoute(route({ color: 'green', releaseId: 'r 2{x}', replicas: 3 }), 'tok', ['shop.example.com']),
      30
    )
    const [vars, sub] = handlers(config, 'shop')
    expect(vars.handler).toBe('vars')
    const routes = (sub as { routes: { match?: unknown; handle: Record<string, unknown>[] }[] }).routes
    expect(routes[0].match).toEqual([{ header: { 'x-cutover-verify': ['tok'] } }])
    expect(routes[0].handle[0]).toMatchObject({ handler: 'headers', response: { set: { 'x-cutover-release': ['r%202%7Bx%7D'] }, deferred: true } })
    expect(routes[1].handle[0].upstreams).toEqual([{ dial: 'shop-green:3000' }, { dial: 'shop-green-2:3000' }, { dial: 'shop-green-3:3000' }])
    expect(serverRoutes(config)[0].match).toEqual([{ host: ['shop.example.com'] }])
    expect(appRecord(config, 'shop')).toEqual({
      app: 'shop',
      color: 'green',
      releaseId: 'r 2{x}',
      token: 'tok',
      appPort: 3000,
      replicas: 3,
      domains: ['shop.example.com']
    })
    expect(appRecord(config, 'other')).toBeUndefined()
  })

  it('no verify rule without a token: no request can make the proxy name a release', () => {
    const config = withAppRoute(renderBaseConfig(30), 'shop', renderAppRoute(route(), '', []), 30)
    const sub = handlers(config, 'shop')[1] as { routes: unknown[] }
    expect(sub.routes).toHaveLength(1)
  })

  it("several apps: another app's route is kept as it was, apps with domains before the default app, the 503 last; replacing one keeps the order", () => {
    let config = withAppRoute(renderBaseConfig(30), 'zdefault', renderAppRoute(route({ app: 'zdefault' }), 't0', []), 30)
    config = withAppRoute(config, 'b', renderAppRoute(route({ app: 'b' }), 't1', ['b.example.com']), 30)
    config = withAppRoute(config, 'a', renderAppRoute(route({ app: 'a' }), 't2', ['a.example.com']), 30)
    const before = JSON.stringify(serverRoutes(config).find(r => r['@id'] === 'cutover-app-b'))
    config = withAppRoute(config, 'a', renderAppRoute(route({ app: 'a', color: 'green', releaseId: 'r2' }), 't3', ['a.example.com']), 30)
    const ids = serverRoutes(config).map(r => r['@id'] ?? 'fallback')
    expect(ids).toEqual(['cutover-app-a', 'cutover-app-b', 'cutover-app-zdefault', 'fallback'])
    expect(JSON.stringify(serverRoutes(config)[1])).toBe(before)
    expect(appRecord(config, 'a')).toMatchObject({ color: 'green', releaseId: 'r2' })
    // A route removed leaves the others.
    expect(routeRecords(withAppRoute(config, 'b', undefined, 30)).map(r => r.app)).toEqual(['a', 'zdefault'])
  })

  it('the longest drain of the apps on the proxy is its grace period (an app with a shorter one does not cut it)', () => {
    const long = withAppRoute(renderBaseConfig(30), 'a', renderAppRoute(route({ app: 'a' }), 't', ['a.example.com']), 120)
    expect(long.apps?.http?.grace_period).toBe('120s')
    expect(withAppRoute(long, 'b', renderAppRoute(route({ app: 'b' }), 't', ['b.example.com']), 10).apps?.http?.grace_period).toBe('120s')
  })

  it("a name another app routes, or a second default app, is a conflict naming that app; the app's own names are not", () => {
    let config = withAppRoute(renderBaseConfig(30), 'a', renderAppRoute(route({ app: 'a' }), 't', ['a.example.com', 'www.example.com']), 30)
    config = withAppRoute(config, 'd', renderAppRoute(route({ app: 'd' }), 't', []), 30)
    expect(domainConflicts(config, 'b', ['www.example.com', 'b.example.com'])).toEqual([{ name: 'www.example.com', app: 'a' }])
    expect(domainConflicts(config, 'a', ['www.example.com'])).toEqual([])
    expect(domainConflicts(config, 'e', [])).toEqual([{ name: 'the default route (no domains)', app: 'd' }])
    expect(domainConflicts(config, 'd', [])).toEqual([])
    expect(domainConflicts(null, 'x', ['a.example.com'])).toEqual([])
  })

  it('maintenance: the page with a 503 and Retry-After for every request but the release-token verification, which reaches the color; off again: the same route', () => {
    const plain = renderAppRoute(route(), 'tok', ['shop.example.com'])
    const config = withAppRoute(renderBaseConfig(30), 'shop', plain, 30)
    const on = withMaintenance(appRecord(config, 'shop')!, '<p>back soon</p>')
    const routes = (on.handle as { routes?: { match?: unknown; handle: Record<string, unknown>[]; terminal?: boolean }[] }[])[1].routes!
    expect(routes.map(r => r.handle[0].handler)).toEqual(['headers', 'static_response', 'reverse_proxy'])
    expect(routes[1]).toMatchObject({
      match: [{ not: [{ header: { 'x-cutover-verify': ['tok'] } }] }],
      handle: [
        {
          status_code: 503,
          body: '<p>back soon</p>',
          headers: { 'Retry-After': ['60'], 'Content-Type': ['text/html; charset=utf-8'], 'X-Cutover-Maintenance': ['on'] }
        }
      ],
      terminal: true
    })
    expect(appRecord(withAppRoute(config, 'shop', on, 30), 'shop')?.maintenance).toBe('<p>back soon</p>')
    expect(withMaintenance(appRecord(withAppRoute(config, 'shop', on, 30), 'shop')!, undefined)).toEqual(plain)
  })

  it("Caddy's error answers are quoted as sentences", () => {
    expect(caddyError('{"error":"loading config: bad dial"}')).toBe('loading config: bad dial')
    expect(caddyError('')).toBe('(no body)')
    expect(caddyError('plain text\n')).toBe('plain text')
  })
})

describe('the Caddy router declares what it cannot do', () => {
  const run = (over: Record<string, unknown>) =>
    ({ mode: 'deploy', strategy: { replicas: 1 }, proxy: { type: 'caddy', sticky: false, previewDomains: [] }, ...over }) as Parameters<
      typeof proxyCapabilityProblem
    >[0]

  it('canary weights on Caddy 2.6 are refused before anything changes, naming the router and the routers that have them', () => {
    const problem = proxyCapabilityProblem(run({ strategy: { replicas: 1, canaryWeight: 20 } }))
    expect(problem?.message).toBe(
      "Input 'canary-weight' is 20, which needs weighted routing, which the Caddy router does not have: remove 'canary-weight', or deploy behind a router that has it: HAProxy (proxy-type: haproxy) (set proxy-type, or give another proxy-name if this host's proxy is Caddy). Nothing was changed."
    )
  })

  it("replicas and maintenance are Caddy's; promote, preview-domains, watch, sticky and tls are refused", () => {
    expect(CADDY_CAPABILITIES).toMatchObject({ name: 'Caddy', replicas: true, maintenance: true, runtimeSwitch: false, weights: false })
    expect(proxyCapabilityProblem(run({ strategy: { replicas: 3 } }))).toBeUndefined()
    expect(proxyCapabilityProblem(run({ mode: 'maintenance' }))).toBeUndefined()
    expect(proxyCapabilityProblem(run({ mode: 'promote' }))?.message).toMatch(
      /^Input 'mode' is promote, which needs weighted routing or a preview backend, which the Caddy router/
    )
    expect(proxyCapabilityProblem(run({ proxy: { type: 'caddy', previewDomains: ['next.example.com'] } }))?.input).toBe('preview-domains')
    expect(proxyCapabilityProblem(run({ strategy: { replicas: 1, watch: { durationMs: 60_000, maxErrorRate: 5 } } }))?.input).toBe('watch')
    expect(proxyCapabilityProblem(run({ proxy: { type: 'caddy', sticky: true } }))?.input).toBe('sticky')
    expect(proxyCapabilityProblem(run({ proxy: { type: 'caddy', tls: { mode: 'auto', trustedProxies: [] } } }))?.input).toBe('tls')
  })
})

describe('proxy-type auto with a Caddy proxy on the host', () => {
  const docker = (label: string | undefined) =>
    ({
      getContainer: () => ({
        inspect: async () => {
          if (label === undefined) throw Object.assign(new Error('no such container'), { statusCode: 404 })
          return { Config: { Labels: { 'cutover.proxy': label } } }
        }
      })
    }) as unknown as Docker
  const inputs = (over: Partial<ProxyInputs> = {}): ProxyInputs => ({ type: 'auto', name: 'cutover-proxy', port: 80, domains: [], drainTimeoutMs: 0, ...over })

  it('keeps the Caddy proxy, with the Caddy image; a caddy image for a new proxy under auto is refused, naming proxy-type caddy', async () => {
    expect(await existingProxyType(docker('caddy'), 'cutover-proxy')).toBe('caddy')
    expect((await resolveProxy(docker('caddy'), inputs())).settings).toMatchObject({ type: 'caddy', image: 'caddy:2.6-alpine' })
    await expect(resolveProxy(docker(undefined), inputs({ image: 'caddy:2.6-alpine' }))).rejects.toThrow(/a caddy image.*Set proxy-type: caddy/)
  })

  it('tls on a host whose proxy is Caddy is refused before anything changes', async () => {
    const tls = { mode: 'auto' as const, httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] }
    await expect(resolveProxy(docker('caddy'), inputs({ tls }))).rejects.toThrow(
      /^Input 'tls' is auto, which needs TLS termination, which the Caddy router does not have/
    )
  })
})

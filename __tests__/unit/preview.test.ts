import type { Config } from '../../src/core/config.js'
import { previewUrlOf } from '../../src/core/preview.js'
import { ledgerProblem, routingConflict } from '../../src/core/release.js'
import { proxyCapabilityProblem } from '../../src/proxy/capabilities.js'
import { EMPTY_MAP, mapConflicts, renderAppConfig, updateDomainMaps } from '../../src/proxy/haproxy-config.js'
import { previewBackendName, previewCommands } from '../../src/proxy/haproxy-preview.js'
import { backendShape, declaredServers, routeOfFile, switchCommands } from '../../src/proxy/haproxy-strategy.js'
import { EngineBed, testConfig } from '../support/engine-bed.js'
import { opensslCert } from '../support/certs.js'
import { inputParser } from '../support/inputs.js'
import { sshKeyPair } from '../support/keys.js'

// promote: manual, preview-domains, and mode promote / rollback of a preview (issue #12).
const V1 = 'registry.test/web:1'
const V2 = 'registry.test/web:2'
const V3 = 'registry.test/web:3'

function configFor(more: Partial<Config> = {}, manual = true): Config {
  return testConfig({
    proxy: {
      type: 'haproxy',
      name: 'cutover-proxy',
      image: 'haproxy',
      port: 8080,
      domains: ['app.example.com'],
      previewDomains: ['next.app.example.com'],
      drainTimeoutMs: 5000
    },
    strategy: { replicas: 1, ...(manual ? { promote: 'manual' as const } : {}) },
    ...more
  })
}

class Bed extends EngineBed {
  constructor() {
    super([V1, V2, V3])
  }
  async v1ThenPreview(image = V2, more: Partial<Config> = {}) {
    await this.engine(configFor({}, false)).release({ kind: 'deploy', image: V1 })
    return this.engine(configFor(more)).release({ kind: 'deploy', image })
  }
}

describe('promote manual in the engine', () => {
  it('a deploy gates the new color and leaves it waiting: the live release keeps serving, the preview is recorded', async () => {
    const bed = new Bed()
    const result = await bed.v1ThenPreview()
    expect(result).toMatchObject({ result: 'preview', color: 'green', image: V2, previousColor: 'blue', previousImage: V1 })
    expect(result.preview).toMatchObject({ color: 'green', image: V2, url: 'http://next.app.example.com:8080' })
    expect(bed.router.route).toMatchObject({ color: 'blue', releaseId: bed.ledger.record?.releases[0].id })
    expect(bed.router.previewState).toMatchObject({ live: { color: 'blue' }, preview: { color: 'green' } })
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V1])
    expect(bed.ledger.record?.preview).toMatchObject({ release: { color: 'green', image: V2 } })
    expect(bed.ledger.record?.routing).toEqual({ proxy: 'cutover-proxy', domains: ['app.example.com'], previewDomains: ['next.app.example.com'] })
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-green': `${V2} running` })
    expect(bed.log.text()).toMatch(/web-green to be healthy\nprobe 1 of \/health: no HTTP answer[^\n]*\nprobe \d+ of \/health: HTTP 200/)
    expect(bed.log.text()).toContain('waits for mode promote; preview it at http://next.app.example.com:8080')
  })

  it('without preview-domains the preview still waits, with no URL, and the log says nothing reaches it', async () => {
    const bed = new Bed()
    const plain = configFor()
    const result = await bed.v1ThenPreview(V2, { proxy: { ...plain.proxy, previewDomains: undefined } })
    expect(result).toMatchObject({ result: 'preview', color: 'green', image: V2 })
    expect(result.preview?.url).toBeUndefined()
    expect(bed.log.text()).toContain('waits for mode promote (no preview-domains reach it)')
    expect(bed.ledger.record?.routing).toEqual({ proxy: 'cutover-proxy', domains: ['app.example.com'] })
  })

  it('the first deploy with promote manual goes live: there is nothing to preview beside', async () => {
    const bed = new Bed()
    const result = await bed.engine(configFor()).release({ kind: 'deploy', image: V1 })
    expect(result).toMatchObject({ result: 'deployed', color: 'blue', image: V1 })
    expect(bed.ledger.record?.preview).toBeUndefined()
    expect(bed.log.text()).toContain('nothing is live yet')
  })

  it('mode status reports the waiting preview', async () => {
    const bed = new Bed()
    await bed.v1ThenPreview()
    const status = await bed.engine(configFor({ mode: 'status' }, false)).status()
    expect(status).toMatchObject({
      result: 'unchanged',
      color: 'blue',
      image: V1,
      preview: { color: 'green', image: V2, url: 'http://next.app.example.com:8080' }
    })
    expect(bed.log.text()).toMatch(/Preview: green registry.test\/web:2 waits for mode promote since .* at http:\/\/next.app.example.com:8080/)
  })

  it('mode promote re-checks health and switches to the preview; the old color gets keep-previous', async () => {
    const bed = new Bed()
    await bed.v1ThenPreview()
    const probesBefore = (bed.log.text().match(/probe 1 of/g) ?? []).length
    const result = await bed.engine(configFor({ mode: 'promote', keepPrevious: 'stopped' }, false)).promote()
    expect(result).toMatchObject({ result: 'deployed', color: 'green', image: V2, standby: { color: 'blue', state: 'stopped' } })
    expect((bed.log.text().match(/probe 1 of/g) ?? []).length).toBe(probesBefore + 1)
    expect(bed.router.route).toMatchObject({ color: 'green' })
    expect(bed.ledger.record?.preview).toBeUndefined()
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V2, V1])
    // the same containers went live, not new ones
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} stopped`, 'web-green': `${V2} running` })
  })

  it('mode promote with an unhealthy preview fails and leaves the live release and the preview record as they were', async () => {
    const bed = new Bed()
    await bed.v1ThenPreview()
    bed.host.unhealthyNames.add('web-green')
    const promote = bed.engine(configFor({ mode: 'promote', health: { ...configFor().health, timeoutMs: 3000 } }, false)).promote()
    await expect(promote).rejects.toThrow(/web-green .* did not become healthy: .* The preview stays recorded/)
    expect(bed.router.route).toMatchObject({ color: 'blue' })
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V1])
    expect(bed.ledger.record?.preview?.release.image).toBe(V2)
  })

  it('mode rollback while a preview waits discards it: its containers go, the live color is not touched', async () => {
    const bed = new Bed()
    await bed.v1ThenPreview()
    const applied = bed.router.applied.length
    const result = await bed.engine(configFor({ mode: 'rollback' }, false)).release({ kind: 'rollback' })
    expect(result).toMatchObject({ result: 'rolled-back', color: 'blue', image: V1 })
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running` })
    expect(bed.router.applied.length).toBe(applied)
    expect(bed.ledger.record?.preview).toBeUndefined()
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V1])
    expect(bed.log.text()).toContain('Discarded the preview of registry.test/web:2 on green')
  })

  it('a new deploy while a preview waits replaces it, and says so', async () => {
    const bed = new Bed()
    await bed.v1ThenPreview()
    const result = await bed.engine(configFor()).release({ kind: 'deploy', image: V3 })
    expect(result).toMatchObject({ result: 'preview', color: 'green', image: V3 })
    expect(bed.log.text()).toMatch(/A preview of registry.test\/web:2 on green waits since .*: this deploy replaces it/)
    expect(bed.ledger.record?.preview?.release.image).toBe(V3)
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-green': `${V3} running` })
  })

  it('a preview that fails its health gate is undone: what it replaced comes back, the earlier preview stays recorded', async () => {
    const bed = new Bed()
    await bed.v1ThenPreview()
    bed.host.addImage(V3, { bootMs: 1500, healthStatus: 500 })
    const run = bed.engine(configFor({ health: { ...configFor().health, timeoutMs: 3000 } })).release({ kind: 'deploy', image: V3 })
    await expect(run).rejects.toThrow(/did not become healthy/)
    expect(bed.host.state()).toEqual({ 'web-blue': `${V1} running`, 'web-green': `${V2} running` })
    expect(bed.ledger.record?.preview?.release.image).toBe(V2)
    expect(bed.router.route).toMatchObject({ color: 'blue' })
  })

  it('an auto deploy while a preview waits goes live and drops the preview', async () => {
    const bed = new Bed()
    await bed.v1ThenPreview()
    const result = await bed.engine(configFor({}, false)).release({ kind: 'deploy', image: V3 })
    expect(result).toMatchObject({ result: 'deployed', color: 'green', image: V3 })
    expect(bed.ledger.record?.preview).toBeUndefined()
    expect(bed.ledger.record?.releases.map(r => r.image)).toEqual([V3, V1])
  })
})

describe('preview-url', () => {
  it('scheme from tls, the port only when it is not the default', () => {
    const proxy = { port: 80, previewDomains: ['Next.Example.com', 'other.example.com'] }
    expect(previewUrlOf(proxy)).toBe('http://next.example.com')
    expect(previewUrlOf({ ...proxy, port: 8080 })).toBe('http://next.example.com:8080')
    // behind an edge (proxy-port none) the edge's ports serve it
    expect(previewUrlOf({ ...proxy, port: 80, unpublished: true })).toBe('http://next.example.com')
    const tls = { mode: 'auto' as const, httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] }
    expect(previewUrlOf({ ...proxy, port: 8080, tls })).toBe('https://next.example.com')
    expect(previewUrlOf({ ...proxy, tls: { ...tls, httpsPort: 8443 } })).toBe('https://next.example.com:8443')
    expect(previewUrlOf({ ...proxy, tls: { ...tls, mode: 'off' } })).toBe('http://next.example.com')
    expect(previewUrlOf({ port: 80 })).toBeUndefined()
  })
})

describe('the preview in the ledger and in routing claims', () => {
  it('a preview must be a release with a time', () => {
    const release = { id: 'r1', instance: 'r1', app: 'web', color: 'green', image: V2, configHash: 'h', kind: 'deploy', liveSince: '', by: {} }
    expect(ledgerProblem({ version: 1, app: 'web', releases: [], preview: { release, since: 'now' } }, 'web')).toBeUndefined()
    expect(ledgerProblem({ version: 1, app: 'web', releases: [], preview: { since: 'now' } }, 'web')).toBe('its preview is not a release with a time')
    expect(ledgerProblem({ version: 1, app: 'web', releases: [], preview: { release: { ...release, color: 'red' }, since: 'x' } }, 'web')).toMatch(
      /color "red"/
    )
  })

  it("another app's domains or preview domains cannot be claimed as preview domains, nor the other way round", () => {
    const other = [{ app: 'shop', routing: { proxy: 'p', domains: ['shop.example.com'], previewDomains: ['next.shop.example.com'] } }]
    expect(routingConflict('web', { proxy: 'p', domains: ['web.example.com'], previewDomains: ['shop.example.com'] }, other)).toBe(
      "Input 'preview-domains' claims shop.example.com, which app shop already serves on the proxy p: remove it from one of the two apps."
    )
    expect(routingConflict('web', { proxy: 'p', domains: ['NEXT.shop.example.com'] }, other)).toMatch(
      /^Input 'domains' claims NEXT.shop.example.com, which app shop/
    )
    expect(routingConflict('web', { proxy: 'p', domains: ['web.example.com'], previewDomains: ['next.web.example.com'] }, other)).toBeUndefined()
  })
})

describe('the preview backend on HAProxy', () => {
  const route = { app: 'web', color: 'blue' as const, releaseId: 'r1', appPort: 3000, replicas: 2 }

  it('is a second backend with the idle color enabled, a 503 when nothing runs there, and no maintenance rule', () => {
    const text = renderAppConfig(route, 'tok', 2, undefined, false, undefined, true)
    const preview = text.slice(text.indexOf(`backend ${previewBackendName('web')}`))
    expect(preview).toContain('server green web-green:3000 resolvers docker init-addr last,none pool-max-conn 0\n')
    expect(preview).toContain('server green-2 web-green-2:3000 resolvers docker init-addr last,none pool-max-conn 0\n')
    expect(preview).toContain('server blue web-blue:3000 resolvers docker init-addr last,none pool-max-conn 0 disabled\n')
    // no pooled connection on the preview's servers (re-pointed while they serve); the app's own keep theirs
    expect(text.slice(0, text.indexOf(`backend ${previewBackendName('web')}`))).not.toContain('pool-max-conn')
    expect(preview).toContain(
      'http-request return status 503 content-type text/plain string "no preview is running for web" hdr Cache-Control no-store if { nbsrv(app_web_preview) eq 0 }'
    )
    expect(preview).not.toContain('maintenance')
    expect(preview).not.toContain('cookie')
    // forwarded headers as for the app's own domains
    expect(preview).toContain('http-request set-header X-Forwarded-For %[src]')
    expect(renderAppConfig(route, 'tok', 2)).not.toContain('_preview')
  })

  it("does not count as the app's servers, and keeps the shape of the file across switches", () => {
    const text = renderAppConfig(route, 'tok', 2, undefined, false, undefined, true)
    expect(declaredServers(text)).toEqual({ slots: 2, enabled: { blue: 2, green: 0 } })
    expect(routeOfFile('web', text, { color: 'blue', releaseId: 'r1' })).toMatchObject({ appPort: 3000, replicas: 2 })
    const switched = renderAppConfig({ ...route, color: 'green', releaseId: 'r2' }, 'tok2', 2, undefined, false, undefined, true)
    expect(backendShape(switched)).toBe(backendShape(text))
    expect(backendShape(renderAppConfig(route, 'tok', 2))).not.toBe(backendShape(text))
  })

  it('runtime commands: the live color out of the preview backend, the idle color in at its new addresses', () => {
    // the idle color through maintenance first: its idle connections may lead to the standby it replaced
    expect(previewCommands('web', 'blue', 2, 3000, ['10.0.0.7', undefined])).toEqual([
      'set server app_web_preview/blue state maint',
      'set server app_web_preview/blue-2 state maint',
      'set server app_web_preview/green state maint',
      'set server app_web_preview/green addr 10.0.0.7 port 3000',
      'set server app_web_preview/green state ready',
      'set server app_web_preview/green-2 state maint',
      'set server app_web_preview/green-2 state ready'
    ])
    // while a preview waits, the app's own backend sends nobody (not even a sticky client) to it
    expect(switchCommands('app_web', { ...route, replicas: 1 }, 1, [], 'maint')).toEqual([
      'set server app_web/blue weight 1',
      'set server app_web/blue state ready',
      'set server app_web/green state maint'
    ])
  })

  it('the shared maps route the preview domains to the preview backend; another app holding one is a conflict', () => {
    const maps = updateDomainMaps({ domains: EMPTY_MAP, wildcards: EMPTY_MAP }, 'web', ['app.example.com'], ['Next.app.example.com'])
    expect(maps.domains).toContain('app.example.com app_web\n')
    expect(maps.domains).toContain('next.app.example.com app_web_preview\n')
    // preview-domains removed: its entry goes
    expect(updateDomainMaps(maps, 'web', ['app.example.com']).domains).not.toContain('next.app.example.com')
    expect(mapConflicts(maps, 'web', ['app.example.com'], ['next.app.example.com'])).toEqual([])
    expect(mapConflicts(maps, 'shop', ['shop.example.com'], ['next.app.example.com'])).toEqual([{ name: 'next.app.example.com', app: 'web' }])
    expect(mapConflicts(maps, 'shop', ['next.app.example.com'])).toEqual([{ name: 'next.app.example.com', app: 'web' }])
  })
})

describe('promote and preview-domains inputs', () => {
  const key = sshKeyPair().private
  const { parse, errorOf } = inputParser({
    app: 'web',
    host: 'deploy.example.com',
    'ssh-private-key': key,
    'insecure-skip-host-key-check': 'true',
    image: 'ghcr.io/acme/web:1',
    domains: 'app.example.com'
  })

  it('promote: auto by default, manual for mode deploy only, not with canary-weight', () => {
    expect(parse().strategy.promote).toBeUndefined()
    expect(parse({ promote: 'auto' }).strategy.promote).toBeUndefined()
    expect(parse({ promote: 'manual' }).strategy.promote).toBe('manual')
    expect(errorOf({ promote: 'later' })).toBe('Input \'promote\' must be auto or manual, not "later"')
    expect(errorOf({ promote: 'manual', mode: 'rollback', image: '' })).toMatch(/^Input 'promote' manual only applies to mode deploy, not rollback/)
    expect(errorOf({ promote: 'manual', 'canary-weight': '10' })).toMatch(/^Input 'promote' manual cannot be combined with 'canary-weight'/)
  })

  it('preview-domains: host names like domains, exact, not one of the domains', () => {
    expect(parse({ 'preview-domains': 'next.app.example.com, b.example.com\nc.example.com' }).proxy.previewDomains).toEqual([
      'next.app.example.com',
      'b.example.com',
      'c.example.com'
    ])
    expect(parse().proxy.previewDomains).toBeUndefined()
    expect(errorOf({ 'preview-domains': 'bad_name' })).toBe(
      'Input \'preview-domains\' has an invalid domain "bad_name" (a host name such as app.example.com or *.example.com)'
    )
    expect(errorOf({ 'preview-domains': '*.app.example.com' })).toMatch(/^Input 'preview-domains' has the wildcard "\*.app.example.com"/)
    expect(errorOf({ 'preview-domains': 'App.example.com' })).toMatch(/^Input 'preview-domains' has "App.example.com", which is also in 'domains'/)
    expect(errorOf({ 'preview-domains': 'a.example.com a.example.com' })).toMatch(/^Input 'preview-domains' has "a.example.com" twice/)
  })

  it('both need HAProxy, and one host', () => {
    expect(errorOf({ promote: 'manual', 'proxy-type': 'nginx' })).toMatch(
      /^Input 'promote' is manual, which needs a preview backend, which the nginx router does not have: remove 'promote'/
    )
    expect(errorOf({ 'preview-domains': 'next.example.com', 'proxy-type': 'nginx' })).toMatch(
      /^Input 'preview-domains' needs a preview backend, which the nginx router does not have/
    )
    expect(proxyCapabilityProblem({ mode: 'deploy', strategy: { replicas: 1 }, proxy: { type: 'nginx', previewDomains: ['next.example.com'] } })?.input).toBe(
      'preview-domains'
    )
    expect(proxyCapabilityProblem({ mode: 'deploy', strategy: { replicas: 1, promote: 'manual' }, proxy: { type: 'haproxy' } })).toBeUndefined()
    // Several hosts wait as a preview together (fleet-strategies tests).
    expect(parse({ promote: 'manual', 'preview-domains': 'next.example.com', host: 'a.example.com\nb.example.com' }).strategy.promote).toBe('manual')
  })

  it('with tls, the preview domains are certified with the app: a custom certificate must cover them too', () => {
    const appOnly = opensslCert(['app.example.com'])
    const both = opensslCert(['app.example.com', 'next.app.example.com'])
    const tls = { tls: 'custom', 'proxy-type': 'haproxy', 'preview-domains': 'next.app.example.com' }
    expect(parse({ ...tls, 'tls-certificate': both.cert, 'tls-key': both.key }).proxy.tls?.mode).toBe('custom')
    expect(parse({ ...tls, 'tls-certificate': appOnly.cert, 'tls-key': appOnly.key, 'preview-domains': '' }).proxy.tls?.mode).toBe('custom')
    expect(errorOf({ ...tls, 'tls-certificate': appOnly.cert, 'tls-key': appOnly.key })).toMatch(
      /^Input 'tls-certificate' .*does not cover next.app.example.com/
    )
  })
})

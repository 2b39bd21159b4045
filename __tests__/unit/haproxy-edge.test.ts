import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ProxySettings } from '../../src/core/config.js'
import { LABEL } from '../../src/core/names.js'
import type { Route } from '../../src/engine/ports.js'
import { HAPROXY_CONF_DIR, HAPROXY_PROBE_PORT, PROXY_PROTOCOL_MAP, renderBaseConfig } from '../../src/proxy/haproxy-config.js'
import { EMPTY_PROXY_PROTOCOL_MAP, proxyProtocolSources, updateProxyProtocolMap } from '../../src/proxy/haproxy-edge.js'
import { HaproxyRouter } from '../../src/proxy/haproxy.js'
import { FakeDocker } from '../support/fake-docker.js'
import { RecordingLog } from '../support/fakes.js'
import { tempDir } from '../support/temp-dirs.js'

// Edge mode on the HAProxy router (issue #23), against the fake Docker: what the proxy publishes,
// the edge's networks it joins, PROXY protocol from trusted-proxies, and where cutover verifies.

const plain: ProxySettings = { type: 'haproxy', name: 'p', image: 'haproxy:3.0-alpine', port: 8080, domains: ['app.example.com'], drainTimeoutMs: 1000 }
const route: Route = { app: 'web', color: 'blue', releaseId: 'r1', appPort: 3000 }

function bed(settings: ProxySettings, docker = new FakeDocker(), app = 'web') {
  docker.images.add(settings.image)
  const log = new RecordingLog()
  const asked: { host: string; port: number }[] = []
  const openTcp = (host: string, port: number) => {
    asked.push({ host, port })
    return Promise.reject(new Error('no HTTP in these tests'))
  }
  const lockProxy = async () => ({ release: () => undefined })
  const router = new HaproxyRouter(docker.docker, openTcp, () => docker.openAdminSocket('p'), settings, app, undefined, log, lockProxy)
  return { docker, router, log, asked, conf: () => docker.filesOf('p', HAPROXY_CONF_DIR) }
}

function existing(docker: FakeDocker, portBindings: Record<string, { HostIp?: string; HostPort: string }[]>) {
  return docker.add({
    name: 'p',
    labels: { [LABEL.proxy]: 'haproxy' },
    running: true,
    networks: { 'p-net': { IPAddress: '172.18.0.2' }, 'cutover-web': { IPAddress: '172.19.0.2' } },
    portBindings
  })
}

describe('HAProxy behind an edge: what the proxy publishes and joins', () => {
  it('proxy-port none: publishes nothing and joins the edge network, reached by its name', async () => {
    const docker = new FakeDocker()
    docker.networks.add('edge')
    const { router, log } = bed({ ...plain, port: 80, unpublished: true, networks: ['edge'] }, docker)
    await router.ensure('cutover-web')
    const proxy = docker.containers.get('p')!
    expect(proxy.portBindings).toEqual({})
    expect(Object.keys(proxy.networks).sort()).toEqual(['cutover-web', 'edge', 'p-net'])
    expect(log.text()).toContain('Creating the proxy p publishing nothing (reached by its name on edge)')
  })

  it('proxy-port as an address: published on that address only', async () => {
    const { docker, router, log } = bed({ ...plain, hostIp: '127.0.0.1' })
    await router.ensure('cutover-web')
    expect(docker.containers.get('p')!.portBindings).toEqual({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] })
    expect(log.text()).toContain('Creating the proxy p on 127.0.0.1:8080')
  })

  it('an edge network that does not exist is refused before anything is created', async () => {
    const { docker, router } = bed({ ...plain, port: 80, unpublished: true, networks: ['edge'] })
    await expect(router.ensure('cutover-web')).rejects.toThrow(
      'The Docker network edge named in proxy-networks does not exist on the host. Nothing was changed. Name the network your edge proxy is on (docker network ls), or create it (docker network create edge)'
    )
    expect(docker.calls.filter(c => /^(create|start)/.test(c))).toEqual([])
  })

  it('an existing proxy that publishes otherwise is refused, saying how to use it or move it', async () => {
    const docker = new FakeDocker()
    existing(docker, { '80/tcp': [{ HostPort: '80' }] })
    docker.networks.add('edge')
    await expect(bed({ ...plain, port: 80, unpublished: true, networks: ['edge'] }, docker).router.ensure('cutover-web')).rejects.toThrow(
      "The proxy container p already exists and publishes 80, not none as 'proxy-port' asks; nothing was changed. The proxy is shared by every app on the host: set proxy-port to 80 to use it as it is. To move it, remove it on the host (docker rm -f p; its routes and certificates stay in the volume p-conf)"
    )
    await expect(bed({ ...plain, hostIp: '127.0.0.1', port: 80 }, docker).router.ensure('cutover-web')).rejects.toThrow(
      "already exists and publishes 80, not 127.0.0.1:80 as 'proxy-port' asks"
    )
    const docker2 = new FakeDocker()
    existing(docker2, {})
    await expect(bed({ ...plain, port: 80 }, docker2).router.ensure('cutover-web')).rejects.toThrow(
      "already exists and publishes no port (proxy-port none), not 80 as 'proxy-port' asks; nothing was changed. The proxy is shared by every app on the host: set proxy-port to none"
    )
    expect(docker.calls.filter(c => /^(create|start|remove)/.test(c))).toEqual([])
  })

  it('an existing proxy on the asked address (or every address for 0.0.0.0) is used as it is', async () => {
    const docker = new FakeDocker()
    existing(docker, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] })
    await bed({ ...plain, hostIp: '127.0.0.1' }, docker).router.ensure('cutover-web')
    const docker2 = new FakeDocker()
    existing(docker2, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] })
    await bed({ ...plain, hostIp: '0.0.0.0' }, docker2).router.ensure('cutover-web')
    await bed(plain, docker2).router.ensure('cutover-web')
    expect([...docker.calls, ...docker2.calls].filter(c => /^(create |remove)/.test(c))).toEqual([])
  })
})

describe('PROXY protocol from trusted-proxies', () => {
  it('the map: each source with the apps that trust it; an app removes only its own claims', () => {
    let map = updateProxyProtocolMap(EMPTY_PROXY_PROTOCOL_MAP, 'a', ['172.18.0.0/16', '10.0.0.5'])
    map = updateProxyProtocolMap(map, 'b', ['172.18.0.0/16'])
    expect(map).toBe(`${EMPTY_PROXY_PROTOCOL_MAP}10.0.0.5 a\n172.18.0.0/16 a,b\n`)
    expect(proxyProtocolSources(map, 'b')).toEqual(['172.18.0.0/16'])
    map = updateProxyProtocolMap(map, 'a', [])
    expect(map).toBe(`${EMPTY_PROXY_PROTOCOL_MAP}172.18.0.0/16 b\n`)
    expect(updateProxyProtocolMap(map, 'b', ['172.18.0.0/16'])).toBe(map)
    expect(updateProxyProtocolMap(map, 'b', [])).toBe(EMPTY_PROXY_PROTOCOL_MAP)
  })

  it("an app's proxy-protocol puts its trusted-proxies in the map by one tested reload; the next run changes nothing", async () => {
    const docker = new FakeDocker()
    docker.networks.add('edge')
    const tls = { mode: 'off' as const, httpsPort: 443, redirect: true, hsts: false, trustedProxies: ['172.30.0.0/16'] }
    const settings = { ...plain, port: 80, unpublished: true, networks: ['edge'], proxyProtocol: true, tls }
    const first = bed(settings, docker)
    await first.router.ensure('cutover-web')
    expect(first.conf().get(PROXY_PROTOCOL_MAP)).toBe(`${EMPTY_PROXY_PROTOCOL_MAP}172.30.0.0/16 web\n`)
    expect(first.log.text()).toContain('The proxy p expects a PROXY protocol header from 172.30.0.0/16 (proxy-protocol of web): reloading it')
    const reloads = docker.haproxy.reloadedWith.length
    expect(reloads).toBeGreaterThan(0)
    expect(docker.haproxy.reloadedWith.at(-1)!.get(PROXY_PROTOCOL_MAP)).toContain('172.30.0.0/16 web')

    await bed(settings, docker).router.ensure('cutover-web')
    expect(docker.haproxy.reloadedWith.length).toBe(reloads)

    // another app without proxy-protocol leaves web's claim; web turning it off removes it
    await bed({ ...plain, port: 80, unpublished: true, networks: ['edge'] }, docker, 'other').router.ensure('cutover-other')
    expect(first.conf().get(PROXY_PROTOCOL_MAP)).toContain('172.30.0.0/16 web')
    await bed({ ...settings, proxyProtocol: undefined }, docker).router.ensure('cutover-web')
    expect(first.conf().get(PROXY_PROTOCOL_MAP)).toBe(EMPTY_PROXY_PROTOCOL_MAP)
  })

  it('the base expects the header only from the map, never on the probe port; real HAProxy accepts it', () => {
    const base = renderBaseConfig(30, 'p')
    expect(base).toContain(`bind :${HAPROXY_PROBE_PORT}\n`)
    expect(base).toContain(
      `tcp-request connection expect-proxy layer4 if !{ dst_port ${HAPROXY_PROBE_PORT} } { src,map_ip(${HAPROXY_CONF_DIR}/${PROXY_PROTOCOL_MAP}) -m found }`
    )
    // haproxy -c on the rendered base with the shared files in place (HAProxy is on the test bed, scripts/testbed/up.sh)
    const dir = tempDir('cutover-edge-')
    const conf = join(dir, 'conf')
    mkdirSync(conf)
    for (const f of ['domains.map', 'wildcards.map', 'acme.map', 'certs.list', 'request-log.map']) writeFileSync(join(conf, f), '# empty\n')
    writeFileSync(join(conf, 'servers.state'), '1\n')
    writeFileSync(join(conf, PROXY_PROTOCOL_MAP), updateProxyProtocolMap(EMPTY_PROXY_PROTOCOL_MAP, 'web', ['172.18.0.0/16', '2001:db8::/32']))
    const local = base.replaceAll(HAPROXY_CONF_DIR, conf).replace(/stats socket \S+/, `stats socket ${join(dir, 'admin.sock')}`)
    writeFileSync(join(dir, 'base.cfg'), local)
    const out = execFileSync('haproxy', ['-c', '-f', join(dir, 'base.cfg')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    expect(out).toContain('Configuration file is valid')
  })
})

describe('where cutover verifies behind an edge', () => {
  const ask = async (settings: ProxySettings) => {
    const docker = new FakeDocker()
    docker.networks.add('edge')
    const b = bed(settings, docker)
    await b.router.ensure('cutover-web')
    await b.router.verify(route, '/health', 1)
    return b.asked[0]
  }

  it('the public port from the host when it serves plain HTTP', async () => {
    expect(await ask(plain)).toEqual({ host: '127.0.0.1', port: 8080 })
    expect(await ask({ ...plain, hostIp: '10.0.0.5' })).toEqual({ host: '10.0.0.5', port: 8080 })
  })

  it("the proxy's probe port on its network with proxy-port none or proxy-protocol", async () => {
    expect(await ask({ ...plain, port: 80, unpublished: true, networks: ['edge'] })).toEqual({ host: '172.18.0.2', port: HAPROXY_PROBE_PORT })
    const tls = { mode: 'off' as const, httpsPort: 443, redirect: true, hsts: false, trustedProxies: ['127.0.0.1'] }
    expect(await ask({ ...plain, hostIp: '127.0.0.1', proxyProtocol: true, tls })).toEqual({ host: '172.18.0.2', port: HAPROXY_PROBE_PORT })
  })
})

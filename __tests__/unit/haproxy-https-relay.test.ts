import type Docker from 'dockerode'
import type { ProxySettings, TlsSettings } from '../../src/core/config.js'
import { LABEL } from '../../src/core/names.js'
import { BASE_FILE, HAPROXY_CONF_DIR, PROXY_PROTOCOL_MAP, renderBaseConfig } from '../../src/proxy/haproxy-config.js'
import { HOLDER_OFF_VAR } from '../../src/proxy/haproxy-holder-config.js'
import { httpsPath, renderHttpsRelay } from '../../src/proxy/haproxy-https-relay.js'
import { HaproxyRouter } from '../../src/proxy/haproxy.js'
import { ProxyError } from '../../src/proxy/proxy-container.js'
import { FakeDocker } from '../support/fake-docker.js'
import { RecordingLog } from '../support/fakes.js'

// Issue #22: HTTPS added to a proxy created without an HTTPS port is published by a relay container
// beside it (Docker publishes ports only at creation), never by re-creating the proxy.

const TLS: TlsSettings = { mode: 'custom', httpsPort: 8443, redirect: false, hsts: false, trustedProxies: [] }
const settings: ProxySettings = {
  type: 'haproxy',
  name: 'p',
  image: 'haproxy:3.0-alpine',
  port: 8080,
  domains: ['app.example.com'],
  drainTimeoutMs: 1000,
  tls: TLS
}
const NETWORK = { subnets: ['172.18.0.0/16'], gateways: ['172.18.0.1'] }

describe("the HTTPS relay's configuration", () => {
  const text = renderHttpsRelay('p')

  it("forwards TCP from its HTTPS port to the proxy's relayed listener with a PROXY protocol v2 header (the client's address)", () => {
    expect(text).toMatch(/^listen https\n {2}bind :443\n {2}server proxy p:8443 send-proxy-v2 resolvers docker init-addr none\n$/m)
    expect(text).toMatch(/^ {2}mode tcp$/m)
  })

  it("finds the proxy through Docker's DNS at run time only (a new address is followed; nothing waits on the host's resolver)", () => {
    expect(text).toContain('nameserver dns 127.0.0.11:53')
    expect(text).not.toContain('libc')
  })

  it('keeps idle tunnels (WebSockets) as long as the proxy does', () => {
    expect(text).toMatch(/timeout client 1h\n {2}timeout server 1h/)
    expect(renderBaseConfig(30, 'p')).toContain('timeout tunnel 1h')
  })
})

describe("the proxy's relayed HTTPS listener", () => {
  it('exists only while HTTPS is relayed: TLS as on the public port, after a PROXY header', () => {
    expect(renderBaseConfig(30, 'p')).not.toContain(':8443')
    const base = renderBaseConfig(30, 'p', { httpsRelay: NETWORK })
    const publicBind = /^ {2}bind :443 (.*)$/m.exec(base)![1]
    expect(base).toContain(`  bind :8443 ${publicBind} accept-proxy\n`)
    // The public port never takes a PROXY header from anyone but trusted edges (as before).
    expect(publicBind).not.toContain('accept-proxy')
  })

  it("takes PROXY headers only from the proxy's network, never from its gateway (the host), and before any other rule", () => {
    const base = renderBaseConfig(30, 'p', { httpsRelay: { subnets: ['172.18.0.0/16', 'fd00:1::/64'], gateways: ['172.18.0.1', 'fd00:1::1'] } })
    const rules = base.split('\n').filter(l => l.startsWith('  tcp-request connection'))
    expect(rules.slice(0, 2)).toEqual([
      '  tcp-request connection reject if { dst_port 8443 } !{ src 172.18.0.0/16 fd00:1::/64 }',
      '  tcp-request connection reject if { dst_port 8443 } { src 172.18.0.1 fd00:1::1 }'
    ])
  })

  it('is declared only while the holder serves (a generation takes it over with the other listeners)', () => {
    const base = renderBaseConfig(30, 'p', { httpsRelay: NETWORK })
    const guarded = [...base.matchAll(new RegExp(`\\.if !defined\\(${HOLDER_OFF_VAR}\\)\\n([\\s\\S]*?)\\.endif`, 'g'))].map(m => m[1]).join('\n')
    expect(guarded).toContain('bind :8443 ')
  })
})

describe('how HTTPS reaches the proxy container', () => {
  const container = (https: boolean, kind = 'haproxy') =>
    ({
      Config: { Labels: { [LABEL.proxy]: kind } },
      HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8080' }], ...(https ? { '443/tcp': [{ HostPort: '8443' }] } : {}) } }
    }) as unknown as Docker.ContainerInspectInfo
  const on = { mode: 'custom' } as const

  it('published by the container, or by the relay when the container publishes none', () => {
    expect(httpsPath(container(true), {}, on, undefined)).toBe('published')
    expect(httpsPath(container(false), {}, on, undefined)).toBe('relay')
    expect(httpsPath(container(false), {}, on, '# Managed by cutover: source -> apps.\n')).toBe('relay')
  })

  it('nothing to do with tls off, with proxy-port none (an edge reaches it on its network) or for another kind of container', () => {
    expect(httpsPath(container(false), {}, { mode: 'off' }, undefined)).toBe('none')
    expect(httpsPath(container(false), { unpublished: true }, on, undefined)).toBe('none')
    expect(httpsPath(container(false, 'edge'), {}, on, undefined)).toBe('none')
  })

  it("re-created when an edge sends PROXY headers (this run's proxy-protocol, or another app's sources): the relay's own would hide them", () => {
    expect(httpsPath(container(false), { proxyProtocol: true }, on, undefined)).toBe('recreate')
    expect(httpsPath(container(false), {}, on, '# header\n10.0.0.0/8 shop\n')).toBe('recreate')
    expect(httpsPath(container(true), { proxyProtocol: true }, on, undefined)).toBe('published')
  })
})

describe('HaproxyRouter: tls on a proxy created without an HTTPS port', () => {
  function bed(docker: FakeDocker, more: Partial<ProxySettings> = {}) {
    const log = new RecordingLog()
    const locks = { taken: 0 }
    const lockProxy = async () => {
      locks.taken++
      return { release: () => undefined }
    }
    const router = new HaproxyRouter(
      docker.docker,
      () => Promise.reject(new Error('no HTTP')),
      () => docker.openAdminSocket('p'),
      { ...settings, ...more },
      'web',
      undefined,
      log,
      lockProxy
    )
    return { router, log, locks }
  }

  /** A running proxy that publishes HTTP only (created without tls and https-port), with this version's files. */
  async function httpOnlyProxy(): Promise<FakeDocker> {
    const docker = new FakeDocker()
    docker.images.add(settings.image)
    await bed(docker, { tls: { ...TLS, mode: 'off' } }).router.ensure('cutover-web')
    expect(docker.containers.get('p')!.portBindings).toEqual({ '80/tcp': [{ HostPort: '8080' }] })
    docker.calls.length = 0
    return docker
  }

  it('the relay publishes https-port and the proxy gains its listener by a reload: the proxy is not re-created', async () => {
    const docker = await httpOnlyProxy()
    const proxyId = docker.containers.get('p')!.Id
    const { router, log } = bed(docker)
    await router.ensure('cutover-web')
    expect(docker.containers.get('p')!.Id).toBe(proxyId)
    // The listener first (tested, then a reload), then the relay that forwards to it.
    expect(docker.calls.filter(c => /^(create|start|remove|kill|exec)/.test(c))).toEqual([
      `exec haproxy -c -f ${HAPROXY_CONF_DIR} p`,
      'kill SIGUSR2 p',
      'create p-https',
      'start p-https'
    ])
    expect(docker.haproxy.reloadedWith.at(-1)!.get(BASE_FILE)).toContain(
      'tcp-request connection reject if { dst_port 8443 } !{ src 172.18.0.0/16 }\n  tcp-request connection reject if { dst_port 8443 } { src 172.18.0.1 }'
    )
    const relay = docker.containers.get('p-https')!
    expect(relay).toMatchObject({
      image: settings.image,
      running: true,
      labels: { [LABEL.proxy]: 'https-relay' },
      portBindings: { '443/tcp': [{ HostPort: '8443' }] }
    })
    expect(Object.keys(relay.networks)).toEqual(['p-net'])
    expect(docker.filesOf('p-https', '/').get('cutover-https-relay.cfg')).toBe(renderHttpsRelay('p'))
    expect(log.text()).toContain('Publishing HTTPS of the proxy p on port 8443 through p-https (the proxy was created without an HTTPS port; it keeps serving')
    expect(log.text()).not.toContain('re-creating')
  })

  it("published at the address of the proxy's other ports; once in place, the next run changes nothing and takes no lock", async () => {
    const docker = new FakeDocker()
    docker.images.add(settings.image)
    await bed(docker, { tls: { ...TLS, mode: 'off' }, hostIp: '127.0.0.1' }).router.ensure('cutover-web')
    await bed(docker, { hostIp: '127.0.0.1' }).router.ensure('cutover-web')
    expect(docker.containers.get('p-https')!.portBindings).toEqual({ '443/tcp': [{ HostIp: '127.0.0.1', HostPort: '8443' }] })
    const calls = docker.calls.length
    const again = bed(docker, { hostIp: '127.0.0.1' })
    await again.router.ensure('cutover-web')
    expect(again.locks.taken).toBe(0)
    expect(docker.calls.slice(calls)).toEqual([])
    // A run with tls off keeps the listener (other apps' HTTPS goes through the relay).
    const off = bed(docker, { hostIp: '127.0.0.1', tls: { ...TLS, mode: 'off' } })
    await off.router.ensure('cutover-web')
    expect(off.locks.taken).toBe(0)
  })

  it('a run that stopped half-way converges: a relay left created but not started is made again, the listener is there', async () => {
    const docker = await httpOnlyProxy()
    docker.add({ name: 'p-https', labels: { [LABEL.proxy]: 'https-relay' }, running: false, portBindings: { '443/tcp': [{ HostPort: '8443' }] } })
    await bed(docker).router.ensure('cutover-web')
    expect(docker.calls.filter(c => /^(create|start|remove)/.test(c))).toEqual(['remove p-https', 'create p-https', 'start p-https'])
    expect(docker.containers.get('p-https')!.running).toBe(true)
    expect(docker.filesOf('p', HAPROXY_CONF_DIR).get(BASE_FILE)).toContain('bind :8443 ')
  })

  it('another https-port than the relay publishes is refused before anything changes', async () => {
    const docker = await httpOnlyProxy()
    await bed(docker).router.ensure('cutover-web')
    docker.calls.length = 0
    const { router, locks } = bed(docker, { tls: { ...TLS, httpsPort: 9443 } })
    const failure = router.ensure('cutover-web')
    await expect(failure).rejects.toThrow(ProxyError)
    await expect(failure).rejects.toThrow(
      "The proxy container p already publishes HTTPS on port 8443 (through p-https), not 9443 as 'https-port' asks; nothing was changed. Set https-port to match"
    )
    expect(locks.taken).toBe(0)
    expect(docker.calls.filter(c => /^(create|start|remove|kill|exec|putArchive)/.test(c))).toEqual([])
  })

  it("a container of someone else under the relay's name is refused, never removed; the proxy keeps serving HTTP", async () => {
    const docker = await httpOnlyProxy()
    docker.add({ name: 'p-https', labels: {}, running: true })
    const failure = bed(docker).router.ensure('cutover-web')
    await expect(failure).rejects.toThrow(ProxyError)
    await expect(failure).rejects.toThrow(
      "The container p-https exists and is not cutover's https-relay (no label cutover.proxy=https-relay); nothing was changed. cutover puts a relay of the proxy under that name: rename or remove that container on the host, and run again."
    )
    expect(docker.calls.filter(c => /^(remove|create|kill|exec|putArchive)/.test(c))).toEqual([])
    expect(docker.containers.get('p')!.running).toBe(true)
  })

  it('an edge sending PROXY headers (proxy-protocol): re-created once as before, saying why', async () => {
    const docker = await httpOnlyProxy()
    const { router, log } = bed(docker, { proxyProtocol: true, tls: { ...TLS, trustedProxies: ['10.0.0.0/8'] } })
    await router.ensure('cutover-web')
    expect(log.text()).toContain(
      'The proxy p publishes no HTTPS port, and an edge sends it PROXY protocol headers (proxy-protocol), which a relay in front would hide: re-creating it to publish 8443'
    )
    expect(docker.calls.filter(c => /^(create|remove) /.test(c))).toEqual(['remove p', 'create p'])
    expect(docker.containers.get('p')!.portBindings['443/tcp']).toEqual([{ HostPort: '8443' }])
    expect(docker.containers.has('p-https')).toBe(false)
  })

  it('another app already trusting an edge (its sources in the proxy-protocol map) makes the same choice', async () => {
    const docker = await httpOnlyProxy()
    docker.filesOf('p', HAPROXY_CONF_DIR).set(PROXY_PROTOCOL_MAP, '# map\n10.0.0.0/8 shop\n')
    await bed(docker).router.ensure('cutover-web')
    expect(docker.calls.filter(c => /^(create|remove) /.test(c))).toEqual(['remove p', 'create p'])
  })

  it('a proxy container made anew takes the port back from the relay: HTTPS published by it, no extra hop, even with tls off', async () => {
    const docker = await httpOnlyProxy()
    await bed(docker).router.ensure('cutover-web')
    docker.containers.delete('p')
    docker.calls.length = 0
    const { router, log } = bed(docker, { tls: { ...TLS, mode: 'off' } })
    await router.ensure('cutover-web')
    expect(docker.calls.filter(c => /^(create|remove|start) /.test(c))).toEqual(['remove p-https', 'create p', 'start p'])
    expect(docker.containers.get('p')!.portBindings['443/tcp']).toEqual([{ HostPort: '8443' }])
    expect(log.text()).toContain('Removing p-https: the new proxy container publishes HTTPS itself')
    expect(docker.filesOf('p', HAPROXY_CONF_DIR).get(BASE_FILE)).not.toContain(':8443')
  })
})

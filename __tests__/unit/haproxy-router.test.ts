import type { ProxySettings } from '../../src/core/config.js'
import { HOLDER_FILE, HOLDER_SWITCH_CFG, holderOffSince, renderHolderFile } from '../../src/proxy/haproxy-holder-config.js'
import { LABEL } from '../../src/core/names.js'
import type { Route } from '../../src/engine/ports.js'
import { HAPROXY_CAPABILITIES } from '../../src/proxy/capabilities.js'
import { appFile, backendName, BASE_FILE, DOMAINS_MAP, EMPTY_SERVER_STATE, HAPROXY_CONF_DIR, SERVER_STATE_FILE } from '../../src/proxy/haproxy-config.js'
import { HaproxyRouter } from '../../src/proxy/haproxy.js'
import { ProxyError, type HostFacts } from '../../src/proxy/proxy-container.js'
import { createRouter } from '../../src/proxy/routers.js'
import { FakeDocker } from '../support/fake-docker.js'
import { RecordingLog } from '../support/fakes.js'

// HaproxyRouter against a fake Docker (support/fake-docker.ts): its container's lifecycle, and
// routes through the runtime API. The e2e tests run it against a real HAProxy.

const settings: ProxySettings = { type: 'haproxy', name: 'p', image: 'haproxy:3.0-alpine', port: 8080, domains: ['app.example.com'], drainTimeoutMs: 1000 }
const blue: Route = { app: 'web', color: 'blue', releaseId: 'r1', appPort: 3000 }
const green: Route = { app: 'web', color: 'green', releaseId: 'r2', appPort: 3000 }

function bed(docker = new FakeDocker(), facts: HostFacts = {}) {
  docker.images.add(settings.image)
  const log = new RecordingLog()
  const locks = { taken: 0 }
  const lockProxy = async () => {
    locks.taken++
    return { release: () => undefined }
  }
  const openTcp = () => Promise.reject(new Error('no HTTP in these tests'))
  const asked = { facts: 0 }
  const hostFacts = async () => {
    asked.facts++
    return facts
  }
  const router = new HaproxyRouter(docker.docker, openTcp, () => docker.openAdminSocket('p'), settings, 'web', undefined, log, lockProxy, hostFacts)
  return { docker, router, log, locks, asked, conf: () => docker.filesOf('p', HAPROXY_CONF_DIR) }
}

/** A proxy container as an earlier run left it. */
function existing(docker: FakeDocker, kind: string, running: boolean) {
  return docker.add({
    name: 'p',
    labels: { [LABEL.proxy]: kind },
    running,
    networks: { 'p-net': { IPAddress: '172.18.0.2' }, 'cutover-web': { IPAddress: '172.19.0.2' } },
    portBindings: { '80/tcp': [{ HostPort: '8080' }] }
  })
}

describe('HaproxyRouter: a proxy made by an earlier cutover (one container, its command line without the holder file; issue #22)', () => {
  function olderProxy(more: Partial<ProxySettings>) {
    const docker = new FakeDocker()
    docker.networks.add('p-net')
    docker.images.add('haproxy:2.8')
    docker.images.add(settings.image)
    existing(docker, 'haproxy', true).image = 'haproxy:2.8'
    const log = new RecordingLog()
    const lockProxy = async () => ({ release: () => undefined })
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
    return { docker, router, log }
  }

  it("another proxy-image given: taken over with no re-creation, this version's base first, then a generation takes the sockets and the directory's switch turns the container off", async () => {
    const { docker, router, log } = olderProxy({ imageGiven: true })
    const id = docker.containers.get('p')!.Id
    await router.ensure('cutover-web')
    expect(log.text()).not.toContain('re-creating')
    expect(log.text()).toContain(`Handing the proxy p over from haproxy:2.8 to ${settings.image}`)
    expect(docker.containers.get('p')).toMatchObject({ Id: id, image: 'haproxy:2.8', running: true })
    expect(docker.calls.filter(c => /^(remove|create|start|kill|exec) /.test(c))).toEqual([
      `exec haproxy -c -f ${HAPROXY_CONF_DIR} p`,
      'kill SIGUSR2 p',
      'create p-g1',
      'start p-g1',
      'kill SIGUSR2 p'
    ])
    const files = docker.filesOf('p', HAPROXY_CONF_DIR)
    expect(holderOffSince(files.get(HOLDER_SWITCH_CFG))).toBe(docker.containers.get('p')!.startedAt ?? '0001-01-01T00:00:00Z')
    expect(holderOffSince(files.get(HOLDER_FILE))).toBeUndefined()
    expect(docker.containers.get('p-g1')!.image).toBe(settings.image)
  })

  it('no proxy-image given (the default): left as it is, whatever image it runs', async () => {
    const { docker, router, log } = olderProxy({})
    await router.ensure('cutover-web')
    expect(log.text()).not.toContain('re-creating')
    expect(docker.calls.filter(c => /^(remove|create) p$/.test(c))).toEqual([])
    expect(docker.containers.get('p')!.image).toBe('haproxy:2.8')
  })
})

describe('HaproxyRouter: the proxy container', () => {
  it('declares every capability (core/capabilities.ts), and is what proxy-type haproxy makes', () => {
    const { router, docker } = bed()
    expect(router.capabilities).toBe(HAPROXY_CAPABILITIES)
    expect(Object.values(router.capabilities).filter(v => v === false)).toEqual([])
    const made = createRouter(settings, 'web', {
      docker: docker.docker,
      openTcp: () => Promise.reject(new Error('unused')),
      openUnixSocket: () => Promise.reject(new Error('unused')),
      registry: undefined,
      log: new RecordingLog(),
      lockProxy: async () => ({ release: () => undefined }),
      hostFacts: async () => ({})
    })
    expect(made).toBeInstanceOf(HaproxyRouter)
  })

  it('creates it when missing: labelled, on its port, its config in a volume, started with the shared files, under the lock', async () => {
    const { docker, router, log, locks, conf } = bed()
    await router.ensure('cutover-web')
    const proxy = docker.containers.get('p')!
    expect(proxy).toMatchObject({ image: settings.image, running: true, labels: { [LABEL.proxy]: 'haproxy' } })
    expect(proxy.portBindings).toEqual({ '80/tcp': [{ HostPort: '8080' }] })
    expect(Object.keys(proxy.networks).sort()).toEqual(['cutover-web', 'p-net'])
    expect([...conf().keys()].sort()).toEqual(
      [
        BASE_FILE,
        'acme.map',
        'certs.list',
        DOMAINS_MAP,
        'proxy-protocol.map',
        SERVER_STATE_FILE,
        'wildcards.map',
        'releases.map',
        'request-log.map',
        HOLDER_FILE,
        HOLDER_SWITCH_CFG
      ].sort()
    )
    expect(docker.calls.filter(c => /^(create|start|createNetwork)/.test(c))).toEqual(['createNetwork p-net', 'create p', 'start p'])
    expect(locks.taken).toBe(1)
    expect(log.text()).toContain('Creating the proxy p on port 8080 (haproxy:3.0-alpine, HAProxy)')
  })

  it("renders the host's facts into the base, read once per run: the Docker socket's group and one thread on a 2-CPU host; a 4-CPU host rewrites it", async () => {
    const docker = new FakeDocker()
    const small = bed(docker, { dockerGroup: 998, cpus: 2 })
    await small.router.ensure('cutover-web')
    await small.router.ensure('cutover-web')
    expect(small.asked.facts).toBe(1)
    const base = small.conf().get(BASE_FILE)!
    expect(base).toContain('mode 660 gid 998 level admin')
    expect(base).toMatch(/^ {2}nbthread 1$/m)
    const large = bed(docker, { dockerGroup: 998, cpus: 4 })
    await large.router.ensure('cutover-web')
    expect(large.conf().get(BASE_FILE)).not.toContain('nbthread')
    expect(large.locks.taken).toBe(1)
  })

  it('starts it when stopped, creating nothing; once current, another run takes no lock and writes nothing', async () => {
    const docker = new FakeDocker()
    docker.networks.add('p-net')
    existing(docker, 'haproxy', false)
    const first = bed(docker)
    await first.router.ensure('cutover-web')
    expect(docker.calls.filter(c => /^(create|start|remove)/.test(c))).toEqual(['start p'])
    expect(first.conf().get(BASE_FILE)).toContain('hard-stop-after 30s')
    const writes = docker.calls.length
    const second = bed(docker)
    await second.router.ensure('cutover-web')
    expect(second.locks.taken).toBe(0)
    expect(docker.calls.slice(writes)).toEqual([])
  })

  it('backends an older cutover wrote (servers resolved through libc as the proxy loads) are rewritten with the base, running or stopped', async () => {
    for (const running of [true, false]) {
      const docker = new FakeDocker()
      existing(docker, 'haproxy', running)
      const files = docker.filesOf('p', HAPROXY_CONF_DIR)
      files.set(BASE_FILE, '# an older base\n')
      files.set(appFile('shop'), 'backend app_shop\n  server blue shop-blue:3000 resolvers docker init-addr last,libc,none disabled\n')
      files.set('verify-shop.map', 'token init-addr last,libc,none\n')
      await bed(docker).router.ensure('cutover-web')
      expect(files.get(appFile('shop'))).toBe('backend app_shop\n  server blue shop-blue:3000 resolvers docker init-addr last,none disabled\n')
      // Only backends (*.cfg): other files are not HAProxy's configuration.
      expect(files.get('verify-shop.map')).toBe('token init-addr last,libc,none\n')
      expect(docker.calls.filter(c => /^(kill|start)/.test(c))).toEqual([running ? 'kill SIGUSR2 p' : 'start p'])
    }
  })

  it('a holder started again with its switch left "off" for an earlier start (no generation live): set back to serving, so its next reload does not turn it off', async () => {
    for (const file of [HOLDER_FILE, HOLDER_SWITCH_CFG]) {
      const { docker, router } = bed()
      await router.ensure('cutover-web')
      docker.filesOf('p', HAPROXY_CONF_DIR).set(file, renderHolderFile({ holderStartedAt: '2026-12-05T14:00:00.000Z' }))
      const again = bed(docker)
      await again.router.ensure('cutover-web')
      expect(again.locks.taken).toBe(1)
      for (const f of [HOLDER_FILE, HOLDER_SWITCH_CFG]) expect(holderOffSince(docker.filesOf('p', HAPROXY_CONF_DIR).get(f))).toBeUndefined()
      expect(docker.calls.filter(c => c.startsWith('kill'))).toEqual([])
    }
  })

  it('refuses a container of another kind under its name, changing nothing', async () => {
    const docker = new FakeDocker()
    existing(docker, 'edge', true)
    const { router, locks } = bed(docker)
    const failure = router.ensure('cutover-web')
    await expect(failure).rejects.toThrow(ProxyError)
    await expect(failure).rejects.toThrow(
      /^The container p exists and is not a cutover HAProxy proxy \(a cutover edge proxy\)\. Choose another proxy-name for proxy-type haproxy, or remove that container/
    )
    expect(docker.calls).toEqual([])
    expect(locks.taken).toBe(0)
  })

  it('a proxy it created that cannot start (its port taken) is removed, and the error names the port and what holds it', async () => {
    const { docker, router } = bed()
    docker.startError =
      'driver failed programming external connectivity on endpoint p (73f4): Error starting userland proxy: listen tcp4 0.0.0.0:8080: bind: address already in use'
    const failure = router.ensure('cutover-web')
    await expect(failure).rejects.toThrow(ProxyError)
    await expect(failure).rejects.toThrow(
      /^The proxy p could not start: port 8080 on the host is taken \(a process on the host listens on it, not a container\)\. Nothing was switched; the proxy container was removed so the next run starts clean\. Free port 8080, or choose another proxy-port, and run again\.$/
    )
    expect(docker.containers.has('p')).toBe(false)
    // The next run, the port free, creates it again and starts it.
    docker.startError = undefined
    await bed(docker).router.ensure('cutover-web')
    expect(docker.containers.get('p')?.running).toBe(true)
  })

  it('a port held by another container is said with its name; a proxy that ran before is never removed over a failed start', async () => {
    const { docker, router } = bed()
    docker.listed = [{ Id: 'x', Names: ['/other-proxy'], Ports: [{ PublicPort: 8080 }] }]
    docker.startError = 'driver failed programming external connectivity on endpoint p: Bind for 0.0.0.0:8080 failed: port is already allocated'
    await expect(router.ensure('cutover-web')).rejects.toThrow(/port 8080 on the host is taken \(the container other-proxy publishes it\)/)
    expect(docker.containers.has('p')).toBe(false)

    existing(docker, 'haproxy', false).startedAt = '2026-01-01T00:00:00Z'
    await expect(bed(docker).router.ensure('cutover-web')).rejects.toThrow(/Bind for 0\.0\.0\.0:8080 failed/)
    expect(docker.containers.has('p')).toBe(true)
  })

  it('refuses a proxy that publishes another port than proxy-port', async () => {
    const docker = new FakeDocker()
    existing(docker, 'haproxy', true).portBindings = { '80/tcp': [{ HostPort: '9090' }] }
    await expect(bed(docker).router.ensure('cutover-web')).rejects.toThrow(
      /already exists and publishes 9090, not 8080 as 'proxy-port' asks; nothing was changed\..*set proxy-port to 9090 to use it as it is\. To move it, remove it on the host \(docker rm -f p;/
    )
  })
})

describe('HaproxyRouter: routes', () => {
  it('a new app is added by a tested reload; the next switch goes through the runtime API alone', async () => {
    const { docker, router, log, conf } = bed()
    await router.ensure('cutover-web')
    expect(await router.current()).toBeUndefined()
    await router.apply(blue)
    expect(docker.calls.filter(c => /^(exec|kill)/.test(c))).toEqual([`exec haproxy -c -f ${HAPROXY_CONF_DIR} p`, 'kill SIGUSR2 p'])
    expect(await router.current()).toEqual({ color: 'blue', releaseId: 'r1' })
    expect(docker.haproxy.backends).toContain(backendName('web'))
    expect(conf().get(DOMAINS_MAP)).toContain('app.example.com')

    const reloads = docker.calls.filter(c => c.startsWith('kill')).length
    const sent = docker.haproxy.lines.length
    await router.apply(green)
    expect(docker.calls.filter(c => c.startsWith('kill')).length).toBe(reloads)
    const switchLine = docker.haproxy.lines.slice(sent).find(l => l.includes('set server'))!
    expect(switchLine).toMatch(new RegExp(`set server ${backendName('web')}/green\\S* state ready`))
    expect(switchLine).toContain('add map')
    expect(log.text()).toContain('Switched web to green on the proxy p through its runtime API (no reload)')
    // What the proxy's files say (another run, reading afresh) is the new route.
    expect(await bed(docker).router.current()).toEqual({ color: 'green', releaseId: 'r2' })
  })

  it('a switch at run time comes first, then the files, both under the proxy lock; served() names what the running proxy serves', async () => {
    const { docker, router, locks } = bed()
    await router.ensure('cutover-web')
    await router.apply(blue)
    const taken = locks.taken
    const from = docker.trail.length
    await router.apply(green)
    expect(locks.taken).toBe(taken + 1)
    const trail = docker.trail.slice(from)
    const switchAt = trail.findIndex(l => l.startsWith('admin ') && l.includes('set server') && l.includes('green'))
    const filesAt = trail.indexOf('putArchive p')
    expect(switchAt).toBeGreaterThanOrEqual(0)
    expect(filesAt).toBeGreaterThan(switchAt)
    // green served nothing before: its servers pass through maintenance (stale idle connections close)
    expect(trail[switchAt]).toMatch(/set server app_web\/green state maint;.*set server app_web\/green state ready/)
    // switching back to a color that serves: no maintenance on the way
    await router.apply({ ...green, releaseId: 'r2b' })
    expect(docker.haproxy.lines.filter(l => l.includes('set server')).at(-1)).not.toContain('green state maint')
    expect(await router.served()).toBe('r2b')
    expect(await bed(docker).router.current()).toEqual({ color: 'green', releaseId: 'r2b' })
    await router.apply({ ...blue, releaseId: 'r3' })
    expect(await router.served()).toBe('r3')
  })

  it("a canary on the drained standby's color: its servers pass through maintenance (stale idle connections close); its next weight does not", async () => {
    const { docker, router } = bed()
    await router.ensure('cutover-web')
    await router.apply(blue)
    await router.apply(green)
    const canary = { ...blue, releaseId: 'r3' }
    await router.canary(green, canary, 20)
    const first = docker.haproxy.lines.filter(l => l.includes('set server')).at(-1)!
    expect(first).toMatch(/set server app_web\/blue state maint;.*set server app_web\/blue weight 20; set server app_web\/blue state ready/)
    expect(first).not.toContain('green state maint')
    await router.canary(green, canary, 50)
    expect(docker.haproxy.lines.filter(l => l.includes('set server')).at(-1)).not.toContain('state maint')
  })

  it('files the proxy will not take after the switch at run time: switched back, files and runtime as before', async () => {
    const { docker, router, conf } = bed()
    await router.ensure('cutover-web')
    await router.apply(blue)
    await router.apply(green)
    const before = conf().get(appFile('web'))
    let puts = 0
    // The first write (the new route) fails; the restore's writes go through.
    docker.putArchiveError = () => (++puts === 1 ? new Error('disk full') : undefined)
    await expect(router.apply({ ...blue, releaseId: 'r3' })).rejects.toThrow('disk full')
    expect(conf().get(appFile('web'))).toBe(before)
    // green serves again, and the runtime's verify map names its release, not the one that failed
    expect(await router.served()).toBe('r2')
    expect(docker.haproxy.lines.filter(l => l.includes('set server')).at(-1)).toMatch(/green\S* state ready/)
  })

  it("a reload hands the running process's server addresses to the new one (init-addr last), then empties them for any later start", async () => {
    const { docker, router, conf } = bed()
    await router.ensure('cutover-web')
    // Started with no addresses handed on: its servers wait for Docker's DNS.
    expect(conf().get(SERVER_STATE_FILE)).toBe(EMPTY_SERVER_STATE)
    await router.apply(blue)
    expect(docker.haproxy.lines).toContain('show servers state')
    // Addresses handed on; states as the new files say (blue enabled and running, green disabled), not as the old process had them.
    const handed = docker.haproxy.reloadedWith.at(-1)!.get(SERVER_STATE_FILE)!.split('\n')
    expect(handed.slice(2)).toEqual([
      '3 app_web 1 blue 172.19.0.7 2 0 1 1 7 1 0 0 8 0 0 0 web-blue 3000 - 0 0 - - 0',
      '3 app_web 2 green - 2 5 1 1 10 1 0 0 0 0 0 0 web-green 3000 - 0 0 - - 0',
      // The empty line that ends HAProxy's answer (HAProxy reads past it).
      '',
      ''
    ])
    expect(conf().get(SERVER_STATE_FILE)).toBe(EMPTY_SERVER_STATE)
    // No server of the app is resolved through libc while the proxy loads.
    expect(conf().get(appFile('web'))).toMatch(/server blue web-blue:3000 resolvers docker init-addr last,none\b/)
    expect(conf().get(BASE_FILE)).toContain(`server-state-file ${HAPROXY_CONF_DIR}/${SERVER_STATE_FILE}`)
    expect([...conf().values()].join('\n')).not.toContain('libc')
  })

  it('an answer that is not a server state hands on none (the new process then waits for DNS)', async () => {
    const { docker, router } = bed()
    await router.ensure('cutover-web')
    docker.haproxy.serverState = 'Unknown command\n'
    await router.apply(blue)
    expect(docker.haproxy.reloadedWith.at(-1)!.get(SERVER_STATE_FILE)).toBe(EMPTY_SERVER_STATE)
  })

  it('a switch the runtime API refuses leaves the previous route in the files and says what was refused', async () => {
    const { docker, router, conf } = bed()
    await router.ensure('cutover-web')
    await router.apply(blue)
    const before = conf().get(appFile('web'))
    docker.haproxy.refuse = /^set server .*green/
    await expect(router.apply(green)).rejects.toThrow(/^HAProxy \(p\) refused the switch of web to green: No such server/)
    expect(conf().get(appFile('web'))).toBe(before)
    expect(await router.current()).toEqual({ color: 'blue', releaseId: 'r1' })
    expect(await bed(docker).router.current()).toEqual({ color: 'blue', releaseId: 'r1' })
  })

  it('a configuration HAProxy refuses is put back before anything reloads', async () => {
    const { docker, router, conf } = bed()
    await router.ensure('cutover-web')
    docker.configTestExit = 1
    await expect(router.apply(blue)).rejects.toThrow(/^HAProxy \(p\) refused the new configuration/)
    expect(docker.calls.filter(c => c.startsWith('kill'))).toEqual([])
    expect(conf().get(appFile('web'))).toBe('# Removed by cutover.\n')
    expect(await bed(docker).router.current()).toBeUndefined()
  })
})

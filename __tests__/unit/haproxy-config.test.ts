import { PassThrough } from 'node:stream'
import {
  appFile,
  DEFAULT_KEY,
  decodeRelease,
  EMPTY_MAP,
  encodeRelease,
  HAPROXY_CONF_DIR,
  renderAppConfig,
  proxyThreads,
  renderBaseConfig,
  renderVerifyMap,
  updateDomainMaps,
  mapConflicts,
  verifyMapFile
} from '../../src/proxy/haproxy-config.js'
import { parseRouteComment } from '../../src/proxy/nginx-config.js'
import { parseBackends, parsePid, runtimeCommand, runtimeErrors } from '../../src/proxy/haproxy-runtime.js'

const route = { app: 'myapp', color: 'green' as const, releaseId: 'myapp green 2026-01-01T00:00:00Z', appPort: 3000 }

describe('HAProxy config rendering', () => {
  it('base: admin socket only on the bind-mounted run dir, the settings the bench measured, a 404 for unknown hosts', () => {
    const base = renderBaseConfig(45, 'cutover-proxy')
    expect(base).toContain('stats socket /run/cutover/admin.sock mode 600 level admin expose-fd listeners')
    expect(base).toContain('hard-stop-after 45s')
    for (const line of [
      'option idle-close-on-response',
      'http-reuse always',
      'default-server pool-purge-delay 1s',
      'nameserver dns 127.0.0.11:53',
      'bind :80'
    ]) {
      expect(base).toContain(line)
    }
    expect(base).toContain(`map(${HAPROXY_CONF_DIR}/domains.map)`)
    expect(base).toContain(`str(${DEFAULT_KEY}),map(${HAPROXY_CONF_DIR}/domains.map)`)
    expect(base).toContain('default_backend cutover_not_found')
    expect(base).not.toMatch(/stats socket (ipv4@|:)/)
  })

  it("threads: one on a host of one or two CPUs (in the global section), HAProxy's default on more or when the count is not known", () => {
    expect([1, 2, 3, 8, undefined].map(proxyThreads)).toEqual([1, 1, undefined, undefined, undefined])
    const global = (text: string) => text.slice(text.indexOf('global\n'), text.indexOf('\ndefaults'))
    expect(global(renderBaseConfig(30, 'p', { cpus: 2 }))).toMatch(/^ {2}nbthread 1$/m)
    expect(global(renderBaseConfig(30, 'p', { cpus: 1 }))).toMatch(/^ {2}nbthread 1$/m)
    expect(renderBaseConfig(30, 'p', { cpus: 4 })).not.toContain('nbthread')
    expect(renderBaseConfig(30, 'p')).not.toContain('nbthread')
    // the group and the threads together, as a run renders them
    const both = renderBaseConfig(30, 'p', { adminGroup: 998, cpus: 2 })
    expect(both).toContain('mode 660 gid 998 level admin')
    expect(both).toContain('nbthread 1')
  })

  it('app backend: live color enabled, the other disabled, servers by name, the route marker nginx uses', () => {
    const text = renderAppConfig(route, 'tok123')
    expect(text).toContain('backend app_myapp')
    expect(text).toContain('  server blue myapp-blue:3000 resolvers docker init-addr last,none disabled\n')
    expect(text).toContain('  server green myapp-green:3000 resolvers docker init-addr last,none\n')
    expect(parseRouteComment('myapp', text)).toEqual({ color: 'green', releaseId: route.releaseId, token: 'tok123' })
    expect(text).toContain(`map(${HAPROXY_CONF_DIR}/${verifyMapFile('myapp')})`)
    expect(text).not.toMatch(/X-Cutover-Color/i)
    expect(appFile('myapp')).toBe('app-myapp.cfg')
  })

  it('verify map: the release id as one word, decoded back', () => {
    const line = renderVerifyMap('tok', route.releaseId)
    expect(line.trim().split(' ')).toHaveLength(2)
    expect(decodeRelease(encodeRelease(route.releaseId))).toBe(route.releaseId)
    expect(decodeRelease('%E0%A4%A')).toBeUndefined()
    expect(decodeRelease(undefined)).toBeUndefined()
  })

  it('domain maps: replaces only the app own entries; no domains makes it the default; wildcards longest first', () => {
    const a = updateDomainMaps({ domains: EMPTY_MAP, wildcards: EMPTY_MAP }, 'a', [])
    expect(a.domains).toContain(`${DEFAULT_KEY} app_a\n`)
    const b = updateDomainMaps(a, 'b', ['B.example.com', '*.example.com', '*.x.example.com'])
    expect(b.domains).toContain('b.example.com app_b\n')
    expect(b.domains).toContain(`${DEFAULT_KEY} app_a\n`)
    expect(b.wildcards.split('\n').filter(l => l && !l.startsWith('#'))).toEqual(['.x.example.com app_b', '.example.com app_b'])
    const b2 = updateDomainMaps(b, 'b', ['c.example.com'])
    expect(b2.domains).not.toContain('b.example.com')
    expect(b2.wildcards).toBe(EMPTY_MAP)
    // The same input again changes nothing (no reload).
    expect(updateDomainMaps(b2, 'b', ['c.example.com'])).toEqual(b2)
    // A default taken over by another app without domains.
    expect(updateDomainMaps(b2, 'c', []).domains).toContain(`${DEFAULT_KEY} app_c\n`)
    expect(updateDomainMaps(b2, 'c', []).domains).not.toContain('app_a')
  })
})

describe('mapConflicts', () => {
  it('names host names, wildcards and the default that another app holds; its own are no conflict', () => {
    let maps = updateDomainMaps({ domains: EMPTY_MAP, wildcards: EMPTY_MAP }, 'shop', ['shop.example.com', '*.cdn.example.com'])
    maps = updateDomainMaps(maps, 'blog', [])
    expect(mapConflicts(maps, 'shop', ['shop.example.com', '*.cdn.example.com'])).toEqual([])
    expect(mapConflicts(maps, 'web', ['www.example.com', 'SHOP.example.com', '*.cdn.example.com'])).toEqual([
      { name: 'shop.example.com', app: 'shop' },
      { name: '*.cdn.example.com', app: 'shop' }
    ])
    expect(mapConflicts(maps, 'web', [])).toEqual([{ name: 'the default (no domains)', app: 'blog' }])
    expect(mapConflicts(maps, 'blog', [])).toEqual([])
  })
})

/** A fake admin socket: records what was written, answers like HAProxy and closes. */
function fakeSocket(answer: string | undefined) {
  const written: string[] = []
  const open = async () => {
    const s = new PassThrough()
    const orig = s.write.bind(s)
    s.write = ((chunk: string) => {
      written.push(String(chunk))
      if (answer !== undefined)
        setImmediate(() => {
          s.push(answer)
          s.push(null)
        })
      return true
    }) as typeof s.write
    void orig
    return s
  }
  return { open, written }
}

describe('HAProxy runtime API client', () => {
  it('sends one line and reads the answer until the socket closes', async () => {
    const sock = fakeSocket('Name: HAProxy\nPid: 42\n')
    const answer = await runtimeCommand(sock.open, 'show info')
    expect(sock.written).toEqual(['show info\n'])
    expect(parsePid(answer)).toBe(42)
  })

  it('closes its side of the channel once HAProxy has answered (an SSH channel stays half-open until both sides end)', async () => {
    let stream: PassThrough | undefined
    const sock = fakeSocket('Done.\n')
    const open = async () => (stream = (await sock.open()) as PassThrough)
    await runtimeCommand(open, 'set server be_app/blue state ready')
    expect(stream?.writableEnded).toBe(true)
    expect(stream?.destroyed).toBe(true)
  })

  it('is bounded by a timeout', async () => {
    const sock = fakeSocket(undefined)
    await expect(runtimeCommand(sock.open, 'show info', 50)).rejects.toThrow(/did not answer "show info" within 50 ms/)
  })

  it('refuses a line break in a command (one command line per connection)', async () => {
    await expect(runtimeCommand(fakeSocket('').open, 'show info\nshutdown sessions')).rejects.toThrow(/one line/)
  })

  it('tells errors from the notes of a successful switch', () => {
    expect(runtimeErrors("IP changed from '172.18.0.3' to '172.18.0.4', no need to change the port.\n\n\n")).toEqual([])
    expect(runtimeErrors('\n')).toEqual([])
    expect(runtimeErrors('No such server.\n')).toEqual(['No such server.'])
    expect(parseBackends('# name\napp_a\ncutover_not_found\n')).toEqual(['app_a', 'cutover_not_found'])
  })
})

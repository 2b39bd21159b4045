import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import {
  CAPABILITY_TABLE,
  CAPABILITY_WORDS,
  capabilityMessage,
  capabilityProblem,
  type Capability,
  type RouterCapabilities,
  type RouterRequest
} from '../../src/core/capabilities.js'
import { switchMaintenance } from '../../src/engine/strategy.js'
import { Timeline } from '../../src/engine/timeline.js'
import type { Config } from '../../src/core/config.js'
import { HAPROXY_CAPABILITIES, NGINX_CAPABILITIES, proxyCapabilityProblem, ROUTER_CAPABILITIES, routersWith } from '../../src/proxy/capabilities.js'
import { ROUTERS } from '../../src/proxy/routers.js'
import { FakeClock, FakeHost, FakeLedger, FakeRouter, RecordingLog } from '../support/fakes.js'

const ALL = Object.keys(CAPABILITY_WORDS) as Capability[]
const plain: RouterRequest = { mode: 'deploy', strategy: { replicas: 1 } }
const tlsOff = { mode: 'off' as const, trustedProxies: [] }

/** A router that has everything but `lacking`. */
function without(...lacking: Capability[]): RouterCapabilities {
  return { name: 'Third', ...Object.fromEntries(ALL.map(c => [c, !lacking.includes(c)])) } as RouterCapabilities
}

/** Every input or mode a run can ask for, with the capability (any of) it needs and the value the message names. */
const ASKS: [string, Partial<RouterRequest>, Capability[], string | undefined][] = [
  ['mode', { mode: 'maintenance' }, ['maintenance'], 'maintenance'],
  ['mode', { mode: 'live' }, ['maintenance'], 'live'],
  ['mode', { mode: 'promote' }, ['weights', 'preview'], 'promote'],
  ['replicas', { strategy: { replicas: 3 } }, ['replicas'], '3'],
  ['canary-weight', { strategy: { replicas: 1, canaryWeight: 20 } }, ['weights'], '20'],
  ['watch', { strategy: { replicas: 1, watch: { durationMs: 60_000, maxErrorRate: 5 } } }, ['stats'], undefined],
  ['promote', { strategy: { replicas: 1, promote: 'manual' } }, ['preview'], 'manual'],
  ['preview-domains', { previewDomains: ['next.example.com'] }, ['preview'], undefined],
  ['sticky', { sticky: true }, ['sticky'], 'cookie'],
  ['tls', { tls: { mode: 'auto', trustedProxies: [] } }, ['tls'], 'auto'],
  ['tls', { tls: { mode: 'custom', trustedProxies: [] } }, ['tls'], 'custom'],
  ['trusted-proxies', { tls: { mode: 'off', trustedProxies: ['10.0.0.0/8'] } }, ['tls'], undefined]
]

describe('capability table', () => {
  it.each(ASKS)('%s (%j) needs %j', (input, asked, needs, value) => {
    const request = { ...plain, ...asked }
    // Refused by a router without any of what it needs, in the one message shape.
    const problem = capabilityProblem(request, without(...needs), routersWith)
    expect(problem).toMatchObject({ input, capability: needs[0] })
    const what = value === undefined ? `Input '${input}' needs` : `Input '${input}' is ${value}, which needs`
    expect(problem!.message).toBe(capabilityMessage(input, value, needs, 'Third', [...new Set(needs.flatMap(routersWith))]))
    expect(problem!.message.startsWith(`${what} ${needs.map(c => CAPABILITY_WORDS[c]).join(' or ')}, which the Third router does not have: `)).toBe(true)
    // Any one of what it needs is enough; what it does not need is never asked for.
    for (const c of needs) expect(capabilityProblem(request, without(...needs.filter(n => n !== c)), routersWith)).toBeUndefined()
    expect(capabilityProblem(request, without(...ALL.filter(c => !needs.includes(c))), routersWith)).toBeUndefined()
  })

  it('a plain deploy (one replica, tls off, no strategy) asks nothing of any router', () => {
    for (const mode of ['deploy', 'rollback', 'status'] as const) {
      expect(capabilityProblem({ ...plain, mode, tls: tlsOff, previewDomains: [], sticky: false }, without(...ALL), routersWith)).toBeUndefined()
    }
  })

  it('covers every capability but the runtime switch and the count of requests in flight (which every router may lack: nginx reloads, mode remove waits drain-timeout)', () => {
    const asked = new Set(CAPABILITY_TABLE.flatMap(r => r.needs))
    expect(ALL.filter(c => !asked.has(c))).toEqual(['runtimeSwitch', 'inFlight'])
  })

  it('reports the first input in the table order when several are missing', () => {
    const request: RouterRequest = { ...plain, strategy: { replicas: 2, canaryWeight: 10 }, sticky: true }
    expect(capabilityProblem(request, NGINX_CAPABILITIES, routersWith)?.input).toBe('replicas')
    expect(capabilityProblem({ ...request, mode: 'promote' }, NGINX_CAPABILITIES, routersWith)?.input).toBe('mode')
  })
})

describe('capability message', () => {
  it('names the input, its value, the router, what it lacks, and the routers that have it', () => {
    expect(capabilityMessage('replicas', '2', 'replicas', 'nginx', ['HAProxy (proxy-type: haproxy)'])).toBe(
      "Input 'replicas' is 2, which needs load balancing over replicas, which the nginx router does not have: remove 'replicas', " +
        "or deploy behind a router that has it: HAProxy (proxy-type: haproxy) (set proxy-type, or give another proxy-name if this host's proxy is nginx). Nothing was changed."
    )
    expect(capabilityMessage('mode', 'live', 'maintenance', 'nginx', [])).toMatch(
      /^Input 'mode' is live, which needs a maintenance page, which the nginx router does not have: use mode deploy or rollback, or deploy behind a router that has it \(docs\/development.md/
    )
  })
})

describe('declared router capabilities', () => {
  it('HAProxy has every capability, nginx none (a reload, plain HTTP, one container per color)', () => {
    expect(ALL.filter(c => !HAPROXY_CAPABILITIES[c])).toEqual([])
    expect(ALL.filter(c => NGINX_CAPABILITIES[c])).toEqual([])
    for (const [type, kind] of Object.entries(ROUTERS)) expect(kind.capabilities).toBe(ROUTER_CAPABILITIES[type as keyof typeof ROUTERS])
    expect(routersWith('weights')).toEqual(['HAProxy (proxy-type: haproxy)'])
  })

  it('proxyCapabilityProblem checks an explicit type or the type settled on the host, not auto', () => {
    const run = {
      mode: 'deploy' as const,
      strategy: { replicas: 2 },
      proxy: { type: 'auto' as const, tls: { ...tlsOff, httpsPort: 443, redirect: true, hsts: false } }
    }
    expect(proxyCapabilityProblem(run)).toBeUndefined()
    expect(proxyCapabilityProblem(run, 'haproxy')).toBeUndefined()
    expect(proxyCapabilityProblem(run, 'nginx')?.message).toMatch(
      /^Input 'replicas' is 2, which needs load balancing over replicas, which the nginx router does not have/
    )
    expect(proxyCapabilityProblem({ ...run, proxy: { ...run.proxy, type: 'nginx' } })?.input).toBe('replicas')
  })

  it('the engine refuses maintenance on a router that does not declare it, in the same message shape, touching nothing', async () => {
    const clock = new FakeClock()
    const host = new FakeHost(clock)
    const router = new FakeRouter(host)
    router.capabilities = without('maintenance')
    const ledger = new FakeLedger()
    const log = new RecordingLog()
    const config = { mode: 'live', app: 'web', strategy: { replicas: 1 } } as unknown as Config
    await expect(switchMaintenance({ config, host, router, ledger, log, timeline: new Timeline(log, () => clock.now()) }, false)).rejects.toThrow(
      /^Input 'mode' is live, which needs a maintenance page, which the Third router does not have/
    )
    expect(host.calls).toEqual([])
  })
})

describe('no proxy-type string checks outside src/proxy', () => {
  it('nothing else compares against "nginx" or "haproxy": it asks the router what it can do', () => {
    const root = join(process.cwd(), 'src')
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap(e => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
    const name = `['"\`](?:nginx|haproxy)['"\`]`
    const comparison = new RegExp(`(?:[=!]==?\\s*${name})|(?:${name}\\s*[=!]==?)|(?:case\\s+${name})|(?:\\.includes\\(\\s*${name})`, 'i')
    const found = walk(root)
      .filter(f => !relative(root, f).startsWith(`proxy/`))
      .flatMap(f =>
        readFileSync(f, 'utf8')
          .split('\n')
          .flatMap((line, i) => (comparison.test(line) ? [`${relative(root, f)}:${i + 1}: ${line.trim()}`] : []))
      )
    expect(found).toEqual([])
    // The check itself finds such a line.
    expect(comparison.test(`if (proxy.type === 'haproxy') return`)).toBe(true)
    expect(comparison.test(`case "nginx":`)).toBe(true)
  })
})

describe('docs/development.md table of capabilities per router', () => {
  it('says what each router declares (a column per router, by its name), and which inputs need each capability', () => {
    const readme = readFileSync(join(process.cwd(), 'docs', 'development.md'), 'utf8')
    const header = /^\| capability \| needed by \| (.*) \|$/m.exec(readme)
    const columns = header![1].split(' | ')
    expect([...columns].sort()).toEqual(
      Object.values(ROUTER_CAPABILITIES)
        .map(c => c.name)
        .sort()
    )
    const cell = '(yes|no)'
    const rows = [...readme.matchAll(new RegExp(`^\\| \`(\\w+)\` \\| (.*?) \\| ${columns.map(() => cell).join(' \\| ')} \\|$`, 'gm'))]
    expect(rows.map(r => r[1]).sort()).toEqual([...ALL].sort())
    for (const [, capability, neededBy, ...said] of rows) {
      const c = capability as Capability
      const declared = columns.map(name => Object.values(ROUTER_CAPABILITIES).find(caps => caps.name === name)![c])
      expect([c, said.map(v => v === 'yes')]).toEqual([c, declared])
      for (const rule of CAPABILITY_TABLE.filter(r => r.needs.includes(c))) expect([c, neededBy]).toEqual([c, expect.stringContaining(`\`${rule.input}`)])
    }
  })
})

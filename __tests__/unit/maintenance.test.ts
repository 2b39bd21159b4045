import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../../src/core/config.js'
import { ReleaseError } from '../../src/core/outcome.js'
import { switchMaintenance } from '../../src/engine/strategy.js'
import { Timeline } from '../../src/engine/timeline.js'
import type { VerifyResult } from '../../src/engine/ports.js'
import { InputError, parseInputs } from '../../src/inputs/parse.js'
import { renderAppConfig } from '../../src/proxy/haproxy-config.js'
import { hasMaintenanceRule, renderMaintenanceMap, routeOfFile } from '../../src/proxy/haproxy-strategy.js'
import { parseRouteComment } from '../../src/proxy/nginx-config.js'
import { FakeClock, FakeHost, FakeLedger, FakeRouter, RecordingLog } from '../support/fakes.js'
import { sshKeyPair } from '../support/keys.js'
import { tempDir } from '../support/temp-dirs.js'

const config = {
  mode: 'maintenance',
  app: 'web',
  strategy: { replicas: 1, maintenancePage: '<h1>soon</h1>' },
  proxy: { type: 'haproxy', name: 'p', port: 80, domains: [], drainTimeoutMs: 1000 }
} as unknown as Config

class MaintenanceRouter extends FakeRouter {
  maintenanceCalls: [boolean, string | undefined][] = []
  confirm = true
  async maintenance(on: boolean, page: string | undefined): Promise<VerifyResult> {
    this.maintenanceCalls.push([on, page])
    return { ok: this.confirm, last: { status: on ? 503 : 200, headers: {}, body: '', ms: 1 }, ms: 1 }
  }
}

function depsWith(router: FakeRouter) {
  const clock = new FakeClock()
  const host = new FakeHost(clock)
  const ledger = new FakeLedger()
  const log = new RecordingLog()
  ledger.record = {
    version: 1,
    app: 'web',
    releases: [
      { id: 'r2', instance: 'r2', app: 'web', color: 'green', image: 'web:2', configHash: 'h', kind: 'deploy', liveSince: '2026-01-01T00:00:00Z', by: {} },
      { id: 'r1', instance: 'r1', app: 'web', color: 'blue', image: 'web:1', configHash: 'h', kind: 'deploy', liveSince: '2025-12-01T00:00:00Z', by: {} }
    ]
  }
  return { config, host, router, ledger, log, timeline: new Timeline(log, () => clock.now()) }
}

describe('switchMaintenance', () => {
  it('asks the router for the page and reports the live release, changing no container', async () => {
    const router = new MaintenanceRouter(new FakeHost(new FakeClock()))
    const deps = depsWith(router)
    const on = await switchMaintenance(deps, true)
    expect(on).toMatchObject({ result: 'maintenance', color: 'green', image: 'web:2', previousImage: 'web:1' })
    expect(router.maintenanceCalls).toEqual([[true, '<h1>soon</h1>']])
    const off = await switchMaintenance(deps, false)
    expect(off.result).toBe('live')
    expect(router.maintenanceCalls[1]).toEqual([false, undefined])
    expect(deps.host.calls.filter(c => ['create', 'start', 'stop', 'remove'].includes(c))).toEqual([])
    expect(deps.ledger.writes).toEqual([])
  })

  it('fails when the proxy does not confirm, when nothing is deployed, and with a router without maintenance', async () => {
    const router = new MaintenanceRouter(new FakeHost(new FakeClock()))
    router.confirm = false
    await expect(switchMaintenance(depsWith(router), true)).rejects.toThrow(/did not serve the maintenance page for web within 10 s \(last answer: HTTP 503/)
    const empty = depsWith(new MaintenanceRouter(new FakeHost(new FakeClock())))
    empty.ledger.record = undefined
    await expect(switchMaintenance(empty, true)).rejects.toThrow(/Nothing of web is deployed on this host/)
    await expect(switchMaintenance(depsWith(new FakeRouter(new FakeHost(new FakeClock()))), true)).rejects.toThrow(ReleaseError)
  })
})

describe('HAProxy maintenance rule', () => {
  const route = { app: 'web', color: 'blue' as const, releaseId: 'r1', appPort: 8080, replicas: 2 }
  it('returns the page with a 503 and Retry-After while the flag is on, except to a valid verify token', () => {
    const text = renderAppConfig(route, 'tok', 3)
    const rule = text.split('\n').find(l => l.includes('http-request return'))!
    expect(rule).toContain('status 503')
    expect(rule).toContain('file /usr/local/etc/haproxy/cutover/maintenance-web.html')
    expect(rule).toContain('hdr Retry-After 60')
    expect(rule).toContain('if { str(on),map(/usr/local/etc/haproxy/cutover/maintenance-web.map) -m found }')
    expect(rule).toContain('!{ var(txn.cutover_verify),map(/usr/local/etc/haproxy/cutover/verify-web.map) -m found }')
    // after the verify variable is set, so the exemption sees it
    expect(text.indexOf('set-var(txn.cutover_verify)')).toBeLessThan(text.indexOf('http-request return'))
    expect(hasMaintenanceRule(text, 'web')).toBe(true)
    expect(renderMaintenanceMap(true)).toMatch(/^on 1$/m)
    expect(renderMaintenanceMap(false)).not.toMatch(/^on/m)
  })

  it('a backend file is rendered again from what it holds (older files lack the rule)', () => {
    const text = renderAppConfig(route, 'tok', 3)
    const older = text
      .split('\n')
      .filter(l => !l.includes('maintenance'))
      .join('\n')
    expect(hasMaintenanceRule(older, 'web')).toBe(false)
    expect(routeOfFile('web', older, parseRouteComment('web', older))).toEqual(route)
  })
})

describe('maintenance inputs', () => {
  const key = sshKeyPair().private
  const workspace = tempDir('cutover-ws-')
  writeFileSync(join(workspace, 'page.html'), '<h1>back soon</h1>')
  writeFileSync(join(workspace, 'big.html'), 'x'.repeat(12_001))
  const parse = (more: Record<string, string>) => {
    const values: Record<string, string> = { app: 'web', host: 'h.example.com', 'ssh-private-key': key, 'insecure-skip-host-key-check': 'true', ...more }
    return parseInputs({ get: n => values[n] ?? '', mask: () => undefined, workspace })
  }
  const errorOf = (more: Record<string, string>) => {
    try {
      parse(more)
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      return (e as Error).message
    }
    throw new Error('expected an InputError')
  }

  it('modes maintenance and live need no image; the page is read from the repository', () => {
    expect(parse({ mode: 'maintenance' }).strategy.maintenancePage).toBeUndefined()
    expect(parse({ mode: 'maintenance', 'maintenance-page': 'page.html' }).strategy.maintenancePage).toBe('<h1>back soon</h1>')
    expect(parse({ mode: 'live' }).mode).toBe('live')
  })

  it('refuses a page outside the workspace, too large, with another mode, or behind nginx', () => {
    expect(errorOf({ mode: 'maintenance', 'maintenance-page': '/etc/hostname' })).toMatch(/^Input 'maintenance-page' must name a file inside the workspace/)
    expect(errorOf({ mode: 'maintenance', 'maintenance-page': 'big.html' })).toMatch(/^Input 'maintenance-page' names big.html, 12001 bytes; at most 12000/)
    expect(errorOf({ mode: 'live', 'maintenance-page': 'page.html' })).toBe("Input 'maintenance-page' only applies to mode maintenance, not live")
    expect(errorOf({ mode: 'maintenance', 'proxy-type': 'nginx' })).toMatch(
      /^Input 'mode' is maintenance, which needs a maintenance page, which the nginx router does not have: use mode deploy or rollback/
    )
  })
})

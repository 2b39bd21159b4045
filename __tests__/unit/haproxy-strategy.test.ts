import { renderAppConfig } from '../../src/proxy/haproxy-config.js'
import {
  backendShape,
  canaryCommands,
  declaredServers,
  endDrainCommands,
  serverName,
  slotsFor,
  stickyCookie,
  switchCommands
} from '../../src/proxy/haproxy-strategy.js'

const route = { app: 'myapp', color: 'green' as const, releaseId: 'r2', appPort: 3000 }
const line = (name: string, host: string, disabled: boolean) =>
  `  server ${name} ${host}:3000 resolvers docker init-addr last,none${disabled ? ' disabled' : ''}\n`

describe('HAProxy replicas', () => {
  it('replicas 1 renders exactly the servers a backend had before replicas existed', () => {
    const text = renderAppConfig(route, 'tok')
    expect(text.split('\n').filter(l => l.includes('server ')).length).toBe(2)
    expect(text).toContain(line('blue', 'myapp-blue', true))
    expect(text).toContain(line('green', 'myapp-green', false))
  })

  it('declares the same slots for both colors, only the live color first N enabled', () => {
    const text = renderAppConfig({ ...route, replicas: 2 }, 'tok', 3)
    expect(text).toContain(line('green', 'myapp-green', false))
    expect(text).toContain(line('green-2', 'myapp-green-2', false))
    expect(text).toContain(line('green-3', 'myapp-green-3', true))
    for (const i of [1, 2, 3]) expect(text).toContain(line(serverName('blue', i), i === 1 ? 'myapp-blue' : `myapp-blue-${i}`, true))
    expect(declaredServers(text)).toEqual({ slots: 3, enabled: { blue: 0, green: 2 } })
  })

  it('slots never shrink (a smaller size is switched at runtime), grow with replicas (a reload)', () => {
    const three = renderAppConfig({ ...route, replicas: 3 }, 'tok')
    expect(slotsFor({ ...route, replicas: 1 }, three)).toBe(3)
    expect(slotsFor({ ...route, replicas: 5 }, three)).toBe(5)
    expect(slotsFor({ ...route }, '')).toBe(1)
  })

  it('a switch: the new color ready at its addresses, extra slots in maintenance, every old server draining', () => {
    const commands = switchCommands('app_myapp', { ...route, color: 'blue', replicas: 2 }, 3, ['10.0.0.5', undefined])
    expect(commands).toEqual([
      'set server app_myapp/blue addr 10.0.0.5 port 3000',
      // weight 1 again: a canary may have changed it
      'set server app_myapp/blue weight 1',
      'set server app_myapp/blue state ready',
      'set server app_myapp/blue-2 weight 1',
      'set server app_myapp/blue-2 state ready',
      'set server app_myapp/blue-3 state maint',
      'set server app_myapp/green state drain',
      'set server app_myapp/green-2 state drain',
      'set server app_myapp/green-3 state drain'
    ])
  })

  it('a switch to a color that served nothing until now: its servers pass through maintenance first (closing idle connections to containers it replaced)', () => {
    const commands = switchCommands('app_myapp', { ...route, color: 'blue', replicas: 1 }, 1, ['10.0.0.5'], 'drain', true)
    expect(commands).toEqual([
      'set server app_myapp/blue state maint',
      'set server app_myapp/blue addr 10.0.0.5 port 3000',
      'set server app_myapp/blue weight 1',
      'set server app_myapp/blue state ready',
      'set server app_myapp/green state drain'
    ])
  })
})

describe('HAProxy canary commands', () => {
  const live = { ...route, color: 'green' as const, replicas: 1 }
  const canary = { route: { ...route, color: 'blue' as const, releaseId: 'r3', replicas: 1 }, weight: 20 }

  it("a canary on a color that served nothing until now: the canary's servers pass through maintenance first (closing idle connections to the container it replaced)", () => {
    expect(canaryCommands('app_myapp', live, canary, 1, ['10.0.0.7'], true)).toEqual([
      'set server app_myapp/green weight 80',
      'set server app_myapp/green state ready',
      'set server app_myapp/blue state maint',
      'set server app_myapp/blue addr 10.0.0.7 port 3000',
      'set server app_myapp/blue weight 20',
      'set server app_myapp/blue state ready'
    ])
  })

  it("a canary's next weight (its color serves already): no maintenance on the way", () => {
    expect(canaryCommands('app_myapp', live, { ...canary, weight: 50 }, 1, ['10.0.0.7']).some(c => c.includes('maint'))).toBe(false)
  })
})

describe('HAProxy sticky: cookie', () => {
  it('a cookie per server (so per color), redispatch when its server fails; off renders nothing of it', () => {
    const text = renderAppConfig({ ...route, replicas: 2 }, 'tok', 2, undefined, true)
    expect(text).toContain('  cookie cutover_myapp insert indirect nocache httponly\n')
    expect(text).toContain('  option redispatch 1\n')
    expect(text).toContain('  server green myapp-green:3000 resolvers docker init-addr last,none cookie green\n')
    expect(text).toContain('  server green-2 myapp-green-2:3000 resolvers docker init-addr last,none cookie green-2\n')
    expect(text).toContain('  server blue-2 myapp-blue-2:3000 resolvers docker init-addr last,none cookie blue-2 disabled\n')
    expect(renderAppConfig(route, 'tok')).not.toMatch(/cookie|redispatch/)
    expect(stickyCookie('my-app')).toBe('cutover_my_app')
  })

  it('turning sticky on or off, or more servers, is a new backend shape (a reload); a switch or new weights are not', () => {
    const a = renderAppConfig(route, 'tok1', 2)
    expect(backendShape(renderAppConfig({ ...route, color: 'blue' }, 'tok2', 2))).toBe(backendShape(a))
    expect(backendShape(renderAppConfig(route, 'tok2', 2, { route: { ...route, color: 'blue', releaseId: 'r3' }, weight: 30 }))).toBe(backendShape(a))
    expect(backendShape(renderAppConfig(route, 'tok2', 2, undefined, true))).not.toBe(backendShape(a))
    expect(backendShape(renderAppConfig(route, 'tok2', 3))).not.toBe(backendShape(a))
  })

  it('ending a drain puts every server of the color in maintenance', () => {
    expect(endDrainCommands('app_myapp', 'blue', 2)).toEqual(['set server app_myapp/blue state maint', 'set server app_myapp/blue-2 state maint'])
  })
})

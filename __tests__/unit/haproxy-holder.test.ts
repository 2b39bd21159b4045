import type Docker from 'dockerode'
import { BASE_FILE, renderBaseConfig } from '../../src/proxy/haproxy-config.js'
import { HaproxyGenerations, type Generation } from '../../src/proxy/haproxy-generations.js'
import { switchFileOf } from '../../src/proxy/haproxy-handover.js'
import {
  GENERATION_VAR,
  HOLDER_FILE,
  HOLDER_FILE_PATH,
  HOLDER_OFF_VAR,
  HOLDER_SWITCH_CFG,
  holderOffSince,
  renderHolderFile
} from '../../src/proxy/haproxy-holder-config.js'
import { RecordingLog } from '../support/fakes.js'

describe("the holder's switch file (issue #22)", () => {
  it('serving: defines nothing, names no start', () => {
    const text = renderHolderFile(undefined)
    expect(text).not.toContain(HOLDER_OFF_VAR)
    expect(holderOffSince(text)).toBeUndefined()
  })

  it('off: defines the variable only on a reload (HAPROXY_MWORKER_REEXEC) and never in a generation, for the start it names', () => {
    const text = renderHolderFile({ holderStartedAt: '2026-12-05T13:00:00.123Z' })
    expect(text).toContain(`.if !defined(${GENERATION_VAR})\n.if defined(HAPROXY_MWORKER_REEXEC)\nglobal\n  setenv ${HOLDER_OFF_VAR} 1\n.endif\n.endif\n`)
    expect(holderOffSince(text)).toBe('2026-12-05T13:00:00.123Z')
  })

  it("the directory's switch is read before the base (HAProxy loads a directory's *.cfg in name order)", () => {
    expect([BASE_FILE, HOLDER_SWITCH_CFG, 'app-web.cfg'].sort()[0]).toBe(HOLDER_SWITCH_CFG)
    expect(HOLDER_SWITCH_CFG.endsWith('.cfg')).toBe(true)
  })

  it('the base configuration declares the admin socket and every listener only while the variable is undefined', () => {
    const base = renderBaseConfig(30, 'p', { metrics: true })
    const guarded = [...base.matchAll(new RegExp(`\\.if !defined\\(${HOLDER_OFF_VAR}\\)\\n([\\s\\S]*?)\\.endif`, 'g'))].map(m => m[1])
    expect(guarded).toHaveLength(3)
    const outside = base.replace(new RegExp(`\\.if !defined\\(${HOLDER_OFF_VAR}\\)\\n[\\s\\S]*?\\.endif`, 'g'), '')
    expect(outside).not.toMatch(/^\s*(bind|stats socket) /m)
    expect(guarded.join('\n')).toMatch(/stats socket .* expose-fd listeners/)
    expect(guarded.join('\n').match(/^\s*bind /gm)).toHaveLength(4)
  })
})

describe('which HAProxy generation serves', () => {
  const generations = new HaproxyGenerations({} as Docker, 'p', new RecordingLog())
  const gen = (number: number, more: Partial<Generation> = {}): Generation => ({
    id: `id${number}`,
    name: `p-g${number}`,
    number,
    image: 'haproxy:x',
    running: true,
    retired: false,
    startedAt: 2000 + number,
    ...more
  })

  it('the newest running one that is not retired and started since the holder did', () => {
    expect(generations.live([gen(1), gen(2)], 1000)?.name).toBe('p-g2')
    expect(generations.live([gen(1), gen(2, { retired: true })], 1000)?.name).toBe('p-g1')
    expect(generations.live([gen(1), gen(2, { running: false })], 1000)?.name).toBe('p-g1')
  })

  it('none when every generation started before the holder last started (their namespace is gone)', () => {
    expect(generations.live([gen(1), gen(2)], 5000)).toBeUndefined()
    expect(generations.live([], 0)).toBeUndefined()
  })

  it("a holder made by this version is switched by its own file; one made by an earlier cutover (the directory only) by the directory's", () => {
    const info = (cmd: string[]) => ({ Config: { Cmd: cmd } }) as unknown as Docker.ContainerInspectInfo
    expect(switchFileOf(info(['-W', '-db', '-f', HOLDER_FILE_PATH, '-f', '/usr/local/etc/haproxy/cutover']))).toBe(HOLDER_FILE)
    expect(switchFileOf(info(['-W', '-db', '-f', '/usr/local/etc/haproxy/cutover']))).toBe(HOLDER_SWITCH_CFG)
  })
})

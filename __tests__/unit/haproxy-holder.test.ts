import { renderBaseConfig } from '../../src/proxy/haproxy-config.js'
import { HOLDER_OFF_VAR, holderOffSince, renderHolderFile } from '../../src/proxy/haproxy-holder-config.js'

describe("the holder's switch file (issue #22)", () => {
  it('serving: defines nothing, names no start', () => {
    const text = renderHolderFile(undefined)
    expect(text).not.toContain(HOLDER_OFF_VAR)
    expect(holderOffSince(text)).toBeUndefined()
  })

  it('off: defines the variable only on a reload (HAPROXY_MWORKER_REEXEC), for the start it names', () => {
    const text = renderHolderFile({ holderStartedAt: '2026-12-05T13:00:00.123Z' })
    expect(text).toContain(`.if defined(HAPROXY_MWORKER_REEXEC)\nglobal\n  setenv ${HOLDER_OFF_VAR} 1\n.endif`)
    expect(holderOffSince(text)).toBe('2026-12-05T13:00:00.123Z')
  })

  it('the base configuration declares the admin socket and every listener only while the variable is undefined', () => {
    const base = renderBaseConfig(30, 'p', undefined, true)
    const guarded = [...base.matchAll(new RegExp(`\\.if !defined\\(${HOLDER_OFF_VAR}\\)\\n([\\s\\S]*?)\\.endif`, 'g'))].map(m => m[1])
    expect(guarded).toHaveLength(3)
    const outside = base.replace(new RegExp(`\\.if !defined\\(${HOLDER_OFF_VAR}\\)\\n[\\s\\S]*?\\.endif`, 'g'), '')
    expect(outside).not.toMatch(/^\s*(bind|stats socket) /m)
    expect(guarded.join('\n')).toMatch(/stats socket .* expose-fd listeners/)
    expect(guarded.join('\n').match(/^\s*bind /gm)).toHaveLength(4)
  })
})

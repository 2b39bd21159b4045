import type Docker from 'dockerode'
import { downSince } from '../../src/proxy/proxy-container.js'

const state = (s: Partial<Docker.ContainerInspectInfo['State']>) =>
  ({ State: { ExitCode: 0, OOMKilled: false, FinishedAt: '', ...s } }) as Docker.ContainerInspectInfo

describe('a proxy found down', () => {
  it('says since when and how long nothing answered when it had run and stopped (docker kill: 137)', () => {
    const at = '2026-12-05T07:00:00.000Z'
    expect(downSince(state({ FinishedAt: at, ExitCode: 137 }), Date.parse(at) + 14_400)).toBe(
      ` again: it had stopped at ${at} with exit code 137, 14 s ago, and no app on it answered since`
    )
    expect(downSince(state({ FinishedAt: at, ExitCode: 137, OOMKilled: true }), Date.parse(at))).toContain('killed for lack of memory, 0 s ago')
  })

  it('says nothing of a container that never ran (Docker reports the zero time)', () => {
    expect(downSince(state({ FinishedAt: '0001-01-01T00:00:00Z' }))).toBeUndefined()
    expect(downSince(state({ FinishedAt: '' }))).toBeUndefined()
  })
})

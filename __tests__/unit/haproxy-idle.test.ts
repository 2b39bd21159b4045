import { idleColorsOf, STOP_SIGNAL_MARGIN_S, workerOf } from '../../src/proxy/haproxy-idle.js'

// The columns of HAProxy 2.6's `show stat` CSV the parser reads, in their order there.
const HEADER = '# pxname,svname,qcur,qmax,scur,smax,status,weight,lbtot,rtime,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,req_tot,'

function info(uptimeS: number, pid = 41): string {
  return `Name: HAProxy\nVersion: 2.6.12-1+deb12u1\nPid: ${pid}\nUptime: 0d 0h01m00s\nUptime_sec: ${uptimeS}\nMemmax_MB: 0\n`
}

function row(backend: string, server: string, status: string, scur = 0, qcur = 0): string {
  return `${backend},${server},${qcur},0,${scur},3,${status},1,10,2,0,10,0,0,0,0,10,`
}

/** One worker's answer to `show info; show stat -1 4 -1`. */
function answer(uptimeS: number, rows: string[]): string {
  return `${info(uptimeS)}\n${HEADER}\n${rows.join('\n')}\n\n`
}

const BACKENDS = ['app_web', 'app_web_preview']
const HARD_STOP_S = 30
const OLD_ENOUGH = HARD_STOP_S + STOP_SIGNAL_MARGIN_S

describe('which colors the proxy holds nothing of (haproxy-idle)', () => {
  it('reads the worker from show info', () => {
    expect(workerOf(info(3600, 7))).toEqual({ pid: 7, uptimeS: 3600 })
    expect(workerOf('Unknown command.\n')).toBeUndefined()
  })

  it('a draining color without sessions or queued requests is idle; the live one is not', () => {
    const rows = [row('app_web', 'blue', 'no check', 4), row('app_web', 'green', 'DRAIN'), row('app_web', 'green-2', 'MAINT')]
    expect(idleColorsOf(answer(OLD_ENOUGH, rows), BACKENDS, HARD_STOP_S, false)).toEqual(['green'])
  })

  it('a session or a queued request on any server of the color keeps it', () => {
    for (const busy of [row('app_web', 'green-2', 'DRAIN', 1), row('app_web', 'green-2', 'DRAIN', 0, 2)]) {
      const rows = [row('app_web', 'blue', 'UP'), row('app_web', 'green', 'DRAIN'), busy]
      expect(idleColorsOf(answer(OLD_ENOUGH, rows), BACKENDS, HARD_STOP_S, false)).toEqual([])
    }
  })

  it('a color the preview domains still reach is not idle', () => {
    const rows = [
      row('app_web', 'blue', 'UP'),
      row('app_web', 'green', 'MAINT'),
      row('app_web_preview', 'green', 'no check'),
      row('app_web_preview', 'blue', 'MAINT')
    ]
    expect(idleColorsOf(answer(OLD_ENOUGH, rows), BACKENDS, HARD_STOP_S, false)).toEqual([])
  })

  it('with sticky cookies only maintenance counts: a draining server still takes its clients', () => {
    const rows = [row('app_web', 'blue', 'UP'), row('app_web', 'green', 'DRAIN')]
    expect(idleColorsOf(answer(OLD_ENOUGH, rows), BACKENDS, HARD_STOP_S, true)).toEqual([])
    const ended = [row('app_web', 'blue', 'UP'), row('app_web', 'green', 'MAINT (resolution)')]
    expect(idleColorsOf(answer(OLD_ENOUGH, ended), BACKENDS, HARD_STOP_S, true)).toEqual(['green'])
  })

  it('nothing is idle while a process left by a reload may still hold requests (younger than hard-stop-after and the margin)', () => {
    const rows = [row('app_web', 'blue', 'UP'), row('app_web', 'green', 'DRAIN')]
    expect(idleColorsOf(answer(OLD_ENOUGH - 1, rows), BACKENDS, HARD_STOP_S, false)).toEqual([])
    expect(idleColorsOf(answer(OLD_ENOUGH + 200, rows), BACKENDS, 300, false)).toEqual([])
    expect(idleColorsOf(answer(305, rows), BACKENDS, 300, false)).toEqual(['green'])
  })

  it("other apps' servers and a color with no server at all do not count", () => {
    const rows = [row('app_other', 'green', 'UP', 9), row('app_web', 'blue', 'UP')]
    expect(idleColorsOf(answer(OLD_ENOUGH, rows), BACKENDS, HARD_STOP_S, false)).toEqual([])
    expect(idleColorsOf(answer(OLD_ENOUGH, [row('app_other', 'green', 'DRAIN'), row('app_web', 'green', 'DRAIN')]), BACKENDS, HARD_STOP_S, false)).toEqual([
      'green'
    ])
  })

  it('an answer without statistics is no answer', () => {
    expect(() => idleColorsOf(`${info(OLD_ENOUGH)}\nUnknown command.\n`, BACKENDS, HARD_STOP_S, false)).toThrow(/no header line/)
  })
})

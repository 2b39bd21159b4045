import type { Outcome, ResultKind, StepRecord } from '../../src/core/outcome.js'
import { outputsOf } from '../../src/reporting/outputs.js'
import { maskSecrets, renderSummary } from '../../src/reporting/summary.js'

const V1 = 'ghcr.io/acme/web:1'
const V2 = 'ghcr.io/acme/web:2'

const steps: StepRecord[] = [
  { name: 'connect', ms: 412, ok: true, detail: 'Docker 20.10.24 (API 1.41)' },
  { name: 'lock', ms: 35, ok: true },
  { name: 'inspect', ms: 60, ok: true },
  { name: 'pull', ms: 2345, ok: true, detail: 'pulled' },
  { name: 'boot', ms: 700, ok: true },
  { name: 'healthy', ms: 1500, ok: true, detail: '2 probe(s)' },
  { name: 'switch', ms: 120, ok: true },
  { name: 'verify', ms: 40, ok: true },
  { name: 'cleanup', ms: 15, ok: true }
]

const deployed: Outcome = {
  mode: 'deploy',
  app: 'web',
  result: 'deployed',
  color: 'green',
  image: V2,
  containerId: 'abc123',
  deployedAt: '2026-11-02T10:00:00.000Z',
  previousColor: 'blue',
  previousImage: V1,
  standby: { color: 'blue', image: V1, state: 'running' },
  steps,
  durationMs: 5327
}

const failed: Outcome = {
  mode: 'deploy',
  app: 'web',
  result: 'failed',
  color: 'blue',
  image: V1,
  previousColor: undefined,
  failure: {
    reason: 'web-green (ghcr.io/acme/web:2) did not become healthy: exited with code 3. blue (ghcr.io/acme/web:1) is still live.',
    logs: 'booting\nError: DATABASE_URL is not set\n    at main (/app/server.js:3:9)',
    container: 'web-green',
    exitCode: 3
  },
  steps: [...steps.slice(0, 5), { name: 'healthy', ms: 4200, ok: false, detail: 'exited with code 3' }],
  durationMs: 8100
}

/** The rows of the Markdown table whose header starts with `| step |`. */
function timelineRows(md: string): string[] {
  const lines = md.split('\n')
  const start = lines.findIndex(l => l.startsWith('| step |'))
  expect(start).toBeGreaterThanOrEqual(0)
  const rows: string[] = []
  for (let i = start + 2; i < lines.length && lines[i].startsWith('|'); i++) rows.push(lines[i])
  return rows
}

describe('renderSummary', () => {
  it('masks every secret the inputs registered: in the crashed container log lines, the reason and anywhere else', () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACB\n-----END OPENSSH PRIVATE KEY-----'
    const secrets = ['postgres://u:s3cr3t@db/app', 'pa|ss<word>', key, 'QyNTUxOQAAACB', '']
    const leaky: Outcome = {
      ...failed,
      failure: {
        ...failed.failure!,
        reason: 'web-green did not become healthy: could not reach postgres://u:s3cr3t@db/app',
        logs: 'booting with DATABASE_URL=postgres://u:s3cr3t@db/app\npassword is pa|ss<word>\nkey line: QyNTUxOQAAACB\n```\nend'
      }
    }
    const md = renderSummary(leaky, 'deploy.example.com', secrets)
    expect(md).not.toContain('s3cr3t')
    expect(md).not.toContain('ss<word>')
    expect(md).not.toContain('ss&lt;word&gt;')
    expect(md).not.toContain('QyNTUxOQAAACB')
    expect(md).toContain('booting with DATABASE_URL=***')
    expect(md).toContain('password is ***')
    expect(md).toContain('> web-green did not become healthy: could not reach ***')
    // the rest is intact
    expect(md).toContain("'''\nend")
    expect(md).toContain('**web-green** (exit code 3)')
    // without secrets, nothing changes
    expect(renderSummary(leaky, 'h', [])).toContain('s3cr3t')
  })

  it('masks the longest secret first, and multi-line secrets line by line', () => {
    expect(maskSecrets('token abcd-efgh and abcd', ['abcd', 'abcd-efgh'])).toBe('token *** and ***')
    expect(maskSecrets('line two: second-line', ['first-line\nsecond-line'])).toBe('line two: ***')
    expect(maskSecrets('a b c', [' ', ''])).toBe('a b c')
  })

  it('shows what is live and what is on standby', () => {
    const md = renderSummary(deployed, 'deploy.example.com')
    expect(md).toMatch(/^## ✅ Deployed `web` on deploy\.example\.com\n/)
    expect(md).toContain(`| **Live** | green | \`${V2}\` | since 2026-11-02T10:00:00.000Z |`)
    expect(md).toContain(`| Standby | blue | \`${V1}\` | running: instant rollback |`)
    expect(md).not.toContain('CAUTION')
  })

  it.each([
    ['stopped', 'stopped: rollback starts it'],
    ['removed', 'removed: rollback starts its image again']
  ] as const)('says what a rollback would do with a %s standby', (state, how) => {
    const md = renderSummary({ ...deployed, standby: { color: 'blue', image: V1, state } }, 'h')
    expect(md).toContain(`| Standby | blue | \`${V1}\` | ${how} |`)
  })

  it('says when nothing is deployed, and titles a status run', () => {
    const md = renderSummary({ mode: 'status', app: 'web', result: 'unchanged', steps: [steps[0]], durationMs: 500 }, 'h')
    expect(md).toMatch(/^## 🔎 Status of `web` on h\n/)
    expect(md).toContain('| **Live** | — | nothing deployed | |')
    expect(md).not.toContain('Standby')
  })

  it('status: says what answered through the proxy, as a warning when it is not the live release', () => {
    const status: Outcome = { ...deployed, mode: 'status', result: 'unchanged', steps: [] }
    const ok = renderSummary({ ...status, served: { ok: true, text: `Served: green (${V2}) answered through the proxy in 4 ms.` } }, 'host')
    expect(ok).toContain(`✅ Served: green (${V2}) answered through the proxy in 4 ms.`)
    expect(ok).not.toContain('[!WARNING]')
    const off = renderSummary({ ...status, served: { ok: false, text: 'The proxy serves blue, not <b>green</b>' } }, 'host')
    expect(off).toContain('> [!WARNING]\n> The proxy serves blue, not &lt;b&gt;green&lt;/b&gt;')
  })

  it('has one timeline row per step, with its duration, and a total', () => {
    const rows = timelineRows(renderSummary(deployed, 'h'))
    expect(rows).toHaveLength(steps.length + 1)
    expect(rows[0]).toBe('| Connect (SSH) | 412 ms | Docker 20.10.24 (API 1.41) |')
    expect(rows[3]).toBe('| Pull image | 2.3 s | pulled |')
    expect(rows[5]).toBe('| Health gate | 1.5 s | 2 probe(s) |')
    expect(rows[8]).toMatch(/^\| Clean up \| 15 ms \| +\|$/)
    expect(rows[9]).toBe('| **Total** | **5.3 s** | |')
  })

  it('shows the failure reason, the failed step and the container’s last log lines', () => {
    const md = renderSummary(failed, 'h')
    expect(md).toMatch(/^## ❌ Failed `web`/)
    expect(md).toContain('> [!CAUTION]')
    expect(md).toContain(`> ${failed.failure!.reason}`)
    expect(md).toContain('**web-green** (exit code 3), last log lines:')
    expect(md).toContain('```text\nbooting\nError: DATABASE_URL is not set\n    at main (/app/server.js:3:9)\n```')
    const rows = timelineRows(md)
    expect(rows).toHaveLength(7)
    expect(rows[5]).toBe('| ❌ Health gate | 4.2 s | exited with code 3 |')
    // still says what stays live
    expect(md).toContain(`| **Live** | blue | \`${V1}\``)
  })

  it('mentions an out-of-memory kill and keeps log text from breaking the fence or the tables', () => {
    const md = renderSummary(
      {
        ...failed,
        failure: { reason: 'a | b', container: 'web-green', oomKilled: true, exitCode: 137, logs: 'x\n```\ny' },
        steps: [{ name: 'healthy', ms: 10, ok: false, detail: 'bad | <worse>' }]
      },
      'h'
    )
    expect(md).toContain('**web-green** (exit code 137, killed for lack of memory)')
    expect(md).toContain("x\n'''\ny\n```")
    expect(md).toContain('> a \\| b')
    expect(md).toContain('| ❌ Health gate | 10 ms | bad \\| &lt;worse&gt; |')
  })
})

describe('outputsOf', () => {
  const NAMES = [
    'result',
    'color',
    'previous-color',
    'image',
    'previous-image',
    'container-id',
    'standby-state',
    'workers',
    'deployment-id',
    'duration-seconds',
    'hosts',
    'drift',
    'preview-url',
    'canary-steps',
    'switch-spread-ms'
  ]

  const byKind: Record<ResultKind, Outcome> = {
    deployed,
    'rolled-back': {
      ...deployed,
      mode: 'rollback',
      result: 'rolled-back',
      color: 'blue',
      image: V1,
      containerId: 'def456',
      previousColor: 'green',
      previousImage: V2,
      standby: { color: 'green', image: V2, state: 'stopped' }
    },
    unchanged: {
      mode: 'status',
      app: 'web',
      result: 'unchanged',
      color: 'green',
      image: V2,
      previousColor: 'blue',
      previousImage: V1,
      standby: { color: 'blue', image: V1, state: 'removed' },
      steps: [],
      durationMs: 800
    },
    canary: { ...deployed, result: 'canary', previousColor: 'blue', previousImage: V1 },
    preview: {
      ...deployed,
      result: 'preview',
      standby: undefined,
      preview: { color: 'green', image: V2, since: '2026-11-02T10:00:00.000Z', url: 'https://green.example.com:8443' }
    },
    maintenance: { ...deployed, mode: 'maintenance', result: 'maintenance' },
    live: { ...deployed, mode: 'live', result: 'live' },
    removed: { mode: 'remove', app: 'web', result: 'removed', previousColor: 'green', previousImage: V2, releases: [], steps: [], durationMs: 2100 },
    'auto-rolled-back': {
      ...deployed,
      result: 'auto-rolled-back',
      color: 'blue',
      image: V1,
      previousColor: 'green',
      previousImage: V2,
      standby: { color: 'green', image: V2, state: 'running' },
      failure: { reason: 'watch: 37 of 412 responses (9.0 %) were 5xx in 40 s, above 5 %: rolled back to blue (v1)' }
    },
    failed
  }

  it.each(Object.keys(byKind) as ResultKind[])('gives every output for a %s run', kind => {
    const out = outputsOf(byKind[kind], 42)
    expect(Object.keys(out).sort()).toEqual([...NAMES].sort())
    for (const v of Object.values(out)) expect(typeof v).toBe('string')
    expect(out.result).toBe(kind)
    expect(out['deployment-id']).toBe('42')
    expect(out['duration-seconds']).toMatch(/^\d+\.\d$/)
  })

  it('an automatic rollback by the watch: headline, what serves again, what was seen', () => {
    const md = renderSummary({ ...byKind['auto-rolled-back'], steps: [{ name: 'watch', ms: 40_000, ok: false, detail: '37 of 412 responses' }] }, 'host')
    expect(md).toContain('## ↩️ Rolled back automatically (watch failed): `web` on host')
    expect(md).toContain(`| **Live** | blue | \`${V1}\` |`)
    expect(md).toContain(`| Standby | green | \`${V2}\` | running: instant rollback |`)
    expect(md).toContain('> watch: 37 of 412 responses (9.0 %) were 5xx in 40 s, above 5 %: rolled back to blue (v1)')
    expect(md).toContain('| ❌ Watch (5xx share, health) | 40.0 s | 37 of 412 responses |')
  })

  it('fills the values of a deploy', () => {
    expect(outputsOf(deployed, undefined)).toEqual({
      result: 'deployed',
      color: 'green',
      'previous-color': 'blue',
      image: V2,
      'previous-image': V1,
      'container-id': 'abc123',
      'standby-state': 'running',
      workers: '',
      'deployment-id': '',
      'duration-seconds': '5.3',
      hosts: '[]',
      drift: '',
      'preview-url': '',
      'canary-steps': '[]',
      'switch-spread-ms': ''
    })
  })

  it('target swarm: the spread between the first and the last proxy task to switch, as an output and a summary line', () => {
    const swarm: Outcome = { ...deployed, switchSpreadMs: 41.5 }
    expect(outputsOf(swarm, undefined)['switch-spread-ms']).toBe('41.5')
    expect(renderSummary(swarm, 'manager')).toContain('The proxy tasks switched within **41.5 ms** of each other (first to last).')
    expect(renderSummary(deployed, 'manager')).not.toContain('switched within')
  })

  it('lists the live workers, and shows them in the summary', () => {
    const withWorkers: Outcome = {
      ...deployed,
      workers: [
        { name: 'jobs', container: 'web-green-worker-jobs', state: 'running' },
        { name: 'mail', container: 'web-green-worker-mail', state: 'running' }
      ]
    }
    expect(outputsOf(withWorkers, undefined).workers).toBe('web-green-worker-jobs web-green-worker-mail')
    expect(renderSummary(withWorkers, 'host')).toContain('| Workers | green | 2 | jobs (running), mail (running) |')
  })

  it('fills the values of a rollback and of a status run', () => {
    expect(outputsOf(byKind['rolled-back'], undefined)).toMatchObject({
      result: 'rolled-back',
      color: 'blue',
      image: V1,
      'previous-color': 'green',
      'previous-image': V2,
      'standby-state': 'stopped'
    })
    expect(outputsOf(byKind.unchanged, undefined)).toMatchObject({
      result: 'unchanged',
      color: 'green',
      'container-id': '',
      'standby-state': 'removed',
      'duration-seconds': '0.8'
    })
  })

  it('leaves what does not apply empty on a failure', () => {
    const out = outputsOf({ mode: 'deploy', app: 'web', result: 'failed', failure: { reason: 'x' }, steps: [], durationMs: 0 }, undefined)
    expect(out).toEqual({
      result: 'failed',
      color: '',
      'previous-color': '',
      image: '',
      'previous-image': '',
      'container-id': '',
      'standby-state': '',
      workers: '',
      'deployment-id': '',
      'duration-seconds': '0.0',
      hosts: '[]',
      drift: '',
      'preview-url': '',
      'canary-steps': '[]',
      'switch-spread-ms': ''
    })
  })
})

describe('a preview (promote manual)', () => {
  const preview: Outcome = {
    ...deployed,
    result: 'preview',
    standby: undefined,
    preview: { color: 'green', image: V2, since: '2026-11-02T10:00:00.000Z', url: 'http://green.example.com:8080' }
  }

  it('gives preview-url, and the summary shows the preview beside the live release', () => {
    expect(outputsOf(preview, undefined)).toMatchObject({
      result: 'preview',
      color: 'green',
      image: V2,
      'previous-image': V1,
      'preview-url': 'http://green.example.com:8080'
    })
    const md = renderSummary(preview, 'host')
    expect(md).toContain('## 👀 Preview waiting for mode promote: `web` on host')
    expect(md).toContain(`| **Preview** | green | \`${V2}\` | at http://green.example.com:8080; mode promote makes it live, mode rollback discards it |`)
    expect(md).toContain(`| Live | blue | \`${V1}\` | serves every request until mode promote |`)
    expect(md).not.toContain('| **Live**')
  })

  it('mode status with a preview waiting shows it under the live release, and gives preview-url', () => {
    const status: Outcome = { ...preview, mode: 'status', result: 'unchanged', color: 'blue', image: V1 }
    expect(outputsOf(status, undefined)['preview-url']).toBe('http://green.example.com:8080')
    const md = renderSummary(status, 'host')
    expect(md).toContain(`| **Live** | blue | \`${V1}\``)
    expect(md).toContain(`| Preview | green | \`${V2}\` | waiting since 2026-11-02T10:00:00.000Z: at http://green.example.com:8080;`)
  })
})

describe('several hosts', () => {
  const hosts: Outcome['hosts'] = [
    { host: 'root@10.0.0.1:22', result: 'cancelled', color: 'blue', image: V1, release: 'r1', error: 'Not switched, because root@10.0.0.2:22 failed' },
    { host: 'root@10.0.0.2:22', result: 'failed', color: 'blue', image: V1, release: 'r1', error: 'web-green did not become healthy | 500' }
  ]
  const run: Outcome = { ...failed, hosts, switchSpreadMs: undefined }

  it('gives the hosts output as JSON: host, result, color, image, release, error', () => {
    expect(JSON.parse(outputsOf(run, undefined).hosts)).toEqual(hosts)
    expect(outputsOf({ ...run, mode: 'status', result: 'unchanged', drift: true }, undefined).drift).toBe('true')
  })

  it('renders a row per host, the switch spread and drift', () => {
    const md = renderSummary(
      { ...deployed, hosts: hosts.map(h => ({ ...h, result: 'deployed', error: undefined })), switchSpreadMs: 42, drift: true },
      '2 hosts'
    )
    expect(md).toContain('| root@10.0.0.1:22 | ✅ deployed | blue `' + V1 + '` | `r1` |  |')
    expect(md).toContain('switched within **42 ms** of each other')
    expect(md).toContain('Drift: the hosts do not all have the same release live.')
    const failedMd = renderSummary(run, '2 hosts')
    expect(failedMd).toContain('| root@10.0.0.2:22 | ❌ failed |')
    expect(failedMd).toContain('did not become healthy \\| 500')
    expect(failedMd).toContain('⏹️ not switched')
  })

  it('one host renders no host table', () => {
    expect(renderSummary({ ...deployed, hosts: [hosts[0]] }, 'h')).not.toContain('| host | result |')
  })
})

describe('canary-steps in the outputs and the summary', () => {
  const fig = (requests: number, errors: number, responseMs?: number, p95Ms?: number) => ({
    requests,
    errors,
    errorPercent: Math.round((1000 * errors) / requests) / 10,
    responseMs,
    ...(p95Ms === undefined ? {} : { p95Ms, p95Of: requests })
  })
  const steps = [
    { weight: 5, ms: 30_000, canary: fig(75, 0, 6), live: fig(1425, 1, 5), verdict: 'passed' as const, why: 'the canary: 75 requests' },
    { weight: 25, ms: 12_000, canary: fig(150, 15, 310), live: fig(450, 0, 5), verdict: 'breached' as const, why: '15 of 150 | were 5xx' }
  ]
  const logged = [
    { ...steps[0], canary: fig(75, 0, 6, 9), live: fig(1425, 1, 5, 7) },
    { ...steps[1], canary: fig(150, 15, 40, 320), live: fig(450, 0, 5, 8) }
  ]
  const rolledBack: Outcome = { ...deployed, result: 'auto-rolled-back', color: 'blue', image: V1, previousColor: 'green', canarySteps: steps }

  it('gives each step as JSON', () => {
    expect(JSON.parse(outputsOf(rolledBack, undefined)['canary-steps'])).toEqual(steps)
  })

  it('draws a row per step and Mermaid charts of both colors', () => {
    const md = renderSummary(rolledBack, 'host')
    expect(md).toContain('## ↩️ Rolled back automatically (a canary step breached): `web` on host')
    expect(md).toContain('| 5 % | 30 s | 75 | 0 % | 6 ms mean | 1425 | 0.1 % | 5 ms mean | ✅ passed: the canary: 75 requests |')
    expect(md).toContain('| 25 % | 12 s | 150 | 10 % | 310 ms mean | 450 | 0 % | 5 ms mean | ❌ breached: 15 of 150 \\| were 5xx |')
    expect(md).toContain(
      [
        '```mermaid',
        'xychart-beta',
        '  title "Response time (ms, mean): bars canary, line live"',
        '  x-axis ["5 %", "25 %"]',
        '  y-axis "ms" 0 --> 341',
        '  bar [6, 310]',
        '  line [5, 5]',
        '```'
      ].join('\n')
    )
    expect(md).toContain('  bar [0, 10]\n  line [0.1, 0]')
    expect(renderSummary(deployed, 'host')).not.toContain('mermaid')
  })

  it('shows the p95 of each color where the proxy logged the requests, and charts it', () => {
    const md = renderSummary({ ...rolledBack, canarySteps: logged }, 'host')
    expect(md).toContain('| 25 % | 12 s | 150 | 10 % | 320 ms p95 (of 150), 40 ms mean | 450 | 0 % | 8 ms p95 (of 450), 5 ms mean | ❌ breached')
    expect(md).toContain('  title "Response time (ms, p95): bars canary, line live"')
    expect(md).toContain('  bar [9, 320]\n  line [7, 8]')
    expect(JSON.parse(outputsOf({ ...rolledBack, canarySteps: logged }, undefined)['canary-steps'])[1].canary).toEqual({
      requests: 150,
      errors: 15,
      errorPercent: 10,
      responseMs: 40,
      p95Ms: 320,
      p95Of: 150
    })
  })
})

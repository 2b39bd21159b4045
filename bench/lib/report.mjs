// latest.md (tables) and chart.svg (hand-written SVG: throughput and failures over time per strategy).

export const STRATEGY_TITLES = {
  cutover: 'cutover',
  replicas: 'cutover, replicas 3',
  'canary-steps': 'cutover, canary-steps 5 25 50 (5 s each)',
  caddy: 'cutover, proxy-type caddy',
  canary: 'cutover, canary then promote',
  recreate: 'recreate in place',
  script: 'start new, sleep 5 s, reload, stop old'
}
const ORDER = ['cutover', 'replicas', 'canary', 'canary-steps', 'caddy', 'recreate', 'script']
const STEPS = ['connect', 'lock', 'inspect', 'pull', 'boot', 'healthy', 'switch', 'verify', 'cleanup']

const n = x => (x === null || x === undefined ? '—' : Number(x).toLocaleString('en-US'))
const ms = x => (x === null || x === undefined ? '—' : `${Math.round(x).toLocaleString('en-US')} ms`)
const sec = x => (x === null || x === undefined ? '—' : `${(x / 1000).toFixed(2)} s`)
const pair = (a, b, f = n) => `${f(a)} / ${f(b)}`
const med = xs => {
  const s = xs.filter(x => x !== null && x !== undefined).sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null
}
const mx = xs => {
  const s = xs.filter(x => x !== null && x !== undefined)
  return s.length ? Math.max(...s) : null
}

function headline(results) {
  const names = ORDER.filter(k => results.strategies[k])
  const S = names.map(k => results.strategies[k])
  const row = (label, f) => `| ${label} | ${S.map(f).join(' | ')} |`
  // canary-steps serves the new version from its first step on, long before its run's switch to 100 %.
  const steps = s => s === results.strategies['canary-steps']
  const lines = [
    `| | ${names.map(k => `**${STRATEGY_TITLES[k]}**`).join(' | ')} |`,
    `|---|${names.map(() => '---:').join('|')}|`,
    row('deploys (canary deploys, promotes) / rollbacks', s =>
      pair(s.runs.filter(r => r.kind !== 'rollback').length, s.runs.filter(r => r.kind === 'rollback').length)
    ),
    row('requests (keep-alive / new connection)', s => `${n(s.totals.requests)} (${pair(s.totals.keepAlive.requests, s.totals.newConnection.requests)})`),
    row('&nbsp;&nbsp;of which sent while the runs went on', s => n(s.totals.duringCycles?.requests)),
    row('**failed requests**', s => `**${n(s.totals.failed)}**`),
    row('&nbsp;&nbsp;keep-alive: non-2xx / socket errors', s => pair(s.totals.keepAlive.non2xx, s.totals.keepAlive.socketErrors)),
    row('&nbsp;&nbsp;new connection: non-2xx / socket errors', s => pair(s.totals.newConnection.non2xx, s.totals.newConnection.socketErrors)),
    row('long requests (/slow 3 s) in flight across a switch: cut / total', s => `**${n(s.long.cutInFlight)}** / ${n(s.long.inFlightAcrossASwitch)}`),
    row('&nbsp;&nbsp;all long requests: failed / started', s => `${n(s.long.cut)} / ${n(s.long.started)}`),
    row('WebSockets cut while open / opened', s => `**${n(s.websockets.cut)}** / ${n(s.websockets.opened)}`),
    row('&nbsp;&nbsp;held across a switch; opens refused', s => `${n(s.websockets.heldAcrossASwitch)}; ${n(s.websockets.openFailed)}`),
    row('latency p50 / p99, steady state', s => pair(s.latency.steady.all.p50, s.latency.steady.all.p99, ms)),
    row('latency p50 / p99, within ±1 s of a switch', s => pair(s.latency.aroundSwitches.all.p50, s.latency.aroundSwitches.all.p99, ms)),
    // A canary serves the new version beside the old one before its run ends: "first answer of the new version" is no switch moment there.
    row('switch gap, median / max', s =>
      s.split ? 'n/a (split)' : steps(s) ? 'n/a (steps)' : pair(s.summary.switchGapMs.median, s.summary.switchGapMs.max, ms)
    ),
    row('longest time without a successful answer around a switch, median / max', s =>
      pair(s.summary.longestSilenceMs.median, s.summary.longestSilenceMs.max, ms)
    ),
    row('deploy: start to new version serving, median / max', s => pair(s.summary.deployWallMs.median, s.summary.deployWallMs.max, sec)),
    row('rollback: start to old version serving, median / max', s => pair(s.summary.rollbackWallMs.median, s.summary.rollbackWallMs.max, sec)),
    row('SSH connections per run', s =>
      s.runs[0]?.ssh ? `${(s.runs.reduce((a, r) => a + r.ssh.ofThisProcess, 0) / s.runs.length).toFixed(2)}` : 'n/a (local docker CLI)'
    ),
    row('machine CPU busy during the load (2 cores)', s => (s.cpuBusyPercent === null ? '—' : `${s.cpuBusyPercent} %`))
  ]
  return lines.join('\n')
}

function cutoverRuns(s) {
  const lines = [
    '| # | run | versions | exit | run time | to serving | switch gap | failed | pull | boot | healthy | switch | app boot | overhead | API requests / channels | SSH |',
    '|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  ]
  s.runs.forEach((r, i) => {
    lines.push(
      `| ${i + 1} | ${r.kind} | ${r.fromVersion} → ${r.version} | ${r.ok ? 0 : 'fail'} | ${sec(r.runMs)} | ${sec(r.wallToServingMs)} | ${ms(r.switchGapMs)} | ${r.failed} | ${ms(r.steps.pull)} | ${ms(r.steps.boot)} | ${ms(r.steps.healthy)} | ${ms(r.steps.switch)} | ${r.kind === 'deploy' ? ms(r.appBootMs) : '—'} | ${ms(r.overheadMs)} | ${r.dockerApi ? `${r.dockerApi.requests} / ${r.dockerApi.channels}` : '—'} | ${r.ssh.ofThisProcess} |`
    )
  })
  for (const f of s.failedRuns)
    lines.push(`| ✗ | ${f.kind} | ${f.fromVersion} → ${f.version} | fail | ${sec(f.runMs)} | | | | | | | | | | | ${f.ssh.ofThisProcess} |`)
  return lines.join('\n')
}

function stepTable(s) {
  const lines = ['| step | deploy median | deploy max | rollback median | rollback max |', '|---|---:|---:|---:|---:|']
  const d = s.runs.filter(r => r.kind === 'deploy')
  const rb = s.runs.filter(r => r.kind === 'rollback')
  for (const step of [...STEPS, 'total']) {
    const a = d.map(r => r.steps[step])
    const b = rb.map(r => r.steps[step])
    lines.push(`| ${step} | ${ms(med(a))} | ${ms(mx(a))} | ${ms(med(b))} | ${ms(mx(b))} |`)
  }
  const outside = rs => rs.map(r => r.runMs - (r.steps.total ?? 0))
  lines.push(`| process start/exit outside the timeline | ${ms(med(outside(d)))} | ${ms(mx(outside(d)))} | ${ms(med(outside(rb)))} | ${ms(mx(outside(rb)))} |`)
  const ensure = rs =>
    rs.map(r =>
      (r.markOffsetsMs?.['boot:start'] ?? null) !== null && r.markOffsetsMs?.['pull:end'] !== undefined
        ? r.markOffsetsMs['boot:start'] - r.markOffsetsMs['pull:end']
        : null
    )
  lines.push(`| (inside pull→boot: proxy check, not a step) | ${ms(med(ensure(d)))} | ${ms(mx(ensure(d)))} | | |`)
  return lines.join('\n')
}

const PARTS = [
  ['nodeStart', 'process start to first step (Node, inputs)'],
  ['connect', 'connect (SSH handshake + docker version)'],
  ['lock', 'deploy lock (exec over SSH)'],
  ['inspect', 'read host state'],
  ['pull', "pull (not the action's)"],
  ['proxyCheck', 'proxy check between pull and boot'],
  ['containerCreateStart', 'create + start the container (Docker)'],
  ['appBoot', "app boot, container start to listening (not the action's)"],
  ['healthSlack', 'health gate after the app listens'],
  ['beforeSwitch', 'health gate to switch'],
  ['switch', 'switch (proxy files, then runtime API or reload)'],
  ['switchGapMs', 'switch to first answer of the new version'],
  ['overheadMs', '**overhead** (all but pull and app boot)']
]

/** Median of each part of a deploy, for groups of runs. */
export function breakdownTable(groups) {
  const lines = [`| part of a deploy (median ms) | ${groups.map(g => g.label).join(' | ')} |`, `|---|${groups.map(() => '---:').join('|')}|`]
  for (const [key, label] of PARTS) {
    const cells = groups.map(g => {
      const vals = g.runs.map(r => (key in (r.breakdown ?? {}) ? r.breakdown[key] : r[key]))
      return vals.some(v => v !== null && v !== undefined) ? n(med(vals)) : '—'
    })
    lines.push(`| ${label} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

function baselineRuns(s) {
  const lines = [
    '| # | run | versions | script time | to serving | switch gap | longest silence | failed keep-alive (non-2xx / socket) | failed new conn. (non-2xx / socket) |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|'
  ]
  s.runs.forEach((r, i) => {
    lines.push(
      `| ${i + 1} | ${r.kind} | ${r.fromVersion} → ${r.version} | ${sec(r.runMs)} | ${sec(r.wallToServingMs)} | ${ms(r.switchGapMs)} | ${ms(r.longestSilenceMs)} | ${r.fails.keepAlive.non2xx} / ${r.fails.keepAlive.socketErrors} | ${r.fails.newConnection.non2xx} / ${r.fails.newConnection.socketErrors} |`
    )
  })
  return lines.join('\n')
}

function cutsText(name, s) {
  const out = []
  const w = s.websockets
  const where = c => `${c.during ? c.during.split(' ')[0] : 'outside a run'}${c.step ? ` (step ${c.step})` : ''}`
  if (w.cut) {
    const steps = {}
    for (const c of w.cuts) steps[where(c)] = (steps[where(c)] ?? 0) + 1
    const since = w.cuts.map(c => c.msSinceItsVersionStoppedBeingLive).filter(x => x !== null)
    out.push(
      `- **${STRATEGY_TITLES[name]}**: ${w.cut} WebSockets cut (close codes ${Object.entries(w.cutCodes)
        .map(([k, v]) => `${k}×${v}`)
        .join(', ')}), during ${Object.entries(steps)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')}` +
        (since.length ? `; ${sec(Math.min(...since))}–${sec(Math.max(...since))} after their version stopped being live` : '') +
        (name === 'cutover' ? ` (${w.cutBeforeDrainTimeout} before the 30 s drain-timeout).` : '.')
    )
  }
  if (s.long.cut) {
    // Over every failed long request (the raw rows), not the sample kept in s.long.cuts.
    const rows = s.raw?.longRequests.rows.filter(r => r[2] && r[2] !== 'ok') ?? []
    const kinds = {}
    const steps = {}
    for (const [, end, result, status] of rows) {
      const k = status ? `HTTP ${status}` : result === 'error' ? 'connection error' : result
      kinds[k] = (kinds[k] ?? 0) + 1
      const t = s.loadStartedAt + end
      const i = s.runs.findLastIndex(r => r.t0 <= t)
      const run = i >= 0 && t <= (s.runs[i + 1]?.t0 ?? Infinity) ? s.runs[i] : undefined
      let step
      if (run?.markOffsetsMs)
        for (const [key, off] of Object.entries(run.markOffsetsMs)) if (key.endsWith(':start') && off <= t - run.t0) step = key.split(':')[0]
      const w = `${run ? run.kind : 'outside a run'}${step ? ` (step ${step})` : ''}`
      steps[w] = (steps[w] ?? 0) + 1
    }
    out.push(
      `- **${STRATEGY_TITLES[name]}**: ${s.long.cut} long requests failed, ${s.long.cutInFlight} of them cut in flight (${Object.entries(kinds)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')}), during ${Object.entries(steps)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')}.`
    )
  }
  return out
}

function transportTables(t) {
  const out = []
  out.push(
    `Relay: a Node TCP relay in front of sshd adding ${t.relayDelayMs} ms each way (${2 * t.relayDelayMs} ms round trip). No load during these runs; each deploy follows a rollback, so its run time includes any wait for the replaced standby to drain.`
  )
  out.push('')
  out.push(
    '| whole cutover run | route | runs | start to switched (median) | run time (median) | connect | healthy | switch | Docker API requests / channels | SSH connections per run |'
  )
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  const groups = {}
  for (const r of t.runs) (groups[`${r.kind}|${r.route}`] ??= []).push(r)
  for (const [k, rs] of Object.entries(groups)) {
    const [kind, route] = k.split('|')
    out.push(
      `| ${kind === 'rollback' ? 'rollback (warm)' : 'deploy (image present)'} | ${route} | ${rs.length} | ${sec(med(rs.map(r => r.breakdown?.toSwitched)))} | ${sec(med(rs.map(r => r.runMs)))} | ${ms(med(rs.map(r => r.steps.connect)))} | ${ms(med(rs.map(r => r.steps.healthy)))} | ${ms(med(rs.map(r => r.steps.switch)))} | ${med(rs.map(r => r.dockerApi?.requests))} / ${med(rs.map(r => r.dockerApi?.channels))} | ${rs.map(r => r.ssh.ofThisProcess).join(', ')} |`
    )
  }
  out.push('')
  out.push('| 30 Docker API calls | route | at a time | wall time (median) | SSH connections (client side) | sshd "Accepted" lines | errors |')
  out.push('|---|---|---:|---:|---:|---:|---|')
  for (const a of t.api) {
    out.push(
      `| ${a.mode} | ${a.route} | ${a.concurrency} | ${ms(a.wallMsMedian)} | ${[...new Set(a.sshConnections)].join(' / ')} | ${[...new Set(a.sshdLogDelta)].join(' / ')} | ${a.errors.length ? a.errors[0].replace(/\|/g, '/') : '0'} |`
    )
  }
  return out.join('\n')
}

/** The replicas and canary variants (issue #12): what they ran, and the canary's measured split. */
function strategiesText(S) {
  const out = ['## Strategies: replicas and canary', '']
  if (S.replicas) {
    out.push(
      `**replicas 3**: its own app and proxy, every color 3 containers balanced by the HAProxy switch tier; the same cycles as cutover (deploy → rollback → deploy). ${n(S.replicas.totals.failed)} failed of ${n(S.replicas.totals.requests)} requests; ${n(S.replicas.long.cut)} long requests and ${n(S.replicas.websockets.cut)} WebSockets cut; ${S.replicas.failedRuns.length} runs failed.`
    )
    out.push('')
  }
  if (S.canary) {
    const split = S.canary.split
    out.push(
      `**canary**: its own app and proxy; each cycle deploys the next version with \`canary-weight: ${split?.weight}\`, holds it under the load, then ends it with \`mode: promote\` (even cycles) or \`mode: rollback\` (odd). ${n(S.canary.totals.failed)} failed of ${n(S.canary.totals.requests)} requests; ${n(S.canary.long.cut)} long requests and ${n(S.canary.websockets.cut)} WebSockets cut; ${S.canary.failedRuns.length} runs failed. The split counts the successful answers of the load (keep-alive and new-connection) by the version each names, from 0.5 s after the canary run ended to the start of its promote or rollback:`
    )
    out.push('')
    out.push('| live → canary | window | answers | to the canary | share | off target |')
    out.push('|---|---:|---:|---:|---:|---:|')
    for (const h of split?.holds ?? [])
      out.push(`| ${h.live} → ${h.canary} | ${sec(h.windowMs)} | ${n(h.answers)} | ${n(h.toCanary)} | ${h.percent ?? '—'} % | ${h.offByPoints ?? '—'} points |`)
    out.push('')
  }
  return out
}

export function renderMarkdown(results, files) {
  const m = results.machine
  const S = results.strategies
  const p = Object.values(S)[0]?.profile
  const out = []
  out.push('# Zero-downtime benchmark under load')
  out.push('')
  out.push(
    `Run \`${results.id}\` on ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC${results.options.quick ? ' (**quick smoke run**)' : ''}: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.os ?? ''} kernel ${m.kernel}; Docker ${m.docker.server} (API ${m.docker.api}); the action on Node ${m.actionNode}, the bench on Node ${m.benchNode}; commit \`${m.git.commit?.slice(0, 7)}\`${m.git.distUncommittedChanges ? ' with uncommitted changes to dist/index.js' : ''}. Load average at start ${m.loadAverageAtStart.join(' / ')}, ${m.otherRunningContainersAtStart} other containers running.`
  )
  out.push('')
  if (p) {
    out.push(
      `Same load on every strategy, through the same proxy image, from a worker thread on loopback: ${p.ka.connections} keep-alive connections at ${p.ka.rate} req/s each, ${p.nc.loops} new-connection-per-request loops at ${p.nc.rate} req/s each (GET /), a long request (GET /slow?ms=${p.slow.ms}) started every ${p.slow.everyMs} ms on its own connection, and ${p.ws.count} WebSockets (/ws) held ${p.ws.minLifeMs / 1000}–${p.ws.maxLifeMs / 1000} s each, then closed by the client and replaced. ` +
        `Each cycle is deploy vN → rollback → deploy vN again (images rotate v1 → v2 → v3, so every deploy changes the version); ${results.options.gapMs / 1000} s between runs. cutover runs the bundled action (dist/index.js on Node 24) with its defaults (keep-previous running, drain-timeout 30 s), logging in as ${results.options.user === 'deployer' ? "a clean deploy user (the test bed's docker-group user, shell /bin/sh, no rc files)" : 'root (whose ~/.bashrc on this machine runs `pyenv init` on every SSH exec, 2-4 s under load)'}.`
    )
    out.push('')
  }
  out.push(`Raw figures: [\`${files.jsonFile}\`](${files.jsonFile}). Chart: [\`${files.svgFile}\`](${files.svgFile}).`)
  out.push('')
  out.push('## Side by side')
  out.push('')
  out.push(headline(results))
  out.push('')
  out.push(`![throughput and failures over time](${files.svgFile})`)
  out.push('')
  if (results.checklist?.length) {
    out.push('## Targets (reported, not asserted)')
    out.push('')
    for (const c of results.checklist) out.push(`- ${c.pass ? '✅ pass' : '❌ miss'} — ${c.target}: ${c.value}`)
    out.push('')
  }
  const cuts = ORDER.filter(k => S[k]).flatMap(k => cutsText(k, S[k]))
  if (cuts.length) {
    out.push('## Where the cuts happened')
    out.push('')
    out.push(...cuts)
    out.push('')
  }
  if (S.cutover) {
    out.push('## cutover, run by run')
    out.push('')
    out.push(
      '"to serving": from the process start to the first answer of the new version seen by the load. "switch gap": from the switch moment (the SIGHUP that reloads the switch tier, by the timestamp Docker gives its nginx log line, inside the action\'s switch step) to that answer. "app boot": the container start to the app\'s "listening" log line. "overhead": to serving − pull − app boot (for a rollback, all of it).'
    )
    out.push('')
    out.push(cutoverRuns(S.cutover))
    out.push('')
    out.push('Step breakdown (from the job summary of each run):')
    out.push('')
    out.push(stepTable(S.cutover))
    out.push('')
    const groups = [
      { label: `under load (${S.cutover.runs.filter(r => r.kind === 'deploy').length} deploys)`, runs: S.cutover.runs.filter(r => r.kind === 'deploy') }
    ]
    const tr = results.transport?.runs.filter(r => r.kind === 'deploy' && r.ok) ?? []
    const direct = tr.filter(r => r.route === 'direct').map(r => ({ ...r, overheadMs: r.breakdown.overheadToSwitched }))
    const relayed = tr.filter(r => r.route !== 'direct').map(r => ({ ...r, overheadMs: r.breakdown.overheadToSwitched }))
    if (direct.length) groups.push({ label: `no load, direct (${direct.length})`, runs: direct })
    if (relayed.length) groups.push({ label: `no load, ${relayed[0].route} (${relayed.length})`, runs: relayed })
    out.push(
      "Where a deploy's time goes (from the stdout marks of each run; without load there is no load to see the first answer, so overhead there ends at the switch):"
    )
    out.push('')
    out.push(breakdownTable(groups))
    out.push('')
  }
  if (S.replicas || S.canary) out.push(...strategiesText(S))
  for (const k of ['recreate', 'script']) {
    if (!S[k]) continue
    out.push(`## ${STRATEGY_TITLES[k]}, run by run`)
    out.push('')
    out.push(
      k === 'recreate'
        ? "`docker stop` (SIGTERM, the app drains) + `docker rm` + `docker run` under the same name, as `docker compose up -d` does. One plain nginx proxies to the name through Docker's DNS (`resolver 127.0.0.11 valid=1s` and a variable in `proxy_pass`, or it would keep the old address). Switch moment: the `docker stop`."
        : "`docker run` the new color, `sleep 5`, rewrite the upstream in the one plain nginx, `nginx -s reload`, then `docker stop` + `docker rm` the old one at once. Switch moment: nginx's SIGHUP log line."
    )
    out.push('')
    out.push(baselineRuns(S[k]))
    out.push('')
  }
  if (results.transport) {
    out.push('## Transport: one SSH connection vs one per request')
    out.push('')
    out.push(transportTables(results.transport))
    out.push('')
  }
  out.push('## How it is measured')
  out.push('')
  out.push(
    "- Every request is timed in the load worker (epoch ms); a run's start is the spawn of its process (cutover) or of the script's first command (baselines). A run's steps are timed from the `::group::`/`::endgroup::` lines it prints (stdout is a synchronous pipe). The switch moment is nginx's \"signal 1 (SIGHUP) received\" log line (Docker's timestamp) — for cutover the one inside the run's switch step, for the script baseline the one its `nginx -s reload` causes; for recreate it is the `docker stop`."
  )
  out.push(
    '- Steady state: a window before the first run and one after the last, with no deploy running. Around a switch: requests started within ±1 s of a switch moment. Latency counts successful answers only.'
  )
  out.push(
    '- A WebSocket is cut when it closes without the client asking (close code 1001/1006 or an error); a long request is cut when it gets a non-2xx answer or its connection fails.'
  )
  out.push(
    "- SSH connections per run: sshd's \"Accepted publickey\" lines during the run whose client port the action's process held (read from /proc), so other users of the test bed do not count; through the relay, the relay's own count."
  )
  out.push(
    "- Baselines drive the local docker CLI, as users' scripts do; images they need are made present before the timed part (cutover's own pulls are inside its runs)."
  )
  out.push('')
  out.push('Reproduce: `bash scripts/testbed/up.sh && npm run bench` (smoke run: `npm run bench -- --quick`).')
  out.push('')
  return out.join('\n')
}

// ---------------------------------------------------------------- SVG
const esc = s => String(s).replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])

function niceMax(v) {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

export function renderSvg(results) {
  const names = ORDER.filter(k => results.strategies[k])
  const W = 1200
  const panelH = 230
  const top = 70
  const left = 70
  const right = 70
  const gapY = 70
  const H = top + names.length * (panelH + gapY) + 10
  const plotW = W - left - right
  const maxSeconds = Math.max(...names.map(k => (results.strategies[k].series.okKeepAlive.length - 1) * (results.strategies[k].series.bucketMs / 1000)))
  const xs = s => left + (s / maxSeconds) * plotW
  const out = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="12">`
  )
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(
    `<text x="${left}" y="26" font-size="18" font-weight="bold">Successful answers and failures per second under the same load, switch moments marked</text>`
  )
  // legend
  const lg = [
    ['#2b6cb0', 'ok, keep-alive', 'line'],
    ['#38a169', 'ok, new connection', 'line'],
    ['#e53e3e', 'failed requests (right axis)', 'bar'],
    ['#805ad5', 'long request failed or WebSocket cut', 'tick'],
    ['#3182ce', 'deploy switch', 'dash'],
    ['#dd6b20', 'rollback switch', 'dash']
  ]
  let lx = left
  for (const [color, label, kind] of lg) {
    if (kind === 'line') out.push(`<line x1="${lx}" y1="46" x2="${lx + 22}" y2="46" stroke="${color}" stroke-width="2.5"/>`)
    else if (kind === 'bar') out.push(`<rect x="${lx + 6}" y="39" width="10" height="13" fill="${color}" opacity="0.8"/>`)
    else if (kind === 'tick') out.push(`<path d="M${lx + 11},40 l-5,9 h10 z" fill="${color}"/>`)
    else out.push(`<line x1="${lx}" y1="46" x2="${lx + 22}" y2="46" stroke="${color}" stroke-width="1.5" stroke-dasharray="4,3"/>`)
    out.push(`<text x="${lx + 28}" y="50">${esc(label)}</text>`)
    lx += 40 + label.length * 6.6
  }
  names.forEach((k, idx) => {
    const s = results.strategies[k]
    // The last bucket is partial (the load stopped inside it): leave it out.
    const trim = a => a.slice(0, Math.max(1, a.length - 1))
    const ser = { ...s.series }
    for (const key of ['okKeepAlive', 'okNewConnection', 'failedKeepAlive', 'failedNewConnection', 'longCut', 'wsCut']) ser[key] = trim(s.series[key])
    const y0 = top + idx * (panelH + gapY) + 28
    const bs = ser.bucketMs / 1000
    const ok = ser.okKeepAlive.map((v, i) => v + ser.okNewConnection[i])
    const fail = ser.failedKeepAlive.map((v, i) => v + ser.failedNewConnection[i])
    const yMax = niceMax((Math.max(...ok, ...ser.okKeepAlive) * 1.05) / bs)
    const fMax = niceMax(Math.max(1, ...fail) / bs)
    const ys = v => y0 + panelH - (v / yMax) * panelH
    const yf = v => y0 + panelH - (v / fMax) * panelH
    const title = `${STRATEGY_TITLES[k]} — ${n(s.totals.requests)} requests, ${n(s.totals.failed)} failed; ${s.long.cutInFlight} long requests and ${s.websockets.cut} WebSockets cut in flight; ${s.runs.length} switches`
    out.push(`<text x="${left}" y="${y0 - 10}" font-size="14" font-weight="bold">${esc(title)}</text>`)
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${panelH}" fill="#f7fafc" stroke="#a0aec0"/>`)
    // grid + left axis (answers/s)
    for (let g = 0; g <= 4; g++) {
      const v = (yMax * g) / 4
      const y = ys(v)
      out.push(`<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#e2e8f0"/>`)
      out.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" fill="#2d3748">${Math.round(v)}</text>`)
      const fv = (fMax * g) / 4
      if (fail.some(v => v > 0)) out.push(`<text x="${left + plotW + 6}" y="${yf(fv) + 4}" fill="#c53030">${Math.round(fv * 100) / 100}</text>`)
    }
    out.push(`<text transform="translate(${left - 48},${y0 + panelH / 2}) rotate(-90)" text-anchor="middle" fill="#2d3748">answers/s</text>`)
    if (fail.some(v => v > 0))
      out.push(`<text transform="translate(${left + plotW + 50},${y0 + panelH / 2}) rotate(90)" text-anchor="middle" fill="#c53030">failed/s</text>`)
    else out.push(`<text x="${left + plotW - 8}" y="${y0 + panelH - 10}" text-anchor="end" fill="#2f855a" font-weight="bold">no failed request</text>`)
    // x ticks
    const span = ok.length * bs
    const step = niceMax(maxSeconds / 12)
    for (let t = 0; t <= span; t += step) {
      out.push(`<line x1="${xs(t)}" y1="${y0 + panelH}" x2="${xs(t)}" y2="${y0 + panelH + 4}" stroke="#4a5568"/>`)
      out.push(`<text x="${xs(t)}" y="${y0 + panelH + 17}" text-anchor="middle" fill="#4a5568">${t}s</text>`)
    }
    // switch lines
    for (const sw of ser.switches) {
      const color = sw.kind === 'rollback' ? '#dd6b20' : '#3182ce'
      out.push(
        `<line x1="${xs(sw.s).toFixed(1)}" y1="${y0}" x2="${xs(sw.s).toFixed(1)}" y2="${y0 + panelH}" stroke="${color}" stroke-width="1.2" stroke-dasharray="4,3" opacity="0.9"/>`
      )
    }
    // failure bars
    const bw = Math.max(1.5, (bs / maxSeconds) * plotW)
    fail.forEach((v, i) => {
      if (!v) return
      const h = Math.max(2, y0 + panelH - yf(v / bs))
      out.push(
        `<rect x="${xs(i * bs).toFixed(1)}" y="${(y0 + panelH - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="#e53e3e" opacity="0.75"/>`
      )
    })
    // throughput lines
    const poly = arr => arr.map((v, i) => `${xs((i + 0.5) * bs).toFixed(1)},${ys(v / bs).toFixed(1)}`).join(' ')
    out.push(`<polyline points="${poly(ser.okKeepAlive)}" fill="none" stroke="#2b6cb0" stroke-width="1.6"/>`)
    out.push(`<polyline points="${poly(ser.okNewConnection)}" fill="none" stroke="#38a169" stroke-width="1.6"/>`)
    // cut markers (triangles at the top edge)
    ser.longCut.forEach((v, i) => {
      const c = v + ser.wsCut[i]
      if (!c) return
      const x = xs((i + 0.5) * bs)
      out.push(`<path d="M${x.toFixed(1)},${y0 + 2} l-4,8 h8 z" fill="#805ad5"><title>${c} cut at ${i * bs}s</title></path>`)
    })
    ser.wsCut.forEach((v, i) => {
      if (!v || ser.longCut[i]) return
      const x = xs((i + 0.5) * bs)
      out.push(`<path d="M${x.toFixed(1)},${y0 + 2} l-4,8 h8 z" fill="#805ad5"><title>${v} WebSockets cut at ${i * bs}s</title></path>`)
    })
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

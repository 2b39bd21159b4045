// Step tables and the stacked-bar chart of bench/steps.mjs: every millisecond of a run, from the
// spawn of its process to its exit, in consecutive segments.

/** Chart categories, in the order time is spent; a segment's category is its name or 'gaps'. */
const CATEGORIES = [
  ['start', 'Node start, modules, inputs', '#9e9e9e'],
  ['connect', 'SSH connect + Docker version', '#1f77b4'],
  ['lock', 'deploy lock', '#d62728'],
  ['proxy', 'proxy checks (after the lock)', '#ff7f0e'],
  ['inspect', 'host state', '#8c564b'],
  ['pull', 'pull', '#c7c7c7'],
  ['boot', 'create + start container', '#2ca02c'],
  ['healthy', 'health gate (app boot)', '#98df8a'],
  ['switch', 'switch', '#9467bd'],
  ['verify', 'verify', '#e377c2'],
  ['cleanup', 'cleanup', '#bcbd22'],
  ['gaps', 'between steps', '#dbdb8d'],
  ['end', 'report, close, exit', '#17becf']
]

const START_PARTS = new Set([
  'Node start + bundle parse',
  'entry modules',
  'module loading',
  'inputs',
  'before the first step',
  'start (Node, modules, inputs)'
])
const END_PARTS = new Set(['close', 'report', 'process exit', 'report + exit', 'after the last step'])

export function categoryOf(name) {
  if (START_PARTS.has(name)) return 'start'
  if (END_PARTS.has(name)) return 'end'
  if (name === 'after lock') return 'proxy'
  if (name.startsWith('after ')) return 'gaps'
  return name
}

/**
 * A run's consecutive segments (name, ms) from spawn to exit: the start (split by the action's
 * trace when it printed one), each ::group:: step, the gaps between them, and the end.
 */
export function stepSegments(run) {
  const segments = []
  const groups = []
  for (const m of run.marks) {
    if (m.at === 'start') groups.push({ step: m.step, start: m.t })
    else if (groups.length && groups[groups.length - 1].end === undefined) groups[groups.length - 1].end = m.t
  }
  const firstStart = groups[0]?.start ?? run.exitedAt
  const trace = run.trace
  const add = (name, ms) => segments.push({ name, ms: Math.max(0, Math.round(ms)) })
  const inputs = trace?.spans.find(s => s.name === 'inputs')
  if (trace?.marks?.bundle !== undefined && trace.marks.main !== undefined && inputs && inputs.end <= trace.marks.main) {
    // Since issue #25's split: the entry reads the inputs and starts connecting, then loads the rest (main.ts's chunk).
    const at = ms => trace.origin + ms
    add('Node start + bundle parse', at(trace.marks.bundle) - run.spawnedAt)
    add('entry modules', inputs.start - trace.marks.bundle)
    add('inputs', inputs.end - inputs.start)
    add('module loading', trace.marks.main - inputs.end)
    add('before the first step', firstStart - at(trace.marks.main))
  } else if (trace?.marks?.bundle !== undefined && trace.marks.main !== undefined) {
    const at = ms => trace.origin + ms
    add('Node start + bundle parse', at(trace.marks.bundle) - run.spawnedAt)
    add('module loading', trace.marks.main - trace.marks.bundle)
    add('inputs', inputs ? inputs.end - inputs.start : 0)
    add('before the first step', firstStart - at(inputs ? inputs.end : trace.marks.main))
  } else add('start (Node, modules, inputs)', firstStart - run.spawnedAt)
  groups.forEach((g, i) => {
    const end = g.end ?? run.exitedAt
    add(g.step, end - g.start)
    if (i + 1 < groups.length) add(`after ${g.step}`, groups[i + 1].start - end)
  })
  const lastEnd = groups.length ? (groups[groups.length - 1].end ?? run.exitedAt) : firstStart
  const close = trace?.spans.find(s => s.name === 'close')
  const report = trace?.spans.find(s => s.name === 'report')
  if (trace && close && report) {
    const at = ms => trace.origin + ms
    add('after the last step', at(close.start) - lastEnd)
    add('close', close.end - close.start)
    add('report', report.end - report.start)
    add('process exit', run.exitedAt - at(report.end))
  } else add('report + exit', run.exitedAt - lastEnd)
  return segments
}

const median = xs => {
  const s = xs.filter(x => x !== null && x !== undefined).sort((a, b) => a - b)
  if (!s.length) return null
  return s.length % 2 ? s[(s.length - 1) / 2] : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2)
}
const ms = x => (x === null || x === undefined ? '—' : `${Math.round(x).toLocaleString('en-US')} ms`)

/** Per bundle and mode: median ms per segment name, in first-seen order. */
function medians(runs) {
  const groups = new Map()
  for (const r of runs) {
    const key = `${r.bundle}|${r.mode}`
    if (!groups.has(key)) groups.set(key, { bundle: r.bundle, mode: r.mode, runs: [] })
    groups.get(key).runs.push(r)
  }
  return [...groups.values()].map(g => {
    const names = []
    for (const r of g.runs) for (const s of r.segments) if (!names.includes(s.name)) names.push(s.name)
    const segs = names.map(name => ({ name, ms: median(g.runs.map(r => r.segments.filter(s => s.name === name).reduce((a, s) => a + s.ms, 0))) }))
    const cats = Object.fromEntries(CATEGORIES.map(([c]) => [c, 0]))
    for (const s of segs) cats[categoryOf(s.name)] = (cats[categoryOf(s.name)] ?? 0) + s.ms
    return {
      ...g,
      segs,
      cats,
      total: median(g.runs.map(r => r.totalMs)),
      toServing: median(g.runs.map(r => r.toServingMs)),
      overhead: median(g.runs.map(r => r.overheadMs)),
      loads: g.runs.map(r => r.loadAvg)
    }
  })
}

/** Calls to the host of the runs that traced them (Docker API, the proxy's admin socket, the lock's shell): count per run and median ms, by call. */
function dockerCalls(runs) {
  const by = new Map()
  for (const r of runs) {
    if (!r.trace) continue
    const seen = new Map()
    for (const s of r.trace.spans) {
      if (!/^(docker|admin|host) /.test(s.name)) continue
      const name = s.name
        .replace(/\/containers\/(?!create$|json$)[^/]+/, '/containers/{id}')
        .replace(/\/images\/(?!create$|json$).+?(?=\/json$|$)/, '/images/{name}')
        .replace(/\/networks\/[^/]+/, '/networks/{name}')
      seen.set(name, (seen.get(name) ?? 0) + 1)
      if (!by.has(name)) by.set(name, { times: [], counts: [] })
      by.get(name).times.push(s.end - s.start)
    }
    for (const [name, n] of seen) by.get(name).counts.push(n)
  }
  return [...by.entries()].map(([name, v]) => ({ name, perRun: median(v.counts), median: median(v.times) }))
}

export function renderStepsMarkdown(result, jsonName, chartName) {
  const groups = medians(result.runs)
  const out = []
  out.push(`# Where a deploy's and a rollback's time goes (issue #25)`, '')
  out.push(
    `Run ${result.date} on commit \`${result.commit}\`, ${result.machine.cpus} cores (${result.machine.model}), SSH user ${result.sshUser ?? 'root'}, load: ${result.load}; ` +
      `load average at the end ${result.machine.loadAverageAtEnd.join(' / ')} (other agents' test suites share the machine). ` +
      `Bundles, interleaved run by run: ${result.bundles.map(b => `**${b.label}** (entry file ${(b.bytes / 1e6).toFixed(2)} MB${b.totalBytes && b.totalBytes !== b.bytes ? `, ${(b.totalBytes / 1e6).toFixed(2)} MB with the chunks it imports later` : ''})`).join(', ')}. ` +
      `Raw: [\`${jsonName}\`](${jsonName}). Chart: [\`${chartName}\`](${chartName}).`,
    ''
  )
  out.push(
    'Each pair is a warm rollback (the previous color still running) then a deploy of the next version (image already on the host), drain-timeout 2 s. ' +
      '"to serving": spawn of the process to the first answer of the new version through the proxy (a new connection every ~5 ms). ' +
      '"overhead": to serving, less the pull and the app\'s own boot (for a rollback, all of it). Segments are consecutive and add up to the run time. ' +
      'Where the bundle changes, two rollbacks not counted come first: a version of cutover reloads the proxy once to write its own shared settings.',
    ''
  )
  out.push('| bundle | mode | runs | run time (median) | to serving (median) | overhead (median) | load average (1 min) at each run |')
  out.push('|---|---|---:|---:|---:|---:|---|')
  for (const g of groups)
    out.push(`| ${g.bundle} | ${g.mode} | ${g.runs.length} | ${ms(g.total)} | ${ms(g.toServing)} | ${ms(g.overhead)} | ${g.loads.join(', ')} |`)
  out.push('', '## Every segment, median ms', '')
  const names = []
  for (const g of groups) for (const s of g.segs) if (!names.includes(s.name)) names.push(s.name)
  out.push(`| segment | ${groups.map(g => `${g.bundle} ${g.mode}`).join(' | ')} |`)
  out.push(`|---|${groups.map(() => '---:').join('|')}|`)
  for (const n of names) out.push(`| ${n} | ${groups.map(g => ms(g.segs.find(s => s.name === n)?.ms)).join(' | ')} |`)
  out.push(`| **run time** | ${groups.map(g => `**${ms(g.total)}**`).join(' | ')} |`)
  // The handshake and the lock's shell overlap other segments once the entry starts them early: their own length, apart.
  const overlapped = ['ssh handshake', 'lock shell']
  const spanMs = (g, name) => median(g.runs.map(r => r.trace?.spans.find(s => s.name === name)).map(s => (s ? Math.round(s.end - s.start) : null)))
  if (groups.some(g => overlapped.some(n => spanMs(g, n) !== null))) {
    out.push('', '## Calls that may overlap the segments above, median ms', '')
    out.push(`| call | ${groups.map(g => `${g.bundle} ${g.mode}`).join(' | ')} |`, `|---|${groups.map(() => '---:').join('|')}|`)
    for (const n of overlapped) out.push(`| ${n} | ${groups.map(g => ms(spanMs(g, n))).join(' | ')} |`)
  }
  const calls = dockerCalls(result.runs)
  if (calls.length) {
    out.push('', "## Calls to the host: Docker API, the proxy's admin socket (`admin`), the lock's shell (`host`) (runs that printed the action's trace)", '')
    out.push('| call | per run (median) | ms each (median) |', '|---|---:|---:|')
    for (const c of calls.sort((a, b) => b.perRun * b.median - a.perRun * a.median)) out.push(`| \`${c.name}\` | ${c.perRun} | ${ms(c.median)} |`)
  }
  out.push('', `![where the time goes](${chartName})`, '')
  return out.join('\n')
}

/** Horizontal stacked bars, one per bundle and mode, of the median ms per category. */
export function renderStepsSvg(result) {
  const groups = medians(result.runs)
  const rowH = 26
  const left = 190
  const width = 900
  const top = 40
  const maxMs = Math.max(1, ...groups.map(g => Object.values(g.cats).reduce((a, b) => a + b, 0)))
  const scale = (width - left - 30) / maxMs
  const legendTop = top + groups.length * (rowH + 8) + 30
  const height = legendTop + Math.ceil(CATEGORIES.length / 4) * 20 + 10
  const esc = s => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14">Where a run's time goes, process start to exit (median ms; ${esc(result.load)}, machine load average ${esc(result.machine.loadAverageAtEnd[0])}; ${esc(result.commit)})</text>`
  ]
  groups.forEach((g, i) => {
    const y = top + i * (rowH + 8)
    parts.push(`<text x="10" y="${y + rowH / 2 + 4}">${esc(`${g.bundle} ${g.mode}`)}</text>`)
    let x = left
    for (const [cat, label, color] of CATEGORIES) {
      const w = (g.cats[cat] ?? 0) * scale
      if (w <= 0) continue
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH}" fill="${color}"><title>${esc(label)}: ${g.cats[cat]} ms</title></rect>`
      )
      if (w > 34) parts.push(`<text x="${(x + 3).toFixed(1)}" y="${y + rowH / 2 + 4}" font-size="10">${g.cats[cat]}</text>`)
      x += w
    }
    parts.push(`<text x="${(x + 4).toFixed(1)}" y="${y + rowH / 2 + 4}">${g.total} ms</text>`)
  })
  CATEGORIES.forEach(([, label, color], i) => {
    const x = 10 + (i % 4) * 220
    const y = legendTop + Math.floor(i / 4) * 20
    parts.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${color}"/><text x="${x + 16}" y="${y}">${esc(label)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}

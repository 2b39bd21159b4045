// Turns the load's raw records and a strategy's switch events into the reported figures.

export function percentile(sorted, p) {
  if (!sorted.length) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return Math.round(sorted[i] * 100) / 100
}

const median = xs => {
  const s = xs.filter(x => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b)
  return s.length ? percentile(s, 50) : null
}
const max = xs => {
  const s = xs.filter(x => x !== null && x !== undefined && Number.isFinite(x))
  return s.length ? Math.max(...s) : null
}

function latencyStats(load, pick) {
  const all = []
  const byCls = [[], []]
  const R = load.short
  for (let i = 0; i < R.t.length; i++) {
    if (R.res[i] !== 0 || !pick(R.t[i])) continue
    all.push(R.lat[i])
    byCls[R.cls[i]].push(R.lat[i])
  }
  const f = xs => {
    xs.sort((a, b) => a - b)
    return { n: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: xs.length ? Math.round(xs[xs.length - 1]) : null }
  }
  return { all: f(all), keepAlive: f(byCls[0]), newConnection: f(byCls[1]) }
}

/**
 * load: the worker's result; events: [{ kind, image, version, fromVersion, t0, tSwitch, tEnd, ... }]
 * (epoch ms); steady: [[from, to], ...] windows with no deploy running.
 */
export function analyze({ load, events, steady, drainTimeoutMs, bucketMs = 1000 }) {
  const R = load.short
  const n = R.t.length
  const versions = load.versions
  const ver = i => (R.ver[i] >= 0 ? versions[R.ver[i]] : '')

  // ---- totals
  const totals = {
    requests: n,
    ok: 0,
    keepAlive: { requests: 0, ok: 0, non2xx: 0, socketErrors: 0 },
    newConnection: { requests: 0, ok: 0, non2xx: 0, socketErrors: 0 },
    non2xxByStatus: {}
  }
  for (let i = 0; i < n; i++) {
    const c = R.cls[i] === 0 ? totals.keepAlive : totals.newConnection
    c.requests++
    if (R.res[i] === 0) {
      c.ok++
      totals.ok++
    } else if (R.res[i] === 1) {
      c.non2xx++
      totals.non2xxByStatus[R.status[i]] = (totals.non2xxByStatus[R.status[i]] ?? 0) + 1
    } else c.socketErrors++
  }
  totals.failed = n - totals.ok
  const span = (load.stoppedAt - load.startedAt) / 1000
  totals.requestsPerSecond = Math.round(n / span)

  // ---- successful completions, sorted, for gaps
  const okDone = []
  for (let i = 0; i < n; i++) if (R.res[i] === 0) okDone.push(R.t[i] + R.lat[i])
  okDone.sort((a, b) => a - b)
  const longestSilence = (from, to) => {
    // longest interval in [from, to] without a successful completion
    let lo = 0
    let hi = okDone.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (okDone[mid] < from) lo = mid + 1
      else hi = mid
    }
    let prev = from
    let best = 0
    let bestAt = from
    for (let k = lo; k < okDone.length && okDone[k] <= to; k++) {
      if (okDone[k] - prev > best) {
        best = okDone[k] - prev
        bestAt = prev
      }
      prev = okDone[k]
    }
    if (to - prev > best) {
      best = to - prev
      bestAt = prev
    }
    return { ms: Math.round(best), from: Math.round(bestAt) }
  }

  // ---- per event
  const perEvent = events.map((e, idx) => {
    const windowEnd = (events[idx + 1]?.t0 ?? e.tEnd + 3000) - 1
    let firstNew = Infinity
    let lastOld = -Infinity
    const fails = { keepAlive: { non2xx: 0, socketErrors: 0 }, newConnection: { non2xx: 0, socketErrors: 0 } }
    const failsNearSwitch = { keepAlive: 0, newConnection: 0 }
    for (let i = 0; i < n; i++) {
      const t = R.t[i]
      if (t < e.t0 || t > windowEnd) continue
      const done = t + R.lat[i]
      if (R.res[i] === 0) {
        const v = ver(i)
        if (v === e.version && done < firstNew) firstNew = done
        if (v === e.fromVersion && done > lastOld) lastOld = done
      } else {
        const c = R.cls[i] === 0 ? 'keepAlive' : 'newConnection'
        if (R.res[i] === 1) fails[c].non2xx++
        else fails[c].socketErrors++
        if (Math.abs(t - e.tSwitch) <= 1000) failsNearSwitch[c]++
      }
    }
    const served = Number.isFinite(firstNew) ? firstNew : null
    const silence = served ? longestSilence(Math.min(e.tSwitch, served) - 1000, Math.max(e.tSwitch, served) + 1000) : null
    return {
      kind: e.kind,
      version: e.version,
      fromVersion: e.fromVersion,
      t0: Math.round(e.t0),
      tSwitch: Math.round(e.tSwitch),
      wallToServingMs: served ? Math.round(served - e.t0) : null,
      switchGapMs: served ? Math.round(served - e.tSwitch) : null,
      switchMomentFrom: e.switchMomentFrom,
      switchGapFromStepEndMs: served && e.switchStepEnd ? Math.round(served - e.switchStepEnd) : undefined,
      switchGapFromCommandReturnMs: served && e.tReloadReturned ? Math.round(served - e.tReloadReturned) : undefined,
      lastOldAfterSwitchMs: Number.isFinite(lastOld) ? Math.round(lastOld - e.tSwitch) : null,
      longestSilenceMs: silence?.ms ?? null,
      failed: fails.keepAlive.non2xx + fails.keepAlive.socketErrors + fails.newConnection.non2xx + fails.newConnection.socketErrors,
      fails,
      failsWithin1sOfSwitch: failsNearSwitch
    }
  })

  // ---- failures not inside any run window
  const inRun = t => events.some((e, idx) => t >= e.t0 && t <= (events[idx + 1]?.t0 ?? e.tEnd + 3000))
  let failedOutsideRuns = 0
  for (let i = 0; i < n; i++) if (R.res[i] !== 0 && !inRun(R.t[i])) failedOutsideRuns++

  // ---- latency
  const inSteady = t => steady.some(([a, b]) => t >= a && t <= b)
  const nearSwitch = t => events.some(e => Math.abs(t - e.tSwitch) <= 1000)
  const latency = { steady: latencyStats(load, inSteady), aroundSwitches: latencyStats(load, nearSwitch) }

  // ---- live version over time (for classifying cuts)
  const switches = events.map(e => ({ t: e.tSwitch, from: e.fromVersion, to: e.version })).sort((a, b) => a.t - b.t)
  const lastSwitchAway = (version, t) => {
    let at = null
    for (const s of switches) if (s.t <= t && s.from === version && s.to !== version) at = s.t
    return at
  }
  const eventAt = t => events.find((e, idx) => t >= e.t0 && t <= (events[idx + 1]?.t0 ?? e.tEnd + 3000))
  const stepAt = (e, t) => {
    if (!e?.marks) return undefined
    let step
    for (const m of e.marks) if (m.at === 'start' && m.t <= t) step = m.step
    return step
  }

  // ---- long requests
  const slow = load.slow.filter(s => s.res)
  const slowCut = slow.filter(s => s.res !== 'ok')
  const spanning = slow.filter(s => switches.some(w => s.t0 < w.t && s.t1 > w.t))
  const long = {
    started: load.slow.length,
    completed: slow.filter(s => s.res === 'ok').length,
    inFlightAcrossASwitch: spanning.length,
    spanningOk: spanning.filter(s => s.res === 'ok').length,
    /** In flight across a switch and not completed: cut mid-flight. */
    cutInFlight: spanning.filter(s => s.res !== 'ok').length,
    /** Every long request that did not complete (including ones refused when they started). */
    cut: slowCut.length,
    cutNon2xx: slowCut.filter(s => s.res === 'non2xx').length,
    cutSocket: slowCut.filter(s => s.res === 'error').length,
    cuts: slowCut.slice(0, 200).map(s => {
      const e = eventAt(s.t1)
      return { started: s.t0, ended: s.t1, status: s.status, error: s.error, during: e ? `${e.kind} ${e.version}` : null, step: stepAt(e, s.t1) }
    })
  }

  // ---- WebSockets
  const ws = load.sockets
  const wsCut = ws.filter(s => s.how === 'cut')
  const wsSpanning = ws.filter(s => s.opened && switches.some(w => s.opened < w.t && (s.closed || Infinity) > w.t))
  const cuts = wsCut.map(s => {
    const away = lastSwitchAway(s.version, s.closed)
    const e = eventAt(s.closed)
    const sinceAway = away !== null ? s.closed - away : null
    return {
      version: s.version,
      opened: s.opened,
      closed: s.closed,
      code: s.code,
      reason: s.reason,
      error: s.error,
      plannedLifeMs: s.lifeMs,
      msSinceItsVersionStoppedBeingLive: sinceAway,
      beforeDrainTimeout: drainTimeoutMs ? sinceAway === null || sinceAway < drainTimeoutMs : true,
      during: e ? `${e.kind} ${e.version}` : null,
      step: stepAt(e, s.closed)
    }
  })
  const websockets = {
    opened: ws.filter(s => s.opened).length,
    openFailed: ws.filter(s => s.how === 'open-failed').length,
    heldAcrossASwitch: wsSpanning.length,
    survivedASwitchAwayFromTheirVersion: ws.filter(
      s => s.how !== 'cut' && s.opened && switches.some(w => w.from === s.version && s.opened < w.t && s.closed > w.t)
    ).length,
    closedByClient: ws.filter(s => s.how === 'client').length,
    cut: wsCut.length,
    cutBeforeDrainTimeout: cuts.filter(c => c.beforeDrainTimeout).length,
    cutCodes: wsCut.reduce((acc, s) => ((acc[s.code] = (acc[s.code] ?? 0) + 1), acc), {}),
    cuts
  }

  // ---- time series for the chart
  const t0 = load.startedAt
  // Up to the moment the load was told to stop (after it, only long requests finish).
  const buckets = Math.ceil(((load.stopRequestedAt ?? load.stoppedAt) - t0) / bucketMs)
  const series = {
    bucketMs,
    okKeepAlive: new Array(buckets).fill(0),
    okNewConnection: new Array(buckets).fill(0),
    failedKeepAlive: new Array(buckets).fill(0),
    failedNewConnection: new Array(buckets).fill(0),
    longCut: new Array(buckets).fill(0),
    wsCut: new Array(buckets).fill(0)
  }
  for (let i = 0; i < n; i++) {
    const b = Math.floor((R.t[i] + R.lat[i] - t0) / bucketMs)
    if (b < 0 || b >= buckets) continue
    const key = (R.res[i] === 0 ? 'ok' : 'failed') + (R.cls[i] === 0 ? 'KeepAlive' : 'NewConnection')
    series[key][b]++
  }
  for (const s of slowCut) {
    const b = Math.floor((s.t1 - t0) / bucketMs)
    if (b >= 0 && b < buckets) series.longCut[b]++
  }
  for (const s of wsCut) {
    const b = Math.floor((s.closed - t0) / bucketMs)
    if (b >= 0 && b < buckets) series.wsCut[b]++
  }
  series.switches = events.map(e => ({ s: Math.round(e.tSwitch - t0) / 1000, kind: e.kind, version: e.version }))

  const of = kind => perEvent.filter(e => e.kind === kind)
  const summary = {
    switches: perEvent.length,
    switchGapMs: { median: median(perEvent.map(e => e.switchGapMs)), max: max(perEvent.map(e => e.switchGapMs)) },
    longestSilenceMs: { median: median(perEvent.map(e => e.longestSilenceMs)), max: max(perEvent.map(e => e.longestSilenceMs)) },
    deployWallMs: { median: median(of('deploy').map(e => e.wallToServingMs)), max: max(of('deploy').map(e => e.wallToServingMs)) },
    rollbackWallMs: { median: median(of('rollback').map(e => e.wallToServingMs)), max: max(of('rollback').map(e => e.wallToServingMs)) }
  }
  return {
    totals,
    failedOutsideRuns,
    latency,
    summary,
    perEvent,
    long,
    websockets,
    series,
    errorSamples: load.errorSamples.slice(0, 60),
    versionsSeen: versions
  }
}

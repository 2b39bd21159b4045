// The steady bench's rounds, compared in pairs: each round runs every variant back to back, so a
// variant's throughput and CPU per request are divided by its yardstick's in the same round. The
// medians of whole columns can each come from a different round (a busy moment on one side only);
// the paired ratios show how often a round met the target and how wide the rounds spread.

/**
 * The yardstick a variant is compared with: the nginx hop ending TLS for HTTPS variants, the plain
 * one otherwise; Debian 13's builds (`-d13`) with Debian 13's nginx, on the same OpenSSL.
 */
export function yardstickOf(variant, url) {
  const base = (url ?? '').startsWith('https:') || /https/.test(variant) ? 'single-https' : 'single'
  return variant.endsWith('-d13') ? `${base}-d13` : base
}

function quartiles(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const at = q => {
    const i = (s.length - 1) * q
    const lo = Math.floor(i)
    return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo)
  }
  return { q1: at(0.25), median: at(0.5), q3: at(0.75) }
}

const round2 = x => Math.round(x * 100) / 100

/**
 * Per round, `variant` against `yardstick` in `mode`: throughput ratio (its quartiles, and in how
 * many rounds it was >= 0.95) and CPU-per-request ratio (quartiles). undefined without a pair.
 */
export function pairedRounds(runs, mode, variant, yardstick) {
  const of = name => new Map(runs.filter(r => r.mode === mode && r.variant === name && !r.failed).map(r => [r.round, r]))
  const mine = of(variant)
  const base = of(yardstick)
  const pairs = [...mine.keys()].filter(k => base.has(k)).map(k => [mine.get(k), base.get(k)])
  if (!pairs.length || variant === yardstick) return undefined
  const rps = pairs.map(([a, b]) => a.rps / b.rps).filter(Number.isFinite)
  const cpu = pairs.map(([a, b]) => a.proxyUsPerReq / b.proxyUsPerReq).filter(Number.isFinite)
  const q = xs => Object.fromEntries(Object.entries(quartiles(xs)).map(([k, v]) => [k, round2(v)]))
  return {
    rounds: pairs.length,
    rps: { ...q(rps), atLeast095: rps.filter(x => x >= 0.95).length },
    cpu: cpu.length ? q(cpu) : undefined
  }
}

/** The table cell: `0.94× (0.91–0.97), 7 of 16 rounds ≥ 0.95× · CPU 1.11× (1.05–1.15)`. */
export function pairedCell(p) {
  if (!p) return ''
  const cpu = p.cpu ? ` · CPU ${p.cpu.median}× (${p.cpu.q1}–${p.cpu.q3})` : ''
  return `${p.rps.median}× (${p.rps.q1}–${p.rps.q3}), ${p.rps.atLeast095} of ${p.rounds} rounds ≥ 0.95×${cpu}`
}

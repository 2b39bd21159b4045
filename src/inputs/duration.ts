const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** "1500ms", "30s", "2m", "1h" or a bare number of seconds; undefined when malformed. */
export function parseDuration(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim())
  if (!m) return undefined
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's'])
}

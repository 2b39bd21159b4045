import { parseDuration } from './duration.js'
import { envName } from './env-name.js'
import { InputError, type InputSource } from './errors.js'
import { MAX_DURATION_MS } from './patterns.js'

/** Reads the step's inputs: trimmed text, secrets (masked), booleans, numbers, durations, lists. */
export class Reader {
  constructor(private readonly source: InputSource) {}

  str(name: string, fallback = ''): string {
    const v = this.source.get(name).trim()
    return v === '' ? fallback : v
  }

  required(name: string): string {
    const v = this.str(name)
    if (!v) throw new InputError(name, `is required but was empty (set it in the step's with:, in cutover.yml, or as ${envName(name)})`)
    return v
  }

  secret(name: string): string {
    const v = this.source.get(name)
    maskSecret(this.source, v)
    return v
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.str(name).toLowerCase()
    if (!v) return fallback
    if (['true', 'yes', '1', 'on'].includes(v)) return true
    if (['false', 'no', '0', 'off'].includes(v)) return false
    throw new InputError(name, `must be true or false, not "${v}"`)
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.str(name)
    if (!v) return fallback
    if (!/^\d+$/.test(v)) throw new InputError(name, `must be a whole number from ${min} to ${max}, not "${v}"`)
    const n = Number(v)
    if (n < min || n > max) throw new InputError(name, `must be from ${min} to ${max}, not ${n}`)
    return n
  }

  duration(name: string, fallback: string, minMs = 0): number {
    const v = this.str(name, fallback)
    const ms = parseDuration(v)
    if (ms === undefined) {
      throw new InputError(name, `must be a duration such as 30s, 1500ms, 2m or a number of seconds, not "${v}"`)
    }
    if (ms < minMs) throw new InputError(name, `must be at least ${minMs} ms, not "${v}"`)
    if (ms > MAX_DURATION_MS) throw new InputError(name, `must be at most 24h, not "${v}"`)
    return ms
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.str(name, fallback).toLowerCase() as T
    if (!allowed.includes(v)) throw new InputError(name, `must be one of ${allowed.join(', ')}, not "${v}"`)
    return v
  }

  /** Non-empty, non-comment lines of a multiline input. */
  lines(name: string): string[] {
    return this.source
      .get(name)
      .split(/\r?\n/)
      .map(l => l.trim())
      .filter(l => l && !l.startsWith('#'))
  }
}

export function maskSecret(source: InputSource, value: string): void {
  if (!value) return
  source.mask(value)
  // The runner masks a registered secret line by line only when told each line.
  for (const line of value.split(/\r?\n/)) if (line.trim().length >= 4) source.mask(line.trim())
}

/**
 * An env value is masked as a secret unless it is shorter than 4 characters: PORT=80, DEBUG=1 or
 * JOB_MS=200 are no secrets, and masking them would blank every "1" or "200" in the log.
 */
export const ENV_MASK_MIN_LENGTH = 4

export function maskEnvValue(source: InputSource, value: string): void {
  if (value.trim().length >= ENV_MASK_MIN_LENGTH) maskSecret(source, value)
}

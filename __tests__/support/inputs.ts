import { tmpdir } from 'node:os'
import { InputError, parseInputs } from '../../src/inputs/parse.js'

/**
 * parseInputs over `base` with some inputs replaced (undefined: as if not given), and the message
 * of the InputError those inputs must raise. `masked` collects what the parser masks.
 */
export function inputParser(base: Record<string, string>) {
  const parse = (overrides: Record<string, string | undefined> = {}, masked: string[] = []) => {
    const values: Record<string, string | undefined> = { ...base, ...overrides }
    return parseInputs({ get: n => values[n] ?? '', mask: s => masked.push(s), workspace: tmpdir() })
  }
  const errorOf = (overrides: Record<string, string | undefined>): string => {
    try {
      parse(overrides)
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      return (e as Error).message
    }
    throw new Error('expected an InputError')
  }
  return { parse, errorOf }
}

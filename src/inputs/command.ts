import shellQuote from 'shell-quote'
import { InputError } from './errors.js'

/** Stands in for `$` while shell-quote parses: no shell runs the command, so `$HOME` stays literal. */
const DOLLAR = '\u0000'

/**
 * Shell-style quoting only: no shell runs the command, so there are no variables (`$HOME` is
 * passed as the four characters it is, where shell-quote would silently make it empty), no
 * pipes, redirections, globs, comments or command substitution.
 */
export function parseCommand(value: string, input = 'command'): string[] | undefined {
  if (!value) return undefined
  if (value.includes(DOLLAR)) throw new InputError(input, 'has a NUL character, which no process can receive')
  const parts = shellQuote.parse(value.split('$').join(DOLLAR))
  if (parts.some(p => typeof p !== 'string')) {
    throw new InputError(
      input,
      'must be a plain command with arguments (no pipes, redirections, globs, comments or $(...): no shell runs it; wrap it in sh -c "..." if you need one)'
    )
  }
  return (parts as string[]).map(p => p.split(DOLLAR).join('$'))
}

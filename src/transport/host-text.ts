/**
 * Text that came from the host (a lock holder, a Docker message, a health answer) made safe for
 * the runner's log: one line (no control characters, no line or paragraph separators, no bidi
 * overrides), never starting with `::` (a workflow command such as ::error:: or ::add-mask::
 * is only recognized at the start of a line), and at most `max` characters.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g

export function sanitizeHostText(text: string, max = 300): string {
  let s = String(text).replace(UNSAFE, ' ').replace(/\s+/g, ' ').trim()
  s = s.replace(/^[\s:]+/, '')
  const chars = Array.from(s)
  if (chars.length > max) s = chars.slice(0, Math.max(0, max - 1)).join('') + '…'
  return s
}

import type { Color } from './names.js'

/** Where an app's live traffic goes, as recorded on the host beside the proxy's route. */
export interface RouteState {
  app: string
  color: Color
  image: string
  deployedAt: string
  /** The color that served before, the rollback target. */
  previous?: { color: Color; image: string }
}

const MARKER = '# cutover-state: '

export function stateComment(state: RouteState): string {
  return MARKER + JSON.stringify(state)
}

/** Reads the state comment back from a proxy config file; undefined when there is none. */
export function parseStateComment(text: string): RouteState | undefined {
  const line = text.split('\n').find(l => l.startsWith(MARKER))
  if (!line) return undefined
  try {
    const s = JSON.parse(line.slice(MARKER.length)) as RouteState
    if ((s.color === 'blue' || s.color === 'green') && typeof s.image === 'string') return s
  } catch {
    // a damaged file is treated as no state; the next switch rewrites it
  }
  return undefined
}

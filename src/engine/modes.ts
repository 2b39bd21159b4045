import type { Mode, ReleaseResult } from '../core/outcome.js'
import type { EngineConfig } from './context.js'
import type { ReleaseEngine } from './release.js'

export interface ModeEntry {
  /** Changes the host (takes the deploy lock); status only reads. */
  changes: boolean
  /** Several hosts switch together (barriers before the switch and after the verify); otherwise each host on its own. */
  switches: boolean
  run(engine: ReleaseEngine, config: EngineConfig): Promise<ReleaseResult>
}

/**
 * What each mode does on one host, for the Action's entry and the fleet alike: a single host is
 * a fleet of one, and no mode is chosen in two places.
 */
export const MODES: Record<Mode, ModeEntry> = {
  deploy: { changes: true, switches: true, run: (e, c) => e.release({ kind: 'deploy', image: c.image! }) },
  rollback: { changes: true, switches: true, run: (e, c) => e.release({ kind: 'rollback', toImage: c.toImage, toRelease: c.toRelease }) },
  promote: { changes: true, switches: true, run: e => e.promote() },
  maintenance: { changes: true, switches: false, run: e => e.maintenance(true) },
  live: { changes: true, switches: false, run: e => e.maintenance(false) },
  status: { changes: false, switches: false, run: e => e.status() },
  remove: { changes: true, switches: false, run: e => e.remove() }
}

import type { ReleaseResult, Standby } from '../core/outcome.js'
import type { Release } from '../core/release.js'
import { isContainerOf, type ColorContainer } from './plan.js'

/** The recorded previous release's color as the host has it now. */
export function standbyOf(releases: Release[], colors: ColorContainer[]): Standby | undefined {
  const previous = releases[1]
  if (!previous) return undefined
  const c = colors.find(x => x.color === previous.color)
  const state = !c || !isContainerOf(c, previous) ? 'removed' : c.running ? 'running' : 'stopped'
  return { color: previous.color, image: previous.image, state }
}

/** A result that names `live` as what serves and the ledger's releases behind it. */
export function resultOf(result: ReleaseResult['result'], live: Release, releases: Release[], containerId?: string, standby?: Standby): ReleaseResult {
  const previous = releases[1]
  return {
    result,
    color: live.color,
    image: live.image,
    containerId,
    deployedAt: live.liveSince,
    previousColor: previous?.color,
    previousImage: previous?.image,
    standby,
    release: live,
    releases
  }
}

/** What a failed run reports: what serves (as far as the run knows) and the ledger's releases. */
export function failedResultOf(live: Release | undefined, releases: Release[]): ReleaseResult {
  const previous = releases.find(r => r.id !== live?.id)
  return {
    result: 'failed',
    color: live?.color,
    image: live?.image,
    deployedAt: live?.liveSince,
    previousColor: previous?.color,
    previousImage: previous?.image,
    release: live,
    releases
  }
}

import { otherColor, type Color } from '../core/names.js'
import type { Release } from '../core/release.js'

/** What is on the host for one color of the app. */
export interface ColorContainer {
  color: Color
  exists: boolean
  running: boolean
  /** The image reference it was started from (its label). */
  image?: string
  /** The ledger id of the release it was started for (its label; absent on containers of older versions). */
  releaseId?: string
}

export type ReleaseRequest =
  | { kind: 'deploy'; image: string }
  /** toImage: that image instead of a recorded release; toRelease: N releases back (1 = the previous one). */
  | { kind: 'rollback'; toImage?: string; toRelease?: number }

export type Plan =
  /** Start `image` as a fresh container of `color` (replacing whatever holds that name). */
  | { kind: 'start-new'; color: Color; image: string; why: string; restores?: Release }
  /** Route to the existing container of `color`, starting it first when it is stopped. */
  | { kind: 'reuse-standby'; color: Color; image: string; mustStart: boolean; why: string; restores: Release }
  | { kind: 'impossible'; why: string }

/** Whether a container is the one started for this release. */
export function isContainerOf(container: ColorContainer, release: Release): boolean {
  if (!container.exists || container.color !== release.color) return false
  // Containers started before the ledger existed carry no release id: match them by image.
  return container.releaseId ? container.releaseId === release.instance : container.image === release.image
}

/**
 * Decides what a release does from what is found on the host alone (the ledger's releases, newest
 * first, and the two colors' containers), so any runner, or a re-run after a crash, reaches the
 * same decision. Pure: no I/O.
 */
export function planRelease(releases: Release[], containers: ColorContainer[], request: ReleaseRequest): Plan {
  const live = releases[0]
  const byColor = (c: Color) => containers.find(x => x.color === c) ?? { color: c, exists: false, running: false }
  const idle: Color = live ? otherColor(live.color) : 'blue'

  if (request.kind === 'deploy') {
    return { kind: 'start-new', color: idle, image: request.image, why: live ? `${live.color} is live` : 'first deploy' }
  }
  if (request.toImage) {
    if (!live) return { kind: 'start-new', color: idle, image: request.toImage, why: 'rollback to a given image on an empty host' }
    return { kind: 'start-new', color: idle, image: request.toImage, why: `rollback of ${live.color} to the image given in to-image` }
  }
  if (!live) return { kind: 'impossible', why: 'nothing has been deployed on this host yet, so there is nothing to roll back to' }
  const back = request.toRelease ?? 1
  const target = releases[back]
  if (!target) {
    if (releases.length === 1) {
      return { kind: 'impossible', why: `only one version (${live.image}) has been deployed, so there is no previous version to roll back to` }
    }
    return {
      kind: 'impossible',
      why: `to-release ${back} asks for the release ${back} back, but the host records only ${releases.length - 1} earlier release(s)`
    }
  }
  const candidate = byColor(idle)
  if (isContainerOf(candidate, target)) {
    return {
      kind: 'reuse-standby',
      color: idle,
      image: target.image,
      mustStart: !candidate.running,
      why: candidate.running ? 'the previous version is still running' : 'the previous version is stopped',
      restores: target
    }
  }
  return {
    kind: 'start-new',
    color: idle,
    image: target.image,
    why: back === 1 ? 'the previous container is gone, so its image is started again' : `its container is gone, so its image is started again on ${idle}`,
    restores: target
  }
}

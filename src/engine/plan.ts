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
  /** Replicas 1..n of the color that exist and serve the same release as replica 1 (absent: 1 when it exists). */
  replicas?: number
}

export type ReleaseRequest =
  /** replicas: containers of the new color (input 'replicas'; absent: 1). */
  | { kind: 'deploy'; image: string; replicas?: number }
  /**
   * toImage: that image instead of a recorded release (started with `replicas`); toRelease: N
   * releases back (1 = the previous one), restored at its recorded size.
   */
  | { kind: 'rollback'; toImage?: string; toRelease?: number; replicas?: number }

export type Plan =
  /** Start `image` as `replicas` fresh containers of `color` (replacing whatever holds those names). */
  | { kind: 'start-new'; color: Color; image: string; replicas: number; why: string; restores?: Release }
  /** Route to the existing containers of `color`, starting them first when one is stopped. */
  | { kind: 'reuse-standby'; color: Color; image: string; replicas: number; mustStart: boolean; why: string; restores: Release }
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

  const replicas = request.replicas ?? 1
  if (request.kind === 'deploy') {
    return { kind: 'start-new', color: idle, image: request.image, replicas, why: live ? `${live.color} is live` : 'first deploy' }
  }
  if (request.toImage) {
    if (!live) return { kind: 'start-new', color: idle, image: request.toImage, replicas, why: 'rollback to a given image on an empty host' }
    return { kind: 'start-new', color: idle, image: request.toImage, replicas, why: `rollback of ${live.color} to the image given in to-image` }
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
  // A rollback brings the release back at the size it had, whatever 'replicas' says now.
  const size = target.replicas ?? 1
  if (isContainerOf(candidate, target) && (candidate.replicas ?? 1) >= size) {
    return {
      kind: 'reuse-standby',
      color: idle,
      image: target.image,
      replicas: size,
      mustStart: !candidate.running,
      why: candidate.running ? 'the previous version is still running' : 'the previous version is stopped',
      restores: target
    }
  }
  return {
    kind: 'start-new',
    color: idle,
    image: target.image,
    replicas: size,
    why: back === 1 ? 'the previous container is gone, so its image is started again' : `its container is gone, so its image is started again on ${idle}`,
    restores: target
  }
}

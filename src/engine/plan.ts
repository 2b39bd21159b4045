import { otherColor, type Color } from './names.js'
import type { RouteState } from './state.js'

/** What is on the host for one color of the app. */
export interface ColorContainer {
  color: Color
  exists: boolean
  running: boolean
  /** The image reference it was started from (its label). */
  image?: string
}

export type ReleaseRequest = { kind: 'deploy'; image: string } | { kind: 'rollback'; toImage?: string }

export type Plan =
  /** Start `image` as a fresh container of `color` (replacing whatever holds that name). */
  | { kind: 'start-new'; color: Color; image: string; why: string }
  /** Route to the existing container of `color`, starting it first when it is stopped. */
  | { kind: 'reuse-standby'; color: Color; image: string; mustStart: boolean; why: string }
  | { kind: 'impossible'; why: string }

/**
 * Decides what a release does from the state found on the host alone, so any runner
 * (or a re-run after a crash) reaches the same decision. Pure: no I/O.
 */
export function planRelease(state: RouteState | undefined, containers: ColorContainer[], request: ReleaseRequest): Plan {
  const byColor = (c: Color) => containers.find(x => x.color === c) ?? { color: c, exists: false, running: false }
  const idle: Color = state ? otherColor(state.color) : 'blue'

  if (request.kind === 'deploy') {
    return { kind: 'start-new', color: idle, image: request.image, why: state ? `${state.color} is live` : 'first deploy' }
  }
  if (request.toImage) {
    if (!state) return { kind: 'start-new', color: idle, image: request.toImage, why: 'rollback to a given image on an empty host' }
    return { kind: 'start-new', color: idle, image: request.toImage, why: `rollback of ${state.color} to the image given in to-image` }
  }
  if (!state) return { kind: 'impossible', why: 'nothing has been deployed on this host yet, so there is nothing to roll back to' }
  if (!state.previous) {
    return { kind: 'impossible', why: `only one version (${state.image}) has been deployed, so there is no previous version to roll back to` }
  }
  const previous = byColor(state.previous.color)
  if (previous.exists && previous.image === state.previous.image) {
    return {
      kind: 'reuse-standby',
      color: previous.color,
      image: state.previous.image,
      mustStart: !previous.running,
      why: previous.running ? 'the previous version is still running' : 'the previous version is stopped'
    }
  }
  return {
    kind: 'start-new',
    color: state.previous.color,
    image: state.previous.image,
    why: 'the previous container is gone, so its image is started again'
  }
}

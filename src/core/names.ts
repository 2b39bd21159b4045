/** Names and labels cutover gives to what it creates on the host. */

export type Color = 'blue' | 'green'
export const COLORS: readonly Color[] = ['blue', 'green']

export function otherColor(color: Color): Color {
  return color === 'blue' ? 'green' : 'blue'
}

/**
 * A container of one color. Replica 1 keeps the name of a one-container color (`<app>-<color>`),
 * so hosts deployed before `replicas` existed, and every replicas-1 app, see no change; further
 * replicas are `<app>-<color>-<i>`.
 */
export function containerName(app: string, color: Color, replica = 1): string {
  return replica === 1 ? `${app}-${color}` : `${app}-${color}-${replica}`
}

/** The replica number of a container name of this app and color (1 for `<app>-<color>`), or undefined. */
export function replicaOf(app: string, color: Color, name: string): number | undefined {
  if (name === `${app}-${color}`) return 1
  const m = /^-(\d+)$/.exec(name.slice(`${app}-${color}`.length))
  return name.startsWith(`${app}-${color}-`) && m && Number(m[1]) >= 2 ? Number(m[1]) : undefined
}

/** The most replicas one color may have (names stay one DNS label: see APP_NAME_MAX). */
export const MAX_REPLICAS = 9

/**
 * Where the idle color's old container waits while its replacement boots, so that a failed
 * deploy can put the standby back instead of losing the instant rollback.
 */
export function asideName(app: string, color: Color, replica = 1): string {
  return `${containerName(app, color, replica)}-replaced`
}

/** Where a container that failed its gate is kept with keep-failed. */
export function failedName(app: string, color: Color, replica = 1): string {
  return `${containerName(app, color, replica)}-failed`
}

/** A worker role's container for one color: `<app>-<color>-worker-<name>`. */
export function workerName(app: string, color: Color, worker: string): string {
  return `${app}-${color}-worker-${worker}`
}

/** Where the idle color's old worker waits while its replacement starts (see asideName). */
export function workerAsideName(app: string, color: Color, worker: string): string {
  return `${workerName(app, color, worker)}-replaced`
}

/** The one-off container of a release command (one at a time: it runs under the deploy lock). */
export function releaseCommandName(app: string): string {
  return `${app}-release`
}

/** The private network an app's containers share with the proxy. */
export function networkName(app: string): string {
  return `cutover-${app}`
}

export const LABEL = {
  managed: 'cutover.managed',
  app: 'cutover.app',
  color: 'cutover.color',
  image: 'cutover.image',
  version: 'cutover.version',
  deployedAt: 'cutover.deployed-at',
  run: 'cutover.run',
  proxy: 'cutover.proxy',
  /** Hash of the container settings a color was started with: a changed setting is a new release. */
  configHash: 'cutover.config-hash',
  /** The ledger id of the release a container serves. */
  release: 'cutover.release',
  /** web (absent on containers of older versions), worker or release-command. */
  role: 'cutover.role',
  /** The worker role's name, on worker containers. */
  worker: 'cutover.worker'
} as const

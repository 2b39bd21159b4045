/** Names and labels cutover gives to what it creates on the host. */

export type Color = 'blue' | 'green'
export const COLORS: readonly Color[] = ['blue', 'green']

export function otherColor(color: Color): Color {
  return color === 'blue' ? 'green' : 'blue'
}

export function containerName(app: string, color: Color): string {
  return `${app}-${color}`
}

/**
 * Where the idle color's old container waits while its replacement boots, so that a failed
 * deploy can put the standby back instead of losing the instant rollback.
 */
export function asideName(app: string, color: Color): string {
  return `${app}-${color}-replaced`
}

/** Where a container that failed its gate is kept with keep-failed. */
export function failedName(app: string, color: Color): string {
  return `${app}-${color}-failed`
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
  release: 'cutover.release'
} as const

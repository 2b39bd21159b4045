import { createHash } from 'node:crypto'
import type { ContainerSettings } from '../core/config.js'
import { containerName, LABEL, type Color } from '../core/names.js'
import { versionOf } from '../core/image-ref.js'
import type { ContainerSpec } from './ports.js'
import { colorNetwork, composeLabels } from './compose-project.js'

export interface SpecInput {
  app: string
  color: Color
  /** Which container of the color (1 = `<app>-<color>`). */
  replica?: number
  image: string
  network: string
  settings: ContainerSettings
  appPort: number
  /** The release this container is started for (its instance id). */
  releaseId: string
  startedAt: string
  run: string
  /** The release's settings hash, when it covers more than the container settings (its roles). */
  hash?: string
}

/**
 * A hash of everything in the settings that changes the container, so redeploying the same image
 * with a rotated secret or a new volume is a new release, not "unchanged". Secret values only
 * enter it hashed.
 */
export function configHash(settings: ContainerSettings, appPort: number): string {
  const canonical = JSON.stringify({
    env: Object.entries(settings.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    command: settings.command ?? null,
    volumes: settings.volumes,
    networks: settings.networks,
    labels: Object.entries(settings.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    restart: settings.restart,
    memory: settings.memoryBytes ?? null,
    cpus: settings.nanoCpus ?? null,
    appPort,
    // Only when set, so the hashes of apps without one do not change.
    ...(settings.healthcheck ? { healthcheck: settings.healthcheck } : {})
  })
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16)
}

/** One color of the app as the host should start it: what `docker run` users expect, plus cutover's labels. */
export function containerSpec(input: SpecInput): ContainerSpec {
  const { app, color, image, network, settings } = input
  return {
    name: containerName(app, color, input.replica),
    image,
    env: settings.env,
    command: settings.command,
    labels: {
      ...settings.labels,
      // compose-file: `docker compose -p <app>-<color> ps` lists the color.
      ...(settings.composeService ? composeLabels(app, color, settings.composeService, input.replica ?? 1) : {}),
      [LABEL.managed]: 'true',
      [LABEL.app]: app,
      [LABEL.color]: color,
      [LABEL.image]: image,
      [LABEL.version]: versionOf(image),
      [LABEL.deployedAt]: input.startedAt,
      [LABEL.run]: input.run,
      [LABEL.release]: input.releaseId,
      [LABEL.configHash]: input.hash ?? configHash(settings, input.appPort)
    },
    network,
    // compose-file: each color is a project with its own default network, where its services are found by their names.
    extraNetworks: settings.composeService ? [...settings.networks, colorNetwork(app, color)] : settings.networks,
    ...(settings.composeService ? { networkAliases: { [colorNetwork(app, color)]: [settings.composeService] } } : {}),
    volumes: settings.volumes,
    memoryBytes: settings.memoryBytes,
    nanoCpus: settings.nanoCpus,
    healthcheck: settings.healthcheck
  }
}

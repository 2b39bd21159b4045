import type { EngineConfig } from './context.js'
/**
 * What makes cutover's containers a compose project to Docker's tools: compose's own labels
 * (`docker compose -p <app>-blue ps` lists a color, `-p <app>` the shared services), the project's
 * own networks, and the hash of a service's own settings.
 */
import { createHash } from 'node:crypto'
import type { ContainerSettings } from '../core/config.js'
import { COLORS, LABEL, type Color } from '../core/names.js'
import type { ContainerHost } from './ports.js'

export const COMPOSE_LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  oneoff: 'com.docker.compose.oneoff',
  number: 'com.docker.compose.container-number',
  network: 'com.docker.compose.network'
} as const

/** The compose project of a color (`<app>-<color>`), or of the shared services (`<app>`: they belong to no color). */
export function composeProject(app: string, color?: Color): string {
  return color ? `${app}-${color}` : app
}

/**
 * A color's own network, as compose names a project's default one: the color's services find
 * each other there by their service names (`helper` from blue's web is blue's helper).
 */
export function colorNetwork(app: string, color: Color): string {
  return `${composeProject(app, color)}_default`
}

/** Compose's labels for one container of a service (`number`: the replica, 1 for a single container). */
export function composeLabels(app: string, color: Color | undefined, service: string, number = 1): Record<string, string> {
  return {
    [COMPOSE_LABEL.project]: composeProject(app, color),
    [COMPOSE_LABEL.service]: service,
    [COMPOSE_LABEL.oneoff]: 'False',
    [COMPOSE_LABEL.number]: String(number)
  }
}

/**
 * A hash of a service's own settings (a compose worker's), recorded with its release: what a
 * rollback compares with the settings it has now. Env values only enter it hashed.
 */
export function serviceSettingsHash(settings: Omit<ContainerSettings, 'restart'>): string {
  const sorted = (o: Record<string, string>) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const canonical = JSON.stringify({
    env: sorted(settings.env),
    command: settings.command ?? null,
    volumes: settings.volumes,
    networks: settings.networks,
    labels: sorted(settings.labels),
    memory: settings.memoryBytes ?? null,
    cpus: settings.nanoCpus ?? null,
    healthcheck: settings.healthcheck ?? null
  })
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16)
}

/** Networks the app's containers join that must already exist on the host (the compose project's own are created). */
export function externalNetworks(config: EngineConfig): string[] {
  const own = new Set(config.compose?.networks ?? [])
  const all = [
    ...config.container.networks,
    ...(config.roles?.workers ?? []).flatMap(w => w.settings?.networks ?? []),
    ...(config.shared ?? []).flatMap(s => s.networks)
  ]
  return [...new Set(all)].filter(n => !own.has(n))
}

/**
 * Creates the compose project's networks, labelled with the app: the file's own (`<app>_<name>`)
 * and each color's default one (`<app>-<color>_default`).
 */
export async function ensureComposeNetworks(host: ContainerHost, config: EngineConfig): Promise<void> {
  if (!config.container.composeService) return
  const labels = (project: string, network: string) => ({
    [LABEL.managed]: 'true',
    [LABEL.app]: config.app,
    [COMPOSE_LABEL.project]: project,
    [COMPOSE_LABEL.network]: network
  })
  for (const name of config.compose?.networks ?? []) await host.ensureNetwork(name, labels(config.app, name.slice(config.app.length + 1)))
  for (const color of COLORS) await host.ensureNetwork(colorNetwork(config.app, color), labels(composeProject(config.app, color), 'default'))
}

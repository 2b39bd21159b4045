import type Docker from 'dockerode'
import type { ContainerSettings } from '../inputs/config.js'
import { containerName, LABEL, versionOf, type Color } from './names.js'

export interface SpecInput {
  app: string
  color: Color
  image: string
  network: string
  settings: ContainerSettings
  deployedAt: string
  run: string
}

/** The Docker create request for one color: what `docker run` users expect, plus cutover's labels. */
export function containerSpec(input: SpecInput): Docker.ContainerCreateOptions {
  const { app, color, image, network, settings } = input
  return {
    name: containerName(app, color),
    Image: image,
    Env: Object.entries(settings.env).map(([k, v]) => `${k}=${v}`),
    Cmd: settings.command,
    Labels: {
      ...settings.labels,
      [LABEL.managed]: 'true',
      [LABEL.app]: app,
      [LABEL.color]: color,
      [LABEL.image]: image,
      [LABEL.version]: versionOf(image),
      [LABEL.deployedAt]: input.deployedAt,
      [LABEL.run]: input.run
    },
    HostConfig: {
      NetworkMode: network,
      // No restarts until the health gate passes, so a crash at boot shows its real exit
      // code instead of a restart loop; the user's policy is applied once healthy.
      RestartPolicy: { Name: 'no' },
      Binds: settings.volumes.length ? settings.volumes : undefined,
      Memory: settings.memoryBytes,
      NanoCpus: settings.nanoCpus,
      Init: false
    }
  }
}

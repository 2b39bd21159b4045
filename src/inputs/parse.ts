import type { Config, KeepPrevious, Mode } from '../core/config.js'
import { asideName, COLORS, containerName, failedName } from '../core/names.js'
import { proxyCapabilityProblem } from '../proxy/capabilities.js'
import { parseConnection, parseDockerSocket } from './connection.js'
import { parseContainer, parseEnv, parseNetworks } from './container.js'
import { InputError, type InputSource } from './errors.js'
import { ROLLOUTS } from './hosts.js'
import { parseImage, parseImageArchive, parseRegistryAuth, parseRollbackTarget } from './image.js'
import { APP_NAME, DNS_LABEL_MAX } from './patterns.js'
import { Reader } from './reader.js'
import { parseCompose, parseReleaseCommand, parseRoles } from './roles.js'
import { checkHostMounts } from './host-access.js'
import { parseStrategy } from './strategy.js'
import { parseSwarm } from './swarm.js'
import { parseHealth, parseProxy } from './web.js'
import { readWorkspaceFile } from './workspace.js'

// What other folders (and tests) import from here, wherever it lives now.
export { InputError, type InputSource } from './errors.js'
export { parseCommand } from './command.js'
export { parseVolumes } from './container.js'
export { ENV_MASK_MIN_LENGTH } from './reader.js'
export { PROXY_NAME_MAX } from './web.js'

const MODES: Mode[] = ['deploy', 'rollback', 'status', 'maintenance', 'live', 'promote', 'remove']
const KEEP_PREVIOUS: KeepPrevious[] = ['running', 'stopped', 'removed']
/**
 * The longest suffix cutover appends to an app name for a container (`-green-replaced`):
 * every such name must still be one DNS label.
 */
const LONGEST_APP_SUFFIX = Math.max(...COLORS.flatMap(c => [containerName('', c), asideName('', c), failedName('', c)]).map(n => n.length))
export const APP_NAME_MAX = DNS_LABEL_MAX - LONGEST_APP_SUFFIX

function parseApp(r: Reader): string {
  const app = r.required('app')
  if (/[A-Z]/.test(app) && APP_NAME.test(app.toLowerCase())) {
    throw new InputError('app', `must be lower case, not "${app}": its containers are found by DNS name, where names differing only by case are the same name`)
  }
  if (!APP_NAME.test(app)) {
    throw new InputError('app', `must be lower-case letters, digits and dashes, not starting or ending with a dash, not "${app}"`)
  }
  if (app.length > APP_NAME_MAX) {
    throw new InputError(
      'app',
      `is ${app.length} characters long; at most ${APP_NAME_MAX} are allowed, because its container names ` +
        `(up to ${asideName(app, 'green').replace(app, '<app>')}) must fit a ${DNS_LABEL_MAX}-character DNS label`
    )
  }
  return app
}

function parseUrl(input: string, value: string): string | undefined {
  if (!value) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InputError(input, `must be an http(s) URL such as https://app.example.com, not ${JSON.stringify(value)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(input, `must be an http(s) URL such as https://app.example.com, not ${JSON.stringify(value)}`)
  }
  return value
}

/** Reads and validates every input. Throws InputError before anything touches the host. */
export function parseInputs(source: InputSource): Config {
  const r = new Reader(source)
  const mode = r.oneOf('mode', MODES, 'deploy')
  const app = parseApp(r)
  const { ssh, fleetHosts } = parseConnection(r)
  const dockerSocket = parseDockerSocket(r)

  const imageValue = r.str('image')
  let image = imageValue ? parseImage('image', imageValue) : undefined
  const imageArchive = parseImageArchive(source, r.str('image-archive'), mode, image)
  image ??= imageArchive?.tags[0]
  const compose = parseCompose(source, app, image)
  image ??= compose?.image
  if (mode === 'deploy' && !image) throw new InputError('image', 'is required when mode is deploy (or give image-archive)')
  const { toImage, toRelease } = parseRollbackTarget(r, mode)
  const registry = parseRegistryAuth(r, image ?? toImage)
  const env = parseEnv(r, source)
  const networks = parseNetworks(r.lines('networks'), app)

  const proxy = parseProxy(r)
  const strategy = parseStrategy(r, app, mode, {
    invalid: (input, message) => new InputError(input, message),
    readFile: (input, path) => readWorkspaceFile(source, input, path)
  })
  const token = r.secret('github-token')
  const roles = parseRoles(source, app, compose?.workers)
  const fleetSettings = {
    rollout: r.oneOf('rollout', ROLLOUTS, 'atomic'),
    batchSize: r.int('batch-size', 1, 1, 50),
    rollbackOnFailure: r.bool('rollback-on-failure', true)
  }
  // rebuild-ledger (issue #27): only with mode status, one host at a time.
  const rebuildLedger = r.bool('rebuild-ledger', false)
  if (rebuildLedger && mode !== 'status') throw new InputError('rebuild-ledger', `only applies to mode status, not ${mode}`)
  if (rebuildLedger && fleetHosts) throw new InputError('rebuild-ledger', "rebuilds one host's ledger: give one host")
  const removeData = r.bool('remove-data', false)
  if (removeData && mode !== 'remove') throw new InputError('remove-data', `only applies to mode remove, not ${mode}: no data is removed by any other mode`)

  const config: Config = {
    mode,
    app,
    ssh,
    fleet: fleetHosts ? { ...fleetSettings, hosts: fleetHosts } : undefined,
    dockerSocket,
    image,
    toImage,
    toRelease,
    imageArchive,
    registry,
    container: parseContainer(r, { env, networks, compose: compose?.container }),
    health: parseHealth(r, roles.web),
    proxy,
    strategy,
    keepPrevious: r.oneOf('keep-previous', KEEP_PREVIOUS, 'running'),
    keepFailed: r.bool('keep-failed', false),
    ...(rebuildLedger ? { rebuildLedger } : {}),
    ...(removeData ? { removeData } : {}),
    lockTimeoutMs: r.duration('lock-timeout', '10m'),
    github: {
      deployments: r.bool('deployments', true),
      token,
      environment: r.str('environment', 'production'),
      environmentUrl: parseUrl('environment-url', r.str('environment-url'))
    },
    roles,
    releaseCommand: parseReleaseCommand(source),
    shared: compose?.shared.length ? compose.shared : undefined,
    compose: compose?.settings
  }
  checkHostMounts(config, r.bool('allow-host-mounts', false))
  // target: swarm checks what its own proxy carries.
  const swarm = parseSwarm(r, config)
  if (swarm) return { ...config, swarm }
  // An explicit proxy-type is checked now; auto once it is settled on the host.
  const problem = proxyCapabilityProblem(config)
  if (problem) throw new InputError(problem.input, problem.message.slice(`Input '${problem.input}' `.length))
  return config
}

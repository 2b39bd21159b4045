import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Config } from '../core/config.js'
import { ConfigFileError, loadConfigFile, type ConfigFile, type FileValue, type Position, where } from './config-file.js'
import { envName } from './env-name.js'
import { InputError, type InputSource } from './errors.js'
import { parseInputs } from './parse.js'
import { SETTINGS } from './settings.js'

/**
 * The inputs of a run as layers (issue #21), highest first: the action input or command-line flag,
 * the environment variable CUTOVER_<NAME>, the chosen environment's section of the config file, the
 * file's top level; parseInputs' own fallbacks are the defaults. parseInputs stays the one validator:
 * it reads through this source, and a refusal of a value from the file is given its file:line:col.
 */

export interface LayerOptions {
  /** The action input or the flag; '' when not given. */
  explicit: (name: string) => string
  /**
   * action.yml's defaults: the runner fills them in for inputs nobody gave, so an input equal to its
   * default counts as not given and the file or the environment may set it.
   */
  explicitDefaults?: Readonly<Record<string, string>>
  env: NodeJS.ProcessEnv
  file?: ConfigFile
  /** Below the file: the command line's own defaults (no GitHub deployments off GitHub). */
  fallback?: Readonly<Record<string, string>>
  mask: (secret: string) => void
  workspace: string
}

export type Origin = { kind: 'input' } | { kind: 'env'; variable: string } | { kind: 'file'; at: Position } | { kind: 'default' }

const DEFAULT_ENVIRONMENT = 'production'
export const DEFAULT_CONFIG_FILE = 'cutover.yml'

export class LayeredSource implements InputSource {
  readonly workspace: string
  /** The chosen environment's section of the file, if it has environments. */
  readonly environment?: string
  private readonly section?: Map<string, FileValue>

  constructor(private readonly options: LayerOptions) {
    this.workspace = options.workspace
    const file = options.file
    if (file && file.environments.size > 0) {
      const chosen = this.above('environment') ?? file.top.get('environment')?.text
      const name = chosen || DEFAULT_ENVIRONMENT
      const found = file.environments.get(name)
      if (!found) {
        const names = [...file.environments.keys()].join(', ')
        throw new ConfigFileError(
          file.environmentsAt!,
          'environments',
          chosen
            ? `has no environment "${name}"; it has ${names}`
            : `has no environment "${DEFAULT_ENVIRONMENT}" and none was chosen: choose one of ${names} with --environment (or the environment input)`
        )
      }
      this.environment = name
      this.section = found.values
    }
  }

  mask(secret: string): void {
    this.options.mask(secret)
  }

  get(name: string): string {
    return this.above(name) ?? this.fromFile(name)?.text ?? this.options.fallback?.[name] ?? ''
  }

  origin(name: string): Origin {
    if (this.given(name)) return { kind: 'input' }
    const variable = envName(name)
    if (this.options.env[variable]) return { kind: 'env', variable }
    const fromFile = this.fromFile(name)
    return fromFile ? { kind: 'file', at: fromFile.at } : { kind: 'default' }
  }

  /** A setting of the file that applies only to other modes is refused, where it is written. */
  checkModes(mode: string): void {
    for (const [name, setting] of Object.entries(SETTINGS)) {
      const value = this.above(name) === undefined ? this.fromFile(name) : undefined
      if (value?.text && setting.modes && !setting.modes.includes(mode)) {
        throw new ConfigFileError(
          value.at,
          name,
          `only applies to mode ${setting.modes.join(' or ')}, and this run is mode ${mode}: remove it from the file (or give it for that run only)`
        )
      }
    }
  }

  private given(name: string): boolean {
    const value = this.options.explicit(name)
    return value.trim() !== '' && value !== this.options.explicitDefaults?.[name]
  }

  /** The input or the environment variable, undefined when neither is given. */
  private above(name: string): string | undefined {
    if (this.given(name)) return this.options.explicit(name)
    const fromEnv = this.options.env[envName(name)]
    return fromEnv ? fromEnv : undefined
  }

  private fromFile(name: string): FileValue | undefined {
    return this.section?.get(name) ?? this.options.file?.top.get(name)
  }
}

/** parseInputs over the layers; its refusal of a value from the file names where the value is written. */
export function parseLayeredInputs(source: LayeredSource): Config {
  source.checkModes(source.get('mode') || 'deploy')
  try {
    return parseInputs(source)
  } catch (e) {
    if (e instanceof InputError && !(e instanceof ConfigFileError)) {
      const origin = source.origin(e.input)
      if (origin.kind === 'file') throw new ConfigFileError(origin.at, e.input, e.message.replace(`Input '${e.input}' `, ''))
      if (origin.kind === 'env') throw new InputError(e.input, `(from ${origin.variable}) ${e.message.replace(`Input '${e.input}' `, '')}`)
    }
    throw e
  }
}

export { where }

/** The file a run reads: the one named by `config` (it must exist), else cutover.yml in the workspace when it exists. */
export function configFileOf(options: Omit<LayerOptions, 'file'>): ConfigFile | undefined {
  const given = options.explicit('config').trim() || options.env[envName('config')] || ''
  const path = resolve(options.workspace, given || DEFAULT_CONFIG_FILE)
  if (!given && !existsSync(path)) return undefined
  return loadConfigFile(path, options.env, given || DEFAULT_CONFIG_FILE)
}

/** Every input of a run, through its layers, validated by parseInputs. */
export function readLayeredConfig(options: Omit<LayerOptions, 'file'>): { config: Config; source: LayeredSource } {
  const source = new LayeredSource({ ...options, file: configFileOf(options) })
  return { config: parseLayeredInputs(source), source }
}

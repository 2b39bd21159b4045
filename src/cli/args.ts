import { parseArgs } from 'node:util'
import type { Mode } from '../core/config.js'

/** The command line's words (issue #21): a command, its flags, and the exit codes it documents. */

export const EXIT = {
  /** The run did what it was asked. */
  success: 0,
  /** The run failed; the live release was left serving, untouched. */
  failed: 1,
  /** Bad input (flags, config file, environment): refused before connecting. */
  badInput: 2,
  /** The deploy went live, the watch saw it fail, and it was switched back automatically. */
  rolledBack: 3,
  /** Ctrl-C (or SIGTERM): what the run had started was undone, as a cancelled workflow does. */
  cancelled: 130
} as const

export const COMMANDS: Record<Mode, string> = {
  deploy: 'start --image beside the live color, gate it on health, switch the proxy to it',
  rollback: 'switch back to the previous release (or --to-release N back)',
  status: 'show what is live and the release ledger; changes nothing',
  promote: 'give all traffic to a canary, or make a waiting preview live',
  maintenance: 'the proxy answers with a 503 page instead of the app',
  live: 'end maintenance',
  remove:
    'take the app off the host: its route leaves the proxy gracefully, its containers and networks go, its ledger is archived (remove-data: true also removes its volumes)'
}

/** Changing the host from a terminal asks first (deploy does not: it is gated and undone on failure). */
export const ASKS_FIRST: readonly Mode[] = ['rollback', 'promote', 'maintenance', 'live', 'remove']

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  environment: { type: 'string', short: 'e' },
  image: { type: 'string' },
  'to-release': { type: 'string' },
  'to-image': { type: 'string' },
  json: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  help: { type: 'boolean', short: 'h' }
} as const

export interface Command {
  mode?: Mode
  help: boolean
  json: boolean
  yes: boolean
  /** The flags that are settings, under the settings' names. */
  settings: Record<string, string>
}

export class UsageError extends Error {
  override name = 'UsageError'
}

export function parseCommand(argv: string[]): Command {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  const { values, positionals } = parsed
  const [word, ...extra] = positionals
  if (word !== undefined && !(word in COMMANDS)) throw new UsageError(`Unknown command "${word}": use one of ${Object.keys(COMMANDS).join(', ')}`)
  if (extra.length) throw new UsageError(`Unexpected argument "${extra[0]}": settings go in flags (--image ...) or the config file`)
  const mode = word as Mode | undefined
  const settings: Record<string, string> = {}
  for (const name of ['config', 'environment', 'image', 'to-release', 'to-image'] as const) {
    const value = values[name]
    if (value !== undefined) settings[name] = value
  }
  if (mode && mode !== 'deploy' && settings.image) throw new UsageError(`--image applies to deploy, not ${mode}`)
  if (mode && mode !== 'rollback' && (settings['to-release'] || settings['to-image']))
    throw new UsageError(`--to-release and --to-image apply to rollback, not ${mode}`)
  return { mode, help: values.help ?? false, json: values.json ?? false, yes: values.yes ?? false, settings }
}

const COMMON = [
  '  -c, --config FILE        the config file (default: cutover.yml, when it exists)',
  '  -e, --environment NAME   the environments: section of the file to use (default: production)',
  '      --json               print only the result object (JSON) on stdout; the log goes to stderr',
  '  -y, --yes                do not ask before changing the host',
  '  -h, --help               this help'
]

const EXIT_HELP = [
  'Exit codes:',
  `  ${EXIT.success}    success`,
  `  ${EXIT.failed}    failed; the live release still serves, untouched`,
  `  ${EXIT.badInput}    bad input (flags, config file, environment): refused before connecting`,
  `  ${EXIT.rolledBack}    the new release went live, failed its watch and was rolled back automatically`,
  `  ${EXIT.cancelled}  cancelled (Ctrl-C): what the run started was undone`
]

export function usage(mode?: Mode): string {
  if (!mode) {
    return [
      'Usage: cutover <command> [flags]',
      '',
      'Zero-downtime blue-green deploys of a Docker container over SSH (the engine of the cutover GitHub Action).',
      '',
      'Commands:',
      ...Object.entries(COMMANDS).map(([name, what]) => `  ${name.padEnd(12)} ${what}`),
      '',
      'Flags:',
      ...COMMON,
      '',
      'Settings come from the flags, then CUTOVER_<NAME> environment variables (secrets: CUTOVER_SSH_PRIVATE_KEY,',
      'CUTOVER_REGISTRY_PASSWORD, ...), then the config file. See docs/configuration.md and "cutover <command> --help".',
      '',
      ...EXIT_HELP
    ].join('\n')
  }
  const own =
    mode === 'deploy'
      ? ['      --image IMAGE        the image to deploy (or image: in the config file)']
      : mode === 'rollback'
        ? [
            '      --to-release N       roll back to the release N back in the ledger (1 = the previous one)',
            '      --to-image IMAGE     roll back to this image'
          ]
        : []
  return [`Usage: cutover ${mode} [flags]`, '', `${mode}: ${COMMANDS[mode]}.`, '', 'Flags:', ...own, ...COMMON, '', ...EXIT_HELP].join('\n')
}

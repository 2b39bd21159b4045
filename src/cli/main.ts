import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline/promises'
import type { Config, Mode } from '../core/config.js'
import { InputError } from '../inputs/errors.js'
import { configFileOf, LayeredSource, parseLayeredInputs } from '../inputs/layers.js'
import { execute } from '../main.js'
import { ASKS_FIRST, EXIT, parseCommand, usage, UsageError, type Command } from './args.js'
import { localIdentity } from './identity.js'
import { sshConfigSettings } from './ssh-config.js'
import { TerminalSink, type Stream } from './terminal.js'

/** The command line (issue #21): the Action's engine, ledger and lock behind a few commands. */

export interface Io {
  stdout: Stream
  stderr: Stream
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  cwd: string
}

const KEY_FILES = ['id_ed25519', 'id_ecdsa', 'id_rsa']

/**
 * What ssh itself would use when nothing else is given: ~/.ssh/config's Host alias (its HostName,
 * Port, User, IdentityFile and ProxyJump), the usual key file, ~/.ssh/known_hosts and the agent.
 */
function sshDefaults(env: NodeJS.ProcessEnv, hostValue: string): { host?: string; fallback: Record<string, string> } {
  const home = env.HOME ?? homedir()
  const dir = join(home, '.ssh')
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined)
  const aliases = sshConfigSettings(read(join(dir, 'config')) ?? '', hostValue, home)
  const keyFiles = [...(aliases.identityFile ? [aliases.identityFile] : []), ...KEY_FILES.map(file => join(dir, file))]
  const key = keyFiles.map(read).find(text => text !== undefined)
  const knownHosts = read(join(dir, 'known_hosts'))
  const agent = env.SSH_AUTH_SOCK
  return {
    host: aliases.host,
    fallback: {
      ...aliases.fallback,
      ...(key ? { 'ssh-private-key': key } : {}),
      ...(knownHosts ? { 'known-hosts': knownHosts } : {}),
      ...(agent ? { 'ssh-agent-socket': agent } : {})
    }
  }
}

export function readCommandConfig(command: Command, mode: Mode, io: Io, mask: (secret: string) => void): Config {
  const given = (name: string) => (name === 'mode' ? mode : (command.settings[name] ?? ''))
  const base = {
    env: io.env,
    // No GitHub deployment off GitHub unless asked for (deployments: true and CUTOVER_GITHUB_TOKEN).
    fallback: { deployments: 'false' },
    mask,
    workspace: io.cwd
  }
  // The host as the flags, the environment and the file give it, to look its alias up.
  // The file is read once: --config (or CUTOVER_CONFIG) names it, the same for both passes.
  const file = configFileOf({ ...base, explicit: given })
  const first = new LayeredSource({ ...base, explicit: given, file })
  const ssh = sshDefaults(io.env, first.get('host'))
  const explicit = (name: string) => (name === 'host' && ssh.host ? ssh.host : given(name))
  const source = new LayeredSource({ ...base, explicit, fallback: { ...base.fallback, ...ssh.fallback }, file })
  try {
    return parseLayeredInputs(source)
  } catch (e) {
    // A host ~/.ssh/known_hosts does not know is refused as ssh refuses it: say which file to add it to.
    if (e instanceof InputError && e.input === 'known-hosts' && source.origin('known-hosts').kind === 'default') {
      throw new InputError(
        'known-hosts',
        `(here ~/.ssh/known_hosts) ${e.message.replace("Input 'known-hosts' ", '')}, and append it to ~/.ssh/known_hosts once you have checked the key`
      )
    }
    throw e
  }
}

async function confirmed(mode: Mode, config: Config, io: Io): Promise<boolean | 'no-terminal'> {
  if (!io.stdin.isTTY) return 'no-terminal'
  const rl = createInterface({ input: io.stdin, output: io.stderr as NodeJS.WritableStream })
  try {
    const where = config.fleet ? `${config.fleet.hosts.length} hosts` : config.ssh.host
    const answer = await rl.question(`${mode} ${config.app} on ${where}? [y/N] `)
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}

export async function cli(argv: string[], io: Io): Promise<number> {
  let command: Command
  try {
    command = parseCommand(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    io.stderr.write(`${e.message}\nRun "cutover --help" for the commands and flags.\n`)
    return EXIT.badInput
  }
  if (command.help || !command.mode) {
    ;(command.help ? io.stdout : io.stderr).write(usage(command.mode) + '\n')
    return command.help ? EXIT.success : EXIT.badInput
  }
  const mode = command.mode
  const sink = new TerminalSink(io.stdout, io.stderr, command.json, io.env)
  let config: Config
  try {
    config = readCommandConfig(command, mode, io, secret => sink.mask(secret))
  } catch (e) {
    if (!(e instanceof InputError)) throw e
    sink.report(e.message)
    return EXIT.badInput
  }
  if (ASKS_FIRST.includes(mode) && !command.yes) {
    const answer = await confirmed(mode, config, io)
    if (answer === 'no-terminal') {
      sink.report(`${mode} changes the host: add --yes to run it without a terminal to ask on`)
      return EXIT.badInput
    }
    if (!answer) {
      sink.report('Not confirmed: nothing was changed')
      return EXIT.cancelled
    }
  }
  const end = await execute(config, sink, { ...localIdentity(io.cwd, io.env), secrets: sink.secrets, cancelledExitCode: EXIT.cancelled })
  sink.report()
  if (end.cancelled) return EXIT.cancelled
  if (end.result.result === 'auto-rolled-back') return EXIT.rolledBack
  return end.result.failure || end.result.result === 'failed' ? EXIT.failed : EXIT.success
}

import { randomUUID } from 'node:crypto'
import { appendFileSync, constants, existsSync } from 'node:fs'
import { access, appendFile } from 'node:fs/promises'
import { EOL } from 'node:os'

/**
 * The runner's workflow commands and file commands the Action uses, written as @actions/core
 * writes them (a unit test compares the two byte for byte). @actions/core itself loads an HTTP
 * client (undici, for OIDC tokens this action never asks for): about 1 MB of the bundle that every
 * run parsed before its first step (issue #25).
 */

/** A command's message: %, CR and LF escaped. */
export function escapeData(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

/** A command's property value: also : and , escaped. */
function escapeProperty(value: string): string {
  return escapeData(value).replace(/:/g, '%3A').replace(/,/g, '%2C')
}

/** `::name key=value::message` on stdout; properties without a value are left out. */
export function issueCommand(name: string, message: string, properties: Record<string, string | undefined> = {}): void {
  const props = Object.entries(properties)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${escapeProperty(v!)}`)
    .join(',')
  process.stdout.write(`::${name}${props ? ` ${props}` : ''}::${escapeData(message)}${EOL}`)
}

export function info(message: string): void {
  process.stdout.write(message + EOL)
}

export function debug(message: string): void {
  issueCommand('debug', message)
}

export function warning(message: string): void {
  issueCommand('warning', message)
}

export function error(message: string, title?: string): void {
  issueCommand('error', message, { title })
}

/** As core.setSecret: the runner masks the value in the log from here on. */
export function setSecret(secret: string): void {
  issueCommand('add-mask', secret)
}

/** As core.setFailed: an error annotation, and the step fails. */
export function setFailed(message: string): void {
  process.exitCode = 1
  error(message)
}

/** Runs `fn` inside a collapsible log group. */
export async function group<T>(name: string, fn: () => Promise<T>): Promise<T> {
  issueCommand('group', name)
  try {
    return await fn()
  } finally {
    issueCommand('endgroup', '')
  }
}

/** Appends to the file a GITHUB_<command> variable names; fails as @actions/core does without it. */
function appendToFileCommand(command: string, text: string): void {
  const path = process.env[`GITHUB_${command}`]
  if (!path) throw new Error(`Unable to find environment variable for file command ${command}`)
  if (!existsSync(path)) throw new Error(`Missing file at path: ${path}`)
  appendFileSync(path, text, { encoding: 'utf8' })
}

/** As core.setOutput: a heredoc entry in $GITHUB_OUTPUT (the deprecated ::set-output:: without it). */
export function setOutput(name: string, value: string): void {
  if (!process.env.GITHUB_OUTPUT) {
    process.stdout.write(EOL)
    issueCommand('set-output', value, { name })
    return
  }
  const delimiter = `ghadelimiter_${randomUUID()}`
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`Unexpected input: the output ${name} contains its delimiter`)
  appendToFileCommand('OUTPUT', `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`)
}

/** As core.summary.addRaw(markdown).write(): appends to $GITHUB_STEP_SUMMARY. */
export async function appendSummary(markdown: string): Promise<void> {
  const path = process.env.GITHUB_STEP_SUMMARY
  if (!path) throw new Error('Unable to find environment variable for $GITHUB_STEP_SUMMARY. Check if your runtime environment supports job summaries.')
  try {
    await access(path, constants.R_OK | constants.W_OK)
  } catch {
    throw new Error(`Unable to access summary file: '${path}'. Check if the file has correct read/write permissions.`)
  }
  await appendFile(path, markdown, { encoding: 'utf8' })
}

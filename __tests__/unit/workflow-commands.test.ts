import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as core from '@actions/core'
import * as ours from '../../src/reporting/workflow-commands.js'

// The Action writes its workflow and file commands itself (reporting/workflow-commands.ts) so
// that it does not load @actions/core's HTTP client at start (issue #25). What it writes must be
// what @actions/core writes, byte for byte (the delimiter of an output is random in both).

/** What `fn` wrote to stdout, to $GITHUB_OUTPUT and to $GITHUB_STEP_SUMMARY, and the exit code it set. */
async function written(fn: () => unknown, env: { output?: boolean; summary?: boolean } = { output: true, summary: true }) {
  const dir = mkdtempSync(join(tmpdir(), 'wfc-'))
  const output = join(dir, 'output')
  const summary = join(dir, 'summary')
  writeFileSync(output, '')
  writeFileSync(summary, '')
  const saved = { GITHUB_OUTPUT: process.env.GITHUB_OUTPUT, GITHUB_STEP_SUMMARY: process.env.GITHUB_STEP_SUMMARY, exitCode: process.exitCode }
  if (env.output) process.env.GITHUB_OUTPUT = output
  else delete process.env.GITHUB_OUTPUT
  if (env.summary) process.env.GITHUB_STEP_SUMMARY = summary
  else delete process.env.GITHUB_STEP_SUMMARY
  let stdout = ''
  const write = process.stdout.write
  process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write
  let exitCode: typeof process.exitCode
  let thrown: string | undefined
  try {
    await fn()
  } catch (e) {
    thrown = (e as Error).message.replace(dir, '<dir>')
  } finally {
    process.stdout.write = write
    exitCode = process.exitCode
    process.exitCode = saved.exitCode
    for (const k of ['GITHUB_OUTPUT', 'GITHUB_STEP_SUMMARY'] as const) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  }
  const files = { output: readFileSync(output, 'utf8'), summary: readFileSync(summary, 'utf8') }
  rmSync(dir, { recursive: true, force: true })
  const undelimited = (text: string) => text.replace(/ghadelimiter_[0-9a-f-]{36}/g, 'ghadelimiter_<uuid>')
  return { stdout, output: undelimited(files.output), summary: files.summary, exitCode, thrown }
}

const TRICKY = 'line 1\nline 2\r\n100% done: a, b :: c %0A'

describe('workflow commands, as @actions/core writes them', () => {
  it.each([
    ['info', () => core.info(TRICKY), () => ours.info(TRICKY)],
    ['debug', () => core.debug(TRICKY), () => ours.debug(TRICKY)],
    ['warning', () => core.warning(TRICKY), () => ours.warning(TRICKY)],
    ['error', () => core.error(TRICKY), () => ours.error(TRICKY)],
    ['error with a title', () => core.error(TRICKY, { title: 'a: b, c%\n' }), () => ours.error(TRICKY, 'a: b, c%\n')],
    ['setSecret', () => core.setSecret(TRICKY), () => ours.setSecret(TRICKY)],
    ['setFailed', () => core.setFailed(TRICKY), () => ours.setFailed(TRICKY)],
    ['group', () => core.group('a group: 1%', async () => core.info('inside')), () => ours.group('a group: 1%', async () => ours.info('inside'))],
    ['setOutput', () => core.setOutput('hosts', TRICKY), () => ours.setOutput('hosts', TRICKY)],
    ['the summary', () => core.summary.addRaw(`## ${TRICKY}`).write(), () => ours.appendSummary(`## ${TRICKY}`)]
  ])('%s', async (_, theirs, mine) => {
    const expected = await written(theirs)
    expect(expected.stdout + expected.output + expected.summary).not.toBe('')
    expect(await written(mine)).toEqual(expected)
  })

  it('a group ends when its work fails, and the failure is passed on', async () => {
    const failing = (group: typeof ours.group) => () => group('g', () => Promise.reject(new Error('no')))
    const expected = await written(failing(core.group))
    expect(expected.thrown).toBe('no')
    expect(await written(failing(ours.group))).toEqual(expected)
  })

  it('without $GITHUB_OUTPUT an output is the ::set-output:: command; without $GITHUB_STEP_SUMMARY the summary fails', async () => {
    const expected = await written(() => core.setOutput('color', 'blue'), {})
    expect(expected.stdout).toContain('::set-output name=color::blue')
    expect(await written(() => ours.setOutput('color', 'blue'), {})).toEqual(expected)
    // (@actions/core's summary object keeps the first path it found, so it cannot be compared here.)
    expect((await written(() => ours.appendSummary('x'), {})).thrown).toBe(
      'Unable to find environment variable for $GITHUB_STEP_SUMMARY. Check if your runtime environment supports job summaries.'
    )
  })
})

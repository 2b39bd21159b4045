import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO, testbed } from './testbed.js'
import { parseOutputFile, testbedInputs } from './runner.mjs'

/** Node 24 from the node@24 npm package: the bundle runs as it would on the runner. */
export const NODE24 = join(REPO, 'node_modules', '.bin', 'node')
export const BUNDLE = join(REPO, 'dist', 'index.js')

export interface ActionRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
  ms: number
  /** `::error` lines the action printed. */
  errors: string[]
}

/** Inputs for an app on the test bed, with its own proxy name and port. */
export function bedInputs(app: string, proxyPort: number, overrides: Record<string, string> = {}): Record<string, string> {
  return { ...testbedInputs(testbed() as unknown as Record<string, string>, app, proxyPort), 'health-timeout': '20s', ...overrides }
}

export { parseOutputFile }

export interface StartedAction {
  child: ChildProcess
  done: Promise<ActionRun>
}

/** Starts dist/index.js as the runner does: INPUT_* variables and the GITHUB_* files. */
export function startAction(inputs: Record<string, string>, extraEnv: Record<string, string> = {}): StartedAction {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-run-'))
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_ENV: join(dir, 'env')
  }
  for (const f of Object.values(files)) writeFileSync(f, '')
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    ...files,
    GITHUB_WORKSPACE: REPO,
    GITHUB_ACTIONS: 'true',
    RUNNER_TEMP: dir,
    ...extraEnv
  }
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  const started = Date.now()
  const child = spawn(NODE24, [BUNDLE], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', d => (stdout += d))
  child.stderr!.on('data', d => (stderr += d))
  const done = new Promise<ActionRun>(resolve =>
    child.on('close', (code, signal) => {
      const run = {
        code,
        signal,
        stdout,
        stderr,
        outputs: parseOutputFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
        summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
        ms: Date.now() - started,
        errors: stdout.split('\n').filter(l => l.startsWith('::error'))
      }
      // Read: the run's files (its RUNNER_TEMP) go, as the runner's do after a job.
      rmSync(dir, { recursive: true, force: true })
      resolve(run)
    })
  )
  return { child, done }
}

/** Resolves once the action has printed `text` (a step starting, say); fails after timeoutMs. */
export function untilOutput(started: StartedAction, text: string, timeoutMs = 30000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => reject(new Error(`the action never printed "${text}"`)), timeoutMs)
    started.child.stdout!.on('data', (d: Buffer) => {
      seen = (seen + d.toString()).slice(-4096)
      if (seen.includes(text)) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
}

export function runAction(inputs: Record<string, string>, extraEnv: Record<string, string> = {}): Promise<ActionRun> {
  return startAction(inputs, extraEnv).done
}

/**
 * Plain GET on loopback without keep-alive; never throws (status 0 on socket errors).
 * node:http, not fetch: fetch drops a Host header, and tests route by host name.
 */
export function get(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 10000
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise(resolve => {
    const req = http.get(url, { headers: { connection: 'close', ...headers }, timeout: timeoutMs }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      res.on('error', () => resolve({ status: 0, body, headers: res.headers }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve({ status: 0, body: '', headers: {} }))
  })
}

/** A step's time as the run itself reported it in its job summary (`| Switch proxy | 412 ms | ... |`); throws when absent. */
export function stepMs(summary: string, title: string): number {
  const row = summary.split('\n').find(l => l.startsWith(`| ${title} | `))
  const m = row && /^\| [^|]+ \| (\d+(?:\.\d+)?) (ms|s) \|/.exec(row)
  if (!m) throw new Error(`The job summary has no time for the step "${title}":\n${summary}`)
  return m[2] === 's' ? Number(m[1]) * 1000 : Number(m[1])
}

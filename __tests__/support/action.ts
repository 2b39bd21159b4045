import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO, testbed } from './testbed.js'

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
  const bed = testbed()
  return {
    app,
    host: bed.CUTOVER_TEST_SSH_HOST,
    port: bed.CUTOVER_TEST_SSH_PORT,
    user: bed.CUTOVER_TEST_SSH_USER,
    'ssh-private-key': readFileSync(bed.CUTOVER_TEST_KEY, 'utf8'),
    'known-hosts': bed.CUTOVER_TEST_KNOWN_HOSTS,
    'registry-username': bed.CUTOVER_TEST_REGISTRY_USER,
    'registry-password': bed.CUTOVER_TEST_REGISTRY_PASSWORD,
    'proxy-image': bed.CUTOVER_TEST_PROXY_IMAGE,
    'proxy-name': `${app}-proxy`,
    'proxy-port': String(proxyPort),
    'health-timeout': '20s',
    deployments: 'false',
    ...overrides
  }
}

/** Parses GITHUB_OUTPUT's `name<<delimiter` blocks (and plain name=value lines). */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const value: string[] = []
      while (++i < lines.length && lines[i] !== heredoc[2]) value.push(lines[i])
      out[heredoc[1]] = value.join('\n')
    } else if (lines[i].includes('=')) {
      const eq = lines[i].indexOf('=')
      out[lines[i].slice(0, eq)] = lines[i].slice(eq + 1)
    }
  }
  return out
}

export interface StartedAction {
  child: ChildProcess
  done: Promise<ActionRun>
}

/** Starts dist/index.js as the runner does: INPUT_* variables and the GITHUB_* files. */
export function startAction(inputs: Record<string, string>, extraEnv: Record<string, string> = {}): StartedAction {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-run-'))
  const files = { GITHUB_OUTPUT: join(dir, 'output'), GITHUB_STEP_SUMMARY: join(dir, 'summary'), GITHUB_STATE: join(dir, 'state'), GITHUB_ENV: join(dir, 'env') }
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
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout,
        stderr,
        outputs: parseOutputFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
        summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
        ms: Date.now() - started,
        errors: stdout.split('\n').filter(l => l.startsWith('::error'))
      })
    )
  )
  return { child, done }
}

export function runAction(inputs: Record<string, string>, extraEnv: Record<string, string> = {}): Promise<ActionRun> {
  return startAction(inputs, extraEnv).done
}

/**
 * Plain GET on loopback without keep-alive; never throws (status 0 on socket errors).
 * node:http, not fetch: fetch drops a Host header, and tests route by host name.
 */
export function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise(resolve => {
    const req = http.get(url, { headers: { connection: 'close', ...headers }, timeout: 10000 }, res => {
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

// Runs dist/index.js as the runner does (INPUT_* variables, GITHUB_* files) and records when each
// step began and ended, as seen on its stdout (core.group prints ::group:: / ::endgroup::, and
// stdout is a synchronous pipe on Linux), plus the SSH connections the process itself opened.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseOutputFile } from '../../__tests__/support/runner.mjs'

export const now = () => performance.timeOrigin + performance.now()

/** Action processes still running (killed by the bench's cleanup on Ctrl-C). */
export const liveChildren = new Set()

const GROUP_STEPS = [
  ['Connecting to', 'connect'],
  ['Taking the deploy lock', 'lock'],
  ['Reading the state', 'inspect'],
  ['Pulling', 'pull'],
  ['Starting ', 'boot'],
  ['Waiting for', 'healthy'],
  ['Switching the proxy', 'switch'],
  ['Verifying through the proxy', 'verify'],
  ['Cleaning up', 'cleanup']
]

const SUMMARY_STEPS = {
  'Connect (SSH)': 'connect',
  'Deploy lock': 'lock',
  'Read host state': 'inspect',
  'Pull image': 'pull',
  'Start container': 'boot',
  'Health gate': 'healthy',
  'Switch proxy': 'switch',
  'Verify via proxy': 'verify',
  'Clean up': 'cleanup'
}

function parseDuration(text) {
  const m = /^([\d.]+)\s*(ms|s)$/.exec(text.replace(/\*/g, '').trim())
  if (!m) return undefined
  return m[2] === 'ms' ? Number(m[1]) : Math.round(Number(m[1]) * 1000)
}

/** The step table of the job summary: { connect: ms, ..., total: ms }. */
export function parseSummarySteps(summary) {
  const steps = {}
  for (const line of summary.split('\n')) {
    const cells = line.split('|').map(c => c.trim())
    if (cells.length < 4) continue
    const name = cells[1].replace(/^❌\s*/, '').replace(/\*/g, '')
    const ms = parseDuration(cells[2])
    if (ms === undefined) continue
    if (name === 'Total') steps.total = ms
    else if (SUMMARY_STEPS[name]) steps[SUMMARY_STEPS[name]] = ms
  }
  return steps
}

/** The trace's JSON, its workflow-command escapes (%25, %0D, %0A) undone; undefined if unreadable. */
function parseTrace(text) {
  try {
    return JSON.parse(text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%'))
  } catch {
    return undefined
  }
}

/** Socket inodes process `pid` holds (cheap: one readdir and a readlink per descriptor). */
function socketInodes(pid) {
  const inodes = []
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        if (m) inodes.push(m[1])
      } catch {}
    }
  } catch {}
  return inodes
}

/** Maps socket inodes to TCP local ports, for connections to `remotePort` (reads /proc/net/tcp*). */
function tcpPortsOf(inodes, remotePort) {
  const wanted = new Set(inodes)
  const found = new Map()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || !wanted.has(f[9])) continue
      found.set(f[9], parseInt(f[2].split(':')[1], 16) === remotePort ? parseInt(f[1].split(':')[1], 16) : 0)
    }
  }
  return found
}

/**
 * Watches the TCP connections a process opens to `remotePort`. Reading /proc/net/tcp is costly
 * when the load leaves thousands of sockets in TIME_WAIT, so it is read only when the process
 * holds a socket not seen before (and at most 5 times for one that never resolves).
 */
function connectionWatcher(pid, remotePort) {
  const ports = new Set()
  const tries = new Map()
  const done = new Set()
  return {
    ports,
    sample() {
      const fresh = socketInodes(pid).filter(i => !done.has(i) && (tries.get(i) ?? 0) < 5)
      if (!fresh.length) return
      const found = tcpPortsOf(fresh, remotePort)
      for (const inode of fresh) {
        const port = found.get(inode)
        if (port) {
          ports.add(port)
          done.add(inode)
        } else if (port === 0)
          done.add(inode) // a TCP socket to somewhere else
        else tries.set(inode, (tries.get(inode) ?? 0) + 1)
      }
    }
  }
}

/**
 * Starts the action. Resolves with timings (epoch ms), the step table of the summary, the
 * "Docker API: N requests over M channels" figures and the client ports it used towards sshPort.
 */
export function runAction({ node, bundle, cwd, inputs, sshPort, onLine = () => {} }) {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-bench-run-'))
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_ENV: join(dir, 'env')
  }
  for (const f of Object.values(files)) writeFileSync(f, '')
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    ...files,
    GITHUB_WORKSPACE: cwd,
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'bench/cutover',
    GITHUB_RUN_ID: String(Date.now()),
    RUNNER_TEMP: dir
  }
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  const spawnedAt = now()
  const child = spawn(node, [bundle], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  liveChildren.add(child)
  const marks = [] // { step, at: 'start'|'end', t }
  const log = []
  let open
  let trace
  let buf = ''
  let stderr = ''
  const watcher = connectionWatcher(child.pid, sshPort)
  const sample = () => watcher.sample()
  const sampler = setInterval(sample, 50)
  child.stdout.on('data', chunk => {
    const t = now()
    buf += chunk
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line.startsWith('::add-mask::')) continue
      // The action's own trace (process start to exit, every step and Docker call): kept whole.
      if (line.startsWith('::debug::cutover-trace ')) {
        trace = parseTrace(line.slice('::debug::cutover-trace '.length))
        continue
      }
      log.push({ t: Math.round(t - spawnedAt), line: line.slice(0, 300) })
      if (line.startsWith('::group::')) {
        const title = line.slice(9)
        const step = GROUP_STEPS.find(([prefix]) => title.startsWith(prefix))?.[1] ?? 'other'
        open = step
        marks.push({ step, at: 'start', t })
        if (step === 'connect' || step === 'lock') sample()
      } else if (line === '::endgroup::') {
        marks.push({ step: open, at: 'end', t })
        open = undefined
      }
      onLine(line, t)
    }
  })
  child.stderr.on('data', d => (stderr += d))
  return new Promise(resolve =>
    child.on('close', (code, signal) => {
      clearInterval(sampler)
      liveChildren.delete(child)
      const exitedAt = now()
      const summary = readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8')
      const outputs = parseOutputFile(readFileSync(files.GITHUB_OUTPUT, 'utf8'))
      rmSync(dir, { recursive: true, force: true })
      const stdout = log.map(l => l.line).join('\n')
      const api = /Docker API: (\d+) requests over (\d+) channels of (\d+) SSH connection/.exec(stdout)
      const errors = log.filter(l => l.line.startsWith('::error')).map(l => l.line)
      const markOf = (step, at) => marks.find(m => m.step === step && m.at === at)?.t
      resolve({
        code,
        signal,
        spawnedAt,
        exitedAt,
        ms: exitedAt - spawnedAt,
        outputs,
        summary,
        steps: parseSummarySteps(summary),
        marks,
        switchStart: markOf('switch', 'start'),
        switchEnd: markOf('switch', 'end'),
        dockerApi: api ? { requests: Number(api[1]), channels: Number(api[2]), sshConnections: Number(api[3]) } : undefined,
        sshClientPorts: [...watcher.ports],
        errors,
        trace,
        log,
        stderr: stderr
          .split('\n')
          .filter(l => l && !/DeprecationWarning|trace-deprecation/.test(l))
          .join('\n')
      })
    })
  )
}

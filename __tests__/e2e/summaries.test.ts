import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { bedInputs, runAction, startAction, untilOutput } from '../support/action.js'
import { cleanupApp, freePort, image, uniqueName } from '../support/testbed.js'

// Issue #27: a job summary on every exit, with every output set.
// Every output action.yml declares (a refused run sets each one too).
const OUTPUTS = [
  'result',
  'color',
  'previous-color',
  'image',
  'previous-image',
  'container-id',
  'standby-state',
  'workers',
  'deployment-id',
  'duration-seconds',
  'hosts',
  'preview-url',
  'drift',
  'canary-steps',
  'switch-spread-ms'
]

describe('a job summary on every exit', () => {
  it('a refused input: the summary names the input and says nothing was touched; every output is set', async () => {
    const app = uniqueName('sum-input')
    const run = await runAction(bedInputs(app, await freePort(), { image: image('v1'), 'health-path': 'health' }))
    expect(run.code).toBe(1)
    expect(run.errors.join('\n')).toContain("Input 'health-path'")
    expect(run.summary).toContain(`## ❌ Input refused for \`${app}\``)
    expect(run.summary).toContain("> Input 'health-path'")
    expect(run.summary).toContain('Nothing was touched')
    expect(Object.keys(run.outputs).sort()).toEqual([...OUTPUTS].sort())
    expect(run.outputs).toMatchObject({ result: 'failed', hosts: '[]' })
  })

  it('a rollback and a promote of a never-deployed app', async () => {
    const app = uniqueName('sum-never')
    const port = await freePort()
    try {
      const rollback = await runAction(bedInputs(app, port, { mode: 'rollback' }))
      expect(rollback.code).toBe(1)
      expect(rollback.summary).toContain(`Cannot roll back ${app}: nothing has been deployed on this host yet`)
      const promote = await runAction(bedInputs(app, port, { mode: 'promote' }))
      expect(promote.code).toBe(1)
      expect(promote.summary).toContain(`Nothing of ${app} waits to be promoted`)
      for (const run of [rollback, promote]) expect(run.outputs.result).toBe('failed')
    } finally {
      await cleanupApp(app, `${app}-proxy`)
    }
  })

  it('two SIGINTs a few ms apart while the run waits for the deploy lock: the summary is written before the process exits', async () => {
    const app = uniqueName('sum-sigint')
    const port = await freePort()
    // Another holder of the app's lock (the bed's SSH user is this machine's root): the run waits for it.
    const locks = join(homedir(), '.cutover', 'locks')
    mkdirSync(locks, { recursive: true, mode: 0o700 })
    const holder = spawn('flock', ['-x', join(locks, `${app}.lock`), '-c', 'echo held; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true })
    try {
      await new Promise<void>(resolve => holder.stdout!.once('data', () => resolve()))
      const started = startAction(bedInputs(app, port, { image: image('v1'), 'lock-timeout': '60s' }))
      await untilOutput(started, 'holds the lock', 30_000)
      started.child.kill('SIGINT')
      await new Promise(r => setTimeout(r, 5))
      started.child.kill('SIGINT')
      const run = await started.done
      expect(run.code).toBe(1)
      expect(run.outputs.result).toBe('failed')
      expect(run.summary).toContain(`## ❌ Failed \`${app}\``)
      expect(run.summary).toContain('Cancelled (SIGINT) before the release started (while connecting, locking or reading the host): nothing was changed')
    } finally {
      process.kill(-holder.pid!, 'SIGKILL') // flock and its sleep
      await cleanupApp(app, `${app}-proxy`)
    }
  })
})

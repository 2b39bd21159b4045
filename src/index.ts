import './esm-shims.js'
import { trace } from './core/trace.js'
import { debug } from './reporting/workflow-commands.js'
import { start } from './start.js'

// Where the run's time went, from the process's start to its exit: a debug line (shown when step
// debug logging is on; the benchmark reads it). 'exit' also comes after a process.exit().
process.on('exit', () => {
  trace.mark('exit')
  debug(`cutover-trace ${JSON.stringify(trace.dump())}`)
})

const started = start()
// The rest of the action (a chunk of its own in dist/), loaded while the SSH handshake and the lock's shell go on.
const { run } = await import('./main.js')
await run(started)

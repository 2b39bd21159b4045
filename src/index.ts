import './esm-shims.js'
import * as core from '@actions/core'
import { trace } from './core/trace.js'
import { run } from './main.js'

// Where the run's time went, from the process's start to its exit: a debug line (shown when step
// debug logging is on; the benchmark reads it). 'exit' also comes after a process.exit().
process.on('exit', () => {
  trace.mark('exit')
  core.debug(`cutover-trace ${JSON.stringify(trace.dump())}`)
})

await run()

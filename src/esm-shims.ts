import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { trace } from './core/trace.js'

// Node has started and compiled the bundle: what comes before this is Node's start and the parse.
trace.mark('bundle')

// ssh2's bundled poly1305 WebAssembly loader reads __dirname, which an ES module does not
// define. Imported first by index.ts so it exists before ssh2 initialises.
const g = globalThis as { __dirname?: string }
g.__dirname ??= dirname(fileURLToPath(import.meta.url))

// docker-modem calls url.parse(), which Node 24 flags with DEP0169 on every run; the warning
// says nothing to the user of the action, so only that one is dropped.
const emitWarning = process.emitWarning.bind(process)
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const options = rest[0]
  const code = typeof options === 'object' && options !== null ? (options as { code?: string }).code : rest[1]
  if (code === 'DEP0169') return
  ;(emitWarning as (...args: unknown[]) => void)(warning, ...rest)
}) as typeof process.emitWarning

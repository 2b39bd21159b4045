import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

// ssh2's bundled poly1305 WebAssembly loader reads __dirname, which an ES module does not
// define. Imported first by index.ts so it exists before ssh2 initialises.
const g = globalThis as { __dirname?: string }
g.__dirname ??= dirname(fileURLToPath(import.meta.url))

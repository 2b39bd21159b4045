#!/usr/bin/env node
import './esm-shims.js'
import { cli } from './cli/main.js'

// The command line's entry (bundled to dist/cli/index.js, the package's `cutover` bin).
const code = await cli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() })
process.exit(code)

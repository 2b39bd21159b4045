// dist/ is built without gRPC and protobuf: tsconfig.json's "paths" (which ncc applies to every
// module it resolves) send them to a stub. These tests keep that mapping honest.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { REPO } from '../support/testbed.js'

const require = createRequire(join(REPO, 'package.json'))
const STUB = './build/stubs/not-bundled.cjs'
const STUBBED = ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs']

describe('the build without gRPC and protobuf', () => {
  it('maps exactly the gRPC and protobuf packages to the stub in tsconfig.json', () => {
    const tsconfig = JSON.parse(readFileSync(join(REPO, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: { paths?: Record<string, string[]> }
    }
    expect(tsconfig.compilerOptions.paths).toEqual(Object.fromEntries(STUBBED.map(name => [name, [STUB]])))
  })

  it('stubs everything dockerode requires them for, and only BuildKit code requires them', () => {
    const lib = join(REPO, 'node_modules', 'dockerode', 'lib')
    const requires = (file: string) => [...readFileSync(join(lib, file), 'utf8').matchAll(/require\(\s*["']([^"'.][^"']*)["']\s*\)/g)].map(m => m[1])
    // session.js (BuildKit build sessions) is loaded by docker.js at start-up; buildkit.js lazily.
    expect(
      requires('session.js')
        .filter(name => name.startsWith('@grpc/') || name === 'protobufjs')
        .sort()
    ).toEqual(['@grpc/grpc-js', '@grpc/proto-loader'])
    expect(requires('buildkit.js')).toContain('protobufjs')
    for (const file of ['docker.js', 'container.js', 'image.js', 'network.js', 'volume.js', 'exec.js']) {
      expect({ file, grpc: requires(file).filter(name => STUBBED.includes(name)) }).toEqual({ file, grpc: [] })
    }
  })

  it('loads without error, answers interop probes, and throws a clear error on any use', () => {
    const stub = require(STUB) as Record<string | symbol, unknown>
    expect(stub.__esModule).toBeUndefined()
    expect(stub.default).toBeUndefined()
    expect(stub[Symbol.toStringTag]).toBeUndefined()
    expect(() => stub.Server).toThrow(/bundled without gRPC and protobuf.*: Server is not available/)
    expect(() => stub.loadSync).toThrow(/loadSync is not available/)
  })
})

describe('the ACME renewer bundle (dist/acme/index.js)', () => {
  // It runs in a plain Node image on the host, as an ES module: code that needs CommonJS globals
  // (__dirname: ssh2's asm.js, pulled in by an import of the transport) fails there at start.
  it('starts under Node and answers a wrong command with its usage, exit code 2', () => {
    const run = spawnSync(process.execPath, [join(REPO, 'dist', 'acme', 'index.js'), 'no-such-command'], { encoding: 'utf8', timeout: 20_000 })
    expect({ status: run.status, stderr: run.stderr.trim().split('\n').pop() }).toEqual({ status: 2, stderr: 'usage: index.mjs serve | issue APP [--force]' })
  })

  it('bundles no SSH or Docker client code', () => {
    const bundle = readFileSync(join(REPO, 'dist', 'acme', 'index.js'), 'utf8')
    for (const marker of ['ssh2', 'docker-modem']) expect({ marker, found: bundle.includes(`node_modules/${marker}/`) }).toEqual({ marker, found: false })
  })
})

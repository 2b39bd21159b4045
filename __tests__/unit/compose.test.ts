import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import { InputError, parseInputs } from '../../src/inputs/parse.js'

const workspace = mkdtempSync(join(tmpdir(), 'cutover-compose-'))
const key = ssh2.utils.generateKeyPairSync('ed25519').private

function write(name: string, text: string): string {
  writeFileSync(join(workspace, name), text)
  return name
}

const APP = `
services:
  web:
    image: ghcr.io/acme/shop:1
    command: ["bin/web", "--port", "3000"]
    environment:
      DATABASE_URL: postgres://db/shop
      PRICE: "$$5"
    env_file: shop.env
    volumes: [uploads:/app/uploads]
    labels: { team: shop }
    depends_on:
      db: { condition: service_healthy }
    healthcheck:
      test: ["CMD", "/bin/check"]
      interval: 2s
      retries: 3
    deploy: { resources: { limits: { memory: 256m, cpus: "0.5" } } }
  jobs:
    image: ghcr.io/acme/shop:1
    command: bin/jobs --queue default
    environment:
      DATABASE_URL: postgres://db/shop
      PRICE: "$$5"
    env_file: [shop.env]
    volumes: [uploads:/app/uploads]
    depends_on: [db, web]
  db:
    image: postgres:16
    environment: [POSTGRES_PASSWORD=pw]
    volumes: [dbdata:/var/lib/postgresql/data]
    healthcheck:
      test: pg_isready
      interval: 1s
volumes:
  uploads: {}
  dbdata: {}
`

function parse(inputs: Record<string, string>) {
  const values: Record<string, string> = {
    app: 'shop',
    host: 'deploy.example.com',
    'ssh-private-key': key,
    'insecure-skip-host-key-check': 'true',
    ...inputs
  }
  return parseInputs({ get: n => values[n] ?? '', mask: () => undefined, workspace })
}

function errorOf(inputs: Record<string, string>): string {
  try {
    parse(inputs)
  } catch (e) {
    expect(e).toBeInstanceOf(InputError)
    return (e as Error).message
  }
  throw new Error('expected an InputError')
}

beforeAll(() => {
  write('shop.env', 'SECRET_KEY_BASE=abc\n')
  write('docker-compose.yml', APP)
})

const compose = (more: Record<string, string> = {}) => ({
  'compose-file': 'docker-compose.yml',
  'compose-service': 'web',
  'compose-shared-services': 'db',
  ...more
})

describe('compose-file', () => {
  it('maps the routed service to the web role, same-image services to workers, and shared services outside the colors', () => {
    const c = parse(compose())
    expect(c.image).toBe('ghcr.io/acme/shop:1')
    expect(c.container).toMatchObject({
      env: { SECRET_KEY_BASE: 'abc', DATABASE_URL: 'postgres://db/shop', PRICE: '$5' },
      volumes: ['shop_uploads:/app/uploads'],
      labels: { team: 'shop' },
      command: ['bin/web', '--port', '3000'],
      memoryBytes: 256 * 1024 ** 2,
      nanoCpus: 5e8,
      healthcheck: { test: ['CMD', '/bin/check'], intervalNs: 2e9, retries: 3 },
      restart: { Name: 'unless-stopped' }
    })
    // jobs has its own settings: no labels, healthcheck or limits of web's.
    expect(c.roles?.workers).toEqual([
      {
        name: 'jobs',
        command: ['bin/jobs', '--queue', 'default'],
        settings: expect.objectContaining({
          env: { SECRET_KEY_BASE: 'abc', DATABASE_URL: 'postgres://db/shop', PRICE: '$5' },
          volumes: ['shop_uploads:/app/uploads'],
          labels: {},
          healthcheck: undefined,
          memoryBytes: undefined,
          composeService: 'jobs'
        })
      }
    ])
    expect(c.container.composeService).toBe('web')
    expect(c.compose).toEqual({ networks: [], sharedUpdate: 'keep' })
    expect(c.shared).toEqual([
      expect.objectContaining({
        name: 'db',
        image: 'postgres:16',
        env: { POSTGRES_PASSWORD: 'pw' },
        volumes: ['shop_dbdata:/var/lib/postgresql/data'],
        healthcheck: { test: ['CMD-SHELL', 'pg_isready'], intervalNs: 1e9 }
      })
    ])
  })

  it('the image input replaces the routed image (for its workers too)', () => {
    expect(parse(compose({ image: 'ghcr.io/acme/shop:2' })).image).toBe('ghcr.io/acme/shop:2')
  })

  it.each([
    ['ports', 'web:\n    image: a\n    ports: ["80:80"]', `uses the key "ports" in service "web", which cutover does not support`],
    ['build', 'web:\n    build: .', `uses the key "build" in service "web"`],
    ['interpolation', 'web:\n    image: "shop:${TAG}"', 'variable interpolation is not supported'],
    ['a worker without a command', 'web:\n    image: a\n  jobs:\n    image: a', `has "jobs" without a command`],
    ['a relative bind mount', 'web:\n    image: a\n    volumes: ["./data:/data"]', 'a relative path would not be the repository on the host'],
    ['an undeclared volume', 'web:\n    image: a\n    volumes: ["data:/data"]', `"data" is not declared under the top-level volumes`],
    ['an undeclared network', 'web:\n    image: a\n    networks: [back]', `has the network "back" in "web", but it is not declared under the top-level networks`],
    [
      'service_completed_successfully',
      'web:\n    image: a\n    depends_on: { m: { condition: service_completed_successfully } }\n  m:\n    image: a\n    command: x',
      'condition service_completed_successfully'
    ],
    ['deploy replicas', 'web:\n    image: a\n    deploy: { replicas: 2 }', 'deploy keys in service "web" other than resources.limits']
  ])('refuses %s, naming it', (_what, services, message) => {
    write('bad.yml', `services:\n  ${services}\n`)
    expect(errorOf({ 'compose-file': 'bad.yml', 'compose-service': 'web' })).toContain(message)
  })

  it('refuses inputs the compose file replaces, a missing service, and a file outside the workspace', () => {
    expect(errorOf(compose({ env: 'A=1' }))).toBe("Input 'env' cannot be combined with 'compose-file': set it in the compose file")
    expect(errorOf(compose({ workers: 'x: y' }))).toContain("Input 'workers' cannot be combined")
    expect(errorOf(compose({ 'compose-service': 'api' }))).toContain(
      `Input 'compose-service' names "api", which docker-compose.yml does not define (it has web, jobs, db)`
    )
    expect(errorOf(compose({ 'compose-shared-services': 'web' }))).toContain('the routed service (compose-service)')
    expect(errorOf(compose({ 'compose-service': '' }))).toContain("Input 'compose-service' is required")
    expect(errorOf(compose({ 'compose-file': '/etc/hostname' }))).toContain('outside the workspace')
    expect(errorOf({ 'compose-service': 'web', image: 'a:1' })).toContain("Input 'compose-service' only applies with 'compose-file'")
  })
})

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { InputError, parseInputs } from '../../src/inputs/parse.js'
import { sshKeyPair } from '../support/keys.js'
import { tempDir } from '../support/temp-dirs.js'

const workspace = tempDir('cutover-compose-')
const key = sshKeyPair().private

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
    [
      'an undeclared network',
      'web:\n    image: a\n    networks: [back]',
      `has the network "back" in "web", but it is not declared under the top-level networks`
    ],
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

describe('compose-file: services per color, networks, volumes, depends_on', () => {
  const parseFile = (text: string, more: Record<string, string> = {}) => {
    write('c.yml', text)
    return parse({ 'compose-file': 'c.yml', 'compose-service': 'web', ...more })
  }
  const errorFor = (text: string, more: Record<string, string> = {}) => {
    write('c.yml', text)
    return errorOf({ 'compose-file': 'c.yml', 'compose-service': 'web', ...more })
  }

  it('a service of another image is a worker of its own image and settings; the image input replaces only the routed image', () => {
    const c = parseFile(
      `services:
  web: { image: "shop:1", environment: { ROLE: web } }
  jobs: { image: "shop:1", command: bin/jobs, environment: { ROLE: web } }
  mailer: { image: "mailer:3", environment: { ROLE: mail, SMTP: smtp.example } }
`,
      { image: 'shop:2' }
    )
    expect(c.image).toBe('shop:2')
    expect(c.roles?.workers).toEqual([
      // Same image and settings as web: a plain worker of the release's image.
      { name: 'jobs', command: ['bin/jobs'] },
      // Another image, no command: the image's own command, with its own environment.
      {
        name: 'mailer',
        command: [],
        image: 'mailer:3',
        settings: expect.objectContaining({ env: { ROLE: 'mail', SMTP: 'smtp.example' }, composeService: 'mailer' })
      }
    ])
  })

  it('a same-image worker with its own environment keeps it (not the web role’s)', () => {
    const c = parseFile(`services:
  web: { image: "shop:1", environment: { QUEUE: a } }
  jobs: { image: "shop:1", command: bin/jobs, environment: { QUEUE: b } }
`)
    expect(c.roles?.workers[0]).toMatchObject({ name: 'jobs', settings: { env: { QUEUE: 'b' } } })
    expect(c.roles?.workers[0].image).toBeUndefined()
  })

  it('reads long-syntax volumes into binds: named (the app’s own or external), bind, read_only', () => {
    const c = parseFile(`services:
  web:
    image: a
    volumes:
      - { type: volume, source: data, target: /data }
      - { type: volume, source: shared, target: /shared, read_only: true }
      - { type: bind, source: /srv/config, target: /config, read_only: true }
      - "/srv/logs:/logs"
volumes:
  data: {}
  shared: { external: true, name: common-files }
`)
    expect(c.container.volumes).toEqual(['shop_data:/data', 'common-files:/shared:ro', '/srv/config:/config:ro', '/srv/logs:/logs'])
  })

  it.each([
    ['tmpfs', '{ type: tmpfs, target: /tmp }', 'has a volume of type "tmpfs" in "web"; supported: volume, bind'],
    ['an unsupported key', '{ type: bind, source: /a, target: /b, bind: { propagation: shared } }', 'has the volume key "bind" in "web"'],
    ['a relative bind', '{ type: bind, source: ./a, target: /b }', 'has the bind mount "./a:/b" in "web": use an absolute path'],
    ['an anonymous volume', '{ type: volume, target: /b }', 'has a volume volume without a source in "web"'],
    ['a relative target', '{ type: volume, source: data, target: b }', 'whose target is not an absolute path'],
    ['an undeclared named volume', '{ type: volume, source: other, target: /b }', '"other" is not declared under the top-level volumes']
  ])('refuses a long-syntax volume with %s', (_what, entry, message) => {
    expect(errorFor(`services:\n  web:\n    image: a\n    volumes:\n      - ${entry}\nvolumes:\n  data: {}\n`)).toContain(message)
  })

  it('the app’s own networks become <app>_<name>, created by the deploy; external ones keep their names', () => {
    const c = parseFile(
      `services:
  web: { image: a, networks: [default, back, edge] }
  db: { image: postgres, networks: { back: {} } }
networks:
  back: {}
  edge: { external: true, name: traefik }
`,
      { 'compose-shared-services': 'db' }
    )
    expect(c.container.networks).toEqual(['shop_back', 'traefik'])
    expect(c.shared?.[0].networks).toEqual(['shop_back'])
    expect(c.compose?.networks).toEqual(['shop_back'])
  })

  it.each([
    ['a driver', 'networks:\n  back: { driver: overlay }', 'has the key "driver" in the network "back", which cutover does not support'],
    ['a service’s network options', 'networks:\n  back: {}', 'has options under the network "back" in "web"', '{ back: { aliases: [x] } }']
  ])('refuses a network with %s', (_what, top, message, service = '[back]') => {
    expect(errorFor(`services:\n  web:\n    image: a\n    networks: ${service}\n${top}\n`)).toContain(message)
  })

  it('orders workers by depends_on (deps first) and keeps the conditions between them; those on web or shared services are already met', () => {
    const c = parseFile(
      `services:
  web: { image: a }
  reports: { image: a, command: r, depends_on: { jobs: { condition: service_healthy }, web: { condition: service_healthy }, db: { condition: service_started } } }
  jobs: { image: a, command: j, depends_on: [cache] }
  cache: { image: "cache:1" }
  db: { image: postgres }
`,
      { 'compose-shared-services': 'db' }
    )
    expect(c.roles?.workers.map(w => [w.name, w.dependsOn])).toEqual([
      ['cache', undefined],
      ['jobs', [{ service: 'cache', condition: 'service_started' }]],
      ['reports', [{ service: 'jobs', condition: 'service_healthy' }]]
    ])
  })

  it.each([
    [
      'web depending on a worker',
      'web: { image: a, depends_on: [jobs] }\n  jobs: { image: a, command: j }',
      'has the routed service "web" depend on "jobs", which is deployed per color: the release starts web first (health-gated), then the other services; web may only depend on shared services'
    ],
    ['a cycle', 'web: { image: a }\n  a: { image: x, depends_on: [b] }\n  b: { image: x, depends_on: [a] }', 'has a depends_on cycle: a -> b -> a'],
    [
      'a shared service depending on a worker',
      'web: { image: a }\n  jobs: { image: a, command: j }\n  db: { image: p, depends_on: [jobs] }',
      'has the shared service "db" depend on "jobs", which is deployed per color'
    ],
    [
      'an unknown depends_on key',
      'web: { image: a }\n  j: { image: x, depends_on: { web: { restart: true } } }',
      'has the depends_on key "restart" (under web) in "j"'
    ],
    ['a compose label', 'web: { image: a, labels: { com.docker.compose.project: x } }', 'has the label "com.docker.compose.project" in "web"'],
    [
      'a per-color service name too long for a container name',
      `web: { image: a }\n  ${'x'.repeat(40)}: { image: b }`,
      `whose container name shop-green-worker-${'x'.repeat(40)}-replaced would be longer than 63 characters`
    ]
  ])('refuses %s, naming it', (_what, services, message) => {
    expect(errorFor(`services:\n  ${services}\n`, { 'compose-shared-services': services.includes('db:') ? 'db' : '' })).toContain(message)
  })

  it('compose-shared-update: keep (default) or recreate, only with compose-file', () => {
    expect(parse(compose({ 'compose-shared-update': 'recreate' })).compose?.sharedUpdate).toBe('recreate')
    expect(errorOf(compose({ 'compose-shared-update': 'always' }))).toBe(`Input 'compose-shared-update' must be keep or recreate, not "always"`)
    expect(errorOf({ image: 'a:1', 'compose-shared-update': 'keep' })).toBe("Input 'compose-shared-update' only applies with 'compose-file'")
  })
})

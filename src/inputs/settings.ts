// The typed table of every setting (issue #21): what each action.yml input holds in a config file,
// and under which topic the reference lists it. action.yml stays the source of names, descriptions
// and defaults; scripts/config-schema.mjs builds schema/cutover.schema.json, docs/configuration.md
// and settings-defaults.ts from both, and __tests__/unit/config-schema.test.ts checks they agree.
// This file imports nothing: the script loads it by transpiling it alone.

export const TOPICS = ['connection', 'app', 'health', 'proxy', 'tls', 'strategies', 'hosts', 'reporting'] as const
export type Topic = (typeof TOPICS)[number]

/**
 * What a value may be in the file. string: a scalar (a number is taken as its text); text: a string,
 * several lines allowed; list: a YAML list of strings or a string of lines; map: a YAML map (or a
 * list of KEY=VALUE strings); duration: 30s, 2m or a number of seconds; enum: one of `values`.
 */
export type SettingType = 'string' | 'text' | 'boolean' | 'integer' | 'number' | 'duration' | 'list' | 'map' | 'enum'

export interface Setting {
  type: SettingType
  topic: Topic
  /** enum: the allowed values. */
  values?: readonly string[]
  /** map: how an entry becomes the input's line (`KEY=VALUE` or `name: command`). */
  join?: '=' | ': '
  /** Never in the file: the shell or the CI system hands it over in CUTOVER_<NAME>. */
  secret?: true
  /** Only for these modes: in the file with another mode it is refused. */
  modes?: readonly string[]
  /** Chosen per run (a flag or an action input), never in the file. */
  perRun?: true
}

export const SETTINGS: Record<string, Setting> = {
  config: { type: 'string', topic: 'app', perRun: true },
  mode: { type: 'enum', topic: 'app', values: ['deploy', 'rollback', 'status', 'maintenance', 'live', 'promote', 'remove'], perRun: true },
  app: { type: 'string', topic: 'app' },
  image: { type: 'string', topic: 'app' },
  'image-archive': { type: 'string', topic: 'app' },
  'to-image': { type: 'string', topic: 'app', modes: ['rollback'] },
  'to-release': { type: 'integer', topic: 'app', modes: ['rollback'] },
  host: { type: 'list', topic: 'connection' },
  port: { type: 'integer', topic: 'connection' },
  rollout: { type: 'enum', topic: 'hosts', values: ['atomic', 'rolling'] },
  'batch-size': { type: 'integer', topic: 'hosts' },
  'rollback-on-failure': { type: 'boolean', topic: 'hosts' },
  user: { type: 'string', topic: 'connection' },
  'ssh-private-key': { type: 'text', topic: 'connection', secret: true },
  'ssh-passphrase': { type: 'string', topic: 'connection', secret: true },
  'ssh-agent-socket': { type: 'string', topic: 'connection' },
  'known-hosts': { type: 'list', topic: 'connection' },
  'host-fingerprint': { type: 'string', topic: 'connection' },
  'insecure-skip-host-key-check': { type: 'boolean', topic: 'connection' },
  'jump-host': { type: 'string', topic: 'connection' },
  'jump-ssh-private-key': { type: 'text', topic: 'connection', secret: true },
  'jump-ssh-passphrase': { type: 'string', topic: 'connection', secret: true },
  'jump-host-fingerprint': { type: 'string', topic: 'connection' },
  'connect-timeout': { type: 'duration', topic: 'connection' },
  'docker-socket': { type: 'string', topic: 'connection' },
  registry: { type: 'string', topic: 'app' },
  'registry-username': { type: 'string', topic: 'app' },
  'registry-password': { type: 'string', topic: 'app', secret: true },
  env: { type: 'map', topic: 'app', join: '=' },
  'env-file': { type: 'string', topic: 'app' },
  'swarm-secrets': { type: 'list', topic: 'app' },
  volumes: { type: 'list', topic: 'app' },
  networks: { type: 'list', topic: 'app' },
  labels: { type: 'map', topic: 'app', join: '=' },
  restart: { type: 'string', topic: 'app' },
  memory: { type: 'string', topic: 'app' },
  cpus: { type: 'number', topic: 'app' },
  command: { type: 'string', topic: 'app' },
  'app-port': { type: 'string', topic: 'app' },
  workers: { type: 'map', topic: 'app', join: ': ' },
  'worker-min-uptime': { type: 'duration', topic: 'app' },
  'worker-stop-timeout': { type: 'duration', topic: 'app' },
  'worker-handover': { type: 'enum', topic: 'app', values: ['stop-first', 'overlap'] },
  'release-command': { type: 'string', topic: 'app' },
  'release-timeout': { type: 'duration', topic: 'app' },
  'compose-file': { type: 'string', topic: 'app' },
  'compose-service': { type: 'string', topic: 'app' },
  'compose-shared-services': { type: 'list', topic: 'app' },
  'compose-shared-update': { type: 'enum', topic: 'app', values: ['keep', 'recreate'] },
  'health-path': { type: 'string', topic: 'health' },
  'health-status': { type: 'integer', topic: 'health' },
  'health-timeout': { type: 'duration', topic: 'health' },
  'health-interval': { type: 'duration', topic: 'health' },
  'health-passes': { type: 'integer', topic: 'health' },
  'proxy-name': { type: 'string', topic: 'proxy' },
  'proxy-type': { type: 'enum', topic: 'proxy', values: ['auto', 'haproxy', 'nginx', 'caddy'] },
  'proxy-image': { type: 'string', topic: 'proxy' },
  'proxy-port': { type: 'string', topic: 'proxy' },
  'proxy-networks': { type: 'list', topic: 'proxy' },
  'proxy-protocol': { type: 'boolean', topic: 'proxy' },
  metrics: { type: 'string', topic: 'proxy' },
  domains: { type: 'list', topic: 'proxy' },
  'drain-timeout': { type: 'duration', topic: 'proxy' },
  tls: { type: 'enum', topic: 'tls', values: ['off', 'auto', 'custom'] },
  'https-port': { type: 'integer', topic: 'tls' },
  'tls-redirect': { type: 'boolean', topic: 'tls' },
  hsts: { type: 'boolean', topic: 'tls' },
  'trusted-proxies': { type: 'list', topic: 'proxy' },
  'tls-certificate': { type: 'text', topic: 'tls' },
  'tls-key': { type: 'text', topic: 'tls', secret: true },
  'acme-email': { type: 'string', topic: 'tls' },
  'acme-directory': { type: 'string', topic: 'tls' },
  'acme-directory-ca': { type: 'text', topic: 'tls' },
  'acme-image': { type: 'string', topic: 'tls' },
  'acme-challenge': { type: 'enum', topic: 'tls', values: ['http-01', 'dns-01'] },
  'acme-dns-server': { type: 'string', topic: 'tls' },
  'acme-dns-zone': { type: 'string', topic: 'tls' },
  'acme-dns-tsig-key': { type: 'text', topic: 'tls', secret: true },
  'keep-previous': { type: 'enum', topic: 'strategies', values: ['running', 'stopped', 'removed'] },
  'keep-failed': { type: 'boolean', topic: 'strategies' },
  'remove-data': { type: 'boolean', topic: 'app', modes: ['remove'] },
  'allow-host-mounts': { type: 'boolean', topic: 'app' },
  target: { type: 'enum', topic: 'hosts', values: ['container', 'swarm'] },
  'swarm-constraints': { type: 'list', topic: 'hosts' },
  'swarm-proxy-label': { type: 'string', topic: 'hosts' },
  'rebuild-ledger': { type: 'boolean', topic: 'reporting', modes: ['status'] },
  replicas: { type: 'integer', topic: 'strategies' },
  'canary-weight': { type: 'integer', topic: 'strategies' },
  watch: { type: 'duration', topic: 'strategies' },
  'watch-max-error-rate': { type: 'string', topic: 'strategies' },
  'canary-steps': { type: 'list', topic: 'strategies', modes: ['deploy'] },
  'canary-step-time': { type: 'duration', topic: 'strategies' },
  'watch-max-latency': { type: 'duration', topic: 'strategies' },
  'watch-max-latency-increase': { type: 'string', topic: 'strategies' },
  'canary-low-traffic': { type: 'enum', topic: 'strategies', values: ['promote', 'hold', 'fail'] },
  promote: { type: 'enum', topic: 'strategies', values: ['auto', 'manual'] },
  'preview-domains': { type: 'list', topic: 'strategies' },
  sticky: { type: 'enum', topic: 'strategies', values: ['off', 'cookie'] },
  'maintenance-page': { type: 'string', topic: 'proxy' },
  'lock-timeout': { type: 'duration', topic: 'connection' },
  deployments: { type: 'boolean', topic: 'reporting' },
  'github-token': { type: 'string', topic: 'reporting', secret: true },
  environment: { type: 'string', topic: 'reporting' },
  'environment-url': { type: 'string', topic: 'reporting' }
}

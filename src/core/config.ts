/** The action's whole configuration, parsed and validated once from the step's inputs. */
import type { Mode } from './outcome.js'

export type { Mode }

/** A `docker save` archive on the runner, deployed without a registry. */
export interface ImageArchive {
  /** Absolute path on the runner. */
  path: string
  bytes: number
  /** The image references the archive names (its manifest's RepoTags). */
  tags: string[]
}
export type KeepPrevious = 'running' | 'stopped' | 'removed'

/** How the identity of an SSH server is checked. */
export type HostKeyPin = { kind: 'known-hosts'; keys: PinnedKey[] } | { kind: 'fingerprint'; fingerprint: string } | { kind: 'insecure' }

export interface PinnedKey {
  /** e.g. ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa */
  type: string
  /** The raw public key blob, as the server sends it during key exchange. */
  blob: Buffer
}

export interface SshEndpoint {
  host: string
  port: number
  user: string
  /** The key's text; '' when only the agent signs. */
  privateKey: string
  passphrase?: string
  /** An ssh-agent socket whose keys are tried as well (ssh-agent-socket, or SSH_AUTH_SOCK on the command line). */
  agent?: string
  hostKey: HostKeyPin
}

export interface SshConfig extends SshEndpoint {
  /** A bastion the connection to the target is tunnelled through. */
  jump?: SshEndpoint
  connectTimeoutMs: number
}

export interface RegistryAuth {
  /** The registry host the credentials are for; '' means the registry of the app image pulled. */
  serveraddress: string
  username: string
  password: string
}

export interface ContainerSettings {
  env: Record<string, string>
  volumes: string[]
  networks: string[]
  labels: Record<string, string>
  restart: { Name: string; MaximumRetryCount?: number }
  memoryBytes?: number
  nanoCpus?: number
  command?: string[]
  /** A Docker HEALTHCHECK for the container (from a compose file), overriding the image's. */
  healthcheck?: Healthcheck
  /** compose-file: the compose service this container is, so it carries compose's project labels (not hashed: labels only). */
  composeService?: string
}

/** Docker's HealthConfig, durations in nanoseconds. */
export interface Healthcheck {
  test: string[]
  intervalNs?: number
  timeoutNs?: number
  startPeriodNs?: number
  retries?: number
}

/** A compose service that must not be doubled (a database): one container `<app>-<name>`, outside the colors. */
export interface SharedService {
  name: string
  image: string
  command?: string[]
  env: Record<string, string>
  volumes: string[]
  networks: string[]
  labels: Record<string, string>
  healthcheck?: Healthcheck
  memoryBytes?: number
  nanoCpus?: number
  dependsOn: DependsOn[]
}

/** A compose `depends_on` entry. */
export interface DependsOn {
  service: string
  condition: 'service_started' | 'service_healthy'
}

/** compose-file: what the project adds beyond the roles and shared services. */
export interface ComposeSettings {
  /** The project's own (non-external) networks, `<app>_<name>`: created, labelled with the app, before anything starts. */
  networks: string[]
  /** compose-shared-update: what a deploy does with a shared service whose image or settings changed. */
  sharedUpdate: 'keep' | 'recreate'
}

export interface HealthSettings {
  port: number
  path: string
  timeoutMs: number
  intervalMs: number
  passes: number
  /** An exact status to expect; any 2xx when absent. */
  expectedStatus?: number
}

export type ProxyType = 'nginx' | 'haproxy' | 'caddy'
/** `auto`: the type of the proxy already on the host under that name; HAProxy for a new one. */
export type ProxyChoice = ProxyType | 'auto'

export type TlsMode = 'off' | 'auto' | 'custom'

/** HTTPS on the proxy (issue #10, HAProxy only): terminated by the proxy itself. */
export interface TlsSettings {
  mode: TlsMode
  /** The host port the proxy serves HTTPS on. */
  httpsPort: number
  /** https-port was given (a new HAProxy proxy publishes it even while tls is off). */
  httpsPortGiven?: boolean
  /** HTTP answers 308 to HTTPS for the app's names (ACME challenges excepted). */
  redirect: boolean
  hsts: boolean
  /** Sources whose X-Forwarded-* headers are passed through unchanged (IP addresses and CIDRs). */
  trustedProxies: string[]
  /** tls custom: PEM certificate chain and key (the key is written only into the proxy's volume). */
  certificate?: string
  key?: string
  /** tls auto: the ACME account and server, and the image the renewer container runs in. */
  acme?: {
    email?: string
    directory: string
    directoryCa?: string
    image: string
    /** acme-challenge (issue #23): http-01 through the proxy, or dns-01 (wildcards) through `dns`. */
    challenge?: 'http-01' | 'dns-01'
    /** dns-01: where the renewer publishes TXT records (the TSIG key included: a secret). */
    dns?: { kind: 'rfc2136'; server: string; port: number; zone: string; tsigKey: string }
  }
}

export interface ProxySettings {
  /** nginx: the edge and switch tiers; haproxy: one tier switched through its runtime API; caddy: one tier switched through its admin API. */
  type: ProxyType
  name: string
  image: string
  /** proxy-image was given: an HAProxy proxy running another image hands over to it (issue #22); the default never replaces one. */
  imageGiven?: boolean
  port: number
  /** proxy-port given as an address (127.0.0.1:8080): the host address the port is published on; absent: every address. */
  hostIp?: string
  /** proxy-port none (edge mode, issue #23): nothing published; an edge reaches the proxy on `networks` by its container name. */
  unpublished?: boolean
  /** proxy-networks: Docker networks (an edge's) the proxy joins besides its own and the apps'. */
  networks?: string[]
  /** proxy-protocol: PROXY protocol (v1 or v2) expected from the trusted-proxies, so the client's address crosses the edge. */
  proxyProtocol?: boolean
  domains: string[]
  drainTimeoutMs: number
  /** sticky: cookie (HAProxy): a client keeps the color (the replica) it first got until that color's drain ends. */
  sticky?: boolean
  /** preview-domains (HAProxy): host names routed to the color that is not live (a waiting preview, else the standby). */
  previewDomains?: string[]
  /** Absent: tls off (as before issue #10). */
  tls?: TlsSettings
  /** metrics (issue #24, HAProxy): the host address the proxy's Prometheus endpoint is published at; absent: as the proxy is. */
  metrics?: MetricsAddress
}

/** Input 'metrics': where on the host the proxy's metrics are published (127.0.0.1 unless given). */
export interface MetricsAddress {
  host: string
  port: number
}

/** A background process of the app: the web role's image and settings, its own command, no route, no HTTP probe. */
export interface WorkerRole {
  name: string
  /** Empty: the image's own command (only for a worker of its own image). */
  command: string[]
  /** compose-file: a service of another image than the routed one keeps it (absent: the release's image). */
  image?: string
  /** compose-file: the service's own environment, volumes, networks, labels, healthcheck and limits (absent: the web role's). */
  settings?: Omit<ContainerSettings, 'restart'>
  /** compose-file: workers of the release it waits for (started or healthy) before it starts. */
  dependsOn?: DependsOn[]
}

export interface RoleSettings {
  /** false with `app-port: none`: no web role, no proxy; only workers are deployed. */
  web: boolean
  workers: WorkerRole[]
  /** A worker without a HEALTHCHECK is healthy once it has run this long. */
  minUptimeMs: number
  /** SIGTERM grace of old workers before SIGKILL. */
  stopTimeoutMs: number
  /**
   * `stop-first`: the live workers stop (finishing their job) before the new ones start, so no two
   * versions consume at once; `overlap`: the new ones start first and the old stop after the switch.
   */
  handover: WorkerHandover
}

export type WorkerHandover = 'stop-first' | 'overlap'

/** A one-off command run in the new image before the switch (migrations). */
export interface ReleaseCommandSettings {
  command: string[]
  timeoutMs: number
}

/** The proxy as the inputs ask for it: the type (and so the default image) may be decided on the host. */
export interface ProxyInputs extends Omit<ProxySettings, 'type' | 'image'> {
  type: ProxyChoice
  /** Input 'proxy-image'; undefined: the default image of the type. */
  image?: string
}

export interface GithubSettings {
  deployments: boolean
  token: string
  environment: string
  environmentUrl?: string
}

/** How a release is rolled out (issue #12); every default is plain one-container blue/green. */
export interface StrategySettings {
  /** Containers per color, load-balanced by the proxy (HAProxy only above 1). */
  replicas: number
  /** mode maintenance: the page's HTML (input 'maintenance-page', read from the repository); undefined: the built-in page. */
  maintenancePage?: string
  /** canary-weight: the percentage (1-99) of new requests a deploy sends to the new color; undefined: a full switch. */
  canaryWeight?: number
  /** promote manual: a deploy gates the new color and leaves it waiting (a preview) until mode promote; absent: auto. */
  promote?: 'manual'
  /** watch: after a verified switch, observe the new color this long and roll back on 5xx or failing health; undefined: off. */
  watch?: WatchSettings
  /** canary-steps (issue #24): the canary climbs these weights, judged at each step, then is promoted; undefined: off. */
  canarySteps?: CanaryStepsSettings
}

/** What a step with too few requests to judge does (input 'canary-low-traffic'). */
export type LowTrafficPolicy = 'promote' | 'hold' | 'fail'

/** Inputs 'canary-steps', 'canary-step-time', 'watch-max-latency', 'watch-max-latency-increase', 'canary-low-traffic' (issue #24). */
export interface CanaryStepsSettings {
  /** Percentages (1-99), rising. */
  weights: number[]
  /** How long each step holds before it is judged. */
  stepMs: number
  /** The largest 5xx share (percent) of the canary's responses in a step that still passes (watch-max-error-rate). */
  maxErrorRate: number
  /** The largest response time (ms) of the canary in a step that still passes; undefined: not judged. */
  maxLatencyMs?: number
  /** The largest increase (percent) of the canary's response time over the live color's in the same step; undefined: not judged. */
  maxLatencyIncrease?: number
  lowTraffic: LowTrafficPolicy
}

/** Input 'watch' and 'watch-max-error-rate' (issue #12). */
export interface WatchSettings {
  durationMs: number
  /** The largest 5xx share (percent, 0-100) of the new color's responses over the window that still passes. */
  maxErrorRate: number
}

export type Rollout = 'atomic' | 'rolling'

/** How a run with several hosts switches them. */
export interface FleetSettings {
  /** atomic: every host gated before any switches; rolling: in batches, each gated before the next. */
  rollout: Rollout
  batchSize: number
  /** rolling: a failure switches the batches already done back to their previous release. */
  rollbackOnFailure: boolean
}

export interface Config {
  mode: Mode
  app: string
  ssh: SshConfig
  /** With several hosts in `host`: each one's connection (the first is `ssh`) and how they are switched. */
  fleet?: FleetSettings & { hosts: SshConfig[] }
  dockerSocket: string
  image?: string
  toImage?: string
  /** With mode rollback: roll back to the release this many releases back in the ledger (1 = previous). */
  toRelease?: number
  /** A `docker save` archive on the runner, loaded into the host's Docker instead of pulling `image`. */
  imageArchive?: ImageArchive
  registry?: RegistryAuth
  container: ContainerSettings
  health: HealthSettings
  proxy: ProxyInputs
  strategy: StrategySettings
  keepPrevious: KeepPrevious
  keepFailed: boolean
  /** mode status: rebuild a missing release ledger from the app's containers and the proxy's route (issue #27). */
  rebuildLedger?: boolean
  /** mode remove: its shared services and named volumes go too (issue #22). */
  removeData?: boolean
  lockTimeoutMs: number
  github: GithubSettings
  /** Absent = a web role and no workers (configs built before roles existed). */
  roles?: RoleSettings
  releaseCommand?: ReleaseCommandSettings
  /** compose-shared-services: started once, before the release's colors. */
  shared?: SharedService[]
  /** compose-file: the project's networks and the shared-service update rule. */
  compose?: ComposeSettings
  /** target: swarm (issue #26): the host is a Swarm manager and each color is a service. Absent: containers on the host. */
  swarm?: SwarmSettings
}

/** target: swarm: the colors' services and the proxy service (issue #26). */
export interface SwarmSettings {
  /** Placement constraints of the colors' services (`node.labels.zone==a`, `node.role==worker`). */
  constraints: string[]
  /** The proxy's tasks only on nodes with this label set to true; absent: one on every node (a global service). */
  proxyLabel?: string
  /** Names of env variables given to the tasks as Swarm secrets (a file each, `<NAME>_FILE` its path) instead of environment values. */
  secrets: string[]
}

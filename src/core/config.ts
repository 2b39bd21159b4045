/** The action's whole configuration, parsed and validated once from the step's inputs. */
import type { Mode } from './outcome.js'
import type { FleetSettings } from '../inputs/hosts.js'

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
  privateKey: string
  passphrase?: string
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

export type ProxyType = 'nginx' | 'haproxy'
/** `auto`: the type of the proxy already on the host under that name; HAProxy for a new one. */
export type ProxyChoice = ProxyType | 'auto'

export type TlsMode = 'off' | 'auto' | 'custom'

/** HTTPS on the proxy (issue #10, HAProxy only): terminated by the proxy itself. */
export interface TlsSettings {
  mode: TlsMode
  /** The host port the proxy serves HTTPS on. */
  httpsPort: number
  /** HTTP answers 308 to HTTPS for the app's names (ACME challenges excepted). */
  redirect: boolean
  hsts: boolean
  /** Sources whose X-Forwarded-* headers are passed through unchanged (IP addresses and CIDRs). */
  trustedProxies: string[]
  /** tls custom: PEM certificate chain and key (the key is written only into the proxy's volume). */
  certificate?: string
  key?: string
  /** tls auto: the ACME account and server, and the image the renewer container runs in. */
  acme?: { email?: string; directory: string; directoryCa?: string; image: string }
}

export interface ProxySettings {
  /** nginx: the edge and switch tiers; haproxy: one tier switched through its runtime API. */
  type: ProxyType
  name: string
  image: string
  port: number
  domains: string[]
  drainTimeoutMs: number
  /** Absent: tls off (as before issue #10). */
  tls?: TlsSettings
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
  keepPrevious: KeepPrevious
  keepFailed: boolean
  lockTimeoutMs: number
  github: GithubSettings
}

import type Docker from 'dockerode'
import type { Log } from '../core/log.js'
import { credentialsFor } from '../core/image-ref.js'
import type { ProxySettings, RegistryAuth } from '../core/config.js'
import type { VerifyResult } from '../engine/ports.js'
import { httpGet, type OpenStream, type ProbeResult } from '../transport/http-probe.js'
import { LABEL } from '../core/names.js'
import { isConflict, isNotFound, pullImage } from '../transport/docker-ops.js'
import { MAINTENANCE_HEADER } from './haproxy-strategy.js'

/** What every router needs to manage its own containers on the host, whatever proxy it runs. */

export class ProxyError extends Error {
  override name = 'ProxyError'
}

/** What a proxy's settings depend on, read from the host once per run; each undefined when it cannot be read. */
export interface HostFacts {
  /** The numeric group of the host's Docker socket (its members may open the proxy's admin socket). */
  dockerGroup?: number
  /** The CPUs online on the host (HAProxy's threads follow them). */
  cpus?: number
}

/** Takes the host-wide lock of a proxy (held while its containers, networks or shared files change). */
export type ProxyLocker = () => Promise<{ release(): void }>

export async function underLock<T>(lockProxy: ProxyLocker, fn: () => Promise<T>): Promise<T> {
  const lock = await lockProxy()
  try {
    return await fn()
  } finally {
    lock.release()
  }
}

/** Creates the proxy's own network unless it exists (another app's run may create it at the same moment). */
export async function ensureProxyNetwork(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getNetwork(name).inspect()
  } catch (e) {
    if (!isNotFound(e)) throw e
    await docker
      .createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: { [LABEL.managed]: 'true', [LABEL.proxy]: 'true' } })
      .catch(err => {
        if (!isConflict(err)) throw err
      })
  }
}

/** A container's details, or undefined when there is none of that name. */
export async function inspectIfExists(container: Docker.Container): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await container.inspect()
  } catch (e) {
    if (isNotFound(e)) return undefined
    throw e
  }
}

/**
 * Creates a container of a proxy, or takes the one another app's deploy created under that name at
 * the same moment; its details either way.
 */
export async function createOrAdopt(docker: Docker, options: Docker.ContainerCreateOptions & { name: string }): Promise<Docker.ContainerInspectInfo> {
  try {
    await docker.createContainer(options)
  } catch (e) {
    if (!isConflict(e)) throw e
  }
  const info = await inspectIfExists(docker.getContainer(options.name))
  if (!info) throw new ProxyError(`The proxy container ${options.name} vanished right after it was created`)
  return info
}

/** Pulls the proxy image unless the host has it (credentials only if given for its registry). */
export async function ensureProxyImage(docker: Docker, image: string, registry: RegistryAuth | undefined, log: Log): Promise<void> {
  try {
    await docker.getImage(image).inspect()
  } catch (e) {
    if (!isNotFound(e)) throw e
    log.info(`Pulling the proxy image ${image}`)
    await pullImage(docker, image, credentialsFor(image, registry), line => log.info(`  ${line}`))
  }
}

/** An address and port the proxy answers HTTP on, as reached from the host. */
export interface ProxyEntry {
  host: string
  port: number
}

export interface VerifyAsk {
  /** The release the answer must come from. */
  releaseId: string
  /** The token written on the host for that release; without it the proxy names no release. */
  token: string
  /** Request header carrying the token, answer header naming the release. */
  tokenHeader: string
  releaseHeader: string
  /** The release header's value as the proxy sends it, made comparable with releaseId. */
  decode?: (value: string | string[] | undefined) => string | undefined
  /**
   * After a reload the old processes accept a moment longer: one answer from the new ones proves
   * nothing until this has passed, so ask once more then. 0: nothing was reloaded.
   */
  confirmAfterMs: number
}

/**
 * Asks the proxy's public port (from the host, over the tunnel) for `path` with the app's Host
 * until the answer provably comes from the release, or the time is up.
 */
export async function verifyThroughProxy(
  openTcp: OpenStream,
  settings: ProxySettings,
  ask: VerifyAsk,
  path: string,
  timeoutMs: number,
  /** Where the proxy is asked (edge mode: its probe port on its network; see haproxy-lifecycle.ts). */
  entry: ProxyEntry = { host: '127.0.0.1', port: settings.port }
): Promise<VerifyResult> {
  const started = Date.now()
  // A wildcard-only app is asked for a name its wildcard matches.
  const hostHeader = settings.domains.find(d => !d.startsWith('*')) ?? settings.domains[0]?.replace(/^\*/, 'cutover-verify') ?? 'localhost'
  const decode = ask.decode ?? (v => (typeof v === 'string' ? v : undefined))
  let confirmed = ask.confirmAfterMs === 0
  let last: ProbeResult
  for (;;) {
    last = await httpGet(openTcp, { host: entry.host, port: entry.port, path, hostHeader, headers: ask.token ? { [ask.tokenHeader]: ask.token } : {} }, 5000)
    // The release header names the release exactly: an answer from another app, or from a reload
    // not yet finished, does not count.
    const ok = decode(last.headers[ask.releaseHeader]) === ask.releaseId && last.status !== undefined && last.status < 500
    if (ok && !confirmed) {
      confirmed = true
      await new Promise(r => setTimeout(r, ask.confirmAfterMs))
      continue
    }
    if (ok || Date.now() - started > timeoutMs) {
      // The failure message quotes the header: show it decoded.
      const shown = decode(last.headers[ask.releaseHeader])
      if (shown !== undefined) last.headers[ask.releaseHeader] = shown
      return { ok, last, ms: Date.now() - started }
    }
    confirmed = ask.confirmAfterMs === 0
    await new Promise(r => setTimeout(r, 20))
  }
}

/** Asks the proxy (as a client would, no verify token) until the maintenance page is (on) or is not (off) what it serves. */
export async function confirmMaintenance(
  openTcp: OpenStream,
  settings: ProxySettings,
  on: boolean,
  timeoutMs: number,
  entry: ProxyEntry = { host: '127.0.0.1', port: settings.port }
): Promise<VerifyResult> {
  const started = Date.now()
  const hostHeader = settings.domains.find(d => !d.startsWith('*')) ?? settings.domains[0]?.replace(/^\*/, 'cutover-verify') ?? 'localhost'
  for (;;) {
    const last = await httpGet(openTcp, { host: entry.host, port: entry.port, path: '/', hostHeader }, 5000)
    const page = last.status === 503 && last.headers[MAINTENANCE_HEADER.toLowerCase()] === 'on'
    const ok = last.status !== undefined && page === on
    if (ok || Date.now() - started > timeoutMs) return { ok, last, ms: Date.now() - started }
    await new Promise(r => setTimeout(r, 50))
  }
}

/**
 * ` again: it had stopped at <time> (exit code N, killed by the kernel for memory), N s ago; nothing
 * answered since` for a proxy (HAProxy or Caddy) that ran before and stopped; undefined for one never started.
 */
export function downSince(info: Docker.ContainerInspectInfo, now = Date.now()): string | undefined {
  const finished = Date.parse(info.State.FinishedAt ?? '')
  if (!Number.isFinite(finished) || finished <= 0) return undefined
  const how = info.State.OOMKilled ? ', killed for lack of memory' : ` with exit code ${info.State.ExitCode}`
  return ` again: it had stopped at ${info.State.FinishedAt}${how}, ${Math.max(0, Math.round((now - finished) / 1000))} s ago, and no app on it answered since`
}

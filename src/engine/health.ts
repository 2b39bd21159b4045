import type { HealthSettings } from '../core/config.js'
import type { Log } from '../core/log.js'
import type { Clock, ContainerHost, ProbeAnswer } from './ports.js'
import { describeAnswer } from './describe.js'

export type HealthOutcome =
  | { healthy: true; ms: number; probes: number }
  | {
      healthy: false
      /** One sentence: which check failed and its last answer. */
      reason: string
      exitCode?: number
      oomKilled?: boolean
      ms: number
    }

export interface HealthGateDeps {
  host: ContainerHost
  /** The container to gate. */
  name: string
  /** The network its address is read from. */
  network: string
  settings: HealthSettings
  log: Log
  clock: Clock
  /** Set when the run was told to stop: the gate ends at once. */
  aborted?: () => string | undefined
}

/** A probe never waits longer than this, whatever health-timeout is. */
const PROBE_TIMEOUT_MS = 5000

/** The pause after a refused probe: how late, at most, the gate sees an app that has just started listening. */
const REFUSED_PAUSE_MS = 25

function statusOk(settings: HealthSettings, status: number | undefined): boolean {
  if (status === undefined) return false
  return settings.expectedStatus !== undefined ? status === settings.expectedStatus : status >= 200 && status < 300
}

/**
 * Healthy = still running and never restarted, Docker's HEALTHCHECK says healthy when the
 * image has one, and `passes` consecutive HTTP probes of the health path answer as expected.
 * Probes go from the host to the container's address. The whole gate, probes included, ends
 * by health-timeout.
 */
export async function waitHealthy(deps: HealthGateDeps): Promise<HealthOutcome> {
  const { host, name, network, settings, log, clock } = deps
  const started = clock.now()
  const elapsed = () => clock.now() - started
  const left = () => settings.timeoutMs - elapsed()
  const expect = settings.expectedStatus ? `HTTP ${settings.expectedStatus}` : 'a 2xx answer'
  let consecutive = 0
  let probes = 0
  let last: ProbeAnswer | undefined
  let lastDockerHealth = ''

  for (;;) {
    const abort = deps.aborted?.()
    if (abort) return { healthy: false, reason: abort, ms: elapsed() }
    const info = await host.inspect(name)
    if (!info) return { healthy: false, reason: 'the container disappeared before it became healthy', ms: elapsed() }
    if (info.status === 'exited' || info.status === 'dead') {
      return {
        healthy: false,
        reason: `the container exited with code ${info.exitCode}${info.oomKilled ? ' (killed for running out of memory)' : ''} before it became healthy`,
        exitCode: info.exitCode,
        oomKilled: info.oomKilled,
        ms: elapsed()
      }
    }
    if (info.restarting || info.restartCount > 0) {
      return {
        healthy: false,
        reason: `the container restarted (last exit code ${info.exitCode}${info.oomKilled ? ', out of memory' : ''}) before it became healthy`,
        exitCode: info.exitCode,
        oomKilled: info.oomKilled,
        ms: elapsed()
      }
    }

    const dockerHealth = info.health?.status
    if (dockerHealth === 'unhealthy') {
      return {
        healthy: false,
        reason: `Docker's HEALTHCHECK reports unhealthy (last check exited ${info.health?.lastExitCode}: ${(info.health?.lastOutput ?? '').trim().slice(0, 200)})`,
        ms: elapsed()
      }
    }
    if (dockerHealth && dockerHealth !== lastDockerHealth) {
      log.info(`Docker HEALTHCHECK: ${dockerHealth}`)
      lastDockerHealth = dockerHealth
    }

    const address = info.addresses[network]
    let refused = false
    if (address && left() > 0) {
      last = await host.probe(address, settings.port, settings.path, Math.max(1, Math.min(PROBE_TIMEOUT_MS, left())))
      probes++
      refused = last.status === undefined
      if (statusOk(settings, last.status)) consecutive++
      else consecutive = 0
      if (probes === 1 || !refused) log.info(`probe ${probes} of ${settings.path}: ${describeAnswer(last)} (${consecutive}/${settings.passes})`)
    }
    const dockerOk = dockerHealth === undefined || dockerHealth === 'healthy'
    if (consecutive >= settings.passes && dockerOk) return { healthy: true, ms: elapsed(), probes }

    if (left() <= 0) {
      const what = !dockerOk
        ? `Docker's HEALTHCHECK still reports "${dockerHealth}"`
        : `${settings.path} on port ${settings.port} did not give ${expect}${settings.passes > 1 ? ` ${settings.passes} times in a row` : ''}`
      return {
        healthy: false,
        reason: `${what} within ${Math.round(settings.timeoutMs / 1000)} s (health-timeout); last answer: ${last ? describeAnswer(last) : 'none (no address on the network)'}`,
        ms: elapsed()
      }
    }
    // While the app is not listening yet, look again soon: boot time is what users wait for, and a
    // refused probe costs the host little (an inspect and a connection refused on its bridge).
    const pause = refused && consecutive === 0 ? Math.min(REFUSED_PAUSE_MS, settings.intervalMs) : settings.intervalMs
    await clock.sleep(Math.max(0, Math.min(pause, left())))
  }
}

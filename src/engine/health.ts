import type Docker from 'dockerode'
import type { HealthSettings } from '../inputs/config.js'
import { describeProbe, httpGet, type OpenStream, type ProbeResult } from '../transport/http-probe.js'
import type { Log } from '../reporting/log.js'

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
  container: Docker.Container
  network: string
  settings: HealthSettings
  openTcp: OpenStream
  log: Log
  sleep?: (ms: number) => Promise<void>
}

const sleepReal = (ms: number) => new Promise<void>(r => setTimeout(r, ms))

function statusOk(settings: HealthSettings, status: number | undefined): boolean {
  if (status === undefined) return false
  return settings.expectedStatus !== undefined ? status === settings.expectedStatus : status >= 200 && status < 300
}

/**
 * Healthy = still running and never restarted, Docker's HEALTHCHECK says healthy when the
 * image has one, and `passes` consecutive HTTP probes of the health path answer as expected.
 * Probes go from the host to the container's address over the SSH tunnel.
 */
export async function waitHealthy(deps: HealthGateDeps): Promise<HealthOutcome> {
  const { container, network, settings, openTcp, log } = deps
  const sleep = deps.sleep ?? sleepReal
  const started = Date.now()
  const elapsed = () => Date.now() - started
  const expect = settings.expectedStatus ? `HTTP ${settings.expectedStatus}` : 'a 2xx answer'
  let consecutive = 0
  let probes = 0
  let last: ProbeResult | undefined
  let lastDockerHealth = ''

  for (;;) {
    const info = await container.inspect()
    const state = info.State
    if (state.Status === 'exited' || state.Status === 'dead') {
      return {
        healthy: false,
        reason: `the container exited with code ${state.ExitCode}${state.OOMKilled ? ' (killed for running out of memory)' : ''} before it became healthy`,
        exitCode: state.ExitCode,
        oomKilled: state.OOMKilled,
        ms: elapsed()
      }
    }
    if (state.Restarting || info.RestartCount > 0) {
      return {
        healthy: false,
        reason: `the container restarted (last exit code ${state.ExitCode}${state.OOMKilled ? ', out of memory' : ''}) before it became healthy`,
        exitCode: state.ExitCode,
        oomKilled: state.OOMKilled,
        ms: elapsed()
      }
    }

    const dockerHealth = state.Health?.Status
    if (dockerHealth === 'unhealthy') {
      const lastLog = state.Health?.Log?.at(-1)
      return {
        healthy: false,
        reason: `Docker's HEALTHCHECK reports unhealthy (last check exited ${lastLog?.ExitCode}: ${(lastLog?.Output ?? '').trim().slice(0, 200)})`,
        ms: elapsed()
      }
    }
    if (dockerHealth && dockerHealth !== lastDockerHealth) {
      log.info(`Docker HEALTHCHECK: ${dockerHealth}`)
      lastDockerHealth = dockerHealth
    }

    const ip = info.NetworkSettings.Networks[network]?.IPAddress
    let refused = false
    if (ip) {
      last = await httpGet(openTcp, { host: ip, port: settings.port, path: settings.path }, Math.min(5000, settings.timeoutMs))
      probes++
      refused = last.status === undefined
      if (statusOk(settings, last.status)) consecutive++
      else consecutive = 0
      if (probes === 1 || !refused) log.info(`probe ${probes} of ${settings.path}: ${describeProbe(last)} (${consecutive}/${settings.passes})`)
    }
    const dockerOk = dockerHealth === undefined || dockerHealth === 'healthy'
    if (consecutive >= settings.passes && dockerOk) return { healthy: true, ms: elapsed(), probes }

    if (elapsed() >= settings.timeoutMs) {
      const what = !dockerOk
        ? `Docker's HEALTHCHECK still reports "${dockerHealth}"`
        : `${settings.path} on port ${settings.port} did not give ${expect}${settings.passes > 1 ? ` ${settings.passes} times in a row` : ''}`
      return {
        healthy: false,
        reason: `${what} within ${Math.round(settings.timeoutMs / 1000)} s (health-timeout); last answer: ${last ? describeProbe(last) : 'none (no address on the network)'}`,
        ms: elapsed()
      }
    }
    // While the app is not listening yet, look again soon: boot time is what users wait for.
    await sleep(refused && consecutive === 0 ? Math.min(100, settings.intervalMs) : settings.intervalMs)
  }
}

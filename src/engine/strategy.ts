import { capabilityMessage } from '../core/capabilities.js'
import { LABEL, networkName } from '../core/names.js'
import { ReleaseError, type ReleaseResult } from '../core/outcome.js'
import { describeAnswer } from './describe.js'
import type { EngineDeps } from './release.js'

/**
 * mode maintenance / mode live (issue #12): the proxy serves a 503 page for the app instead of it,
 * or stops doing so. Nothing else changes: the containers keep running, the ledger keeps its
 * releases, and health probes (host -> container) and cutover's verification still reach the app.
 */
export async function switchMaintenance(deps: Omit<EngineDeps, 'run' | 'author'>, on: boolean): Promise<ReleaseResult> {
  const { config, host, router, ledger, timeline, log } = deps
  const app = config.app
  const maintenance = router.maintenance?.bind(router)
  // Checked with the inputs already (src/proxy/capabilities.ts): this guards a router that declares it wrongly.
  if (!maintenance || !router.capabilities.maintenance) {
    throw new ReleaseError({ reason: capabilityMessage('mode', config.mode, 'maintenance', router.capabilities.name, []) })
  }
  const record = await timeline.step('inspect', 'Reading the state of the host', async note => {
    const record = await ledger.read()
    const live = record?.releases[0]
    if (!record || !live)
      throw new ReleaseError({
        reason: `Nothing of ${app} is deployed on this host, so there is no page to ${on ? 'replace' : 'bring back'}. Nothing was changed.`
      })
    note(`${live.color} live (${live.image})`)
    return record
  })
  const live = record.releases[0]
  const network = networkName(app)
  await host.ensureNetwork(network, { [LABEL.managed]: 'true', [LABEL.app]: app })
  await router.ensure(network)
  const confirmed = await timeline.step('switch', on ? `Serving the maintenance page for ${app}` : `Ending maintenance of ${app}`, async note => {
    const v = await maintenance(on, on ? config.strategy.maintenancePage : undefined).catch((e: Error) => {
      throw new ReleaseError({ reason: `The proxy could not ${on ? 'turn on' : 'end'} maintenance of ${app}: ${e.message}` })
    })
    note(`${describeAnswer(v.last)} after ${v.ms} ms`)
    return v
  })
  if (!confirmed.ok) {
    throw new ReleaseError({
      reason: `The proxy did not ${on ? 'serve the maintenance page' : 'stop serving the maintenance page'} for ${app} within 10 s (last answer: ${describeAnswer(confirmed.last)}).`
    })
  }
  log.info(
    on
      ? `${app} answers with the maintenance page (503, Retry-After); ${live.color} (${live.image}) keeps running.`
      : `${app} is live again on ${live.color} (${live.image}).`
  )
  const previous = record.releases[1]
  return {
    result: on ? 'maintenance' : 'live',
    color: live.color,
    image: live.image,
    deployedAt: live.liveSince,
    previousColor: previous?.color,
    previousImage: previous?.image,
    release: live,
    releases: record.releases
  }
}

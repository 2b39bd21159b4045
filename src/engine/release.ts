import type Docker from 'dockerode'
import type { Config } from '../inputs/config.js'
import type { ProxyRouter } from '../proxy/router.js'
import type { Log } from '../reporting/log.js'
import { isConflict, isNotFound, pullImage, tailLogs } from '../transport/docker-ops.js'
import type { OpenStream } from '../transport/http-probe.js'
import { describeProbe } from '../transport/http-probe.js'
import { containerSpec } from './container-spec.js'
import { waitHealthy } from './health.js'
import { asideName, COLORS, containerName, failedName, LABEL, networkName, type Color } from './names.js'
import { ReleaseError, type Outcome, type Standby } from './outcome.js'
import { planRelease, type ColorContainer, type ReleaseRequest } from './plan.js'
import type { RouteState } from './state.js'
import type { Timeline } from './timeline.js'

export interface EngineDeps {
  config: Config
  docker: Docker
  router: ProxyRouter
  openTcp: OpenStream
  log: Log
  timeline: Timeline
  /** Who is deploying, recorded in labels. */
  run: string
  /** Waits between the switch and stopping the previous color (drain); injectable for tests. */
  sleep?: (ms: number) => Promise<void>
  /** Told what the release will do once it is planned (the GitHub deployment is created then). */
  onPlanned?: (planned: PlannedRelease) => Promise<void>
}

export interface PlannedRelease {
  color: Color
  image: string
  /** What serves now, if anything. */
  from?: { color: Color; image: string }
}

type Partial = Omit<Outcome, 'steps' | 'durationMs' | 'mode' | 'app'>

const VERIFY_TIMEOUT_MS = 10_000

async function inspectColor(docker: Docker, app: string, color: Color): Promise<ColorContainer & { id?: string; imageId?: string }> {
  try {
    const info = await docker.getContainer(containerName(app, color)).inspect()
    return {
      color,
      exists: true,
      running: info.State.Running && !info.State.Restarting,
      image: info.Config.Labels?.[LABEL.image] ?? info.Config.Image,
      id: info.Id,
      imageId: info.Image
    }
  } catch (e) {
    if (isNotFound(e)) return { color, exists: false, running: false }
    throw e
  }
}

export class ReleaseEngine {
  private readonly sleep: (ms: number) => Promise<void>
  /** The route found on the host at the start, so a failed run can still report what is live. */
  observed?: RouteState

  constructor(private readonly deps: EngineDeps) {
    this.sleep = deps.sleep ?? (ms => new Promise(r => setTimeout(r, ms)))
  }

  private get app(): string {
    return this.deps.config.app
  }

  /** Reads what is live and on standby without changing anything. */
  async status(): Promise<Partial> {
    const { router, docker, timeline } = this.deps
    return timeline.step('inspect', 'Reading the state of the host', async () => {
      const state = await router.readState()
      this.observed = state
      const containers = await docker.listContainers({ all: true, filters: { label: [`${LABEL.app}=${this.app}`] } })
      for (const c of containers) {
        this.deps.log.info(`container ${c.Names[0]?.replace(/^\//, '')}: ${c.State} (${c.Status}), image ${c.Labels[LABEL.image] ?? c.Image}`)
      }
      if (!state) {
        this.deps.log.info(`No deploy of ${this.app} is recorded on this host.`)
        return { result: 'unchanged' }
      }
      const live = await inspectColor(docker, this.app, state.color)
      const standby = state.previous ? await this.standbyOf(state.previous) : undefined
      this.deps.log.info(`Live: ${state.color} ${state.image} (since ${state.deployedAt})${live.running ? '' : ' — its container is NOT running'}`)
      if (standby) this.deps.log.info(`Standby: ${standby.color} ${standby.image} (${standby.state})`)
      return {
        result: 'unchanged',
        color: state.color,
        image: state.image,
        containerId: live.id,
        deployedAt: state.deployedAt,
        previousColor: state.previous?.color,
        previousImage: state.previous?.image,
        standby
      }
    })
  }

  private async standbyOf(previous: { color: Color; image: string }): Promise<Standby> {
    const c = await inspectColor(this.deps.docker, this.app, previous.color)
    const state = !c.exists || c.image !== previous.image ? 'removed' : c.running ? 'running' : 'stopped'
    return { color: previous.color, image: previous.image, state }
  }

  /** A deploy or a rollback: start or reuse the idle color, gate on health, switch, verify, clean up. */
  async release(request: ReleaseRequest): Promise<Partial> {
    const { config, docker, router, timeline, log } = this.deps
    const network = networkName(this.app)

    const { state, containers } = await timeline.step('inspect', 'Reading the state of the host', async note => {
      const state = await router.readState()
      await Promise.all(COLORS.map(color => this.recoverAside(color, state)))
      const containers = await Promise.all(COLORS.map(c => inspectColor(docker, this.app, c)))
      this.observed = state
      note(state ? `${state.color} live (${state.image})` : 'nothing deployed yet')
      log.info(state ? `Live: ${state.color} ${state.image}` : `No deploy of ${this.app} is recorded on this host yet.`)
      return { state, containers }
    })

    const plan = planRelease(state, containers, request)
    if (plan.kind === 'impossible') throw new ReleaseError({ reason: `Cannot roll back ${this.app}: ${plan.why}.` })
    log.info(`Plan: ${plan.kind === 'start-new' ? `start ${plan.image} as ${plan.color}` : `switch to the standby ${plan.color} (${plan.image})`} — ${plan.why}`)
    const resultKind = request.kind === 'deploy' ? 'deployed' : 'rolled-back'
    await this.deps.onPlanned?.({ color: plan.color, image: plan.image, from: state ? { color: state.color, image: state.image } : undefined })

    // The proxy check does not depend on the image: it runs while the image is pulled.
    const proxyReady = this.ensureNetwork(network).then(n => router.ensure(n))
    proxyReady.catch(() => undefined) // awaited below; this only keeps an early exit from leaving it unhandled
    if (plan.kind === 'start-new') {
      try {
        await this.pullFor(plan.image, request.kind)
      } catch (e) {
        await proxyReady.catch(() => undefined)
        throw e
      }
      const live = state ? containers.find(c => c.color === state.color) : undefined
      const pulledId = (await docker.getImage(plan.image).inspect()).Id
      if (request.kind === 'deploy' && state && live?.running && live.imageId === pulledId) {
        await proxyReady
        return this.alreadyLive(state, live.id)
      }
    }
    await proxyReady

    const target = docker.getContainer(containerName(this.app, plan.color))
    const deployedAt = new Date().toISOString()
    await timeline.step('boot', `Starting ${containerName(this.app, plan.color)}`, async () => {
      if (plan.kind === 'start-new') {
        await this.setAside(plan.color)
        const spec = containerSpec({ app: this.app, color: plan.color, image: plan.image, network, settings: config.container, deployedAt, run: this.deps.run })
        const created = await docker.createContainer(spec)
        for (const extra of config.container.networks) await docker.getNetwork(extra).connect({ Container: created.id })
        await created.start()
        log.info(`Started ${spec.name} (${created.id.slice(0, 12)}) from ${plan.image}`)
      } else if (plan.mustStart) {
        await target.start()
        log.info(`Started the stopped standby ${containerName(this.app, plan.color)}`)
      }
    })

    const health = await timeline.step('healthy', `Waiting for ${containerName(this.app, plan.color)} to be healthy`, async note => {
      const outcome = await waitHealthy({ container: target, network, settings: config.health, openTcp: this.deps.openTcp, log })
      note(outcome.healthy ? `${outcome.probes} probe(s)` : outcome.reason)
      return outcome
    })
    if (!health.healthy) {
      const logs = await tailLogs(target, 30)
      await this.discardFailed(plan.color, plan.kind === 'reuse-standby')
      if (plan.kind === 'start-new') await this.restoreAside(plan.color)
      throw new ReleaseError({
        reason: `${containerName(this.app, plan.color)} (${plan.image}) did not become healthy: ${health.reason}. ${state ? `${state.color} (${state.image}) is still live.` : 'Nothing was switched.'}`,
        logs,
        container: containerName(this.app, plan.color),
        exitCode: health.exitCode,
        oomKilled: health.oomKilled
      })
    }

    if (plan.kind === 'start-new' && config.container.restart.Name !== 'no') {
      await target.update({ RestartPolicy: config.container.restart })
    }

    const newState: RouteState = {
      app: this.app,
      color: plan.color,
      image: plan.image,
      // When it went live, not when it booted: drain times of the color it replaces count from here.
      deployedAt: new Date().toISOString(),
      previous: state ? { color: state.color, image: state.image } : undefined
    }
    await timeline.step('switch', `Switching the proxy to ${plan.color}`, () => router.switchTo(newState))

    const verified = await timeline.step('verify', 'Verifying through the proxy', async note => {
      const v = await router.verify(newState, config.health.path, VERIFY_TIMEOUT_MS)
      note(`${describeProbe(v.last)} after ${v.ms} ms`)
      return v
    })
    if (!verified.ok) {
      if (state) await router.switchTo(state)
      await this.discardFailed(plan.color, plan.kind === 'reuse-standby')
      if (plan.kind === 'start-new') await this.restoreAside(plan.color)
      throw new ReleaseError({
        reason: `After the switch the proxy did not answer from ${plan.color} within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeProbe(verified.last)}), so it was switched back${state ? ` to ${state.color}` : ''}.`
      })
    }
    log.info(`${plan.image} is live on ${plan.color}.`)

    const standby = await timeline.step('cleanup', 'Cleaning up', () => this.cleanup(state, plan.color))
    const info = await target.inspect()
    return {
      result: resultKind,
      color: plan.color,
      image: plan.image,
      containerId: info.Id,
      deployedAt: newState.deployedAt,
      previousColor: state?.color,
      previousImage: state?.image,
      standby
    }
  }

  private async pullFor(image: string, kind: ReleaseRequest['kind']): Promise<void> {
    const { docker, config, log, timeline } = this.deps
    await timeline.step('pull', `Pulling ${image}`, async note => {
      try {
        await pullImage(docker, image, config.registry, line => log.info(line))
      } catch (e) {
        // A rollback may still use an image that is on the host but gone from the registry.
        if (kind === 'rollback' && (await imageExists(docker, image))) {
          log.warning(`${(e as Error).message}; using the copy already on the host`)
          note('used the local copy')
          return
        }
        throw new ReleaseError({ reason: (e as Error).message })
      }
    })
  }

  /** The image asked for is already live: make sure the proxy serves it, change nothing else. */
  private async alreadyLive(state: RouteState, containerId: string | undefined): Promise<Partial> {
    const { router, log, timeline, config } = this.deps
    await timeline.step('verify', 'Verifying through the proxy', async note => {
      let v = await router.verify(state, config.health.path, 2000)
      if (!v.ok) {
        // A run that died between writing the route and reloading nginx: finish its switch.
        log.info(`The proxy does not serve ${state.color} yet (${describeProbe(v.last)}); applying the recorded route again`)
        await router.ensure(networkName(this.app))
        await router.switchTo(state)
        v = await router.verify(state, config.health.path, VERIFY_TIMEOUT_MS)
        if (!v.ok) throw new ReleaseError({ reason: `The proxy does not serve ${state.color}: ${describeProbe(v.last)}` })
      }
      note(describeProbe(v.last))
    })
    log.info(`${state.image} is already live on ${state.color}; nothing to do.`)
    return {
      result: 'unchanged',
      color: state.color,
      image: state.image,
      containerId,
      deployedAt: state.deployedAt,
      previousColor: state.previous?.color,
      previousImage: state.previous?.image,
      standby: state.previous ? await this.standbyOf(state.previous) : undefined
    }
  }

  private async ensureNetwork(name: string): Promise<string> {
    const docker = this.deps.docker
    try {
      await docker.getNetwork(name).inspect()
    } catch (e) {
      if (!isNotFound(e)) throw e
      try {
        await docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: { [LABEL.managed]: 'true', [LABEL.app]: this.app } })
      } catch (err) {
        if (!isConflict(err)) throw err
      }
    }
    return name
  }

  private async inspectByName(name: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.deps.docker.getContainer(name).inspect()
    } catch (e) {
      if (isNotFound(e)) return undefined
      throw e
    }
  }

  private async removeByName(name: string): Promise<void> {
    await this.deps.docker
      .getContainer(name)
      .remove({ force: true })
      .catch(e => {
        if (!isNotFound(e)) throw e
      })
  }

  /** Moves the idle color's old container out of the way of its replacement; it keeps running. */
  private async setAside(color: Color): Promise<void> {
    const old = await this.inspectByName(containerName(this.app, color))
    if (!old) return
    await this.removeByName(asideName(this.app, color))
    await this.deps.docker.getContainer(old.Id).rename({ name: asideName(this.app, color) })
    this.deps.log.info(`Set the old ${color} container (${old.Config.Labels?.[LABEL.image] ?? old.Config.Image}) aside until ${color} is healthy and live`)
  }

  /** Puts the set-aside container back under its name after a failed release. */
  private async restoreAside(color: Color): Promise<void> {
    const aside = await this.inspectByName(asideName(this.app, color))
    if (!aside) return
    await this.removeByName(containerName(this.app, color))
    await this.deps.docker.getContainer(aside.Id).rename({ name: containerName(this.app, color) })
    this.deps.log.info(`Put the previous ${color} container back, so the standby is kept`)
  }

  /**
   * A run that died between setting a container aside and finishing leaves it behind.
   * If its color went live the switch completed and the aside container is obsolete;
   * otherwise the replacement never went live: put the old container back.
   */
  private async recoverAside(color: Color, state: RouteState | undefined): Promise<void> {
    const aside = await this.inspectByName(asideName(this.app, color))
    if (!aside) return
    if (state?.color === color) {
      this.deps.log.info(`Removing ${asideName(this.app, color)}, left behind by an interrupted run after its switch`)
      await this.removeByName(aside.Id)
      await this.pruneImage(aside.Image)
    } else {
      this.deps.log.info(`Recovering from an interrupted run: putting ${asideName(this.app, color)} back as ${containerName(this.app, color)}`)
      await this.restoreAside(color)
    }
  }

  /** Stops a container that failed its gate; removes it unless keep-failed (or it was the kept standby). */
  private async discardFailed(color: Color, wasStandby: boolean): Promise<void> {
    const c = this.deps.docker.getContainer(containerName(this.app, color))
    try {
      if (this.deps.config.keepFailed || wasStandby) {
        await stopIfRunning(c, 5)
        if (wasStandby) {
          this.deps.log.info(`Stopped ${containerName(this.app, color)} again`)
        } else {
          // Out of the way of the standby being put back, under a name that says what it is.
          await this.removeByName(failedName(this.app, color))
          await c.rename({ name: failedName(this.app, color) })
          this.deps.log.info(`Stopped the failed container and kept it as ${failedName(this.app, color)} for inspection (keep-failed)`)
        }
      } else {
        await c.remove({ force: true })
        this.deps.log.info(`Removed the failed container ${containerName(this.app, color)} (set keep-failed: true to keep it)`)
      }
    } catch (e) {
      if (!isNotFound(e)) this.deps.log.warning(`Could not clean up ${containerName(this.app, color)}: ${(e as Error).message}`)
    }
  }

  private async cleanup(before: RouteState | undefined, liveColor: Color): Promise<Standby | undefined> {
    // Both wait out drain times; they overlap rather than add up.
    const [, standby] = await Promise.all([this.retireReplaced(before, liveColor), this.applyKeepPrevious(before)])
    return standby
  }

  /**
   * Removes the container the new color replaced (the old standby) and its image. That standby
   * may have been live until recently (a deploy right after a rollback) and still hold drained
   * connections, WebSockets above all: it gets what is left of its drain-timeout first.
   */
  private async retireReplaced(before: RouteState | undefined, liveColor: Color): Promise<void> {
    const { config, log } = this.deps
    const replaced = await this.inspectByName(asideName(this.app, liveColor))
    if (!replaced) return
    const name = `${liveColor} container (${replaced.Config.Labels?.[LABEL.image] ?? replaced.Config.Image})`
    // It stopped being live when the route recorded before this run went live.
    const liveUntil = before ? Date.parse(before.deployedAt) : NaN
    const drainLeft = liveUntil + config.proxy.drainTimeoutMs - Date.now()
    if (replaced.State.Running && drainLeft > 0) {
      log.info(`The replaced ${name} was live ${Math.round((Date.now() - liveUntil) / 1000)} s ago: letting its connections drain ${Math.ceil(drainLeft / 1000)} s more (drain-timeout) before removing it`)
      await this.sleep(drainLeft)
    }
    await this.removeByName(replaced.Id)
    log.info(`Removed the replaced ${name}`)
    await this.pruneImage(replaced.Image)
  }

  /** Applies keep-previous to the color that served before, after the drain time. */
  private async applyKeepPrevious(before: RouteState | undefined): Promise<Standby | undefined> {
    const { config, docker, log } = this.deps
    if (!before) return undefined
    const previous = docker.getContainer(containerName(this.app, before.color))
    const standby: Standby = { color: before.color, image: before.image, state: 'running' }
    if (config.keepPrevious === 'running') {
      log.info(`${containerName(this.app, before.color)} keeps running as the standby for an instant rollback.`)
      return standby
    }
    log.info(`Draining ${containerName(this.app, before.color)} for ${config.proxy.drainTimeoutMs / 1000} s (drain-timeout) before it is ${config.keepPrevious}`)
    await this.sleep(config.proxy.drainTimeoutMs)
    try {
      if (config.keepPrevious === 'stopped') {
        await stopIfRunning(previous, 10)
        standby.state = 'stopped'
      } else {
        await previous.remove({ force: true })
        standby.state = 'removed'
      }
    } catch (e) {
      if (!isNotFound(e)) throw e
      standby.state = 'removed'
    }
    return standby
  }

  private async pruneImage(imageId: string): Promise<void> {
    try {
      await this.deps.docker.getImage(imageId).remove({ noprune: false })
      this.deps.log.info(`Pruned the image ${imageId.slice(7, 19)}, no longer used by either color`)
    } catch (e) {
      // 409: still used by a container (ours or someone else's); keep it.
      if (!isConflict(e) && !isNotFound(e)) this.deps.log.warning(`Could not prune image ${imageId}: ${(e as Error).message}`)
    }
  }
}

/** docker stop, where "already stopped" (304) is not an error. */
async function stopIfRunning(container: Docker.Container, graceSeconds: number): Promise<void> {
  await container.stop({ t: graceSeconds }).catch(e => {
    if ((e as { statusCode?: number }).statusCode !== 304) throw e
  })
}

async function imageExists(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect()
    return true
  } catch {
    return false
  }
}

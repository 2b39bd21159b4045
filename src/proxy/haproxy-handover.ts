import type Docker from 'dockerode'
import type { Log } from '../core/log.js'
import { appFile, EMPTY_SERVER_STATE, SERVER_STATE_FILE } from './haproxy-config.js'
import type { ConfVolume } from './haproxy-files.js'
import { type Generation, HaproxyGenerations } from './haproxy-generations.js'
import { HOLDER_FILE, HOLDER_FILE_PATH, HOLDER_SWITCH_CFG, holderOffSince, renderHolderFile } from './haproxy-holder-config.js'
import { IMAGE_REQUESTS_FILE, imageToServe, parseImageRequests, renderImageRequests } from './haproxy-image-requests.js'
import { parsePid, type HaproxyAdmin } from './haproxy-runtime.js'
import { inspectIfExists, ProxyError } from './proxy-container.js'

/** How long a new generation may take to answer on the admin socket. */
const TAKEOVER_TIMEOUT_MS = 20_000

/**
 * The file that switches a holder off: its own file for a container made by this version (first on
 * its command line), the directory's switch for one made by an earlier cutover, which loads the
 * directory only (haproxy-holder-config.ts). Every HAProxy proxy container is a holder.
 */
export function switchFileOf(info: Docker.ContainerInspectInfo): string {
  return (info.Config.Cmd ?? []).includes(HOLDER_FILE_PATH) ? HOLDER_FILE : HOLDER_SWITCH_CFG
}

function startedAt(info: Docker.ContainerInspectInfo): number {
  return Date.parse(info.State.StartedAt ?? '') || 0
}

/**
 * Which HAProxy process of a proxy serves, and the gap-free hand-over to a new one (a changed
 * proxy-image, a newer HAProxy): see haproxy-generations.ts and haproxy-holder-config.ts.
 */
export class HaproxyHandover {
  readonly generations: HaproxyGenerations
  /** The live generation's id as this run last saw it (undefined: the holder serves, or not looked yet). */
  private liveId?: string
  private looked = false
  private warned = false

  constructor(
    private readonly docker: Docker,
    private readonly proxyName: string,
    private readonly files: ConfVolume,
    private readonly log: Log,
    /** The app of this run: its proxy-image is recorded, and weighed against other apps' (haproxy-image-requests.ts). */
    private readonly app: string
  ) {
    this.generations = new HaproxyGenerations(docker, proxyName, log)
  }

  private get holder(): Docker.Container {
    return this.docker.getContainer(this.proxyName)
  }

  /** The container whose HAProxy serves: the live generation, or the proxy's own container. */
  async liveProcess(): Promise<Docker.Container> {
    if (!this.looked) {
      const holder = await inspectIfExists(this.holder)
      const live = holder ? this.generations.live(await this.generations.list(), startedAt(holder)) : undefined
      this.liveId = live?.id
      this.looked = true
    }
    return this.liveId ? this.docker.getContainer(this.liveId) : this.holder
  }

  /** Whether a running holder's processes are what this run wants: nothing to hand over or clean. */
  async settled(holder: Docker.ContainerInspectInfo, image: string | undefined): Promise<boolean> {
    const generations = await this.generations.list()
    const live = this.generations.live(generations, startedAt(holder))
    const servingImage = live?.image ?? holder.Config.Image
    const others = generations.filter(g => g.id !== live?.id && (g.running ? !g.retired : true))
    const holderOff = holderOffSince(await this.files.file(switchFileOf(holder))) === holder.State.StartedAt
    const { wanted, recorded, keptFor } = await this.decide(image, servingImage)
    if (keptFor) this.warnKept(keptFor, servingImage, image)
    return servingImage === (wanted ?? servingImage) && recorded && others.length === 0 && (live ? holderOff : !(await this.switchSaysOff()))
  }

  /** Either switch file says "off" (for some start of the holder). */
  private async switchSaysOff(): Promise<boolean> {
    const texts = await Promise.all([HOLDER_FILE, HOLDER_SWITCH_CFG].map(f => this.files.file(f)))
    return texts.some(t => holderOffSince(t) !== undefined)
  }

  private warnKept(keptFor: string[], servingImage: string | undefined, image: string | undefined): void {
    if (this.warned) return
    this.warned = true
    this.log.warning(
      `The proxy ${this.proxyName} keeps ${servingImage}, the proxy-image ${keptFor.join(', ')} gave after this app's ${image}: ` +
        `apps giving different images would hand the proxy back and forth. Give ${this.app} proxy-image: ${servingImage}, or another image to hand the proxy over to it.`
    )
  }

  /**
   * The image the proxy should run when this app gives `image` while `servingImage` serves (the
   * latest change of any app wins), whether this app's request is recorded as given, and the
   * requests to record.
   */
  private async decide(image: string | undefined, servingImage: string | undefined) {
    const all = await this.files.all()
    const requests = parseImageRequests(all.get(IMAGE_REQUESTS_FILE))
    const decision = imageToServe(requests, this.app, image, servingImage, other => all.has(appFile(other)))
    const recorded = image === undefined || requests.get(this.app) === image
    if (image !== undefined) requests.set(this.app, image)
    return { wanted: decision.image, keptFor: decision.keptFor, recorded, requests }
  }

  /**
   * A running holder (the lock held): hands over to a new generation of `image` (proxy-image, when
   * given) when another image serves, or when nothing does; turns the holder off while a generation serves; tells older
   * generations to finish and removes those that have exited. Converges from any state a crash left
   * (two generations running, a holder with none, a generation from before the holder restarted).
   */
  async converge(holder: Docker.ContainerInspectInfo, image: string | undefined, admin: HaproxyAdmin): Promise<void> {
    const generations = await this.generations.list()
    const holderServes = holderOffSince(await this.files.file(switchFileOf(holder))) !== holder.State.StartedAt
    let live = this.generations.live(generations, startedAt(holder))
    const servingImage = live?.image ?? (holderServes ? holder.Config.Image : undefined)
    const decision = await this.decide(image, servingImage)
    if (decision.keptFor) this.warnKept(decision.keptFor, servingImage, image)
    // No proxy-image given: what serves stays (a process of the holder's image if none does).
    const wanted = decision.wanted ?? holder.Config.Image
    if (servingImage !== wanted) live = await this.handOver(holder, wanted, generations, admin, servingImage)
    if (!decision.recorded) await this.files.put(IMAGE_REQUESTS_FILE, renderImageRequests(decision.requests))
    if (live && holderServes) await this.turnHolderOff(holder)
    // A holder started again serves by itself: a switch left "off" for an earlier start of it would
    // turn it off at its next reload, with nothing serving in its place.
    if (!live && (await this.switchSaysOff()))
      await this.files.putMany([HOLDER_FILE, HOLDER_SWITCH_CFG].map(name => ({ name, content: renderHolderFile(undefined) })))
    await this.generations.retire(generations.filter(g => g.id !== live?.id && g.running && !g.retired))
    await this.generations.removeExited(generations)
    this.liveId = live?.id
    this.looked = true
  }

  /** Starts the next generation with `image`; it takes the listening sockets from what serves, which then finishes what it has. */
  private async handOver(
    holder: Docker.ContainerInspectInfo,
    image: string,
    generations: Generation[],
    admin: HaproxyAdmin,
    servingImage: string | undefined
  ): Promise<Generation> {
    const oldPid = servingImage === undefined ? undefined : await admin.cli('show info').then(parsePid, () => undefined)
    this.log[servingImage ? 'info' : 'warning'](
      servingImage
        ? `Handing the proxy ${this.proxyName} over from ${servingImage} to ${image}: the new HAProxy takes the listening sockets, the old one finishes what it serves (no gap)`
        : `The proxy ${this.proxyName} has no HAProxy process serving: starting one (${image})`
    )
    // The serving process's server addresses: the new one serves from its first request.
    if (oldPid !== undefined) await admin.handOnServerState()
    else await this.files.put(SERVER_STATE_FILE, EMPTY_SERVER_STATE)
    const next = await this.generations.start(holder, image, generations)
    try {
      await this.awaitTakeover(next, admin, oldPid)
    } catch (e) {
      await this.docker
        .getContainer(next.id)
        .remove({ force: true })
        .catch(() => undefined)
      throw e
    }
    await this.files.put(SERVER_STATE_FILE, EMPTY_SERVER_STATE)
    return next
  }

  /** Until the new generation's worker answers on the admin socket; its log lines if it exits or does not. */
  private async awaitTakeover(next: Generation, admin: HaproxyAdmin, oldPid: number | undefined): Promise<void> {
    const started = Date.now()
    for (;;) {
      const pid = await admin.anyWorkerPid()
      if (pid !== undefined && pid !== oldPid) {
        // The old process still takes admin connections until it is told to stop: the switch must reach this one.
        admin.pinTo(pid)
        return
      }
      const info = await inspectIfExists(this.docker.getContainer(next.id))
      if (!info?.State.Running || Date.now() - started > TAKEOVER_TIMEOUT_MS) {
        const why = info?.State.Running ? `it did not answer within ${TAKEOVER_TIMEOUT_MS / 1000} s` : `it exited (code ${info?.State.ExitCode ?? '?'})`
        throw new ProxyError(
          `The proxy ${this.proxyName}'s new HAProxy process ${next.name} (${next.image}) did not take over: ${why}; it was removed. ` +
            `${oldPid === undefined ? 'Nothing served before it either.' : 'The earlier process still serves every app; nothing was switched.'} ` +
            `Check proxy-image (an HAProxy 2.6 or newer that loads this configuration). Its last log lines: ${await this.generations.lastLogs(next.id)}`
        )
      }
      await new Promise(r => setTimeout(r, 100))
    }
  }

  /**
   * The holder stops serving (a generation has its sockets): reloaded with its file saying "off" for
   * this start of it, its process finishes what it serves and idles, keeping the namespace.
   */
  private async turnHolderOff(holder: Docker.ContainerInspectInfo): Promise<void> {
    await this.files.put(switchFileOf(holder), renderHolderFile({ holderStartedAt: holder.State.StartedAt }))
    await this.holder.kill({ signal: 'SIGUSR2' })
  }
}

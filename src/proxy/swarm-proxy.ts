import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type Docker from 'dockerode'
import type { HealthSettings, ProxySettings, RegistryAuth, SwarmSettings } from '../core/config.js'
import type { Log } from '../core/log.js'
import { LABEL, networkName, type Color } from '../core/names.js'
import type { Route, Router, VerifyResult, WithdrawDrain } from '../engine/ports.js'
import { isCurrentTask, type SwarmCluster, type SwarmProxyHealth } from '../engine/swarm-ports.js'
import { putFile } from '../transport/docker-ops.js'
import type { OpenStream } from '../transport/http-probe.js'
import { SWARM_CAPABILITIES } from './capabilities.js'
import { decodeRelease, encodeRelease } from './haproxy-config.js'
import { runtimeCommand, runtimeErrors } from './haproxy-runtime.js'
import { ALL_BACKENDS_STAT, sessionsOf } from './haproxy-stats.js'
import { ensureProxyImage, inspectIfExists, verifyThroughProxy } from './proxy-container.js'
import {
  colorBackend,
  COLOR_BACKENDS,
  colorOfBackend,
  configObjectName,
  LIVE_ROUTE_LABEL,
  LIVE_VERIFY_LABEL,
  liveLabels,
  mapValue,
  NO_ROUTE_BACKEND,
  parseServersState,
  proxyServiceName,
  renderSwarmProxyConfig,
  renderSwitchboardConfig,
  ROUTE_KEY,
  routeMapTemplate,
  SWARM_CONF_DIR,
  SWARM_PROXY_PORT,
  SWARM_ROUTE_MAP,
  SWARM_VERIFY_MAP,
  switchboardName,
  switchLine,
  unrouteLine,
  upAddresses,
  verifyMapTemplate
} from './swarm-proxy-config.js'

const TARGETS_LABEL = 'cutover.switch-targets'
/** The proxy service's label naming the config objects it runs with (a new version's files update it). */
const CONFIG_LABEL = 'cutover.proxy-config'
const RUNTIME_TIMEOUT_MS = 5000
const PROXY_START_TIMEOUT_MS = 90_000

export interface SwarmProxyDeps {
  app: string
  docker: Docker
  cluster: SwarmCluster
  /** A TCP stream from the manager (SSH direct-tcpip): to the switchboard, and to each node's published port. */
  openTcp: OpenStream
  proxy: ProxySettings
  health: HealthSettings
  swarm: SwarmSettings
  registry: RegistryAuth | undefined
  log: Log
}

/** One proxy task as the switch reaches it. */
interface ProxyTask {
  node: string
  address: string
}

/**
 * target: swarm's router (issue #26): HAProxy as the service `<app>-proxy`, one task per node (or per
 * node with swarm-proxy-label), publishing proxy-port in host mode, so no routing mesh is in the path.
 * The switch reaches every task's runtime API at once through the switchboard: a small HAProxy
 * container on the manager, on the app's overlay network, relaying one port per proxy task. The
 * runtime API stays on the overlay (never published on a node) and the run keeps its one SSH
 * connection, to the manager: no SSH to the other nodes, no exec, no proxy reload.
 */
export class SwarmProxy implements Router, SwarmProxyHealth {
  readonly capabilities = SWARM_CAPABILITIES
  private switchboard?: { address: string; tasks: ProxyTask[] }
  /** The spread between the first and the last proxy task switched by the last apply, in ms. */
  lastSpreadMs?: number

  constructor(private readonly deps: SwarmProxyDeps) {}

  private get service(): string {
    return proxyServiceName(this.deps.app)
  }

  /** The proxy service exists with this version's files, and its tasks run; the switchboard reaches them all. */
  async ensure(appNetwork: string): Promise<void> {
    const { cluster, app, proxy, health, swarm, log } = this.deps
    const labels = { [LABEL.managed]: 'true', [LABEL.app]: app, [LABEL.role]: 'proxy' }
    const files = [
      { name: 'cfg', content: renderSwarmProxyConfig(app, health), path: `${SWARM_CONF_DIR}/haproxy.cfg`, templated: false },
      { name: 'route', content: routeMapTemplate(), path: SWARM_ROUTE_MAP, templated: true },
      { name: 'verify', content: verifyMapTemplate(), path: SWARM_VERIFY_MAP, templated: true }
    ].map(f => ({ ...f, config: configObjectName(app, f.name, f.content) }))
    const ids = await Promise.all(files.map(f => cluster.ensureConfig(f.config, f.content, labels, f.templated)))
    const configs = files.map(f => f.config).join(',')
    const existing = await cluster.service(this.service)
    const spec = {
      name: this.service,
      image: proxy.image,
      labels: { ...labels, [CONFIG_LABEL]: configs, ...(existing ? await this.liveLabelsOf(existing.labels) : {}) },
      containerLabels: labels,
      env: {},
      networks: [appNetwork],
      constraints: swarm.proxyLabel ? [`node.labels.${swarm.proxyLabel}==true`] : [],
      ports: [{ target: SWARM_PROXY_PORT, published: proxy.port }],
      files: files.map((f, i) => ({ configId: ids[i], config: f.config, path: f.path })),
      stopGraceSeconds: Math.ceil(proxy.drainTimeoutMs / 1000) + 5
    }
    if (!existing) {
      await cluster.create(spec)
      log.info(
        `Created the proxy service ${this.service} (${proxy.image}) on ${swarm.proxyLabel ? `nodes labelled ${swarm.proxyLabel}` : 'every node'}, port ${proxy.port} published in host mode`
      )
    } else if (existing.labels[CONFIG_LABEL] !== configs) {
      // A new version's proxy files: Swarm restarts the proxy tasks one node at a time, each with the live route.
      await cluster.update(spec)
      log.warning(`Updated the proxy service ${this.service} to this version's configuration: its tasks restart node by node`)
    }
    await this.waitProxies()
    await this.connectSwitchboard(appNetwork)
  }

  /**
   * The live route the service's labels carry; a service from a version before them (no labels yet)
   * gets the route its running tasks hold, so the tasks an update restarts come up routed.
   */
  private async liveLabelsOf(labels: Record<string, string>): Promise<Record<string, string>> {
    if (labels[LIVE_ROUTE_LABEL]) return { [LIVE_ROUTE_LABEL]: labels[LIVE_ROUTE_LABEL], [LIVE_VERIFY_LABEL]: labels[LIVE_VERIFY_LABEL] ?? '' }
    // (proxies that do not answer leave it to the next switch, as before the labels)
    const answers = await this.everyProxy(`show map ${SWARM_ROUTE_MAP};show map ${SWARM_VERIFY_MAP}`).catch(() => [])
    for (const { answer = '' } of answers) {
      const color = colorOfBackend(mapValue(answer, ROUTE_KEY))
      const verify = answer
        .split('\n')
        .map(l => l.trim().split(/\s+/))
        .find(f => f.length === 3 && f[1] !== ROUTE_KEY)
      if (color && verify) return liveLabels(color, verify[1], verify[2])
    }
    return {}
  }

  /** Every eligible node's proxy task running, bounded. */
  private async waitProxies(): Promise<ProxyTask[]> {
    const { cluster } = this.deps
    const started = Date.now()
    for (;;) {
      const [tasks, nodes] = await Promise.all([cluster.tasks(this.service), cluster.nodes()])
      const label = this.deps.swarm.proxyLabel
      const eligible = nodes.filter(n => n.state === 'ready' && n.availability === 'active' && (!label || n.labels[label] === 'true'))
      // (a task on a node that went down still reads running until Swarm notices: only ready nodes count)
      const running = tasks.filter(t => isCurrentTask(t) && t.state === 'running' && t.addresses.length && eligible.some(n => n.id === t.nodeId))
      if (eligible.length && eligible.every(n => running.some(t => t.nodeId === n.id))) return running.map(t => ({ node: t.node, address: t.addresses[0] }))
      if (Date.now() - started > PROXY_START_TIMEOUT_MS) {
        const missing = eligible.filter(n => !running.some(t => t.nodeId === n.id)).map(n => n.addr)
        throw new Error(
          `The proxy service ${this.service} has no running task on ${missing.join(', ') || 'any node'} after ${PROXY_START_TIMEOUT_MS / 1000} s: ${tasks.find(t => t.error)?.error ?? 'no error from Swarm'}`
        )
      }
      await new Promise(r => setTimeout(r, 500))
    }
  }

  /** The switchboard relays to exactly the running proxy tasks (re-created when they changed). */
  private async connectSwitchboard(appNetwork: string): Promise<void> {
    const { docker, proxy, registry, log } = this.deps
    const tasks = await this.waitProxies()
    const targets = tasks.map(t => t.address).sort()
    const name = switchboardName(this.deps.app)
    const container = docker.getContainer(name)
    let info = await inspectIfExists(container)
    if (info && this.switchboard && info.Config.Labels?.[TARGETS_LABEL] === targets.join(',') && info.State.Running) return
    if (info && (info.Config.Labels?.[TARGETS_LABEL] !== targets.join(',') || !info.State.Running)) {
      await container.remove({ force: true })
      info = undefined
    }
    if (!info) {
      await ensureProxyImage(docker, proxy.image, registry, log)
      await docker.createContainer({
        name,
        Image: proxy.image,
        Labels: { [LABEL.managed]: 'true', [LABEL.app]: this.deps.app, [LABEL.role]: 'proxy-switch', [TARGETS_LABEL]: targets.join(',') },
        HostConfig: { NetworkMode: 'bridge', RestartPolicy: { Name: 'unless-stopped' } }
      })
      await putFile(container, SWARM_CONF_DIR, 'haproxy.cfg', renderSwitchboardConfig(targets))
      await docker.getNetwork(appNetwork).connect({ Container: name })
      await container.start()
      info = await container.inspect()
    }
    const address = info.NetworkSettings.Networks?.bridge?.IPAddress
    if (!address) throw new Error(`The switchboard ${name} has no address on the manager's bridge network`)
    this.switchboard = { address, tasks: targets.map(a => tasks.find(t => t.address === a)!) }
  }

  /**
   * Sends one line to every proxy task at once; answers with when each finished. A task that does
   * not answer (its node went down) makes the switchboard look again at which tasks run, once.
   */
  private async everyProxy(line: string, again = true): Promise<{ task: ProxyTask; answer?: string; error?: string; at: number }[]> {
    // Asked before ensure (the inspect step reads the route): connected to the proxy there is, if any.
    const network = networkName(this.deps.app)
    if (!this.switchboard && (await this.deps.cluster.service(this.service))) await this.connectSwitchboard(network)
    const board = this.switchboard
    if (!board) return []
    const open = (i: number) => () => this.openWithRetry(board.address, 10000 + i)
    const answers = await Promise.all(
      board.tasks.map(async (task, i) => {
        try {
          const answer = await runtimeCommand(open(i), line, RUNTIME_TIMEOUT_MS)
          return { task, answer, at: performance.now() }
        } catch (e) {
          return { task, error: (e as Error).message, at: performance.now() }
        }
      })
    )
    if (!again || !answers.some(a => a.error)) return answers
    await this.connectSwitchboard(network)
    return this.switchboard === board ? answers : this.everyProxy(line, false)
  }

  /** The switchboard may still be starting: a refused connection is tried again for a moment. */
  private async openWithRetry(address: string, port: number): Promise<Duplex> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.deps.openTcp(address, port)
      } catch (e) {
        if (attempt >= 20) throw e
        await new Promise(r => setTimeout(r, 100))
      }
    }
  }

  async current(): Promise<{ color: Color; releaseId: string } | undefined> {
    const answers = await this.everyProxy(`show map ${SWARM_ROUTE_MAP};show map ${SWARM_VERIFY_MAP}`)
    const routes = answers.map(a => {
      const color = colorOfBackend(mapValue(a.answer ?? '', ROUTE_KEY))
      const release = (a.answer ?? '')
        .split('\n')
        .map(l => l.trim().split(/\s+/))
        .find(f => f.length === 3 && f[1] !== ROUTE_KEY)?.[2]
      return color && release ? { color, releaseId: decodeRelease(release) ?? release } : undefined
    })
    // A proxy task that disagrees (restarted with a route that was not recorded) is what the run must put right.
    const first = routes[0]
    const odd = routes.findIndex(r => r?.releaseId !== first?.releaseId)
    return odd >= 0 ? routes[odd] : first
  }

  /** Every proxy task switched together; throws naming those that were not (the engine's undo routes back). */
  async apply(route: Route): Promise<void> {
    const token = randomBytes(12).toString('hex')
    const answers = await this.everyProxy(switchLine(route.color, token, encodeRelease(route.releaseId)))
    const failed = answers.filter(a => a.error || runtimeErrors(a.answer ?? '').length)
    const times = answers.filter(a => !a.error).map(a => a.at)
    this.lastSpreadMs = times.length ? Math.round((Math.max(...times) - Math.min(...times)) * 10) / 10 : undefined
    if (failed.length)
      throw new Error(
        `${failed.length} of ${answers.length} proxy task(s) did not switch: ${failed.map(f => `${f.task.node}: ${f.error ?? runtimeErrors(f.answer ?? '').join(' ')}`).join('; ')}`
      )
    this.deps.log.info(`Switched ${answers.length} proxy task(s) to ${route.color} within ${this.lastSpreadMs} ms of each other (first to last)`)
    await this.recordRoute(route, token)
  }

  /** After the switch (not in its path): the route on the service's labels, for the proxy tasks Swarm starts later. */
  private async recordRoute(route: Route, token: string): Promise<void> {
    try {
      await this.deps.cluster.setServiceLabels(this.service, liveLabels(route.color, token, encodeRelease(route.releaseId)))
    } catch (e) {
      this.deps.log.warning(
        `Every proxy task routes ${this.deps.app} to ${route.color}, but the route could not be recorded on the service ${this.service} (${(e as Error).message}): a proxy task Swarm starts from now on routes to the color of the switch before, until the next deploy or rollback`
      )
    }
  }

  /** Through each node's published port (from the manager), until every one answers from the release. */
  async verify(route: Route, path: string, timeoutMs: number): Promise<VerifyResult> {
    const answers = await this.everyProxy(`show map ${SWARM_VERIFY_MAP}`)
    const token =
      (answers.find(a => a.answer)?.answer ?? '')
        .split('\n')
        .map(l => l.trim().split(/\s+/))
        .find(f => f.length === 3)?.[1] ?? ''
    const nodes = [...new Set((this.switchboard?.tasks ?? []).map(t => t.node))]
    if (!nodes.length) throw new Error(`The proxy service ${this.service} has no task to verify through`)
    const ask = {
      releaseId: route.releaseId,
      token,
      tokenHeader: 'x-cutover-verify',
      releaseHeader: 'x-cutover-release',
      decode: decodeRelease,
      confirmAfterMs: 0
    }
    const results = await Promise.all(nodes.map(node => verifyThroughProxy((_h, port) => this.deps.openTcp(node, port), this.deps.proxy, ask, path, timeoutMs)))
    return results.find(r => !r.ok) ?? results.reduce((a, b) => (a.ms >= b.ms ? a : b))
  }

  /**
   * The app off its proxy (mode remove, the undo of a failed first deploy): every proxy task routes
   * it to no release (503) through its runtime API at once, as a switch does, and the service's
   * labels say so for tasks Swarm starts later. With `drain`, then waits while the tasks still hold
   * requests to either color. The proxy service is the app's own: mode remove removes it with the
   * app's other services. false: no proxy service, or it routed the app nowhere already.
   */
  async withdraw(drain?: WithdrawDrain): Promise<boolean> {
    const { cluster, log, app } = this.deps
    if (!(await cluster.service(this.service))) return false
    const before = await this.current()
    const answers = await this.everyProxy(unrouteLine())
    const failed = answers.filter(a => a.error || runtimeErrors(a.answer ?? '').length)
    if (failed.length)
      throw new Error(
        `${failed.length} of ${answers.length} proxy task(s) did not take ${app} off: ${failed.map(f => `${f.task.node}: ${f.error ?? runtimeErrors(f.answer ?? '').join(' ')}`).join('; ')}`
      )
    log.info(`Took ${app} off its ${answers.length} proxy task(s) through their runtime API: new requests get a 503 (no release of ${app} is live)`)
    await cluster
      .setServiceLabels(this.service, { [LIVE_ROUTE_LABEL]: NO_ROUTE_BACKEND, [LIVE_VERIFY_LABEL]: '' })
      .catch((e: Error) => log.warning(`Could not record on the service ${this.service} that ${app} has no route (${e.message})`))
    if (drain && before) await drain(() => this.inFlight())
    return before !== undefined
  }

  /** The requests to either color every proxy task holds now (their backends' current sessions). */
  private async inFlight(): Promise<number> {
    const answers = await this.everyProxy(ALL_BACKENDS_STAT)
    const failed = answers.find(a => a.error)
    if (failed) throw new Error(`the proxy task on ${failed.task.node} did not answer: ${failed.error}`)
    return answers.reduce((sum, a) => sum + sessionsOf(a.answer ?? '', COLOR_BACKENDS), 0)
  }

  async serversUp(color: Color): Promise<{ proxy: string; up: string[]; error?: string }[]> {
    const answers = await this.everyProxy(`show servers state ${colorBackend(color)}`)
    return answers.map(a => ({ proxy: a.task.node, up: a.answer ? upAddresses(parseServersState(a.answer)) : [], ...(a.error ? { error: a.error } : {}) }))
  }
}

import type Docker from 'dockerode'
import type { Log } from '../core/log.js'
import { LABEL } from '../core/names.js'
import { sanitizeHostText } from '../transport/host-text.js'
import { HAPROXY_CONF_DIR, HAPROXY_RUN_DIR, HAPROXY_SOCKET, hostRunDir } from './haproxy-config.js'
import { GENERATION_VAR } from './haproxy-holder-config.js'
import { inspectIfExists, ProxyError } from './proxy-container.js'

/** On a generation: the proxy (its holder's name) whose HAProxy it runs, and its number. */
export const GENERATION_OF_LABEL = 'cutover.proxy-generation-of'
export const GENERATION_LABEL = 'cutover.proxy-generation'

/** One HAProxy process container of a proxy, as listed. */
export interface Generation {
  id: string
  name: string
  number: number
  image: string
  running: boolean
  /** Retired: told to stop after its connections finish (no restart policy left). */
  retired: boolean
  startedAt: number
}

/**
 * The HAProxy processes of one proxy. The proxy's holder container owns the network namespace, the
 * published ports and the Docker networks; each generation is a container in that namespace
 * (`--network container:<holder>`, and its PID namespace, so a holder that dies takes its
 * generations with it). A new generation takes the listening sockets from the live one through the
 * admin socket (`-x`, `expose-fd listeners`), then the old one is told to finish what it serves
 * (SIGUSR1): nothing is ever unbound (bench/PROXY-DESIGN.md, "Upgrading the proxy with no gap").
 */
export class HaproxyGenerations {
  constructor(
    private readonly docker: Docker,
    /** The holder's name: the proxy's name. */
    private readonly proxyName: string,
    private readonly log: Log
  ) {}

  /** Every generation container of this proxy, oldest first. */
  async list(): Promise<Generation[]> {
    const found = await this.docker.listContainers({ all: true, filters: { label: [`${GENERATION_OF_LABEL}=${this.proxyName}`] } })
    const details = await Promise.all(found.map(c => inspectIfExists(this.docker.getContainer(c.Id))))
    return details
      .filter((d): d is Docker.ContainerInspectInfo => !!d)
      .map(d => ({
        id: d.Id,
        name: d.Name.replace(/^\//, ''),
        number: Number(d.Config.Labels?.[GENERATION_LABEL] ?? 0),
        image: d.Config.Image,
        running: d.State.Running,
        retired: d.HostConfig.RestartPolicy?.Name === 'no',
        startedAt: Date.parse(d.State.StartedAt ?? '') || 0
      }))
      .sort((a, b) => a.number - b.number)
  }

  /**
   * The generation that serves: the newest running one not retired, started since the holder last
   * started (one started before runs in a namespace that is gone).
   */
  live(generations: Generation[], holderStartedAt: number): Generation | undefined {
    return generations.filter(g => g.running && !g.retired && g.startedAt >= holderStartedAt).pop()
  }

  /** The live generation's container, for `haproxy -c`, the reload signal and its logs. */
  async liveContainer(holder: Docker.ContainerInspectInfo | undefined): Promise<Docker.Container | undefined> {
    if (!holder?.State.Running) return undefined
    const live = this.live(await this.list(), Date.parse(holder.State.StartedAt ?? '') || 0)
    return live && this.docker.getContainer(live.id)
  }

  /**
   * Creates and starts the next generation in the holder's namespaces, with `image`. It takes the
   * listening sockets of whatever HAProxy answers on the admin socket (none: it binds them).
   */
  async start(holder: Docker.ContainerInspectInfo, image: string, generations: Generation[]): Promise<Generation> {
    const number = Math.max(0, ...generations.map(g => g.number)) + 1
    const name = `${this.proxyName}-g${number}`
    const container = await this.docker.createContainer({
      name,
      Image: image,
      // Binding :80 needs root (the official images run as the haproxy user).
      User: 'root',
      Entrypoint: ['haproxy'],
      // Master-worker in the foreground, every *.cfg of the directory; -x: the live process's sockets
      // (a start with nothing to take from binds them itself).
      Cmd: ['-W', '-db', '-f', HAPROXY_CONF_DIR, '-x', `${HAPROXY_RUN_DIR}/${HAPROXY_SOCKET}`],
      StopSignal: 'SIGUSR1',
      // The holder's switch (haproxy-holder-config.ts) is in the directory it loads: not for it.
      Env: [`${GENERATION_VAR}=${number}`],
      Labels: { [LABEL.managed]: 'true', [GENERATION_OF_LABEL]: this.proxyName, [GENERATION_LABEL]: String(number) },
      HostConfig: {
        Binds: [`${this.proxyName}-conf:${HAPROXY_CONF_DIR}`, `${hostRunDir(this.proxyName)}:${HAPROXY_RUN_DIR}`],
        NetworkMode: `container:${holder.Id}`,
        PidMode: `container:${holder.Id}`,
        RestartPolicy: { Name: 'unless-stopped' }
      }
    })
    try {
      await container.start()
    } catch (e) {
      await container.remove({ force: true }).catch(() => undefined)
      throw new ProxyError(`The proxy ${this.proxyName}'s new HAProxy process (${image}) could not start: ${sanitizeHostText((e as Error).message, 400)}`)
    }
    const info = await container.inspect()
    return { id: info.Id, name, number, image, running: true, retired: false, startedAt: Date.parse(info.State.StartedAt) || Date.now() }
  }

  /**
   * Tells older generations to finish what they serve and exit (SIGUSR1: soft stop, bounded by
   * hard-stop-after), after taking away their restart policy so Docker does not start them again.
   */
  async retire(generations: Generation[]): Promise<void> {
    for (const g of generations) {
      if (!g.running) continue
      const container = this.docker.getContainer(g.id)
      if (!g.retired) await container.update({ RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } })
      await container.kill({ signal: 'SIGUSR1' }).catch(e => {
        // 409: it has just exited.
        if ((e as { statusCode?: number }).statusCode !== 409) throw e
      })
      this.log.info(`The proxy ${this.proxyName}'s earlier HAProxy process ${g.name} finishes what it serves and exits`)
    }
  }

  /** Removes generations that have exited (a retired one that finished, or one that died with its holder). */
  async removeExited(generations: Generation[]): Promise<void> {
    for (const g of generations.filter(g => !g.running)) {
      await this.docker
        .getContainer(g.id)
        .remove({ force: true })
        .catch(() => undefined)
    }
  }

  /** Removes every generation at once (the holder goes, or its namespace did). */
  async removeAll(): Promise<void> {
    for (const g of await this.list()) {
      await this.docker
        .getContainer(g.id)
        .remove({ force: true })
        .catch(() => undefined)
    }
  }

  /** A generation's last log lines (why it did not answer). */
  async lastLogs(id: string): Promise<string> {
    return this.docker
      .getContainer(id)
      .logs({ stdout: true, stderr: true, tail: 10, follow: false })
      .then(b => sanitizeHostText(String(b), 800))
      .catch(() => '')
  }
}

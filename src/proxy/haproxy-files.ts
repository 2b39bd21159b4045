import type Docker from 'dockerode'
import { getDirFiles, putFile, putFiles } from '../transport/docker-ops.js'
import {
  ACME_MAP,
  CERTS_LIST,
  DOMAINS_MAP,
  EMPTY_ACME_MAP,
  EMPTY_CERTS_LIST,
  EMPTY_MAP,
  HAPROXY_CONF_DIR,
  WILDCARDS_MAP,
  type DomainMaps
} from './haproxy-config.js'

/** The shared TLS files of the proxy: its crt-list and the names whose challenges go to the renewer. */
export interface TlsFiles {
  certsList: string
  acmeMap: string
}

/**
 * The proxy's configuration volume, read through its container. Read once, in one archive request:
 * Docker serves archive requests one at a time per container, so reading files one by one made a
 * switch wait on each. Every write forgets it; sections that must see other apps' latest writes
 * forget it first.
 */
export class ConfVolume {
  private read?: Promise<Map<string, string>>

  constructor(private readonly container: Docker.Container) {}

  /** A file's text, undefined when it does not exist. */
  file(name: string): Promise<string | undefined> {
    return this.all().then(files => files.get(name))
  }

  /** Every file of the directory, by name. */
  all(): Promise<Map<string, string>> {
    if (!this.read) {
      const read = getDirFiles(this.container, HAPROXY_CONF_DIR)
      read.catch(() => {
        if (this.read === read) this.read = undefined
      })
      this.read = read
    }
    return this.read
  }

  forget(): void {
    this.read = undefined
  }

  async put(name: string, content: string, mode?: number): Promise<void> {
    this.forget()
    await putFile(this.container, HAPROXY_CONF_DIR, name, content, mode)
  }

  async putMany(files: { name: string; content: string; mode?: number }[]): Promise<void> {
    this.forget()
    await putFiles(this.container, HAPROXY_CONF_DIR, files)
  }

  /** Those of `names` that do not exist. */
  async missing(names: string[]): Promise<string[]> {
    const present = await Promise.all(names.map(f => this.file(f)))
    return names.filter((_, i) => present[i] === undefined)
  }

  /** The shared host name maps (empty when missing). */
  async maps(): Promise<DomainMaps> {
    const [domains, wildcards] = await Promise.all([DOMAINS_MAP, WILDCARDS_MAP].map(async f => (await this.file(f)) ?? EMPTY_MAP))
    return { domains, wildcards }
  }

  async tlsFiles(): Promise<TlsFiles> {
    const [certsList, acmeMap] = await Promise.all([this.file(CERTS_LIST).then(t => t ?? EMPTY_CERTS_LIST), this.file(ACME_MAP).then(t => t ?? EMPTY_ACME_MAP)])
    return { certsList, acmeMap }
  }
}

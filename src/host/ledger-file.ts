import { LedgerError, type Ledger } from '../engine/ports.js'
import { ledgerProblem, type LedgerRecord, type RoutingClaim } from '../core/release.js'

/** The file operations the ledger needs on the host: the run's shell (see DeployLock) serves them. */
export interface StateFiles {
  /** Reads a file under $HOME; undefined when it does not exist. */
  readFile(path: string): Promise<string | undefined>
  /** Replaces a file under $HOME atomically, creating its directories (0700). */
  writeFile(path: string, content: string): Promise<void>
  /** Every app's ledger on the host, each on one line after an `@@ <app>` line. */
  allLedgers(): Promise<string>
  /** Renames a file under $HOME (no file: false). */
  moveFile(from: string, to: string): Promise<boolean>
}

/** Where an app's ledger lives on the host, relative to the SSH user's home. */
export function ledgerPath(app: string): string {
  return `.cutover/apps/${app}/releases.json`
}

/**
 * The release ledger as a JSON file in the SSH user's home on the host (mode 0600 in 0700
 * directories). Writes go to a temporary file renamed over the old one, so a run killed mid-write
 * leaves the previous record whole. Independent of the proxy: it survives the proxy's removal.
 */
export class LedgerFile implements Ledger {
  constructor(
    private readonly files: StateFiles,
    private readonly app: string
  ) {}

  private get where(): string {
    return `~/${ledgerPath(this.app)}`
  }

  async read(): Promise<LedgerRecord | undefined> {
    let text: string | undefined
    try {
      text = await this.files.readFile(ledgerPath(this.app))
    } catch (e) {
      // The shell's answer names the file: keep what it says about it ("is a symbolic link", "is not a regular file").
      const said = (e as Error).message.replace(`the host refused: ${ledgerPath(this.app)} `, '')
      throw new LedgerError(
        `The release ledger ${this.where} on the host cannot be used: ${said}. cutover stops before changing anything rather than treat the host as empty and deploy over the live color. ` +
          `To recover: move it away (mv ${this.where} ${this.where}.bad), then run mode status with rebuild-ledger: true to rebuild it from the app's containers and the proxy's route.`
      )
    }
    if (text === undefined) return undefined
    let parsed: unknown
    let problem: string | undefined
    try {
      parsed = JSON.parse(text)
      problem = ledgerProblem(parsed, this.app)
    } catch (e) {
      problem = `it is not valid JSON (${(e as Error).message})`
    }
    if (problem) {
      throw new LedgerError(
        `The release ledger ${this.where} on the host is damaged: ${problem}. cutover stops rather than treat the host as empty and deploy over the live color; ` +
          `repair the file, or move it away (mv ${this.where} ${this.where}.bad) and run mode status with rebuild-ledger: true to rebuild it from the app's containers and the proxy's route.`
      )
    }
    return parsed as LedgerRecord
  }

  async claims(): Promise<{ app: string; routing?: RoutingClaim }[]> {
    const text = await this.files.allLedgers().catch(() => '')
    const out: { app: string; routing?: RoutingClaim }[] = []
    const lines = text.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const m = /^@@ (.+)$/.exec(lines[i])
      if (!m) continue
      try {
        const rec = JSON.parse(lines[i + 1] ?? '') as Partial<LedgerRecord>
        const routing = rec.routing
        if (routing && typeof routing.proxy === 'string' && Array.isArray(routing.domains)) out.push({ app: m[1], routing })
        else out.push({ app: m[1] })
      } catch {
        // another app's damaged record is that app's problem: its own run reports it
      }
    }
    return out
  }

  async imagesOfOtherApps(): Promise<{ app: string; image: string }[]> {
    const text = await this.files.allLedgers()
    const out: { app: string; image: string }[] = []
    const lines = text.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const m = /^@@ (.+)$/.exec(lines[i])
      if (!m || m[1] === this.app) continue
      try {
        for (const image of recordedImages(JSON.parse(lines[i + 1] ?? '') as Partial<LedgerRecord>)) out.push({ app: m[1], image })
      } catch {
        // another app's damaged record is that app's problem: its own run reports it
      }
    }
    return out
  }

  async archive(): Promise<string | undefined> {
    // A name no run reads (claims() reads releases.json only), stamped so that every removal is kept.
    const to = ledgerPath(this.app).replace(/releases\.json$/, `removed-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
    try {
      return (await this.files.moveFile(ledgerPath(this.app), to)) ? `~/${to}` : undefined
    } catch (e) {
      throw new LedgerError(`Could not archive the release ledger ${this.where} on the host: ${(e as Error).message}`)
    }
  }

  async write(record: LedgerRecord): Promise<void> {
    try {
      await this.files.writeFile(ledgerPath(this.app), JSON.stringify(record, null, 1) + '\n')
    } catch (e) {
      throw new LedgerError(`Could not write the release ledger ${this.where} on the host: ${(e as Error).message}`)
    }
  }
}

/** Every image reference and digest a record names (its releases, pending, canary, preview and their workers). */
function recordedImages(rec: Partial<LedgerRecord>): string[] {
  const releases = [...(Array.isArray(rec.releases) ? rec.releases : []), rec.pending, rec.canary?.release, rec.preview?.release]
  const images = releases.flatMap(r => (r ? [r.image, r.digest, ...(Array.isArray(r.workers) ? r.workers.map(w => w.image) : [])] : []))
  return [...new Set(images.filter((i): i is string => typeof i === 'string' && i.length > 0))]
}

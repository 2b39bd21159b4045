import { LedgerError, type Ledger } from '../engine/ports.js'
import { ledgerProblem, type LedgerRecord, type RoutingClaim } from '../core/release.js'
import { runScript, shq, type CommandChannel } from './remote-shell.js'

const TIMEOUT_MS = 10_000

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
    private readonly ssh: CommandChannel,
    private readonly app: string
  ) {}

  private get where(): string {
    return `~/${ledgerPath(this.app)}`
  }

  async read(): Promise<LedgerRecord | undefined> {
    const script = [`f="$HOME"/${shq(ledgerPath(this.app))}`, '[ -e "$f" ] || exit 3', 'exec cat -- "$f"'].join('\n')
    const r = await runScript(this.ssh, script, '', TIMEOUT_MS)
    if (r.code === 3) return undefined
    if (r.code !== 0) throw new LedgerError(`The release ledger ${this.where} on the host cannot be read: ${r.stderr.trim() || `exit ${r.code}`}`)
    let parsed: unknown
    let problem: string | undefined
    try {
      parsed = JSON.parse(r.stdout)
      problem = ledgerProblem(parsed, this.app)
    } catch (e) {
      problem = `it is not valid JSON (${(e as Error).message})`
    }
    if (problem) {
      throw new LedgerError(
        `The release ledger ${this.where} on the host is damaged: ${problem}. cutover stops rather than treat the host as empty and deploy over the live color; ` +
          `repair the file, or move it away to start a new ledger (the next deploy then replaces the idle color without a rollback record).`
      )
    }
    return parsed as LedgerRecord
  }

  async claims(): Promise<{ app: string; routing?: RoutingClaim }[]> {
    // One record per line: each file squeezed onto one line after a marker with its app name.
    const script = [
      'cd "$HOME/.cutover/apps" 2>/dev/null || exit 0',
      'for d in */; do a=${d%/}; [ -f "$a/releases.json" ] || continue; printf "\\n@@ %s\\n" "$a"; tr -d "\\n" < "$a/releases.json"; done'
    ].join('\n')
    const r = await runScript(this.ssh, script, '', TIMEOUT_MS)
    if (r.code !== 0) return []
    const out: { app: string; routing?: RoutingClaim }[] = []
    const lines = r.stdout.split('\n')
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

  async write(record: LedgerRecord): Promise<void> {
    const script = [
      'umask 077',
      `f="$HOME"/${shq(ledgerPath(this.app))}`,
      'd=$(dirname -- "$f")',
      'mkdir -p -- "$d" || exit 4',
      't="$d/.releases.json.$$"',
      'cat > "$t" && mv -f -- "$t" "$f" || { rm -f -- "$t"; exit 5; }'
    ].join('\n')
    const r = await runScript(this.ssh, script, JSON.stringify(record, null, 1) + '\n', TIMEOUT_MS)
    if (r.code !== 0) throw new LedgerError(`Could not write the release ledger ${this.where} on the host: ${r.stderr.trim() || `exit ${r.code}`}`)
  }
}

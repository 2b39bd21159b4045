import type { Log } from '../core/log.js'
import type { Outcome } from '../core/outcome.js'
import type { RunSink } from '../run-sink.js'

/**
 * The command line's report (issue #21): each step with its time, plain lines (colour only on a
 * terminal), secrets blanked; with --json the log goes to stderr and stdout gets only the result.
 */

export interface Stream {
  write(text: string): unknown
  isTTY?: boolean
}

// eslint-disable-next-line no-control-regex -- these are exactly what must not reach the terminal
const TERMINAL_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f\u009b]/g

const COLOURS = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const
type Colour = keyof typeof COLOURS

export class TerminalSink implements RunSink {
  readonly secrets: string[] = []
  readonly outputs: Record<string, string> = {}
  outcome?: Outcome
  failure?: string
  private depth = 0
  private progressShown = false
  private readonly logTo: Stream
  private readonly colour: boolean

  constructor(
    private readonly stdout: Stream,
    stderr: Stream,
    private readonly json: boolean,
    env: NodeJS.ProcessEnv = process.env
  ) {
    this.logTo = json ? stderr : stdout
    this.colour = Boolean(this.logTo.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb'
  }

  /** Registered secrets never reach the terminal. */
  mask(secret: string): void {
    if (secret.length >= 4 && !this.secrets.includes(secret)) this.secrets.push(secret)
  }

  readonly log: Log = {
    info: m => this.line(m),
    progress: m => this.progressLine(m),
    warning: m => this.line(`warning: ${m}`, 'yellow'),
    error: (m, title) => this.line(`error: ${title ? `${title}: ` : ''}${m}`, 'red'),
    group: async (name, fn) => {
      const started = Date.now()
      this.line(`→ ${name}`, 'bold')
      this.depth++
      try {
        const value = await fn()
        this.depth--
        // Not a tick: a step can end without throwing and still report a failure (a health gate that timed out).
        this.line(`${name}: ${seconds(Date.now() - started)}`, 'dim')
        return value
      } catch (e) {
        this.depth--
        this.line(`✗ ${name}: failed after ${seconds(Date.now() - started)}`, 'red')
        throw e
      }
    }
  }

  setOutput(name: string, value: string): void {
    this.outputs[name] = value
  }

  async writeSummary(): Promise<void> {
    // The job summary is the Action's: the terminal gets the closing lines of report() instead.
  }

  setFailed(reason: string): void {
    this.failure = reason
  }

  async untrusted<T>(body: (print: (line: string) => void) => Promise<T>): Promise<T> {
    // Control characters a container wrote must not drive the terminal.
    return body(text => {
      for (const l of text.split('\n')) this.line(`│ ${l.replace(TERMINAL_CONTROL, '?')}`, 'dim')
    })
  }

  finished(outcome: Outcome): void {
    this.outcome ??= outcome
  }

  /** The closing lines: the result object (--json), or what is live now. */
  report(refused?: string): void {
    if (this.json) {
      const result = this.outcome ?? { result: 'failed', failure: { reason: refused ?? this.failure ?? 'failed' } }
      this.stdout.write(this.scrub(JSON.stringify(result, null, 2)) + '\n')
      return
    }
    const o = this.outcome
    if (o) {
      this.line('')
      for (const l of describeOutcome(o)) this.line(l, o.failure ? undefined : 'green')
    }
    const reason = refused ?? this.failure
    if (reason) this.line(`✗ ${reason}`, 'red')
  }

  private line(text: string, colour?: Colour): void {
    this.endProgress()
    const indented = '  '.repeat(this.depth) + this.scrub(text)
    this.logTo.write((colour ? this.paint(indented, colour) : indented) + '\n')
  }

  /** On a terminal a progress line is redrawn in place until the next line; elsewhere a plain line. */
  private progressLine(text: string): void {
    if (!this.logTo.isTTY) return this.line(text)
    const indented = '  '.repeat(this.depth) + this.scrub(text).replace(TERMINAL_CONTROL, '?')
    this.logTo.write(`\r\u001b[2K${this.paint(indented, 'dim')}`)
    this.progressShown = true
  }

  private endProgress(): void {
    if (!this.progressShown) return
    this.progressShown = false
    this.logTo.write('\r\u001b[2K')
  }

  private paint(text: string, colour: Colour): string {
    return this.colour ? `\u001b[${COLOURS[colour]}m${text}\u001b[0m` : text
  }

  private scrub(text: string): string {
    let out = text
    for (const s of this.secrets) out = out.split(s).join('***')
    return out
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** What is live after the run, in a few plain lines. */
export function describeOutcome(o: Outcome): string[] {
  const lines = [`${o.mode} ${o.app}: ${o.result}${o.color ? ` — ${o.color} ${o.image ?? ''} live` : ''} (${seconds(o.durationMs)})`]
  if (o.previousImage && o.mode !== 'status') lines.push(`  before: ${o.previousColor ?? '?'} ${o.previousImage}`)
  if (o.standby) lines.push(`  standby: ${o.standby.color} ${o.standby.image} (${o.standby.state})`)
  if (o.preview?.url) lines.push(`  preview: ${o.preview.url}`)
  if (o.hosts && o.hosts.length > 1)
    for (const h of o.hosts) lines.push(`  ${h.host}: ${h.result} ${h.color ?? ''} ${h.image ?? ''}${h.error ? ` — ${h.error}` : ''}`)
  for (const [i, r] of (o.releases ?? []).slice(0, 10).entries()) {
    const by = [r.by?.actor, r.by?.commit?.slice(0, 12)].filter(Boolean).join(' @ ')
    lines.push(`  ${i === 0 ? '*' : ' '} ${r.id}  ${r.kind.padEnd(8)} ${r.color.padEnd(5)} ${r.image}  ${r.liveSince}${by ? `  by ${by}` : ''}`)
  }
  return lines
}

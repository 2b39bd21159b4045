/**
 * A meeting point for the hosts of one atomic batch: it opens when every host still taking part has
 * arrived, and fails for everyone waiting as soon as one host fails. A host that finishes without
 * reaching it (its release was already live) leaves it.
 */
export class Barrier {
  private readonly expected: Set<string>
  private readonly arrived = new Set<string>()
  private settled = false
  private resolveGate!: () => void
  private rejectGate!: (e: Error) => void
  private readonly gate: Promise<void>
  /** The host whose failure failed the barrier, and why. */
  failure?: { host: string; reason: string }

  constructor(participants: string[]) {
    this.expected = new Set(participants)
    this.gate = new Promise<void>((resolve, reject) => {
      this.resolveGate = resolve
      this.rejectGate = reject
    })
    // Nobody may be waiting when it fails: that is not an unhandled rejection.
    this.gate.catch(() => undefined)
    this.check()
  }

  /** Resolves when every host got here; rejects when one failed (before or after this host arrived). */
  arrive(host: string): Promise<void> {
    this.arrived.add(host)
    this.check()
    return this.gate
  }

  leave(host: string): void {
    this.expected.delete(host)
    this.check()
  }

  fail(host: string, reason: string): void {
    if (this.settled) return
    this.settled = true
    this.failure = { host, reason }
    this.rejectGate(new Error(`${host} failed (${reason})`))
  }

  get opened(): boolean {
    return this.settled && !this.failure
  }

  private check(): void {
    if (this.settled) return
    if ([...this.expected].every(h => this.arrived.has(h))) {
      this.settled = true
      this.resolveGate()
    }
  }
}

/** A canary step's verdict on one host (engine/context.ts's FleetStepVerdict). */
export interface StepVerdict {
  verdict: 'passed' | 'low-traffic' | 'breached'
  why: string
  /** The step ended because another host's breached (only named when no host says why itself). */
  echo?: boolean
}

interface Meeting {
  verdicts: Map<string, StepVerdict>
  resolve: (v: StepVerdict) => void
  done: Promise<StepVerdict>
  settled: boolean
}

/**
 * canary-steps over several hosts (issue #24): the hosts of a batch meet at the end of each step
 * with their verdicts and go on together with the combined one: a breach anywhere is a breach
 * everywhere, then too few requests anywhere. A host that fails or finishes leaves every meeting.
 */
export class StepMeetings {
  private readonly expected: Set<string>
  private readonly meetings = new Map<number, Meeting>()

  constructor(participants: string[]) {
    this.expected = new Set(participants)
  }

  arrive(host: string, weight: number, own: StepVerdict): Promise<StepVerdict> {
    const meeting = this.meeting(weight)
    meeting.verdicts.set(host, own)
    this.check(meeting)
    return meeting.done
  }

  leave(host: string): void {
    this.expected.delete(host)
    for (const m of this.meetings.values()) this.check(m)
  }

  private meeting(weight: number): Meeting {
    let m = this.meetings.get(weight)
    if (!m) {
      let resolve!: (v: StepVerdict) => void
      const done = new Promise<StepVerdict>(r => (resolve = r))
      m = { verdicts: new Map(), resolve, done, settled: false }
      this.meetings.set(weight, m)
    }
    return m
  }

  private check(m: Meeting): void {
    if (m.settled || ![...this.expected].every(h => m.verdicts.has(h))) return
    m.settled = true
    const all = [...m.verdicts.entries()]
    for (const verdict of ['breached', 'low-traffic'] as const) {
      const any = all.filter(([, v]) => v.verdict === verdict)
      const own = any.filter(([, v]) => !v.echo)
      const hit = own.length ? own : any
      if (hit.length) return m.resolve({ verdict, why: hit.map(([host, v]) => `${host}: ${v.why}`).join('; ') })
    }
    m.resolve({ verdict: 'passed', why: `${all.length} hosts passed` })
  }
}

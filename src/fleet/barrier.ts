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

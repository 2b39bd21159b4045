/** Work started by whichever step needs it first, then shared; a way out waits for it only if it started. */
export class Lazy<T> {
  private made?: Promise<T>

  constructor(private readonly start: () => Promise<T>) {}

  /** Starts it on the first call; every call gets the same promise. */
  get(): Promise<T> {
    if (!this.made) {
      this.made = this.start()
      this.made.catch(() => undefined) // awaited by whoever asked; this only keeps an early exit from leaving it unhandled
    }
    return this.made
  }

  /** Once what was started settled, whatever its outcome (at once when nothing started). */
  async settled(): Promise<void> {
    await this.made?.catch(() => undefined)
  }
}

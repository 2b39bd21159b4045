/** What the engine and adapters need of the job log; @actions/core in the action, a recorder in tests. */
export interface Log {
  info(message: string): void
  warning(message: string): void
  error(message: string, title?: string): void
  group<T>(name: string, fn: () => Promise<T>): Promise<T>
  /** A progress line (a pull, an upload): on a terminal the next one replaces it; elsewhere a plain line. */
  progress?(message: string): void
}

/** Where an adapter's progress lines go: the log's progress line where it has one, else plain lines. */
export function progressOf(log: Log): (line: string) => void {
  return line => (log.progress ? log.progress(line) : log.info(line))
}

/** `[=========>          ] 45%` for done of total (total > 0). */
export function progressBar(done: number, total: number, width = 20): string {
  const share = Math.max(0, Math.min(1, done / total))
  const full = Math.floor(share * width)
  return `[${'='.repeat(Math.max(0, full - 1))}${full > 0 ? (full === width ? '=' : '>') : ''}${' '.repeat(width - full)}] ${Math.floor(share * 100)}%`
}

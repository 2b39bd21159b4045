/** What the engine and adapters need of the job log; @actions/core in the action, a recorder in tests. */
export interface Log {
  info(message: string): void
  warning(message: string): void
  error(message: string, title?: string): void
  group<T>(name: string, fn: () => Promise<T>): Promise<T>
}

/** A bad input: its message is one sentence that names the input. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    message: string
  ) {
    super(`Input '${input}' ${message}`)
    this.name = 'InputError'
  }
}

export interface InputSource {
  /** The raw value, '' when not set (as @actions/core's getInput). */
  get(name: string): string
  /** Register a value that must never appear in the log. */
  mask(secret: string): void
  /** Where relative paths (env-file) are resolved from. */
  workspace: string
}

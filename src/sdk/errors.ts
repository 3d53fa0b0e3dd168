/** Errors the SDK raises, with the field they concern so callers (and Catch nodes) can act on them. */
export class ValidationError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message)
    this.name = 'ValidationError'
  }
}

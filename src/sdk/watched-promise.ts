/**
 * A promise that knows whether its caller handled it, so a failure can be reported exactly once:
 * to the caller who awaits it (or attaches a handler), or, when nobody does (the seed's style of
 * calling `send` without looking at the result), through `whenUnhandled`. It never becomes an
 * unhandled rejection that would crash the process.
 */
export class WatchedPromise<T> extends Promise<T> {
  /** Promises derived with then/catch/finally are plain ones. */
  static get [Symbol.species](): PromiseConstructor {
    return Promise
  }

  private handled = false

  // biome-ignore lint/suspicious/noThenProperty: this is a promise; overriding then is how we see handlers.
  override then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.handled = true
    return super.then(onFulfilled, onRejected)
  }

  /**
   * Call `report` with the rejection if, one turn of the event loop after it, nobody has attached a
   * handler (await, then, catch or finally). Uses the intrinsic then, which does not count as handling.
   */
  whenUnhandled(report: (err: Error) => void): this {
    Promise.prototype.then.call(this, undefined, (err: unknown) => {
      setImmediate(() => {
        if (!this.handled) report(err instanceof Error ? err : new Error(String(err)))
      })
    })
    return this
  }
}

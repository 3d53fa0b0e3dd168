/**
 * Reconnect delays: exponential, capped, with jitter so that many clients that lost the same server
 * do not come back in lock-step (The Things Stack closes sockets of IPs that reconnect too fast).
 */
export interface BackoffOptions {
  /** First delay, ms. Default 1000. */
  minDelayMs?: number
  /** Cap, ms. Default 60000. */
  maxDelayMs?: number
  /** Growth factor per attempt. Default 2. */
  factor?: number
  /** Fraction of the delay that is randomised (0..1). Default 0.5: delay in [d/2, d]. */
  jitter?: number
}

export class Backoff {
  private attempt = 0
  private readonly min: number
  private readonly max: number
  private readonly factor: number
  private readonly jitter: number
  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.min = Math.max(1, options.minDelayMs ?? 1000)
    this.max = Math.max(this.min, options.maxDelayMs ?? 60_000)
    this.factor = Math.max(1, options.factor ?? 2)
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5))
  }
  /** Number of delays handed out since the last reset. */
  get attempts(): number {
    return this.attempt
  }
  next(): number {
    const base = Math.min(this.max, this.min * this.factor ** this.attempt)
    this.attempt++
    return Math.round(base * (1 - this.jitter * this.random()))
  }
  reset(): void {
    this.attempt = 0
  }
}

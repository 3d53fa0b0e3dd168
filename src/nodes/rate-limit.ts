/**
 * Keeps the Node-RED log readable when the network sends garbage: at most `burst` reports per
 * window, then one line saying how many were suppressed.
 */
export class RateLimitedReporter {
  private windowStart = 0
  private count = 0
  private suppressed = 0
  constructor(
    private readonly report: (text: string) => void,
    private readonly burst = 5,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  push(text: string): void {
    const t = this.now()
    if (t - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) this.report(`... ${this.suppressed} more similar messages were suppressed in the last ${Math.round(this.windowMs / 1000)} s`)
      this.windowStart = t
      this.count = 0
      this.suppressed = 0
    }
    if (this.count < this.burst) {
      this.count++
      this.report(text)
    } else {
      this.suppressed++
    }
  }
}

/**
 * Running statistics in constant memory: count, min, mean, max and the last value. No samples are
 * kept, so a device that sends for years costs the same as one that sent once.
 */
export interface StatsSummary {
  min: number
  mean: number
  max: number
  last: number
}

export class RunningStats {
  count = 0
  min = Number.POSITIVE_INFINITY
  max = Number.NEGATIVE_INFINITY
  mean = 0
  last = Number.NaN

  add(value: number): void {
    this.count++
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
    // Incremental mean: exact, and no sum that could grow without bound.
    this.mean += (value - this.mean) / this.count
    this.last = value
  }

  /** A plain copy for messages, or null when nothing was added; the mean is rounded to `decimals`. */
  summary(decimals = 1): StatsSummary | null {
    if (this.count === 0) return null
    const f = 10 ** decimals
    return { min: this.min, mean: Math.round(this.mean * f) / f, max: this.max, last: this.last }
  }

  /** Continue from another instance's values (a tracker taking over the records of an earlier one). */
  copyFrom(other: RunningStats): void {
    this.count = other.count
    this.min = other.min
    this.max = other.max
    this.mean = other.mean
    this.last = other.last
  }
}

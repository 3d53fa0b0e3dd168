/**
 * Measures arrivals where they happen (the flow's last node, an SDK callback, the broker): the time
 * and CPU between the warm-up-th and the target-th arrival, and optionally each message's latency
 * from its publish timestamp.
 */
import { publishTimeNs } from './message'
import { percentile } from './stats'

export interface ProbeConfig {
  /** Arrivals before the measurement window opens (JIT warm-up, connection settling). */
  warmup: number
  /** Arrival at which the window closes and the result is reported. */
  target: number
  /** Read each message's publish timestamp and record its latency. */
  latency?: boolean
}

export interface ProbeResult {
  /** Messages inside the window (target - warmup). */
  messages: number
  seconds: number
  perSecond: number
  /** CPU time (user + system) the measuring process spent inside the window, per message, in µs. */
  cpuUsPerMessage: number
  /** Latency percentiles in ms (latency probes only). */
  latencyMs?: { p50: number; p90: number; p99: number; max: number; samples: number }
}

export function checkProbeConfig(c: ProbeConfig): void {
  if (!Number.isInteger(c.warmup) || !Number.isInteger(c.target) || c.warmup < 1 || c.target <= c.warmup) {
    throw new Error(`Probe needs integers 1 <= warmup < target; got warmup ${c.warmup}, target ${c.target}.`)
  }
}

export class Probe {
  private count = 0
  private startNs = 0n
  private startCpu: NodeJS.CpuUsage | undefined
  private readonly latencies: Float64Array | undefined
  private recorded = 0
  private finished = false

  constructor(
    private readonly config: ProbeConfig,
    private readonly onDone: (result: ProbeResult) => void,
    /** Called when the window opens (after the warm-up), e.g. to start a profiler. */
    private readonly onOpen?: () => void,
  ) {
    checkProbeConfig(config)
    if (config.latency) this.latencies = new Float64Array(config.target - config.warmup)
  }

  get arrivals(): number {
    return this.count
  }

  /** One arrival; `message` is the parsed uplink when latency is measured. */
  arrive(message?: unknown): void {
    const n = ++this.count
    if (this.finished) return
    if (this.latencies && n > this.config.warmup) {
      const sent = publishTimeNs(message)
      if (sent !== undefined) this.latencies[this.recorded++] = Number(process.hrtime.bigint() - sent) / 1e6
    }
    if (n === this.config.warmup) {
      this.onOpen?.()
      this.startNs = process.hrtime.bigint()
      this.startCpu = process.cpuUsage()
    } else if (n === this.config.target) {
      this.finished = true
      this.onDone(this.result())
    }
  }

  private result(): ProbeResult {
    const seconds = Number(process.hrtime.bigint() - this.startNs) / 1e9
    const cpu = process.cpuUsage(this.startCpu)
    const messages = this.config.target - this.config.warmup
    const result: ProbeResult = {
      messages,
      seconds,
      perSecond: messages / seconds,
      cpuUsPerMessage: (cpu.user + cpu.system) / messages,
    }
    if (this.latencies) {
      const sorted = this.latencies.subarray(0, this.recorded).sort()
      result.latencyMs = {
        p50: percentile(sorted, 50),
        p90: percentile(sorted, 90),
        p99: percentile(sorted, 99),
        max: percentile(sorted, 100),
        samples: sorted.length,
      }
    }
    return result
  }
}

/**
 * A watch turns a tracker's records into events for one consumer (a ttn-monitor node): which devices
 * it covers, after how long a device counts as silent, how often it sums up. Its silent and quiet
 * judgements run on one timer per watch, never on the uplink path; the uplink path only answers
 * "was this device reported silent?" with a map lookup.
 */
import type { DeviceHealth, DeviceRecord } from './record'
import type { HealthTracker } from './tracker'

export type HealthEventName = 'device/silent' | 'device/back' | 'device/summary' | 'app/quiet' | 'app/traffic'

/** A device's record as a watch reports it: the tracker's counts plus this watch's judgement. */
export interface WatchedDeviceHealth extends DeviceHealth {
  /** The silent time that applies (s): configured, or learned; null while it is still being learned. */
  silentAfter: number | null
  silent: boolean
  /** Since when the device is reported silent (ISO 8601). */
  silentSince?: string
  /** device/back: how long the device was away (s), from its previous uplink to this one. */
  away?: number
  /** device/summary: the counts since the previous summary. */
  period?: { seconds: number; received: number; lost: number; lossRate: number }
}

export interface AppHealth {
  /** Devices seen, and of those reported silent. */
  devices: number
  silent: number
  /** app/quiet: the quiet time that applies (s): the longest silent time of the devices. */
  quietAfter?: number
  /** app/traffic: how long no device had sent (s). */
  quietFor?: number
  /** The last uplink of any device before the quiet began (ISO 8601), null if none. */
  lastUplink: string | null
}

export type HealthEvent =
  | { event: 'device/silent' | 'device/back' | 'device/summary'; deviceId: string; payload: WatchedDeviceHealth }
  | { event: 'app/quiet' | 'app/traffic'; deviceId?: string; payload: AppHealth }

export type HealthListener = (e: HealthEvent) => void

export interface WatchOptions {
  /** Continues the state of an earlier watch with this key (see HealthTracker.watch). */
  key?: string
  /** One device; empty or undefined: every device (and then also app/quiet and app/traffic). */
  deviceId?: string
  /** Silent after this long without an uplink (ms); 0: learned from each device's own interval. */
  silentAfterMs?: number
  /** A device/summary per device this often (ms); 0: none. */
  summaryEveryMs?: number
}

/** What a watch remembers across a redeploy of its consumer. */
export interface WatchState {
  /** Devices reported silent, and since when (local ms). */
  silent: Map<string, number>
  /** Local ms since which the application is reported quiet. */
  quiet: number | undefined
  /** Counts at the previous summary, per device. */
  periods: Map<string, { at: number; received: number; lost: number }>
}

/** The longest time between two checks: silence is noticed at most this late (or a quarter of the silent time). */
const MAX_CHECK_MS = 10_000
const MIN_CHECK_MS = 20
/** The longest delay a Node.js timer takes (2^31 - 1 ms). */
export const MAX_TIMER_MS = 2_147_483_647

export class HealthWatch {
  readonly deviceId: string | undefined
  readonly silentAfterMs: number
  readonly summaryEveryMs: number
  private checkTimer: NodeJS.Timeout | undefined
  private checkAt = Number.POSITIVE_INFINITY
  private summaryTimer: NodeJS.Timeout | undefined
  private closed = false

  constructor(
    private readonly tracker: HealthTracker,
    options: WatchOptions,
    private readonly state: WatchState,
    private readonly listener: HealthListener,
    private readonly onClose: (w: HealthWatch, forget: boolean) => void,
  ) {
    this.deviceId = options.deviceId?.trim() || undefined
    this.silentAfterMs = positive(options.silentAfterMs)
    this.summaryEveryMs = positive(options.summaryEveryMs)
  }

  /** Called by the tracker once the watch is registered. */
  start(): void {
    // A watch of one device with a fixed silent time starts that device's clock now, even if it never sends.
    if (this.deviceId && this.silentAfterMs > 0) this.tracker.ensure(this.deviceId)
    if (this.summaryEveryMs > 0) {
      // Node fires a longer timer at once (and then every millisecond): 24.8 days is the longest it can wait.
      this.summaryTimer = setInterval(() => this.summarize(), Math.min(this.summaryEveryMs, MAX_TIMER_MS))
      this.summaryTimer.unref?.()
    }
    this.check()
  }

  /** Stop the events. forget: drop the state too (the consumer was removed, not redeployed). */
  close(forget = false): void {
    if (this.closed) return
    this.closed = true
    if (this.checkTimer) clearTimeout(this.checkTimer)
    if (this.summaryTimer) clearInterval(this.summaryTimer)
    this.checkTimer = undefined
    this.summaryTimer = undefined
    this.onClose(this, forget)
  }

  get silentCount(): number {
    return this.state.silent.size
  }

  /** Devices this watch covers that the tracker knows. */
  get deviceCount(): number {
    if (this.deviceId) return this.tracker.get(this.deviceId) ? 1 : 0
    return this.tracker.deviceCount
  }

  get quiet(): boolean {
    return this.state.quiet !== undefined
  }

  /** The current records of the devices this watch covers. */
  records(): WatchedDeviceHealth[] {
    const out: WatchedDeviceHealth[] = []
    if (this.deviceId) {
      const r = this.tracker.get(this.deviceId)
      if (r) out.push(this.health(r))
      return out
    }
    for (const r of this.tracker.devices()) out.push(this.health(r))
    return out
  }

  /** One device's record as this watch sees it, or undefined when it is not covered or not known. */
  record(deviceId: string): WatchedDeviceHealth | undefined {
    if (this.deviceId && deviceId !== this.deviceId) return undefined
    const r = this.tracker.get(deviceId)
    return r ? this.health(r) : undefined
  }

  /** The uplink path (from the tracker): O(1), and allocation only when there is an event to send. */
  uplink(record: DeviceRecord, heardBefore: number | undefined, now: number, learnedNow: boolean): void {
    if (this.deviceId) {
      if (record.deviceId !== this.deviceId) return
    } else if (this.state.quiet !== undefined) {
      const quietFor = now - this.state.quiet
      this.state.quiet = undefined
      this.emit({ event: 'app/traffic', deviceId: record.deviceId, payload: this.appHealth({ quietFor: seconds(quietFor) }) })
    }
    const silence = this.state.silent
    if (silence.size > 0 && silence.delete(record.deviceId)) {
      const payload = this.health(record)
      if (heardBefore !== undefined) payload.away = seconds(now - heardBefore)
      this.emit({ event: 'device/back', deviceId: record.deviceId, payload })
    }
    // A device whose silent time was just learned may need an earlier check than the one planned.
    if (learnedNow && this.silentAfterMs === 0 && record.learnedSilentMs !== undefined) this.scheduleNoLaterThan(now + record.learnedSilentMs)
  }

  /** The connection went up or down: plan the next check anew. */
  connectionChanged(): void {
    this.check()
  }

  private silentTime(r: DeviceRecord): number | undefined {
    return this.silentAfterMs > 0 ? this.silentAfterMs : r.learnedSilentMs
  }

  /** Report devices silent for their time, and the application quiet; then plan the next check. */
  private check(): void {
    if (this.checkTimer) clearTimeout(this.checkTimer)
    this.checkTimer = undefined
    this.checkAt = Number.POSITIVE_INFINITY
    if (this.closed) return
    const t = this.tracker
    const now = t.now()
    const base = t.connectedSince
    if (base === undefined) return // nobody is silent while we cannot hear them; connectionChanged() resumes
    let next = Number.POSITIVE_INFINITY
    let shortest = Number.POSITIVE_INFINITY
    let longest = 0
    const judge = (r: DeviceRecord) => {
      const silentMs = this.silentTime(r)
      if (silentMs === undefined) return
      if (silentMs < shortest) shortest = silentMs
      if (silentMs > longest) longest = silentMs
      if (this.state.silent.has(r.deviceId)) return
      const deadline = Math.max(r.lastHeardAt, base) + silentMs
      if (now >= deadline) {
        this.state.silent.set(r.deviceId, now)
        this.emit({ event: 'device/silent', deviceId: r.deviceId, payload: this.health(r) })
      } else if (deadline < next) next = deadline
    }
    if (this.deviceId) {
      const r = t.get(this.deviceId)
      if (r) judge(r)
    } else {
      for (const r of t.devices()) judge(r)
      // The application is quiet when no device sent for the longest silent time of its devices.
      const quietAfter = this.silentAfterMs > 0 ? this.silentAfterMs : longest
      if (quietAfter > 0 && t.deviceCount > 0 && this.state.quiet === undefined && !this.closed) {
        const deadline = Math.max(t.lastUplinkAt ?? base, base) + quietAfter
        if (now >= deadline) {
          this.state.quiet = now
          this.emit({ event: 'app/quiet', payload: this.appHealth({ quietAfter: seconds(quietAfter) }) })
        } else if (deadline < next) next = deadline
      }
    }
    if (this.closed) return // a listener closed the watch
    const cap = Number.isFinite(shortest) ? Math.min(MAX_CHECK_MS, Math.max(250, shortest / 4)) : 1000
    this.scheduleNoLaterThan(Math.min(next, now + cap))
  }

  private scheduleNoLaterThan(at: number): void {
    if (this.closed || at >= this.checkAt) return
    if (this.checkTimer) clearTimeout(this.checkTimer)
    this.checkAt = at
    const delay = Math.max(MIN_CHECK_MS, at - this.tracker.now() + 1)
    this.checkTimer = setTimeout(() => this.check(), delay)
    this.checkTimer.unref?.()
  }

  private summarize(): void {
    const now = this.tracker.now()
    const each = (r: DeviceRecord) => {
      if (r.received === 0) return
      const prev = this.state.periods.get(r.deviceId)
      const received = r.received - (prev?.received ?? 0)
      const lost = Math.max(0, r.lost - (prev?.lost ?? 0))
      const payload = this.health(r)
      payload.period = {
        seconds: seconds(now - (prev?.at ?? r.firstSeenAt)),
        received,
        lost,
        lossRate: received + lost > 0 ? Math.round((lost / (received + lost)) * 10000) / 10000 : 0,
      }
      this.state.periods.set(r.deviceId, { at: now, received: r.received, lost: r.lost })
      this.emit({ event: 'device/summary', deviceId: r.deviceId, payload })
    }
    if (this.deviceId) {
      const r = this.tracker.get(this.deviceId)
      if (r) each(r)
    } else for (const r of this.tracker.devices()) each(r)
  }

  private health(r: DeviceRecord): WatchedDeviceHealth {
    const h = r.snapshot() as WatchedDeviceHealth
    const silentMs = this.silentTime(r)
    h.silentAfter = silentMs === undefined ? null : seconds(silentMs)
    const since = this.state.silent.get(r.deviceId)
    h.silent = since !== undefined
    if (since !== undefined) h.silentSince = new Date(since).toISOString()
    return h
  }

  private appHealth(extra: Partial<AppHealth>): AppHealth {
    const last = this.tracker.lastUplinkAt
    return { devices: this.tracker.deviceCount, silent: this.state.silent.size, lastUplink: last === undefined ? null : new Date(last).toISOString(), ...extra }
  }

  private emit(e: HealthEvent): void {
    if (this.closed) return
    try {
      this.listener(e)
    } catch {
      // A consumer's failure must not stop the others or the uplink stream; the consumer reports its own errors.
    }
  }
}

function positive(n: number | undefined): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10
}

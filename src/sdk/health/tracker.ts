/**
 * The device health tracker of one application: a record per device (see record.ts), fed by the
 * uplink stream and by join events, and the watches (watch.ts) that turn the records into events.
 * The tracker outlives its watches, so a monitor that is redeployed finds its devices' records where
 * it left them. Per uplink: one map lookup, an update in place, one check per open watch.
 */
import type { UplinkMessage } from '../messages'
import { coarseNow, holdCoarseClock } from './clock'
import { emptyFacts, readUplinkFacts } from './facts'
import { DEFAULT_LEARNING, DeviceRecord, type LearningOptions } from './record'
import { HealthWatch, type HealthListener, type WatchOptions, type WatchState } from './watch'

export interface HealthTrackerOptions {
  /** Clock (ms); tests pass their own. Default: a clock that is cheap to read on the uplink path (clock.ts). */
  now?: () => number
  /** How silent times are learned from a device's interval. */
  learning?: Partial<LearningOptions>
  /** Devices tracked at most (default 100,000); uplinks of further devices are not tracked. */
  maxDevices?: number
  /** Told when the open-watch count goes from 0 to 1 (true) and from 1 to 0 (false). */
  onInUse?: (inUse: boolean) => void
}

export class HealthTracker {
  readonly now: () => number
  readonly learning: LearningOptions
  readonly maxDevices: number
  /** Local time since which the connection is up; undefined while it is down. */
  connectedSince: number | undefined
  /** Local time of the last uplink of any device. */
  lastUplinkAt: number | undefined
  /** Uplinks not tracked because maxDevices was reached. */
  untracked = 0

  private readonly records = new Map<string, DeviceRecord>()
  /** An array, not a Set: iterated on every uplink, and a for loop over an array allocates nothing. */
  private watches: HealthWatch[] = []
  private readonly states = new Map<string, WatchState>()
  private readonly facts = emptyFacts()
  private readonly onInUse: ((inUse: boolean) => void) | undefined
  private releaseClock: (() => void) | undefined
  private readonly ownClock: boolean

  constructor(options: HealthTrackerOptions = {}) {
    this.ownClock = options.now === undefined
    this.now = options.now ?? coarseNow
    this.learning = { ...DEFAULT_LEARNING, ...options.learning }
    this.maxDevices = options.maxDevices ?? 100_000
    this.onInUse = options.onInUse
  }

  /** One uplink (live, or recovered from storage: both count as received). */
  observeUplink(deviceId: string, message: UplinkMessage, recovered = false): void {
    if (!readUplinkFacts(message, this.facts)) return
    const now = this.now()
    const record = this.recordFor(deviceId, now)
    if (!record) return
    const heardBefore = record.received > 0 ? record.lastHeardAt : undefined
    const learnedBefore = record.learnedSilentMs !== undefined
    record.observe(this.facts, now, recovered, this.learning)
    if (!recovered || this.lastUplinkAt === undefined || now > this.lastUplinkAt) this.lastUplinkAt = now
    const learnedNow = !learnedBefore && record.learnedSilentMs !== undefined
    const watches = this.watches
    for (let i = 0; i < watches.length; i++) watches[i].uplink(record, heardBefore, now, learnedNow)
  }

  /** A join (or rejoin) of a device: its counter restarts, which is not loss. */
  observeJoin(deviceId: string): void {
    this.recordFor(deviceId, this.now())?.joined()
  }

  /** The connection to the server went up or down: nobody is silent while we cannot hear them. */
  setConnected(up: boolean): void {
    if (up === (this.connectedSince !== undefined)) return
    this.connectedSince = up ? this.now() : undefined
    for (const w of this.watches) w.connectionChanged()
  }

  get connected(): boolean {
    return this.connectedSince !== undefined
  }

  get deviceCount(): number {
    return this.records.size
  }

  get(deviceId: string): DeviceRecord | undefined {
    return this.records.get(deviceId)
  }

  /** A record for a device that has not sent yet (a watch of one device starts its clock). */
  ensure(deviceId: string): DeviceRecord | undefined {
    return this.recordFor(deviceId, this.now())
  }

  devices(): IterableIterator<DeviceRecord> {
    return this.records.values()
  }

  /**
   * Open a watch: events for the devices it selects. A watch opened with the `key` of one closed
   * earlier (a redeployed monitor) continues its state: devices already reported silent are not
   * reported again.
   */
  watch(options: WatchOptions, listener: HealthListener): HealthWatch {
    let state = options.key !== undefined ? this.states.get(options.key) : undefined
    if (!state) {
      state = { silent: new Map(), quiet: undefined, periods: new Map() }
      if (options.key !== undefined) this.states.set(options.key, state)
    }
    const w = new HealthWatch(this, options, state, listener, (closed, forget) => {
      this.watches = this.watches.filter((x) => x !== closed)
      if (forget && options.key !== undefined) this.states.delete(options.key)
      if (this.watches.length === 0) {
        this.releaseClock?.()
        this.releaseClock = undefined
        this.onInUse?.(false)
      }
    })
    this.watches = [...this.watches, w]
    if (this.watches.length === 1) {
      if (this.ownClock) this.releaseClock = holdCoarseClock()
      this.onInUse?.(true)
    }
    w.start()
    return w
  }

  get watchCount(): number {
    return this.watches.length
  }

  /** Continue the records of an earlier tracker of the same application (after a full deploy). */
  adopt(earlier: HealthTracker): void {
    for (const old of earlier.records.values()) {
      if (this.records.has(old.deviceId)) continue
      const r = new DeviceRecord(old.deviceId, old.firstSeenAt)
      r.copyFrom(old)
      this.records.set(r.deviceId, r)
    }
    for (const [key, state] of earlier.states) if (!this.states.has(key)) this.states.set(key, state)
    if (this.lastUplinkAt === undefined) this.lastUplinkAt = earlier.lastUplinkAt
  }

  private recordFor(deviceId: string, now: number): DeviceRecord | undefined {
    let record = this.records.get(deviceId)
    if (!record) {
      if (this.records.size >= this.maxDevices) {
        this.untracked++
        return undefined
      }
      record = new DeviceRecord(deviceId, now)
      this.records.set(deviceId, record)
    }
    return record
  }
}

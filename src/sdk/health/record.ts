/**
 * One device's health record: counts, link quality, frame-counter accounting and the device's own
 * uplink interval, all in constant memory (numbers and a few string references, no arrays). Updated
 * in place by observe(), once per uplink; snapshot() makes the plain object that messages carry.
 *
 * Frame counters. Within a session f_cnt goes up by one per uplink the device sends; a jump by n
 * means n - 1 uplinks that no gateway delivered ("lost"). A new session restarts the counter: it is
 * recognised by a join event, by a new session_key_id, or by the counter dropping to a small value,
 * and is counted as a reset, not as loss. A recovered uplink (Storage Integration) below the highest
 * counter fills a gap that was counted as loss, so it is taken off again.
 */
import type { UplinkFacts } from './facts'
import { RunningStats, type StatsSummary } from './stats'

/** A counter that drops below this (without a join or a new session key) has restarted. */
export const RESET_BELOW = 16

export interface LearningOptions {
  /** Silent time = this many times the device's mean uplink interval (default 3)... */
  multiple: number
  /** ...and at least 1.5 times the longest normal interval seen, and at least this (ms, default 1000). */
  minSilentMs: number
  /** Intervals needed before the silent time is learned (default 2, i.e. 3 uplinks). */
  samples: number
}

export const DEFAULT_LEARNING: LearningOptions = { multiple: 3, minSilentMs: 1000, samples: 2 }

/** A device's health record as messages carry it (JSON-safe). */
export interface DeviceHealth {
  deviceId: string
  devEui?: string
  /** When this tracker first saw the device (ISO 8601). */
  firstSeen: string
  /** The network's received_at of the newest uplink (ISO 8601); null before the first. */
  lastSeen: string | null
  /** Uplinks received (live and recovered), and of those recovered from storage. */
  received: number
  recovered: number
  /** Uplinks the frame counter says were sent but never arrived. */
  lost: number
  /** lost / (received + lost), 0..1. */
  lossRate: number
  /** Copies of an uplink already received (same counter), not counted in received. */
  repeated: number
  /** Sessions restarted (joins, counter resets): never counted as loss. */
  resets: number
  joins: number
  /** The highest frame counter of the current session. */
  fCnt: number
  /** Of the best gateway of each uplink: dBm and dB. */
  rssi: StatsSummary | null
  snr: StatsSummary | null
  spreadingFactor: StatsSummary | null
  /** Gateways per uplink. */
  gateways: StatsSummary | null
  /** The gateway that heard the last uplink best. */
  bestGateway: { gatewayId?: string; rssi?: number; snr?: number } | null
  /** The device's mean time between uplinks (s), once seen; null before. */
  interval: number | null
  /** The silent time learned from the interval (s); null until enough uplinks were seen. */
  learnedSilentAfter: number | null
}

export class DeviceRecord {
  devEui: string | undefined
  readonly firstSeenAt: number
  /** Local time of the last delivery of an uplink of this device (live or recovered), ms. */
  lastHeardAt: number
  lastSeen: string | undefined
  received = 0
  recovered = 0
  lost = 0
  repeated = 0
  resets = 0
  joins = 0
  /** Highest counter of the current session; -1 before the first uplink. */
  fCnt = -1
  sessionKey: string | undefined
  /** The network time (ms) of the uplink that started the current session; parsed once per session. */
  sessionStartedAt = Number.NaN
  /** A join was seen since the last uplink: the next uplink starts a new session. */
  joinPending = false
  readonly rssi = new RunningStats()
  readonly snr = new RunningStats()
  readonly spreadingFactor = new RunningStats()
  readonly gateways = new RunningStats()
  bestGatewayId: string | undefined
  bestRssi = Number.NaN
  bestSnr = Number.NaN
  // Interval learning, from live uplinks only (recovered ones arrive late, in a burst).
  private lastLiveAt = Number.NaN
  private lastLiveFCnt = -1
  intervalSamples = 0
  intervalMeanMs = 0
  intervalMaxMs = 0
  learnedSilentMs: number | undefined

  constructor(
    readonly deviceId: string,
    now: number,
  ) {
    this.firstSeenAt = now
    this.lastHeardAt = now
  }

  /** A join (or rejoin) event: the counter restarts with the next uplink. */
  joined(): void {
    this.joins++
    this.joinPending = true
  }

  /** Count one uplink. `now` is local time (ms). O(1), no allocation. */
  observe(f: UplinkFacts, now: number, recovered: boolean, learning: LearningOptions): void {
    if (now > this.lastHeardAt) this.lastHeardAt = now
    if (f.devEui !== undefined) this.devEui = f.devEui
    const newSession = this.countFrame(f, recovered)
    if (newSession === undefined) return // a repeat: nothing new about the device
    this.received++
    if (recovered) this.recovered++
    if (f.receivedAt !== undefined && (!recovered || this.lastSeen === undefined || Date.parse(f.receivedAt) > Date.parse(this.lastSeen))) {
      this.lastSeen = f.receivedAt
    }
    if (!Number.isNaN(f.rssi)) this.rssi.add(f.rssi)
    if (!Number.isNaN(f.snr)) this.snr.add(f.snr)
    if (!Number.isNaN(f.spreadingFactor)) this.spreadingFactor.add(f.spreadingFactor)
    this.gateways.add(f.gateways)
    if (f.gateways > 0) {
      this.bestGatewayId = f.gatewayId
      this.bestRssi = f.rssi
      this.bestSnr = f.snr
    }
    if (!recovered) this.learn(f.fCnt, now, newSession, learning)
  }

  /**
   * Frame-counter accounting. Returns true when this uplink started a new session, false when it
   * continued one, undefined when it repeats an uplink already counted.
   */
  private countFrame(f: UplinkFacts, recovered: boolean): boolean | undefined {
    const n = f.fCnt
    if (this.fCnt < 0) {
      // After a join we know the count began at 0; otherwise what came before is unknown.
      this.startSession(f, this.joinPending ? n : 0)
      return true
    }
    const otherKey = f.sessionKey !== undefined && this.sessionKey !== undefined && f.sessionKey !== this.sessionKey
    if (recovered) {
      if (otherKey) {
        // From another session: a later one starts a session (as it would have live); an earlier one
        // only counts as received, its counter belongs to a session already closed.
        const at = f.receivedAt === undefined ? Number.NaN : Date.parse(f.receivedAt)
        if (at > this.sessionStartedAt) {
          this.resets++
          this.startSession(f, n)
          return true
        }
        return false
      }
      if (n > this.fCnt) {
        this.lost += n - this.fCnt - 1
        this.fCnt = n
        return false
      }
      if (n === this.fCnt) return undefined
      // Below the highest counter: a late copy of an uplink that was counted as lost.
      if (this.lost > 0) this.lost--
      return false
    }
    if (this.joinPending || otherKey) {
      // A new session: frames 0 .. n-1 of it were sent and not received.
      this.resets++
      this.startSession(f, n)
      return true
    }
    if (n > this.fCnt) {
      this.lost += n - this.fCnt - 1
      this.fCnt = n
      if (this.sessionKey === undefined) this.sessionKey = f.sessionKey
      return false
    }
    if (n === this.fCnt) {
      this.repeated++
      return undefined
    }
    // The counter went back without a join: the device restarted its counter (ABP, reset, rejoin we
    // did not see). From a small value we know what is missing; from a large one we cannot tell.
    this.resets++
    this.startSession(f, n < RESET_BELOW ? n : 0)
    return true
  }

  private startSession(f: UplinkFacts, missing: number): void {
    this.fCnt = f.fCnt
    this.lost += missing
    this.sessionKey = f.sessionKey
    this.joinPending = false
    this.sessionStartedAt = f.receivedAt === undefined ? Number.NaN : Date.parse(f.receivedAt)
  }

  /** The device's own interval: time between live uplinks divided by the counter step, so loss does not stretch it. */
  private learn(n: number, now: number, newSession: boolean, learning: LearningOptions): void {
    if (!newSession && this.lastLiveFCnt >= 0 && n > this.lastLiveFCnt && now > this.lastLiveAt) {
      const perFrame = (now - this.lastLiveAt) / (n - this.lastLiveFCnt)
      // An interval far longer than usual (the device was off, or out of reach) is not its rhythm.
      const normal = this.intervalSamples < learning.samples || perFrame <= 4 * this.intervalMeanMs
      if (normal) {
        this.intervalSamples++
        // A plain mean while there are few samples, then a moving one that follows a changed rhythm.
        const weight = this.intervalSamples < 8 ? 1 / this.intervalSamples : 1 / 8
        this.intervalMeanMs += (perFrame - this.intervalMeanMs) * weight
        if (perFrame > this.intervalMaxMs) this.intervalMaxMs = perFrame
        if (this.intervalSamples >= learning.samples) {
          this.learnedSilentMs = Math.max(learning.minSilentMs, learning.multiple * this.intervalMeanMs, 1.5 * this.intervalMaxMs)
        }
      }
    }
    this.lastLiveAt = now
    this.lastLiveFCnt = n
  }

  /** Take over the counts of an earlier record of the same device (records carried across a full deploy). */
  copyFrom(o: DeviceRecord): void {
    this.devEui = o.devEui
    ;(this as { firstSeenAt: number }).firstSeenAt = o.firstSeenAt
    this.lastHeardAt = o.lastHeardAt
    this.lastSeen = o.lastSeen
    this.received = o.received
    this.recovered = o.recovered
    this.lost = o.lost
    this.repeated = o.repeated
    this.resets = o.resets
    this.joins = o.joins
    this.fCnt = o.fCnt
    this.sessionKey = o.sessionKey
    this.sessionStartedAt = o.sessionStartedAt
    this.joinPending = o.joinPending
    this.rssi.copyFrom(o.rssi)
    this.snr.copyFrom(o.snr)
    this.spreadingFactor.copyFrom(o.spreadingFactor)
    this.gateways.copyFrom(o.gateways)
    this.bestGatewayId = o.bestGatewayId
    this.bestRssi = o.bestRssi
    this.bestSnr = o.bestSnr
    this.lastLiveAt = o.lastLiveAt
    this.lastLiveFCnt = o.lastLiveFCnt
    this.intervalSamples = o.intervalSamples
    this.intervalMeanMs = o.intervalMeanMs
    this.intervalMaxMs = o.intervalMaxMs
    this.learnedSilentMs = o.learnedSilentMs
  }

  snapshot(): DeviceHealth {
    const total = this.received + this.lost
    const h: DeviceHealth = {
      deviceId: this.deviceId,
      firstSeen: new Date(this.firstSeenAt).toISOString(),
      lastSeen: this.lastSeen ?? (this.received > 0 ? new Date(this.lastHeardAt).toISOString() : null),
      received: this.received,
      recovered: this.recovered,
      lost: this.lost,
      lossRate: total > 0 ? Math.round((this.lost / total) * 10000) / 10000 : 0,
      repeated: this.repeated,
      resets: this.resets,
      joins: this.joins,
      fCnt: Math.max(0, this.fCnt),
      rssi: this.rssi.summary(),
      snr: this.snr.summary(),
      spreadingFactor: this.spreadingFactor.summary(),
      gateways: this.gateways.summary(),
      bestGateway: this.gateways.last > 0 ? bestGatewayOf(this) : null,
      interval: this.intervalSamples > 0 ? Math.round(this.intervalMeanMs / 100) / 10 : null,
      learnedSilentAfter: this.learnedSilentMs === undefined ? null : Math.round(this.learnedSilentMs / 100) / 10,
    }
    if (this.devEui !== undefined) h.devEui = this.devEui
    return h
  }
}

function bestGatewayOf(r: DeviceRecord): DeviceHealth['bestGateway'] {
  const g: NonNullable<DeviceHealth['bestGateway']> = {}
  if (r.bestGatewayId !== undefined) g.gatewayId = r.bestGatewayId
  if (!Number.isNaN(r.bestRssi)) g.rssi = r.bestRssi
  if (!Number.isNaN(r.bestSnr)) g.snr = r.bestSnr
  return g
}

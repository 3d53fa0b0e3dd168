/**
 * Matches the server's downlink events back to the send that caused them. Every downlink carries a
 * correlation ID of ours; The Things Stack echoes it in down/queued, sent, ack, nack and failed.
 * The server stays silent on some errors (bad rights, unparseable body), so a downlink that is not
 * queued within a time limit is reported as 'timeout'. Memory is bounded: at most `maxTracked`
 * entries, oldest dropped first (a tenth at a time).
 */
import type { DownlinkItem, V3Envelope } from './messages'
import type { EventName } from './topics'

/**
 * The server's statuses (queued ... timeout), and the SDK's own steps around them (src/sdk/downlinks):
 * `waiting` for the connection, `held` for the device's next uplink, `replaced` by a newer held
 * downlink, `expired` (retry ttl), `cleared` (the queue was cleared).
 */
export type DownlinkStatus =
  | 'queued'
  | 'sent'
  | 'ack'
  | 'nack'
  | 'failed'
  | 'invalidated'
  | 'timeout'
  | 'waiting'
  | 'held'
  | 'replaced'
  | 'expired'
  | 'cleared'
export type WaitTarget = 'queued' | 'sent' | 'final'

export interface DownlinkServerError {
  name?: string
  namespace?: string
  message?: string
  code?: number
}

export interface DownlinkOutcome {
  status: DownlinkStatus
  correlationId: string
  deviceId: string
  confirmed: boolean
  /** The server's whole event message, when the status came from one. */
  event?: V3Envelope
  /** For 'failed': what the server said. */
  error?: DownlinkServerError
  // Set on downlinks sent with retry or schedule 'next-uplink' (src/sdk/downlinks):
  /** Which attempt this step belongs to (1 = the first) and how many are allowed. */
  attempt?: number
  attempts?: number
  /** The correlation ID every attempt of one send carries. */
  groupId?: string
  /** True on the one final step of such a send. */
  final?: boolean
  /** When another attempt follows: in how many ms. */
  retryInMs?: number
  /** Final failed / expired: why the last attempt did not succeed (server error name, nack, timeout, held, ...). */
  reason?: string
}

export class DownlinkError extends Error {
  constructor(readonly outcome: DownlinkOutcome) {
    super(describeFailure(outcome))
    this.name = 'DownlinkError'
  }
}

/** Device and reason first, the correlation ID last: a debug sidebar cuts long lines. */
function describeFailure(o: DownlinkOutcome): string {
  const id = `(ID ${o.correlationId})`
  switch (o.status) {
    case 'failed':
      return `Downlink to ${o.deviceId} failed: ${o.error?.name ?? 'unknown error'}${o.error?.message ? ` (${o.error.message})` : ''} ${id}`
    case 'nack':
      return `Downlink to ${o.deviceId} not acknowledged by the device ${id}`
    case 'invalidated':
      return `Downlink to ${o.deviceId} dropped: the queue was invalidated, e.g. after a rejoin ${id}`
    case 'timeout':
      return `Downlink to ${o.deviceId}: no answer from The Things Stack in time; check the key's downlink rights and the device ID ${id}`
    default:
      return `Downlink to ${o.deviceId}: ${o.status} ${id}`
  }
}

const STATUS_BY_EVENT: Partial<Record<EventName, DownlinkStatus>> = {
  'down/queued': 'queued',
  'down/sent': 'sent',
  'down/ack': 'ack',
  'down/nack': 'nack',
  'down/failed': 'failed',
  'down/invalidated': 'invalidated',
}
/** The events that report a downlink's fate: the client subscribes to them while any downlink awaits one. */
export const DOWNLINK_EVENTS = Object.keys(STATUS_BY_EVENT) as readonly EventName[]
const RANK: Record<DownlinkStatus, number> = {
  waiting: 0,
  held: 0,
  queued: 1,
  sent: 2,
  ack: 3,
  nack: 3,
  failed: 3,
  invalidated: 3,
  timeout: 3,
  replaced: 3,
  expired: 3,
  cleared: 3,
}
const BAD: ReadonlySet<DownlinkStatus> = new Set(['nack', 'failed', 'invalidated', 'timeout'])

interface Waiter {
  target: WaitTarget
  resolve: (o: DownlinkOutcome) => void
  reject: (e: DownlinkError) => void
  timer?: NodeJS.Timeout
}

interface Tracked {
  correlationId: string
  deviceId: string
  confirmed: boolean
  last?: DownlinkOutcome
  timer?: NodeJS.Timeout
  waiters: Waiter[]
  onStatus?: (o: DownlinkOutcome) => void
  /** Nothing more will come for it: the flow's callback is dropped and TrackerOptions.onDone called. */
  done: boolean
}

export interface TrackerOptions {
  /** How long to wait for down/queued after publishing, ms. Default 30000. */
  queueTimeoutMs?: number
  /** Most downlinks remembered at once. Default 10000. */
  maxTracked?: number
  /** Called for every status of every tracked downlink. */
  onStatus?: (o: DownlinkOutcome) => void
  /**
   * Called once per tracked downlink, when it is final or forgotten (evicted, abandoned, cleared): a
   * plain callback given once, rather than a promise or a closure per downlink, because at thousands of
   * downlinks a second either costs more than the send.
   */
  onDone?: (correlationId: string) => void
}

function isFinal(o: DownlinkOutcome): boolean {
  return o.status !== 'queued' && (o.status !== 'sent' || !o.confirmed)
}

function reaches(o: DownlinkOutcome, target: WaitTarget): boolean {
  if (BAD.has(o.status)) return false
  if (target === 'final') return isFinal(o)
  return RANK[o.status] >= RANK[target]
}

export class DownlinkTracker {
  private readonly entries = new Map<string, Tracked>()
  private readonly queueTimeoutMs: number
  private readonly maxTracked: number
  constructor(private readonly options: TrackerOptions = {}) {
    this.queueTimeoutMs = options.queueTimeoutMs ?? 30_000
    this.maxTracked = options.maxTracked ?? 10_000
  }

  get size(): number {
    return this.entries.size
  }

  has(correlationId: string): boolean {
    return this.entries.has(correlationId)
  }

  /** Start tracking (before publishing). TrackerOptions.onDone runs once for it, when it is final or forgotten. */
  track(correlationId: string, deviceId: string, confirmed: boolean, onStatus?: (o: DownlinkOutcome) => void): void {
    if (this.entries.size >= this.maxTracked) this.evictOldest()
    this.entries.set(correlationId, { correlationId, deviceId, confirmed, waiters: [], onStatus, done: false })
  }

  /** The downlink left the client: from now on the server has queueTimeoutMs to queue it. */
  published(correlationId: string, queueTimeoutMs = this.queueTimeoutMs): void {
    const t = this.entries.get(correlationId)
    if (!t || t.last || queueTimeoutMs <= 0) return
    t.timer = setTimeout(() => this.settle(t, { status: 'timeout', correlationId, deviceId: t.deviceId, confirmed: t.confirmed }), queueTimeoutMs)
    t.timer.unref?.()
  }

  /** The downlink never left the client (validation passed, but publishing failed). */
  abandon(correlationId: string): void {
    this.forget(correlationId)
  }

  /** Feed a downlink event from the server. Returns true when it matched one of ours. */
  handleEvent(event: EventName, message: V3Envelope): boolean {
    const status = STATUS_BY_EVENT[event]
    if (!status) return false
    let matched = false
    for (const id of correlationIdsOf(message)) {
      const t = this.entries.get(id)
      if (!t) continue
      matched = true
      const outcome: DownlinkOutcome = { status, correlationId: t.correlationId, deviceId: t.deviceId, confirmed: t.confirmed, event: message }
      if (status === 'failed') outcome.error = serverError(message)
      this.settle(t, outcome)
    }
    return matched
  }

  /** Resolve when the downlink reaches `target`; reject with DownlinkError when it fails, times out or is nacked. */
  wait(correlationId: string, target: WaitTarget = 'queued', timeoutMs?: number): Promise<DownlinkOutcome> {
    const t = this.entries.get(correlationId)
    if (!t) return Promise.reject(new Error(`Downlink ${correlationId} is not tracked (unknown, already final and forgotten, or evicted).`))
    return new Promise((resolve, reject) => {
      if (t.last && (reaches(t.last, target) || BAD.has(t.last.status))) {
        if (BAD.has(t.last.status)) reject(new DownlinkError(t.last))
        else resolve(t.last)
        return
      }
      const w: Waiter = { target, resolve, reject }
      if (timeoutMs !== undefined && timeoutMs > 0) {
        w.timer = setTimeout(() => {
          t.waiters = t.waiters.filter((x) => x !== w)
          reject(new DownlinkError({ status: 'timeout', correlationId, deviceId: t.deviceId, confirmed: t.confirmed }))
        }, timeoutMs)
        w.timer.unref?.()
      }
      t.waiters.push(w)
    })
  }

  /** The client is closing: nothing more will come for anything tracked. */
  clear(): void {
    for (const id of [...this.entries.keys()]) this.forget(id)
  }

  private settle(t: Tracked, outcome: DownlinkOutcome): void {
    // Events can arrive out of order (sent before queued on a fast network): never go backwards.
    if (t.last && (isFinal(t.last) || RANK[outcome.status] < RANK[t.last.status])) return
    t.last = outcome
    if (t.timer) {
      clearTimeout(t.timer)
      t.timer = undefined
    }
    try {
      t.onStatus?.(outcome)
      this.options.onStatus?.(outcome)
    } finally {
      const bad = BAD.has(outcome.status)
      t.waiters = t.waiters.filter((w) => {
        if (bad) {
          if (w.timer) clearTimeout(w.timer)
          w.reject(new DownlinkError(outcome))
          return false
        }
        if (reaches(outcome, w.target)) {
          if (w.timer) clearTimeout(w.timer)
          w.resolve(outcome)
          return false
        }
        return true
      })
      if (isFinal(outcome)) {
        this.done(t)
        // Keep final entries briefly so a late wait() still sees the result; the LRU bound caps them.
        if (t.waiters.length === 0) {
          this.entries.delete(t.correlationId)
          this.entries.set(t.correlationId, t)
        }
      }
    }
  }

  /**
   * Drop the oldest tenth in one pass. Evicting one at a time would cost O(n) each: a Map keeps the
   * slots of deleted entries at its front until it rehashes, and `keys().next()` walks over all of them.
   */
  private evictOldest(): void {
    let count = Math.max(1, Math.floor(this.maxTracked / 10))
    const oldest: string[] = []
    for (const id of this.entries.keys()) {
      if (count-- <= 0) break
      oldest.push(id)
    }
    for (const id of oldest) this.forget(id)
  }

  /**
   * Nothing more will come for this downlink: drop the flow's status callback (and the message it
   * holds) and call onDone, once.
   */
  private done(t: Tracked): void {
    if (t.done) return
    t.done = true
    t.onStatus = undefined
    this.options.onDone?.(t.correlationId)
  }

  private forget(id: string): void {
    const t = this.entries.get(id)
    if (!t) return
    this.entries.delete(id)
    if (t.timer) clearTimeout(t.timer)
    this.done(t)
    // Only explicit waiters get an error: building one (with its stack) per evicted entry is costly.
    for (const w of t.waiters) {
      if (w.timer) clearTimeout(w.timer)
      w.reject(new DownlinkError({ status: 'timeout', correlationId: id, deviceId: t.deviceId, confirmed: t.confirmed }))
    }
    t.waiters = []
  }
}

function serverError(message: V3Envelope): DownlinkServerError {
  const body = (message as { downlink_failed?: { error?: Record<string, unknown> } }).downlink_failed
  const e = body?.error ?? {}
  return {
    name: typeof e.name === 'string' ? e.name : undefined,
    namespace: typeof e.namespace === 'string' ? e.namespace : undefined,
    message: typeof e.message_format === 'string' ? e.message_format : undefined,
    code: typeof e.code === 'number' ? e.code : undefined,
  }
}

/** Every correlation ID the server put in a downlink event: envelope, body, failed downlink, invalidated list. */
export function correlationIdsOf(message: V3Envelope): string[] {
  const ids: string[] = []
  const add = (list: unknown) => {
    if (Array.isArray(list)) for (const x of list) if (typeof x === 'string') ids.push(x)
  }
  add(message.correlation_ids)
  for (const key of ['downlink_queued', 'downlink_sent', 'downlink_ack', 'downlink_nack'] as const) {
    const body = message[key] as DownlinkItem | undefined
    if (body && typeof body === 'object') add(body.correlation_ids)
  }
  const failed = message.downlink_failed as { downlink?: DownlinkItem } | undefined
  if (failed && typeof failed === 'object') add(failed.downlink?.correlation_ids)
  const inv = message.downlink_queue_invalidated as { downlinks?: DownlinkItem[] } | undefined
  if (inv && Array.isArray(inv.downlinks)) for (const d of inv.downlinks) add(d?.correlation_ids)
  return [...new Set(ids)]
}

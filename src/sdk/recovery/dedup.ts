/**
 * Telling an uplink seen before from a new one, in bounded memory and O(1) per uplink.
 *
 * An uplink is identified two ways, and a match on either means "seen": its `as:up:` correlation ID
 * (one per uplink the Application Server handles, the same in the MQTT message and in storage), and
 * device + f_cnt + received_at. The second key holds when correlation IDs are missing or trimmed; it
 * uses received_at to the microsecond, because a database may store fewer than the 9 digits MQTT carries.
 */
import { canonicalTime } from './timestamp'

/** The last `capacity` keys added, forgetting the oldest: a Set plus a ring of insertion order. */
export class RecentKeys {
  private readonly set = new Set<string>()
  private readonly ring: (string | undefined)[]
  private next = 0

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`RecentKeys: capacity must be a whole number of at least 1, got ${capacity}.`)
    this.ring = new Array<string | undefined>(capacity)
  }

  has(key: string): boolean {
    return this.set.has(key)
  }

  add(key: string): void {
    if (this.set.has(key)) return
    const old = this.ring[this.next]
    if (old !== undefined) this.set.delete(old)
    this.ring[this.next] = key
    this.next = (this.next + 1) % this.capacity
    this.set.add(key)
  }

  get size(): number {
    return this.set.size
  }

  /** Up to `n` most recent keys, oldest first. */
  recent(n: number): string[] {
    const out: string[] = []
    for (let i = Math.min(n, this.set.size); i > 0; i--) {
      const k = this.ring[(this.next - i + this.capacity) % this.capacity]
      if (k !== undefined) out.push(k)
    }
    return out
  }
}

export interface UplinkIdentity {
  deviceId: string
  /** Canonical received_at (see timestamp.ts). */
  receivedAt: string
  keys: string[]
}

/** The identity of a v3 uplink message, or undefined when it lacks a device ID or a valid received_at. */
export function uplinkIdentity(message: Record<string, unknown>): UplinkIdentity | undefined {
  const ids = message.end_device_ids as { device_id?: unknown } | undefined
  const deviceId = ids && typeof ids === 'object' ? ids.device_id : undefined
  const receivedAt = canonicalTime(message.received_at)
  if (typeof deviceId !== 'string' || deviceId === '' || receivedAt === undefined) return undefined
  const up = message.uplink_message as { f_cnt?: unknown } | undefined
  const fCnt = up && typeof up === 'object' && typeof up.f_cnt === 'number' ? up.f_cnt : 0
  const keys = [`${deviceId}\u0000${fCnt}\u0000${receivedAt.slice(0, 26)}`]
  const cids = message.correlation_ids
  if (Array.isArray(cids)) {
    for (const id of cids) {
      if (typeof id === 'string' && id.startsWith('as:up:')) {
        keys.push(id)
        break
      }
    }
  }
  return { deviceId, receivedAt, keys }
}

/**
 * Two memories: uplinks delivered live, and uplinks delivered by recovery. Kept apart so that a long
 * recovery of old uplinks cannot push out the live ones it has not reached yet (those come last in
 * the stored stream, which is ordered by received_at).
 */
export class UplinkMemory {
  readonly live: RecentKeys
  readonly recovered: RecentKeys
  constructor(capacity: number) {
    this.live = new RecentKeys(capacity)
    this.recovered = new RecentKeys(capacity)
  }

  seen(keys: string[]): boolean {
    for (const k of keys) if (this.live.has(k) || this.recovered.has(k)) return true
    return false
  }

  /** True (and remembered) when new; false when any key was seen. */
  admit(keys: string[], source: 'live' | 'recovered'): boolean {
    if (this.seen(keys)) return false
    const mem = source === 'live' ? this.live : this.recovered
    for (const k of keys) mem.add(k)
    return true
  }

  /** The most recent keys of both memories, for a checkpoint handed to another client. */
  recent(n: number): string[] {
    return [...this.recovered.recent(n), ...this.live.recent(n)]
  }
}

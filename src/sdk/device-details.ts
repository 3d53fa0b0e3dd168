/**
 * Device details from the registry (name, description, attributes, locations, version_ids), cached per
 * device for uplinks: `get()` answers from memory at once and never waits for the network, so an uplink
 * is never held back. A device not yet known is fetched in the background: its first uplink goes without
 * details, the next ones carry them. Each device is fetched at most once per refresh period (failures
 * included, so a missing right or an unknown device does not turn every uplink into a request), and at
 * once when the server reports the device changed (`invalidate`); a 429 is retried when the server says. The cache holds at most `maxDevices`
 * devices, dropping the least recently used.
 */
import type { EndDevice } from './api/types'
import { DEVICE_DETAIL_FIELDS } from './api/types'

export interface DeviceDetails {
  name?: string
  description?: string
  attributes?: Record<string, string>
  locations?: EndDevice['locations']
  version_ids?: EndDevice['version_ids']
}

export interface DeviceDetailsCacheOptions {
  /** Read one device with DEVICE_DETAIL_FIELDS (ApiClient.getDevice). */
  fetch(deviceId: string): Promise<EndDevice>
  /** Devices kept at most (default 1000). */
  maxDevices?: number
  /** A device's details are read again after this long, ms (default 15 minutes). */
  refreshMs?: number
  /** A fetch failed; the device keeps what it had (or nothing) until the next refresh. */
  onError?(deviceId: string, error: Error): void
  /** Clock, for tests of the refresh time. */
  now?: () => number
}

interface Entry {
  details: DeviceDetails | undefined
  /** When the last fetch started, ms. */
  fetchedAt: number
  inflight: boolean
  /** Changed while a fetch was in flight: fetch again when it returns. */
  again: boolean
}

export const DEFAULT_DETAILS_REFRESH_MS = 15 * 60_000
export const DEFAULT_DETAILS_MAX_DEVICES = 1000

export class DeviceDetailsCache {
  /** Fetches started, for tests and diagnostics. */
  fetches = 0
  private readonly entries = new Map<string, Entry>()
  private readonly maxDevices: number
  private readonly refreshMs: number
  private readonly now: () => number
  private closed = false

  constructor(private readonly options: DeviceDetailsCacheOptions) {
    this.maxDevices = Math.max(1, Math.floor(options.maxDevices ?? DEFAULT_DETAILS_MAX_DEVICES))
    this.refreshMs = Math.max(1, options.refreshMs ?? DEFAULT_DETAILS_REFRESH_MS)
    this.now = options.now ?? Date.now
  }

  /** The details known now (undefined while a new device is being fetched); starts a fetch when due. */
  get(deviceId: string): DeviceDetails | undefined {
    let entry = this.entries.get(deviceId)
    if (entry) {
      // Most recently used last: eviction takes the first.
      this.entries.delete(deviceId)
      this.entries.set(deviceId, entry)
      if (!entry.inflight && this.now() - entry.fetchedAt >= this.refreshMs) this.fetch(deviceId, entry)
      return entry.details
    }
    entry = { details: undefined, fetchedAt: 0, inflight: false, again: false }
    this.entries.set(deviceId, entry)
    if (this.entries.size > this.maxDevices) this.entries.delete(this.entries.keys().next().value as string)
    this.fetch(deviceId, entry)
    return undefined
  }

  /** The server reported a change: read the device again now (it keeps its old details until then). */
  invalidate(deviceId: string): void {
    const entry = this.entries.get(deviceId)
    if (!entry) return
    if (entry.inflight) entry.again = true
    else this.fetch(deviceId, entry)
  }

  /** Forget every device (e.g. after missing change events while the watch was down): read again on use. */
  expireAll(): void {
    for (const entry of this.entries.values()) entry.fetchedAt = Number.NEGATIVE_INFINITY
  }

  get size(): number {
    return this.entries.size
  }

  close(): void {
    this.closed = true
    this.entries.clear()
  }

  private fetch(deviceId: string, entry: Entry): void {
    if (this.closed) return
    entry.inflight = true
    entry.again = false
    entry.fetchedAt = this.now()
    this.fetches++
    this.options.fetch(deviceId).then(
      (device) => {
        entry.details = detailsOf(device)
        this.settle(deviceId, entry)
      },
      (err: Error) => {
        // A deleted device has no details any more; other failures keep the last known ones.
        if ((err as { kind?: string }).kind === 'not-found') entry.details = undefined
        // Rate limited: try again when the server said, rather than after a whole refresh period.
        const retryAfterMs = (err as { retryAfterMs?: number }).retryAfterMs
        if (typeof retryAfterMs === 'number' && retryAfterMs < this.refreshMs) entry.fetchedAt = this.now() - this.refreshMs + retryAfterMs
        this.options.onError?.(deviceId, err)
        this.settle(deviceId, entry)
      },
    )
  }

  private settle(deviceId: string, entry: Entry): void {
    entry.inflight = false
    if (entry.again && this.entries.get(deviceId) === entry) this.fetch(deviceId, entry)
  }
}

/** The `msg.device` object: the detail fields the registry returned, nothing else. */
export function detailsOf(device: EndDevice): DeviceDetails {
  const out: DeviceDetails = {}
  for (const field of DEVICE_DETAIL_FIELDS) {
    const value = device[field]
    if (value !== undefined) (out as Record<string, unknown>)[field] = value
  }
  return out
}

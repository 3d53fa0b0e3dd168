/**
 * Routing of incoming messages to listeners in O(1) per message: a map by event, then by device,
 * so the cost of one uplink does not grow with the number of nodes listening to other devices.
 */
import type { EventName } from './topics'

export type Listener<T> = (value: T) => void

interface Route<T> {
  all: Set<Listener<T>>
  byDevice: Map<string, Set<Listener<T>>>
}

export class Dispatcher<T> {
  private readonly routes = new Map<EventName, Route<T>>()

  /** Add a listener for one event of one device (or every device when deviceId is empty). */
  add(event: EventName, deviceId: string | undefined, listener: Listener<T>): void {
    let route = this.routes.get(event)
    if (!route) {
      route = { all: new Set(), byDevice: new Map() }
      this.routes.set(event, route)
    }
    if (!deviceId) {
      route.all.add(listener)
      return
    }
    let set = route.byDevice.get(deviceId)
    if (!set) {
      set = new Set()
      route.byDevice.set(deviceId, set)
    }
    set.add(listener)
  }

  remove(event: EventName, deviceId: string | undefined, listener: Listener<T>): void {
    const route = this.routes.get(event)
    if (!route) return
    if (!deviceId) route.all.delete(listener)
    else {
      const set = route.byDevice.get(deviceId)
      if (set) {
        set.delete(listener)
        if (set.size === 0) route.byDevice.delete(deviceId)
      }
    }
    if (route.all.size === 0 && route.byDevice.size === 0) this.routes.delete(event)
  }

  /** True when anyone would receive this event for this device: lets the caller skip parsing. */
  wants(event: EventName, deviceId: string): boolean {
    const route = this.routes.get(event)
    return !!route && (route.all.size > 0 || route.byDevice.has(deviceId))
  }

  /**
   * Call every matching listener. A throwing listener is reported through onError and does not
   * stop the others.
   */
  dispatch(event: EventName, deviceId: string, value: T, onError: (err: unknown) => void): number {
    const route = this.routes.get(event)
    if (!route) return 0
    let n = 0
    for (const l of route.all) {
      n++
      try {
        l(value)
      } catch (err) {
        onError(err)
      }
    }
    const set = route.byDevice.get(deviceId)
    if (set) {
      for (const l of set) {
        n++
        try {
          l(value)
        } catch (err) {
          onError(err)
        }
      }
    }
    return n
  }

  listenerCount(): number {
    let n = 0
    for (const r of this.routes.values()) {
      n += r.all.size
      for (const s of r.byDevice.values()) n += s.size
    }
    return n
  }
}

/** Reference counts per MQTT filter: the broker is told to subscribe on 0→1 and unsubscribe on 1→0. */
export class RefCounter<K> {
  private readonly counts = new Map<K, number>()
  /** Returns true when this is the first reference. */
  acquire(key: K): boolean {
    const n = (this.counts.get(key) ?? 0) + 1
    this.counts.set(key, n)
    return n === 1
  }
  /** Returns true when this was the last reference. */
  release(key: K): boolean {
    const n = this.counts.get(key)
    if (!n) return false
    if (n === 1) {
      this.counts.delete(key)
      return true
    }
    this.counts.set(key, n - 1)
    return false
  }
  keys(): K[] {
    return [...this.counts.keys()]
  }
  count(key: K): number {
    return this.counts.get(key) ?? 0
  }
}

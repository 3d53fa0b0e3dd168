/**
 * Downlinks held for a device's next uplink (schedule 'next-uplink'). A class A device listens right
 * after it transmits, so a downlink pushed the moment its uplink arrives is fresh (a setpoint computed
 * now, not minutes ago) and does not sit in the server's queue. One held downlink per device and FPort:
 * a newer one replaces the older. The uplink subscription of a device is held only while something
 * waits for it.
 */

export interface HeldDownlink {
  deviceId: string
  port: number
  /** The device's uplink arrived: push it now. */
  release(): void
  /** A newer downlink for the same device and port took its place, or the holds were cleared. */
  drop(status: 'replaced' | 'cleared'): void
}

/** Listens to one device's live uplinks; returns the function that stops listening. */
export type ListenForUplinks = (deviceId: string, onUplink: () => void) => () => void

interface DeviceHolds {
  byPort: Map<number, HeldDownlink>
  stop: () => void
}

export class HeldDownlinks {
  private readonly devices = new Map<string, DeviceHolds>()
  private total = 0

  constructor(
    private readonly listen: ListenForUplinks,
    /** Called with the new number held whenever it changes. */
    private readonly onCount?: (count: number) => void,
  ) {}

  /** How many downlinks are held, for one device or all. */
  count(deviceId?: string): number {
    if (deviceId === undefined) return this.total
    return this.devices.get(deviceId)?.byPort.size ?? 0
  }

  /** Hold `entry` until the device's next uplink; an older one for the same device and port is dropped as replaced. */
  hold(entry: HeldDownlink): void {
    let device = this.devices.get(entry.deviceId)
    if (!device) {
      const holds: DeviceHolds = { byPort: new Map(), stop: () => undefined }
      this.devices.set(entry.deviceId, holds)
      holds.stop = this.listen(entry.deviceId, () => this.releaseDevice(entry.deviceId))
      device = holds
    }
    const older = device.byPort.get(entry.port)
    device.byPort.set(entry.port, entry)
    if (older) {
      older.drop('replaced')
    } else {
      this.total++
      this.onCount?.(this.total)
    }
  }

  /** Take `entry` out without releasing it (its ttl ran out). False when it is no longer held. */
  cancel(entry: HeldDownlink): boolean {
    const device = this.devices.get(entry.deviceId)
    if (device?.byPort.get(entry.port) !== entry) return false
    device.byPort.delete(entry.port)
    this.afterRemoval(entry.deviceId, device, 1)
    return true
  }

  /** Drop every held downlink of one device, or of all devices (reported as `cleared`). */
  clear(deviceId?: string): number {
    const ids = deviceId === undefined ? [...this.devices.keys()] : [deviceId]
    let cleared = 0
    for (const id of ids) {
      const device = this.devices.get(id)
      if (!device) continue
      const entries = [...device.byPort.values()]
      device.byPort.clear()
      this.afterRemoval(id, device, entries.length)
      for (const e of entries) e.drop('cleared')
      cleared += entries.length
    }
    return cleared
  }

  private releaseDevice(deviceId: string): void {
    const device = this.devices.get(deviceId)
    if (!device) return
    const entries = [...device.byPort.values()]
    device.byPort.clear()
    this.afterRemoval(deviceId, device, entries.length)
    for (const e of entries) e.release()
  }

  private afterRemoval(deviceId: string, device: DeviceHolds, removed: number): void {
    if (device.byPort.size === 0 && this.devices.get(deviceId) === device) {
      this.devices.delete(deviceId)
      device.stop()
    }
    if (removed > 0) {
      this.total -= removed
      this.onCount?.(this.total)
    }
  }
}

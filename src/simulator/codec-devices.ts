// Simulated devices whose application has no payload formatter, so their uplinks are decoded in
// Node-RED (example "05 Decode uplinks locally"): one the Device Repository's codec decodes (by its
// version_ids, from the repository's test fixture of the invented vendor `tinkerworks`), one that sends
// Cayenne LPP.
import type { DeviceProfile } from './devices'

/** `value` moved by up to ±`step` within [min, max]. */
function wander(value: number, step: number, min: number, max: number, random: () => number): number {
  return Math.min(max, Math.max(min, value + (random() * 2 - 1) * step))
}

/**
 * A Climate Pro (test/fixtures/device-repository/vendor/tinkerworks): FPort 1, status flags, temperature
 * int16 (1/100 °C), humidity uint8 (1/2 %), battery uint16 (mV).
 */
export function climateProSensor(deviceId: string): DeviceProfile {
  const s = { temperature: 19.5, humidity: 52, batteryMv: 3310 }
  return {
    deviceId,
    fPort: 1,
    formatter: false,
    rssi: -95,
    versionIds: { brand_id: 'tinkerworks', model_id: 'climate-pro', hardware_version: 'A', firmware_version: '1.0', band_id: 'EU_863_870' },
    read(random) {
      s.temperature = Math.round(wander(s.temperature, 0.3, -20, 45, random) * 100) / 100
      s.humidity = Math.round(wander(s.humidity, 2, 10, 95, random) * 2) / 2
      s.batteryMv = Math.round(wander(s.batteryMv, 5, 2800, 3400, random))
      const bytes = Buffer.alloc(6)
      bytes.writeUInt8(0, 0)
      bytes.writeInt16BE(Math.round(s.temperature * 100), 1)
      bytes.writeUInt8(Math.round(s.humidity * 2), 3)
      bytes.writeUInt16BE(s.batteryMv, 4)
      // What the codec decodes the bytes to, for tests; the application has no formatter.
      return { bytes, decoded: { temperature: s.temperature, humidity: s.humidity, battery: s.batteryMv / 1000, status: [] } }
    },
  }
}

/** Cayenne LPP: temperature on channel 1 (0.1 °C), relative humidity on channel 2 (0.5 %), FPort 1. */
export function lppSensor(deviceId: string): DeviceProfile {
  const s = { temperature: 23.4, humidity: 41 }
  return {
    deviceId,
    fPort: 1,
    formatter: false,
    rssi: -82,
    read(random) {
      s.temperature = Math.round(wander(s.temperature, 0.4, -10, 40, random) * 10) / 10
      s.humidity = Math.round(wander(s.humidity, 1.5, 10, 95, random) * 2) / 2
      const bytes = Buffer.from([0x01, 0x67, 0, 0, 0x02, 0x68, Math.round(s.humidity * 2)])
      bytes.writeInt16BE(Math.round(s.temperature * 10), 2)
      return { bytes, decoded: { temperature_1: s.temperature, relative_humidity_2: s.humidity } }
    },
  }
}

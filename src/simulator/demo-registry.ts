// The device registry entries of the `npm start` demo devices (src/simulator/devices.ts demoDevices), as the
// HTTP API stand-in serves them: names, descriptions, attributes and locations a user would have set in the
// Console, and the version IDs the devices report, so the device picker and *Add device details* show something real.

import type { DeviceProfile } from './devices'
import type { SimDevice } from './http-api'

const ENTRIES: Record<string, Omit<SimDevice, 'deviceId' | 'versionIds'>> = {
  'my-device': {
    name: 'Kitchen sensor',
    description: 'Temperature, humidity and battery, on the shelf by the window',
    attributes: { room: 'kitchen', floor: 'ground' },
    locations: { user: { latitude: 52.3731, longitude: 4.8922, altitude: 2, source: 'SOURCE_REGISTRY' } },
  },
  'other-device': {
    name: 'Cellar thermometer',
    description: 'Raw temperature bytes: no payload formatter',
    attributes: { room: 'cellar', floor: 'basement' },
  },
  'front-door': {
    name: 'Front door',
    description: 'Reed contact that counts openings',
    attributes: { room: 'hall', floor: 'ground' },
    locations: { user: { latitude: 52.3732, longitude: 4.8924, altitude: 1, source: 'SOURCE_REGISTRY' } },
  },
}

/** Registry entries for the given simulated devices (those without an entry get their ID as name). */
export function demoRegistry(profiles: DeviceProfile[], lastSeenAt: string = new Date().toISOString()): SimDevice[] {
  return profiles.map((p) => ({ deviceId: p.deviceId, name: p.deviceId, ...ENTRIES[p.deviceId], versionIds: p.versionIds, lastSeenAt }))
}

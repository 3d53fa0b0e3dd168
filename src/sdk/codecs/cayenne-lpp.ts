/**
 * Cayenne LPP, The Things Stack's built-in formatter type, in the server's output shape: one key per
 * value named `<type>_<channel>` (`temperature_1`, `accelerometer_3: { x, y, z }`,
 * `gps_4: { latitude, longitude, altitude }`). Downlinks are `value_<channel>` keys, each sent as the
 * channel and a signed 16-bit value × 100, as the server's encoder does. Our own code, so it runs in
 * Node without a sandbox.
 */
import type {
  Codec,
  DecodeResult,
  DownlinkDecodeInput,
  DownlinkEncodeInput,
  EncodeResult,
  NormalizeResult,
  RawRun,
  Routine,
  UplinkInput,
} from './types'

interface LppType {
  key: string
  size: number
  read(b: ArrayLike<number>, at: number): unknown
}

const u16 = (b: ArrayLike<number>, i: number) => (b[i] << 8) | b[i + 1]
const s16 = (b: ArrayLike<number>, i: number) => (u16(b, i) << 16) >> 16
const s24 = (b: ArrayLike<number>, i: number) => (((b[i] << 16) | (b[i + 1] << 8) | b[i + 2]) << 8) >> 8
const xyz = (b: ArrayLike<number>, i: number, div: number) => ({
  x: s16(b, i) / div,
  y: s16(b, i + 2) / div,
  z: s16(b, i + 4) / div,
})

/** The IPSO-based types of the Cayenne LPP specification, by type byte. */
export const LPP_TYPES: ReadonlyMap<number, LppType> = new Map<number, LppType>([
  [0, { key: 'digital_in', size: 1, read: (b, i) => b[i] }],
  [1, { key: 'digital_out', size: 1, read: (b, i) => b[i] }],
  [2, { key: 'analog_in', size: 2, read: (b, i) => s16(b, i) / 100 }],
  [3, { key: 'analog_out', size: 2, read: (b, i) => s16(b, i) / 100 }],
  [101, { key: 'luminosity', size: 2, read: (b, i) => u16(b, i) }],
  [102, { key: 'presence', size: 1, read: (b, i) => b[i] }],
  [103, { key: 'temperature', size: 2, read: (b, i) => s16(b, i) / 10 }],
  [104, { key: 'relative_humidity', size: 1, read: (b, i) => b[i] / 2 }],
  [113, { key: 'accelerometer', size: 6, read: (b, i) => xyz(b, i, 1000) }],
  [115, { key: 'barometric_pressure', size: 2, read: (b, i) => u16(b, i) / 10 }],
  [134, { key: 'gyrometer', size: 6, read: (b, i) => xyz(b, i, 100) }],
  [
    136,
    {
      key: 'gps',
      size: 9,
      read: (b, i) => ({
        latitude: s24(b, i) / 10000,
        longitude: s24(b, i + 3) / 10000,
        altitude: s24(b, i + 6) / 100,
      }),
    },
  ],
])

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`
}

export function decodeLppUplink(bytes: ArrayLike<number>): DecodeResult {
  const data: Record<string, unknown> = {}
  let i = 0
  while (i < bytes.length) {
    if (i + 2 > bytes.length)
      return { warnings: [], errors: [`Cayenne LPP: a channel byte without a type at byte ${i}`] }
    const channel = bytes[i]
    const type = LPP_TYPES.get(bytes[i + 1])
    if (!type)
      return {
        warnings: [],
        errors: [`Cayenne LPP: unknown type ${hex(bytes[i + 1])} at byte ${i + 1} (channel ${channel})`],
      }
    if (i + 2 + type.size > bytes.length) {
      return {
        warnings: [],
        errors: [
          `Cayenne LPP: ${type.key} on channel ${channel} needs ${type.size} bytes, ${bytes.length - i - 2} left`,
        ],
      }
    }
    data[`${type.key}_${channel}`] = type.read(bytes, i + 2)
    i += 2 + type.size
  }
  return { data, warnings: [], errors: [] }
}

export function encodeLppDownlink(data: Record<string, unknown>): EncodeResult {
  const bytes: number[] = []
  const warnings: string[] = []
  for (const [name, value] of Object.entries(data ?? {})) {
    const m = /^value_(\d{1,3})$/.exec(name)
    if (!m || Number(m[1]) > 255) {
      warnings.push(`Cayenne LPP: ${name} is not a value_<channel> key (channel 0-255); not sent`)
      continue
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      return { warnings, errors: [`Cayenne LPP: ${name} must be a number, not ${JSON.stringify(value)}`] }
    }
    const scaled = Math.trunc(value * 100)
    if (scaled < -32768 || scaled > 32767) {
      return { warnings, errors: [`Cayenne LPP: ${name} = ${value} does not fit (from -327.68 to 327.67)`] }
    }
    bytes.push(Number(m[1]), (scaled >> 8) & 0xff, scaled & 0xff)
  }
  return { bytes, warnings, errors: [] }
}

export function decodeLppDownlink(bytes: ArrayLike<number>): DecodeResult {
  if (bytes.length % 3 !== 0)
    return {
      warnings: [],
      errors: [`Cayenne LPP: a downlink is channel + 2 bytes per value; ${bytes.length} bytes is not`],
    }
  const data: Record<string, unknown> = {}
  for (let i = 0; i < bytes.length; i += 3) data[`value_${bytes[i]}`] = s16(bytes, i + 1) / 100
  return { data, warnings: [], errors: [] }
}

export class CayenneLppCodec implements Codec {
  readonly routines: ReadonlySet<Routine> = new Set<Routine>([
    'decodeUplink',
    'encodeDownlink',
    'decodeDownlink',
  ])
  readonly ready: Promise<void> = Promise.resolve()
  constructor(readonly name = 'cayennelpp') {}

  decodeUplink(input: UplinkInput): DecodeResult {
    return decodeLppUplink(input.bytes ?? [])
  }
  encodeDownlink(input: DownlinkEncodeInput): EncodeResult {
    return encodeLppDownlink(input.data)
  }
  decodeDownlink(input: DownlinkDecodeInput): DecodeResult {
    return decodeLppDownlink(input.bytes ?? [])
  }
  normalizeUplink(): NormalizeResult {
    return { warnings: [], errors: ['normalizeUplink: Cayenne LPP has no normalized form'] }
  }
  run(routine: Routine, input: unknown): RawRun {
    const i = input as UplinkInput & DownlinkEncodeInput
    const output =
      routine === 'decodeUplink'
        ? this.decodeUplink(i)
        : routine === 'encodeDownlink'
          ? this.encodeDownlink(i)
          : routine === 'decodeDownlink'
            ? this.decodeDownlink(i)
            : undefined
    return output
      ? { output: JSON.parse(JSON.stringify(output)) }
      : { fault: `the codec has no ${routine} function` }
  }
  close(): void {}
}

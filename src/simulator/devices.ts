// Simulated end devices for the `npm start` demo: they join, then send uplinks every few seconds through
// a TtsBroker, shaped like The Things Stack's (frame counters that restart at a join, a new session key per
// join, one or two gateways with plausible RSSI/SNR, EU868 channels, a spreading factor that follows the
// signal, the air time that goes with it), and with a decoded_payload that matches the bytes, as an
// application's payload formatter would produce it. One device has no formatter, so flows see raw bytes too.

import { randomBytes } from 'node:crypto'
import type { UplinkMessageBody } from '../sdk/messages'
import { defaultUplinkBody, durationString, loraAirtimeSeconds, type RxMetadata } from './messages'
import type { TtsBroker } from './tts-broker'
import { climateProSensor, lppSensor } from './codec-devices'

/** One measurement: the bytes the device sends and what a payload formatter decodes them to. */
export interface Reading {
  bytes: Buffer
  decoded: Record<string, unknown>
}

/** What a simulated device is and how it measures. */
export interface DeviceProfile {
  deviceId: string
  /** FPort of its uplinks. */
  fPort: number
  /** Whether the application decodes its uplinks (decoded_payload present) or leaves the bytes alone. */
  formatter: boolean
  /** RSSI (dBm) at the nearest gateway; each uplink varies around it. */
  rssi: number
  /** Version IDs from the Device Repository, as the server adds them to uplinks. */
  versionIds?: Record<string, string>
  /** The next reading; `random` returns [0, 1). Called once per uplink. */
  read(random: () => number): Reading
}

/** `value` moved by up to ±`step`, kept within [min, max], rounded to `decimals`. */
function drift(
  value: number,
  step: number,
  min: number,
  max: number,
  random: () => number,
  decimals = 2,
): number {
  const next = Math.min(max, Math.max(min, value + (random() * 2 - 1) * step))
  return Number(next.toFixed(decimals))
}

/** Battery percentage that slowly runs down and is replaced at 5 %. */
function drain(battery: number, random: () => number): number {
  const next = battery - (random() < 0.2 ? 1 : 0)
  return next < 5 ? 100 : next
}

/** Temperature (int16 BE, 1/100 °C), relative humidity (uint8 %), battery (uint8 %): 4 bytes. */
export function environmentSensor(
  deviceId: string,
  start = { temperature: 21.5, humidity: 48, battery: 97 },
): DeviceProfile {
  const s = { ...start }
  return {
    deviceId,
    fPort: 1,
    formatter: true,
    rssi: -71,
    versionIds: {
      brand_id: 'sim',
      model_id: 'environment-sensor',
      hardware_version: '1.0',
      firmware_version: '1.2',
      band_id: 'EU_863_870',
    },
    read(random) {
      s.temperature = drift(s.temperature, 0.3, -20, 50, random)
      s.humidity = Math.round(drift(s.humidity, 2, 5, 95, random, 0))
      s.battery = drain(s.battery, random)
      const bytes = Buffer.alloc(4)
      bytes.writeInt16BE(Math.round(s.temperature * 100), 0)
      bytes.writeUInt8(s.humidity, 2)
      bytes.writeUInt8(s.battery, 3)
      return { bytes, decoded: { temperature: s.temperature, humidity: s.humidity, battery: s.battery } }
    },
  }
}

/**
 * Temperature (int16 BE, 1/100 °C) and battery (uint8 %): 3 bytes, and no payload formatter in the
 * application, the layout the function node of example "01 Receive uplinks" decodes by itself.
 */
export function rawTemperatureSensor(
  deviceId: string,
  start = { temperature: 18.2, battery: 64 },
): DeviceProfile {
  const s = { ...start }
  return {
    deviceId,
    fPort: 2,
    formatter: false,
    rssi: -104,
    read(random) {
      s.temperature = drift(s.temperature, 0.2, -20, 50, random)
      s.battery = drain(s.battery, random)
      const bytes = Buffer.alloc(3)
      bytes.writeInt16BE(Math.round(s.temperature * 100), 0)
      bytes.writeUInt8(s.battery, 2)
      // What the bytes mean, for tests; not sent (the application has no formatter).
      return { bytes, decoded: { temperature: s.temperature, battery: s.battery } }
    },
  }
}

/** Door contact: open (uint8 0/1), openings since power-up (uint16 BE), battery (uint8 %): 4 bytes. */
export function doorSensor(
  deviceId: string,
  start = { open: false, openings: 12, battery: 88 },
): DeviceProfile {
  const s = { ...start }
  return {
    deviceId,
    fPort: 3,
    formatter: true,
    rssi: -88,
    versionIds: {
      brand_id: 'sim',
      model_id: 'door-sensor',
      hardware_version: '2.0',
      firmware_version: '3.1',
      band_id: 'EU_863_870',
    },
    read(random) {
      if (random() < 0.3) {
        s.open = !s.open
        if (s.open) s.openings = (s.openings + 1) & 0xffff
      }
      s.battery = drain(s.battery, random)
      const bytes = Buffer.alloc(4)
      bytes.writeUInt8(s.open ? 1 : 0, 0)
      bytes.writeUInt16BE(s.openings, 1)
      bytes.writeUInt8(s.battery, 3)
      return { bytes, decoded: { open: s.open, openings: s.openings, battery: s.battery } }
    },
  }
}

/**
 * The demo's devices. `my-device` and `other-device` are the IDs the example flows use (the uplink
 * node for one device, the downlink node and its "another device" button).
 */
export function demoDevices(): DeviceProfile[] {
  return [
    environmentSensor('my-device'),
    rawTemperatureSensor('other-device'),
    doorSensor('front-door'),
    // No formatter in the application: decoded in Node-RED (example 05, src/simulator/codec-devices.ts).
    climateProSensor('climate-pro-1'),
    lppSensor('lpp-sensor'),
  ]
}

/**
 * For TtsBroker's `missesConfirmed`: the device misses its 1st, (n+1)th, (2n+1)th ... confirmed
 * downlink (every other one for n = 2: a first attempt is nacked, its retry acknowledged). Only the
 * listed devices miss any, when a list is given.
 */
export function missEvery(n: number, deviceIds?: readonly string[]): (deviceId: string, nth: number) => boolean {
  if (!Number.isInteger(n) || n < 1) throw new Error(`missEvery: n must be a whole number of 1 or more, got ${n}`)
  return (deviceId, nth) => (!deviceIds || deviceIds.includes(deviceId)) && (nth - 1) % n === 0
}

const GATEWAYS = [
  { gateway_id: 'sim-gateway-roof', eui: 'B827EBFFFE000001' },
  { gateway_id: 'sim-gateway-basement', eui: 'B827EBFFFE000002' },
]
/** The IDs of the simulated gateways that hear the devices (the nearer one first). */
export const SIM_GATEWAY_IDS: readonly string[] = GATEWAYS.map((g) => g.gateway_id)
/** The eight default EU868 uplink channels, by channel index. */
const EU868_CHANNELS_HZ = [
  868100000, 868300000, 868500000, 867100000, 867300000, 867500000, 867700000, 867900000,
]

/** The spreading factor adaptive data rate would settle on for a signal this strong. */
function spreadingFactor(rssi: number): number {
  if (rssi > -95) return 7
  if (rssi > -105) return 8
  if (rssi > -112) return 9
  return 10
}

export interface DeviceSimulatorOptions {
  broker: TtsBroker
  /** The application's MQTT username on the broker, for example `demo-app@ttn`. */
  username: string
  /** Default: demoDevices(). */
  devices?: DeviceProfile[]
  /** Time between two uplinks of one device (±10 % jitter). Default 6 s. */
  intervalMs?: number
  /** Chance, before each uplink, that the device joins again (new session, frame counter from 0). Default 0.02. */
  rejoinChance?: number
  /** Default Math.random; tests pass a seeded one. */
  random?: () => number
  /** Called when publishing fails (only while the broker stops). Default: ignore. */
  onError?: (err: Error) => void

  // ---- Health scenarios (device health and gateway status): all off unless set.
  /** Devices that stop sending for a while (nothing transmitted, the counter stays), once or repeating. */
  silences?: DeviceSilence[]
  /** Chance that an uplink is sent but reaches no gateway: its counter is used, nothing is published. Default 0. */
  lossChance?: number
  /** Chance, before an uplink, that the device restarts its counter without a join (an ABP device rebooting). Default 0. */
  resetChance?: number
  /** Whether a gateway is on the air now; an uplink heard by no gateway that is on the air is lost. Default: all are. */
  gatewayOnline?: (gatewayId: string) => boolean
  /** Told of every gateway that forwarded an uplink (a Gateway Server stand-in counts them). */
  onGatewayUplink?: (gatewayId: string) => void
}

/** A device that sends nothing from `afterMs` after start() for `forMs`, again every `everyMs` when set. */
export interface DeviceSilence {
  deviceId: string
  afterMs: number
  forMs: number
  everyMs?: number
}

/** True when `silence` keeps its device quiet `elapsedMs` after the start. */
export function inSilence(silence: DeviceSilence, elapsedMs: number): boolean {
  const t = elapsedMs - silence.afterMs
  if (t < 0) return false
  const phase = silence.everyMs && silence.everyMs > 0 ? t % silence.everyMs : t
  return phase < silence.forMs
}

interface DeviceState {
  profile: DeviceProfile
  fCnt: number
  sessionKeyId: string
}

/** Drives a set of simulated devices: each joins, then sends uplinks until stop(). */
export class DeviceSimulator {
  /** What was published so far, for tests and the demo's log. */
  readonly counts = { joins: 0, uplinks: 0, lost: 0, resets: 0, silentTicks: 0 }
  private readonly devices: DeviceState[]
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly intervalMs: number
  private readonly rejoinChance: number
  private readonly random: () => number
  private readonly applicationId: string
  private readonly tenant: string | null
  private running = false
  private startedAt = 0

  constructor(private readonly opts: DeviceSimulatorOptions) {
    this.devices = (opts.devices ?? demoDevices()).map((profile) => ({ profile, fCnt: 0, sessionKeyId: '' }))
    this.intervalMs = opts.intervalMs ?? 6000
    this.rejoinChance = opts.rejoinChance ?? 0.02
    this.random = opts.random ?? Math.random
    const [applicationId, tenant] = opts.username.split('@')
    this.applicationId = applicationId
    this.tenant = tenant ?? null
    if (!(this.intervalMs > 0))
      throw new Error(`DeviceSimulator: intervalMs must be a positive number, got ${opts.intervalMs}`)
  }

  /** Each device joins (spread over the first interval), sends its first uplink a second later, then keeps going. */
  start(): void {
    if (this.running) return
    this.running = true
    this.startedAt = Date.now()
    const spacing = Math.min(1000, this.intervalMs / Math.max(1, this.devices.length))
    this.devices.forEach((d, i) => {
      this.later(i * spacing, async () => {
        await this.join(d)
        this.later(Math.min(1000, this.intervalMs / 2), () => this.tick(d))
      })
    })
  }

  /** No more joins or uplinks; timers cleared. The broker is left running. */
  stop(): void {
    this.running = false
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  private later(ms: number, fn: () => void | Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (!this.running) return
      Promise.resolve(fn()).catch((err: Error) => this.opts.onError?.(err))
    }, ms)
    this.timers.add(timer)
  }

  private async tick(d: DeviceState): Promise<void> {
    const jitter = 1 + (this.random() * 2 - 1) * 0.1
    this.later(this.intervalMs * jitter, () => this.tick(d))
    if (this.silenced(d.profile.deviceId)) {
      this.counts.silentTicks++
      return
    }
    if (this.random() < this.rejoinChance) await this.join(d)
    // A restart right after frame 0 would only repeat frame 0: counted as a reset when the count had moved on.
    if (this.opts.resetChance && this.random() < this.opts.resetChance && d.fCnt > 1) {
      d.fCnt = 0
      this.counts.resets++
    }
    await this.uplink(d)
  }

  private silenced(deviceId: string): boolean {
    const silences = this.opts.silences
    if (!silences) return false
    const elapsed = Date.now() - this.startedAt
    return silences.some((x) => x.deviceId === deviceId && inSilence(x, elapsed))
  }

  private async join(d: DeviceState): Promise<void> {
    d.fCnt = 0
    d.sessionKeyId = randomBytes(16).toString('base64')
    this.counts.joins++
    await this.opts.broker.publishEvent(this.opts.username, d.profile.deviceId, 'join', {
      session_key_id: d.sessionKeyId,
    })
  }

  private async uplink(d: DeviceState): Promise<void> {
    const { profile } = d
    const reading = profile.read(this.random)
    const body: Partial<UplinkMessageBody> = {
      ...this.radio(profile, reading.bytes.length, d.fCnt),
      session_key_id: d.sessionKeyId,
      f_port: profile.fPort,
      f_cnt: d.fCnt,
      frm_payload: reading.bytes.toString('base64'),
    }
    if (profile.formatter) body.decoded_payload = reading.decoded
    if (profile.versionIds) body.version_ids = profile.versionIds
    d.fCnt++
    // Health scenarios: lost on the air, or heard only by gateways that are on the air.
    const { gatewayOnline, lossChance, onGatewayUplink } = this.opts
    if (gatewayOnline && body.rx_metadata) body.rx_metadata = body.rx_metadata.filter((m) => gatewayOnline(String(m.gateway_ids?.gateway_id)))
    if ((lossChance && this.random() < lossChance) || body.rx_metadata?.length === 0) {
      this.counts.lost++
      return
    }
    if (onGatewayUplink) for (const m of body.rx_metadata ?? []) onGatewayUplink(String(m.gateway_ids?.gateway_id))
    this.counts.uplinks++
    await this.opts.broker.publishUplink(this.opts.username, profile.deviceId, body)
  }

  /** rx_metadata (one or both gateways), settings and air time of one uplink. */
  private radio(profile: DeviceProfile, length: number, fCnt: number): Partial<UplinkMessageBody> {
    const base = defaultUplinkBody({
      applicationId: this.applicationId,
      deviceId: profile.deviceId,
      fCnt,
      tenant: this.tenant,
    })
    const template = (base.rx_metadata?.[0] ?? {}) as RxMetadata
    const channel = Math.floor(this.random() * EU868_CHANNELS_HZ.length)
    const rssi = Math.round(profile.rssi + (this.random() * 2 - 1) * 4)
    const snr = (r: number) => Number(Math.min(10, (r + 115) / 2 + (this.random() * 2 - 1)).toFixed(1))
    const rx: RxMetadata[] = [
      {
        ...template,
        gateway_ids: GATEWAYS[0],
        rssi,
        channel_rssi: rssi,
        snr: snr(rssi),
        channel_index: channel,
      },
    ]
    // The farther gateway hears the device about half the time, 15-25 dB weaker.
    if (this.random() < 0.5) {
      const far = rssi - 15 - Math.round(this.random() * 10)
      rx.push({
        ...template,
        gateway_ids: GATEWAYS[1],
        rssi: far,
        channel_rssi: far,
        snr: snr(far),
        channel_index: channel,
        uplink_token: randomBytes(24).toString('base64'),
      })
    }
    const sf = spreadingFactor(rssi)
    return {
      rx_metadata: rx,
      settings: {
        ...base.settings,
        data_rate: { lora: { bandwidth: 125000, spreading_factor: sf, coding_rate: '4/5' } },
        frequency: String(EU868_CHANNELS_HZ[channel]),
      },
      consumed_airtime: durationString(loraAirtimeSeconds(length, sf)),
    }
  }
}

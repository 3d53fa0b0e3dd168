/**
 * The messages every scenario uses: The Things Stack v3 uplinks built from the official example
 * (test/fixtures/tts-v3/up.json), one per simulated device, serialised once, about 1.5 KB each.
 *
 * Each carries a fixed-width publish timestamp as its first correlation ID ("bench:t:" + 20 digits of
 * process.hrtime in ns, all zeros when not timed), so timed and untimed messages have the same size
 * and the latency scenario can read the publish time at arrival. process.hrtime is CLOCK_MONOTONIC on
 * Linux: one clock shared by every process on the machine.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const APP_ID = 'bench'
export const TENANT = 'ttn'
/** The topic root a ttn-app with appId "bench" and tenant "ttn" subscribes under. */
export const TOPIC_ROOT = `v3/${APP_ID}@${TENANT}`
export const UPLINK_FILTER = `${TOPIC_ROOT}/devices/+/up`
export const PUBLISHER_ID = 'bench-publisher'
/** Messages smaller than this get more gateways in rx_metadata, as uplinks heard by several gateways do. */
export const TARGET_BYTES = 1500

const STAMP_PREFIX = 'bench:t:'
const STAMP_DIGITS = 20
const STAMP_ZERO = '0'.repeat(STAMP_DIGITS)

/** This file runs from dist/bench/; the fixture stays in the source tree. */
export const FIXTURE = join(__dirname, '..', '..', 'test', 'fixtures', 'tts-v3', 'up.json')

export function deviceId(i: number): string {
  return `dev-${i}`
}

export function uplinkTopic(i: number): string {
  return `${TOPIC_ROOT}/devices/${deviceId(i)}/up`
}

export function downlinkTopic(i: number): string {
  return `${TOPIC_ROOT}/devices/${deviceId(i)}/down/replace`
}

type Json = Record<string, unknown>

function loadFixture(): Json {
  try {
    return JSON.parse(readFileSync(FIXTURE, 'utf8')) as Json
  } catch (err) {
    throw new Error(
      `The benchmark builds its uplinks from ${FIXTURE} and could not read it (${(err as Error).message}). The file is part of the repository: restore it with git checkout.`,
    )
  }
}

/** One uplink of device i as a JSON object, with the timestamp placeholder. */
export function uplinkObject(i: number): Json {
  const msg = loadFixture()
  const ids = msg.end_device_ids as Json
  ids.device_id = deviceId(i)
  ;(ids.application_ids as Json).application_id = APP_ID
  msg.correlation_ids = [`${STAMP_PREFIX}${STAMP_ZERO}`, ...(msg.correlation_ids as string[])]
  const up = msg.uplink_message as Json
  const rx = up.rx_metadata as Json[]
  const template = rx[0]
  for (let g = 2; JSON.stringify(msg).length < TARGET_BYTES; g++) {
    rx.push({
      ...template,
      gateway_ids: {
        gateway_id: `gtw${g}`,
        eui: (0x9c5c8e00001a05c4n + BigInt(g)).toString(16).toUpperCase(),
      },
      rssi: -60 - g,
      channel_rssi: -60 - g,
      snr: 7 - g,
    })
  }
  return msg
}

/** Serialised uplinks split around the timestamp digits, so a timed copy costs one concat. */
export interface UplinkTemplate {
  topic: string
  /** The whole message with a zero timestamp. */
  untimed: Buffer
  head: Buffer
  tail: Buffer
}

export function uplinkTemplates(devices: number): UplinkTemplate[] {
  const out: UplinkTemplate[] = []
  for (let i = 0; i < devices; i++) {
    const text = JSON.stringify(uplinkObject(i))
    const at = text.indexOf(STAMP_PREFIX) + STAMP_PREFIX.length
    out.push({
      topic: uplinkTopic(i),
      untimed: Buffer.from(text),
      head: Buffer.from(text.slice(0, at)),
      tail: Buffer.from(text.slice(at + STAMP_DIGITS)),
    })
  }
  return out
}

export function timedUplink(t: UplinkTemplate, nowNs: bigint): Buffer {
  return Buffer.concat([t.head, Buffer.from(nowNs.toString().padStart(STAMP_DIGITS, '0')), t.tail])
}

/** The publish time (hrtime ns) a parsed uplink carries, or undefined for an untimed one. */
export function publishTimeNs(message: unknown): bigint | undefined {
  const ids = (message as { correlation_ids?: unknown } | undefined)?.correlation_ids
  const first = Array.isArray(ids) ? ids[0] : undefined
  if (typeof first !== 'string' || !first.startsWith(STAMP_PREFIX)) return undefined
  const ns = BigInt(first.slice(STAMP_PREFIX.length))
  return ns === 0n ? undefined : ns
}

/** The body of one downlink as ttn-downlink publishes it (payload 01 02 03 04, port 1, unconfirmed). */
export function downlinkBody(correlationId: string): string {
  return JSON.stringify({
    downlinks: [
      {
        f_port: 1,
        frm_payload: 'AQIDBA==',
        confirmed: false,
        priority: 'NORMAL',
        correlation_ids: [correlationId],
      },
    ],
  })
}

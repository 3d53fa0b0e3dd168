// Builders for the JSON messages The Things Stack (v3) and the retired TTN v2 handler publish over MQTT.
// They follow the server's JSON rules (see the MQTT Server page of The Things Stack docs): snake_case, zero/false/empty values
// omitted, int64 as strings, bytes as padded base64, upper-case hex EUIs, RFC 3339 timestamps with
// nanoseconds. Clients tested against these messages must therefore cope with missing fields, as they must
// with the real server.

import type { UplinkMessageBody } from '../sdk/messages'
import { V3_BODY_KEY } from '../sdk/topics'
import { createHash, randomBytes } from 'node:crypto'

/** Events the simulator can publish, as the topic suffix after `v3/{uid}/devices/{dev}/`. */
export type SimEvent =
  | 'join'
  | 'down/queued'
  | 'down/sent'
  | 'down/ack'
  | 'down/nack'
  | 'down/failed'
  | 'down/invalidated'
  | 'location/solved'
  | 'service/data'
  | 'up/normalized'

/** The JSON key that carries the body, per topic suffix: the SDK's table (tts-mqtt.md). */
export const EVENT_BODY_KEYS: Readonly<Record<SimEvent | 'up', string>> = V3_BODY_KEY

export interface ApplicationIds {
  application_id: string
}

export interface EndDeviceIds {
  device_id: string
  application_ids: ApplicationIds
  dev_eui?: string
  join_eui?: string
  dev_addr?: string
}

export interface RxMetadata {
  gateway_ids: { gateway_id: string; eui?: string }
  time?: string
  timestamp?: number
  rssi?: number
  channel_rssi?: number
  snr?: number
  uplink_token?: string
  channel_index?: number
  received_at?: string
  [key: string]: unknown
}

/** The uplink body and its settings are the SDK's types: one definition of the server's JSON. */
export type { TxSettings as UplinkSettings, UplinkMessageBody } from '../sdk/messages'

/** A downlink as the server echoes it in down/queued, sent, ack, nack and inside down/failed. */
export interface DownlinkMessageBody {
  session_key_id?: string
  f_port?: number
  f_cnt?: number
  frm_payload?: string
  decoded_payload?: Record<string, unknown>
  confirmed?: boolean
  priority?: string
  correlation_ids?: string[]
  class_b_c?: Record<string, unknown>
  confirmed_retry?: Record<string, unknown>
  [key: string]: unknown
}

/** The `error` of a down/failed body (an errors.Error of the server, as JSON). */
export interface ServerError {
  namespace: string
  name: string
  message_format: string
  correlation_id: string
  code: number
  attributes?: Record<string, unknown>
}

/** Any message published by the simulator: a JSON object. */
export type SimMessage = Record<string, unknown>

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** A ULID (26 characters, Crockford base32, time-ordered), as the server uses in correlation IDs. */
export function ulid(time: number = Date.now()): string {
  let t = Math.max(0, Math.floor(time))
  let timePart = ''
  for (let i = 0; i < 10; i++) {
    timePart = CROCKFORD[t % 32] + timePart
    t = Math.floor(t / 32)
  }
  // 80 random bits = 16 base32 characters, 5 bits each.
  const bytes = randomBytes(10)
  let bits = 0n
  for (const b of bytes) bits = (bits << 8n) | BigInt(b)
  let randPart = ''
  for (let i = 0; i < 16; i++) {
    randPart = CROCKFORD[Number(bits & 31n)] + randPart
    bits >>= 5n
  }
  return timePart + randPart
}

// Date has millisecond precision; the server prints nanoseconds. Take the sub-millisecond digits from the
// monotonic clock so consecutive timestamps differ, as real ones do.
/** RFC 3339 UTC timestamp with 9 fractional digits, like `2020-02-12T15:15:46.014773143Z`. */
export function rfc3339Nano(date: Date = new Date()): string {
  const iso = date.toISOString() // 2020-02-12T15:15:46.014Z
  const subMs = Number(process.hrtime.bigint() % 1_000_000n)
  return `${iso.slice(0, 23)}${String(subMs).padStart(6, '0')}Z`
}

/** RFC 3339 with milliseconds, as gateways report `time`. */
export function rfc3339Milli(date: Date = new Date()): string {
  return date.toISOString()
}

function digest(...parts: string[]): Buffer {
  return createHash('sha256').update(parts.join('\u0000')).digest()
}

/**
 * Deterministic identifiers for a device: the same device ID always gets the same DevEUI, so tests can
 * predict it. DevEUI uses the TTN-style 70B3D57ED0 prefix, DevAddr the 260B (TTN EU) prefix; all devices
 * share one JoinEUI, as devices of one manufacturer often do.
 */
export function deviceIdentifiers(deviceId: string): { dev_eui: string; join_eui: string; dev_addr: string } {
  const h = digest('dev', deviceId)
  return {
    dev_eui: ('70B3D57ED0' + h.subarray(0, 3).toString('hex')).toUpperCase(),
    join_eui: '70B3D57ED0000000',
    dev_addr: ('260B' + h.subarray(3, 5).toString('hex')).toUpperCase(),
  }
}

/** Deterministic session key ID (16 bytes, base64) for a device, stable across messages like a real session. */
export function sessionKeyId(applicationId: string, deviceId: string): string {
  return digest('skid', applicationId, deviceId).subarray(0, 16).toString('base64')
}

export function endDeviceIds(applicationId: string, deviceId: string, withEuis = true): EndDeviceIds {
  const ids: EndDeviceIds = { device_id: deviceId, application_ids: { application_id: applicationId } }
  return withEuis ? { ...ids, ...deviceIdentifiers(deviceId) } : ids
}

// Keys whose values are user JSON (payload formatter output, attributes): the server passes them through
// unchanged, so zero values inside them are kept.
const OPAQUE_KEYS = new Set([
  'decoded_payload',
  'normalized_payload',
  'attributes',
  'payload_fields',
  'data',
  'location',
])

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v)
}

function isZero(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    v === 0 ||
    v === false ||
    v === '' ||
    (Array.isArray(v) && v.length === 0)
  )
}

/**
 * Drops zero, false, empty and null values recursively, as the server's JSON marshaler does (proto3
 * omits defaults). User JSON under decoded_payload and similar keys is left untouched.
 */
export function omitZero<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => omitZero(v)) as T
  if (!isPlainObject(value)) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (isZero(v)) continue
    out[k] = OPAQUE_KEYS.has(k) ? v : omitZero(v)
  }
  return out as T
}

/** Correlation IDs of a real uplink: one per component that handled it. */
export function uplinkCorrelationIds(): string[] {
  return [
    `as:up:${ulid()}`,
    `gs:conn:${ulid()}`,
    `gs:uplink:${ulid()}`,
    `ns:uplink:${ulid()}`,
    `rpc:/ttn.lorawan.v3.GsNs/HandleUplink:${ulid()}`,
  ]
}

/**
 * LoRa time on air in seconds for an uplink of `frmPayloadLength` application bytes (13 bytes of LoRaWAN
 * overhead), explicit header, CRC on, 8-symbol preamble: the Semtech formula the server uses.
 */
export function loraAirtimeSeconds(
  frmPayloadLength: number,
  spreadingFactor = 7,
  bandwidth = 125000,
  codingRateDenominator = 5,
): number {
  const pl = frmPayloadLength + 13
  const tSym = 2 ** spreadingFactor / bandwidth
  const de = spreadingFactor >= 11 && bandwidth === 125000 ? 1 : 0
  const num = 8 * pl - 4 * spreadingFactor + 28 + 16
  const payloadSymbols =
    8 + Math.max(Math.ceil(num / (4 * (spreadingFactor - 2 * de))) * codingRateDenominator, 0)
  return (8 + 4.25 + payloadSymbols) * tSym
}

/** A duration as the server's JSON prints it: seconds with a trailing `s`, no trailing zeros. */
export function durationString(seconds: number): string {
  return `${Number(seconds.toFixed(9))}s`
}

function envelope(ids: EndDeviceIds, correlationIds: string[], bodyKey: string, body: unknown): SimMessage {
  return {
    end_device_ids: ids,
    correlation_ids: correlationIds,
    received_at: rfc3339Nano(),
    [bodyKey]: body,
  }
}

export interface UplinkContext {
  applicationId: string
  deviceId: string
  /** Frame counter to put in the message (0 is omitted, as on a device's first uplink after a join). */
  fCnt: number
  /** Tenant used in network_ids (absent on Open Source style deployments). */
  tenant?: string | null
}

/** The default uplink_message the simulator sends, before the caller's fields are merged over it. */
export function defaultUplinkBody(ctx: UplinkContext): UplinkMessageBody {
  const now = new Date()
  const payload = Buffer.from([0x01, 0x0a, ctx.fCnt & 0xff])
  const receivedAt = rfc3339Nano(now)
  const concentratorTimestamp = (Date.now() * 1000) % 2 ** 32
  const gatewayTime = rfc3339Milli(new Date(now.getTime() - 2))
  return {
    session_key_id: sessionKeyId(ctx.applicationId, ctx.deviceId),
    f_port: 1,
    f_cnt: ctx.fCnt,
    frm_payload: payload.toString('base64'),
    rx_metadata: [
      {
        gateway_ids: { gateway_id: 'sim-gateway', eui: 'B827EBFFFE000001' },
        time: gatewayTime,
        timestamp: concentratorTimestamp,
        rssi: -57,
        channel_rssi: -57,
        snr: 9.25,
        uplink_token: randomBytes(24).toString('base64'),
        channel_index: 0,
        received_at: receivedAt,
      },
    ],
    settings: {
      data_rate: { lora: { bandwidth: 125000, spreading_factor: 7, coding_rate: '4/5' } },
      frequency: '868100000',
      timestamp: concentratorTimestamp,
      time: gatewayTime,
    },
    received_at: receivedAt,
    consumed_airtime: durationString(loraAirtimeSeconds(payload.length)),
    network_ids: omitZero({
      net_id: '000013',
      tenant_id: ctx.tenant ?? '',
      cluster_id: 'eu1',
      cluster_address: 'eu1.cloud.thethings.network',
    }),
  }
}

/**
 * A full v3 uplink message. The caller's partial fields replace the defaults key by key (shallow), then
 * zero values are dropped like the server would. consumed_airtime follows a caller-supplied frm_payload.
 */
export function buildUplink(ctx: UplinkContext, partial: Partial<UplinkMessageBody> = {}): SimMessage {
  const body: UplinkMessageBody = { ...defaultUplinkBody(ctx), ...partial }
  if (partial.frm_payload !== undefined && partial.consumed_airtime === undefined) {
    body.consumed_airtime = durationString(
      loraAirtimeSeconds(Buffer.from(partial.frm_payload, 'base64').length),
    )
  }
  return envelope(
    endDeviceIds(ctx.applicationId, ctx.deviceId),
    uplinkCorrelationIds(),
    EVENT_BODY_KEYS.up,
    omitZero(body),
  )
}

/** A server `as:downlink:<ULID>` correlation ID, one per downlink item. */
export function downlinkCorrelationId(): string {
  return `as:downlink:${ulid()}`
}

/** Correlation ID of an error instance, as in the fixture (32 hex digits). */
export function errorCorrelationId(): string {
  return randomBytes(16).toString('hex')
}

/** Errors the simulator reports in down/failed (names, namespaces and codes of the real server). */
export const SERVER_ERRORS = {
  application_downlink_too_long: {
    namespace: 'pkg/networkserver',
    name: 'application_downlink_too_long',
    message_format: 'application downlink payload is too long',
    code: 3,
  },
  no_f_port: { namespace: 'pkg/applicationserver', name: 'no_f_port', message_format: 'no FPort', code: 3 },
  no_payload: {
    namespace: 'pkg/applicationserver',
    name: 'no_payload',
    message_format: 'no payload',
    code: 3,
  },
} as const

export function serverError(
  name: keyof typeof SERVER_ERRORS,
  attributes?: Record<string, unknown>,
): ServerError {
  const e: ServerError = { ...SERVER_ERRORS[name], correlation_id: errorCorrelationId() }
  return attributes ? { ...e, attributes } : e
}

/** Sorted, de-duplicated union: the envelope's correlation_ids in the fixtures are sorted. */
function mergeCorrelationIds(...lists: (readonly string[] | undefined)[]): string[] {
  return [...new Set(lists.flatMap((l) => l ?? []))].sort()
}

/** down/queued, down/sent, down/ack or down/nack for one downlink item (body as the server echoes it). */
export function buildDownlinkEvent(
  applicationId: string,
  deviceId: string,
  event: 'down/queued' | 'down/sent' | 'down/ack' | 'down/nack',
  downlink: DownlinkMessageBody,
): SimMessage {
  const body = omitZero(downlink)
  const extra = event === 'down/ack' || event === 'down/nack' ? uplinkCorrelationIds() : []
  return envelope(
    endDeviceIds(applicationId, deviceId),
    mergeCorrelationIds(body.correlation_ids, extra),
    EVENT_BODY_KEYS[event],
    body,
  )
}

/** down/failed: `{downlink, error}`; the envelope carries the downlink's correlation IDs (see fixture). */
export function buildDownlinkFailed(
  applicationId: string,
  deviceId: string,
  downlink: DownlinkMessageBody,
  error: ServerError,
): SimMessage {
  const dl = omitZero(downlink)
  return envelope(
    endDeviceIds(applicationId, deviceId, false),
    mergeCorrelationIds(dl.correlation_ids),
    EVENT_BODY_KEYS['down/failed'],
    { downlink: dl, error },
  )
}

function defaultDownlink(applicationId: string, deviceId: string, confirmed: boolean): DownlinkMessageBody {
  return {
    session_key_id: sessionKeyId(applicationId, deviceId),
    f_port: 1,
    f_cnt: 1,
    frm_payload: 'AQ==',
    confirmed,
    priority: 'NORMAL',
    correlation_ids: [downlinkCorrelationId()],
  }
}

/**
 * Any v3 event with a realistic default body; `body` is merged (shallow) over the default. Use it for the
 * events that the broker does not produce itself (join, location/solved, ...) or to fake a downlink outcome.
 */
export function buildEvent(
  applicationId: string,
  deviceId: string,
  event: SimEvent,
  body: Record<string, unknown> = {},
  tenant?: string | null,
): SimMessage {
  const now = rfc3339Nano()
  switch (event) {
    case 'join':
      return envelope(endDeviceIds(applicationId, deviceId), uplinkCorrelationIds(), EVENT_BODY_KEYS.join, {
        ...omitZero({ session_key_id: sessionKeyId(applicationId, deviceId), received_at: now }),
        ...body,
      })
    case 'down/queued':
    case 'down/sent':
    case 'down/ack':
    case 'down/nack':
      return buildDownlinkEvent(applicationId, deviceId, event, {
        ...defaultDownlink(applicationId, deviceId, event === 'down/ack' || event === 'down/nack'),
        ...body,
      })
    case 'down/failed': {
      const downlink = isPlainObject(body.downlink)
        ? (body.downlink as DownlinkMessageBody)
        : { ...defaultDownlink(applicationId, deviceId, false), session_key_id: undefined, f_cnt: undefined }
      const error = isPlainObject(body.error)
        ? (body.error as unknown as ServerError)
        : serverError('application_downlink_too_long')
      return buildDownlinkFailed(applicationId, deviceId, downlink, error)
    }
    case 'down/invalidated':
      return envelope(
        endDeviceIds(applicationId, deviceId),
        [`as:downlink:${ulid()}`],
        EVENT_BODY_KEYS[event],
        {
          downlinks: [omitZero(defaultDownlink(applicationId, deviceId, false))],
          last_f_cnt_down: 5,
          session_key_id: sessionKeyId(applicationId, deviceId),
          ...body,
        },
      )
    case 'location/solved':
      return envelope(endDeviceIds(applicationId, deviceId), uplinkCorrelationIds(), EVENT_BODY_KEYS[event], {
        service: 'frm-payload',
        location: { latitude: 52.3676, longitude: 4.9041, altitude: 2, accuracy: 10, source: 'SOURCE_GPS' },
        ...body,
      })
    case 'service/data':
      return envelope(endDeviceIds(applicationId, deviceId), uplinkCorrelationIds(), EVENT_BODY_KEYS[event], {
        service: 'lora-cloud-device-management-v1-port-200',
        data: { result: { deveui: deviceIdentifiers(deviceId).dev_eui } },
        ...body,
      })
    case 'up/normalized': {
      const up = defaultUplinkBody({ applicationId, deviceId, fCnt: 1, tenant })
      return envelope(endDeviceIds(applicationId, deviceId), uplinkCorrelationIds(), EVENT_BODY_KEYS[event], {
        ...omitZero(up),
        normalized_payload: { air: { temperature: 21.5, relativeHumidity: 48 } },
        ...body,
      })
    }
  }
}

// ---- TTN v2 (legacy) -------------------------------------------------------------------------------

/** A v2 uplink (`{app}/devices/{dev}/up`), shaped like test/fixtures/ttn-v2/up.json plus the IDs. */
export function buildV2Uplink(
  applicationId: string,
  deviceId: string,
  counter: number,
  partial: Partial<UplinkMessageBody> = {},
): SimMessage {
  const payload = partial.frm_payload ?? Buffer.from([0x01, 0x0a, counter & 0xff]).toString('base64')
  const now = new Date()
  const msg: SimMessage = {
    app_id: applicationId,
    dev_id: deviceId,
    hardware_serial: deviceIdentifiers(deviceId).dev_eui,
    port: partial.f_port ?? 1,
    // v2 always printed the counter, even 0.
    counter: partial.f_cnt ?? counter,
    confirmed: partial.confirmed ?? false,
    payload_raw: payload,
    payload_fields: partial.decoded_payload,
    metadata: {
      time: rfc3339Nano(now),
      frequency: 868.1,
      modulation: 'LORA',
      data_rate: 'SF7BW125',
      coding_rate: '4/5',
      airtime: Math.round(loraAirtimeSeconds(Buffer.from(payload, 'base64').length) * 1e9),
      gateways: [
        {
          gtw_id: 'sim-gateway',
          eui: 'B827EBFFFE000001',
          timestamp: (Date.now() * 1000) % 2 ** 32,
          time: rfc3339Milli(now),
          channel: 0,
          rssi: -57,
          snr: 9.25,
          rf_chain: 0,
        },
      ],
    },
  }
  const out = omitZero(msg)
  out.counter = msg.counter
  return out
}

/** v2 event topic suffix (after `{app}/devices/{dev}/`) for a v3 event name, where v2 had one. */
export const V2_EVENT_TOPICS: Readonly<Partial<Record<SimEvent, string>>> = {
  join: 'events/activations',
  'down/queued': 'events/down/scheduled',
  'down/sent': 'events/down/sent',
  'down/ack': 'events/down/acks',
  'down/failed': 'events/down/errors',
}

/** Body of a v2 event; `body` is merged (shallow) over the default. */
export function buildV2Event(
  applicationId: string,
  deviceId: string,
  event: SimEvent,
  body: Record<string, unknown> = {},
): SimMessage {
  const ids = deviceIdentifiers(deviceId)
  if (event === 'join') {
    return {
      app_eui: ids.join_eui,
      dev_eui: ids.dev_eui,
      dev_addr: ids.dev_addr,
      metadata: {
        time: rfc3339Nano(),
        frequency: 868.1,
        modulation: 'LORA',
        data_rate: 'SF7BW125',
        coding_rate: '4/5',
        gateways: [
          { eui: 'B827EBFFFE000001', timestamp: (Date.now() * 1000) % 2 ** 32, rssi: -57, snr: 9.25 },
        ],
      },
      ...body,
    }
  }
  if (event === 'down/failed') {
    return { app_id: applicationId, dev_id: deviceId, error: 'downlink failed', ...body }
  }
  return omitZero({ app_id: applicationId, dev_id: deviceId, port: 1, payload_raw: 'AQ==', ...body })
}

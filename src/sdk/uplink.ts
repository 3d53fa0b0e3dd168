/**
 * What everyone needs from an uplink, for v3 and v2 alike: payload bytes, counter, port,
 * frequency as a number, the best gateway. Pure functions over the parsed message.
 */
import type { RxMetadata, UplinkMessage, V2UplinkMessage, V3UplinkMessage } from './messages'

export function isV3Uplink(msg: unknown): msg is V3UplinkMessage {
  return !!msg && typeof msg === 'object' && typeof (msg as V3UplinkMessage).uplink_message === 'object' && (msg as V3UplinkMessage).uplink_message !== null
}

/** The application payload as bytes (empty when the uplink carried none). */
export function payloadBytes(msg: UplinkMessage): Buffer {
  const b64 = isV3Uplink(msg) ? msg.uplink_message.frm_payload : (msg as V2UplinkMessage).payload_raw
  return typeof b64 === 'string' ? Buffer.from(b64, 'base64') : Buffer.alloc(0)
}

/** The payload formatter's output, when the application has one and it succeeded. */
export function decodedPayload(msg: UplinkMessage): Record<string, unknown> | undefined {
  const d = isV3Uplink(msg) ? msg.uplink_message.decoded_payload : (msg as V2UplinkMessage).payload_fields
  return d && typeof d === 'object' ? d : undefined
}

/** The frame counter; the server omits it when it is 0 (the first uplink). */
export function frameCounter(msg: UplinkMessage): number {
  const n = isV3Uplink(msg) ? msg.uplink_message.f_cnt : (msg as V2UplinkMessage).counter
  return typeof n === 'number' ? n : 0
}

/** The FPort; 0 (omitted by the server) means a MAC-only frame. */
export function fPort(msg: UplinkMessage): number {
  const n = isV3Uplink(msg) ? msg.uplink_message.f_port : (msg as V2UplinkMessage).port
  return typeof n === 'number' ? n : 0
}

export function deviceIdOf(msg: UplinkMessage): string | undefined {
  const id = isV3Uplink(msg) ? msg.end_device_ids?.device_id : (msg as V2UplinkMessage).dev_id
  return typeof id === 'string' ? id : undefined
}

export function devEuiOf(msg: UplinkMessage): string | undefined {
  const id = isV3Uplink(msg) ? msg.end_device_ids?.dev_eui : (msg as V2UplinkMessage).hardware_serial
  return typeof id === 'string' ? id : undefined
}

/** Uplink frequency in Hz, as a number (v3 sends a string in Hz, v2 a number in MHz). */
export function frequencyHz(msg: UplinkMessage): number | undefined {
  if (isV3Uplink(msg)) {
    const f = msg.uplink_message.settings?.frequency
    const n = typeof f === 'string' || typeof f === 'number' ? Number(f) : Number.NaN
    return Number.isFinite(n) ? n : undefined
  }
  const mhz = (msg as V2UplinkMessage).metadata?.frequency
  return typeof mhz === 'number' ? Math.round(mhz * 1e6) : undefined
}

/** Coding rate from wherever this server version put it. */
export function codingRate(msg: UplinkMessage): string | undefined {
  if (isV3Uplink(msg)) {
    const s = msg.uplink_message.settings
    return s?.data_rate?.lora?.coding_rate ?? s?.coding_rate
  }
  return (msg as V2UplinkMessage).metadata?.coding_rate
}

/** When the server received the uplink. */
export function receivedAt(msg: UplinkMessage): string | undefined {
  if (isV3Uplink(msg)) return msg.received_at ?? msg.uplink_message.received_at
  return (msg as V2UplinkMessage).metadata?.time
}

export interface GatewayReception {
  gatewayId?: string
  eui?: string
  rssi?: number
  snr?: number
}

/** Is reception `g` better than `best`: higher RSSI, or the same RSSI and a higher SNR. */
function betterReception(g: GatewayReception, best: GatewayReception | undefined): boolean {
  if (!best) return true
  const NONE = Number.NEGATIVE_INFINITY
  if ((g.rssi ?? NONE) > (best.rssi ?? NONE)) return true
  return (g.rssi ?? 0) === (best.rssi ?? 0) && (g.snr ?? NONE) > (best.snr ?? NONE)
}

/** The gateway that heard the device best (highest RSSI, then SNR). */
export function bestGateway(msg: UplinkMessage): GatewayReception | undefined {
  let best: GatewayReception | undefined
  if (isV3Uplink(msg)) {
    const rx = msg.uplink_message.rx_metadata
    if (!Array.isArray(rx)) return undefined
    for (const m of rx as RxMetadata[]) {
      if (!m || typeof m !== 'object') continue
      const g: GatewayReception = {
        gatewayId: m.gateway_ids?.gateway_id,
        eui: m.gateway_ids?.eui,
        rssi: typeof m.rssi === 'number' ? m.rssi : typeof m.channel_rssi === 'number' ? m.channel_rssi : undefined,
        snr: typeof m.snr === 'number' ? m.snr : undefined,
      }
      if (betterReception(g, best)) best = g
    }
  } else {
    const gws = (msg as V2UplinkMessage).metadata?.gateways
    if (!Array.isArray(gws)) return undefined
    for (const m of gws) {
      if (!m || typeof m !== 'object') continue
      const g: GatewayReception = { gatewayId: m.gtw_id, eui: m.eui, rssi: m.rssi, snr: m.snr }
      if (betterReception(g, best)) best = g
    }
  }
  return best
}

/** Everything a flow author reaches for, in one flat object. */
export interface UplinkSummary {
  deviceId?: string
  devEui?: string
  applicationId?: string
  port: number
  counter: number
  bytes: Buffer
  decoded?: Record<string, unknown>
  receivedAt?: string
  frequency?: number
  rssi?: number
  snr?: number
  gatewayId?: string
}

export function summarizeUplink(msg: UplinkMessage): UplinkSummary {
  const gw = bestGateway(msg)
  return {
    deviceId: deviceIdOf(msg),
    devEui: devEuiOf(msg),
    applicationId: isV3Uplink(msg) ? msg.end_device_ids?.application_ids?.application_id : (msg as V2UplinkMessage).app_id,
    port: fPort(msg),
    counter: frameCounter(msg),
    bytes: payloadBytes(msg),
    decoded: decodedPayload(msg),
    receivedAt: receivedAt(msg),
    frequency: frequencyHz(msg),
    rssi: gw?.rssi,
    snr: gw?.snr,
    gatewayId: gw?.gatewayId,
  }
}

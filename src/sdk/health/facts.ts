/**
 * What the health tracker needs from one uplink, read into a reused scratch object so the uplink path
 * allocates nothing: frame counter, session, reception (best gateway, number of gateways), spreading
 * factor, when the network received it. v3 messages, and v2 ones for the legacy mode.
 */
import type { RxMetadata, UplinkMessage, V2UplinkMessage, V3UplinkMessage } from '../messages'

export interface UplinkFacts {
  fCnt: number
  /** The session's key ID: a new one means the device joined again, even when the join event was missed. */
  sessionKey: string | undefined
  /** The network's received_at (RFC 3339), as sent. */
  receivedAt: string | undefined
  devEui: string | undefined
  /** Gateways that heard it (0 when the message lists none). */
  gateways: number
  /** Of the gateway with the best reception (highest RSSI, then SNR); NaN when unknown. */
  rssi: number
  snr: number
  gatewayId: string | undefined
  /** Spreading factor (LoRa); NaN when unknown (FSK, or not reported). */
  spreadingFactor: number
}

export function emptyFacts(): UplinkFacts {
  return {
    fCnt: 0,
    sessionKey: undefined,
    receivedAt: undefined,
    devEui: undefined,
    gateways: 0,
    rssi: Number.NaN,
    snr: Number.NaN,
    gatewayId: undefined,
    spreadingFactor: Number.NaN,
  }
}

/** Fill `out` from `msg`; returns false when the message is not an uplink this tracker can read. */
export function readUplinkFacts(msg: UplinkMessage, out: UplinkFacts): boolean {
  if (!msg || typeof msg !== 'object') return false
  const up = (msg as V3UplinkMessage).uplink_message
  if (up && typeof up === 'object') {
    out.fCnt = typeof up.f_cnt === 'number' ? up.f_cnt : 0 // the server omits a counter of 0
    out.sessionKey = typeof up.session_key_id === 'string' ? up.session_key_id : undefined
    const at = (msg as V3UplinkMessage).received_at ?? up.received_at
    out.receivedAt = typeof at === 'string' ? at : undefined
    const eui = (msg as V3UplinkMessage).end_device_ids?.dev_eui
    out.devEui = typeof eui === 'string' ? eui : undefined
    const sf = up.settings?.data_rate?.lora?.spreading_factor
    out.spreadingFactor = typeof sf === 'number' ? sf : Number.NaN
    readReceptions(up.rx_metadata, out, false)
    return true
  }
  const v2 = msg as V2UplinkMessage
  if (typeof v2.dev_id !== 'string' && typeof v2.counter !== 'number') return false
  out.fCnt = typeof v2.counter === 'number' ? v2.counter : 0
  out.sessionKey = undefined
  out.receivedAt = typeof v2.metadata?.time === 'string' ? v2.metadata.time : undefined
  out.devEui = typeof v2.hardware_serial === 'string' ? v2.hardware_serial : undefined
  const dr = v2.metadata?.data_rate
  const m = typeof dr === 'string' ? /^SF(\d+)/.exec(dr) : null
  out.spreadingFactor = m ? Number(m[1]) : Number.NaN
  readReceptions(v2.metadata?.gateways, out, true)
  return true
}

function readReceptions(list: unknown, out: UplinkFacts, v2: boolean): void {
  out.gateways = 0
  out.rssi = Number.NaN
  out.snr = Number.NaN
  out.gatewayId = undefined
  if (!Array.isArray(list)) return
  for (let i = 0; i < list.length; i++) {
    const m = list[i] as RxMetadata & { gtw_id?: string }
    if (!m || typeof m !== 'object') continue
    out.gateways++
    const rssi = typeof m.rssi === 'number' ? m.rssi : typeof m.channel_rssi === 'number' ? m.channel_rssi : Number.NaN
    const snr = typeof m.snr === 'number' ? m.snr : Number.NaN
    // Same rule as bestGateway() in uplink.ts: higher RSSI, or the same RSSI and a higher SNR.
    const better =
      out.gateways === 1 ||
      (!Number.isNaN(rssi) && (Number.isNaN(out.rssi) || rssi > out.rssi || (rssi === out.rssi && snr > out.snr)))
    if (better) {
      out.rssi = rssi
      out.snr = snr
      out.gatewayId = v2 ? m.gtw_id : m.gateway_ids?.gateway_id
    }
  }
}

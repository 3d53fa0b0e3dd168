/**
 * The JSON messages of The Things Stack v3 and the TTN v2 handler, as TypeScript types.
 * Every field is optional: the server omits fields whose value is zero, empty or false, and new
 * fields appear with new server versions, so unknown keys are allowed everywhere.
 */

export interface ApplicationIdentifiers {
  application_id?: string
}
export interface EndDeviceIdentifiers {
  device_id?: string
  application_ids?: ApplicationIdentifiers
  dev_eui?: string
  join_eui?: string
  dev_addr?: string
  [key: string]: unknown
}
export interface GatewayIdentifiers {
  gateway_id?: string
  eui?: string
}
export interface Location {
  latitude?: number
  longitude?: number
  altitude?: number
  accuracy?: number
  source?: string
}
export interface RxMetadata {
  gateway_ids?: GatewayIdentifiers
  time?: string
  timestamp?: number
  rssi?: number
  channel_rssi?: number
  signal_rssi?: number
  snr?: number
  location?: Location
  uplink_token?: string
  channel_index?: number
  received_at?: string
  [key: string]: unknown
}
export interface LoRaDataRate {
  bandwidth?: number
  spreading_factor?: number
  coding_rate?: string
}
export interface TxSettings {
  data_rate?: { lora?: LoRaDataRate; fsk?: { bit_rate?: number }; [key: string]: unknown }
  /** Older servers put the coding rate here; newer ones under data_rate.lora. */
  coding_rate?: string
  /** Hz, as a string (64-bit integers are strings in The Things Stack's JSON). */
  frequency?: string
  timestamp?: number
  time?: string
  [key: string]: unknown
}
export interface UplinkMessageBody {
  session_key_id?: string
  f_port?: number
  f_cnt?: number
  /** base64 */
  frm_payload?: string
  decoded_payload?: Record<string, unknown>
  decoded_payload_warnings?: string[]
  normalized_payload?: Record<string, unknown>[]
  rx_metadata?: RxMetadata[]
  settings?: TxSettings
  received_at?: string
  confirmed?: boolean
  consumed_airtime?: string
  locations?: Record<string, Location>
  version_ids?: Record<string, string>
  network_ids?: Record<string, string>
  attributes?: Record<string, string>
  [key: string]: unknown
}

export interface DownlinkItem {
  f_port?: number
  f_cnt?: number
  frm_payload?: string
  decoded_payload?: Record<string, unknown>
  confirmed?: boolean
  priority?: Priority
  correlation_ids?: string[]
  session_key_id?: string
  class_b_c?: { gateways?: unknown[]; absolute_time?: string }
  confirmed_retry?: { max_attempts?: number }
  [key: string]: unknown
}
export interface DownlinkFailedBody {
  downlink?: DownlinkItem
  error?: { namespace?: string; name?: string; message_format?: string; code?: number; [key: string]: unknown }
}

/** The envelope every v3 message shares. */
export interface V3Envelope {
  end_device_ids?: EndDeviceIdentifiers
  correlation_ids?: string[]
  received_at?: string
  simulated?: boolean
  [key: string]: unknown
}
export interface V3UplinkMessage extends V3Envelope {
  uplink_message: UplinkMessageBody
}
export interface V3JoinMessage extends V3Envelope {
  join_accept?: { session_key_id?: string; received_at?: string; [key: string]: unknown }
}
export interface V3DownlinkEventMessage extends V3Envelope {
  downlink_queued?: DownlinkItem
  downlink_sent?: DownlinkItem
  downlink_ack?: DownlinkItem
  downlink_nack?: DownlinkItem
  downlink_failed?: DownlinkFailedBody
  downlink_queue_invalidated?: { downlinks?: DownlinkItem[]; last_f_cnt_down?: number }
}
export interface V3LocationSolvedMessage extends V3Envelope {
  location_solved?: { service?: string; location?: Location; [key: string]: unknown }
}
export interface V3ServiceDataMessage extends V3Envelope {
  service_data?: { service?: string; data?: Record<string, unknown> }
}
export interface V3NormalizedUplinkMessage extends V3Envelope {
  uplink_normalized?: Record<string, unknown>
}

export type V3DownlinkRequest = { downlinks: DownlinkItem[] }

export interface V2Gateway {
  gtw_id?: string
  eui?: string
  timestamp?: number
  time?: string
  channel?: number
  rssi?: number
  snr?: number
  rf_chain?: number
  [key: string]: unknown
}
export interface V2UplinkMessage {
  app_id?: string
  dev_id?: string
  hardware_serial?: string
  port?: number
  counter?: number
  confirmed?: boolean
  is_retry?: boolean
  payload_raw?: string
  payload_fields?: Record<string, unknown>
  metadata?: {
    time?: string
    frequency?: number
    modulation?: string
    data_rate?: string
    coding_rate?: string
    airtime?: number
    gateways?: V2Gateway[]
    [key: string]: unknown
  }
  [key: string]: unknown
}
export interface V2DownlinkRequest {
  port: number
  confirmed: boolean
  payload_raw?: string
  payload_fields?: Record<string, unknown>
  schedule: 'replace' | 'first' | 'last'
}

/** What an uplink callback receives: the parsed JSON, v3 or v2 depending on the client's API. */
export type UplinkMessage = V3UplinkMessage | V2UplinkMessage

export const PRIORITIES = ['LOWEST', 'LOW', 'BELOW_NORMAL', 'NORMAL', 'ABOVE_NORMAL', 'HIGH', 'HIGHEST'] as const
export type Priority = (typeof PRIORITIES)[number]

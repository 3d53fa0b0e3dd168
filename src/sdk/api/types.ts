/** The JSON shapes of The Things Stack's HTTP API that this package reads (shared/reference/tts-api.md). */
import type { DownlinkItem, Location } from '../messages'

export interface AuthInfoApiKey {
  id?: string
  name?: string
  rights?: string[]
  created_at?: string
  updated_at?: string
  expires_at?: string
}

export interface EntityIds {
  application_ids?: { application_id: string }
  user_ids?: { user_id: string }
  organization_ids?: { organization_id: string }
  gateway_ids?: { gateway_id: string }
  client_ids?: { client_id: string }
}

/** `GET /api/v3/auth_info` (the secret is never in it). */
export interface AuthInfo {
  api_key?: { api_key?: AuthInfoApiKey; entity_ids?: EntityIds }
  oauth_access_token?: { rights?: string[]; user_ids?: { user_id: string }; expires_at?: string }
  universal_rights?: { rights?: string[] }
  is_admin?: boolean
}


export interface VersionIds {
  brand_id?: string
  model_id?: string
  hardware_version?: string
  firmware_version?: string
  band_id?: string
}

/** An end device as the Identity Server returns it: only the fields asked for in field_mask, zero values omitted. */
export interface EndDevice {
  ids: {
    device_id: string
    application_ids?: { application_id: string }
    dev_eui?: string
    join_eui?: string
  }
  created_at?: string
  updated_at?: string
  name?: string
  description?: string
  attributes?: Record<string, string>
  locations?: Record<string, Location>
  version_ids?: VersionIds
  last_seen_at?: string
  application_server_address?: string
  network_server_address?: string
  join_server_address?: string
}

/**
 * One downlink of a device's queue (`GET .../down`), as the Application Server keeps it: the same
 * items as the MQTT `{"downlinks":[...]}` body and the server's down/* events (messages.ts).
 */
export type QueuedDownlink = DownlinkItem

/** The registry fields ttn-uplink's *Add device details* puts on `msg.device` (the field mask it reads). */
export const DEVICE_DETAIL_FIELDS = ['name', 'description', 'attributes', 'locations', 'version_ids'] as const
export type DeviceDetailField = (typeof DEVICE_DETAIL_FIELDS)[number]

export type { DownlinkItem, Location }

/**
 * What the Gateway Server's connection statistics say about a gateway: online, offline (not
 * connected: 404, or left out of a batch answer), or connected on paper but stale. The Gateway Server
 * keeps a UDP gateway "connected" for 3 minutes after its last PULL_DATA (gs.udp connection-expires,
 * lorawan-stack pkg/gatewayserver/io/udp DefaultConfig), and a Semtech packet forwarder sends a status
 * every 30 s; so statistics whose newest status and uplink are older than that are stale: the gateway
 * is counted offline although the server still lists it.
 */
import { ID_PATTERN, MAX_ID_LENGTH } from '../address'

/** GatewayConnectionStats (api/ttn/lorawan/v3/gateway.proto); every field optional, timestamps RFC 3339. */
export interface GatewayConnectionStats {
  connected_at?: string
  disconnected_at?: string
  protocol?: string
  last_status_received_at?: string
  last_status?: Record<string, unknown>
  last_uplink_received_at?: string
  uplink_count?: string | number
  last_downlink_received_at?: string
  downlink_count?: string | number
  last_tx_acknowledgment_received_at?: string
  tx_acknowledgment_count?: string | number
  round_trip_times?: { min?: string; max?: string; median?: string; count?: number }
  sub_bands?: Array<{ min_frequency?: string; max_frequency?: string; downlink_utilization_limit?: number; downlink_utilization?: number }>
  gateway_remote_address?: { ip?: string }
  [key: string]: unknown
}

/** The Gateway Server keeps a silent UDP gateway connected this long (default of gs.udp.connection-expires). */
export const DEFAULT_STALE_AFTER_MS = 3 * 60_000

export type OfflineReason = 'not-connected' | 'stale'

export interface GatewayState {
  online: boolean
  reason?: OfflineReason
  /** The newest of last_status_received_at and last_uplink_received_at (ISO 8601), when known. */
  lastSeen?: string
  /** How old that was at the server's clock when it answered (s). */
  lastSeenAge?: number
}

/**
 * Judge one gateway. `stats` undefined: the server says not connected. `serverNow`: the server's
 * clock (its Date header) when it answered, so a skewed local clock cannot make fresh stats look stale.
 */
export function judgeGateway(stats: GatewayConnectionStats | undefined, serverNow: number, staleAfterMs = DEFAULT_STALE_AFTER_MS): GatewayState {
  if (!stats) return { online: false, reason: 'not-connected' }
  const candidates = [stats.last_status_received_at, stats.last_uplink_received_at]
  let newest: string | undefined
  let newestMs = Number.NEGATIVE_INFINITY
  for (const c of candidates) {
    const ms = typeof c === 'string' ? Date.parse(c) : Number.NaN
    if (ms > newestMs) {
      newestMs = ms
      newest = c
    }
  }
  if (newest === undefined) {
    // Connected and never a status or an uplink (a gateway that just connected, or a protocol without
    // status messages): the connection is all we know.
    return { online: true }
  }
  const age = Math.max(0, serverNow - newestMs)
  const state: GatewayState = { online: age <= staleAfterMs, lastSeen: new Date(newestMs).toISOString(), lastSeenAge: Math.round(age / 100) / 10 }
  if (!state.online) state.reason = 'stale'
  return state
}

/** What is wrong with a gateway ID, or undefined. */
export function gatewayIdProblem(id: string): string | undefined {
  if (id.length > MAX_ID_LENGTH) return `The gateway ID "${id}" is ${id.length} characters long; at most ${MAX_ID_LENGTH} are allowed.`
  if (!ID_PATTERN.test(id)) {
    return `The gateway ID "${id}" is not valid: use the gateway's ID as the Console shows it (lower-case letters, digits and single dashes, 3 to 36 characters), not its EUI.`
  }
  return undefined
}

/** Gateway IDs from a list or a text separated by commas, spaces or new lines; duplicates dropped. Throws on a bad one. */
export function parseGatewayIds(value: string | string[] | undefined): string[] {
  const parts = (Array.isArray(value) ? value : String(value ?? '').split(/[\s,;]+/)).map((s) => s.trim()).filter((s) => s !== '')
  if (parts.length === 0) throw new Error('No gateway ID given: enter the IDs of the gateways to watch, as the Console shows them, separated by commas.')
  const ids = [...new Set(parts)]
  for (const id of ids) {
    const problem = gatewayIdProblem(id)
    if (problem) throw new Error(problem)
  }
  return ids
}

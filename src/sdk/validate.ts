/**
 * Everything `send` checks before a byte is published: nothing malformed may reach the broker,
 * because The Things Stack answers most malformed downlinks with silence (or, on down/replace,
 * by wiping the device's queue).
 */
import { idProblem } from './address'
import { ValidationError } from './errors'
import { applicationPort, MAX_PORT, MIN_PORT } from './fport'
import { PRIORITIES, type Priority } from './messages'
import { type PayloadFormat, type EncodedPayload, encodePayload } from './payload'
import type { Api } from './topics'
import { type ClassBCBody, validateClassBC } from './downlinks/class-bc'

export const MAX_PAYLOAD_BYTES = 255
export { MIN_PORT, MAX_PORT }

/** `next-uplink` holds the downlink until the device's next uplink (src/sdk/downlinks/retrying-send.ts). */
export type Schedule = 'replace' | 'last' | 'push' | 'first' | 'next-uplink'

export interface DownlinkRequest {
  deviceId: string
  payload: EncodedPayload
  port: number
  confirmed: boolean
  /** Normalised: v3 'push' | 'replace'; v2 'replace' | 'first' | 'last'. */
  schedule: 'push' | 'replace' | 'first' | 'last'
  priority: Priority
  /** Class B/C transmission (v3 `class_b_c`), when asked for. */
  classBC?: ClassBCBody
}

export function validateDeviceId(deviceId: unknown, api: Api): string {
  const problem = idProblem('device', deviceId, api)
  if (problem) throw new ValidationError(problem, 'deviceId')
  return deviceId as string
}

export function validatePort(port: unknown): number {
  const n = applicationPort(port)
  if (n === undefined) {
    throw new ValidationError(
      `Invalid FPort ${JSON.stringify(port)}: LoRaWAN application ports are whole numbers from ${MIN_PORT} to ${MAX_PORT} ` +
        '(0 is for MAC commands, 224 is the test port, 225-255 are reserved).',
      'port',
    )
  }
  return n
}

export function validateConfirmed(confirmed: unknown): boolean {
  if (confirmed === undefined || confirmed === null) return false
  if (typeof confirmed === 'boolean') return confirmed
  if (confirmed === 'true') return true
  if (confirmed === 'false') return false
  throw new ValidationError(`Invalid "confirmed" value ${JSON.stringify(confirmed)}: use true or false.`, 'confirmed')
}

export function validateSchedule(schedule: unknown, api: Api): DownlinkRequest['schedule'] {
  const s = schedule === undefined || schedule === null || schedule === '' ? 'replace' : String(schedule).trim().toLowerCase()
  if (api === 'v3') {
    if (s === 'replace') return 'replace'
    if (s === 'last' || s === 'push') return 'push'
    if (s === 'first') {
      throw new ValidationError(
        'Schedule "first" does not exist in The Things Stack v3: the downlink queue cannot be jumped. ' +
          'Use "replace" to replace the queue with this downlink, or "last" (push) to append it.',
        'schedule',
      )
    }
  } else {
    if (s === 'replace' || s === 'first' || s === 'last') return s
    if (s === 'push') return 'last'
  }
  throw new ValidationError(
    `Unknown schedule ${JSON.stringify(schedule)}: use "replace", "last" (alias "push")${api === 'v2' ? ', "first"' : ''} or "next-uplink".`,
    'schedule',
  )
}

export function validatePriority(priority: unknown): Priority {
  if (priority === undefined || priority === null || priority === '') return 'NORMAL'
  const p = String(priority).trim().toUpperCase()
  if ((PRIORITIES as readonly string[]).includes(p)) return p as Priority
  throw new ValidationError(`Unknown priority ${JSON.stringify(priority)}: use one of ${PRIORITIES.join(', ')}.`, 'priority')
}

export interface SendInput {
  deviceId: unknown
  payload: unknown
  port?: unknown
  confirmed?: unknown
  schedule?: unknown
  priority?: unknown
  payloadFormat?: PayloadFormat
  classBC?: unknown
}

/** Validate and normalise one downlink; throws a ValidationError that says what to change. */
export function validateDownlink(input: SendInput, api: Api): DownlinkRequest {
  const deviceId = validateDeviceId(input.deviceId, api)
  const port = validatePort(input.port ?? 1)
  const confirmed = validateConfirmed(input.confirmed)
  const schedule = validateSchedule(input.schedule, api)
  const priority = validatePriority(input.priority)
  const payload = encodePayload(input.payload, input.payloadFormat ?? 'auto')
  if (payload.kind === 'bytes' && payload.bytes.length === 0) {
    // The server reads an empty frm_payload as "no payload" and fails the downlink (no_payload).
    throw new ValidationError(
      'The payload is empty (0 bytes): The Things Stack fails a downlink that carries neither bytes nor a decoded payload. Send at least one byte.',
      'payload',
    )
  }
  if (payload.kind === 'bytes' && payload.bytes.length > MAX_PAYLOAD_BYTES) {
    throw new ValidationError(
      `The payload is ${payload.bytes.length} bytes; a LoRaWAN downlink carries at most ${MAX_PAYLOAD_BYTES} ` +
        '(and far fewer at low data rates, e.g. 51 bytes at EU868 DR0-2).',
      'payload',
    )
  }
  const request: DownlinkRequest = { deviceId, payload, port, confirmed, schedule, priority }
  if (input.classBC !== undefined && input.classBC !== null) {
    if (api !== 'v3') throw new ValidationError('Class B/C downlinks (classBC) need The Things Stack (v3): the TTN v2 API had no such field.', 'classBC')
    request.classBC = validateClassBC(input.classBC)
  }
  return request
}

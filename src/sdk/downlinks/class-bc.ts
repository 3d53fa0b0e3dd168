/**
 * Class B and C downlinks: which gateways transmit, and when. The Things Stack takes them as `class_b_c`
 * in the downlink body (`{gateways: [{gateway_ids: {gateway_id}, antenna_index, group_index}],
 * absolute_time}`); a multicast group is a device there, so a downlink to a group takes the same field.
 * Checked here before anything is published: the server drops a downlink with a malformed class_b_c
 * without a word, and fails one whose absolute time has passed (expired_downlink).
 */
import { idProblem } from '../address'
import { ValidationError } from '../errors'

/** One gateway to transmit from (a multicast downlink needs at least one). */
export interface ClassBCGateway {
  /** Gateway ID as in the Console (`my-gateway`). */
  id: string
  /** Antenna of the gateway (default 0). */
  antennaIndex?: number
  /** Gateway group, for gateways with several radios (default 0). */
  groupIndex?: number
}

/** `msg.classBC` / `SendOptions.classBC`. */
export interface ClassBC {
  gateways?: ClassBCGateway[]
  /** When to transmit: an RFC 3339 time with a time zone (`2026-12-01T10:33:00Z`) or a Date; must be in the future. */
  absoluteTime?: string | Date
}

/** The `class_b_c` field of a v3 downlink, as the server reads it. */
export interface ClassBCBody {
  gateways?: { gateway_ids: { gateway_id: string }; antenna_index?: number; group_index?: number }[]
  absolute_time?: string
}

/** At most this many gateways: more is a mistake, not a plan (the server tries them in order). */
export const MAX_CLASS_BC_GATEWAYS = 100
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/
const UINT32_MAX = 0xffffffff

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function index(value: unknown, name: string, at: string): number | undefined {
  if (value === undefined || value === null) return undefined
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > UINT32_MAX) {
    throw new ValidationError(`classBC: ${at}.${name} is ${JSON.stringify(value)}; use a whole number from 0 (the first).`, 'classBC')
  }
  return n
}

function gatewayBody(g: unknown, at: string): NonNullable<ClassBCBody['gateways']>[number] {
  const gateway = typeof g === 'string' ? { id: g } : g
  if (!isPlainObject(gateway)) {
    throw new ValidationError(`classBC: ${at} is ${JSON.stringify(g)}; give { id: "my-gateway" } (antennaIndex and groupIndex optional).`, 'classBC')
  }
  const problem = idProblem('gateway', gateway.id)
  if (problem) throw new ValidationError(`classBC: ${at}: ${problem}`, 'classBC')
  const out: NonNullable<ClassBCBody['gateways']>[number] = { gateway_ids: { gateway_id: gateway.id as string } }
  const antenna = index(gateway.antennaIndex, 'antennaIndex', at)
  const group = index(gateway.groupIndex, 'groupIndex', at)
  // Zero values are left out, as the server writes them.
  if (antenna) out.antenna_index = antenna
  if (group) out.group_index = group
  return out
}

function absoluteTime(value: unknown, now: number): string {
  let text: string
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new ValidationError('classBC.absoluteTime is an invalid Date.', 'classBC')
    text = value.toISOString()
  } else if (typeof value === 'string' && RFC3339.test(value.trim()) && !Number.isNaN(Date.parse(value.trim()))) {
    text = value.trim()
  } else {
    throw new ValidationError(
      `classBC.absoluteTime is ${JSON.stringify(value)}: give an RFC 3339 time with a time zone, such as "2026-12-01T10:33:00Z", or a Date.`,
      'classBC',
    )
  }
  if (Date.parse(text) <= now) {
    throw new ValidationError(
      `classBC.absoluteTime ${text} is not in the future: The Things Stack fails such a downlink (expired_downlink). Leave it out to send as soon as possible.`,
      'classBC',
    )
  }
  return text
}

/** Validate `classBC` and turn it into the body's `class_b_c`; undefined when not given. Throws a ValidationError that says what to change. */
export function validateClassBC(input: unknown, now = Date.now()): ClassBCBody | undefined {
  if (input === undefined || input === null) return undefined
  if (!isPlainObject(input)) {
    throw new ValidationError(`classBC is ${JSON.stringify(input)}; give an object { gateways: [{ id }], absoluteTime }.`, 'classBC')
  }
  for (const key of Object.keys(input)) {
    if (key !== 'gateways' && key !== 'absoluteTime') {
      throw new ValidationError(`classBC.${key} is not a class B/C setting: use gateways and absoluteTime.`, 'classBC')
    }
  }
  const body: ClassBCBody = {}
  if (input.gateways !== undefined) {
    const list = input.gateways
    if (!Array.isArray(list) || list.length === 0) {
      throw new ValidationError('classBC.gateways must be a non-empty list of { id, antennaIndex?, groupIndex? } (or be left out).', 'classBC')
    }
    if (list.length > MAX_CLASS_BC_GATEWAYS) throw new ValidationError(`classBC.gateways has ${list.length} gateways; at most ${MAX_CLASS_BC_GATEWAYS}.`, 'classBC')
    body.gateways = list.map((g, i) => gatewayBody(g, `gateways[${i}]`))
  }
  if (input.absoluteTime !== undefined) body.absolute_time = absoluteTime(input.absoluteTime, now)
  if (!body.gateways && !body.absolute_time) {
    throw new ValidationError('classBC is empty: give gateways, absoluteTime or both, or leave classBC out.', 'classBC')
  }
  return body
}

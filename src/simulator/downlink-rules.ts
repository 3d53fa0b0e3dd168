// The rules The Things Stack applies to a downlink published on `v3/{uid}/devices/{dev}/down/push|replace`.
// Two views of the same body:
// - downlinkViolations(): strict, human-readable list of everything a well-behaved client should not send.
//   Tests assert "zero violations" at the broker, so it is deliberately stricter than the server (unknown
//   keys, unpadded base64, reserved FPorts are flagged although the server lets some of them through).
// - parseDownlinkBody(): what the server itself does, so the simulator answers like it: either the body is
//   unparseable (silently dropped: nothing comes back) or it yields a list of items (maybe empty).
// Pure functions, no I/O: usable from client-side code to validate before publishing.

export const PRIORITIES = [
  'LOWEST',
  'LOW',
  'BELOW_NORMAL',
  'NORMAL',
  'ABOVE_NORMAL',
  'HIGH',
  'HIGHEST',
] as const
export type DownlinkPriority = (typeof PRIORITIES)[number]

/** Item keys of ttn.lorawan.v3.ApplicationDownlink a client may set. */
const ITEM_KEYS = new Set([
  'f_port',
  'frm_payload',
  'decoded_payload',
  'priority',
  'confirmed',
  'correlation_ids',
  'class_b_c',
  'confirmed_retry',
  'session_key_id',
])
/** Top-level keys: the official example (fixture down-push-request.json) also carries end_device_ids. */
const TOP_KEYS = new Set(['downlinks', 'end_device_ids'])

export const MAX_CORRELATION_ID_LENGTH = 100
/** Schema limit of frm_payload; the real limit depends on region and data rate (51 at EU868 DR0). */
export const MAX_FRM_PAYLOAD_BYTES = 255

const PADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
// Go's protojson accepts standard or URL alphabet, with or without padding.
const LENIENT_BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Decodes base64 as the server's JSON parser does (std or URL alphabet, padding optional), else undefined. */
export function decodeBase64Lenient(s: string): Buffer | undefined {
  if (!LENIENT_BASE64.test(s)) return undefined
  const body = s.replace(/=+$/, '')
  if (body.length % 4 === 1) return undefined
  // Padding, when present, must complete the last quantum.
  if (body.length !== s.length && s.length % 4 !== 0) return undefined
  return Buffer.from(body.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`
  return `${typeof v} ${typeof v === 'object' ? '' : JSON.stringify(v)}`.trim()
}

function itemViolations(item: unknown, at: string): string[] {
  if (!isPlainObject(item)) return [`${at} must be an object, got ${describe(item)}`]
  const v: string[] = []
  for (const key of Object.keys(item)) {
    if (!ITEM_KEYS.has(key)) v.push(`${at}.${key} is not a v3 downlink field (the server ignores it)`)
  }
  const hasDecoded = item.decoded_payload !== undefined
  const fPort = item.f_port
  if (fPort === undefined || fPort === 0) {
    if (!hasDecoded) {
      v.push(`${at}.f_port is ${fPort === 0 ? '0' : 'missing'}: the server answers down/failed no_f_port`)
    }
  } else if (typeof fPort !== 'number' || !Number.isInteger(fPort)) {
    v.push(`${at}.f_port must be an integer, got ${describe(fPort)}`)
  } else if (fPort < 1 || fPort > 223) {
    v.push(`${at}.f_port ${fPort} is outside 1..223 (224 is the LoRaWAN test port, 225-255 are reserved)`)
  }
  if (item.frm_payload !== undefined) {
    const p = item.frm_payload
    if (typeof p !== 'string') {
      v.push(`${at}.frm_payload must be a base64 string, got ${describe(p)}`)
    } else if (!PADDED_BASE64.test(p)) {
      const hint = /^[0-9a-fA-F]+$/.test(p) ? ' (looks like hex: frm_payload is base64)' : ''
      v.push(`${at}.frm_payload is not valid padded base64${hint}`)
    } else if (Buffer.from(p, 'base64').length > MAX_FRM_PAYLOAD_BYTES) {
      v.push(`${at}.frm_payload decodes to more than ${MAX_FRM_PAYLOAD_BYTES} bytes`)
    }
  }
  if (hasDecoded && !isPlainObject(item.decoded_payload)) {
    v.push(`${at}.decoded_payload must be a JSON object, got ${describe(item.decoded_payload)}`)
  }
  if (item.frm_payload === undefined && !hasDecoded) {
    v.push(`${at} needs frm_payload (base64) or decoded_payload (object)`)
  }
  if (item.priority !== undefined && !PRIORITIES.includes(item.priority as DownlinkPriority)) {
    v.push(`${at}.priority must be one of ${PRIORITIES.join(', ')}, got ${describe(item.priority)}`)
  }
  if (item.confirmed !== undefined && typeof item.confirmed !== 'boolean') {
    v.push(`${at}.confirmed must be a boolean, got ${describe(item.confirmed)}`)
  }
  if (item.correlation_ids !== undefined) {
    const ids = item.correlation_ids
    if (!Array.isArray(ids)) {
      v.push(`${at}.correlation_ids must be an array of strings, got ${describe(ids)}`)
    } else {
      ids.forEach((id, i) => {
        if (typeof id !== 'string') {
          v.push(`${at}.correlation_ids[${i}] must be a string, got ${describe(id)}`)
        } else if (id.length > MAX_CORRELATION_ID_LENGTH) {
          v.push(`${at}.correlation_ids[${i}] is ${id.length} characters (max ${MAX_CORRELATION_ID_LENGTH})`)
        }
      })
    }
  }
  for (const key of ['class_b_c', 'confirmed_retry'] as const) {
    if (item[key] !== undefined && !isPlainObject(item[key])) {
      v.push(`${at}.${key} must be an object, got ${describe(item[key])}`)
    }
  }
  if (isPlainObject(item.class_b_c)) v.push(...classBCViolations(item.class_b_c, `${at}.class_b_c`))
  if (item.session_key_id !== undefined) {
    const s = item.session_key_id
    if (typeof s !== 'string' || !PADDED_BASE64.test(s)) v.push(`${at}.session_key_id must be padded base64`)
  }
  return v
}

// ---- issue 15: class B/C ----
const GATEWAY_ID = /^[a-z0-9](?:[-]?[a-z0-9]){2,}$/
const RFC3339_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/

/** `class_b_c {gateways: [{gateway_ids: {gateway_id}, antenna_index, group_index}], absolute_time}`. */
function classBCViolations(c: Record<string, unknown>, at: string): string[] {
  const v: string[] = []
  for (const key of Object.keys(c)) {
    if (key !== 'gateways' && key !== 'absolute_time') v.push(`${at}.${key} is not a class_b_c field`)
  }
  if (c.gateways !== undefined) {
    if (!Array.isArray(c.gateways)) v.push(`${at}.gateways must be an array`)
    else
      c.gateways.forEach((g, i) => {
        const ids = isPlainObject(g) ? g.gateway_ids : undefined
        const id = isPlainObject(ids) ? ids.gateway_id : undefined
        if (typeof id !== 'string' || id.length > 36 || !GATEWAY_ID.test(id)) {
          v.push(`${at}.gateways[${i}].gateway_ids.gateway_id must be a gateway ID`)
        }
        for (const k of ['antenna_index', 'group_index'] as const) {
          const n = isPlainObject(g) ? g[k] : undefined
          if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 0)) {
            v.push(`${at}.gateways[${i}].${k} must be a whole number`)
          }
        }
      })
  }
  if (c.absolute_time !== undefined && (typeof c.absolute_time !== 'string' || !RFC3339_TIME.test(c.absolute_time))) {
    v.push(`${at}.absolute_time must be an RFC 3339 time`)
  }
  return v
}

/**
 * Violations of the v3 downlink schema, as readable sentences; [] when the body is fine.
 * `{"downlinks": []}` is valid (it clears the queue on down/replace).
 */
export function downlinkViolations(body: unknown): string[] {
  if (!isPlainObject(body)) return [`body must be a JSON object, got ${describe(body)}`]
  const v: string[] = []
  for (const key of Object.keys(body)) {
    if (!TOP_KEYS.has(key)) v.push(`top-level key "${key}" is not part of a v3 downlink body (ignored)`)
  }
  const list = body.downlinks
  if (list === undefined) {
    v.push(
      'missing "downlinks" array (a v2-style body reads as an empty list and wipes the queue on replace)',
    )
    return v
  }
  if (!Array.isArray(list)) {
    v.push(`"downlinks" must be an array, got ${describe(list)}`)
    return v
  }
  list.forEach((item, i) => {
    v.push(...itemViolations(item, `downlinks[${i}]`))
  })
  return v
}

/** One downlink item as the server understood it (zero values filled in). */
export interface ParsedDownlink {
  /** 0 when absent. */
  fPort: number
  frmPayload?: Buffer
  decodedPayload?: Record<string, unknown>
  /** LOWEST when absent (the enum's zero value). */
  priority: DownlinkPriority
  confirmed: boolean
  correlationIds: string[]
  classBC?: Record<string, unknown>
  confirmedRetry?: Record<string, unknown>
  sessionKeyId?: string
}

export type ServerParseResult = { ok: true; items: ParsedDownlink[] } | { ok: false; reason: string }

function parseItem(item: unknown, at: string): ParsedDownlink | string {
  if (!isPlainObject(item)) return `${at} is not an object`
  const out: ParsedDownlink = { fPort: 0, priority: 'LOWEST', confirmed: false, correlationIds: [] }
  // protojson accepts integers as numbers or numeric strings, and null as "not set" for every field.
  const fPort = item.f_port
  if (fPort !== undefined && fPort !== null) {
    const n = typeof fPort === 'string' && /^\d+$/.test(fPort) ? Number(fPort) : fPort
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 255) return `${at}.f_port invalid`
    out.fPort = n
  }
  const frm = item.frm_payload
  if (frm !== undefined && frm !== null) {
    const bytes = typeof frm === 'string' ? decodeBase64Lenient(frm) : undefined
    if (!bytes) return `${at}.frm_payload is not base64`
    out.frmPayload = bytes
  }
  const decoded = item.decoded_payload
  if (decoded !== undefined && decoded !== null) {
    if (!isPlainObject(decoded)) return `${at}.decoded_payload is not an object`
    out.decodedPayload = decoded
  }
  const priority = item.priority
  if (priority !== undefined && priority !== null) {
    if (
      typeof priority === 'number' &&
      Number.isInteger(priority) &&
      priority >= 0 &&
      priority < PRIORITIES.length
    ) {
      out.priority = PRIORITIES[priority]
    } else if (typeof priority === 'string' && PRIORITIES.includes(priority as DownlinkPriority)) {
      out.priority = priority as DownlinkPriority
    } else {
      return `${at}.priority is not a known priority`
    }
  }
  const confirmed = item.confirmed
  if (confirmed !== undefined && confirmed !== null) {
    if (typeof confirmed !== 'boolean') return `${at}.confirmed is not a boolean`
    out.confirmed = confirmed
  }
  const ids = item.correlation_ids
  if (ids !== undefined && ids !== null) {
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
      return `${at}.correlation_ids is not an array of strings`
    }
    if (ids.some((id: string) => id.length > MAX_CORRELATION_ID_LENGTH)) {
      return `${at}.correlation_ids has an ID longer than ${MAX_CORRELATION_ID_LENGTH} characters`
    }
    out.correlationIds = [...(ids as string[])]
  }
  for (const [key, field] of [
    ['class_b_c', 'classBC'],
    ['confirmed_retry', 'confirmedRetry'],
  ] as const) {
    const value = item[key]
    if (value === undefined || value === null) continue
    if (!isPlainObject(value)) return `${at}.${key} is not an object`
    out[field] = value
  }
  const skid = item.session_key_id
  if (skid !== undefined && skid !== null) {
    if (typeof skid !== 'string' || !decodeBase64Lenient(skid)) return `${at}.session_key_id is not base64`
    out.sessionKeyId = skid
  }
  return out
}

/**
 * What the server makes of a parsed JSON body. Unknown keys are ignored (so a v2 body is an empty list);
 * wrong types, unknown priorities, over-long correlation IDs, FPort > 255 and bad base64 make the whole
 * message unparseable. Checks that produce down/failed (no_f_port, too long) are not done here.
 */
export function parseDownlinkBody(body: unknown): ServerParseResult {
  if (!isPlainObject(body)) return { ok: false, reason: 'body is not a JSON object' }
  const list = body.downlinks
  if (list === undefined || list === null) return { ok: true, items: [] }
  if (!Array.isArray(list)) return { ok: false, reason: '"downlinks" is not an array' }
  const items: ParsedDownlink[] = []
  for (let i = 0; i < list.length; i++) {
    const r = parseItem(list[i], `downlinks[${i}]`)
    if (typeof r === 'string') return { ok: false, reason: r }
    items.push(r)
  }
  return { ok: true, items }
}

/** Light check of a TTN v2 downlink body (`{port, payload_raw | payload_fields, confirmed, schedule}`). */
export function v2DownlinkViolations(body: unknown): string[] {
  if (!isPlainObject(body)) return [`body must be a JSON object, got ${describe(body)}`]
  const v: string[] = []
  const port = body.port
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 223)) {
    v.push(`port must be an integer 1..223, got ${describe(port)}`)
  }
  if (body.payload_raw === undefined && body.payload_fields === undefined) {
    v.push('needs payload_raw (base64) or payload_fields (object)')
  }
  if (
    body.payload_raw !== undefined &&
    (typeof body.payload_raw !== 'string' || !PADDED_BASE64.test(body.payload_raw))
  ) {
    v.push('payload_raw must be padded base64')
  }
  if (body.payload_fields !== undefined && !isPlainObject(body.payload_fields)) {
    v.push('payload_fields must be a JSON object')
  }
  if (body.confirmed !== undefined && typeof body.confirmed !== 'boolean')
    v.push('confirmed must be a boolean')
  if (body.schedule !== undefined && !['replace', 'first', 'last'].includes(body.schedule as string)) {
    v.push('schedule must be replace, first or last')
  }
  return v
}

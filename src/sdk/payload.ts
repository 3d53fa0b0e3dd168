/**
 * Downlink payload forms. Bytes are bytes; a string is base64 as in the Python SDK ("AQ==" is 0x01);
 * hex is only ever used when asked for, because the two official v2 SDKs disagreed on strings and
 * users paid for it. A plain object is a decoded payload for the application's downlink encoder.
 */
import { ValidationError } from './errors'

export type PayloadFormat = 'auto' | 'base64' | 'hex'
export type EncodedPayload = { kind: 'bytes'; bytes: Buffer } | { kind: 'decoded'; decoded: Record<string, unknown> }

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const HEX = /^(?:[0-9a-fA-F]{2})*$/

/** Strict base64 (padded, standard alphabet): anything else would silently decode to wrong bytes. */
export function base64ToBytes(text: string): Buffer {
  const compact = text.replace(/\s+/g, '')
  if (!BASE64.test(compact)) {
    const looksHex = HEX.test(compact.replace(/^0x/i, ''))
    throw new ValidationError(
      `The payload string "${preview(text)}" is not valid base64. Strings are read as base64 ("AQ==" is the byte 0x01)` +
        (looksHex ? '; it looks like hex: choose the hex payload format (or use hexToBytes) to send it as hex.' : '.'),
      'payload',
    )
  }
  return Buffer.from(compact, 'base64')
}

export function hexToBytes(text: string): Buffer {
  const compact = text.replace(/[\s:]+/g, '').replace(/^0x/i, '')
  if (!HEX.test(compact)) {
    throw new ValidationError(
      `The payload string "${preview(text)}" is not valid hex: use pairs of 0-9/a-f digits, e.g. "01ff" (spaces and colons are ignored).`,
      'payload',
    )
  }
  return Buffer.from(compact, 'hex')
}

function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object') return false
  const proto = Object.getPrototypeOf(x)
  return proto === Object.prototype || proto === null
}

/** Turn whatever the caller gave into bytes or a decoded payload, or say exactly why not. */
export function encodePayload(payload: unknown, format: PayloadFormat = 'auto'): EncodedPayload {
  if (Buffer.isBuffer(payload)) return { kind: 'bytes', bytes: payload }
  if (payload instanceof Uint8Array) return { kind: 'bytes', bytes: Buffer.from(payload) }
  if (Array.isArray(payload)) {
    payload.forEach((b, i) => {
      if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) {
        throw new ValidationError(
          `The payload byte array item ${i} is ${JSON.stringify(b)}: a byte array may only hold whole numbers from 0 to 255.`,
          'payload',
        )
      }
    })
    return { kind: 'bytes', bytes: Buffer.from(payload as number[]) }
  }
  if (typeof payload === 'string') {
    return { kind: 'bytes', bytes: format === 'hex' ? hexToBytes(payload) : base64ToBytes(payload) }
  }
  if (isPlainObject(payload)) {
    // Node-RED and JSON.stringify turn a Buffer into {type:'Buffer', data:[...]}; accept it as bytes.
    if (payload.type === 'Buffer' && Array.isArray(payload.data) && Object.keys(payload).length === 2) {
      return encodePayload(payload.data, format)
    }
    return { kind: 'decoded', decoded: payload }
  }
  const what = payload === null ? 'null' : payload === undefined ? 'missing' : `a ${typeof payload}`
  throw new ValidationError(
    `The payload is ${what}. Send a Buffer or byte array (raw bytes), a base64 string (or hex with the hex option), ` +
      'or an object for the application\'s downlink encoder (decoded_payload).',
    'payload',
  )
}

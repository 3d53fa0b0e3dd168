/**
 * From what a routine returned to the result the host hands on, by The Things Stack's rules: errors
 * mean no data (or no bytes); warnings and errors are lists of strings; bytes are whole numbers from
 * 0 to 255; a normalized payload is a list of measurements. One copy of these rules for every codec.
 */
import { MAX_PORT, MIN_PORT } from '../validate'
import type { DecodeResult, EncodeResult, NormalizeResult, RawRun, Routine } from './types'

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A codec's warnings or errors as strings; a lone string counts as a list of one. */
function strings(v: unknown): string[] {
  if (v === undefined || v === null) return []
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)))
  return [typeof v === 'string' ? v : JSON.stringify(v)]
}

function describeValue(v: unknown): string {
  const text = JSON.stringify(v)
  return text === undefined ? String(v) : text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** The common start: a fault, or output that is not an object, is an error result. */
function outline(
  routine: Routine,
  raw: RawRun,
): { output: Record<string, unknown>; warnings: string[]; errors: string[] } | { errors: string[] } {
  if (raw.fault !== undefined) return { errors: [`${routine}: ${raw.fault}`] }
  if (!isObject(raw.output)) {
    return {
      errors: [
        `${routine} returned ${describeValue(raw.output)}, not an object like { data, warnings, errors }`,
      ],
    }
  }
  return { output: raw.output, warnings: strings(raw.output.warnings), errors: strings(raw.output.errors) }
}

export function toDecodeResult(routine: 'decodeUplink' | 'decodeDownlink', raw: RawRun): DecodeResult {
  const o = outline(routine, raw)
  if (!('output' in o)) return { warnings: [], errors: o.errors }
  if (o.errors.length > 0) return { warnings: o.warnings, errors: o.errors }
  const data = o.output.data
  if (!isObject(data)) {
    return {
      warnings: o.warnings,
      errors: [`${routine} returned data ${describeValue(data)}: it must be an object`],
    }
  }
  return { data, warnings: o.warnings, errors: [] }
}

export function toEncodeResult(raw: RawRun): EncodeResult {
  const o = outline('encodeDownlink', raw)
  if (!('output' in o)) return { warnings: [], errors: o.errors }
  if (o.errors.length > 0) return { warnings: o.warnings, errors: o.errors }
  const { bytes, fPort } = o.output
  if (!Array.isArray(bytes) || !bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    return {
      warnings: o.warnings,
      errors: [
        `encodeDownlink returned bytes ${describeValue(bytes)}: they must be a list of whole numbers from 0 to 255`,
      ],
    }
  }
  const result: EncodeResult = { bytes: bytes as number[], warnings: o.warnings, errors: [] }
  if (fPort !== undefined && fPort !== null) {
    if (typeof fPort !== 'number' || !Number.isInteger(fPort) || fPort < MIN_PORT || fPort > MAX_PORT) {
      return {
        warnings: o.warnings,
        errors: [
          `encodeDownlink returned fPort ${describeValue(fPort)}: it must be a whole number from ${MIN_PORT} to ${MAX_PORT}`,
        ],
      }
    }
    result.fPort = fPort
  }
  return result
}

export function toNormalizeResult(raw: RawRun): NormalizeResult {
  const o = outline('normalizeUplink', raw)
  if (!('output' in o)) return { warnings: [], errors: o.errors }
  if (o.errors.length > 0) return { warnings: o.warnings, errors: o.errors }
  const data = o.output.data
  const list = Array.isArray(data) ? data : [data]
  if (!list.every(isObject)) {
    return {
      warnings: o.warnings,
      errors: [
        `normalizeUplink returned data ${describeValue(data)}: it must be an object or a list of objects`,
      ],
    }
  }
  return { data: list as Record<string, unknown>[], warnings: o.warnings, errors: [] }
}

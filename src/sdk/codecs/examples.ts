/**
 * The examples check, by the Device Repository's own rules (bin/validate.js in lorawan-devices):
 * - each example of uplinkDecoder, downlinkEncoder and downlinkDecoder runs its routine
 *   (decodeUplink, encodeDownlink, decodeDownlink) on the example's `input` exactly as written;
 * - the routine's output, as JSON, must deep-equal the example's `output` (lodash isEqual: key order
 *   does not matter, nothing may be missing or extra, so a codec that returns `warnings: []` needs it
 *   in the example too);
 * - an uplink example with `normalizedOutput` also runs normalizeUplink on
 *   `{ version, data: <the example's output.data> }`; a single object it returns counts as a list of
 *   one, and the result must deep-equal `normalizedOutput`;
 * - an example with `hardwareVersions` runs only for those hardware versions.
 */
import type { CodecDefinition, CodecExample, DeviceRepository } from './repository'
import type { Codec, RawRun, Routine } from './types'

export interface ExampleContext {
  vendorID?: string
  endDeviceID?: string
  hardwareVersion?: string
  firmwareVersion?: string
  region?: string
}

export interface ExampleMismatch {
  routine: Routine
  description: string
  input: unknown
  expected: unknown
  /** What the routine returned (JSON), or `{ fault }` when it returned nothing. */
  actual: unknown
}

export interface ExamplesReport {
  checked: number
  mismatches: ExampleMismatch[]
}

/** Deep equality of JSON values, as lodash isEqual compares them. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]))
  }
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  const bo = b as Record<string, unknown>
  return ka.every((k) => Object.hasOwn(bo, k) && jsonEqual((a as Record<string, unknown>)[k], bo[k]))
}

const ROUTINE_OF = {
  uplinkDecoder: 'decodeUplink',
  downlinkEncoder: 'encodeDownlink',
  downlinkDecoder: 'decodeDownlink',
} as const

function actualOf(raw: RawRun): unknown {
  return raw.fault !== undefined ? { fault: raw.fault } : raw.output
}

/** Run every example in a codec's definition against the codec; report each mismatch. */
export async function checkCodecExamples(
  codec: Codec,
  definition: CodecDefinition,
  context: ExampleContext = {},
): Promise<ExamplesReport> {
  const report: ExamplesReport = { checked: 0, mismatches: [] }
  const check = async (
    routine: Routine,
    description: string,
    input: unknown,
    expected: unknown,
    transform?: (v: unknown) => unknown,
  ) => {
    report.checked++
    const raw = await codec.run(routine, input)
    let actual = actualOf(raw)
    if (transform && raw.fault === undefined) actual = transform(actual)
    if (!jsonEqual(expected, actual))
      report.mismatches.push({ routine, description, input, expected, actual })
  }
  for (const key of Object.keys(ROUTINE_OF) as (keyof typeof ROUTINE_OF)[]) {
    const examples = definition[key]?.examples
    if (!Array.isArray(examples)) continue
    const routine = ROUTINE_OF[key]
    for (const [i, e] of (examples as CodecExample[]).entries()) {
      if (
        Array.isArray(e.hardwareVersions) &&
        context.hardwareVersion !== undefined &&
        !e.hardwareVersions.includes(context.hardwareVersion)
      )
        continue
      const description = e.description ?? `${key} example ${i + 1}`
      await check(routine, description, e.input, e.output)
      if (e.normalizedOutput !== undefined && routine === 'decodeUplink') {
        const data = (e.output as { data?: unknown } | undefined)?.data
        const version = {
          vendorID: context.vendorID,
          endDeviceID: context.endDeviceID,
          hardwareVersion: context.hardwareVersion,
          firmwareVersion: context.firmwareVersion,
          region: context.region,
        }
        await check(
          'normalizeUplink',
          `${description} (normalized)`,
          { version, data },
          e.normalizedOutput,
          (out) => {
            const o = out as { data?: unknown } | null
            if (o && typeof o === 'object' && o.data && !Array.isArray(o.data))
              return { ...o, data: [o.data] }
            return out
          },
        )
      }
    }
  }
  return report
}

/** The same for a codec of a repository, by vendor and codec ID. */
export async function checkRepositoryExamples(
  repository: DeviceRepository,
  brandId: string,
  codecId: string,
  context: ExampleContext = {},
): Promise<ExamplesReport> {
  const [definition, codec] = await Promise.all([
    repository.definition(brandId, codecId),
    repository.codec(brandId, codecId),
  ])
  return checkCodecExamples(codec, definition, { vendorID: brandId, ...context })
}

/** One line per mismatch, for test failures and logs. */
export function formatMismatches(report: ExamplesReport): string {
  return report.mismatches
    .map(
      (m) =>
        `${m.routine} "${m.description}": expected ${JSON.stringify(m.expected)}, got ${JSON.stringify(m.actual)}`,
    )
    .join('\n')
}

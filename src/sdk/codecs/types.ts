/**
 * The Things Stack's JavaScript payload formatter format, as the Device Repository's codecs use it.
 * https://www.thethingsindustries.com/docs/integrations/payload-formatters/javascript/
 */

/** A codec method returns its result directly, or a Promise while the codec's engine is (re)starting. */
export type MaybePromise<T> = T | Promise<T>

export interface UplinkInput {
  bytes: number[] | Uint8Array
  fPort: number
  /** When the uplink was received (ISO 8601 string or Date); the codec sees a Date, as on the server. */
  recvTime?: string | Date
}

export interface DownlinkEncodeInput {
  data: Record<string, unknown>
  /** The FPort asked for, if any; a codec may choose its own. */
  fPort?: number
}

export interface DownlinkDecodeInput {
  bytes: number[] | Uint8Array
  fPort: number
}

export interface NormalizeInput {
  data: Record<string, unknown>
}

/** decodeUplink and decodeDownlink. `data` is absent when the codec reported errors. */
export interface DecodeResult {
  data?: Record<string, unknown>
  warnings: string[]
  errors: string[]
}

/** encodeDownlink. `bytes` (and `fPort`, when the codec set one) are absent when it reported errors. */
export interface EncodeResult {
  bytes?: number[]
  fPort?: number
  warnings: string[]
  errors: string[]
}

/** normalizeUplink: one normalized measurement or several. */
export interface NormalizeResult {
  data?: Record<string, unknown>[]
  warnings: string[]
  errors: string[]
}

export type Routine = 'decodeUplink' | 'encodeDownlink' | 'decodeDownlink' | 'normalizeUplink'
export const ROUTINES: readonly Routine[] = [
  'decodeUplink',
  'encodeDownlink',
  'decodeDownlink',
  'normalizeUplink',
]

/**
 * What a routine returned, exactly (after a JSON round trip, as The Things Stack's runscript sees it),
 * or why it returned nothing: `fault` is set when the routine is missing, threw, ran too long or ran
 * out of memory.
 */
export interface RawRun {
  output?: unknown
  fault?: string
}

export interface Codec {
  /** A name for messages: `brand/codec-id`, `javascript`, `cayennelpp`. */
  readonly name: string
  /** The routines this codec defines (known once `ready` has resolved). */
  readonly routines: ReadonlySet<Routine>
  /**
   * Resolves when the codec is loaded; rejects with the reason when its script does not load (syntax
   * error, a throw at the top level, a limit). The codec can be called before: calls wait for it.
   */
  readonly ready: Promise<void>
  decodeUplink(input: UplinkInput): MaybePromise<DecodeResult>
  encodeDownlink(input: DownlinkEncodeInput): MaybePromise<EncodeResult>
  decodeDownlink(input: DownlinkDecodeInput): MaybePromise<DecodeResult>
  normalizeUplink(input: NormalizeInput): MaybePromise<NormalizeResult>
  /** A routine's output as the codec returned it (used by the examples check). */
  run(routine: Routine, input: unknown): MaybePromise<RawRun>
  /** Free the codec's engine. Calls after close() return an error result. */
  close(): void
}

/** Limits for codecs run in the sandbox. */
export interface SandboxLimits {
  /** Longest one call may run, in ms (default 100). */
  timeoutMs?: number
  /** Longest the script's top level may run when it is loaded, in ms (default 1000). */
  compileTimeoutMs?: number
  /** The most memory one codec's engine may hold, in bytes (default 32 MiB, at least 17 MiB). */
  memoryLimitBytes?: number
  /** Stack the codec may use, in bytes (default 256 KiB). */
  maxStackBytes?: number
}

export interface ScriptSources {
  /** Script defining decodeUplink (and often the other routines); the same text as another is compiled once. */
  uplinkDecoder?: string
  downlinkEncoder?: string
  downlinkDecoder?: string
}

/**
 * What loadCodec accepts:
 * - a string: JavaScript in the formatter format (any of the four functions, or the legacy Decoder/Encoder);
 * - `{ type: 'javascript', script }`: the same, with a name for messages;
 * - `{ type: 'javascript', scripts }`: separate scripts per routine, as the Device Repository allows;
 * - `{ type: 'cayennelpp' }`: the built-in Cayenne LPP codec.
 */
export type CodecSource =
  | string
  | { type: 'javascript'; script: string; name?: string }
  | { type: 'javascript'; scripts: ScriptSources; name?: string }
  | { type: 'cayennelpp' }

export interface LoadCodecOptions extends SandboxLimits {
  /** Overrides the codec's name in messages. */
  name?: string
}

/** An uplink's `version_ids`, as The Things Stack sends them. */
export interface VersionIds {
  brand_id?: string
  model_id?: string
  hardware_version?: string
  firmware_version?: string
  band_id?: string
  [key: string]: unknown
}

/**
 * A codec written in JavaScript, run in its own sandbox. After a fault that spoils the engine (time or
 * memory limit, stack overflow) the engine is dropped and the scripts are loaded into a new one for the
 * next call, so one bad payload does not leave the codec stuck, and no state leaks from the fault.
 */
import { resolveLimits, Sandbox } from './sandbox'
import { toDecodeResult, toEncodeResult, toNormalizeResult } from './results'
import type {
  Codec,
  DecodeResult,
  DownlinkDecodeInput,
  DownlinkEncodeInput,
  EncodeResult,
  MaybePromise,
  NormalizeInput,
  NormalizeResult,
  RawRun,
  Routine,
  SandboxLimits,
  ScriptSources,
  UplinkInput,
} from './types'

export interface NamedScript {
  fileName: string
  source: string
}

function then<T, U>(value: MaybePromise<T>, fn: (v: T) => U): MaybePromise<U> {
  return value instanceof Promise ? value.then(fn) : fn(value)
}

function bytesJson(bytes: unknown): string {
  if (bytes instanceof Uint8Array || Array.isArray(bytes)) return `[${bytes.join(',')}]`
  return '[]'
}

/**
 * Input as JSON text. The hot routines are written by hand (no intermediate object); recvTime goes as
 * an ISO string and the binder turns it into a Date inside the sandbox.
 */
export function inputJson(routine: Routine, input: unknown): string {
  const i = (input ?? {}) as Record<string, unknown>
  if (routine === 'decodeUplink' || routine === 'decodeDownlink') {
    const fPort = typeof i.fPort === 'number' ? i.fPort : 0
    let text = `{"bytes":${bytesJson(i.bytes)},"fPort":${fPort}`
    const t = i.recvTime
    if (t instanceof Date) text += `,"recvTime":${JSON.stringify(t.toISOString())}`
    else if (typeof t === 'string') text += `,"recvTime":${JSON.stringify(t)}`
    return `${text}}`
  }
  return JSON.stringify(i)
}

export class JavaScriptCodec implements Codec {
  private sandbox: Sandbox | undefined
  private restarting: Promise<Sandbox> | undefined
  private closed = false
  /** Set when the scripts do not load: every call then answers with this reason. */
  private loadError: Error | undefined
  /** Which script each routine lives in (known once the scripts are loaded). */
  private readonly scriptOf = new Map<Routine, number>()
  private readonly scripts: NamedScript[] = []
  private readonly wanted: [Routine, number | undefined][]
  private readonly limits: Required<SandboxLimits>
  readonly ready: Promise<void>

  /**
   * Starts loading the scripts at once; the codec can be called straight away (calls made before the
   * engine is up return a Promise). decodeUplink and normalizeUplink come from the uplink decoder's
   * script, encodeDownlink from the encoder's, decodeDownlink from the downlink decoder's; the same
   * text given twice is one script.
   */
  constructor(
    readonly name: string,
    sources: ScriptSources,
    fileNames: Partial<Record<keyof ScriptSources, string>> = {},
    limits?: SandboxLimits,
  ) {
    this.limits = resolveLimits(limits)
    const indexOf = (key: keyof ScriptSources): number | undefined => {
      const source = sources[key]
      if (typeof source !== 'string') return undefined
      const found = this.scripts.findIndex((s) => s.source === source)
      if (found >= 0) return found
      this.scripts.push({ fileName: fileNames[key] ?? `${name}.js`, source })
      return this.scripts.length - 1
    }
    this.wanted = [
      ['decodeUplink', indexOf('uplinkDecoder')],
      ['normalizeUplink', indexOf('uplinkDecoder')],
      ['encodeDownlink', indexOf('downlinkEncoder')],
      ['decodeDownlink', indexOf('downlinkDecoder')],
    ]
    this.ready = this.restart().then(
      () => undefined,
      (err: Error) => {
        this.loadError = err
        throw err
      },
    )
    // Handled here so that a codec nobody awaits cannot raise an unhandled rejection; awaiting
    // `ready` still sees the error.
    this.ready.catch(() => undefined)
  }

  /** The routines the scripts define (empty until `ready`). */
  get routines(): ReadonlySet<Routine> {
    return new Set(this.scriptOf.keys())
  }

  run(routine: Routine, input: unknown): MaybePromise<RawRun> {
    if (this.closed) return { fault: 'the codec was closed' }
    if (this.loadError) return { fault: `the codec does not load: ${this.loadError.message}` }
    const json = inputJson(routine, input)
    const sandbox = this.sandbox
    if (sandbox) return this.callOn(sandbox, routine, json)
    return this.restart().then(
      (s) => this.callOn(s, routine, json),
      (err: Error) => ({ fault: this.loadError ? `the codec does not load: ${err.message}` : `the codec could not be restarted: ${err.message}` }),
    )
  }

  private callOn(sandbox: Sandbox, routine: Routine, json: string): RawRun {
    const index = this.scriptOf.get(routine)
    if (index === undefined) return { fault: `the codec has no ${routine} function` }
    const result = sandbox.call(index, routine, json)
    if (sandbox.broken && this.sandbox === sandbox) {
      sandbox.dispose()
      this.sandbox = undefined
    }
    return result
  }

  private restart(): Promise<Sandbox> {
    if (!this.restarting) {
      this.restarting = Sandbox.create(this.scripts, this.limits).then(
        (s) => {
          this.restarting = undefined
          this.scriptOf.clear()
          for (const [routine, index] of this.wanted) {
            if (index !== undefined && s.routinesOf(index).has(routine)) this.scriptOf.set(routine, index)
          }
          if (this.closed) s.dispose()
          else this.sandbox = s
          return s
        },
        (err) => {
          this.restarting = undefined
          throw err
        },
      )
    }
    return this.restarting
  }

  decodeUplink(input: UplinkInput): MaybePromise<DecodeResult> {
    return then(this.run('decodeUplink', input), (raw) => toDecodeResult('decodeUplink', raw))
  }

  decodeDownlink(input: DownlinkDecodeInput): MaybePromise<DecodeResult> {
    return then(this.run('decodeDownlink', input), (raw) => toDecodeResult('decodeDownlink', raw))
  }

  encodeDownlink(input: DownlinkEncodeInput): MaybePromise<EncodeResult> {
    return then(this.run('encodeDownlink', input), toEncodeResult)
  }

  normalizeUplink(input: NormalizeInput): MaybePromise<NormalizeResult> {
    return then(this.run('normalizeUplink', input), toNormalizeResult)
  }

  close(): void {
    this.closed = true
    this.sandbox?.dispose()
    this.sandbox = undefined
  }
}

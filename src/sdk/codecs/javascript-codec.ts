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
  readonly routines: ReadonlySet<Routine>

  private constructor(
    readonly name: string,
    private readonly scripts: NamedScript[],
    /** Which script each routine lives in. */
    private readonly scriptOf: Map<Routine, number>,
    private readonly limits: Required<SandboxLimits>,
    first: Sandbox,
  ) {
    this.sandbox = first
    this.routines = new Set(scriptOf.keys())
  }

  /**
   * Load scripts for the routines. decodeUplink and normalizeUplink come from the uplink decoder's
   * script, encodeDownlink from the encoder's, decodeDownlink from the downlink decoder's; the same
   * text given twice is one script.
   */
  static async load(
    name: string,
    sources: ScriptSources,
    fileNames: Partial<Record<keyof ScriptSources, string>>,
    limits?: SandboxLimits,
  ): Promise<JavaScriptCodec> {
    const resolved = resolveLimits(limits)
    const scripts: NamedScript[] = []
    const indexOf = (key: keyof ScriptSources): number | undefined => {
      const source = sources[key]
      if (typeof source !== 'string') return undefined
      const found = scripts.findIndex((s) => s.source === source)
      if (found >= 0) return found
      scripts.push({ fileName: fileNames[key] ?? `${name}.js`, source })
      return scripts.length - 1
    }
    const wanted: [Routine, number | undefined][] = [
      ['decodeUplink', indexOf('uplinkDecoder')],
      ['normalizeUplink', indexOf('uplinkDecoder')],
      ['encodeDownlink', indexOf('downlinkEncoder')],
      ['decodeDownlink', indexOf('downlinkDecoder')],
    ]
    const sandbox = await Sandbox.create(scripts, resolved)
    const scriptOf = new Map<Routine, number>()
    for (const [routine, index] of wanted) {
      if (index !== undefined && sandbox.routinesOf(index).has(routine)) scriptOf.set(routine, index)
    }
    return new JavaScriptCodec(name, scripts, scriptOf, resolved, sandbox)
  }

  run(routine: Routine, input: unknown): MaybePromise<RawRun> {
    if (this.closed) return { fault: 'the codec was closed' }
    const index = this.scriptOf.get(routine)
    if (index === undefined) return { fault: `the codec has no ${routine} function` }
    const json = inputJson(routine, input)
    const sandbox = this.sandbox
    if (sandbox) return this.callOn(sandbox, index, routine, json)
    return this.restart().then(
      (s) => this.callOn(s, index, routine, json),
      (err: Error) => ({ fault: `the codec could not be restarted: ${err.message}` }),
    )
  }

  private callOn(sandbox: Sandbox, index: number, routine: Routine, json: string): RawRun {
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

/**
 * One codec's sandbox: a QuickJS engine of its own (see engine.ts), one context per distinct script.
 * The codec sees only the JavaScript language (no process, require, file system, network, timers,
 * console or Node-RED); data crosses the boundary as JSON text, one string in and one out per call,
 * which is also the cheapest way across.
 */
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core'
import { type EngineInstance, newEngine } from './engine'
import type { RawRun, Routine, SandboxLimits } from './types'
import { ROUTINES } from './types'

export const DEFAULT_LIMITS: Required<SandboxLimits> = {
  timeoutMs: 100,
  compileTimeoutMs: 1000,
  memoryLimitBytes: 32 * 1024 * 1024,
  maxStackBytes: 256 * 1024,
}

export function resolveLimits(limits: SandboxLimits = {}): Required<SandboxLimits> {
  const pick = (v: number | undefined, d: number) =>
    typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : d
  return {
    timeoutMs: pick(limits.timeoutMs, DEFAULT_LIMITS.timeoutMs),
    compileTimeoutMs: pick(limits.compileTimeoutMs, DEFAULT_LIMITS.compileTimeoutMs),
    memoryLimitBytes: pick(limits.memoryLimitBytes, DEFAULT_LIMITS.memoryLimitBytes),
    maxStackBytes: pick(limits.maxStackBytes, DEFAULT_LIMITS.maxStackBytes),
  }
}

/**
 * Evaluated after the codec's script, in the same context, so that it sees the codec's functions
 * whether they are declared with `function`, `var`, `let` or `const`. It returns the dispatcher the
 * host calls, a settle function for routines that return a Promise, and the routines defined. The
 * legacy v2 formatter functions (Decoder(bytes, port), Encoder(object, port)) are used when the
 * modern ones are missing, as The Things Stack does.
 */
/** What the dispatcher returns for a Promise: never the output of JSON.stringify (and no NUL, which ends C strings). */
const PENDING = '#pending'

const BINDER = `(function (P, S, fns) {
  var PENDING = '#pending';
  var settled;
  function out(v) { return S(v === undefined ? null : v); }
  function run(routine, input) {
    switch (routine) {
      case 'decodeUplink':
        if (typeof input.recvTime === 'string') input.recvTime = new Date(input.recvTime);
        if (fns.decodeUplink) return fns.decodeUplink(input);
        return { data: fns.Decoder(input.bytes, input.fPort) };
      case 'encodeDownlink':
        if (fns.encodeDownlink) return fns.encodeDownlink(input);
        return { bytes: fns.Encoder(input.data, input.fPort) };
      default:
        return fns[routine](input);
    }
  }
  var defined = [];
  if (fns.decodeUplink || fns.Decoder) defined.push('decodeUplink');
  if (fns.encodeDownlink || fns.Encoder) defined.push('encodeDownlink');
  if (fns.decodeDownlink) defined.push('decodeDownlink');
  if (fns.normalizeUplink) defined.push('normalizeUplink');
  return [
    function (routine, json) {
      var result = run(routine, P(json));
      if (result && typeof result.then === 'function') {
        settled = undefined;
        result.then(function (v) { settled = { value: out(v) }; }, function (e) { settled = { error: e }; });
        return PENDING;
      }
      return out(result);
    },
    function () {
      var s = settled;
      settled = undefined;
      if (!s) throw new Error('the Promise it returned did not settle');
      if ('error' in s) throw s.error;
      return s.value;
    },
    defined.join(',')
  ];
})(JSON.parse, JSON.stringify, {
  decodeUplink: typeof decodeUplink === 'function' ? decodeUplink : undefined,
  encodeDownlink: typeof encodeDownlink === 'function' ? encodeDownlink : undefined,
  decodeDownlink: typeof decodeDownlink === 'function' ? decodeDownlink : undefined,
  normalizeUplink: typeof normalizeUplink === 'function' ? normalizeUplink : undefined,
  Decoder: typeof Decoder === 'function' ? Decoder : undefined,
  Encoder: typeof Encoder === 'function' ? Encoder : undefined
})`

interface ScriptContext {
  context: QuickJSContext
  call: QuickJSHandle
  settle: QuickJSHandle
  routines: Set<Routine>
  /** The routine names as engine strings, made once: one engine call less per decode. */
  names: Map<Routine, QuickJSHandle>
}

/** Thrown by Sandbox.create when a script does not load: syntax error, top-level throw, limits. */
export class CodecLoadError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CodecLoadError'
  }
}

export class Sandbox {
  /** True once a fault (time, memory, stack) left the engine in a state not worth trusting. */
  broken = false
  private deadline = 0
  private interrupted = false

  private constructor(
    private readonly engine: EngineInstance,
    private readonly runtime: QuickJSRuntime,
    private readonly scripts: ScriptContext[],
    private readonly limits: Required<SandboxLimits>,
  ) {}

  /** Load each script (by file name, for stack traces) into its own context of one new engine. */
  static async create(
    scripts: { fileName: string; source: string }[],
    limits: Required<SandboxLimits>,
  ): Promise<Sandbox> {
    const engine = await newEngine(limits.memoryLimitBytes)
    const runtime = engine.module.newRuntime()
    runtime.setMemoryLimit(limits.memoryLimitBytes)
    runtime.setMaxStackSize(limits.maxStackBytes)
    const contexts: ScriptContext[] = []
    const sandbox = new Sandbox(engine, runtime, contexts, limits)
    runtime.setInterruptHandler(() => sandbox.onInterruptCheck())
    try {
      for (const s of scripts) contexts.push(sandbox.load(s.fileName, s.source))
    } catch (err) {
      sandbox.dispose()
      throw err
    }
    return sandbox
  }

  /** The routines each script defines, in the order the scripts were given. */
  routinesOf(index: number): ReadonlySet<Routine> {
    return this.scripts[index].routines
  }

  private onInterruptCheck(): boolean {
    if (Date.now() <= this.deadline) return false
    this.interrupted = true
    return true
  }

  private arm(ms: number): void {
    this.interrupted = false
    this.deadline = Date.now() + ms
  }

  private load(fileName: string, source: string): ScriptContext {
    const context = this.runtime.newContext()
    try {
      this.arm(this.limits.compileTimeoutMs)
      const loaded = this.guard(() => context.evalCode(source, fileName))
      if (loaded.error)
        throw new CodecLoadError(
          `${fileName}: ${this.describe(context, loaded.error, this.limits.compileTimeoutMs)}`,
        )
      loaded.value.dispose()
      const bound = this.guard(() => context.evalCode(BINDER, 'codec-binder.js'))
      if (bound.error)
        throw new CodecLoadError(
          `${fileName}: ${this.describe(context, bound.error, this.limits.compileTimeoutMs)}`,
        )
      const call = context.getProp(bound.value, 0)
      const settle = context.getProp(bound.value, 1)
      const definedHandle = context.getProp(bound.value, 2)
      const defined = context.getString(definedHandle)
      definedHandle.dispose()
      bound.value.dispose()
      const routines = new Set(ROUTINES.filter((r) => defined.split(',').includes(r)))
      const names = new Map<Routine, QuickJSHandle>()
      for (const r of routines) names.set(r, context.newString(r))
      return { context, call, settle, routines, names }
    } catch (err) {
      context.dispose()
      throw err
    }
  }

  /**
   * Run one engine call; a trap out of the WebAssembly code itself (the host's stack overflowing
   * before QuickJS's own limit, an engine abort) marks the sandbox broken instead of escaping.
   */
  private guard<T>(fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      this.broken = true
      throw new CodecLoadError(`the codec's engine stopped: ${(err as Error).message}`)
    }
  }

  /** A readable reason from an exception handle, and whether it was a limit being hit. */
  private describe(context: QuickJSContext, errorHandle: QuickJSHandle, timeoutMs: number): string {
    const thrown = context.dump(errorHandle) as { name?: string; message?: string } | string | null
    errorHandle.dispose()
    if (this.interrupted) {
      this.broken = true
      return `ran longer than its time limit (${timeoutMs} ms)`
    }
    // QuickJS throws null (no memory left to build an Error) or an InternalError when it runs out.
    const message = thrown && typeof thrown === 'object' ? thrown.message : thrown
    if (thrown === null || message === 'out of memory') {
      this.broken = true
      return `ran out of memory (limit ${Math.round(this.limits.memoryLimitBytes / 1024 / 1024)} MiB)`
    }
    if (thrown && typeof thrown === 'object') {
      if (thrown.name === 'RangeError' && /stack/i.test(thrown.message ?? '')) this.broken = true
      return thrown.name ? `${thrown.name}: ${thrown.message ?? ''}` : String(thrown.message)
    }
    return `threw ${typeof thrown === 'string' ? thrown : JSON.stringify(thrown)}`
  }

  /** Call a routine of script `index` with JSON input; the output as parsed JSON, or why there is none. */
  call(index: number, routine: Routine, inputJson: string): RawRun {
    if (this.broken) return { fault: 'the codec stopped after an earlier fault' }
    const script = this.scripts[index]
    if (!script?.routines.has(routine)) return { fault: `it has no ${routine} function` }
    const { context } = script
    try {
      this.arm(this.limits.timeoutMs)
      const input = context.newString(inputJson)
      const result = context.callFunction(script.call, context.undefined, script.names.get(routine)!, input)
      input.dispose()
      if (result.error) return { fault: this.describe(context, result.error, this.limits.timeoutMs) }
      let text = context.getString(result.value)
      result.value.dispose()
      if (text === PENDING) {
        // The routine returned a Promise: run its jobs (still under the time limit), then collect.
        const jobs = this.runtime.executePendingJobs()
        if (jobs.error) return { fault: this.describe(context, jobs.error, this.limits.timeoutMs) }
        const settled = context.callFunction(script.settle, context.undefined)
        if (settled.error) return { fault: this.describe(context, settled.error, this.limits.timeoutMs) }
        text = context.getString(settled.value)
        settled.value.dispose()
      }
      return { output: JSON.parse(text) }
    } catch (err) {
      this.broken = true
      return { fault: `the codec's engine stopped: ${(err as Error).message}` }
    }
  }

  /**
   * Free the engine. After a fault QuickJS may refuse an orderly teardown (objects still referenced
   * when a call was cut short); the engine instance is private to this codec, so dropping it is enough.
   */
  dispose(): void {
    this.broken = true
    try {
      for (const s of this.scripts) {
        for (const h of s.names.values()) h.dispose()
        s.call.dispose()
        s.settle.dispose()
        s.context.dispose()
      }
      this.runtime.dispose()
    } catch {
      // The instance and its memory go with the last reference to this sandbox.
    }
    this.scripts.length = 0
  }

  /** Bytes of WebAssembly memory the engine holds now (grows, never shrinks). */
  get memoryBytes(): number {
    return this.engine.memory.buffer.byteLength
  }
}

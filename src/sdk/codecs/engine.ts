/**
 * The WebAssembly JavaScript engine codecs run in: QuickJS (quickjs-ng) compiled to WebAssembly.
 *
 * Each codec gets its own engine instance with its own WebAssembly.Memory, whose `maximum` is the
 * codec's memory limit: the engine cannot grow past it, however it allocates (QuickJS's own malloc
 * limit alone undercounts in this build, see docs/codecs.md). The compiled WebAssembly module is
 * shared, so a new instance costs milliseconds, not a compile.
 */
import { readFileSync } from 'node:fs'
import variant from '@jitl/quickjs-ng-wasmfile-release-sync'
import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSWASMModule } from 'quickjs-emscripten-core'

/** The slice of the WebAssembly API used here (the project's TypeScript libs carry no DOM/wasm types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer
}
type WasmModule = object
declare const WebAssembly: {
  compile(bytes: Uint8Array): Promise<WasmModule>
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory
}

const PAGE = 65536
/** The engine's WebAssembly module asks for this much memory before any script runs. */
export const ENGINE_BASE_MEMORY_BYTES = 256 * PAGE
/** Headroom above the base for the engine itself; a limit below base + this is raised to it. */
export const MIN_MEMORY_LIMIT_BYTES = ENGINE_BASE_MEMORY_BYTES + 16 * PAGE

let compiled: Promise<WasmModule> | undefined

function wasmModule(): Promise<WasmModule> {
  if (!compiled) {
    const file = require.resolve('@jitl/quickjs-ng-wasmfile-release-sync/wasm')
    const compiling = WebAssembly.compile(readFileSync(file))
    compiling.catch(() => {
      compiled = undefined
    })
    compiled = compiling
  }
  return compiled
}

export interface EngineInstance {
  module: QuickJSWASMModule
  memory: WasmMemory
}

/** A fresh engine whose memory cannot exceed `memoryLimitBytes` (rounded to 64 KiB pages). */
export async function newEngine(memoryLimitBytes: number): Promise<EngineInstance> {
  const maximum = Math.ceil(Math.max(memoryLimitBytes, MIN_MEMORY_LIMIT_BYTES) / PAGE)
  const memory = new WebAssembly.Memory({ initial: ENGINE_BASE_MEMORY_BYTES / PAGE, maximum })
  const module = await newQuickJSWASMModuleFromVariant(
    newVariant(variant, { wasmModule: (await wasmModule()) as never, wasmMemory: memory as never }),
  )
  return { module, memory }
}

import assert from 'node:assert/strict'
import { loadCodec } from '../../../src/sdk/codecs'

const ROUTINES = `
function decodeUplink(input) {
  switch (input.bytes[0]) {
    case 1: for (;;) {}
    case 2: { const hog = []; for (;;) hog.push(new Array(1000).fill(input.fPort)) }
    case 3: { const deep = (n) => deep(n + 1) + 1; return { data: { n: deep(0) } } }
    default: return { data: { ok: true, seen: typeof seen === 'undefined' ? 0 : ++seen } }
  }
}
var seen = 0
`

describe('codec sandbox', () => {
  it('gives the codec no process, require, module system, file system, network, timers or console', async () => {
    const codec = loadCodec(`async function decodeUplink() {
      const names = ['process', 'require', 'module', 'global', 'Buffer', 'fetch', 'XMLHttpRequest', 'WebSocket', 'setTimeout', 'setInterval', 'console', 'std', 'os', 'RED', 'Deno', 'Bun', 'WebAssembly']
      const found = names.filter((n) => typeof globalThis[n] !== 'undefined')
      let escaped = 'no'
      try { escaped = (function () {}).constructor('return typeof process')() } catch (e) { escaped = 'threw' }
      let imported = 'no'
      try { await import('fs'); imported = 'loaded' } catch (e) { imported = 'refused' }
      return { data: { found, escaped, imported } }
    }`)
    try {
      const r = await codec.decodeUplink({ bytes: [], fPort: 1 })
      assert.deepEqual(r.data?.found, [])
      assert.equal(
        r.data?.escaped,
        'undefined',
        'the Function constructor reaches the sandbox global, not Node',
      )
      assert.equal(r.data?.imported, 'refused', 'there is no module loader')
    } finally {
      codec.close()
    }
  })

  it('ends a call that runs past the time limit with an error result, and the codec works again after', async () => {
    const codec = loadCodec(ROUTINES, { timeoutMs: 50 })
    try {
      const r = await codec.decodeUplink({ bytes: [1], fPort: 1 })
      assert.deepEqual(r.errors, ['decodeUplink: ran longer than its time limit (50 ms)'])
      assert.equal(r.data, undefined)
      const next = await codec.decodeUplink({ bytes: [0], fPort: 1 })
      assert.equal(next.data?.ok, true)
      assert.equal(next.data?.seen, 1, 'a fresh engine after the fault: state from before it is gone')
    } finally {
      codec.close()
    }
  })

  it('ends a codec that allocates without bound at its memory limit; the process does not grow with it', async () => {
    const codec = loadCodec(ROUTINES, { memoryLimitBytes: 24 * 1024 * 1024, timeoutMs: 10_000 })
    try {
      const before = process.memoryUsage().rss
      const r = await codec.decodeUplink({ bytes: [2], fPort: 1 })
      assert.equal(r.errors.length, 1)
      assert.match(r.errors[0], /^decodeUplink: ran out of memory \(limit 24 MiB\)$/)
      assert.ok(process.memoryUsage().rss - before < 200 * 1024 * 1024, 'the engine stopped near its limit')
      assert.equal((await codec.decodeUplink({ bytes: [0], fPort: 1 })).data?.ok, true)
    } finally {
      codec.close()
    }
  })

  it('ends unbounded recursion with an error result, not a crash', async () => {
    const codec = loadCodec(ROUTINES)
    try {
      const r = await codec.decodeUplink({ bytes: [3], fPort: 1 })
      assert.equal(r.errors.length, 1)
      assert.match(r.errors[0], /stack|engine stopped/i)
      assert.equal((await codec.decodeUplink({ bytes: [0], fPort: 1 })).data?.ok, true)
    } finally {
      codec.close()
    }
  })

  it('limits the top level of a script when it loads', async () => {
    await assert.rejects(
      loadCodec('while (true) {}', { compileTimeoutMs: 50 }).ready,
      /ran longer than its time limit \(50 ms\)/,
    )
  })

  it('keeps codecs apart: one codec cannot see or change another', async () => {
    const a = loadCodec(
      'globalThis.secret = 42; Object.prototype.polluted = true; function decodeUplink() { return { data: { v: secret } } }',
    )
    const b = loadCodec(
      'function decodeUplink() { return { data: { secret: typeof secret, polluted: ({}).polluted === true } } }',
    )
    try {
      assert.deepEqual((await a.decodeUplink({ bytes: [], fPort: 1 })).data, { v: 42 })
      assert.deepEqual((await b.decodeUplink({ bytes: [], fPort: 1 })).data, {
        secret: 'undefined',
        polluted: false,
      })
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing leaks into Node either')
    } finally {
      a.close()
      b.close()
    }
  })

  it('returns an error result after close()', async () => {
    const codec = loadCodec(ROUTINES)
    codec.close()
    assert.deepEqual((await codec.decodeUplink({ bytes: [0], fPort: 1 })).errors, [
      'decodeUplink: the codec was closed',
    ])
  })
})

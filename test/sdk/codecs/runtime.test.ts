import assert from 'node:assert/strict'
import { type Codec, loadCodec } from '../../../src/sdk/codecs'

const FORMATTER = `
function decodeUplink(input) {
  const [hi, lo, hum] = input.bytes
  const warnings = []
  if (hum > 100) warnings.push('humidity out of range')
  return {
    data: { temperature: ((hi << 8) | lo) / 100, humidity: hum, port: input.fPort, year: input.recvTime.getUTCFullYear() },
    warnings,
  }
}
function encodeDownlink(input) {
  if (typeof input.data.interval !== 'number') return { errors: ['interval must be a number'] }
  return { bytes: [input.data.interval >> 8, input.data.interval & 0xff], fPort: 10, warnings: [] }
}
function decodeDownlink(input) {
  return { data: { interval: (input.bytes[0] << 8) | input.bytes[1] } }
}
function normalizeUplink(input) {
  return { data: { air: { temperature: input.data.temperature } } }
}
`

describe('codec runtime: loadCodec', () => {
  let codec: Codec
  before(async () => {
    codec = loadCodec(FORMATTER, { name: 'test-codec' })
  })
  after(() => codec.close())

  it('decodes an uplink in the formatter format, with fPort and recvTime as a Date', async () => {
    const r = await codec.decodeUplink({
      bytes: [0x08, 0x7a, 55],
      fPort: 2,
      recvTime: '2026-01-02T03:04:05Z',
    })
    assert.deepEqual(r, {
      data: { temperature: 21.7, humidity: 55, port: 2, year: 2026 },
      warnings: [],
      errors: [],
    })
    assert.deepEqual(
      codec.routines,
      new Set(['decodeUplink', 'normalizeUplink', 'encodeDownlink', 'decodeDownlink']),
    )
    assert.equal(codec.name, 'test-codec')
  })

  it('passes warnings on, and accepts a Uint8Array or Buffer', async () => {
    const r = await codec.decodeUplink({ bytes: Buffer.from([0, 1, 150]), fPort: 1, recvTime: new Date() })
    assert.deepEqual(r.warnings, ['humidity out of range'])
    assert.equal(r.data?.humidity, 150)
  })

  it('encodes a downlink to bytes and the fPort the codec chose; codec errors mean no bytes', async () => {
    assert.deepEqual(await codec.encodeDownlink({ data: { interval: 600 } }), {
      bytes: [2, 88],
      fPort: 10,
      warnings: [],
      errors: [],
    })
    assert.deepEqual(await codec.encodeDownlink({ data: { interval: 'often' } }), {
      warnings: [],
      errors: ['interval must be a number'],
    })
  })

  it('decodes a downlink and normalizes an uplink (one measurement becomes a list)', async () => {
    assert.deepEqual(await codec.decodeDownlink({ bytes: [2, 88], fPort: 10 }), {
      data: { interval: 600 },
      warnings: [],
      errors: [],
    })
    assert.deepEqual(await codec.normalizeUplink({ data: { temperature: 21.7 } }), {
      data: [{ air: { temperature: 21.7 } }],
      warnings: [],
      errors: [],
    })
  })

  it('reports a routine the codec does not define, a throw and bad output as errors, naming the routine', async () => {
    const partial = loadCodec(
      'const decodeUplink = (input) => { if (!input.bytes.length) throw new TypeError("empty payload"); return { data: "text" } }',
    )
    try {
      assert.deepEqual((await partial.encodeDownlink({ data: {} })).errors, [
        'encodeDownlink: the codec has no encodeDownlink function',
      ])
      assert.deepEqual((await partial.decodeUplink({ bytes: [], fPort: 1 })).errors, [
        'decodeUplink: TypeError: empty payload',
      ])
      assert.match(
        (await partial.decodeUplink({ bytes: [1], fPort: 1 })).errors[0],
        /decodeUplink returned data "text": it must be an object/,
      )
    } finally {
      partial.close()
    }
  })

  it('validates encoder output: bytes 0..255 and a usable fPort', async () => {
    const bad = loadCodec(
      'function encodeDownlink(i) { return i.data.kind === "bytes" ? { bytes: [1, 256] } : { bytes: [1], fPort: 224 } }',
    )
    try {
      assert.match(
        (await bad.encodeDownlink({ data: { kind: 'bytes' } })).errors[0],
        /whole numbers from 0 to 255/,
      )
      assert.match((await bad.encodeDownlink({ data: { kind: 'port' } })).errors[0], /fPort 224/)
    } finally {
      bad.close()
    }
  })

  it('runs the legacy v2 Decoder(bytes, port) and Encoder(object, port) as the server does', async () => {
    const legacy = loadCodec(
      'function Decoder(bytes, port) { return { first: bytes[0], port: port } }\nfunction Encoder(obj, port) { return [obj.on ? 1 : 0] }',
    )
    try {
      assert.deepEqual((await legacy.decodeUplink({ bytes: [7], fPort: 3 })).data, { first: 7, port: 3 })
      assert.deepEqual((await legacy.encodeDownlink({ data: { on: true } })).bytes, [1])
    } finally {
      legacy.close()
    }
  })

  it('waits for a routine that returns a Promise (async function)', async () => {
    const c = loadCodec(
      'async function decodeUplink(input) { const v = await Promise.resolve(input.bytes[0] * 2); return { data: { v } } }',
    )
    try {
      assert.deepEqual((await c.decodeUplink({ bytes: [21], fPort: 1 })).data, { v: 42 })
    } finally {
      c.close()
    }
  })

  it('is usable at once: a call made while the engine starts returns a Promise, later calls a value', async () => {
    const codec = loadCodec('function decodeUplink(input) { return { data: { n: input.bytes.length } } }')
    try {
      const first = codec.decodeUplink({ bytes: [1, 2], fPort: 1 })
      assert.ok(first instanceof Promise)
      assert.deepEqual((await first).data, { n: 2 })
      await codec.ready
      const next = codec.decodeUplink({ bytes: [1, 2, 3], fPort: 1 })
      assert.equal(next instanceof Promise, false)
      assert.deepEqual((next as { data?: unknown }).data, { n: 3 })
    } finally {
      codec.close()
    }
  })

  it('reports a script that does not load: ready rejects with the reason, and every call answers with it', async () => {
    const broken = loadCodec('function decodeUplink(input) { return {')
    await assert.rejects(broken.ready, /SyntaxError/)
    assert.match((await broken.decodeUplink({ bytes: [], fPort: 1 })).errors[0], /^decodeUplink: the codec does not load: .*SyntaxError/)
    await assert.rejects(loadCodec('throw new Error("top-level failure")').ready, /top-level failure/)
    assert.throws(() => loadCodec(''), /script is empty/)
    // Nobody awaits this one: its failure must not become an unhandled rejection.
    loadCodec('syntax error here (')
    await new Promise((r) => setTimeout(r, 100))
  })

  it('keeps separate scripts per routine apart, as the Device Repository allows', async () => {
    const c = loadCodec({
      type: 'javascript',
      name: 'split',
      scripts: {
        uplinkDecoder: 'var shared = "up"; function decodeUplink() { return { data: { from: shared } } }',
        downlinkEncoder:
          'var shared = "down"; function encodeDownlink() { return { bytes: [shared.length] } }',
      },
    })
    try {
      assert.deepEqual((await c.decodeUplink({ bytes: [], fPort: 1 })).data, { from: 'up' })
      assert.deepEqual((await c.encodeDownlink({ data: {} })).bytes, [4])
      assert.equal(c.routines.has('decodeDownlink'), false)
    } finally {
      c.close()
    }
  })
})

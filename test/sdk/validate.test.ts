import assert from 'node:assert/strict'
import { ValidationError } from '../../src/sdk/errors'
import { base64ToBytes, encodePayload, hexToBytes } from '../../src/sdk/payload'
import { validateDownlink } from '../../src/sdk/validate'

const ok = { deviceId: 'dev1', payload: Buffer.from([1]) }

function fails(input: Parameters<typeof validateDownlink>[0], pattern: RegExp, field: string, api: 'v3' | 'v2' = 'v3') {
  assert.throws(
    () => validateDownlink(input, api),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`)
      assert.equal(err.field, field)
      assert.match(err.message, pattern)
      return true
    },
  )
}

describe('payload forms', () => {
  it('takes Buffer, Uint8Array and byte arrays as bytes', () => {
    assert.deepEqual(encodePayload(Buffer.from([1, 2])), { kind: 'bytes', bytes: Buffer.from([1, 2]) })
    assert.deepEqual(encodePayload(new Uint8Array([3])), { kind: 'bytes', bytes: Buffer.from([3]) })
    assert.deepEqual(encodePayload([0, 255]), { kind: 'bytes', bytes: Buffer.from([0, 255]) })
  })
  it('reads strings as base64, as the seed does ("AQ==" is 0x01)', () => {
    assert.deepEqual(encodePayload('AQ=='), { kind: 'bytes', bytes: Buffer.from([1]) })
    assert.deepEqual(base64ToBytes('vu8='), Buffer.from([0xbe, 0xef]))
  })
  it('refuses strings that are not valid base64 instead of decoding wrong bytes, and points to hex', () => {
    assert.throws(() => encodePayload('hello world!'), /not valid base64/)
    assert.throws(() => encodePayload('0102ff'), /looks like hex: choose the hex payload format/)
    // Hex is never guessed: a string that is valid base64 is base64, even if it also looks like hex.
    assert.deepEqual(encodePayload('01ff'), { kind: 'bytes', bytes: Buffer.from('01ff', 'base64') })
    assert.throws(() => encodePayload('AQ='), /not valid base64/)
  })
  it('reads hex only when asked', () => {
    assert.deepEqual(encodePayload('01ff', 'hex'), { kind: 'bytes', bytes: Buffer.from([1, 255]) })
    assert.deepEqual(hexToBytes('0x01 02:03'), Buffer.from([1, 2, 3]))
    assert.throws(() => hexToBytes('abc'), /not valid hex/)
    assert.throws(() => hexToBytes('zz'), /not valid hex/)
  })
  it('turns plain objects into a decoded payload and a serialised Buffer into bytes', () => {
    assert.deepEqual(encodePayload({ led: true }), { kind: 'decoded', decoded: { led: true } })
    assert.deepEqual(encodePayload({ type: 'Buffer', data: [1, 2] }), { kind: 'bytes', bytes: Buffer.from([1, 2]) })
  })
  it('refuses null, numbers, booleans, class instances and bad byte arrays', () => {
    assert.throws(() => encodePayload(null), /The payload is null/)
    assert.throws(() => encodePayload(undefined), /The payload is missing/)
    assert.throws(() => encodePayload(42), /The payload is a number/)
    assert.throws(() => encodePayload(true), /The payload is a boolean/)
    assert.throws(() => encodePayload(new Date()), /The payload is a object/)
    assert.throws(() => encodePayload([1, 256]), /item 1 is 256/)
    assert.throws(() => encodePayload([1.5]), /item 0 is 1.5/)
    assert.throws(() => encodePayload(['a']), /item 0 is "a"/)
  })
})

describe('downlink validation', () => {
  it('normalises a valid downlink with defaults', () => {
    assert.deepEqual(validateDownlink(ok, 'v3'), {
      deviceId: 'dev1',
      payload: { kind: 'bytes', bytes: Buffer.from([1]) },
      port: 1,
      confirmed: false,
      schedule: 'replace',
      priority: 'NORMAL',
    })
  })
  it('maps schedules: last and push → push, replace → replace; case-insensitive', () => {
    assert.equal(validateDownlink({ ...ok, schedule: 'last' }, 'v3').schedule, 'push')
    assert.equal(validateDownlink({ ...ok, schedule: 'PUSH' }, 'v3').schedule, 'push')
    assert.equal(validateDownlink({ ...ok, schedule: 'replace' }, 'v3').schedule, 'replace')
  })
  it('rejects "first" in v3 with an explanation, accepts it in v2', () => {
    fails({ ...ok, schedule: 'first' }, /does not exist in The Things Stack v3.*"replace".*"last"/, 'schedule')
    assert.equal(validateDownlink({ ...ok, schedule: 'first' }, 'v2').schedule, 'first')
    fails({ ...ok, schedule: 'soon' }, /Unknown schedule "soon"/, 'schedule')
  })
  it('checks ports 1-223', () => {
    for (const port of [0, 224, 256, -1, 1.5, 'abc', '', true, {}]) fails({ ...ok, port }, /Invalid FPort.*1 to 223/, 'port')
    assert.equal(validateDownlink({ ...ok, port: 223 }, 'v3').port, 223)
    assert.equal(validateDownlink({ ...ok, port: '15' }, 'v3').port, 15)
  })
  it('checks device IDs', () => {
    fails({ ...ok, deviceId: 'Dev1' }, /upper-case/, 'deviceId')
    fails({ ...ok, deviceId: 'dev/1' }, /not allowed/, 'deviceId')
    fails({ ...ok, deviceId: 'dev+' }, /not allowed/, 'deviceId')
    fails({ ...ok, deviceId: 'dev#' }, /not allowed/, 'deviceId')
    fails({ ...ok, deviceId: 'a'.repeat(37) }, /at most 36/, 'deviceId')
    fails({ ...ok, deviceId: undefined }, /missing/, 'deviceId')
  })
  it('checks priority names and normalises case', () => {
    assert.equal(validateDownlink({ ...ok, priority: 'high' }, 'v3').priority, 'HIGH')
    fails({ ...ok, priority: 'URGENT' }, /Unknown priority "URGENT".*LOWEST, LOW, BELOW_NORMAL, NORMAL, ABOVE_NORMAL, HIGH, HIGHEST/, 'priority')
  })
  it('checks confirmed', () => {
    assert.equal(validateDownlink({ ...ok, confirmed: 'true' }, 'v3').confirmed, true)
    fails({ ...ok, confirmed: 'yes' }, /Invalid "confirmed"/, 'confirmed')
  })
  it('refuses an empty payload, which the server would fail as no_payload', () => {
    fails({ ...ok, payload: Buffer.alloc(0) }, /payload is empty \(0 bytes\)/, 'payload')
    fails({ ...ok, payload: '' }, /payload is empty/, 'payload')
    fails({ ...ok, payload: [] }, /payload is empty/, 'payload')
  })
  it('caps the payload at 255 bytes', () => {
    assert.equal(validateDownlink({ ...ok, payload: Buffer.alloc(255) }, 'v3').payload.kind, 'bytes')
    fails({ ...ok, payload: Buffer.alloc(256) }, /256 bytes; a LoRaWAN downlink carries at most 255/, 'payload')
    fails({ ...ok, payload: Buffer.alloc(300) }, /300 bytes/, 'payload')
  })
})

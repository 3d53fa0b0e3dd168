import assert from 'node:assert/strict'
import { loadCodec } from '../../../src/sdk/codecs'
import { decodeLppDownlink, decodeLppUplink, encodeLppDownlink } from '../../../src/sdk/codecs/cayenne-lpp'

const hex = (s: string) => [...Buffer.from(s.replace(/\s+/g, ''), 'hex')]

describe('codec: Cayenne LPP (The Things Stack output shape)', () => {
  it('decodes every standard type to <type>_<channel> keys', () => {
    const bytes = hex(`
      01 00 01   02 01 00   03 02 FF 38   04 03 01 F4   05 65 01 2C   06 66 01
      07 67 FF D7   08 68 61   09 71 04 D2 FB 2E 00 00   0A 73 27 94
      0B 86 00 7D FF 9C 00 00   0C 88 06 76 5F F2 96 0A 00 03 E8`)
    assert.deepEqual(decodeLppUplink(bytes), {
      data: {
        digital_in_1: 1,
        digital_out_2: 0,
        analog_in_3: -2,
        analog_out_4: 5,
        luminosity_5: 300,
        presence_6: 1,
        temperature_7: -4.1,
        relative_humidity_8: 48.5,
        accelerometer_9: { x: 1.234, y: -1.234, z: 0 },
        barometric_pressure_10: 1013.2,
        gyrometer_11: { x: 1.25, y: -1, z: 0 },
        gps_12: { latitude: 42.3519, longitude: -87.9094, altitude: 10 },
      },
      warnings: [],
      errors: [],
    })
  })

  it('reports an unknown type and a truncated value, saying where', () => {
    assert.deepEqual(decodeLppUplink(hex('01 67 00 D2 02 99 00')).errors, [
      'Cayenne LPP: unknown type 0x99 at byte 5 (channel 2)',
    ])
    assert.deepEqual(decodeLppUplink(hex('01 88 00 00')).errors, [
      'Cayenne LPP: gps on channel 1 needs 9 bytes, 2 left',
    ])
    assert.deepEqual(decodeLppUplink(hex('01')).errors, [
      'Cayenne LPP: a channel byte without a type at byte 0',
    ])
    assert.deepEqual(decodeLppUplink([]), { data: {}, warnings: [], errors: [] })
  })

  it('encodes value_<channel> downlinks as channel + int16 × 100, and decodes them back', () => {
    const enc = encodeLppDownlink({ value_1: 12.34, value_7: -1, note: 'x' })
    assert.deepEqual(enc.bytes, [1, 0x04, 0xd2, 7, 0xff, 0x9c])
    assert.deepEqual(enc.warnings, [
      'Cayenne LPP: note is not a value_<channel> key (channel 0-255); not sent',
    ])
    assert.deepEqual(decodeLppDownlink(enc.bytes ?? []).data, { value_1: 12.34, value_7: -1 })
    assert.match(encodeLppDownlink({ value_1: 400 }).errors[0], /does not fit/)
    assert.match(encodeLppDownlink({ value_1: 'on' }).errors[0], /must be a number/)
  })

  it('is what loadCodec({ type: "cayennelpp" }) returns', async () => {
    const codec = loadCodec({ type: 'cayennelpp' })
    assert.equal(codec.name, 'cayennelpp')
    assert.deepEqual((await codec.decodeUplink({ bytes: hex('03 67 01 10 05 67 00 FF'), fPort: 1 })).data, {
      temperature_3: 27.2,
      temperature_5: 25.5,
    })
    assert.deepEqual((await codec.encodeDownlink({ data: { value_2: 1 } })).bytes, [2, 0, 100])
  })
})

import assert from 'node:assert/strict'
import { Delivery } from '../../src/sdk/delivery'
import { fixture } from '../fixtures'

describe('Delivery: one parsed message, handed to many listeners', () => {
  it('take(): the first taker gets the parsed object, every later one a deep copy', () => {
    const message = fixture('tts-v3/up.json')
    const d = new Delivery('up', 'dev1', 'v3/app1@ttn/devices/dev1/up', message, message.uplink_message)
    const first = d.take()
    const second = d.take()
    const third = d.take()
    assert.equal(first, message)
    assert.notEqual(second, message)
    assert.notEqual(third, second)
    assert.deepEqual(second, message)
    ;(second.uplink_message as Record<string, unknown>).changed = true
    assert.equal((message.uplink_message as Record<string, unknown>).changed, undefined)
  })

  it('bodyIn(): the body of the original, of a copy, and of a v2 message (its own body)', () => {
    const join = fixture('tts-v3/join.json')
    const d = new Delivery('join', 'dev1', 't', join, join.join_accept)
    const original = d.take()
    const copy = d.take()
    assert.equal(d.bodyIn(original), join.join_accept)
    assert.notEqual(d.bodyIn(copy), join.join_accept)
    assert.deepEqual(d.bodyIn(copy), join.join_accept)
    const v2 = fixture('ttn-v2/up.json')
    const d2 = new Delivery('up', 'dev1', 'app/devices/dev1/up', v2, v2)
    d2.take()
    const v2copy = d2.take()
    assert.equal(d2.bodyIn(v2copy), v2copy)
  })

  it('from(): the same delivery from named fields (for messages obtained elsewhere)', () => {
    const d = Delivery.from({
      event: 'up',
      deviceId: 'd',
      topic: 't',
      message: { a: 1 },
      body: {},
      recovered: true,
    })
    assert.equal(d.recovered, true)
    assert.equal(d.deviceId, 'd')
  })
})

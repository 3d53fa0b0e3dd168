import assert from 'node:assert/strict'
import { Backoff } from '../../src/sdk/backoff'
import { ConnectResult, explainConnectFailure } from '../../src/sdk/connack'
import { Dispatcher, RefCounter } from '../../src/sdk/dispatch'
import { DownlinkError, DownlinkTracker, correlationIdsOf, type DownlinkOutcome } from '../../src/sdk/downlink-tracker'
import type { V2UplinkMessage, V3Envelope, V3UplinkMessage } from '../../src/sdk/messages'
import { Topics } from '../../src/sdk/topics'
import * as uplink from '../../src/sdk/uplink'
import { fixture } from '../fixtures'

describe('topics', () => {
  const v3 = new Topics('v3', 'app1@ttn')
  const v2 = new Topics('v2', 'app1')
  it('builds v3 filters and downlink topics with the exact username', () => {
    assert.equal(v3.eventFilter('up'), 'v3/app1@ttn/devices/+/up')
    assert.equal(v3.eventFilter('down/failed'), 'v3/app1@ttn/devices/+/down/failed')
    assert.equal(v3.downlink('dev1', 'push'), 'v3/app1@ttn/devices/dev1/down/push')
    assert.equal(v3.downlink('dev1', 'replace'), 'v3/app1@ttn/devices/dev1/down/replace')
  })
  it('parses v3 topics, and names what is wrong with the others', () => {
    assert.deepEqual(v3.parse('v3/app1@ttn/devices/dev1/up'), { deviceId: 'dev1', event: 'up' })
    assert.deepEqual(v3.parse('v3/app1@ttn/devices/dev1/up/normalized'), { deviceId: 'dev1', event: 'up/normalized' })
    assert.deepEqual(v3.parse('v3/app1@ttn/devices/dev1/down/ack'), { deviceId: 'dev1', event: 'down/ack' })
    assert.deepEqual(v3.parse('v3/app1@ttn/devices/dev1/bogus'), { problem: 'unknown event "bogus"' })
    assert.deepEqual(v3.parse('v3/other@ttn/devices/dev1/up'), { problem: 'topic outside this application' })
    assert.deepEqual(v3.parse('v3/app1@ttn/devices/dev1'), { problem: 'no device ID in topic' })
  })
  it('maps v2 topics onto the v3 event names', () => {
    assert.equal(v2.eventFilter('up'), 'app1/devices/+/up')
    assert.equal(v2.eventFilter('join'), 'app1/devices/+/events/activations')
    assert.equal(v2.eventFilter('location/solved'), undefined)
    assert.equal(v2.downlink('dev1', 'push'), 'app1/devices/dev1/down')
    assert.deepEqual(v2.parse('app1/devices/dev1/events/down/acks'), { deviceId: 'dev1', event: 'down/ack' })
  })
})

describe('uplink helpers on the official fixtures', () => {
  const up = fixture<V3UplinkMessage>('tts-v3/up.json')
  const v2 = fixture<V2UplinkMessage>('ttn-v2/up.json')
  it('reads the v3 uplink', () => {
    assert.deepEqual(uplink.payloadBytes(up), Buffer.from('gkHe', 'base64'))
    assert.deepEqual(uplink.decodedPayload(up), { temperature: 1.0, luminosity: 0.64 })
    assert.equal(uplink.frameCounter(up), 1)
    assert.equal(uplink.fPort(up), 0, 'the fixture has no f_port')
    assert.equal(uplink.frequencyHz(up), 868300000)
    assert.equal(uplink.codingRate(up), '4/6', 'the older top-level settings.coding_rate')
    assert.deepEqual(uplink.bestGateway(up), { gatewayId: 'gtw1', eui: '9C5C8E00001A05C4', rssi: -35, snr: 5 })
    assert.equal(uplink.deviceIdOf(up), 'dev1')
    assert.equal(uplink.devEuiOf(up), '0004A30B001C0530')
    assert.equal(uplink.receivedAt(up), '2020-02-12T15:15:46.014773143Z')
  })
  it('defaults an omitted f_cnt to 0 and reads the newer coding rate place', () => {
    const first: V3UplinkMessage = { uplink_message: { settings: { data_rate: { lora: { coding_rate: '4/5' } } } } }
    assert.equal(uplink.frameCounter(first), 0)
    assert.equal(uplink.codingRate(first), '4/5')
    assert.deepEqual(uplink.payloadBytes(first), Buffer.alloc(0))
    assert.equal(uplink.bestGateway(first), undefined)
  })
  it('picks the strongest of several gateways', () => {
    const msg: V3UplinkMessage = {
      uplink_message: {
        rx_metadata: [
          { gateway_ids: { gateway_id: 'a' }, rssi: -100, snr: 2 },
          { gateway_ids: { gateway_id: 'b' }, rssi: -60, snr: -3 },
          { gateway_ids: { gateway_id: 'c' }, channel_rssi: -80 },
        ],
      },
    }
    assert.equal(uplink.bestGateway(msg)?.gatewayId, 'b')
  })
  it('reads the v2 uplink', () => {
    assert.deepEqual(uplink.payloadBytes(v2), Buffer.from([1]))
    assert.deepEqual(uplink.decodedPayload(v2), { led: true })
    assert.equal(uplink.frameCounter(v2), 5)
    assert.equal(uplink.fPort(v2), 1)
    assert.equal(uplink.frequencyHz(v2), 868100000)
    assert.equal(uplink.bestGateway(v2)?.rssi, -49)
    assert.equal(uplink.summarizeUplink(v2).snr, 9.5)
  })
})

describe('dispatch', () => {
  it('routes by event and device without touching other listeners', () => {
    const d = new Dispatcher<string>()
    const got: string[] = []
    const all = (v: string) => got.push(`all:${v}`)
    const one = (v: string) => got.push(`one:${v}`)
    d.add('up', undefined, all)
    d.add('up', 'dev1', one)
    assert.equal(d.dispatch('up', 'dev1', 'a', () => assert.fail()), 2)
    assert.equal(d.dispatch('up', 'dev2', 'b', () => assert.fail()), 1)
    assert.equal(d.dispatch('join', 'dev1', 'c', () => assert.fail()), 0)
    assert.equal(d.wants('up', 'dev9'), true)
    d.remove('up', undefined, all)
    assert.equal(d.wants('up', 'dev9'), false)
    assert.equal(d.wants('up', 'dev1'), true)
    d.remove('up', 'dev1', one)
    assert.equal(d.listenerCount(), 0)
    assert.deepEqual(got, ['all:a', 'one:a', 'all:b'])
  })
  it('reports a throwing listener and still calls the others', () => {
    const d = new Dispatcher<number>()
    const errors: unknown[] = []
    let reached = false
    d.add('up', undefined, () => {
      throw new Error('boom')
    })
    d.add('up', 'x', () => {
      reached = true
    })
    d.dispatch('up', 'x', 1, (e) => errors.push(e))
    assert.equal(reached, true)
    assert.equal(errors.length, 1)
  })
  it('reference-counts subscriptions', () => {
    const r = new RefCounter<string>()
    assert.equal(r.acquire('t'), true)
    assert.equal(r.acquire('t'), false)
    assert.equal(r.release('t'), false)
    assert.equal(r.release('t'), true)
    assert.equal(r.release('t'), false)
    assert.deepEqual(r.keys(), [])
  })
})

describe('back-off', () => {
  it('grows exponentially with jitter, is capped, and resets', () => {
    const b = new Backoff({ minDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 }, () => 0)
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000, 1000])
    b.reset()
    assert.equal(b.next(), 100)
    const j = new Backoff({ minDelayMs: 1000, jitter: 0.5 }, () => 1)
    assert.equal(j.next(), 500, 'full jitter of 0.5 halves the delay at most')
  })
})

describe('connect failures are explained', () => {
  it('CONNACK 5 names the tenant suffix, key rights and cluster', () => {
    const f = explainConnectFailure(ConnectResult.NotAuthorized, 'app1@ttn', 'eu1.cloud.thethings.network:8883')
    assert.equal(f.summary, 'not authorized')
    assert.match(f.hint, /@ttn/)
    assert.match(f.hint, /rights/)
    assert.match(f.hint, /cluster/)
  })
  it('CONNACK 1 says MQTT 3.1.1', () => {
    assert.match(explainConnectFailure(1, 'a', 'h').hint, /MQTT 3\.1\.1/)
  })
})

describe('downlink tracker', () => {
  const queued = fixture<V3Envelope>('tts-v3/down-ack.json')
  function event(key: string, ids: string[], extra: object = {}): V3Envelope {
    return { correlation_ids: ['as:downlink:01X', ...ids], [key]: { correlation_ids: ids, ...extra } }
  }
  it('collects correlation IDs from envelope, body and failed downlink', () => {
    assert.ok(correlationIdsOf(queued).includes('as:downlink:01E19B99501X84X6CV471TVSZ1'))
    const failed = fixture<V3Envelope>('tts-v3/down-failed.json')
    assert.deepEqual(correlationIdsOf(failed), ['as:downlink:01E19Z5W3BZBG7CXSJE9C0A3CE'])
  })
  it('follows queued → sent → ack, resolving waits, never going backwards', async () => {
    const seen: DownlinkOutcome[] = []
    const t = new DownlinkTracker({ onStatus: (o) => seen.push(o) })
    t.track('c1', 'dev1', true)
    t.published('c1', 1000)
    const waitSent = t.wait('c1', 'sent')
    const waitFinal = t.wait('c1', 'final')
    assert.equal(t.handleEvent('down/queued', event('downlink_queued', ['c1'])), true)
    assert.equal(t.handleEvent('down/sent', event('downlink_sent', ['c1'])), true)
    assert.equal((await waitSent).status, 'sent')
    t.handleEvent('down/queued', event('downlink_queued', ['c1']))
    t.handleEvent('down/ack', event('downlink_ack', ['c1']))
    assert.equal((await waitFinal).status, 'ack')
    assert.deepEqual(seen.map((o) => o.status), ['queued', 'sent', 'ack'])
    assert.equal(t.handleEvent('down/queued', event('downlink_queued', ['other'])), false)
  })
  it('treats sent as final for unconfirmed downlinks', async () => {
    const t = new DownlinkTracker()
    t.track('c2', 'dev1', false)
    const w = t.wait('c2', 'final')
    t.handleEvent('down/sent', event('downlink_sent', ['c2']))
    assert.equal((await w).status, 'sent')
  })
  it('rejects waits on failed with the server error, and on nack', async () => {
    const t = new DownlinkTracker()
    t.track('c3', 'dev1', true)
    const w = t.wait('c3', 'queued')
    const failed = fixture<V3Envelope>('tts-v3/down-failed.json')
    ;(failed.downlink_failed as { downlink: { correlation_ids: string[] } }).downlink.correlation_ids.push('c3')
    t.handleEvent('down/failed', failed)
    await assert.rejects(w, (e: unknown) => {
      assert.ok(e instanceof DownlinkError)
      assert.equal(e.outcome.status, 'failed')
      assert.equal(e.outcome.error?.name, 'application_downlink_too_long')
      assert.match(e.message, /application_downlink_too_long/)
      return true
    })
    t.track('c4', 'dev1', true)
    t.handleEvent('down/nack', event('downlink_nack', ['c4']))
    await assert.rejects(t.wait('c4', 'final'), /not acknowledged/)
  })
  it('reports a timeout when the server never queues the downlink', async () => {
    const seen: string[] = []
    const t = new DownlinkTracker({ onStatus: (o) => seen.push(o.status) })
    t.track('c5', 'dev1', false)
    t.published('c5', 20)
    await assert.rejects(t.wait('c5', 'queued'), /no answer from The Things Stack/)
    assert.deepEqual(seen, ['timeout'])
  })
  it('stays bounded', () => {
    const t = new DownlinkTracker({ maxTracked: 3 })
    for (let i = 0; i < 10; i++) t.track(`x${i}`, 'd', false)
    assert.equal(t.size, 3)
    assert.equal(t.has('x9'), true)
    assert.equal(t.has('x0'), false)
    const big = new DownlinkTracker({ maxTracked: 100 })
    for (let i = 0; i < 1000; i++) big.track(`y${i}`, 'd', false)
    assert.ok(big.size <= 100 && big.size > 90, `size ${big.size}`)
    assert.equal(big.has('y999'), true)
    assert.equal(big.has('y899'), false, 'oldest first')
  })
  it('calls onDone exactly once: when final, evicted, abandoned or cleared, never for a step in between', () => {
    const done: string[] = []
    const t = new DownlinkTracker({ maxTracked: 2, onDone: (id) => done.push(id) })
    const track = (id: string, confirmed: boolean) => t.track(id, 'd', confirmed)
    track('final', true)
    t.handleEvent('down/queued', event('downlink_queued', ['final']))
    t.handleEvent('down/sent', event('downlink_sent', ['final']))
    assert.deepEqual(done, [], 'queued and sent of a confirmed downlink are not final')
    t.handleEvent('down/ack', event('downlink_ack', ['final']))
    t.handleEvent('down/ack', event('downlink_ack', ['final']))
    assert.deepEqual(done, ['final'])
    track('abandoned', false)
    t.abandon('abandoned')
    track('evicted', false)
    track('pushes-out', false) // maxTracked 2: evicts 'final' (remembered after its ack; already done)
    track('cleared', false) // evicts 'evicted'
    t.clear()
    assert.deepEqual(done.sort(), ['abandoned', 'cleared', 'evicted', 'final', 'pushes-out'].sort())
    assert.equal(new Set(done).size, done.length, 'no onDone twice')
  })
})

import assert from 'node:assert/strict'
import { HealthTracker } from '../../../src/sdk/health'
import { uplink } from '../../support/uplinks'

/** A tracker on a clock the test moves by hand. */
function clocked(): { tracker: HealthTracker; advance(ms: number): void } {
  let t = 1_000_000
  return { tracker: new HealthTracker({ now: () => t }), advance: (ms) => (t += ms) }
}

describe('health tracker: counting', () => {
  it('counts received and lost uplinks from gaps in the frame counter', () => {
    const { tracker } = clocked()
    for (const n of [0, 1, 2, 5, 6, 10]) tracker.observeUplink('dev1', uplink('dev1', n))
    const h = tracker.get('dev1')!.snapshot()
    assert.equal(h.received, 6)
    assert.equal(h.lost, 5) // 3, 4, 7, 8, 9
    assert.equal(h.lossRate, Math.round((5 / 11) * 10000) / 10000)
    assert.equal(h.fCnt, 10)
    assert.equal(h.resets, 0)
  })

  it('does not count a join and the counter restarting as loss', () => {
    const { tracker } = clocked()
    for (const n of [40, 41, 42]) tracker.observeUplink('dev1', uplink('dev1', n))
    tracker.observeJoin('dev1')
    // After the join the counter starts again at 0, with a new session key.
    for (const n of [0, 1, 2]) tracker.observeUplink('dev1', uplink('dev1', n, { session: 'S2' }))
    const h = tracker.get('dev1')!.snapshot()
    assert.deepEqual([h.received, h.lost, h.resets, h.joins, h.fCnt], [6, 0, 1, 1, 2])
  })

  it('recognises a rejoin by the new session key when the join event was missed', () => {
    const { tracker } = clocked()
    for (const n of [100, 101]) tracker.observeUplink('dev1', uplink('dev1', n))
    // The first uplink of the new session that arrives has counter 2: 0 and 1 of it are lost.
    tracker.observeUplink('dev1', uplink('dev1', 2, { session: 'S2' }))
    const h = tracker.get('dev1')!.snapshot()
    assert.deepEqual([h.received, h.lost, h.resets, h.joins], [3, 2, 1, 0])
  })

  it('recognises a counter that drops without a join (an ABP device restarting) as a reset', () => {
    const { tracker } = clocked()
    const noKey = (n: number) => {
      const m = uplink('dev1', n)
      delete m.uplink_message.session_key_id
      return m
    }
    for (const n of [500, 501]) tracker.observeUplink('dev1', noKey(n))
    // To a large value: a reset, but what is missing before it cannot be known, so no loss is counted.
    tracker.observeUplink('dev1', noKey(300))
    let h = tracker.get('dev1')!.snapshot()
    assert.deepEqual([h.received, h.lost, h.resets, h.fCnt], [3, 0, 1, 300])
    // To a small value: the count restarted at 0, and 0 was not seen.
    for (const n of [1, 2]) tracker.observeUplink('dev1', noKey(n))
    h = tracker.get('dev1')!.snapshot()
    assert.deepEqual([h.received, h.lost, h.resets, h.fCnt], [5, 1, 2, 2])
  })

  it('counts a repeated counter once, as a repeat', () => {
    const { tracker } = clocked()
    for (const n of [3, 4, 4, 5]) tracker.observeUplink('dev1', uplink('dev1', n))
    const h = tracker.get('dev1')!.snapshot()
    assert.deepEqual([h.received, h.repeated, h.lost], [3, 1, 0])
  })

  it('counts recovered uplinks as received: a gap that recovery fills is not loss', () => {
    const { tracker } = clocked()
    for (const n of [10, 11]) tracker.observeUplink('dev1', uplink('dev1', n))
    // The connection dropped; 12-14 were sent meanwhile. A live uplink arrives first...
    tracker.observeUplink('dev1', uplink('dev1', 15))
    assert.equal(tracker.get('dev1')!.lost, 3)
    // ...then recovery delivers what was missed.
    for (const n of [12, 13, 14]) tracker.observeUplink('dev1', uplink('dev1', n), true)
    const h = tracker.get('dev1')!.snapshot()
    assert.deepEqual([h.received, h.recovered, h.lost, h.fCnt], [6, 3, 0, 15])
    // Recovery first, then live: no gap at all.
    for (const n of [16, 17]) tracker.observeUplink('dev1', uplink('dev1', n), true)
    tracker.observeUplink('dev1', uplink('dev1', 18))
    assert.equal(tracker.get('dev1')!.lost, 0)
  })

  it('keeps a recovered uplink of an earlier session out of the current session’s counter', () => {
    const { tracker } = clocked()
    const t0 = Date.parse('2026-12-01T10:00:00Z')
    const at = (s: number) => new Date(t0 + s * 1000).toISOString()
    tracker.observeUplink('dev1', uplink('dev1', 150, { at: at(0) }))
    // Live: the device rejoined while we were away; its new session is seen first...
    tracker.observeUplink('dev1', uplink('dev1', 3, { session: 'S2', at: at(60) }))
    // ...then recovery brings the rest of the old session (151) and the start of the new one (0-2).
    tracker.observeUplink('dev1', uplink('dev1', 151, { at: at(10) }), true)
    for (const n of [0, 1, 2]) tracker.observeUplink('dev1', uplink('dev1', n, { session: 'S2', at: at(30 + n) }), true)
    const h = tracker.get('dev1')!.snapshot()
    assert.deepEqual([h.received, h.lost, h.resets, h.fCnt], [6, 0, 1, 3])
    assert.equal(h.lastSeen, at(60))
  })

  it('keeps running link statistics: best gateway RSSI and SNR, spreading factor, gateways per uplink', () => {
    const { tracker } = clocked()
    tracker.observeUplink('dev1', uplink('dev1', 1, { gateways: [['gw-a', -90, 2], ['gw-b', -70, 9]], sf: 7 }))
    tracker.observeUplink('dev1', uplink('dev1', 2, { gateways: [['gw-a', -110, -5]], sf: 10 }))
    tracker.observeUplink('dev1', uplink('dev1', 3, { gateways: [['gw-a', -100, 1], ['gw-b', -100, 3], ['gw-c', -120, -9]], sf: 9 }))
    const h = tracker.get('dev1')!.snapshot()
    assert.deepEqual(h.rssi, { min: -110, mean: -93.3, max: -70, last: -100 })
    assert.deepEqual(h.snr, { min: -5, mean: 2.3, max: 9, last: 3 })
    assert.deepEqual(h.spreadingFactor, { min: 7, mean: 8.7, max: 10, last: 9 })
    assert.deepEqual(h.gateways, { min: 1, mean: 2, max: 3, last: 3 })
    assert.deepEqual(h.bestGateway, { gatewayId: 'gw-b', rssi: -100, snr: 3 })
    assert.equal(h.devEui, '70B3D57ED0000001')
  })

  it('learns the silent time from the device’s own interval, not stretched by lost uplinks', () => {
    const { tracker, advance } = clocked()
    tracker.observeUplink('dev1', uplink('dev1', 1))
    advance(10_000)
    tracker.observeUplink('dev1', uplink('dev1', 2))
    assert.equal(tracker.get('dev1')!.learnedSilentMs, undefined, 'one interval is not enough')
    advance(20_000) // counter 3 was lost: still one interval of 10 s per frame
    tracker.observeUplink('dev1', uplink('dev1', 4))
    const h = tracker.get('dev1')!.snapshot()
    assert.equal(h.interval, 10)
    assert.equal(h.learnedSilentAfter, 30) // 3 x the interval
    // A long absence is not the device's rhythm: it does not stretch the silent time.
    advance(600_000)
    tracker.observeUplink('dev1', uplink('dev1', 5))
    assert.equal(tracker.get('dev1')!.snapshot().learnedSilentAfter, 30)
  })

  it('stores bounded state per device, whatever the number of uplinks', () => {
    const { tracker, advance } = clocked()
    const r = tracker.ensure('dev1')!
    const keys = () => Object.keys(r).length
    tracker.observeUplink('dev1', uplink('dev1', 0))
    const before = keys()
    for (let n = 1; n < 5000; n++) {
      advance(1000)
      tracker.observeUplink('dev1', uplink('dev1', n, { gateways: [['gw-' + (n % 7), -80 - (n % 30), 5]] }))
    }
    assert.equal(keys(), before)
    for (const v of Object.values(r)) assert.ok(!Array.isArray(v) && !(v instanceof Map) && !(v instanceof Set))
    assert.equal(r.received, 5000)
  })

  it('stops tracking new devices at maxDevices and counts what it left out', () => {
    const tracker = new HealthTracker({ maxDevices: 2 })
    for (const d of ['a', 'b', 'c', 'c']) tracker.observeUplink(d, uplink(d, 1))
    assert.equal(tracker.deviceCount, 2)
    assert.equal(tracker.untracked, 2)
  })

  it('ignores messages that are not uplinks', () => {
    const tracker = new HealthTracker()
    tracker.observeUplink('dev1', { nonsense: true } as never)
    tracker.observeUplink('dev1', null as never)
    assert.equal(tracker.deviceCount, 0)
  })

  it('reads v2 uplinks (legacy mode) too', () => {
    const tracker = new HealthTracker()
    const v2 = (n: number) => ({ dev_id: 'dev1', counter: n, metadata: { time: new Date().toISOString(), data_rate: 'SF9BW125', gateways: [{ gtw_id: 'gw-x', rssi: -95, snr: 4 }] } })
    for (const n of [1, 3]) tracker.observeUplink('dev1', v2(n) as never)
    const h = tracker.get('dev1')!.snapshot()
    assert.deepEqual([h.received, h.lost, h.spreadingFactor?.last, h.bestGateway?.gatewayId], [2, 1, 9, 'gw-x'])
  })

  it('carries records over to a new tracker (a full deploy replaces the client)', () => {
    const { tracker } = clocked()
    for (const n of [1, 2, 4]) tracker.observeUplink('dev1', uplink('dev1', n))
    const next = new HealthTracker()
    next.adopt(tracker)
    next.observeUplink('dev1', uplink('dev1', 6))
    const h = next.get('dev1')!.snapshot()
    assert.deepEqual([h.received, h.lost, h.fCnt], [4, 2, 6])
  })
})

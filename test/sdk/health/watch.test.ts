import assert from 'node:assert/strict'
import { type HealthEvent, HealthTracker } from '../../../src/sdk/health'
import { delay, waitFor } from '../../support/wait'
import { uplink } from '../../support/uplinks'

/** Collects a watch's events. */
function recorder(): { events: HealthEvent[]; push: (e: HealthEvent) => void; names: () => string[] } {
  const events: HealthEvent[] = []
  return { events, push: (e) => events.push(e), names: () => events.map((e) => `${e.event}${e.deviceId ? ` ${e.deviceId}` : ''}`) }
}

describe('health watch: silent, back, quiet, summary (time compressed)', function () {
  this.timeout(15_000)
  let tracker: HealthTracker
  const closers: (() => void)[] = []
  beforeEach(() => {
    tracker = new HealthTracker({ learning: { minSilentMs: 200 } })
    tracker.setConnected(true)
  })
  afterEach(() => {
    for (const c of closers.splice(0)) c()
  })
  const open = (opts: Parameters<HealthTracker['watch']>[0]) => {
    const r = recorder()
    const w = tracker.watch(opts, r.push)
    closers.push(() => w.close(true))
    return { ...r, watch: w }
  }

  it('reports a device silent once after its silent time, and back with its next uplink, with how long it was away', async () => {
    const r = open({ silentAfterMs: 600 })
    tracker.observeUplink('dev1', uplink('dev1', 1))
    tracker.observeUplink('dev2', uplink('dev2', 1))
    const keepAlive = setInterval(() => tracker.observeUplink('dev2', uplink('dev2', 2)), 150)
    try {
      await waitFor(() => r.events.some((e) => e.event === 'device/silent'), 3000, 'device/silent')
      await delay(700) // a second silent time passes: still one report
      assert.deepEqual(r.names(), ['device/silent dev1'])
      assert.equal(r.watch.silentCount, 1)
      const silent = r.events[0].payload as { silent: boolean; silentAfter: number; received: number }
      assert.deepEqual([silent.silent, silent.silentAfter, silent.received], [true, 0.6, 1])
      tracker.observeUplink('dev1', uplink('dev1', 2))
      assert.deepEqual(r.names(), ['device/silent dev1', 'device/back dev1'])
      const back = r.events[1].payload as { silent: boolean; away: number }
      assert.equal(back.silent, false)
      assert.ok(back.away >= 1.2 && back.away < 5, `away ${back.away}`)
      assert.equal(r.watch.silentCount, 0)
    } finally {
      clearInterval(keepAlive)
    }
  })

  it('learns the silent time (silentAfter 0) from the device’s interval once a few uplinks were seen', async () => {
    const r = open({ silentAfterMs: 0 })
    for (let n = 1; n <= 4; n++) {
      tracker.observeUplink('dev1', uplink('dev1', n))
      if (n < 4) await delay(150)
    }
    const learned = tracker.get('dev1')!.learnedSilentMs!
    assert.ok(learned >= 400 && learned < 3000, `learned ${learned}`) // 3 x ~150 ms, more on a busy machine
    assert.deepEqual(r.names(), [])
    await waitFor(() => r.names().includes('device/silent dev1'), 3000, 'device/silent')
    const p = r.events.find((e) => e.event === 'device/silent')!.payload as { silentAfter: number }
    assert.equal(p.silentAfter, Math.round(learned / 100) / 10)
  })

  it('does not judge a device it has not learned yet, and nobody while the connection is down', async () => {
    const r = open({ silentAfterMs: 0 })
    tracker.observeUplink('dev1', uplink('dev1', 1))
    await delay(500)
    assert.deepEqual(r.names(), [])
    tracker.setConnected(false)
    const fixed = open({ silentAfterMs: 300 })
    await delay(600)
    assert.deepEqual(fixed.names(), [], 'no silence while disconnected')
    tracker.setConnected(true) // the clock starts again at the reconnect
    await delay(150)
    assert.deepEqual(fixed.names(), [])
    await waitFor(() => fixed.names().length > 0, 2000, 'silent after reconnect')
    assert.deepEqual(fixed.names(), ['device/silent dev1', 'app/quiet'])
  })

  it('reports the application quiet when no device sent for the longest silent time, and traffic when one does', async () => {
    const r = open({ silentAfterMs: 400 })
    tracker.observeUplink('dev1', uplink('dev1', 1))
    tracker.observeUplink('dev2', uplink('dev2', 1))
    await waitFor(() => r.names().includes('app/quiet'), 3000, 'app/quiet')
    assert.deepEqual(r.names().sort(), ['app/quiet', 'device/silent dev1', 'device/silent dev2'])
    const quiet = r.events.find((e) => e.event === 'app/quiet')!.payload as { devices: number; silent: number; quietAfter: number }
    assert.deepEqual([quiet.devices, quiet.silent, quiet.quietAfter], [2, 2, 0.4])
    tracker.observeUplink('dev2', uplink('dev2', 2))
    const tail = r.names().slice(3)
    assert.deepEqual(tail, ['app/traffic dev2', 'device/back dev2'])
    const traffic = r.events[3].payload as { quietFor: number }
    assert.ok(traffic.quietFor >= 0)
  })

  it('watches one device only when asked, and starts its clock even if it never sends', async () => {
    const r = open({ deviceId: 'dev9', silentAfterMs: 300 })
    tracker.observeUplink('dev1', uplink('dev1', 1))
    await waitFor(() => r.names().length > 0, 2000, 'dev9 silent')
    await delay(400)
    assert.deepEqual(r.names(), ['device/silent dev9'], 'no app/quiet and nothing about dev1')
    assert.equal((r.events[0].payload as { received: number }).received, 0)
    assert.equal(r.watch.records().length, 1)
  })

  it('sends a summary per device every summaryEvery, with the counts of the period', async () => {
    const r = open({ summaryEveryMs: 300 })
    for (const n of [1, 2, 4]) tracker.observeUplink('dev1', uplink('dev1', n))
    await waitFor(() => r.events.length >= 1, 2000, 'first summary')
    tracker.observeUplink('dev1', uplink('dev1', 5))
    await waitFor(() => r.events.length >= 2, 2000, 'second summary')
    const [first, second] = r.events.map((e) => e.payload as { received: number; lost: number; period: { received: number; lost: number; lossRate: number } })
    assert.deepEqual([first.received, first.lost, first.period.received, first.period.lost], [3, 1, 3, 1])
    assert.deepEqual([second.received, second.period.received, second.period.lost, second.period.lossRate], [4, 1, 0, 0])
    assert.ok(r.events.every((e) => e.event === 'device/summary' && e.deviceId === 'dev1'))
  })

  it('continues the state of a watch reopened with the same key: a silent device is not reported twice', async () => {
    const first = recorder()
    let w = tracker.watch({ key: 'monitor-1', silentAfterMs: 300 }, first.push)
    tracker.observeUplink('dev1', uplink('dev1', 1))
    await waitFor(() => first.events.length > 0, 2000, 'silent')
    w.close()
    const second = recorder()
    w = tracker.watch({ key: 'monitor-1', silentAfterMs: 300 }, second.push)
    closers.push(() => w.close(true))
    await delay(500)
    assert.deepEqual(second.names(), [])
    assert.equal(w.silentCount, 1)
    tracker.observeUplink('dev1', uplink('dev1', 2))
    assert.deepEqual(second.names(), ['app/traffic dev1', 'device/back dev1'])
  })

  it('keeps going when a listener throws', async () => {
    const good = recorder()
    tracker.watch({ silentAfterMs: 200 }, () => {
      throw new Error('boom')
    })
    const w = tracker.watch({ silentAfterMs: 200 }, good.push)
    closers.push(() => w.close(true))
    tracker.observeUplink('dev1', uplink('dev1', 1))
    await waitFor(() => good.events.length > 0, 2000, 'silent')
    tracker.observeUplink('dev1', uplink('dev1', 2))
    assert.ok(good.names().includes('device/back dev1'))
  })
})

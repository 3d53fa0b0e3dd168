import assert from 'node:assert/strict'
import { MQTTClient, type MQTTClientOptions, type RecoveryEvent } from '../../src'
import type { ConnectionStatus, Delivery } from '../../src/sdk/client'
import type { UplinkMessage, V3UplinkMessage } from '../../src/sdk/messages'
import { type StorageStandInOptions, StorageStandIn, TtsBroker, buildUplink } from '../../src/simulator'
import { delay, onceWithin, waitFor } from '../support/wait'

const KEY = 'NNSXS.TESTRECOVERY.KEY'
const OTHER_KEY = 'NNSXS.TESTOTHER.KEY'
/** The client reconnects this long after a drop: the window in which uplinks are lost on MQTT. */
const RECONNECT_MS = 400

interface Got {
  fCnt: number
  device: string
  recovered: boolean
}

describe('Recovering missed uplinks (SDK, simulated server and Storage Integration)', () => {
  let broker: TtsBroker
  let storage: StorageStandIn
  const clients: MQTTClient[] = []

  async function start(storageOpts: Partial<StorageStandInOptions> = {}): Promise<void> {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
    storage = await StorageStandIn.start({ applications: [{ appId: 'app1', apiKey: KEY }], broker, ...storageOpts })
  }

  function client(recover: Partial<NonNullable<MQTTClientOptions['recover']>> = {}, options: MQTTClientOptions = {}): MQTTClient {
    const c = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, {
      tenant: 'ttn',
      reconnect: { minDelayMs: RECONNECT_MS, maxDelayMs: RECONNECT_MS, jitter: 0 },
      recover: { enabled: true, baseUrl: storage.url, settleMs: 100, retry: { minDelayMs: 50, maxDelayMs: 200 }, ...recover },
      ...options,
    })
    clients.push(c)
    return c
  }

  /** Record uplinks (f_cnt, device, recovered) and 'recovery' events of a client. */
  function watch(c: MQTTClient) {
    const got: Got[] = []
    const events: RecoveryEvent[] = []
    const statuses: ConnectionStatus[] = []
    c.on('uplink', (msg: UplinkMessage, d: Delivery<UplinkMessage>) => {
      const m = msg as V3UplinkMessage
      got.push({ fCnt: m.uplink_message?.f_cnt ?? 0, device: d.deviceId, recovered: d.recovered === true })
    })
    c.on('recovery', (e: RecoveryEvent) => events.push(e))
    c.on('status', (s: ConnectionStatus) => statuses.push(s))
    return { got, events, statuses }
  }

  async function subscribed(c: MQTTClient): Promise<void> {
    if (!c.connected) await onceWithin(c, 'connect')
    await waitFor(() => broker.subscriptionsOf(c.clientId).some((f) => f.endsWith('/up')), 3000, 'the up subscription')
  }

  async function publish(n: number, device = 'dev1'): Promise<void> {
    for (let i = 0; i < n; i++) {
      await broker.publishUplink('app1@ttn', device)
      await delay(2) // distinct milliseconds: received_at order = publish order
    }
  }

  /** The server drops the connection; n uplinks are published before the client is back (lost on MQTT). */
  async function dropAndPublish(c: MQTTClient, n: number, device = 'dev1'): Promise<void> {
    broker.disconnectAll()
    await waitFor(() => broker.connectionCount() === 0 && !c.connected, 2000, 'the drop')
    await publish(n, device)
    assert.equal(broker.connectionCount(), 0, 'all published while the client was away')
  }

  const doneEvents = (events: RecoveryEvent[]) => events.filter((e): e is Extract<RecoveryEvent, { phase: 'done' }> => e.phase === 'done')

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await storage?.stop()
    await broker?.stop()
  })

  it('delivers every uplink missed during a drop exactly once, in order, marked recovered; then live traffic without duplicates', async () => {
    await start()
    const c = client()
    const { got, events, statuses } = watch(c)
    const seed: { fCnt: number; recovered: boolean }[] = []
    c.setUplinkCallback((msg, cl, d) => {
      assert.equal(cl, c)
      seed.push({ fCnt: (msg as V3UplinkMessage).uplink_message?.f_cnt ?? 0, recovered: d.recovered === true })
    })
    await subscribed(c)
    await publish(2)
    await waitFor(() => got.length === 2, 3000, 'two live uplinks')
    await dropAndPublish(c, 5)
    await waitFor(() => doneEvents(events).length === 1, 5000, 'recovery done')
    await publish(2)
    await waitFor(() => got.length >= 9, 3000, 'live uplinks after recovery')
    await delay(200)
    assert.deepEqual(got.map((g) => g.fCnt), [1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.deepEqual(got.map((g) => g.recovered), [false, false, true, true, true, true, true, false, false])
    assert.deepEqual(seed, got.map(({ fCnt, recovered }) => ({ fCnt, recovered })), 'the seed-style callback sees the same, with delivery.recovered')
    assert.equal(doneEvents(events)[0].recovered, 5)
    assert.ok(statuses.some((s) => s.state === 'connected' && typeof s.recovering === 'number'), 'status showed the recovery')
    assert.equal(c.status.recovering, undefined, 'and is plain connected again')
    const read = storage.requests[0]
    assert.equal(read.query.order, 'received_at')
    assert.ok(read.query.after, 'reads after the last uplink delivered')
  })

  it('never delivers twice an uplink that arrives live while recovery runs, and keeps recovered ones in order', async () => {
    // Small network writes make the recovery slow enough for live uplinks to arrive in the middle of it.
    await start({ fragmentBytes: 64 })
    const c = client({ settleMs: 150 })
    const { got, events } = watch(c)
    await subscribed(c)
    await publish(1)
    await waitFor(() => got.length === 1)
    await dropAndPublish(c, 25)
    await onceWithin(c, 'connect', 3000)
    // Live traffic from the moment the client is back until recovery is over (and a bit after).
    let live = 0
    while (doneEvents(events).length === 0 && live < 200) {
      await broker.publishUplink('app1@ttn', 'dev2')
      live++
      await delay(15)
    }
    await publish(2, 'dev2')
    live += 2
    await waitFor(() => got.length >= 1 + 25 + live, 5000, 'every uplink')
    await delay(200)
    assert.ok(events.some((e) => e.phase === 'progress' || e.phase === 'done'))
    const dev1 = got.filter((g) => g.device === 'dev1')
    const dev2 = got.filter((g) => g.device === 'dev2')
    assert.deepEqual(dev1.map((g) => g.fCnt), Array.from({ length: 26 }, (_, i) => i + 1), 'dev1: each once, in order')
    assert.deepEqual(dev1.map((g) => g.recovered), [false, ...Array(25).fill(true)])
    assert.deepEqual([...dev2.map((g) => g.fCnt)].sort((a, b) => a - b), Array.from({ length: live }, (_, i) => i + 1), 'dev2: each uplink once')
    // The race really happened: live uplinks were delivered between the first and the last recovered one.
    // (A stored copy that recovery reads before MQTT delivers it goes out as recovered; the live copy is dropped.)
    const firstRecovered = got.findIndex((g) => g.recovered)
    const lastRecovered = got.map((g) => g.recovered).lastIndexOf(true)
    const liveDuring = got.slice(firstRecovered, lastRecovered).filter((g) => !g.recovered).length
    assert.ok(liveDuring >= 1, `live uplinks delivered while recovery ran: ${liveDuring} (of ${live} published)`)
    // The stored stream contained the live ones too: they were recognised, not just missing.
    assert.ok(storage.stored('app1').length === 1 + 25 + live)
  })

  it('resumes a recovery cut short by another drop, and loses nothing of either gap', async () => {
    await start({ fragmentBytes: 32 })
    const c = client()
    const { got, events } = watch(c)
    await subscribed(c)
    await dropAndPublish(c, 30)
    // Drop again as soon as the fifth recovered uplink arrives (synchronously, inside the delivery).
    let droppedAgain = false
    c.onUplink(undefined, (d) => {
      if (d.recovered && !droppedAgain && got.filter((g) => g.recovered).length >= 5) {
        droppedAgain = true
        broker.disconnectAll()
      }
    })
    await waitFor(() => droppedAgain, 5000, 'the second drop')
    await waitFor(() => !c.connected, 2000)
    await publish(3)
    await waitFor(() => doneEvents(events).length === 1, 8000, 'recovery done')
    await delay(200)
    assert.deepEqual(got.map((g) => g.fCnt), Array.from({ length: 33 }, (_, i) => i + 1), 'every uplink once, in order')
    assert.ok(got.every((g) => g.recovered))
    assert.ok(events.filter((e) => e.phase === 'start').length >= 2, 'a second recovery picked up where the first stopped')
    const secondStart = events.filter((e): e is Extract<RecoveryEvent, { phase: 'start' }> => e.phase === 'start')[1]
    assert.ok(secondStart.after > (events.find((e) => e.phase === 'start') as { after: string }).after, 'from its checkpoint, not from the beginning')
  })

  it('waits settleMs for storage to write the last uplinks of the gap (batched writes)', async () => {
    // Positive: readable 400 ms after storing, read 700 ms after the reconnect. Control: read at once, while
    // storage still hides them for 3 s (far from any timing margin, even on a loaded machine).
    for (const [settleMs, writeDelayMs, expectAll] of [
      [700, 400, true],
      [0, 3000, false],
    ] as const) {
      await start({ writeDelayMs })
      const c = client({ settleMs })
      const { got, events } = watch(c)
      await subscribed(c)
      await dropAndPublish(c, 4)
      await waitFor(() => doneEvents(events).length === 1, 5000, 'recovery done')
      await delay(100)
      if (expectAll) assert.deepEqual(got.map((g) => g.fCnt), [1, 2, 3, 4], `settle ${settleMs} ms`)
      else assert.ok(got.length < 4, `without settling, uplinks storage had not written yet are missed (${got.length})`)
      await Promise.all(clients.splice(0).map((x) => x.close()))
      await storage.stop()
      await broker.stop()
    }
  })

  const refusals: [string, Partial<StorageStandInOptions>, string, RegExp][] = [
    ['403: a key without the right to read traffic', { applications: [{ appId: 'app1', apiKey: OTHER_KEY }] }, 'forbidden', /Read application traffic/],
    ['404: the Storage Integration is not enabled', { applications: [{ appId: 'app1', apiKey: KEY, enabled: false }] }, 'not-found', /Integrations → Storage Integration/],
  ]
  for (const [title, storageOpts, kind, text] of refusals) {
    it(`${title}: one clear warning, recovery off for the connection, live traffic unaffected`, async () => {
      await start(storageOpts)
      const c = client()
      const { got, events } = watch(c)
      const warnings: string[] = []
      c.on('warning', (w: string) => warnings.push(w))
      await subscribed(c)
      await dropAndPublish(c, 2)
      await waitFor(() => events.some((e) => e.phase === 'failed'), 5000, 'the failure')
      await publish(2)
      await waitFor(() => got.length === 2, 3000, 'live uplinks')
      // A second drop: the same problem is not reported again.
      await dropAndPublish(c, 1)
      await subscribed(c)
      await waitFor(() => storage.requests.length === 2, 3000, 'the second attempt')
      await delay(100)
      await publish(1)
      await waitFor(() => got.length === 3, 3000)
      const failed = events.filter((e) => e.phase === 'failed')
      assert.equal(failed.length, 1)
      assert.equal((failed[0] as { reason: string }).reason, kind)
      assert.equal(warnings.length, 1)
      assert.match(warnings[0], text)
      assert.match(warnings[0], /Live uplinks are not affected/)
      assert.deepEqual(got.map((g) => [g.fCnt, g.recovered]), [
        [3, false],
        [4, false],
        [6, false],
      ])
      assert.equal(c.status.state, 'connected')
      assert.equal(c.status.recovering, undefined)
    })
  }

  it('retries a rate-limited (429) read after Retry-After, then recovers', async () => {
    await start()
    const c = client()
    const { got, events } = watch(c)
    await subscribed(c)
    storage.injectFault({ type: 'rate-limit', retryAfterSeconds: 0.5 })
    await dropAndPublish(c, 3)
    await waitFor(() => doneEvents(events).length === 1, 5000, 'recovery done')
    assert.deepEqual(got.map((g) => g.fCnt), [1, 2, 3])
    assert.equal(storage.requests[0].status, 429)
    assert.ok(storage.requests[1].at - storage.requests[0].at >= 490)
  })

  it('at start-up recovers the look-back window only when asked, and warns about what retention lost', async () => {
    await start()
    // Published before any client exists: stored, lost on MQTT.
    await publish(3)
    const plain = client()
    const a = watch(plain)
    await subscribed(plain)
    await delay(400)
    assert.deepEqual(a.got, [], 'default: no look-back')
    assert.equal(storage.requests.length, 0)
    await plain.close()

    const back = client({ lookbackMs: 2 * 3600_000, retentionMs: 3600_000 })
    const b = watch(back)
    await subscribed(back)
    await waitFor(() => doneEvents(b.events).length === 1, 5000, 'recovery done')
    assert.deepEqual(b.got.map((g) => [g.fCnt, g.recovered]), [
      [1, true],
      [2, true],
      [3, true],
    ])
    const retention = b.events.find((e) => e.phase === 'warning' && e.reason === 'retention') as Extract<RecoveryEvent, { phase: 'warning' }>
    assert.ok(retention, 'retention warning')
    assert.ok(Math.abs((retention.lostMs ?? 0) - 3600_000) < 5000, `about one hour lost: ${retention.lostMs}`)
    assert.match(retention.message, /could not be recovered/)
    assert.match(retention.message, /\(1 h\)/)
  })

  it('streams a backlog of 3000 uplinks in pages (server cap, no continuation header, an error midway): each once, in order', async () => {
    await start({ pageCap: 400, continuationTokens: false })
    const t0 = Date.now() - 120_000
    const devices = ['dev-a', 'dev-b', 'dev-c']
    for (let i = 0; i < 3000; i++) {
      const m = buildUplink({ applicationId: 'app1', deviceId: devices[i % 3], fCnt: i + 1, tenant: 'ttn' })
      m.received_at = `${new Date(t0 + i * 20).toISOString().slice(0, 23)}${String(i % 1000).padStart(3, '0')}417Z`
      storage.store('app1', m)
    }
    storage.injectFault({ type: 'status', status: 503, message: 'unavailable' })
    storage.injectFault({ type: 'in-band-error', afterResults: 250 })
    const c = client({ lookbackMs: 5 * 60_000, settleMs: 0 })
    const { got, events } = watch(c)
    const started = Date.now()
    await waitFor(() => doneEvents(events).length === 1, 15_000, 'recovery done')
    const ms = Date.now() - started
    assert.equal(got.length, 3000)
    assert.deepEqual(got.map((g) => g.fCnt), Array.from({ length: 3000 }, (_, i) => i + 1))
    assert.ok(got.every((g) => g.recovered))
    assert.ok(storage.requests.length >= 9 && storage.requests.length <= 14, `${storage.requests.length} requests`)
    assert.ok(events.filter((e) => e.phase === 'progress').length >= 1, 'progress reported while it ran')
    console.log(`      3000 stored uplinks recovered in ${ms} ms, ${storage.requests.length} requests`)
  })

  it('a replacement client continues from recoveryCheckpoint (e.g. across a redeploy)', async () => {
    await start()
    const first = client()
    const a = watch(first)
    await subscribed(first)
    await publish(2)
    await waitFor(() => a.got.length === 2)
    await first.close()
    const checkpoint = first.recoveryCheckpoint
    assert.ok(checkpoint && checkpoint.recent.length > 0)
    await publish(3)
    const second = client({ resumeFrom: checkpoint })
    const b = watch(second)
    await subscribed(second)
    await waitFor(() => doneEvents(b.events).length === 1, 5000, 'recovery done')
    await publish(1)
    await waitFor(() => b.got.length === 4, 3000)
    await delay(100)
    assert.deepEqual(b.got.map((g) => [g.fCnt, g.recovered]), [
      [3, true],
      [4, true],
      [5, true],
      [6, false],
    ])
  })

  it('recovers the gap of a stop() … start() too (Node-RED stops a connection nobody uses, then resumes it)', async () => {
    await start()
    const c = client()
    const { got, events } = watch(c)
    await subscribed(c)
    await publish(1)
    await waitFor(() => got.length === 1)
    await c.stop()
    await publish(2)
    await c.start()
    await waitFor(() => doneEvents(events).length === 1, 5000, 'recovery done')
    assert.deepEqual(got.map((g) => [g.fCnt, g.recovered]), [
      [1, false],
      [2, true],
      [3, true],
    ])
  })

  it('costs nothing when off: no storage request, no recovered flag', async () => {
    await start()
    const c = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, { tenant: 'ttn', reconnect: { minDelayMs: RECONNECT_MS, maxDelayMs: RECONNECT_MS, jitter: 0 } })
    clients.push(c)
    const { got } = watch(c)
    await subscribed(c)
    await dropAndPublish(c, 2)
    await subscribed(c)
    await publish(1)
    await waitFor(() => got.length === 1)
    await delay(300)
    assert.deepEqual(got, [{ fCnt: 3, device: 'dev1', recovered: false }])
    assert.equal(storage.requests.length, 0)
    assert.equal(c.recoveryCheckpoint, undefined)
  })

  it('refuses recovery with the v2 API and with a shared group, saying why', async () => {
    await start()
    assert.throws(() => new MQTTClient('app1', KEY, '127.0.0.1:1883', { api: 'v2', autoConnect: false, recover: { enabled: true } }), /needs The Things Stack/)
    assert.throws(
      () => new MQTTClient('app1', KEY, 'broker.example.com:1883', { autoConnect: false, sharedGroup: 'g', recover: { enabled: true, baseUrl: 'https://eu1.cloud.thethings.network' } }),
      /shared subscription group/,
    )
  })
})

import assert from 'node:assert/strict'
import { ConnectError, DownlinkError, MQTTClient, type MQTTClientOptions, ValidationError } from '../../src'
import type { ConnectionStatus, Delivery } from '../../src/sdk/client'
import type { UplinkMessage, V3DownlinkRequest, V3UplinkMessage } from '../../src/sdk/messages'
import { TtsBroker } from '../../src/simulator'
import { fixture } from '../fixtures'
import { delay, onceWithin, waitFor } from '../support/wait'

const KEY = 'NNSXS.TESTKEY.SECRET'
const FAST: MQTTClientOptions = { tenant: 'ttn', reconnect: { minDelayMs: 50, maxDelayMs: 400 } }

describe('MQTTClient against the simulated The Things Stack', () => {
  let broker: TtsBroker
  const clients: MQTTClient[] = []

  function client(options: MQTTClientOptions = {}, key = KEY, appId = 'app1'): MQTTClient {
    const c = new MQTTClient(appId, key, `127.0.0.1:${broker.port}`, { ...FAST, ...options })
    clients.push(c)
    return c
  }

  beforeEach(async () => {
    broker = await TtsBroker.start({
      applications: [
        { appId: 'app1', tenant: 'ttn', apiKey: KEY },
        { appId: 'legacy', tenant: null, apiKey: KEY, api: 'v2' },
      ],
    })
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await broker.stop()
  })

  describe('connecting', () => {
    it('connects on construction, calls connectCallback(0) and reports connecting → connected', async () => {
      const c = client()
      const states: string[] = []
      const results: number[] = []
      c.on('status', (s: ConnectionStatus) => states.push(s.state))
      c.setConnectCallback((res, cl) => {
        assert.equal(cl, c)
        results.push(res)
      })
      await onceWithin(c, 'connect')
      assert.deepEqual(results, [0])
      assert.deepEqual(states, ['connecting', 'connected'])
      assert.equal(c.username, 'app1@ttn')
      assert.equal(broker.connectionCount('app1@ttn'), 1)
    })

    it('does not connect with autoConnect false until connect() is called, and connect() resolves', async () => {
      const c = client({ autoConnect: false })
      await delay(100)
      assert.equal(broker.connectionCount(), 0)
      await c.connect()
      assert.equal(c.connected, true)
      assert.equal(broker.connectionCount('app1@ttn'), 1)
    })

    it('uses a random unique client ID by default and MQTT 3.1.1 with a clean session', async () => {
      const a = client({ autoConnect: false })
      const b = client({ autoConnect: false })
      assert.notEqual(a.clientId, b.clientId)
      await Promise.all([a.connect(), b.connect()])
      assert.deepEqual(broker.clientIds('app1@ttn').sort(), [a.clientId, b.clientId].sort())
    })

    it('explains CONNACK 5, keeps retrying with growing back-off, and connects once the key is right', async () => {
      const c = client(
        { autoConnect: false, reconnect: { minDelayMs: 40, maxDelayMs: 1000 } },
        'NNSXS.WRONG.KEY',
      )
      const results: number[] = []
      const statuses: ConnectionStatus[] = []
      c.setConnectCallback((res) => results.push(res))
      c.on('status', (s: ConnectionStatus) => statuses.push(s))
      await assert.rejects(c.connect(), (err: unknown) => {
        assert.ok(err instanceof ConnectError)
        assert.equal(err.code, 5)
        assert.match(err.message, /not authorized/)
        assert.match(err.hint, /@ttn/)
        return true
      })
      await waitFor(() => results.length >= 3, 5000, 'three attempts')
      assert.ok(results.every((r) => r === 5))
      const na = statuses.filter((s) => s.state === 'not-authorized')
      assert.ok(na.length >= 2)
      assert.ok((na[na.length - 1].attempt ?? 0) > (na[0].attempt ?? 0))
      assert.match(na[0].hint ?? '', /rights/)
      broker.setApiKey('app1', 'NNSXS.WRONG.KEY')
      await onceWithin(c, 'connect', 5000)
      assert.equal(c.status.state, 'connected')
    })

    it('reconnects after the server drops the connection, re-subscribes, and delivers each uplink once', async () => {
      const c = client()
      const got: UplinkMessage[] = []
      const closes: number[] = []
      c.setUplinkCallback((m) => got.push(m))
      c.setCloseCallback((res) => closes.push(res))
      await onceWithin(c, 'connect')
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 1, 2000, 'subscription')
      for (let round = 0; round < 3; round++) {
        const states: string[] = []
        const onStatus = (s: ConnectionStatus) => states.push(s.state)
        c.on('status', onStatus)
        broker.disconnectAll()
        await onceWithin(c, 'connect', 5000)
        c.off('status', onStatus)
        assert.deepEqual(states, ['reconnecting', 'connected'])
        await waitFor(() => broker.subscriptionsOf(c.clientId).length === 1, 2000, 'resubscription')
      }
      assert.deepEqual(closes, [1, 1, 1])
      assert.deepEqual(broker.subscriptionsOf(c.clientId), ['v3/app1@ttn/devices/+/up'])
      await broker.publishUplink('app1@ttn', 'dev1')
      await waitFor(() => got.length === 1, 2000, 'uplink')
      await delay(100)
      assert.equal(got.length, 1, 'exactly once after three reconnects')
    })

    it('reconnects when the broker restarts on the same port', async () => {
      const c = client()
      const got: UplinkMessage[] = []
      c.setUplinkCallback((m) => got.push(m))
      await onceWithin(c, 'connect')
      const port = broker.port
      await broker.stop()
      broker = await TtsBroker.start({ port, applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
      await onceWithin(c, 'connect', 5000)
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 1, 2000, 'resubscription')
      await broker.publishUplink('app1@ttn', 'dev1')
      await waitFor(() => got.length === 1, 2000, 'uplink after restart')
    })

    it('close() calls closeCallback(0), stops reconnecting and settles startForever()', async () => {
      const c = client({ autoConnect: false })
      const closes: number[] = []
      c.setCloseCallback((res) => closes.push(res))
      const forever = c.startForever()
      await onceWithin(c, 'connect')
      let settled = false
      forever.then(() => {
        settled = true
      })
      await c.close()
      await forever
      assert.equal(settled, true)
      assert.deepEqual(closes, [0])
      assert.equal(c.status.state, 'disconnected')
      await delay(150)
      assert.equal(broker.connectionCount(), 0)
    })

    it('close() at any moment of connecting leaves no connection behind at the broker', async () => {
      for (let i = 0; i < 30; i++) {
        const c = client()
        await delay(i % 6)
        await c.close()
      }
      await delay(300)
      assert.equal(broker.connectionCount(), 0)
    })

    it('stop() disconnects and start() resumes; connect() works again after close()', async () => {
      const c = client()
      await onceWithin(c, 'connect')
      await c.stop()
      await waitFor(() => broker.connectionCount() === 0, 2000, 'disconnect')
      await c.start()
      assert.equal(broker.connectionCount('app1@ttn'), 1)
      await c.close()
      await c.connect()
      assert.equal(c.connected, true)
    })
  })

  describe('uplinks and events', () => {
    it('delivers the parsed uplink (official fixture) to the uplink callback with the client', async () => {
      const c = client()
      const got: [UplinkMessage, MQTTClient][] = []
      c.setUplinkCallback((m, cl) => got.push([m, cl]))
      await onceWithin(c, 'connect')
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 1)
      const up = fixture('tts-v3/up.json')
      await broker.publishUplink('app1@ttn', 'dev1', { fullMessage: up })
      await waitFor(() => got.length === 1)
      assert.deepEqual(got[0][0], up)
      assert.equal(got[0][1], c)
    })

    it('routes by device; removing one listener never cuts off another', async () => {
      const c = client()
      await onceWithin(c, 'connect')
      const a: string[] = []
      const b: string[] = []
      const all: string[] = []
      const offA = c.onUplink('dev-a', (d) => a.push(d.deviceId))
      c.onUplink('dev-b', (d) => b.push(d.deviceId))
      const offAll = c.onUplink(undefined, (d) => all.push(d.deviceId))
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 1, 2000, 'one shared subscription')
      await broker.publishUplink('app1@ttn', 'dev-a')
      await broker.publishUplink('app1@ttn', 'dev-b')
      await broker.publishUplink('app1@ttn', 'dev-c')
      await waitFor(() => all.length === 3)
      assert.deepEqual(a, ['dev-a'])
      assert.deepEqual(b, ['dev-b'])
      offA()
      offAll()
      await broker.publishUplink('app1@ttn', 'dev-b')
      await waitFor(() => b.length === 2, 2000, 'dev-b still delivered')
      assert.deepEqual(broker.subscriptionsOf(c.clientId), ['v3/app1@ttn/devices/+/up'])
      assert.equal(c.listenerTotal, 1)
    })

    it('unsubscribes when the last listener of an event goes', async () => {
      const c = client({ subscribeUplinks: 'on-demand' })
      await onceWithin(c, 'connect')
      const off = c.onEvent('join', undefined, () => undefined)
      await waitFor(() => broker.subscriptionsOf(c.clientId).includes('v3/app1@ttn/devices/+/join'))
      off()
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 0, 2000, 'unsubscribe')
    })

    it('delivers typed events: join (fixture), one event, or all', async () => {
      const c = client()
      await onceWithin(c, 'connect')
      const joins: Delivery[] = []
      const all: string[] = []
      c.onEvent('join', 'dev1', (d) => joins.push(d))
      c.onEvent('all', undefined, (d) => all.push(d.event))
      await waitFor(() => broker.subscriptionsOf(c.clientId).length >= 10, 2000, 'event subscriptions')
      const join = fixture('tts-v3/join.json')
      await broker.publishRaw('v3/app1@ttn/devices/dev1/join', JSON.stringify(join))
      await broker.publishEvent('app1@ttn', 'dev1', 'location/solved')
      await broker.publishEvent('app1@ttn', 'dev1', 'service/data')
      await broker.publishEvent('app1@ttn', 'dev1', 'up/normalized')
      await waitFor(() => all.length === 4)
      assert.deepEqual(all, ['join', 'location/solved', 'service/data', 'up/normalized'])
      assert.equal(joins.length, 1)
      assert.deepEqual(joins[0].body, (join as { join_accept: unknown }).join_accept)
      assert.equal(joins[0].topic, 'v3/app1@ttn/devices/dev1/join')
    })

    describe('a callback set at any time after connecting receives every uplink published after the call (seed)', () => {
      // The seed subscribes to the uplinks when it connects; a callback set later must not wait for a SUBACK.
      async function connectedThenIdle(): Promise<MQTTClient> {
        const c = client()
        const results: number[] = []
        c.setConnectCallback((res) => results.push(res))
        await waitFor(() => results.length === 1, 5000, 'connect callback')
        assert.deepEqual(results, [0])
        await delay(100)
        return c
      }
      const publishFour = () =>
        Promise.all([1, 2, 3, 4].map((i) => broker.publishUplink('app1@ttn', `dev${i}`)))

      it('setUplinkCallback', async () => {
        const c = await connectedThenIdle()
        const got: string[] = []
        c.setUplinkCallback((_m, _c, d) => got.push(d.deviceId))
        await publishFour()
        await waitFor(() => got.length === 4, 3000, 'four uplinks')
        assert.deepEqual(got.sort(), ['dev1', 'dev2', 'dev3', 'dev4'])
      })

      it("on('uplink')", async () => {
        const c = await connectedThenIdle()
        const got: unknown[] = []
        c.on('uplink', (m) => got.push(m))
        await publishFour()
        await waitFor(() => got.length === 4, 3000, 'four uplinks')
      })

      it('onUplink()', async () => {
        const c = await connectedThenIdle()
        const got: string[] = []
        c.onUplink(undefined, (d) => got.push(d.deviceId))
        await publishFour()
        await waitFor(() => got.length === 4, 3000, 'four uplinks')
      })

      it("with subscribeUplinks: 'on-demand' (the Node-RED config node) nothing is subscribed until someone listens", async () => {
        const c = client({ subscribeUplinks: 'on-demand' })
        await onceWithin(c, 'connect')
        await delay(100)
        assert.deepEqual(broker.subscriptionsOf(c.clientId), [])
      })
    })

    it("offers Node-style events: client.on('uplink') holds a subscription", async () => {
      const c = client({ subscribeUplinks: 'on-demand' })
      const got: unknown[] = []
      const listener = (m: unknown) => got.push(m)
      c.on('uplink', listener)
      await onceWithin(c, 'connect')
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 1)
      await broker.publishUplink('app1@ttn', 'dev1')
      await waitFor(() => got.length === 1)
      c.off('uplink', listener)
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 0, 2000, 'unsubscribe')
    })

    it('reports malformed messages with the topic, never throws, and keeps the stream going', async () => {
      const c = client()
      const errors: Error[] = []
      const got: string[] = []
      c.on('error', (e: Error) => errors.push(e))
      c.onUplink(undefined, (d) => got.push(d.deviceId))
      await onceWithin(c, 'connect')
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 1)
      await broker.publishRaw('v3/app1@ttn/devices/dev1/up', '{not json')
      await broker.publishRaw('v3/app1@ttn/devices/dev1/up', Buffer.from([0xff, 0x00, 0x13]))
      await broker.publishRaw('v3/app1@ttn/devices/dev1/up', '[1,2]')
      await broker.publishRaw('v3/app1@ttn/devices/dev1/up', JSON.stringify(fixture('ttn-v2/up.json')))
      await broker.publishUplink('app1@ttn', 'dev2')
      await waitFor(() => got.length === 1)
      assert.deepEqual(got, ['dev2'])
      assert.equal(errors.length, 4)
      for (const e of errors) assert.match(e.message, /malformed message on v3\/app1@ttn\/devices\/dev1\/up/)
      assert.match(errors[0].message, /invalid JSON/)
      assert.match(errors[3].message, /no "uplink_message" object/)
    })

    it('survives malformed messages and throwing callbacks without an error listener', async () => {
      const c = client()
      let n = 0
      c.setUplinkCallback(() => {
        n++
        throw new Error('user bug')
      })
      await onceWithin(c, 'connect')
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 1)
      await broker.publishRaw('v3/app1@ttn/devices/dev1/up', 'garbage')
      await broker.publishUplink('app1@ttn', 'dev1')
      await broker.publishUplink('app1@ttn', 'dev1')
      await waitFor(() => n === 2)
    })
  })

  describe('send', () => {
    async function connected(options: MQTTClientOptions = {}): Promise<MQTTClient> {
      const c = client({ autoConnect: false, ...options })
      await c.connect()
      return c
    }
    function lastBody(): V3DownlinkRequest {
      return broker.downlinks[broker.downlinks.length - 1].body as V3DownlinkRequest
    }

    it('publishes bytes as frm_payload on down/replace by default, with a correlation ID, and calls downlinkCallback(mid)', async () => {
      const c = await connected()
      const mids: number[] = []
      c.setDownlinkCallback((mid, cl) => {
        assert.equal(cl, c)
        mids.push(mid)
      })
      const r = await c.send('dev1', Buffer.from([0xbe, 0xef]))
      assert.deepEqual(mids, [r.mid])
      await waitFor(() => broker.downlinks.length === 1)
      const d = broker.downlinks[0]
      assert.equal(d.topic, 'v3/app1@ttn/devices/dev1/down/replace')
      assert.deepEqual(d.violations, [])
      assert.deepEqual(d.body, {
        downlinks: [
          {
            f_port: 1,
            frm_payload: 'vu8=',
            confirmed: false,
            priority: 'NORMAL',
            correlation_ids: [r.correlationId],
          },
        ],
      })
      assert.deepEqual(r.body, d.body)
      assert.equal(r.topic, d.topic)
    })

    it('accepts every payload form: base64 string (seed), byte array, Uint8Array, hex when asked, object as decoded_payload', async () => {
      const c = await connected()
      await c.send('dev1', 'AQ==')
      await c.send('dev1', [1, 2, 3])
      await c.send('dev1', new Uint8Array([4]))
      await c.send('dev1', '0a0b', 1, false, 'replace', { payloadFormat: 'hex' })
      await c.send('dev1', { led: true })
      await waitFor(() => broker.downlinks.length === 5)
      const items = broker.downlinks.map((d) => (d.body as V3DownlinkRequest).downlinks[0])
      assert.deepEqual(
        items.map((i) => i.frm_payload ?? i.decoded_payload),
        ['AQ==', 'AQID', 'BA==', 'Cgs=', { led: true }],
      )
      assert.ok(broker.downlinks.every((d) => d.violations.length === 0))
    })

    it('applies port, confirmation, schedule last → down/push, and priority', async () => {
      const c = await connected()
      await c.send('dev1', [1], 15, true, 'last', { priority: 'high' })
      await waitFor(() => broker.downlinks.length === 1)
      assert.equal(broker.downlinks[0].topic, 'v3/app1@ttn/devices/dev1/down/push')
      const item = lastBody().downlinks[0]
      assert.equal(item.f_port, 15)
      assert.equal(item.confirmed, true)
      assert.equal(item.priority, 'HIGH')
    })

    it('rejects invalid input with a clear error and publishes nothing', async () => {
      const c = await connected()
      const cases: [unknown[], RegExp][] = [
        [['Dev1', [1]], /upper-case/],
        [['dev1', [1], 0], /FPort/],
        [['dev1', [1], 224], /FPort/],
        [['dev1', 'not base64!'], /not valid base64/],
        [['dev1', null], /payload is null/],
        [['dev1', Buffer.alloc(256)], /at most 255/],
        [['dev1', [1], 1, false, 'first'], /does not exist in The Things Stack v3/],
        [['dev1', [1], 1, false, 'whenever'], /Unknown schedule/],
        [['dev+', [1]], /not allowed/],
      ]
      for (const [args, pattern] of cases) {
        await assert.rejects(
          (c.send as (...a: unknown[]) => Promise<unknown>)(...args),
          (err: unknown) => err instanceof ValidationError && pattern.test(err.message),
          `${JSON.stringify(args)} should be refused`,
        )
      }
      await assert.rejects(
        c.send('dev1', [1], 1, false, 'replace', { priority: 'URGENT' }),
        /Unknown priority/,
      )
      await delay(100)
      assert.equal(broker.downlinks.length, 0)
    })

    it('does not crash a seed-style caller that ignores the returned promise', async () => {
      const c = await connected()
      const unhandled: unknown[] = []
      const onUnhandled = (r: unknown) => unhandled.push(r)
      process.on('unhandledRejection', onUnhandled)
      try {
        c.send('BAD ID', [1])
        await delay(50)
      } finally {
        process.off('unhandledRejection', onUnhandled)
      }
      assert.deepEqual(unhandled, [])
    })

    it('reports a refused send once: to the caller who awaits it, else as one error event', async () => {
      const c = await connected()
      const errors: Error[] = []
      c.on('error', (e) => errors.push(e))
      await assert.rejects(c.send('BAD ID', [1]), ValidationError)
      await c.send('dev1', [1], 0).catch(() => undefined)
      await delay(50)
      assert.deepEqual(errors, [], 'handled failures are not reported again')
      c.send('BAD ID', [1])
      await waitFor(() => errors.length === 1, 2000, 'the unhandled failure as an error event')
      await delay(50)
      assert.equal((errors as Error[]).length, 1)
      assert.ok((errors as Error[])[0] instanceof ValidationError)
    })

    it('lets the caller await the outcome: queued from the server, matched by correlation ID', async () => {
      const c = await connected()
      const r = await c.send('dev1', [1, 2], 2)
      const o = await r.wait('queued', 2000)
      assert.equal(o.status, 'queued')
      assert.equal(o.correlationId, r.correlationId)
      assert.ok(o.event?.correlation_ids?.includes(r.correlationId))
      assert.ok(o.event?.correlation_ids?.some((id) => id.startsWith('as:downlink:')))
    })

    it('reports down/failed against the send that caused it', async () => {
      const c = await connected()
      const statuses: string[] = []
      const r = await c.send('dev1', Buffer.alloc(100), 1, false, 'replace', {
        onStatus: (o) => statuses.push(o.status),
      })
      await assert.rejects(r.wait('queued', 2000), (err: unknown) => {
        assert.ok(err instanceof DownlinkError)
        assert.equal(err.outcome.status, 'failed')
        assert.equal(err.outcome.error?.name, 'application_downlink_too_long')
        return true
      })
      assert.deepEqual(statuses, ['failed'])
    })

    it('follows a confirmed downlink to sent and ack when the network delivers it', async () => {
      await broker.stop()
      broker = await TtsBroker.start({
        applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }],
        autoDeliver: { sentAfterMs: 20, ackAfterMs: 20 },
      })
      const c = await connected()
      const statuses: string[] = []
      const r = await c.send('dev1', [1], 1, true, 'last', { onStatus: (o) => statuses.push(o.status) })
      const final = await r.wait('final', 3000)
      assert.equal(final.status, 'ack')
      assert.deepEqual(statuses, ['queued', 'sent', 'ack'])
      assert.equal((await c.waitForDownlink(r.correlationId, 'sent')).status, 'ack')
    })

    it('reports a timeout when the server stays silent', async () => {
      // The "legacy" application is a v2 one: the simulator accepts the login but drops v3 downlinks
      // without a word, as The Things Stack does for a key without downlink rights.
      const c = client({ autoConnect: false, tenant: null, downlinkTimeoutMs: 150 }, KEY, 'legacy')
      await c.connect()
      const statuses: string[] = []
      const r = await c.send('dev1', [1], 1, false, 'replace', { onStatus: (o) => statuses.push(o.status) })
      await assert.rejects(
        r.wait('queued'),
        (err: unknown) => err instanceof DownlinkError && err.outcome.status === 'timeout',
      )
      assert.deepEqual(statuses, ['timeout'])
      assert.equal(broker.rejectedPublishes.length, 1)
    })

    it('queues downlinks while offline and sends them after reconnect; the bound holds; close() fails the rest', async () => {
      const c = client({ autoConnect: false, offlineQueueLimit: 2 })
      c.connect().catch(() => undefined)
      await c.close()
      c.connect().catch(() => undefined)
      await c.stop()
      // Not connected but wanting to: queue.
      const pending = c.connect()
      const first = c.send('dev1', [1])
      const second = c.send('dev1', [2])
      const third = c.send('dev1', [3])
      await assert.rejects(third, /already waiting \(limit 2\)/)
      await pending
      const [r1, r2] = await Promise.all([first, second])
      await waitFor(() => broker.downlinks.length === 2)
      assert.deepEqual(
        broker.downlinks.map((d) => (d.body as V3DownlinkRequest).downlinks[0].correlation_ids?.[0]),
        [r1.correlationId, r2.correlationId],
      )

      await broker.stop()
      await waitFor(() => !c.connected, 3000, 'disconnect')
      const offline = c.send('dev1', [9])
      await c.close()
      await assert.rejects(offline, /closed before the downlink to dev1 could be sent/)
      await assert.rejects(c.send('dev1', [1]), /client is closed/)
      broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
    })
  })

  describe('legacy v2 mode', () => {
    it('receives v2 uplinks and sends v2 downlinks with schedule first', async () => {
      const c = new MQTTClient('legacy', KEY, `127.0.0.1:${broker.port}`, { api: 'v2', autoConnect: false })
      clients.push(c)
      const got: UplinkMessage[] = []
      c.setUplinkCallback((m) => got.push(m))
      await c.connect()
      assert.equal(c.username, 'legacy')
      await waitFor(() => broker.subscriptionsOf(c.clientId).length === 1)
      assert.deepEqual(broker.subscriptionsOf(c.clientId), ['legacy/devices/+/up'])
      await broker.publishUplink('legacy', 'dev_1')
      await waitFor(() => got.length === 1)
      assert.equal((got[0] as { dev_id?: string }).dev_id, 'dev_1')
      const r = await c.send('dev_1', { led: true }, 2, true, 'first')
      await waitFor(() => broker.downlinks.length === 1)
      assert.equal(broker.downlinks[0].topic, 'legacy/devices/dev_1/down')
      assert.deepEqual(broker.downlinks[0].body, {
        port: 2,
        confirmed: true,
        schedule: 'first',
        payload_fields: { led: true },
      })
      await assert.rejects(r.wait('queued'), /not reported in the TTN v2 API mode/)
      await c.send('dev_1', 'AQ==', 1, false, 'push')
      await waitFor(() => broker.downlinks.length === 2)
      assert.deepEqual(broker.downlinks[1].body, {
        port: 1,
        confirmed: false,
        schedule: 'last',
        payload_raw: 'AQ==',
      })
    })
  })

  it('constructor errors say what to fix', () => {
    assert.throws(() => new MQTTClient('My App', KEY, 'localhost:1883', { autoConnect: false }), /not valid/)
    assert.throws(
      () => new MQTTClient('app1', '', 'localhost:1883', { autoConnect: false }),
      /API key .* is missing/,
    )
    assert.throws(() => new MQTTClient('app1', KEY, 'ws://x', { autoConnect: false }), /Unsupported scheme/)
    assert.throws(
      () => new MQTTClient('app1', KEY, 'x', { autoConnect: false, api: 'v4' as 'v3' }),
      /Unknown api/,
    )
    const c = new MQTTClient('app1', KEY, undefined, { autoConnect: false })
    assert.equal(c.username, 'app1@ttn')
    assert.equal(c.host, 'eu1.cloud.thethings.network')
    assert.equal(c.port, 8883)
    assert.equal(c.tls, true)
  })

  it('typed uplink fixture compiles as V3UplinkMessage', () => {
    const up = fixture<V3UplinkMessage>('tts-v3/up.json')
    assert.equal(up.uplink_message.f_cnt, 1)
  })
})

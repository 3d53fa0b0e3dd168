/**
 * The SDK against a second, independent broker: a real Mosquitto with users, passwords and an ACL
 * that mirrors The Things Stack's (an application reads v3/{app}@{tenant}/devices/+/# and writes only
 * down/push and down/replace). A plain MQTT client with broad rights plays The Things Stack's side:
 * it publishes the uplinks and events and watches what lands on the devices' downlink topics.
 */
import assert from 'node:assert/strict'
import type { MqttClient } from 'mqtt'
import { ConnectError, ConnectResult, MQTTClient, type MQTTClientOptions } from '../../src'
import type { ConnectionStatus, Delivery } from '../../src/sdk/client'
import type { UplinkMessage, V3DownlinkRequest, V3UplinkMessage } from '../../src/sdk/messages'
import { fixture } from '../fixtures'
import { Mosquitto, rawClient, subscribeRaw } from '../support/mosquitto'
import { delay, onceWithin, waitFor } from '../support/wait'

const KEY1 = 'NNSXS.MOSQAPPONE.SECRET'
const KEY2 = 'NNSXS.MOSQAPPTWO.SECRET'
const SERVER = { username: 'tts-server', password: 'server-secret', readwrite: ['v3/#', 'ttn/#'] }
const NODE_RED = { username: 'node-red', password: 'node-red-secret', read: ['ttn/app1/devices/+/#'], write: ['ttn/app1/devices/+/down/push', 'ttn/app1/devices/+/down/replace'] }
const FAST: MQTTClientOptions = { tenant: 'ttn', connectTimeoutMs: 3000, reconnect: { minDelayMs: 50, maxDelayMs: 400 } }

/** An uplink as The Things Stack publishes it, for one device, with a frame counter to tell them apart. */
function uplink(deviceId: string, fCnt: number): Record<string, unknown> {
  const msg = fixture<Record<string, Record<string, unknown>>>('tts-v3/up.json')
  msg.end_device_ids.device_id = deviceId
  msg.uplink_message.f_cnt = fCnt
  return msg
}

const fCnt = (m: UplinkMessage): number => (m as V3UplinkMessage).uplink_message?.f_cnt ?? -1

/** Messages a raw client receives, parsed. */
function received(client: MqttClient): { topic: string; body: unknown }[] {
  const out: { topic: string; body: unknown }[] = []
  client.on('message', (topic, payload) => out.push({ topic, body: JSON.parse(payload.toString('utf8')) }))
  return out
}

describe('MQTTClient against Mosquitto', function () {
  this.timeout(20_000)
  let broker: Mosquitto
  let server: MqttClient
  const clients: MQTTClient[] = []

  function client(options: MQTTClientOptions = {}, key = KEY1, appId = 'app1', port = broker.port): MQTTClient {
    const c = new MQTTClient(appId, key, `127.0.0.1:${port}`, { ...FAST, ...options })
    clients.push(c)
    return c
  }
  const publish = (topic: string, message: unknown) => server.publishAsync(topic, JSON.stringify(message))

  before(async () => {
    broker = await Mosquitto.start({
      users: [{ username: 'app1@ttn', password: KEY1 }, { username: 'app2@ttn', password: KEY2 }, SERVER, NODE_RED],
    })
  })
  after(async () => {
    await broker?.stop()
  })
  beforeEach(async () => {
    if (!broker.running) await broker.restart()
    server = await rawClient(broker.port, SERVER.username, SERVER.password)
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await server?.endAsync(true)
  })

  it('connects with the application username and its API key as password', async () => {
    const c = client({ autoConnect: false })
    const results: number[] = []
    c.setConnectCallback((res) => results.push(res))
    await c.connect()
    assert.deepEqual(results, [ConnectResult.Accepted])
    assert.equal(c.status.state, 'connected')
    assert.match(broker.log(), new RegExp(`as ${c.clientId} \\(p2, c1, k60, u'app1@ttn'\\)`), 'MQTT 3.1.1, clean session, as app1@ttn')
  })

  it('reports a wrong API key as not authorized (CONNACK 5) with the hint, and keeps retrying', async () => {
    const c = client({ autoConnect: false, reconnect: { minDelayMs: 5000 } }, 'NNSXS.WRONGKEY.SECRET')
    await assert.rejects(c.connect(), (err: unknown) => {
      assert.ok(err instanceof ConnectError)
      assert.equal(err.code, ConnectResult.NotAuthorized)
      assert.match(err.hint, /tenant/)
      return true
    })
    assert.equal(c.status.state, 'not-authorized')
  })

  it('delivers uplinks and events, dispatched by device, parsed once', async () => {
    const c = client({ autoConnect: false })
    const devA: number[] = []
    const all: string[] = []
    const allMessages: UplinkMessage[] = []
    const callback: UplinkMessage[] = []
    const joins: Delivery[] = []
    c.onUplink('dev-a', (d) => devA.push(fCnt(d.message)))
    c.onUplink(undefined, (d) => {
      all.push(`${d.deviceId}:${fCnt(d.message)}`)
      allMessages.push(d.message)
    })
    c.setUplinkCallback((m) => callback.push(m))
    c.onEvent('join', 'dev-a', (d) => joins.push(d))
    await c.connect()
    await broker.waitForSubscriptions('v3/app1@ttn/devices/+/up', c.clientId)
    await broker.waitForSubscriptions('v3/app1@ttn/devices/+/join', c.clientId)

    await publish('v3/app1@ttn/devices/dev-a/up', uplink('dev-a', 1))
    await publish('v3/app1@ttn/devices/dev-b/up', uplink('dev-b', 2))
    await publish('v3/app2@ttn/devices/dev-a/up', uplink('dev-a', 99))
    const join = fixture<Record<string, Record<string, unknown>>>('tts-v3/join.json')
    join.end_device_ids.device_id = 'dev-a'
    await publish('v3/app1@ttn/devices/dev-a/join', join)
    await waitFor(() => all.length === 2 && joins.length === 1, 5000, 'two uplinks and a join')
    await delay(100)

    assert.deepEqual(devA, [1])
    assert.deepEqual(all, ['dev-a:1', 'dev-b:2'], "another application's uplink is not delivered")
    assert.equal(callback.length, 2)
    assert.deepEqual(callback[0], uplink('dev-a', 1), 'the whole message, as published')
    assert.equal(callback[0], allMessages[0], 'parsed once: every listener gets the same object')
    assert.equal(joins[0].event, 'join')
    assert.deepEqual(joins[0].body, join.join_accept)
  })

  it('publishes a downlink on the device topic as the exact v3 JSON, and follows its outcome', async () => {
    const observer = await rawClient(broker.port, SERVER.username, SERVER.password)
    try {
      await subscribeRaw(observer, 'v3/app1@ttn/devices/+/down/#')
      const seen = received(observer)
      const c = client({ autoConnect: false })
      const mids: number[] = []
      c.setDownlinkCallback((mid) => mids.push(mid))
      await c.connect()
      const pushed = await c.send('dev-a', Buffer.from([1, 2, 3]), 15, true, 'last', { priority: 'HIGH' })
      const replaced = await c.send('dev-b', { led: 'on' }, 2)
      await waitFor(() => seen.length === 2, 5000, 'both downlinks at the broker')

      assert.deepEqual(seen[0], {
        topic: 'v3/app1@ttn/devices/dev-a/down/push',
        body: { downlinks: [{ f_port: 15, frm_payload: 'AQID', confirmed: true, priority: 'HIGH', correlation_ids: [pushed.correlationId] }] },
      })
      assert.deepEqual(seen[1], {
        topic: 'v3/app1@ttn/devices/dev-b/down/replace',
        body: { downlinks: [{ f_port: 2, decoded_payload: { led: 'on' }, confirmed: false, priority: 'NORMAL', correlation_ids: [replaced.correlationId] }] },
      })
      assert.deepEqual(seen[0].body as V3DownlinkRequest, pushed.body)
      assert.deepEqual(mids, [pushed.mid, replaced.mid])

      // The server's answer, forwarded by the broker like any event: the SDK matches it by correlation ID.
      await broker.waitForSubscriptions('v3/app1@ttn/devices/+/down/queued', c.clientId)
      const downlink = (seen[0].body as V3DownlinkRequest).downlinks[0]
      await publish('v3/app1@ttn/devices/dev-a/down/queued', {
        end_device_ids: { device_id: 'dev-a', application_ids: { application_id: 'app1' } },
        correlation_ids: ['as:downlink:01TEST'],
        downlink_queued: downlink,
      })
      const outcome = await pushed.wait('queued', 3000)
      assert.equal(outcome.status, 'queued')
      assert.equal(outcome.correlationId, pushed.correlationId)
    } finally {
      await observer.endAsync(true)
    }
  })

  it("enforces the ACL: an application cannot publish outside its downlink topics nor read another's traffic", async () => {
    const observer = await rawClient(broker.port, SERVER.username, SERVER.password)
    const app1 = await rawClient(broker.port, 'app1@ttn', KEY1)
    try {
      await subscribeRaw(observer, 'v3/#')
      const atServer = received(observer)
      await subscribeRaw(app1, 'v3/app2@ttn/devices/+/up')
      await subscribeRaw(app1, 'v3/app1@ttn/devices/+/up')
      const atApp1 = received(app1)

      await app1.publishAsync('v3/app2@ttn/devices/dev-a/down/push', JSON.stringify({ downlinks: [] }))
      await app1.publishAsync('v3/app1@ttn/devices/dev-a/up', JSON.stringify(uplink('dev-a', 5)))
      await app1.publishAsync('v3/app1@ttn/devices/dev-a/down/queued', JSON.stringify({ fake: true }))
      // Messages from one connection are handled in order: once this one arrives, the others had their turn.
      await app1.publishAsync('v3/app1@ttn/devices/dev-a/down/push', JSON.stringify({ fence: 1 }))
      await publish('v3/app2@ttn/devices/dev-a/up', uplink('dev-a', 7))
      await publish('v3/app1@ttn/devices/dev-a/up', uplink('dev-a', 8))
      await waitFor(() => atApp1.length >= 1 && atServer.some((m) => m.topic.endsWith('down/push')), 5000, 'the fences')
      await delay(100)

      assert.deepEqual(
        atServer.filter((m) => m.topic.includes('/down/') || (m.body as { uplink_message?: { f_cnt?: number } }).uplink_message?.f_cnt === 5).map((m) => m.topic),
        ['v3/app1@ttn/devices/dev-a/down/push'],
        'only the permitted downlink reached the broker',
      )
      assert.deepEqual(atApp1.map((m) => m.topic), ['v3/app1@ttn/devices/dev-a/up'], "app2's uplink never reaches app1")
    } finally {
      await Promise.all([observer.endAsync(true), app1.endAsync(true)])
    }
  })

  it('reconnects after the broker process is killed (SIGKILL) and restarted: re-subscribes once, sends the queued downlink, receives new uplinks once', async () => {
    // A fixed 1 s retry, so the watcher below is subscribed on the restarted broker before the client is back.
    const c = client({ autoConnect: false, reconnect: { minDelayMs: 1000, maxDelayMs: 1000, jitter: 0 } })
    const states: string[] = []
    const uplinks: number[] = []
    c.on('status', (s: ConnectionStatus) => states.push(s.state))
    c.onUplink(undefined, (d) => uplinks.push(fCnt(d.message)))
    await c.connect()
    await broker.waitForSubscriptions('v3/app1@ttn/devices/+/up', c.clientId)
    await server.endAsync(true)

    await broker.kill('SIGKILL')
    await waitFor(() => c.status.state === 'reconnecting', 5000, 'reconnecting')
    const queued = c.send('dev-a', [0xff], 3)
    await broker.restart()
    server = await rawClient(broker.port, SERVER.username, SERVER.password)
    const watcher = await rawClient(broker.port, SERVER.username, SERVER.password)
    try {
      await subscribeRaw(watcher, 'v3/app1@ttn/devices/+/down/#')
      const seen = received(watcher)
      assert.equal(c.connected, false, 'the client is not back yet')
      await onceWithin(c, 'connect', 5000)
      const sent = await queued
      await waitFor(() => seen.length === 1, 5000, 'the queued downlink at the broker')
      assert.deepEqual(seen[0], { topic: 'v3/app1@ttn/devices/dev-a/down/replace', body: sent.body })

      await broker.waitForSubscriptions('v3/app1@ttn/devices/+/up', c.clientId)
      for (let i = 1; i <= 5; i++) await publish('v3/app1@ttn/devices/dev-a/up', uplink('dev-a', i))
      await waitFor(() => uplinks.length === 5, 5000, 'five uplinks after the restart')
      await delay(200)

      assert.deepEqual(uplinks, [1, 2, 3, 4, 5], 'each exactly once')
      assert.equal(broker.subscriptionCount('v3/app1@ttn/devices/+/up', c.clientId), 1, 're-subscribed exactly once')
      assert.deepEqual(states.slice(0, 3), ['connecting', 'connected', 'reconnecting'])
      assert.equal(states.at(-1), 'connected')
      assert.equal(seen.length, 1, 'the queued downlink was published once')
    } finally {
      await watcher.endAsync(true)
    }
  })

  describe('generic broker mode', () => {
    it('uses its own user, a custom topic prefix and MQTT 5', async () => {
      const observer = await rawClient(broker.port, SERVER.username, SERVER.password)
      try {
        await subscribeRaw(observer, 'ttn/app1/devices/+/down/#')
        const seen = received(observer)
        const c = client({ autoConnect: false, username: NODE_RED.username, topicPrefix: 'ttn/app1', protocolVersion: 5 }, NODE_RED.password)
        const ups: Delivery[] = []
        c.onUplink(undefined, (d) => ups.push(d))
        await c.connect()
        assert.equal(c.username, 'node-red')
        assert.match(broker.log(), new RegExp(`as ${c.clientId} \\(p5, c1, k60, u'node-red'\\)`), 'MQTT 5 as node-red')
        await broker.waitForSubscriptions('ttn/app1/devices/+/up', c.clientId)
        await publish('ttn/app1/devices/dev-a/up', uplink('dev-a', 11))
        await waitFor(() => ups.length === 1, 5000, 'the uplink on the prefixed topic')
        assert.equal(ups[0].deviceId, 'dev-a')
        assert.equal(ups[0].topic, 'ttn/app1/devices/dev-a/up')

        const sent = await c.send('dev-a', 'AQ==', 1, false, 'push')
        await waitFor(() => seen.length === 1, 5000, 'the downlink on the prefixed topic')
        assert.deepEqual(seen[0], { topic: 'ttn/app1/devices/dev-a/down/push', body: sent.body })
      } finally {
        await observer.endAsync(true)
      }
    })

    it("explains a refused login in the broker's terms (user, password, ACL), also over MQTT 5", async () => {
      for (const protocolVersion of [4, 5] as const) {
        const c = client({ autoConnect: false, username: NODE_RED.username, topicPrefix: 'ttn/app1', protocolVersion, reconnect: { minDelayMs: 5000 } }, 'wrong-password')
        await assert.rejects(c.connect(), (err: unknown) => {
          assert.ok(err instanceof ConnectError)
          assert.equal(err.code, ConnectResult.NotAuthorized, `MQTT ${protocolVersion}: reason code mapped to 5`)
          assert.match(err.hint, /broker at 127\.0\.0\.1:\d+ refused "node-red"/)
          assert.match(err.hint, /ttn\/app1\/devices\/\+\/#/)
          assert.doesNotMatch(err.hint, /tenant/)
          return true
        })
        assert.equal(c.status.state, 'not-authorized')
      }
    })
  })
})

// Tests of the simulated The Things Stack MQTT server (src/simulator): it must behave like the real one
// (the MQTT Server page of The Things Stack docs) for the SDK and node tests built on it to mean anything.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt'
import {
  downlinkViolations,
  EVENT_BODY_KEYS,
  parseDownlinkBody,
  type ReceivedDownlink,
  rewriteSubscription,
  type SimApplication,
  type SimEvent,
  TtsBroker,
  type TtsBrokerOptions,
  ulid,
} from '../src/simulator'

const APPS: SimApplication[] = [
  { appId: 'app1', tenant: 'ttn', apiKey: 'NNSXS.APP1.SECRET' },
  { appId: 'app2', tenant: 'ttn', apiKey: 'NNSXS.APP2.SECRET' },
  { appId: 'os-app', tenant: null, apiKey: 'NNSXS.OS.SECRET' },
  { appId: 'legacy', api: 'v2', apiKey: 'ttn-account-v2.SECRET' },
]
const U1 = 'app1@ttn'
const KEY1 = 'NNSXS.APP1.SECRET'

const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/
const SERVER_DOWNLINK_ID = /^as:downlink:[0-9A-HJKMNP-TV-Z]{26}$/

interface Received {
  topic: string
  json: Record<string, unknown>
  qos: number
}

let broker: TtsBroker
let clients: MqttClient[] = []
let seq = 0

function noop(): void {}

async function startBroker(extra: Partial<TtsBrokerOptions> = {}): Promise<TtsBroker> {
  broker = await TtsBroker.start({ applications: APPS, ...extra })
  return broker
}

/** An mqtt.js client (MQTT 3.1.1, no reconnect) that the test cleans up. Errors are awaited, not thrown. */
function newClient(opts: IClientOptions = {}, url = broker.url): MqttClient {
  const c = mqtt.connect(url, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 2000,
    clientId: `sim-test-${++seq}`,
    ...opts,
  })
  c.on('error', noop)
  clients.push(c)
  return c
}

/** CONNACK return code (MQTT 5: reason code) the server answered, or 'closed' when none came. */
function connackCode(c: MqttClient): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    c.once('packetreceive', (p: Packet) => {
      if (p.cmd === 'connack') resolve(p.returnCode ?? p.reasonCode ?? -1)
    })
    c.once('close', () => resolve('closed'))
  })
}

async function connected(username = U1, password = KEY1, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = newClient({ username, password, ...opts })
  const code = await connackCode(c)
  assert.equal(code, 0, `CONNACK for ${username}`)
  if (!c.connected) await new Promise((r) => c.once('connect', r))
  return c
}

/** Sends one SUBSCRIBE and resolves with the SUBACK's granted codes (128 = refused). */
function subscribeGranted(c: MqttClient, filters: Record<string, 0 | 1 | 2>): Promise<number[]> {
  return new Promise((resolve) => {
    const onPacket = (p: Packet) => {
      if (p.cmd !== 'suback') return
      c.off('packetreceive', onPacket)
      resolve(p.granted as number[])
    }
    c.on('packetreceive', onPacket)
    const map: Record<string, { qos: 0 | 1 | 2 }> = {}
    for (const [topic, qos] of Object.entries(filters)) map[topic] = { qos }
    c.subscribe(map, noop) // a refused filter makes mqtt.js report an error: the codes are what we test
  })
}

/** Every message a client receives from now on. */
function collect(c: MqttClient): Received[] {
  const got: Received[] = []
  c.on('message', (topic, payload, packet) => {
    let json: Record<string, unknown>
    try {
      json = JSON.parse(payload.toString())
    } catch {
      json = { raw: payload.toString() }
    }
    got.push({ topic, json, qos: packet.qos })
  })
  return got
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 1500): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

function closed(c: MqttClient): Promise<void> {
  return new Promise((r) => (c.connected ? c.once('close', () => r()) : r()))
}

function downlinkBody(items: unknown[]): string {
  return JSON.stringify({ downlinks: items })
}

function asRecord(v: unknown): Record<string, unknown> {
  assert.equal(typeof v, 'object')
  assert.notEqual(v, null)
  return v as Record<string, unknown>
}

/** A connected app1 client subscribed to all of its application's topics, with its inbox. */
async function subscribedApp1(): Promise<{ c: MqttClient; inbox: Received[] }> {
  const c = await connected()
  const inbox = collect(c)
  assert.deepEqual(await subscribeGranted(c, { '#': 0 }), [0])
  return { c, inbox }
}

describe('simulated The Things Stack MQTT server', () => {
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(noop)))
    clients = []
    await broker?.stop()
  })

  describe('authentication', () => {
    beforeEach(() => startBroker())

    it('accepts the application uid with its API key and records the attempt', async () => {
      const c = await connected(U1, KEY1, { clientId: 'my-client' })
      assert.ok(c.connected)
      assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/)
      assert.equal(broker.connectionCount(), 1)
      assert.equal(broker.connectionCount(U1), 1)
      assert.equal(broker.connectionCount('app2@ttn'), 0)
      assert.deepEqual(broker.clientIds(U1), ['my-client'])
      const [attempt] = broker.connectAttempts
      assert.equal(attempt.clientId, 'my-client')
      assert.equal(attempt.username, U1)
      assert.equal(attempt.returnCode, 0)
      assert.equal(typeof attempt.at, 'number')
    })

    it('answers CONNACK 5 to a wrong key, a wrong or missing tenant and no credentials', async () => {
      const cases: IClientOptions[] = [
        { username: U1, password: 'NNSXS.WRONG' },
        { username: 'app1', password: KEY1 }, // tenant missing
        { username: 'app1@other', password: KEY1 }, // wrong tenant
        { username: 'APP1@ttn', password: KEY1 }, // upper case
        { username: 'os-app@ttn', password: 'NNSXS.OS.SECRET' }, // @ttn on Open Source
        { username: 'app2@ttn', password: KEY1 }, // another app's key
        {},
      ]
      for (const opts of cases) {
        const code = await connackCode(newClient(opts))
        assert.equal(code, 5, `CONNACK for ${JSON.stringify(opts)}`)
      }
      assert.equal(broker.connectionCount(), 0)
      assert.deepEqual(
        broker.connectAttempts.map((a) => a.returnCode),
        cases.map(() => 5),
      )
      assert.equal(broker.connectAttempts[1].username, 'app1')
    })

    it('accepts the bare appId of an Open Source style application', async () => {
      await connected('os-app', 'NNSXS.OS.SECRET')
      assert.equal(broker.connectionCount('os-app'), 1)
    })

    it('refuses MQTT 5 with CONNACK 1 and accepts MQTT 3.1', async () => {
      const v5 = newClient({ username: U1, password: KEY1, protocolVersion: 5 })
      const errored = new Promise<Error & { code?: number }>((r) => v5.once('error', r))
      assert.equal(await connackCode(v5), 1)
      assert.equal((await errored).code, 1)
      assert.equal(broker.connectAttempts.at(-1)?.returnCode, 1)

      await connected(U1, KEY1, { protocolVersion: 3, protocolId: 'MQIsdp' })
      assert.equal(broker.connectionCount(), 1)
    })

    it('rotates and revokes API keys at runtime (established connections stay up)', async () => {
      const first = await connected()
      broker.setApiKey('app1', 'NNSXS.APP1.NEW')
      assert.equal(await connackCode(newClient({ username: U1, password: KEY1 })), 5)
      await connected(U1, 'NNSXS.APP1.NEW')
      assert.ok(first.connected)
      broker.setApiKey(U1, 'revoked')
      assert.equal(await connackCode(newClient({ username: U1, password: 'NNSXS.APP1.NEW' })), 5)
      assert.throws(() => broker.setApiKey('nope', 'x'), /no application nope/)
    })

    it('does not enforce unique client IDs (both connections stay and both receive)', async () => {
      const a = await connected(U1, KEY1, { clientId: 'same' })
      const b = await connected(U1, KEY1, { clientId: 'same' })
      const inboxA = collect(a)
      const inboxB = collect(b)
      await subscribeGranted(a, { '#': 0 })
      await subscribeGranted(b, { 'v3/+/devices/+/up': 0 })
      assert.deepEqual(broker.clientIds(U1), ['same', 'same'])
      assert.deepEqual(broker.subscriptionsOf('same'), [`v3/${U1}/#`, `v3/${U1}/devices/+/up`])
      await broker.publishUplink(U1, 'dev1')
      await waitFor(() => inboxA.length === 1 && inboxB.length === 1, 'uplink on both connections')
      assert.ok(a.connected && b.connected)
    })

    it('accepts an empty client ID', async () => {
      await connected(U1, KEY1, { clientId: '', clean: true })
      const [id] = broker.clientIds(U1)
      assert.equal(typeof id, 'string')
      assert.equal(broker.connectAttempts[0].clientId, '')
    })
  })

  describe('subscriptions', () => {
    beforeEach(() => startBroker())

    it('rewrites # and v3/# to the application and grants the QoS, but delivers at QoS 0', async () => {
      const c = await connected(U1, KEY1, { clientId: 'sub1' })
      const inbox = collect(c)
      assert.deepEqual(await subscribeGranted(c, { '#': 1 }), [1])
      assert.deepEqual(broker.subscriptionsOf('sub1'), [`v3/${U1}/#`])
      assert.deepEqual(await subscribeGranted(c, { 'v3/#': 2 }), [2])
      assert.deepEqual(broker.subscriptionsOf('sub1'), [`v3/${U1}/#`])
      await broker.publishUplink(U1, 'dev1')
      await waitFor(() => inbox.length === 1, 'uplink')
      assert.equal(inbox[0].topic, `v3/${U1}/devices/dev1/up`)
      assert.equal(inbox[0].qos, 0)
    })

    it('replaces v3/+ with the uid and keeps v3/{uid}/... as is', async () => {
      const c = await connected(U1, KEY1, { clientId: 'sub2' })
      assert.deepEqual(
        await subscribeGranted(c, { 'v3/+/devices/+/up': 0, [`v3/${U1}/devices/dev1/down/#`]: 1 }),
        [0, 1],
      )
      assert.deepEqual(broker.subscriptionsOf('sub2'), [
        `v3/${U1}/devices/+/up`,
        `v3/${U1}/devices/dev1/down/#`,
      ])
    })

    it('refuses other applications, $share, +/... and a uid without tenant with SUBACK 0x80', async () => {
      const c = await connected(U1, KEY1, { clientId: 'sub3' })
      const granted = await subscribeGranted(c, {
        'v3/app2@ttn/#': 0,
        '$share/group/v3/app1@ttn/#': 0,
        '+/devices/+/up': 0,
        'v3/app1/devices/+/up': 0,
        'app1/devices/+/up': 1,
        [`v3/${U1}/devices/+/join`]: 1,
      })
      assert.deepEqual(granted, [128, 128, 128, 128, 128, 1])
      assert.deepEqual(broker.subscriptionsOf('sub3'), [`v3/${U1}/devices/+/join`])
      assert.ok(c.connected, 'a refused filter does not close the connection')
    })

    it('isolates applications from each other', async () => {
      const { inbox: inbox1 } = await subscribedApp1()
      const c2 = await connected('app2@ttn', 'NNSXS.APP2.SECRET')
      const inbox2 = collect(c2)
      await subscribeGranted(c2, { '#': 0 })
      await broker.publishUplink(U1, 'dev1')
      await broker.publishUplink('app2@ttn', 'dev9')
      await waitFor(() => inbox1.length === 1 && inbox2.length === 1, 'one uplink each')
      await sleep(30)
      assert.deepEqual(
        inbox1.map((m) => m.topic),
        [`v3/${U1}/devices/dev1/up`],
      )
      assert.deepEqual(
        inbox2.map((m) => m.topic),
        ['v3/app2@ttn/devices/dev9/up'],
      )
    })

    it('unsubscribes the rewritten filter when the client unsubscribes what it subscribed', async () => {
      const c = await connected(U1, KEY1, { clientId: 'unsub' })
      const inbox = collect(c)
      await subscribeGranted(c, { '#': 0 })
      await c.unsubscribeAsync('#')
      await waitFor(() => broker.subscriptionsOf('unsub').length === 0, 'rewritten filter removed')
      await broker.publishUplink(U1, 'dev1')
      await sleep(50)
      assert.equal(inbox.length, 0)
    })
  })

  describe('uplinks and events', () => {
    beforeEach(() => startBroker())

    it('publishes a realistic, fixture-compatible uplink with an incrementing f_cnt', async () => {
      const { inbox } = await subscribedApp1()
      const sent = await broker.publishUplink(U1, 'dev1')
      await broker.publishUplink(U1, 'dev1', {
        decoded_payload: { temperature: 21.5, alarm: false },
        confirmed: true,
      })
      await waitFor(() => inbox.length === 2, 'two uplinks')
      const [first, second] = inbox
      assert.deepEqual(first.json, sent)
      assert.deepEqual(Object.keys(first.json).sort(), [
        'correlation_ids',
        'end_device_ids',
        'received_at',
        'uplink_message',
      ])
      const ids = asRecord(first.json.end_device_ids)
      assert.equal(ids.device_id, 'dev1')
      assert.deepEqual(ids.application_ids, { application_id: 'app1' }) // bare ID, no @ttn
      assert.match(String(ids.dev_eui), /^[0-9A-F]{16}$/)
      assert.match(String(ids.join_eui), /^[0-9A-F]{16}$/)
      assert.match(String(ids.dev_addr), /^[0-9A-F]{8}$/)
      assert.match(String(first.json.received_at), RFC3339_NANO)
      const cids = first.json.correlation_ids as string[]
      assert.ok(
        cids.some((id) => /^as:up:[0-9A-Z]{26}$/.test(id)),
        'as:up correlation ID',
      )

      const up = asRecord(first.json.uplink_message)
      assert.equal(up.f_port, 1)
      assert.equal(up.f_cnt, 1)
      assert.equal(typeof up.frm_payload, 'string')
      assert.match(String(up.frm_payload), /^[A-Za-z0-9+/]+={0,2}$/)
      assert.match(String(up.received_at), RFC3339_NANO)
      assert.match(String(up.consumed_airtime), /^\d+(\.\d+)?s$/)
      assert.equal(up.confirmed, undefined, 'false is omitted')
      assert.equal(up.decoded_payload, undefined, 'no payload formatter by default')
      const rx = (up.rx_metadata as Record<string, unknown>[])[0]
      assert.equal(asRecord(rx.gateway_ids).gateway_id, 'sim-gateway')
      assert.equal(typeof rx.rssi, 'number')
      assert.equal(typeof rx.snr, 'number')
      const settings = asRecord(up.settings)
      assert.equal(settings.frequency, '868100000', 'int64 as string')
      assert.equal(asRecord(asRecord(settings.data_rate).lora).spreading_factor, 7)

      const up2 = asRecord(second.json.uplink_message)
      assert.equal(up2.f_cnt, 2)
      assert.equal(up2.confirmed, true)
      assert.deepEqual(up2.decoded_payload, { temperature: 21.5, alarm: false }, 'user JSON kept as is')
      assert.equal(asRecord(second.json.end_device_ids).dev_eui, ids.dev_eui, 'DevEUI is deterministic')
    })

    it('omits zero values the caller sets, like the server (no f_cnt on FCnt 0)', async () => {
      const { inbox } = await subscribedApp1()
      const msg = await broker.publishUplink(U1, 'dev2', { f_cnt: 0, f_port: 0, frm_payload: 'AQIDBA==' })
      const up = asRecord(msg.uplink_message)
      assert.equal('f_cnt' in up, false)
      assert.equal('f_port' in up, false)
      assert.equal(up.frm_payload, 'AQIDBA==')
      await waitFor(() => inbox.length === 1, 'uplink')
      const next = await broker.publishUplink(U1, 'dev2')
      assert.equal(asRecord(next.uplink_message).f_cnt, 1)
    })

    it('sends a full message as is, and raw payloads verbatim', async () => {
      const { inbox } = await subscribedApp1()
      const full = { end_device_ids: { device_id: 'dev1' }, uplink_message: { f_cnt: 7 }, extra: [1, 2] }
      assert.deepEqual(await broker.publishUplink(U1, 'dev1', { fullMessage: full }), full)
      await broker.publishRaw(`v3/${U1}/devices/dev1/up`, '{"truncated":')
      await waitFor(() => inbox.length === 2, 'two messages')
      assert.deepEqual(inbox[0].json, full)
      assert.deepEqual(inbox[1].json, { raw: '{"truncated":' })
      await assert.rejects(broker.publishRaw('v3/#', 'x'), /invalid topic/)
      await assert.rejects(broker.publishUplink('nobody@ttn', 'dev1'), /no application/)
    })

    it('publishes every event on its topic with its body key', async () => {
      const { inbox } = await subscribedApp1()
      const events = Object.keys(EVENT_BODY_KEYS).filter((e) => e !== 'up') as SimEvent[]
      for (const event of events) await broker.publishEvent(U1, 'dev1', event)
      await waitFor(() => inbox.length === events.length, 'all events')
      for (const [i, event] of events.entries()) {
        const m = inbox[i]
        assert.equal(m.topic, `v3/${U1}/devices/dev1/${event}`)
        const bodyKey = EVENT_BODY_KEYS[event]
        assert.ok(asRecord(m.json[bodyKey]), `${event} has ${bodyKey}`)
        assert.equal(asRecord(asRecord(m.json.end_device_ids).application_ids).application_id, 'app1')
        assert.match(String(m.json.received_at), RFC3339_NANO)
      }
      const failed = asRecord(inbox[events.indexOf('down/failed')].json.downlink_failed)
      assert.deepEqual(Object.keys(failed).sort(), ['downlink', 'error'])
      const ack = asRecord(inbox[events.indexOf('down/ack')].json.downlink_ack)
      assert.equal(ack.confirmed, true)
      assert.ok((ack.correlation_ids as string[]).some((id) => SERVER_DOWNLINK_ID.test(id)))
    })

    it('merges a caller body over the default event body', async () => {
      const msg = await broker.publishEvent(U1, 'dev1', 'down/ack', { correlation_ids: ['mine'], f_port: 9 })
      const ack = asRecord(msg.downlink_ack)
      assert.equal(ack.f_port, 9)
      assert.deepEqual(ack.correlation_ids, ['mine'])
      assert.ok((msg.correlation_ids as string[]).includes('mine'))
    })

    it('uses the bare appId in topics of an Open Source style application', async () => {
      const c = await connected('os-app', 'NNSXS.OS.SECRET')
      const inbox = collect(c)
      assert.deepEqual(await subscribeGranted(c, { '#': 0 }), [0])
      await broker.publishEvent('os-app', 'dev1', 'join')
      await waitFor(() => inbox.length === 1, 'join')
      assert.equal(inbox[0].topic, 'v3/os-app/devices/dev1/join')
    })
  })

  describe('downlinks', () => {
    beforeEach(() => startBroker())

    const push = `v3/${U1}/devices/dev1/down/push`
    const replace = `v3/${U1}/devices/dev1/down/replace`

    it('answers down/queued per item, echoing the client correlation IDs plus as:downlink', async () => {
      const { c, inbox } = await subscribedApp1()
      const seen: ReceivedDownlink[] = []
      const off = broker.onDownlink((d) => seen.push(d))
      c.publish(
        push,
        downlinkBody([
          {
            f_port: 15,
            frm_payload: 'vu8=',
            priority: 'NORMAL',
            confirmed: true,
            correlation_ids: ['my-id-1'],
          },
          { f_port: 16, frm_payload: 'AQ==', correlation_ids: ['my-id-2'] },
        ]),
      )
      await waitFor(() => inbox.length === 2, 'two down/queued')
      off()
      for (const [i, m] of inbox.entries()) {
        assert.equal(m.topic, `v3/${U1}/devices/dev1/down/queued`)
        const body = asRecord(m.json.downlink_queued)
        const ids = body.correlation_ids as string[]
        assert.equal(ids[0], `my-id-${i + 1}`)
        assert.ok(
          ids.some((id) => SERVER_DOWNLINK_ID.test(id)),
          'server correlation ID in the body',
        )
        for (const id of ids)
          assert.ok((m.json.correlation_ids as string[]).includes(id), `${id} in the envelope`)
      }
      const first = asRecord(inbox[0].json.downlink_queued)
      assert.equal(first.f_port, 15)
      assert.equal(first.frm_payload, 'vu8=')
      assert.equal(first.confirmed, true)
      assert.equal(first.priority, 'NORMAL')
      const second = asRecord(inbox[1].json.downlink_queued)
      assert.equal('confirmed' in second, false)
      assert.equal('priority' in second, false, 'LOWEST (the default) is the zero value')

      assert.equal(seen.length, 1)
      assert.equal(broker.downlinks.length, 1)
      const d = broker.downlinks[0]
      assert.equal(d.username, U1)
      assert.equal(d.deviceId, 'dev1')
      assert.equal(d.topic, push)
      assert.equal(d.schedule, 'push')
      assert.equal(d.clientId, broker.clientIds(U1)[0])
      assert.deepEqual(d.violations, [])
      assert.equal(JSON.parse(d.raw.toString()).downlinks.length, 2)
      assert.deepEqual(d.body, JSON.parse(d.raw.toString()))
      assert.equal(broker.downlinkQueue(U1, 'dev1').length, 2)
    })

    it('keeps a queue per device: push appends, replace replaces', async () => {
      const { c, inbox } = await subscribedApp1()
      c.publish(push, downlinkBody([{ f_port: 1, frm_payload: 'AQ==' }]))
      c.publish(push, downlinkBody([{ f_port: 1, frm_payload: 'Ag==' }]))
      await waitFor(() => inbox.length === 2, 'two queued')
      assert.deepEqual(
        broker.downlinkQueue(U1, 'dev1').map((q) => q.frm_payload),
        ['AQ==', 'Ag=='],
      )
      c.publish(replace, downlinkBody([{ f_port: 1, frm_payload: 'Aw==' }]))
      await waitFor(() => inbox.length === 3, 'third queued')
      assert.deepEqual(
        broker.downlinkQueue(U1, 'dev1').map((q) => q.frm_payload),
        ['Aw=='],
      )
      assert.equal(broker.downlinkQueue(U1, 'dev2').length, 0)
    })

    it('answers down/failed no_f_port when f_port is missing or 0', async () => {
      const { c, inbox } = await subscribedApp1()
      c.publish(push, downlinkBody([{ frm_payload: 'AQ==', correlation_ids: ['no-port'] }]))
      c.publish(push, downlinkBody([{ f_port: 0, frm_payload: 'AQ==' }]))
      await waitFor(() => inbox.length === 2, 'two down/failed')
      for (const m of inbox) {
        assert.equal(m.topic, `v3/${U1}/devices/dev1/down/failed`)
        const failed = asRecord(m.json.downlink_failed)
        const error = asRecord(failed.error)
        assert.equal(error.name, 'no_f_port')
        assert.equal(error.namespace, 'pkg/applicationserver')
        assert.equal(error.code, 3)
      }
      const downlink = asRecord(asRecord(inbox[0].json.downlink_failed).downlink)
      assert.equal(downlink.frm_payload, 'AQ==')
      const ids = downlink.correlation_ids as string[]
      assert.equal(ids[0], 'no-port')
      assert.ok(ids.some((id) => SERVER_DOWNLINK_ID.test(id)))
      assert.deepEqual(inbox[0].json.correlation_ids, [...ids].sort())
      assert.equal(broker.downlinkQueue(U1, 'dev1').length, 0)
      assert.ok(broker.downlinks[0].violations.some((v) => v.includes('f_port')))
    })

    it('fails the whole batch with application_downlink_too_long above maxDownlinkBytes', async () => {
      const { c, inbox } = await subscribedApp1()
      const tooLong = Buffer.alloc(52, 7).toString('base64')
      const justFits = Buffer.alloc(51, 7).toString('base64')
      c.publish(
        push,
        downlinkBody([
          { f_port: 1, frm_payload: justFits, correlation_ids: ['ok-item'] },
          {
            f_port: 1,
            frm_payload: tooLong,
            confirmed: true,
            priority: 'NORMAL',
            correlation_ids: ['long-item'],
          },
        ]),
      )
      await waitFor(() => inbox.length === 2, 'two down/failed')
      await sleep(30)
      assert.equal(inbox.length, 2, 'no down/queued')
      for (const m of inbox) {
        assert.equal(m.topic, `v3/${U1}/devices/dev1/down/failed`)
        const failed = asRecord(m.json.downlink_failed)
        // Same shape as test/fixtures/tts-v3/down-failed.json
        const error = asRecord(failed.error)
        assert.deepEqual(Object.keys(error).sort(), [
          'code',
          'correlation_id',
          'message_format',
          'name',
          'namespace',
        ])
        assert.equal(error.namespace, 'pkg/networkserver')
        assert.equal(error.name, 'application_downlink_too_long')
        assert.equal(error.message_format, 'application downlink payload is too long')
        assert.equal(error.code, 3)
        assert.match(String(error.correlation_id), /^[0-9a-f]{32}$/)
      }
      const second = asRecord(asRecord(inbox[1].json.downlink_failed).downlink)
      assert.equal(second.f_port, 1)
      assert.equal(second.confirmed, true)
      assert.equal(second.priority, 'NORMAL')
      assert.equal((second.correlation_ids as string[])[0], 'long-item')
      assert.equal(broker.downlinkQueue(U1, 'dev1').length, 0)
    })

    it('honours maxDownlinkBytes', async () => {
      await broker.stop()
      await startBroker({ maxDownlinkBytes: 2 })
      const { c, inbox } = await subscribedApp1()
      c.publish(push, downlinkBody([{ f_port: 1, frm_payload: 'AQID' }]))
      await waitFor(() => inbox.length === 1, 'down/failed')
      assert.equal(inbox[0].topic, `v3/${U1}/devices/dev1/down/failed`)
    })

    it('drops bad JSON, unknown priorities and schema violations silently, but records them', async () => {
      const { c, inbox } = await subscribedApp1()
      const bodies = [
        '{"downlinks":[{"f_port":1,"frm_payload":"AQ=="}', // truncated JSON
        downlinkBody([{ f_port: 1, frm_payload: 'AQ==', priority: 'URGENT' }]),
        downlinkBody([{ f_port: 1, frm_payload: 'AQ==', priority: 'normal' }]),
        downlinkBody([{ f_port: 1, frm_payload: 'AQ==', correlation_ids: ['x'.repeat(101)] }]),
        downlinkBody([{ f_port: 256, frm_payload: 'AQ==' }]),
        downlinkBody([{ f_port: '1x', frm_payload: 'AQ==' }]),
        downlinkBody([{ f_port: 1, frm_payload: 'not base64!' }]),
        downlinkBody([{ f_port: 1, frm_payload: 'AQ==', confirmed: 'yes' }]),
        downlinkBody([{ f_port: 1, decoded_payload: [1, 2] }]),
        downlinkBody([{ f_port: 1, frm_payload: 'AQ==' }, 'second item is not an object']),
        '{"downlinks":{"f_port":1}}',
        '"just a string"',
      ]
      for (const b of bodies) c.publish(push, b)
      await waitFor(() => broker.downlinks.length === bodies.length, 'all recorded')
      // A valid downlink afterwards proves the silence is not just slowness.
      c.publish(push, downlinkBody([{ f_port: 1, frm_payload: 'AQ==', correlation_ids: ['marker'] }]))
      await waitFor(() => inbox.length >= 1, 'marker down/queued')
      await sleep(20)
      assert.equal(inbox.length, 1)
      assert.deepEqual((asRecord(inbox[0].json.downlink_queued).correlation_ids as string[])[0], 'marker')
      assert.equal(broker.downlinks[0].body, undefined)
      assert.match(broker.downlinks[0].violations[0], /not valid JSON/)
      assert.match(broker.downlinks[1].violations.join(), /priority/)
      assert.match(broker.downlinks[3].violations.join(), /101 characters/)
      for (const [i, d] of broker.downlinks.slice(0, bodies.length).entries()) {
        assert.ok(d.violations.length > 0, `violations recorded for body ${i}: ${bodies[i]}`)
      }
      assert.ok(c.connected)
    })

    it('reads a v2-style body as an empty list: replace silently wipes the queue', async () => {
      const { c, inbox } = await subscribedApp1()
      c.publish(push, downlinkBody([{ f_port: 1, frm_payload: 'AQ==' }]))
      await waitFor(() => inbox.length === 1, 'queued')
      c.publish(push, JSON.stringify({ port: 1, payload_raw: 'AQ==' }))
      await waitFor(() => broker.downlinks.length === 2, 'v2 push recorded')
      await sleep(20)
      assert.equal(broker.downlinkQueue(U1, 'dev1').length, 1, 'push of an empty list changes nothing')
      c.publish(replace, JSON.stringify({ port: 1, payload_raw: 'AQ==', schedule: 'replace' }))
      await waitFor(() => broker.downlinkQueue(U1, 'dev1').length === 0, 'queue wiped')
      await sleep(20)
      assert.equal(inbox.length, 1, 'nothing comes back')
      assert.match(broker.downlinks[2].violations.join(), /missing "downlinks"/)
    })

    it('clears the queue with {"downlinks":[]} on replace, without violations', async () => {
      const { c, inbox } = await subscribedApp1()
      c.publish(push, downlinkBody([{ f_port: 1, frm_payload: 'AQ==' }]))
      await waitFor(() => inbox.length === 1, 'queued')
      c.publish(replace, downlinkBody([]))
      await waitFor(() => broker.downlinkQueue(U1, 'dev1').length === 0, 'queue cleared')
      assert.deepEqual(broker.downlinks[1].violations, [])
      assert.equal(broker.downlinks[1].schedule, 'replace')
    })

    it('drops a downlink whose topic lacks the tenant, and publishes outside the app, without disconnecting', async () => {
      const { c, inbox } = await subscribedApp1()
      const spy = await connected('app2@ttn', 'NNSXS.APP2.SECRET')
      const spyInbox = collect(spy)
      await subscribeGranted(spy, { '#': 0 })
      c.publish('v3/app1/devices/dev1/down/push', downlinkBody([{ f_port: 1, frm_payload: 'AQ==' }]))
      c.publish('v3/app2@ttn/devices/dev1/down/push', downlinkBody([{ f_port: 1, frm_payload: 'AQ==' }]))
      c.publish(`v3/${U1}/devices/dev1/up`, '{"spoofed":true}', { qos: 1 })
      c.publish('some/other/topic', 'x')
      await waitFor(() => broker.rejectedPublishes.length === 4, 'four rejected publishes')
      await sleep(30)
      assert.deepEqual(
        broker.rejectedPublishes.map((r) => r.topic),
        [
          'v3/app1/devices/dev1/down/push',
          'v3/app2@ttn/devices/dev1/down/push',
          `v3/${U1}/devices/dev1/up`,
          'some/other/topic',
        ],
      )
      assert.equal(broker.rejectedPublishes[0].clientId, broker.clientIds(U1)[0])
      assert.match(broker.rejectedPublishes[0].reason, /differs from username/)
      assert.equal(broker.downlinks.length, 0)
      assert.equal(inbox.length, 0, 'nothing forwarded to the app')
      assert.equal(spyInbox.length, 0, 'nothing forwarded to another app')
      assert.ok(c.connected)
    })

    it('closes the connection on a PUBLISH to a topic with wildcards', async () => {
      const c = await connected()
      const gone = closed(c)
      c.publish(`v3/${U1}/devices/+/down/push`, downlinkBody([{ f_port: 1, frm_payload: 'AQ==' }]))
      await gone
      await waitFor(() => broker.connectionCount() === 0, 'connection dropped')
      assert.equal(broker.downlinks.length, 0)
    })

    it('emits down/sent and down/ack with autoDeliver', async () => {
      await broker.stop()
      await startBroker({ autoDeliver: { sentAfterMs: 20, ackAfterMs: 20 } })
      const { c, inbox } = await subscribedApp1()
      c.publish(
        push,
        downlinkBody([
          { f_port: 2, frm_payload: 'AQ==', confirmed: true, correlation_ids: ['conf'] },
          { f_port: 2, frm_payload: 'Ag==', correlation_ids: ['unconf'] },
        ]),
      )
      await waitFor(() => inbox.length === 5, 'queued x2, sent x2, ack x1')
      await sleep(60)
      const summary = inbox.map((m) => {
        const suffix = m.topic.split('/down/')[1]
        const body = asRecord(m.json[`downlink_${suffix}`])
        return `${suffix}:${(body.correlation_ids as string[])[0]}`
      })
      assert.deepEqual(summary, ['queued:conf', 'queued:unconf', 'sent:conf', 'sent:unconf', 'ack:conf'])
      assert.equal(broker.downlinkQueue(U1, 'dev1').length, 0, 'sent downlinks leave the queue')
      const queuedId = (asRecord(inbox[0].json.downlink_queued).correlation_ids as string[])[1]
      const ackIds = asRecord(inbox[4].json.downlink_ack).correlation_ids as string[]
      assert.ok(ackIds.includes(queuedId), 'same server correlation ID from queued to ack')
    })
  })

  describe('connections', () => {
    beforeEach(() => startBroker())

    it('disconnectAll drops every client and keeps accepting connections', async () => {
      const a = await connected()
      const b = await connected('app2@ttn', 'NNSXS.APP2.SECRET')
      assert.equal(broker.connectionCount(), 2)
      const gone = Promise.all([closed(a), closed(b)])
      broker.disconnectAll()
      await gone
      await waitFor(() => broker.connectionCount() === 0, 'no connections')
      await connected()
      assert.equal(broker.connectionCount(U1), 1)
    })

    it('stops quickly with clients connected and restarts on the same port', async () => {
      const c = await connected()
      const { port, url } = broker
      const gone = closed(c)
      const t0 = Date.now()
      await broker.stop()
      assert.ok(Date.now() - t0 < 500, `stop took ${Date.now() - t0} ms`)
      await gone
      await broker.stop() // idempotent
      await assert.rejects(broker.publishUplink(U1, 'dev1'), /stopped/)
      await startBroker({ port })
      assert.equal(broker.port, port)
      assert.equal(broker.url, url)
      await connected()
    })
  })

  describe('TLS', () => {
    let dir: string
    let key: string
    let cert: string

    before(function () {
      this.timeout(10_000)
      dir = mkdtempSync(join(tmpdir(), 'tts-sim-tls-'))
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
        ],
        { stdio: 'ignore' },
      )
      key = readFileSync(join(dir, 'key.pem'), 'utf8')
      cert = readFileSync(join(dir, 'cert.pem'), 'utf8')
    })

    after(() => rmSync(dir, { recursive: true, force: true }))

    it('serves MQTT over TLS with the same behaviour', async () => {
      await startBroker({ tls: { key, cert } })
      assert.match(broker.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/)
      const c = await connected(U1, KEY1, { ca: cert })
      const inbox = collect(c)
      await subscribeGranted(c, { '#': 0 })
      await broker.publishUplink(U1, 'dev1')
      await waitFor(() => inbox.length === 1, 'uplink over TLS')
      assert.equal(await connackCode(newClient({ username: U1, password: 'wrong', ca: cert })), 5)
      // A certificate the client does not trust: no MQTT session at all.
      assert.equal(await connackCode(newClient({ username: U1, password: KEY1 })), 'closed')
      const gone = closed(c)
      await broker.stop()
      await gone
    })
  })

  describe('TTN v2 applications', () => {
    beforeEach(() => startBroker())

    it('connects with the bare appId, rewrites +/... and refuses v3 filters', async () => {
      const c = await connected('legacy', 'ttn-account-v2.SECRET', { clientId: 'v2c' })
      const granted = await subscribeGranted(c, {
        '+/devices/+/up': 0,
        'legacy/devices/+/events/#': 1,
        '#': 0,
        'v3/#': 0,
      })
      assert.deepEqual(granted, [0, 1, 128, 128])
      assert.deepEqual(broker.subscriptionsOf('v2c'), ['legacy/devices/+/events/#', 'legacy/devices/+/up'])
    })

    it('publishes v2 uplinks and activations and records v2 downlinks', async () => {
      const c = await connected('legacy', 'ttn-account-v2.SECRET')
      const inbox = collect(c)
      await subscribeGranted(c, { '+/devices/#': 0 })
      await broker.publishUplink('legacy', 'dev_1', { decoded_payload: { led: true } })
      await broker.publishEvent('legacy', 'dev_1', 'join')
      await waitFor(() => inbox.length === 2, 'uplink and activation')
      assert.equal(inbox[0].topic, 'legacy/devices/dev_1/up')
      const up = inbox[0].json
      assert.equal(up.app_id, 'legacy')
      assert.equal(up.dev_id, 'dev_1')
      assert.match(String(up.hardware_serial), /^[0-9A-F]{16}$/)
      assert.equal(up.port, 1)
      assert.equal(up.counter, 1)
      assert.equal(up.payload_raw, 'AQoB')
      assert.deepEqual(up.payload_fields, { led: true })
      const meta = asRecord(up.metadata)
      assert.equal(meta.frequency, 868.1)
      assert.equal(meta.data_rate, 'SF7BW125')
      assert.ok(Array.isArray(meta.gateways))
      assert.equal(inbox[1].topic, 'legacy/devices/dev_1/events/activations')
      assert.match(String(inbox[1].json.dev_addr), /^[0-9A-F]{8}$/)

      c.publish(
        'legacy/devices/dev_1/down',
        JSON.stringify({ port: 1, payload_raw: 'AQ==', schedule: 'last' }),
      )
      c.publish('legacy/devices/dev_1/down', JSON.stringify({ port: 1, payload_raw: 'AQ' }))
      c.publish('other/devices/dev_1/down', '{}')
      await waitFor(
        () => broker.downlinks.length === 2 && broker.rejectedPublishes.length === 1,
        'v2 downlinks',
      )
      assert.equal(broker.downlinks[0].schedule, 'v2')
      assert.equal(broker.downlinks[0].deviceId, 'dev_1')
      assert.deepEqual(broker.downlinks[0].violations, [])
      assert.match(broker.downlinks[1].violations.join(), /base64/)
      await assert.rejects(broker.publishEvent('legacy', 'dev_1', 'service/data'), /no equivalent/)
    })
  })
})

describe('downlinkViolations', () => {
  it('accepts the official example and a queue clear', () => {
    // test/fixtures/tts-v3/down-push-request.json
    const example = {
      end_device_ids: { device_id: 'dev1', application_ids: { application_id: 'app1' } },
      downlinks: [
        {
          f_port: 15,
          frm_payload: 'vu8=',
          decoded_payload: { temperature: 1.0, luminosity: 0.64 },
          priority: 'NORMAL',
          confirmed: true,
          correlation_ids: ['custom-id'],
        },
      ],
    }
    assert.deepEqual(downlinkViolations(example), [])
    assert.deepEqual(downlinkViolations({ downlinks: [] }), [])
    assert.deepEqual(downlinkViolations({ downlinks: [{ decoded_payload: { on: true } }] }), [])
    assert.deepEqual(
      downlinkViolations({
        downlinks: [
          {
            f_port: 223,
            frm_payload: Buffer.alloc(255).toString('base64'),
            priority: 'HIGHEST',
            class_b_c: { gateways: [] },
            confirmed_retry: { max_attempts: 3 },
            session_key_id: 'AXBSH1Pk6Z0G166RlH16CQ==',
          },
        ],
      }),
      [],
    )
  })

  const bad: [string, unknown, RegExp][] = [
    ['not an object', 'hello', /JSON object/],
    ['null', null, /JSON object/],
    ['v2 body', { port: 1, payload_raw: 'AQ==' }, /missing "downlinks"/],
    ['downlinks not an array', { downlinks: { f_port: 1 } }, /must be an array/],
    ['item not an object', { downlinks: [42] }, /downlinks\[0\] must be an object/],
    ['f_port missing', { downlinks: [{ frm_payload: 'AQ==' }] }, /f_port is missing/],
    ['f_port 0', { downlinks: [{ f_port: 0, frm_payload: 'AQ==' }] }, /f_port is 0/],
    ['f_port 224', { downlinks: [{ f_port: 224, frm_payload: 'AQ==' }] }, /outside 1\.\.223/],
    ['f_port string', { downlinks: [{ f_port: '1', frm_payload: 'AQ==' }] }, /must be an integer/],
    ['f_port float', { downlinks: [{ f_port: 1.5, frm_payload: 'AQ==' }] }, /must be an integer/],
    ['hex payload', { downlinks: [{ f_port: 1, frm_payload: '0102ab' }] }, /looks like hex/],
    ['unpadded base64', { downlinks: [{ f_port: 1, frm_payload: 'AQ' }] }, /padded base64/],
    [
      'payload > 255 bytes',
      { downlinks: [{ f_port: 1, frm_payload: Buffer.alloc(256).toString('base64') }] },
      /255/,
    ],
    ['no payload', { downlinks: [{ f_port: 1 }] }, /needs frm_payload/],
    ['decoded not object', { downlinks: [{ f_port: 1, decoded_payload: 'x' }] }, /decoded_payload must be/],
    [
      'lower-case priority',
      { downlinks: [{ f_port: 1, frm_payload: 'AQ==', priority: 'high' }] },
      /priority/,
    ],
    ['confirmed string', { downlinks: [{ f_port: 1, frm_payload: 'AQ==', confirmed: 'true' }] }, /boolean/],
    [
      'correlation_ids string',
      { downlinks: [{ f_port: 1, frm_payload: 'AQ==', correlation_ids: 'x' }] },
      /array/,
    ],
    [
      'long correlation id',
      { downlinks: [{ f_port: 1, frm_payload: 'AQ==', correlation_ids: ['a'.repeat(101)] }] },
      /max 100/,
    ],
    ['unknown item key', { downlinks: [{ f_port: 1, frm_payload: 'AQ==', schedule: 'first' }] }, /schedule/],
    ['unknown top key', { downlinks: [], port: 1 }, /"port"/],
  ]
  for (const [name, body, expected] of bad) {
    it(`flags ${name}`, () => {
      const v = downlinkViolations(body)
      assert.ok(v.length > 0, 'no violation reported')
      assert.match(v.join('\n'), expected)
    })
  }

  it('reports every bad item with its index', () => {
    const v = downlinkViolations({ downlinks: [{ f_port: 1, frm_payload: 'AQ==' }, { f_port: 300 }] })
    assert.ok(
      v.every((s) => s.startsWith('downlinks[1]')),
      v.join('\n'),
    )
    assert.equal(v.length, 2)
  })
})

describe('server-side parsing and helpers', () => {
  it('parses like the server: unknown keys ignored, bad values make the body unparseable', () => {
    assert.deepEqual(parseDownlinkBody({ port: 1 }), { ok: true, items: [] })
    const ok = parseDownlinkBody({ downlinks: [{ f_port: '7', frm_payload: 'AQ', priority: 3, extra: 1 }] })
    assert.ok(ok.ok)
    assert.equal(ok.items[0].fPort, 7)
    assert.deepEqual(ok.items[0].frmPayload, Buffer.from([1]))
    assert.equal(ok.items[0].priority, 'NORMAL')
    assert.equal(parseDownlinkBody({ downlinks: [{ priority: 'URGENT' }] }).ok, false)
    assert.equal(parseDownlinkBody({ downlinks: [{ frm_payload: 'A' }] }).ok, false)
    assert.equal(parseDownlinkBody({ downlinks: [{ f_port: 256 }] }).ok, false)
  })

  it('rewrites subscriptions like the server', () => {
    assert.equal(rewriteSubscription('v3', U1, '#'), `v3/${U1}/#`)
    assert.equal(rewriteSubscription('v3', U1, 'v3/+/devices/dev1/up'), `v3/${U1}/devices/dev1/up`)
    assert.equal(rewriteSubscription('v3', U1, 'v3/app2@ttn/#'), undefined)
    assert.equal(rewriteSubscription('v2', 'legacy', '+/devices/+/up'), 'legacy/devices/+/up')
    assert.equal(rewriteSubscription('v2', 'legacy', '#'), undefined)
  })

  it('makes time-ordered 26-character ULIDs', () => {
    const a = ulid(1_600_000_000_000)
    const b = ulid(1_600_000_000_001)
    assert.match(a, /^[0-9A-HJKMNP-TV-Z]{26}$/)
    assert.ok(a.slice(0, 10) < b.slice(0, 10))
    assert.notEqual(ulid(), ulid())
  })
})

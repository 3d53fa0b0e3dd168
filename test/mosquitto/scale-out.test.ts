/**
 * Scale-out beyond one Node-RED: the application's traffic bridged into Mosquitto under `ttn/app1`,
 * and several consumers in one shared subscription group (`$share/{group}/...`). Each uplink reaches
 * exactly one member; together they see all of them; each member's downlink lands on the device topic
 * once and its outcome (down/queued) reaches that member. The test's server client plays the bridge.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { DownlinkError, MQTTClient, type MQTTClientOptions } from '../../src'
import type { TtnAppNode } from '../../src/nodes/ttn-app'
import type { UplinkMessage, V3UplinkMessage } from '../../src/sdk/messages'
import { type TestPki, makeTestPki } from '../support/certs'
import { Mosquitto, answerDownlinksQueued, rawClient, subscribeRaw } from '../support/mosquitto'
import { collect, helper, ttnNodes } from '../support/node-red'
import { delay, waitFor } from '../support/wait'

const BRIDGE = { username: 'bridge', password: 'bridge-secret', readwrite: ['ttn/#'] }
const NODE_RED = { username: 'node-red', password: 'node-red-secret', read: ['ttn/app1/devices/+/#'], write: ['ttn/app1/devices/+/down/push', 'ttn/app1/devices/+/down/replace'] }
const PREFIX = 'ttn/app1'
const GROUP = 'workers'
const UPLINKS = 30
const DEVICES = ['dev-a', 'dev-b', 'dev-c']

const fCnt = (m: UplinkMessage): number => (m as V3UplinkMessage).uplink_message?.f_cnt ?? -1

/** Uplinks 1..n spread over the devices, as the bridge republishes them. */
async function publishUplinks(bridge: MqttClient, from: number, to: number): Promise<string[]> {
  const keys: string[] = []
  for (let i = from; i <= to; i++) {
    const device = DEVICES[i % DEVICES.length]
    const message = { end_device_ids: { device_id: device, application_ids: { application_id: 'app1' } }, uplink_message: { f_port: 1, f_cnt: i, frm_payload: 'AQ==' } }
    await bridge.publishAsync(`${PREFIX}/devices/${device}/up`, JSON.stringify(message))
    keys.push(`${device}:${i}`)
  }
  return keys
}

/** Each key in exactly one of the sets, and the sets together are `all`. */
function assertPartition(sets: string[][], all: string[]): void {
  const owner = new Map<string, number>()
  sets.forEach((set, member) => {
    assert.equal(new Set(set).size, set.length, `member ${member} got an uplink twice`)
    for (const key of set) {
      assert.equal(owner.get(key), undefined, `${key} reached members ${owner.get(key)} and ${member}`)
      owner.set(key, member)
    }
  })
  assert.deepEqual([...owner.keys()].sort(), [...all].sort(), 'together the members got every uplink')
  for (const [member, set] of sets.entries()) assert.ok(set.length > 0, `member ${member} got a share (${sets.map((s) => s.length).join('/')})`)
}

/**
 * The Mosquitto bridge configuration exactly as docs/scale-out.md shows it, pointed at a local broker: the
 * address and CA are the only lines changed (a private CA file instead of the system's CA directory).
 */
function readmeBridgeConfig(address: string, caFile: string, apiKey: string): string {
  const section = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'scale-out.md'), 'utf8')
  const block = /```conf\n([\s\S]*?)```/.exec(section)
  assert.ok(block, 'docs/scale-out.md shows a bridge configuration')
  const replaced = { address: 0, capath: 0, password: 0 }
  const config = block[1].replace(/^(address|bridge_capath|remote_password) .*$/gm, (_line, key: string) => {
    if (key === 'address') {
      replaced.address++
      return `address ${address}`
    }
    if (key === 'bridge_capath') {
      replaced.capath++
      return `bridge_cafile ${caFile}`
    }
    replaced.password++
    return `remote_password ${apiKey}`
  })
  assert.deepEqual(replaced, { address: 1, capath: 1, password: 1 }, 'the documented block has the lines the test adapts')
  return config
}

describe('Scale-out: a shared subscription group on Mosquitto', function () {
  this.timeout(30_000)
  let broker: Mosquitto
  let bridge: MqttClient

  before(async () => {
    broker = await Mosquitto.start({ users: [BRIDGE, NODE_RED], ttsAcl: false })
  })
  after(async () => {
    await broker?.stop()
  })
  beforeEach(async () => {
    bridge = await rawClient(broker.port, BRIDGE.username, BRIDGE.password)
  })
  afterEach(async () => {
    await bridge?.endAsync(true)
  })

  describe('SDK clients', () => {
    const clients: MQTTClient[] = []
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close()))
    })
    function member(options: MQTTClientOptions = {}): MQTTClient {
      const c = new MQTTClient('app1', NODE_RED.password, `127.0.0.1:${broker.port}`, {
        username: NODE_RED.username,
        topicPrefix: PREFIX,
        sharedGroup: GROUP,
        autoConnect: false,
        reconnect: { minDelayMs: 50, maxDelayMs: 400 },
        ...options,
      })
      clients.push(c)
      return c
    }

    it('three members split the uplinks into disjoint sets that together are all of them; an ungrouped client still gets all', async () => {
      const members = [member(), member(), member({ protocolVersion: 5 })]
      const got = members.map(() => [] as string[])
      for (const [i, c] of members.entries()) c.onUplink(undefined, (d) => got[i].push(`${d.deviceId}:${fCnt(d.message)}`))
      const audit = member({ sharedGroup: undefined })
      const audited: string[] = []
      audit.onUplink(undefined, (d) => audited.push(`${d.deviceId}:${fCnt(d.message)}`))
      await Promise.all([...members, audit].map((c) => c.connect()))
      for (const c of members) {
        assert.ok(c.subscribedFilters.includes(`$share/${GROUP}/${PREFIX}/devices/+/up`))
        await broker.waitForSubscriptions(`$share/${GROUP}/${PREFIX}/devices/+/up`, c.clientId)
      }
      await broker.waitForSubscriptions(`${PREFIX}/devices/+/up`, audit.clientId)

      const all = await publishUplinks(bridge, 1, UPLINKS)
      await waitFor(() => got.flat().length >= UPLINKS && audited.length >= UPLINKS, 5000, 'every uplink')
      await delay(200)
      assertPartition(got, all)
      assert.deepEqual(audited, all, 'a client outside the group gets every uplink, in order')

      // A member leaves: the group goes on with the others and nothing goes to the one that left.
      await members[0].close()
      const before = got.map((g) => g.length)
      const later = await publishUplinks(bridge, UPLINKS + 1, UPLINKS + 10)
      await waitFor(() => got.flat().length >= UPLINKS + 10, 5000, 'uplinks after a member left')
      await delay(200)
      assert.equal(got[0].length, before[0], 'nothing for the member that left')
      assertPartition([got[1].slice(before[1]), got[2].slice(before[2])], later)
    })

    it("each member's downlink lands on the device topic once, and its outcome reaches that member", async () => {
      const observer = await rawClient(broker.port, BRIDGE.username, BRIDGE.password)
      try {
        await subscribeRaw(observer, `${PREFIX}/devices/+/down/+`)
        const requests = answerDownlinksQueued(observer)
        const members = [member(), member(), member({ protocolVersion: 5 })]
        await Promise.all(members.map((c) => c.connect()))
        const sent = await Promise.all(members.map((c, i) => c.send(DEVICES[i], [i + 1], 10 + i, false, 'push')))
        for (const c of members) {
          // Downlink outcomes are plain subscriptions: the member that sent a downlink must see its answer.
          assert.ok(c.subscribedFilters.includes(`${PREFIX}/devices/+/down/queued`), 'down/queued is not shared')
          await broker.waitForSubscriptions(`${PREFIX}/devices/+/down/queued`, c.clientId)
        }
        const outcomes = await Promise.all(sent.map((s) => s.wait('queued', 5000)))
        await delay(200)

        assert.equal(requests.length, 3, 'three downlinks at the broker, no copies')
        for (const [i, s] of sent.entries()) {
          const landed = requests.filter((r) => (r.body.downlinks[0].correlation_ids as string[]).includes(s.correlationId))
          assert.deepEqual(landed, [{ topic: `${PREFIX}/devices/${DEVICES[i]}/down/push`, body: s.body }])
          assert.equal(outcomes[i].status, 'queued')
          assert.equal(outcomes[i].correlationId, s.correlationId)
        }
      } finally {
        await observer.endAsync(true)
      }
    })
  })

  describe('Node-RED', () => {
    before(() => helper.startServer())
    after(() => helper.stopServer())
    afterEach(() => helper.unload())

    /** Three Node-RED instances modelled as three ttn-app config nodes in generic mode, each its own connection (ids differ from the app ID: Node-RED would take a property equal to a node id for a reference). */
    function instances(): object[] {
      const flow: object[] = []
      for (const i of [1, 2, 3]) {
        flow.push(
          {
            id: `cfg${i}`,
            type: 'ttn-app',
            appId: 'app1',
            server: `127.0.0.1:${broker.port}`,
            tls: false,
            api: 'v3',
            broker: 'generic',
            username: NODE_RED.username,
            topicPrefix: PREFIX,
            protocolVersion: i === 3 ? '5' : '4',
            sharedGroup: 'node-red',
          },
          { id: `up${i}`, type: 'ttn-uplink', app: `cfg${i}`, wires: [[`h${i}`]] },
          { id: `h${i}`, type: 'helper' },
          { id: `down${i}`, type: 'ttn-downlink', app: `cfg${i}`, deviceId: DEVICES[i - 1], port: i, wires: [[`o${i}`]] },
          { id: `o${i}`, type: 'helper' },
        )
      }
      return flow
    }
    const credentials = { cfg1: { apiKey: NODE_RED.password }, cfg2: { apiKey: NODE_RED.password }, cfg3: { apiKey: NODE_RED.password } }
    const clientOf = (id: string) => {
      const client = (helper.getNode(id) as unknown as TtnAppNode).client
      assert.ok(client, `${id} has a client`)
      return client
    }

    it('uplinks are split across the instances; downlinks from each land once and report back to the sender', async () => {
      const observer = await rawClient(broker.port, BRIDGE.username, BRIDGE.password)
      try {
        await subscribeRaw(observer, `${PREFIX}/devices/+/down/+`)
        const requests = answerDownlinksQueued(observer)
        await helper.load(ttnNodes, instances(), credentials)
        const flows = [1, 2, 3].map((i) => collect(helper.getNode(`h${i}`)))
        const outcomes = [1, 2, 3].map((i) => collect(helper.getNode(`o${i}`)))
        for (const i of [1, 2, 3]) {
          const c = clientOf(`cfg${i}`)
          assert.equal(c.username, NODE_RED.username)
          await broker.waitForSubscriptions(`$share/node-red/${PREFIX}/devices/+/up`, c.clientId)
          await broker.waitForSubscriptions(`${PREFIX}/devices/+/down/queued`, c.clientId)
        }

        const all = await publishUplinks(bridge, 1, UPLINKS)
        await waitFor(() => flows.flat().length >= UPLINKS, 5000, 'every uplink in some flow')
        await delay(200)
        assertPartition(
          flows.map((msgs) => msgs.map((m) => `${m.deviceId}:${m.counter}`)),
          all,
        )
        assert.match(String(flows[0][0]?.topic ?? flows[1][0]?.topic), /^ttn\/app1\/devices\/dev-[abc]\/up$/)

        for (const i of [1, 2, 3]) helper.getNode(`down${i}`).receive({ payload: [i] })
        await waitFor(() => outcomes.every((o) => o.length === 1), 5000, 'one outcome per instance')
        await delay(200)
        assert.equal(requests.length, 3, 'each downlink once at the broker')
        for (const [n, o] of outcomes.entries()) {
          const i = n + 1
          assert.equal(o.length, 1, `instance ${i}: one outcome, none for the others' downlinks`)
          const d = o[0].downlink as { status: string; correlationId: string; deviceId: string }
          assert.equal(d.status, 'queued')
          assert.equal(d.deviceId, DEVICES[n])
          const landed = requests.filter((r) => (r.body.downlinks[0].correlation_ids as string[]).includes(d.correlationId))
          assert.equal(landed.length, 1)
          assert.equal(landed[0].topic, `${PREFIX}/devices/${DEVICES[n]}/down/replace`)
          assert.deepEqual(landed[0].body.downlinks[0].f_port, i)
          assert.equal(landed[0].body.downlinks[0].frm_payload, Buffer.from([i]).toString('base64'))
        }
      } finally {
        await observer.endAsync(true)
      }
    })
  })
  describe('through the Mosquitto bridge from docs/scale-out.md', () => {
    const KEY = 'NNSXS.MOSQBRIDGE.SECRET'
    let pki: TestPki
    let tts: Mosquitto
    let cluster: Mosquitto
    const clients: MQTTClient[] = []

    before(async () => {
      pki = makeTestPki()
      // Plays The Things Stack: the application's user with its ACL, TLS with a certificate for localhost.
      tts = await Mosquitto.start({ users: [{ username: 'my-app@ttn', password: KEY }, { username: 'tts-server', password: 'server-secret', readwrite: ['v3/#'] }], pki })
      cluster = await Mosquitto.start({
        users: [{ username: 'node-red', password: 'node-red-secret', read: ['ttn/my-app/devices/+/#'], write: ['ttn/my-app/devices/+/down/push', 'ttn/my-app/devices/+/down/replace'] }],
        ttsAcl: false,
        extraConfig: readmeBridgeConfig(`localhost:${tts.tlsPort}`, pki.caPath, KEY),
      })
      await tts.waitForSubscriptions('v3/my-app@ttn/devices/+/#', 'my-app-bridge', 1, 10_000)
    })
    after(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close()))
      await cluster?.stop()
      await tts?.stop()
      pki?.remove()
    })

    it('uplinks come in to the group, split; downlinks go out once each and their outcomes come back to the sender', async () => {
      const server = await rawClient(tts.port, 'tts-server', 'server-secret')
      try {
        await subscribeRaw(server, 'v3/my-app@ttn/devices/+/down/+')
        const requests = answerDownlinksQueued(server)
        const members = [4, 4, 5].map((protocolVersion) => {
          const c = new MQTTClient('my-app', 'node-red-secret', `127.0.0.1:${cluster.port}`, {
            username: 'node-red',
            topicPrefix: 'ttn/my-app',
            sharedGroup: 'node-red',
            protocolVersion: protocolVersion as 4 | 5,
            autoConnect: false,
          })
          clients.push(c)
          return c
        })
        const got = members.map(() => [] as string[])
        for (const [i, c] of members.entries()) c.onUplink(undefined, (d) => got[i].push(`${d.deviceId}:${fCnt(d.message)}`))
        await Promise.all(members.map((c) => c.connect()))
        for (const c of members) await cluster.waitForSubscriptions('$share/node-red/ttn/my-app/devices/+/up', c.clientId)

        const all: string[] = []
        for (let i = 1; i <= 12; i++) {
          const device = DEVICES[i % DEVICES.length]
          const message = { end_device_ids: { device_id: device, application_ids: { application_id: 'my-app' } }, uplink_message: { f_port: 1, f_cnt: i } }
          await server.publishAsync(`v3/my-app@ttn/devices/${device}/up`, JSON.stringify(message))
          all.push(`${device}:${i}`)
        }
        await waitFor(() => got.flat().length >= all.length, 5000, 'the uplinks through the bridge')
        await delay(200)
        assertPartition(got, all)

        const sent = await Promise.all(members.map((c, i) => c.send(DEVICES[i], [i], 1, false, 'replace')))
        for (const c of members) await cluster.waitForSubscriptions('ttn/my-app/devices/+/down/queued', c.clientId)
        const outcomes = await Promise.all(sent.map((s) => s.wait('queued', 5000)))
        await delay(200)
        assert.equal(requests.length, 3, 'three downlinks reached The Things Stack, once each')
        for (const [i, s] of sent.entries()) {
          const landed = requests.filter((r) => (r.body.downlinks[0].correlation_ids as string[]).includes(s.correlationId))
          assert.deepEqual(landed, [{ topic: `v3/my-app@ttn/devices/${DEVICES[i]}/down/replace`, body: s.body }])
          assert.equal(outcomes[i].status, 'queued')
        }
      } finally {
        await server.endAsync(true)
      }
    })
    it('reconnects by itself after The Things Stack restarts; a downlink sent meanwhile is reported as timeout, not lost silently', async () => {
      const c = new MQTTClient('my-app', 'node-red-secret', `127.0.0.1:${cluster.port}`, {
        username: 'node-red',
        topicPrefix: 'ttn/my-app',
        sharedGroup: 'node-red',
        autoConnect: false,
        downlinkTimeoutMs: 1000,
      })
      clients.push(c)
      await c.connect()
      await tts.kill()
      const dropped = await c.send('dev-a', [9], 1)
      await assert.rejects(dropped.wait('queued'), (err: unknown) => err instanceof DownlinkError && err.outcome.status === 'timeout')

      await tts.restart()
      const server = await rawClient(tts.port, 'tts-server', 'server-secret')
      try {
        await subscribeRaw(server, 'v3/my-app@ttn/devices/+/down/+')
        const requests = answerDownlinksQueued(server)
        // restart_timeout 2 60: the bridge's first retry comes about 2 s after the loss.
        await tts.waitForSubscriptions('v3/my-app@ttn/devices/+/#', 'my-app-bridge', 1, 15_000)
        const delivered = await c.send('dev-a', [10], 1)
        assert.equal((await delivered.wait('queued', 5000)).status, 'queued')
        assert.deepEqual(
          requests.map((r) => r.body.downlinks[0].frm_payload),
          [Buffer.from([10]).toString('base64')],
          'the downlink sent while the bridge was down never reached The Things Stack',
        )
      } finally {
        await server.endAsync(true)
      }
    })
  })
})

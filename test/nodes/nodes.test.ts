import assert from 'node:assert/strict'
import type { V3DownlinkRequest } from '../../src/sdk/messages'
import { TtsBroker } from '../../src/simulator'
import { fixture } from '../fixtures'
import { catchNode, collect, functionNode, helper, record, ttnNodes } from '../support/node-red'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.NODETEST.SECRETKEY'
const KEY2 = 'NNSXS.SECOND.APPKEY'

describe('Node-RED nodes in the real runtime', () => {
  let broker: TtsBroker

  function app(id = 'app', appId = 'app1', extra: object = {}) {
    return { id, type: 'ttn-app', appId, tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3', ...extra }
  }
  const creds = (id = 'app', apiKey = KEY) => ({ [id]: { apiKey } })

  before(() => helper.startServer())
  after(() => helper.stopServer())
  beforeEach(async () => {
    broker = await TtsBroker.start({
      applications: [
        { appId: 'app1', tenant: 'ttn', apiKey: KEY },
        { appId: 'app2', tenant: 'ttn', apiKey: KEY2 },
      ],
    })
  })
  afterEach(async () => {
    await helper.unload()
    await broker.stop()
  })

  async function connectedTo(username: string, n = 1) {
    await waitFor(() => broker.connectionCount(username) === n, 5000, `${n} connection(s) for ${username}`)
  }
  async function subscribed(filter: string) {
    await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes(filter)), 5000, `subscription ${filter}`)
  }

  describe('ttn-app', () => {
    it('hands the credential to the SDK and keeps it out of the flow', async () => {
      await helper.load(ttnNodes, [app(), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] }], creds())
      await connectedTo('app1@ttn')
      const node = helper.getNode('app')
      assert.equal((node.credentials as { apiKey: string }).apiKey, KEY)
      assert.equal(JSON.stringify(helper.getNode('up')).includes(KEY), false)
    })

    it('opens one connection however many nodes use it, and none before the first user', async () => {
      const flow: object[] = [app()]
      for (let i = 0; i < 20; i++) flow.push({ id: `u${i}`, type: 'ttn-uplink', app: 'app', deviceId: `dev-${i}`, wires: [] })
      flow.push({ id: 'd', type: 'ttn-downlink', app: 'app', deviceId: 'dev1', port: 1, wires: [[]] }, { id: 'e', type: 'ttn-event', app: 'app', event: 'all', wires: [] })
      await helper.load(ttnNodes, flow, creds())
      await connectedTo('app1@ttn')
      await delay(200)
      assert.equal(broker.connectionCount(), 1)

      await helper.unload()
      await helper.load(ttnNodes, [app()], creds())
      await delay(300)
      assert.equal(broker.connectionCount(), 0, 'a config node nobody uses does not connect')
    })

    it('shows connecting → connected, then reconnecting → connected after the server drops the connection', async () => {
      await helper.load(ttnNodes, [app(), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] }], creds())
      await connectedTo('app1@ttn')
      const up = helper.getNode('up')
      const statuses = record(up, 'status')
      broker.disconnectAll()
      await waitFor(() => statuses.some((s) => (s[0] as { text?: string }).text === 'ttn.status.connected'), 5000, 'connected again')
      const texts = statuses.map((s) => (s[0] as { text?: string }).text)
      assert.deepEqual(texts, ['ttn.status.reconnecting', 'ttn.status.connected'])
      assert.deepEqual(statuses[1][0], { fill: 'green', shape: 'dot', text: 'ttn.status.connected' })
    })

    it('shows not authorized and logs the hint once, not once per attempt', async () => {
      const flow = [app('app', 'app1', { keepalive: 60 }), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] }]
      await helper.load(ttnNodes, flow, creds('app', 'NNSXS.WRONG.KEY'))
      const cfg = helper.getNode('app')
      const up = helper.getNode('up')
      const errors = record(cfg, 'error')
      const statuses = record(up, 'status')
      await waitFor(() => broker.connectAttempts.filter((a) => a.returnCode === 5).length >= 3, 10000, 'three refused attempts')
      await delay(50)
      assert.ok(statuses.some((s) => (s[0] as { text?: string }).text === 'ttn.status.notAuthorized'))
      assert.ok(errors.length <= 1, `hint logged ${errors.length} times`)
      const logged = helper._logSpy?.getCalls().map((c) => JSON.stringify(c.args)) ?? []
      assert.ok(logged.some((l) => l.includes('ttn.errors.notAuthorized')), 'hint in the log')
      assert.equal(logged.some((l) => l.includes('NNSXS.WRONG.KEY')), false, 'the key is never logged')
    })

    it('reports a missing key on every node that uses the config', async () => {
      await helper.load(ttnNodes, [app(), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] }], {})
      const logged = helper._logSpy?.getCalls().map((c) => JSON.stringify(c.args)) ?? []
      assert.ok(logged.some((l) => l.includes('ttn.errors.missingKey')))
      await delay(100)
      assert.equal(broker.connectAttempts.length, 0)
    })
  })

  describe('ttn-uplink', () => {
    it('sends one message per uplink with payload, deviceId, port, counter, topic, ttn and metadata', async () => {
      await helper.load(ttnNodes, [app(), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [['out']] }, { id: 'out', type: 'helper' }], creds())
      const msgs = collect(helper.getNode('out'))
      await subscribed('v3/app1@ttn/devices/+/up')
      const up = fixture('tts-v3/up.json')
      await broker.publishUplink('app1@ttn', 'dev1', { fullMessage: up })
      await waitFor(() => msgs.length === 1)
      await delay(50)
      assert.equal(msgs.length, 1)
      const m = msgs[0]
      assert.deepEqual(m.payload, { temperature: 1.0, luminosity: 0.64 })
      assert.equal(m.deviceId, 'dev1')
      assert.equal(m.port, 0)
      assert.equal(m.counter, 1)
      assert.equal(m.topic, 'v3/app1@ttn/devices/dev1/up')
      assert.deepEqual(m.ttn, up)
      assert.equal(m.rssi, -35)
      assert.equal(m.snr, 5)
      assert.equal(m.gatewayId, 'gtw1')
      assert.equal(m.devEui, '0004A30B001C0530')
      assert.equal(m.receivedAt, '2020-02-12T15:15:46.014773143Z')
      assert.deepEqual(m.bytes, Buffer.from('gkHe', 'base64'))
    })

    it('gives the raw bytes as a Buffer when there is no decoded payload, or when asked; the whole message when asked', async () => {
      const flow = [
        app(),
        { id: 'upAuto', type: 'ttn-uplink', app: 'app', wires: [['o1']] },
        { id: 'upBytes', type: 'ttn-uplink', app: 'app', output: 'bytes', wires: [['o2']] },
        { id: 'upWhole', type: 'ttn-uplink', app: 'app', output: 'message', wires: [['o3']] },
        { id: 'o1', type: 'helper' },
        { id: 'o2', type: 'helper' },
        { id: 'o3', type: 'helper' },
      ]
      await helper.load(ttnNodes, flow, creds())
      const [m1, m2, m3] = ['o1', 'o2', 'o3'].map((id) => collect(helper.getNode(id)))
      await subscribed('v3/app1@ttn/devices/+/up')
      await broker.publishUplink('app1@ttn', 'dev1', { frm_payload: 'AQID', f_port: 7 })
      await broker.publishUplink('app1@ttn', 'dev1', { frm_payload: 'AQID', f_port: 7, decoded_payload: { x: 1 } })
      await waitFor(() => m1.length === 2 && m2.length === 2 && m3.length === 2)
      assert.ok(Buffer.isBuffer(m1[0].payload))
      assert.deepEqual(m1[0].payload, Buffer.from([1, 2, 3]))
      assert.deepEqual(m1[1].payload, { x: 1 })
      assert.deepEqual(m2[1].payload, Buffer.from([1, 2, 3]))
      assert.equal((m3[1].payload as { uplink_message: { f_port: number } }).uplink_message.f_port, 7)
      // Two nodes got the same uplink: each has its own copy of msg.ttn.
      assert.notEqual(m1[1].ttn, m2[1].ttn)
      assert.deepEqual(m1[1].ttn, m2[1].ttn)
    })

    it('delivers only to the matching device filters, across two config nodes side by side', async () => {
      const flow = [
        app('a1', 'app1'),
        app('a2', 'app2'),
        { id: 'all1', type: 'ttn-uplink', app: 'a1', wires: [['h1']] },
        { id: 'devA', type: 'ttn-uplink', app: 'a1', deviceId: 'dev-a', wires: [['h2']] },
        { id: 'all2', type: 'ttn-uplink', app: 'a2', wires: [['h3']] },
        { id: 'h1', type: 'helper' },
        { id: 'h2', type: 'helper' },
        { id: 'h3', type: 'helper' },
      ]
      await helper.load(ttnNodes, flow, { a1: { apiKey: KEY }, a2: { apiKey: KEY2 } })
      const [h1, h2, h3] = ['h1', 'h2', 'h3'].map((id) => collect(helper.getNode(id)))
      await connectedTo('app1@ttn')
      await connectedTo('app2@ttn')
      await subscribed('v3/app1@ttn/devices/+/up')
      await subscribed('v3/app2@ttn/devices/+/up')
      await broker.publishUplink('app1@ttn', 'dev-a')
      await broker.publishUplink('app1@ttn', 'dev-b')
      await broker.publishUplink('app2@ttn', 'dev-a')
      await waitFor(() => h1.length === 2 && h3.length === 1)
      await delay(100)
      assert.deepEqual(h1.map((m) => m.deviceId), ['dev-a', 'dev-b'])
      assert.deepEqual(h2.map((m) => m.deviceId), ['dev-a'])
      assert.deepEqual(h3.map((m) => m.applicationId), ['app2'])
    })
  })

  describe('ttn-downlink', () => {
    const catchAll = { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] }
    async function loadDownlink(config: object = {}) {
      const flow = [
        app(),
        { id: 'down', type: 'ttn-downlink', app: 'app', deviceId: 'dev1', port: 1, confirmed: false, schedule: 'replace', priority: 'NORMAL', wires: [['outcome']], ...config },
        { id: 'outcome', type: 'helper' },
        catchAll,
        { id: 'caught', type: 'helper' },
      ]
      await helper.load([ttnNodes, catchNode], flow, creds())
      await connectedTo('app1@ttn')
      return { down: helper.getNode('down'), outcomes: collect(helper.getNode('outcome')), caught: collect(helper.getNode('caught')) }
    }
    const item = (i: number) => (broker.downlinks[i].body as V3DownlinkRequest).downlinks[0]

    it('publishes exactly the expected JSON for every payload form', async () => {
      const { down } = await loadDownlink()
      down.receive({ payload: Buffer.from([0xbe, 0xef]) })
      down.receive({ payload: [1, 2, 3] })
      down.receive({ payload: 'AQ==' })
      down.receive({ payload: { led: true } })
      await waitFor(() => broker.downlinks.length === 4)
      for (let i = 0; i < 4; i++) assert.equal(broker.downlinks[i].topic, 'v3/app1@ttn/devices/dev1/down/replace')
      assert.deepEqual(
        broker.downlinks.map((d) => {
          const it = (d.body as V3DownlinkRequest).downlinks[0]
          return { ...it, correlation_ids: it.correlation_ids?.length }
        }),
        [
          { f_port: 1, frm_payload: 'vu8=', confirmed: false, priority: 'NORMAL', correlation_ids: 1 },
          { f_port: 1, frm_payload: 'AQID', confirmed: false, priority: 'NORMAL', correlation_ids: 1 },
          { f_port: 1, frm_payload: 'AQ==', confirmed: false, priority: 'NORMAL', correlation_ids: 1 },
          { f_port: 1, decoded_payload: { led: true }, confirmed: false, priority: 'NORMAL', correlation_ids: 1 },
        ],
      )
    })

    it('reads hex strings with the hex option', async () => {
      const { down } = await loadDownlink({ payloadFormat: 'hex' })
      down.receive({ payload: 'beef' })
      await waitFor(() => broker.downlinks.length === 1)
      assert.equal(item(0).frm_payload, 'vu8=')
    })

    it('lets msg.deviceId, msg.dev_id, msg.port, msg.confirmed, msg.schedule and msg.priority override the node', async () => {
      const { down } = await loadDownlink({ port: 5, confirmed: true, schedule: 'last', priority: 'LOW' })
      down.receive({ payload: [1] })
      down.receive({ payload: [1], deviceId: 'dev2', port: 9, confirmed: false, schedule: 'replace', priority: 'HIGH' })
      down.receive({ payload: [1], dev_id: 'dev3' })
      await waitFor(() => broker.downlinks.length === 3)
      assert.equal(broker.downlinks[0].topic, 'v3/app1@ttn/devices/dev1/down/push')
      assert.deepEqual([item(0).f_port, item(0).confirmed, item(0).priority], [5, true, 'LOW'])
      assert.equal(broker.downlinks[1].topic, 'v3/app1@ttn/devices/dev2/down/replace')
      assert.deepEqual([item(1).f_port, item(1).confirmed, item(1).priority], [9, false, 'HIGH'])
      assert.equal(broker.downlinks[2].topic, 'v3/app1@ttn/devices/dev3/down/push')
    })

    it('sends every invalid input to the Catch node with a clear message and publishes nothing', async () => {
      const { down, caught } = await loadDownlink()
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ payload: null }, /payload is null/],
        [{ payload: 42 }, /payload is a number/],
        [{ payload: 'not base64 at all' }, /not valid base64/],
        [{ payload: Buffer.alloc(300) }, /300 bytes/],
        [{ payload: [1], port: 0 }, /FPort 0/],
        [{ payload: [1], port: 224 }, /FPort 224/],
        [{ payload: [1], port: 'abc' }, /FPort "abc"/],
        [{ payload: [1], deviceId: 'Dev1' }, /upper-case/],
        [{ payload: [1], deviceId: 'dev/#' }, /not allowed/],
        [{ payload: [1], schedule: 'first' }, /does not exist in The Things Stack v3/],
        [{ payload: [1], priority: 'URGENT' }, /Unknown priority/],
        [{ payload: [1], confirmed: 'maybe' }, /confirmed/],
      ]
      for (const [msg] of bad) down.receive(msg)
      await waitFor(() => caught.length === bad.length, 5000, 'all errors caught')
      for (let i = 0; i < bad.length; i++) {
        const err = caught[i].error as { message: string; source: { id: string } }
        assert.match(err.message, bad[i][1], `case ${i}`)
        assert.equal(err.source.id, 'down')
      }
      await delay(100)
      assert.equal(broker.downlinks.length, 0)
    })

    it('reports a refused downlink once, on the downlink node (to Catch), not again on the config node', async () => {
      const { down, caught } = await loadDownlink()
      const cfg = helper.getNode('app')
      const cfgWarnings = record(cfg, 'warn')
      const cfgErrors = record(cfg, 'error')
      const downErrors = record(down, 'error')
      down.receive({ payload: 'not base64 at all' })
      down.receive({ payload: [1], port: 300 })
      await waitFor(() => caught.length === 2, 5000, 'both errors caught')
      await delay(200)
      assert.equal(downErrors.length, 2)
      assert.deepEqual(cfgWarnings, [])
      assert.deepEqual(cfgErrors, [])
    })

    it('reports queued on the outcome output, carrying the original msg', async () => {
      const { down, outcomes } = await loadDownlink()
      down.receive({ payload: [1], topic: 'mine', flowRef: 42 })
      await waitFor(() => outcomes.length === 1)
      const o = outcomes[0]
      assert.equal(o.topic, 'mine')
      assert.equal(o.flowRef, 42)
      assert.deepEqual(o.payload, [1])
      const dl = o.downlink as { status: string; correlationId: string; deviceId: string }
      assert.equal(dl.status, 'queued')
      assert.equal(dl.deviceId, 'dev1')
      assert.deepEqual(item(0).correlation_ids, [dl.correlationId])
      assert.ok(((o.ttn as { correlation_ids: string[] }).correlation_ids ?? []).includes(dl.correlationId))
    })

    it('reports failed with the server reason on the output and to Catch', async () => {
      const { down, outcomes, caught } = await loadDownlink()
      down.receive({ payload: Buffer.alloc(100), marker: 'x' })
      await waitFor(() => outcomes.length === 1 && caught.length === 1)
      const dl = outcomes[0].downlink as { status: string; error: { name: string } }
      assert.equal(dl.status, 'failed')
      assert.equal(dl.error.name, 'application_downlink_too_long')
      assert.equal(caught[0].marker, 'x')
      assert.match((caught[0].error as { message: string }).message, /ttn.errors.downlinkFailed/)
    })

    it('reports a downlink the server never answers as timeout', async () => {
      // A v2 application logged in with a v3 client: the simulator drops its v3 downlinks without a
      // word, as The Things Stack does for a key without downlink rights.
      await broker.stop()
      broker = await TtsBroker.start({ applications: [{ appId: 'legacy', tenant: null, apiKey: KEY, api: 'v2' }] })
      const flow = [
        { id: 'app', type: 'ttn-app', appId: 'legacy', tenant: '', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3' },
        { id: 'down', type: 'ttn-downlink', app: 'app', deviceId: 'dev1', port: 1, timeout: 0.2, wires: [['outcome']] },
        { id: 'outcome', type: 'helper' },
        catchAll,
        { id: 'caught', type: 'helper' },
      ]
      await helper.load([ttnNodes, catchNode], flow, creds())
      const outcomes = collect(helper.getNode('outcome'))
      const caught = collect(helper.getNode('caught'))
      await connectedTo('legacy')
      helper.getNode('down').receive({ payload: [1], marker: 'm' })
      await waitFor(() => outcomes.length === 1 && caught.length === 1, 3000, 'timeout outcome')
      assert.equal((outcomes[0].downlink as { status: string }).status, 'timeout')
      assert.equal(caught[0].marker, 'm')
      assert.match((caught[0].error as { message: string }).message, /ttn.errors.downlinkTimeout/)
    })
  })

  describe('ttn-event', () => {
    it('sends joins and the other events with msg.event, msg.deviceId, msg.payload and msg.ttn', async () => {
      const flow = [
        app(),
        { id: 'evJoin', type: 'ttn-event', app: 'app', event: 'join', wires: [['j']] },
        { id: 'evAll', type: 'ttn-event', app: 'app', event: 'all', deviceId: 'dev1', wires: [['a']] },
        { id: 'j', type: 'helper' },
        { id: 'a', type: 'helper' },
      ]
      await helper.load(ttnNodes, flow, creds())
      const j = collect(helper.getNode('j'))
      const a = collect(helper.getNode('a'))
      await subscribed('v3/app1@ttn/devices/+/join')
      await subscribed('v3/app1@ttn/devices/+/service/data')
      const join = fixture('tts-v3/join.json')
      await broker.publishRaw('v3/app1@ttn/devices/dev1/join', JSON.stringify(join))
      await broker.publishEvent('app1@ttn', 'dev2', 'join')
      await broker.publishRaw('v3/app1@ttn/devices/dev1/down/ack', JSON.stringify(fixture('tts-v3/down-ack.json')))
      await broker.publishEvent('app1@ttn', 'dev1', 'location/solved')
      await waitFor(() => j.length === 2 && a.length === 3)
      assert.equal(j[0].event, 'join')
      assert.equal(j[0].deviceId, 'dev1')
      assert.deepEqual(j[0].payload, (join as { join_accept: unknown }).join_accept)
      assert.deepEqual(j[0].ttn, join)
      assert.equal(j[0].topic, 'v3/app1@ttn/devices/dev1/join')
      assert.deepEqual(a.map((m) => m.event), ['join', 'down/ack', 'location/solved'])
    })
  })

  describe('one message object per receiver', () => {
    // Node-RED's rule for wires: the first receiver may get the object itself, every further one a copy.
    // Two of our nodes that receive the same server message must not share one msg.ttn either.
    const mutate = (id: string, tag: string, wire: string) => ({
      id,
      type: 'function',
      func: `msg.ttn.touchedBy = '${tag}'; if (msg.payload && typeof msg.payload === 'object') msg.payload.touchedBy = '${tag}'; return msg`,
      wires: [[wire]],
    })
    const cases = [
      ['two ttn-event nodes', 'ttn-event', { event: 'join' }, (b: TtsBroker) => b.publishEvent('app1@ttn', 'dev1', 'join')],
      ['two ttn-uplink nodes', 'ttn-uplink', {}, (b: TtsBroker) => b.publishUplink('app1@ttn', 'dev1')],
    ] as const

    for (const [kind, nodeType, extra, publish] of cases) {
      it(`${kind}: a change downstream of one does not show in the other's message`, async () => {
        const flow = [
          app(),
          { id: 'n1', type: nodeType, app: 'app', ...extra, wires: [['f1']] },
          mutate('f1', 'one', 'h1'),
          { id: 'h1', type: 'helper' },
          { id: 'n2', type: nodeType, app: 'app', ...extra, wires: [['f2']] },
          mutate('f2', 'two', 'h2'),
          { id: 'h2', type: 'helper' },
          { id: 'n3', type: nodeType, app: 'app', ...extra, wires: [['h3']] },
          { id: 'h3', type: 'helper' },
        ]
        await helper.load([ttnNodes, functionNode], flow, creds())
        const h1 = collect(helper.getNode('h1'))
        const h2 = collect(helper.getNode('h2'))
        const h3 = collect(helper.getNode('h3'))
        await subscribed(nodeType === 'ttn-event' ? 'v3/app1@ttn/devices/+/join' : 'v3/app1@ttn/devices/+/up')
        await publish(broker)
        await waitFor(() => h1.length === 1 && h2.length === 1 && h3.length === 1, 5000, 'three messages')
        await delay(50)
        const touched = (m: Record<string, unknown>) => (m.ttn as { touchedBy?: string }).touchedBy
        assert.equal(touched(h1[0]), 'one')
        assert.equal(touched(h2[0]), 'two')
        assert.equal(touched(h3[0]), undefined)
        assert.notEqual(h1[0].ttn, h2[0].ttn)
        assert.notEqual(h1[0].payload, h3[0].payload)
      })
    }
  })

  describe('redeploys', () => {
    const base = () => [
      app('a1', 'app1'),
      { id: 'up1', type: 'ttn-uplink', app: 'a1', wires: [['h']] },
      { id: 'h', type: 'helper' },
    ]

    it('leave exactly one connection per config node for full, flows and nodes deploys, and each uplink arrives once', async () => {
      const flow = base()
      await helper.load(ttnNodes, flow, { a1: { apiKey: KEY } })
      await connectedTo('app1@ttn')
      const variants: [object[], 'full' | 'flows' | 'nodes'][] = [
        [[...base(), { id: 'up2', type: 'ttn-uplink', app: 'a1', deviceId: 'dev1', wires: [['h']] }], 'nodes'],
        [base(), 'nodes'],
        [[...base(), { id: 'ev', type: 'ttn-event', app: 'a1', wires: [] }], 'flows'],
        [base().map((n): object => (n.id === 'up1' ? { ...n, deviceId: '', name: 'changed' } : n)), 'nodes'],
        [base(), 'full'],
        [[...base(), app('a2', 'app2'), { id: 'up3', type: 'ttn-uplink', app: 'a2', wires: [['h']] }], 'flows'],
      ]
      for (const [f, type] of variants) {
        await helper.setFlows(f, type, { a1: { apiKey: KEY }, a2: { apiKey: KEY2 } })
        await delay(50)
      }
      await connectedTo('app1@ttn')
      await connectedTo('app2@ttn')
      await delay(700)
      assert.equal(broker.connectionCount('app1@ttn'), 1)
      assert.equal(broker.connectionCount('app2@ttn'), 1)
      const h = collect(helper.getNode('h'))
      await subscribed('v3/app1@ttn/devices/+/up')
      await subscribed('v3/app2@ttn/devices/+/up')
      await broker.publishUplink('app1@ttn', 'dev1')
      await broker.publishUplink('app2@ttn', 'dev1')
      await waitFor(() => h.length === 2)
      await delay(150)
      assert.equal(h.length, 2)
    })

    it('closes the connection when the config node is removed, and reconnects with a changed key', async () => {
      await helper.load(ttnNodes, base(), { a1: { apiKey: 'NNSXS.WRONG.KEY' } })
      await waitFor(() => broker.connectAttempts.some((a) => a.returnCode === 5), 5000, 'refused')
      // As the editor does: the changed key travels inline with the node, which marks it modified.
      await helper.setFlows(base().map((n): object => (n.id === 'a1' ? { ...n, credentials: { apiKey: KEY } } : n)), 'nodes')
      await connectedTo('app1@ttn')
      await helper.setFlows([{ id: 'h', type: 'helper' }], 'full')
      await waitFor(() => broker.connectionCount() === 0, 5000, 'no connection left')
    })
  })
})

/**
 * Each example flow in examples/ is loaded into the real runtime, pointed at the simulated The Things
 * Stack, and shown to do what its comment says. Debug nodes are swapped for test helper nodes (same
 * IDs) so the test can read what would reach the debug sidebar.
 */
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { MQTTClient } from '../../src/sdk/client'
import type { V3DownlinkRequest } from '../../src/sdk/messages'
import { GatewayServerStandIn, HttpApiStandIn, TtsBroker } from '../../src/simulator'
import { missEvery } from '../../src/simulator/devices'
import { catchNode, collect, commentNode, functionNode, healthNodes, helper, injectNode, record, ttnNodes } from '../support/node-red'
import { waitFor } from '../support/wait'

const KEY = 'NNSXS.EXAMPLES.TESTKEY'
const EXAMPLES = join(__dirname, '..', '..', '..', 'examples')

type FlowNode = Record<string, unknown> & { id: string; type: string }

function loadExample(file: string, port: number, gatewayServer?: string): FlowNode[] {
  const flow = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as FlowNode[]
  // Import → Examples puts the flow nodes on the current tab and keeps config nodes global.
  const tab: FlowNode = { id: 'example-tab', type: 'tab', label: file }
  const nodes = flow.map((n): FlowNode => {
    if (n.type === 'ttn-app') return { ...n, server: `127.0.0.1:${port}`, tls: false, tenant: 'ttn' }
    if (n.type === 'ttn-gateway' && gatewayServer) return { ...n, server: gatewayServer, z: tab.id }
    if (n.type === 'debug') return { id: n.id, type: 'helper', z: tab.id }
    return { ...n, z: tab.id }
  })
  return [tab, ...nodes]
}

describe('example flows do what their comments say', () => {
  let broker: TtsBroker
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'my-app', tenant: 'ttn', apiKey: KEY }], autoDeliver: { sentAfterMs: 30, ackAfterMs: 30 } })
  })
  afterEach(async () => {
    await helper.unload()
    await broker.stop()
  })
  const modules = [ttnNodes, healthNodes, injectNode, functionNode, catchNode, commentNode]
  const subscribed = (filter: string) =>
    waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes(filter)), 5000, filter)

  it('every example starts with a comment, holds no credentials, and all node types are covered', () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'))
    assert.ok(files.length >= 3)
    const types = new Set<string>()
    for (const f of files) {
      const flow = JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')) as FlowNode[]
      assert.equal(flow[0].type, 'comment', `${f} starts with a Comment node`)
      assert.equal(JSON.stringify(flow).includes('NNSXS'), false, `${f} has no key`)
      assert.ok(flow.every((n) => n.credentials === undefined), `${f} has no credentials`)
      for (const n of flow) types.add(n.type)
    }
    for (const t of ['ttn-app', 'ttn-uplink', 'ttn-downlink', 'ttn-event', 'ttn-monitor', 'ttn-gateway']) assert.ok(types.has(t), `${t} is in an example`)
  })

  it('01 Receive uplinks: decoded payloads, bytes decoded by the function node, and one device as the whole message', async () => {
    await helper.load(modules, loadExample('01 Receive uplinks.json', broker.port), { 'ex-ttn-app': { apiKey: KEY } })
    const payloads = collect(helper.getNode('ex1-debug-payload'))
    const decoded = collect(helper.getNode('ex1-debug-decoded'))
    const whole = collect(helper.getNode('ex1-debug-message'))
    const warnings = record(helper.getNode('ex1-decode'), 'warn')
    await subscribed('v3/my-app@ttn/devices/+/up')
    await broker.publishUplink('my-app@ttn', 'sensor-1', { decoded_payload: { temperature: 21.5 }, frm_payload: 'CGYq' })
    // 0x0866 = 2150 -> 21.50 °C, 0x2a = 42 % battery, no payload formatter.
    await broker.publishUplink('my-app@ttn', 'sensor-2', { frm_payload: Buffer.from([0x08, 0x66, 0x2a]).toString('base64'), f_port: 2 })
    await broker.publishUplink('my-app@ttn', 'sensor-3', { frm_payload: 'AQ==', f_port: 2 })
    await broker.publishUplink('my-app@ttn', 'my-device', { decoded_payload: { on: true } })
    await waitFor(() => payloads.length === 4 && decoded.length === 3 && whole.length === 1 && warnings.length === 1, 5000, 'example 01 outputs')
    assert.deepEqual(payloads[0].payload, { temperature: 21.5 })
    assert.ok(Buffer.isBuffer(payloads[1].payload))
    assert.deepEqual(decoded[0].payload, { temperature: 21.5 })
    const fromBytes = decoded[1].payload as Record<string, unknown>
    assert.equal(fromBytes.temperature, 21.5)
    assert.equal(fromBytes.battery, 42)
    assert.equal(fromBytes.port, 2)
    assert.match(String(warnings[0][0]), /sensor-3: 1 bytes on port 2, expected 3/)
    assert.equal(whole[0].deviceId, 'my-device')
    assert.ok((whole[0].payload as { uplink_message?: unknown }).uplink_message, 'the whole TTN message')
  })

  it('02 Send a downlink: each inject button publishes its payload form, and the outcome output reports the fate', async () => {
    await helper.load(modules, loadExample('02 Send a downlink and follow its outcome.json', broker.port), { 'ex-ttn-app': { apiKey: KEY } })
    const outcomes = collect(helper.getNode('ex2-debug-outcome'))
    const errors = collect(helper.getNode('ex2-debug-error'))
    await waitFor(() => broker.connectionCount('my-app@ttn') === 1, 5000, 'connected')
    const sent = () => outcomes.filter((o) => (o.downlink as { status: string }).status === 'sent').length
    // One button at a time: the node's schedule is "replace", so a second click before the first
    // downlink went out would (rightly) replace it in the queue.
    for (const [i, id] of ['ex2-inject-bytes', 'ex2-inject-base64', 'ex2-inject-object', 'ex2-inject-override'].entries()) {
      helper.getNode(id).receive({})
      await waitFor(() => sent() === i + 1, 3000, `the downlink from ${id} sent`)
    }
    assert.equal(broker.downlinks.length, 4)
    const items = broker.downlinks.map((d) => (d.body as V3DownlinkRequest).downlinks[0])
    assert.deepEqual(items.map((i) => i.frm_payload ?? i.decoded_payload), ['AQID', 'AQ==', { led: 'on', level: 3 }, '/w=='])
    assert.deepEqual(broker.downlinks.map((d) => d.deviceId), ['my-device', 'my-device', 'my-device', 'other-device'])
    assert.equal(items[3].f_port, 2)
    assert.ok(outcomes.some((o) => (o.downlink as { status: string }).status === 'queued'))
    assert.deepEqual(errors, [])
  })

  it('02 Send a downlink: the retry, hold, list and clear buttons do what the comment says', async () => {
    // issue 15: a device that misses its first confirmed downlink, and the HTTP API for list and clear.
    await broker.stop()
    broker = await TtsBroker.start({
      applications: [{ appId: 'my-app', tenant: 'ttn', apiKey: KEY }],
      autoDeliver: { sentAfterMs: 30, ackAfterMs: 30 },
      missesConfirmed: missEvery(2),
    })
    const api = await HttpApiStandIn.start({
      broker,
      applications: [{ appId: 'my-app', devices: [{ deviceId: 'my-device' }] }],
      keys: [{ key: KEY, appId: 'my-app', rights: ['RIGHT_APPLICATION_ALL'] }],
    })
    try {
      const flow = loadExample('02 Send a downlink and follow its outcome.json', broker.port).map((n) =>
        n.type === 'ttn-app' ? { ...n, apiUrl: api.url } : n,
      )
      await helper.load(modules, flow, { 'ex-ttn-app': { apiKey: KEY } })
      const outcomes = collect(helper.getNode('ex2-debug-outcome'))
      const queue = collect(helper.getNode('ex2-debug-queue'))
      const errors = collect(helper.getNode('ex2-debug-error'))
      await waitFor(() => broker.connectionCount('my-app@ttn') === 1, 5000, 'connected')
      const status = (o: Record<string, unknown>) => (o.downlink as { status: string }).status

      helper.getNode('ex2-inject-retry').receive({})
      await waitFor(() => outcomes.some((o) => status(o) === 'ack'), 5000, 'ack after a retry')
      const last = outcomes.at(-1)?.downlink as { attempt: number; attempts: number; final: boolean }
      assert.deepEqual([last.attempt, last.attempts, last.final], [2, 3, true])
      assert.ok(outcomes.some((o) => status(o) === 'nack'))

      helper.getNode('ex2-inject-held').receive({})
      await waitFor(() => outcomes.some((o) => status(o) === 'held'), 3000, 'held')
      await subscribed('v3/my-app@ttn/devices/+/up')
      const before = broker.downlinks.length
      await broker.publishUplink('my-app@ttn', 'my-device')
      await waitFor(() => broker.downlinks.length === before + 1, 3000, 'pushed after the uplink')
      assert.equal(broker.downlinks.at(-1)?.topic, 'v3/my-app@ttn/devices/my-device/down/push')

      // Something waiting in the queue to list and clear: an unconfirmed downlink the simulator has not sent yet.
      helper.getNode('ex2-inject-bytes').receive({})
      await waitFor(() => broker.downlinkQueue('my-app@ttn', 'my-device').length > 0, 3000, 'queued')
      helper.getNode('ex2-inject-list').receive({})
      await waitFor(() => queue.length === 1, 3000, 'the queue listed')
      assert.ok(Array.isArray(queue[0].payload) && (queue[0].payload as unknown[]).length >= 1)
      helper.getNode('ex2-inject-clear').receive({})
      await waitFor(() => outcomes.some((o) => status(o) === 'cleared'), 3000, 'cleared')
      assert.deepEqual(broker.downlinkQueue('my-app@ttn', 'my-device'), [])
      assert.deepEqual(errors, [])
    } finally {
      await helper.unload()
      await api.stop()
    }
  })

  it('03 React to joins and events: joins on the top node, every event on the bottom one', async () => {
    await helper.load(modules, loadExample('03 React to joins and events.json', broker.port), { 'ex-ttn-app': { apiKey: KEY } })
    const joins = collect(helper.getNode('ex3-debug-join'))
    const all = collect(helper.getNode('ex3-debug-all'))
    await subscribed('v3/my-app@ttn/devices/+/join')
    await subscribed('v3/my-app@ttn/devices/+/location/solved')
    await broker.publishEvent('my-app@ttn', 'sensor-1', 'join')
    await broker.publishEvent('my-app@ttn', 'sensor-1', 'location/solved')
    await broker.publishEvent('my-app@ttn', 'sensor-2', 'service/data')
    await waitFor(() => joins.length === 1 && all.length === 3, 5000, 'events')
    assert.equal(joins[0].deviceId, 'sensor-1')
    assert.ok(joins[0].payload && typeof joins[0].payload === 'object')
    assert.deepEqual(all.map((m) => m.event), ['join', 'location/solved', 'service/data'])
    assert.ok(all.every((m) => m.ttn && typeof m.ttn === 'object'))
  })

  it('04 Device and gateway health: the records button answers with each device, the gateway node reports its gateway, problems reach the Catch node', async () => {
    const GW_KEY = 'NNSXS.EXAMPLES.GATEWAYKEY'
    const gs = await GatewayServerStandIn.start({ gateways: ['my-gateway'], statusEveryMs: 0, keys: [{ key: GW_KEY, kind: 'gateway', owner: 'my-gateway' }] })
    try {
      await helper.load(modules, loadExample('04 Device and gateway health.json', broker.port, gs.url), { 'ex-ttn-app': { apiKey: KEY }, 'ex4-gateway': { apiKey: GW_KEY } })
      const health = collect(helper.getNode('ex4-debug-health'))
      const gateway = collect(helper.getNode('ex4-debug-gateway'))
      const problems = collect(helper.getNode('ex4-debug-problem'))
      await subscribed('v3/my-app@ttn/devices/+/up')
      // The broker lists a subscription a moment before it delivers on it: probe until an uplink arrives.
      const appClient = (helper.getNode('ex-ttn-app') as unknown as { client: MQTTClient }).client
      let probed = false
      const stopProbe = appClient.onUplink('probe', () => {
        probed = true
      })
      await waitFor(() => {
        if (!probed) void broker.publishUplink('my-app@ttn', 'probe', { f_cnt: 1 })
        return probed
      }, 5000, 'uplinks delivered')
      stopProbe()
      await broker.publishUplink('my-app@ttn', 'sensor-1', { f_cnt: 1 })
      await broker.publishUplink('my-app@ttn', 'sensor-1', { f_cnt: 3 })
      await broker.publishUplink('my-app@ttn', 'sensor-2', { f_cnt: 7 })
      await waitFor(() => gateway.length === 1, 5000, 'gateway/online')
      assert.deepEqual([gateway[0].event, gateway[0].gatewayId], ['gateway/online', 'my-gateway'])
      helper.getNode('ex4-inject-records').receive({ action: 'get' })
      await waitFor(() => health.length === 1, 3000, 'records')
      const records = health[0].payload as { deviceId: string; received: number; lost: number }[]
      const counts = records.filter((r) => r.deviceId !== 'probe').map((r) => [r.deviceId, r.received, r.lost])
      assert.deepEqual(counts.sort(), [['sensor-1', 2, 1], ['sensor-2', 1, 0]])
      gs.disconnect('my-gateway')
      helper.getNode('ex4-inject-poll').receive({})
      await waitFor(() => gateway.some((m) => m.event === 'gateway/offline'), 3000, 'gateway/offline')
      assert.deepEqual(problems, [])
    } finally {
      await helper.unload()
      await gs.stop()
    }
  })
})

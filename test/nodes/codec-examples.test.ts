/**
 * Examples 05 and 06 (local decoding and encoding) in the real runtime against the simulated The
 * Things Stack: they do what their comments say. Debug nodes become helper nodes with the same IDs.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { V3DownlinkRequest } from '../../src/sdk/messages'
import { TtsBroker } from '../../src/simulator'
import { climateProSensor, lppSensor } from '../../src/simulator/codec-devices'
import { FIXTURE_DIR } from '../fixtures'
import { catchNode, collect, commentNode, helper, injectNode, ttnNodes } from '../support/node-red'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.CODECEXAMPLES.TESTKEY'
const EXAMPLES = join(__dirname, '..', '..', '..', 'examples')
type FlowNode = Record<string, unknown> & { id: string; type: string }

function loadExample(file: string, port: number): FlowNode[] {
  const flow = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as FlowNode[]
  const tab: FlowNode = { id: 'example-tab', type: 'tab', label: file }
  return [
    tab,
    ...flow.map((n): FlowNode => {
      if (n.type === 'ttn-app') return { ...n, server: `127.0.0.1:${port}`, tls: false, tenant: 'ttn', codecRepo: join(FIXTURE_DIR, 'device-repository') }
      if (n.type === 'debug') return { id: n.id, type: 'helper', z: tab.id }
      return { ...n, z: tab.id }
    }),
  ]
}

describe('examples 05 and 06: local codecs do what their comments say', () => {
  let broker: TtsBroker
  const modules = [ttnNodes, injectNode, catchNode, commentNode]
  before(() => helper.startServer())
  after(() => helper.stopServer())
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'my-app', tenant: 'ttn', apiKey: KEY }], autoDeliver: { sentAfterMs: 30, ackAfterMs: 30 } })
  })
  afterEach(async () => {
    await helper.unload()
    await broker.stop()
  })

  it('05 Decode uplinks locally: Device Repository by version, JavaScript in the node, Cayenne LPP; errors at Catch', async () => {
    await helper.load(modules, loadExample('05 Decode uplinks locally.json', broker.port), { 'ex-ttn-app': { apiKey: KEY } })
    const repository = collect(helper.getNode('ex5-debug-repository'))
    const javascript = collect(helper.getNode('ex5-debug-javascript'))
    const lpp = collect(helper.getNode('ex5-debug-lpp'))
    const errors = collect(helper.getNode('ex5-debug-errors'))
    await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes('v3/my-app@ttn/devices/+/up')), 5000, 'subscribed')

    const climate = climateProSensor('climate-pro-1')
    const reading = climate.read(() => 0.5)
    await broker.publishUplink('my-app@ttn', 'climate-pro-1', { frm_payload: reading.bytes.toString('base64'), f_port: 1, version_ids: climate.versionIds })
    await broker.publishUplink('my-app@ttn', 'my-device', { frm_payload: 'AQI=', f_port: 1, decoded_payload: { fromServer: true } })
    await waitFor(() => repository.length === 2)
    const byDevice = Object.fromEntries(repository.map((m) => [m.deviceId, m]))
    assert.deepEqual(byDevice['climate-pro-1'].payload, reading.decoded)
    assert.equal(byDevice['climate-pro-1'].decodedBy, 'local')
    assert.deepEqual([byDevice['my-device'].payload, byDevice['my-device'].decodedBy], [{ fromServer: true }, 'server'])

    await broker.publishUplink('my-app@ttn', 'other-device', { frm_payload: Buffer.from([0x07, 0x1c, 12]).toString('base64'), f_port: 2 })
    await waitFor(() => javascript.length === 1)
    assert.deepEqual(javascript[0].payload, { temperature: 18.2, battery: 12 })
    assert.deepEqual((javascript[0].codec as { warnings: string[] }).warnings, ['battery low'])

    const lppReading = lppSensor('lpp-sensor').read(() => 0.5)
    await broker.publishUplink('my-app@ttn', 'lpp-sensor', { frm_payload: lppReading.bytes.toString('base64'), f_port: 1 })
    await waitFor(() => lpp.length === 1)
    assert.deepEqual(lpp[0].payload, lppReading.decoded)

    await broker.publishUplink('my-app@ttn', 'other-device', { frm_payload: Buffer.from([1, 2]).toString('base64'), f_port: 2 })
    await waitFor(() => errors.some((m) => m.deviceId === 'other-device' && (m.codec as { errors: string[] }).errors[0] === 'expected 3 bytes, got 2'))
  })

  it('06 Encode downlinks locally: the JavaScript encoder and Cayenne LPP send bytes; a refused value sends nothing', async () => {
    await helper.load(modules, loadExample('06 Encode downlinks locally.json', broker.port), { 'ex-ttn-app': { apiKey: KEY } })
    const outcomes = collect(helper.getNode('ex6-debug-outcome'))
    const errors = collect(helper.getNode('ex6-debug-errors'))
    await waitFor(() => broker.connectionCount('my-app@ttn') === 1, 5000, 'connected')
    const sent = (i: number) => (broker.downlinks[i].body as V3DownlinkRequest).downlinks[0]

    helper.getNode('ex6-inject-open').receive({})
    await waitFor(() => broker.downlinks.length === 1)
    assert.deepEqual([sent(0).frm_payload, sent(0).f_port], [Buffer.from([1, 10]).toString('base64'), 5])

    helper.getNode('ex6-inject-ajar').receive({})
    await waitFor(() => errors.length === 1)
    assert.deepEqual((errors[0].codec as { errors: string[] }).errors, ['valve must be "open" or "closed"'])

    helper.getNode('ex6-inject-lpp').receive({})
    await waitFor(() => broker.downlinks.length === 2)
    assert.deepEqual([sent(1).frm_payload, sent(1).f_port], [Buffer.from([1, 0x08, 0x66]).toString('base64'), 2])
    await waitFor(() => outcomes.some((m) => (m.downlink as { status: string }).status === 'sent'))
    await delay(50)
    assert.equal(broker.downlinks.length, 2, 'the refused downlink was not published')
  })
})

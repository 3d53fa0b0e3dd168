/**
 * Example 07 in the real runtime, against the MQTT simulator and the HTTP API stand-in: uplinks carry
 * msg.device from the registry (not the first one of a device), and the function node describes them.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { HttpApiStandIn, TtsBroker } from '../../src/simulator'
import { collect, commentNode, functionNode, helper, ttnNodes } from '../support/node-red'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.EXAMPLESEVEN.TESTKEY'
const FILE = join(__dirname, '..', '..', '..', 'examples', '07 Device details and the device list.json')

type FlowNode = Record<string, unknown> & { id: string; type: string }

describe('example 07: device details and the device list', () => {
  let broker: TtsBroker
  let api: HttpApiStandIn
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'my-app', tenant: 'ttn', apiKey: KEY }] })
    api = await HttpApiStandIn.start({
      applications: [{ appId: 'my-app', devices: [{ deviceId: 'my-device', name: 'Kitchen sensor', attributes: { room: 'kitchen' } }] }],
      keys: [{ key: KEY, appId: 'my-app', rights: ['RIGHT_APPLICATION_TRAFFIC_READ', 'RIGHT_APPLICATION_DEVICES_READ'] }],
      broker,
    })
  })
  afterEach(async () => {
    await helper.unload()
    await api.stop()
    await broker.stop()
  })

  it('describes each uplink with the device name and room; the first uplink of a device goes without', async () => {
    const flow = JSON.parse(readFileSync(FILE, 'utf8')) as FlowNode[]
    const tab: FlowNode = { id: 'example-tab', type: 'tab', label: '07' }
    const nodes = flow.map((n): FlowNode => {
      if (n.type === 'ttn-app') return { ...n, server: `127.0.0.1:${broker.port}`, tls: false, tenant: 'ttn', apiUrl: api.url }
      if (n.type === 'debug') return { id: n.id, type: 'helper', z: tab.id }
      return { ...n, z: tab.id }
    })
    await helper.load([ttnNodes, functionNode, commentNode], [tab, ...nodes], { 'ex-ttn-app': { apiKey: KEY } })
    const lines = collect(helper.getNode('ex7-debug-line'))
    const devices = collect(helper.getNode('ex7-debug-device'))
    await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes('v3/my-app@ttn/devices/+/up')))
    await broker.publishUplink('my-app@ttn', 'my-device', { decoded_payload: { temperature: 21.8 } })
    await waitFor(() => lines.length === 1)
    assert.equal(lines[0].payload, 'my-device (details not loaded yet): {"temperature":21.8}')
    await waitFor(() => api.requests.some((r) => r.path === '/api/v3/applications/my-app/devices/my-device' && r.status === 200))
    await delay(100) // the answer travels back to the cache
    await broker.publishUplink('my-app@ttn', 'my-device', { decoded_payload: { temperature: 21.9 } })
    await waitFor(() => lines.length === 2)
    assert.equal(lines[1].payload, 'Kitchen sensor (room kitchen): {"temperature":21.9}')
    assert.deepEqual(devices[1].device, { name: 'Kitchen sensor', attributes: { room: 'kitchen' } })
  })
})

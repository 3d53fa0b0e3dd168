/**
 * The Node-RED nodes in the real runtime (node-red-node-test-helper) against Mosquitto with The
 * Things Stack's users and ACL: uplinks become flow messages, msg.payload becomes a downlink on the
 * device's topic, and the core tls-config node's CA verifies the broker.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import type { TtnAppNode } from '../../src/nodes/ttn-app'
import { fixture } from '../fixtures'
import { type TestPki, makeTestPki } from '../support/certs'
import { Mosquitto, answerDownlinksQueued, rawClient, subscribeRaw } from '../support/mosquitto'
import { collect, helper, ttnNodes } from '../support/node-red'
import { waitFor } from '../support/wait'

const tlsConfigNode: unknown = require(join(__dirname, '..', '..', '..', 'node_modules', '@node-red', 'nodes', 'core', 'network', '05-tls.js'))

const KEY = 'NNSXS.MOSQNODES.SECRET'

/** The MQTT client ID of a ttn-app config node's connection, to find its subscriptions in the broker's log. */
function clientIdOf(configNodeId: string): string {
  const client = (helper.getNode(configNodeId) as unknown as TtnAppNode).client
  assert.ok(client, `config node ${configNodeId} has a client`)
  return client.clientId
}
const SERVER = { username: 'tts-server', password: 'server-secret', readwrite: ['v3/#'] }

describe('Node-RED nodes against Mosquitto', function () {
  this.timeout(20_000)
  let pki: TestPki
  let broker: Mosquitto
  let server: MqttClient

  before(async () => {
    pki = makeTestPki()
    broker = await Mosquitto.start({ users: [{ username: 'app1@ttn', password: KEY }, SERVER], pki })
    await helper.startServer()
  })
  after(async () => {
    await helper.stopServer()
    await broker?.stop()
    pki?.remove()
  })
  beforeEach(async () => {
    server = await rawClient(broker.port, SERVER.username, SERVER.password)
  })
  afterEach(async () => {
    await helper.unload()
    await server?.endAsync(true)
  })

  const app = (extra: object = {}) => ({ id: 'app', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3', ...extra })

  it('uplink → flow: one message per uplink with the decoded payload, device, port, counter and topic', async () => {
    const flow = [app(), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [['out']] }, { id: 'dev', type: 'ttn-uplink', app: 'app', deviceId: 'dev-b', wires: [['outB']] }, { id: 'out', type: 'helper' }, { id: 'outB', type: 'helper' }]
    await helper.load(ttnNodes, flow, { app: { apiKey: KEY } })
    const msgs = collect(helper.getNode('out'))
    const devB = collect(helper.getNode('outB'))
    await broker.waitForSubscriptions('v3/app1@ttn/devices/+/up', clientIdOf('app'))

    const up = fixture<Record<string, Record<string, unknown>>>('tts-v3/up.json')
    for (const [device, fCnt] of [['dev-a', 1], ['dev-b', 2]] as const) {
      up.end_device_ids.device_id = device
      up.uplink_message.f_cnt = fCnt
      up.uplink_message.f_port = 5
      await server.publishAsync(`v3/app1@ttn/devices/${device}/up`, JSON.stringify(up))
    }
    await waitFor(() => msgs.length === 2 && devB.length === 1, 5000, 'uplinks in the flow')

    assert.deepEqual(
      msgs.map((m) => [m.deviceId, m.counter, m.topic]),
      [
        ['dev-a', 1, 'v3/app1@ttn/devices/dev-a/up'],
        ['dev-b', 2, 'v3/app1@ttn/devices/dev-b/up'],
      ],
    )
    assert.deepEqual(msgs[0].payload, (fixture('tts-v3/up.json') as { uplink_message: { decoded_payload: unknown } }).uplink_message.decoded_payload)
    assert.equal(msgs[0].port, 5)
    assert.equal(devB[0].deviceId, 'dev-b')
  })

  it('downlink → topic: msg.payload lands on the device topic as the exact JSON; the outcome comes back on the output', async () => {
    const observer = await rawClient(broker.port, SERVER.username, SERVER.password)
    try {
      await subscribeRaw(observer, 'v3/app1@ttn/devices/+/down/+')
      const requests = answerDownlinksQueued(observer)
      const flow = [app(), { id: 'down', type: 'ttn-downlink', app: 'app', deviceId: 'dev-a', port: 7, confirmed: true, schedule: 'last', priority: 'HIGH', wires: [['outcome']] }, { id: 'outcome', type: 'helper' }]
      await helper.load(ttnNodes, flow, { app: { apiKey: KEY } })
      const outcomes = collect(helper.getNode('outcome'))
      await broker.waitForSubscriptions('v3/app1@ttn/devices/+/down/queued', clientIdOf('app'))

      helper.getNode('down').receive({ payload: Buffer.from([0xca, 0xfe]) })
      await waitFor(() => outcomes.length === 1, 5000, 'the queued outcome')
      assert.equal(requests.length, 1)
      const correlationId = (outcomes[0].downlink as { correlationId: string }).correlationId
      assert.deepEqual(requests[0], {
        topic: 'v3/app1@ttn/devices/dev-a/down/push',
        body: { downlinks: [{ f_port: 7, frm_payload: 'yv4=', confirmed: true, priority: 'HIGH', correlation_ids: [correlationId] }] },
      })
      assert.equal((outcomes[0].downlink as { status: string }).status, 'queued')
    } finally {
      await observer.endAsync(true)
    }
  })

  it('over TLS: the tls-config node supplies the generated CA and the broker is verified', async () => {
    const flow = [
      { id: 'tlscfg', type: 'tls-config', cert: '', key: '', ca: pki.caPath, verifyservercert: true },
      app({ server: `localhost:${broker.tlsPort}`, tls: true, tlsConfig: 'tlscfg' }),
      { id: 'up', type: 'ttn-uplink', app: 'app', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]
    await helper.load([ttnNodes, tlsConfigNode], flow, { app: { apiKey: KEY } })
    const msgs = collect(helper.getNode('out'))
    await broker.waitForSubscriptions('v3/app1@ttn/devices/+/up', clientIdOf('app'))
    await server.publishAsync('v3/app1@ttn/devices/dev-a/up', JSON.stringify({ uplink_message: { f_port: 3, frm_payload: 'AQI=' } }))
    await waitFor(() => msgs.length === 1, 5000, 'an uplink over TLS')
    assert.deepEqual(msgs[0].payload, Buffer.from([1, 2]))
  })
})

/**
 * ApiClient and MQTTClient.listQueue/clearQueue against the HTTP API stand-in, which shares its downlink
 * queues with the MQTT simulator and serves the Storage Integration stand-in on its own port.
 */
import assert from 'node:assert/strict'
import { MQTTClient, ValidationError } from '../../../src'
import { ApiClient, ApiError } from '../../../src/sdk/api'
import { HttpApiStandIn, type SimDevice, StorageStandIn, TtsBroker } from '../../../src/simulator'
import { waitFor } from '../../support/wait'

const KEY = 'NNSXS.FULL.SECRET'
const TRAFFIC_ONLY = 'NNSXS.TRAFFIC.SECRET'
const OTHER_APP = 'NNSXS.OTHER.SECRET'

const devices: SimDevice[] = [
  {
    deviceId: 'front-door',
    name: 'Front door',
    description: 'Reed contact',
    attributes: { room: 'hall' },
    locations: { user: { latitude: 52.1, longitude: 4.3, altitude: 5, source: 'SOURCE_REGISTRY' } },
    versionIds: { brand_id: 'sim', model_id: 'door' },
    lastSeenAt: '2026-11-30T10:00:00Z',
  },
  { deviceId: 'my-device', name: 'Kitchen sensor', lastSeenAt: '2026-11-30T12:00:00Z' },
  ...Array.from({ length: 23 }, (_, i) => ({ deviceId: `sensor-${String(i).padStart(2, '0')}`, name: `Field sensor ${i}` })),
]

describe('ApiClient (src/sdk/api/client.ts) against the HTTP API stand-in', () => {
  let broker: TtsBroker
  let storage: StorageStandIn
  let api: HttpApiStandIn
  const clients: MQTTClient[] = []

  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
    storage = await StorageStandIn.start({ applications: [{ appId: 'app1', apiKey: KEY }], broker })
    api = await HttpApiStandIn.start({
      applications: [{ appId: 'app1', devices }, { appId: 'app2' }],
      keys: [
        { key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_ALL'], name: 'node-red' },
        { key: TRAFFIC_ONLY, appId: 'app1', rights: ['RIGHT_APPLICATION_TRAFFIC_READ', 'RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE'] },
        { key: OTHER_APP, appId: 'app2', rights: ['RIGHT_APPLICATION_ALL'], expiresAt: '2099-01-01T00:00:00Z' },
      ],
      broker,
      storage,
    })
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await api.stop()
    await storage.stop()
    await broker.stop()
  })
  const client = (apiKey = KEY) => new ApiClient({ appId: 'app1', apiKey, apiUrl: api.url })

  it('authInfo: whose key, its rights (expanded) and expiry; the secret is never in it', async () => {
    const info = await client(OTHER_APP).authInfo()
    assert.deepEqual(info.api_key?.entity_ids, { application_ids: { application_id: 'app2' } })
    assert.equal(info.api_key?.api_key?.expires_at, '2099-01-01T00:00:00Z')
    assert.ok(info.api_key?.api_key?.rights?.includes('RIGHT_APPLICATION_DEVICES_READ'))
    assert.ok(!JSON.stringify(info).includes('SECRET'))
  })

  it('applicationRights: the key rights there, empty for another application', async () => {
    assert.deepEqual(await client(TRAFFIC_ONLY).applicationRights(), ['RIGHT_APPLICATION_TRAFFIC_READ', 'RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE'])
    assert.deepEqual(await client(OTHER_APP).applicationRights('app1'), [])
  })

  it('listDevices: pages with limit and page, the total from X-Total-Count, only the masked fields', async () => {
    const c = client()
    const first = await c.listDevices('app1', { fieldMask: ['name', 'last_seen_at'], limit: 10, page: 1 })
    assert.equal(first.total, 25)
    assert.equal(first.devices.length, 10)
    assert.equal(first.devices[0].ids.device_id, 'front-door')
    assert.equal(first.devices[0].name, 'Front door')
    assert.equal(first.devices[0].description, undefined, 'not in the field mask')
    const third = await c.listDevices('app1', { limit: 10, page: 3 })
    assert.equal(third.devices.length, 5)
    assert.equal(third.total, 25)
    const beyond = await c.listDevices('app1', { limit: 10, page: 4 })
    assert.deepEqual(beyond, { devices: [], total: 25 })
    const recent = await c.listDevices('app1', { fieldMask: ['last_seen_at'], order: '-last_seen_at', limit: 2 })
    assert.deepEqual(recent.devices.map((d) => d.ids.device_id), ['my-device', 'front-door'])
  })

  it('listDevices with search: server-side, in the ID and the name, with its own total', async () => {
    const c = client()
    const byName = await c.listDevices('app1', { search: 'kitchen', fieldMask: ['name'] })
    assert.deepEqual(byName.devices.map((d) => d.ids.device_id), ['my-device'])
    assert.equal(byName.total, 1)
    const byId = await c.listDevices('app1', { search: 'sensor-1', limit: 5 })
    assert.equal(byId.total, 10)
    assert.equal(byId.devices.length, 5)
    assert.ok(api.requests.some((r) => r.path === '/api/v3/search/applications/app1/devices' && r.query.query === 'sensor-1'))
  })

  it('listDevices refuses a limit the server would refuse', async () => {
    await assert.rejects(client().listDevices('app1', { limit: 5000 }), /limit must be an integer from 1 to 1000, got 5000/)
  })

  it('getDevice: name, description, attributes, locations, version_ids', async () => {
    const d = await client().getDevice('app1', 'front-door', ['name', 'description', 'attributes', 'locations', 'version_ids'])
    assert.equal(d.name, 'Front door')
    assert.equal(d.description, 'Reed contact')
    assert.deepEqual(d.attributes, { room: 'hall' })
    assert.equal(d.locations?.user.latitude, 52.1)
    assert.deepEqual(d.version_ids, { brand_id: 'sim', model_id: 'door' })
  })

  it('getDevice of an unknown device: 404 naming the device and application', async () => {
    await assert.rejects(client().getDevice('app1', 'nope', ['name']), (err: unknown) => {
      assert.ok(err instanceof ApiError)
      assert.equal(err.status, 404)
      assert.match(err.message, /^No device nope in application app1 \(HTTP 404\)/)
      return true
    })
  })

  it('a key without the devices right: 403 with the right by name', async () => {
    await assert.rejects(client(TRAFFIC_ONLY).listDevices('app1'), (err: unknown) => {
      assert.ok(err instanceof ApiError)
      assert.equal(err.missingRight, 'RIGHT_APPLICATION_DEVICES_READ')
      assert.match(err.message, /View devices in application/)
      return true
    })
  })

  it('listQueue / replaceQueue: the queue the MQTT side filled, replaced and cleared over HTTP', async () => {
    const mqtt = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, { tenant: 'ttn', apiUrl: api.url })
    clients.push(mqtt)
    await mqtt.connect()
    await (await mqtt.send('front-door', [1, 2, 3], 5, false, 'push')).wait('queued')
    const c = client(TRAFFIC_ONLY)
    const queue = await c.listQueue('app1', 'front-door')
    assert.equal(queue.length, 1)
    assert.equal(queue[0].f_port, 5)
    assert.equal(queue[0].frm_payload, 'AQID')
    await c.replaceQueue('app1', 'front-door', [{ f_port: 7, frm_payload: 'qg==' }, { f_port: 8, frm_payload: 'uw==' }])
    assert.deepEqual((await c.listQueue('app1', 'front-door')).map((d) => d.f_port), [7, 8])
    await c.pushQueue('app1', 'front-door', [{ f_port: 9, frm_payload: 'zA==' }])
    assert.deepEqual(broker.downlinkQueue('app1@ttn', 'front-door').map((d) => d.f_port), [7, 8, 9])
    // The MQTT client's own methods go through the same API, with its key.
    assert.equal((await mqtt.listQueue('front-door')).length, 3)
    await mqtt.clearQueue('front-door')
    assert.deepEqual(await mqtt.listQueue('front-door'), [])
    assert.deepEqual(broker.downlinkQueue('app1@ttn', 'front-door'), [])
  })

  it('replaceQueue with a downlink the server refuses: the error answers the request, the queue stays', async () => {
    const c = client()
    await c.replaceQueue('app1', 'my-device', [{ f_port: 1, frm_payload: 'AQ==' }])
    await assert.rejects(c.replaceQueue('app1', 'my-device', [{ f_port: 1, frm_payload: Buffer.alloc(60).toString('base64') }]), (err: unknown) => {
      assert.ok(err instanceof ApiError)
      assert.equal(err.status, 400)
      assert.equal(err.code, 'application_downlink_too_long')
      return true
    })
    assert.equal((await c.listQueue('app1', 'my-device')).length, 1)
  })

  it('MQTTClient.listQueue validates the device ID before any request', async () => {
    const mqtt = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, { tenant: 'ttn', apiUrl: api.url, autoConnect: false })
    clients.push(mqtt)
    const before = api.requests.length
    await assert.rejects(mqtt.listQueue('Bad_ID'), (err: unknown) => err instanceof ValidationError && /upper-case letters are not allowed/.test(err.message))
    assert.equal(api.requests.length, before)
  })

  it('storageIntegrationStatus: enabled, then off with what to do', async () => {
    const c = client()
    assert.deepEqual(await c.storageIntegrationStatus(), { enabled: true })
    storage.setEnabled('app1', false)
    const off = await c.storageIntegrationStatus()
    assert.equal(off.enabled, false)
    assert.match(off.message ?? '', /not enabled for app1 .*Integrations → Storage Integration/)
  })

  it('storageIntegrationStatus with a key of another application: the 403 is thrown, not taken for "off"', async () => {
    await assert.rejects(client(OTHER_APP).storageIntegrationStatus('app1'), (err: unknown) => err instanceof ApiError && err.status === 403)
  })

  it('a device change shows on the next read', async () => {
    api.updateDevice('app1', 'my-device', { name: 'Pantry sensor' })
    await waitFor(() => true)
    assert.equal((await client().getDevice('app1', 'my-device', ['name'])).name, 'Pantry sensor')
  })
})

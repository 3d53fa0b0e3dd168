/**
 * The HTTP API side of the nodes in the real Node-RED runtime (node-red-node-test-helper): the admin
 * endpoints POST /ttn-app/check and GET /ttn-app/:id/devices (through helper.request(), i.e. supertest on
 * the admin app), the background diagnosis of refusals and silent keys on the config node's status and
 * log, and ttn-uplink's *Add device details* with its cache and change events.
 */
import assert from 'node:assert/strict'
import { clientArguments } from '../../src/nodes/ttn-app'
import { HttpApiStandIn, TtsBroker } from '../../src/simulator'
import { collect, helper, record, ttnNodes } from '../support/node-red'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.ADMINTEST.SECRETKEY'
const TRAFFIC = 'NNSXS.TRAFFICONLY.SECRETKEY'
const OTHER = 'NNSXS.OTHERAPP.SECRETKEY'
const DEVICES_ONLY = 'NNSXS.NOTRAFFIC.SECRETKEY'

// supertest, as the helper returns it
interface Req {
  send(body: unknown): Req
  expect(status: number): Promise<{ body: Record<string, unknown> }>
}
const request = () => (helper as unknown as { request(): { get(p: string): Req; post(p: string): Req } }).request()

describe('HTTP API in the Node-RED runtime', () => {
  let broker: TtsBroker
  let api: HttpApiStandIn
  before(() => helper.startServer())
  after(() => helper.stopServer())
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }, { appId: 'app2', tenant: 'ttn', apiKey: OTHER }] })
    api = await HttpApiStandIn.start({
      applications: [
        {
          appId: 'app1',
          devices: [
            { deviceId: 'front-door', name: 'Front door', description: 'Reed contact', attributes: { room: 'hall' }, locations: { user: { latitude: 52.1, longitude: 4.3 } }, versionIds: { brand_id: 'sim', model_id: 'door' }, lastSeenAt: '2026-11-30T10:00:00Z' },
            { deviceId: 'my-device', name: 'Kitchen sensor' },
            ...Array.from({ length: 30 }, (_, i) => ({ deviceId: `sensor-${String(i).padStart(2, '0')}`, name: `Field ${i}` })),
          ],
        },
        { appId: 'app2' },
      ],
      keys: [
        { key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_ALL'] },
        { key: TRAFFIC, appId: 'app1', rights: ['RIGHT_APPLICATION_TRAFFIC_READ', 'RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE'] },
        { key: OTHER, appId: 'app2', rights: ['RIGHT_APPLICATION_ALL'] },
        { key: DEVICES_ONLY, appId: 'app1', rights: ['RIGHT_APPLICATION_DEVICES_READ'] },
      ],
      broker,
    })
  })
  afterEach(async () => {
    await helper.unload()
    await api.stop()
    await broker.stop()
  })
  const app = (extra: object = {}) => ({ id: 'app', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3', apiUrl: api.url, ...extra })
  const creds = (apiKey = KEY) => ({ app: { apiKey } })
  const dialog = (extra: object = {}) => ({ appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3', apiUrl: api.url, ...extra })

  it('ttn-app apiUrl: handed to the SDK, and the Storage API when recoverUrl is empty', () => {
    const a = clientArguments({ server: 'nam1.cloud.thethings.network', apiUrl: ' https://api.example.com ', recover: true, recoverUrl: '' }, undefined).options
    assert.equal(a.apiUrl, 'https://api.example.com')
    assert.equal(a.recover?.baseUrl, 'https://api.example.com')
    const b = clientArguments({ server: 'x.example', apiUrl: 'https://api.example.com', recover: true, recoverUrl: 'https://storage.example.com' }, undefined).options
    assert.equal(b.recover?.baseUrl, 'https://storage.example.com')
    assert.equal(clientArguments({ server: 'x.example', apiUrl: '' }, undefined).options.apiUrl, undefined)
  })

  describe('POST /ttn-app/check', () => {
    it('checks the dialog values with the stored key of the deployed node, which never comes back', async () => {
      await helper.load(ttnNodes, [app(), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] }], creds())
      const res = await request().post('/ttn-app/check').send(dialog({ id: 'app', apiKey: '__PWRD__' })).expect(200)
      const steps = res.body.steps as Array<{ name: string; ok: boolean; message: string }>
      assert.equal(res.body.ok, true, JSON.stringify(steps, null, 1))
      assert.deepEqual(steps.map((s) => s.name), ['dns', 'tcp', 'tls', 'mqtt', 'key', 'rights', 'cluster', 'username'])
      assert.ok(!JSON.stringify(res.body).includes('SECRETKEY'))
    })

    it('works before deploy with the key typed in the dialog, and says what is wrong with it', async () => {
      await helper.load(ttnNodes, [], {})
      const res = await request().post('/ttn-app/check').send(dialog({ apiKey: OTHER, needs: { readTraffic: true } })).expect(200)
      assert.equal(res.body.ok, false)
      const steps = res.body.steps as Array<{ name: string; ok: boolean; message: string }>
      assert.match(steps.find((s) => s.name === 'key')?.message ?? '', /belongs to application app2, not app1/)
      assert.ok(!JSON.stringify(res.body).includes('SECRETKEY'))
    })

    it('counts what the deployed nodes need when the editor does not say', async () => {
      await helper.load(ttnNodes, [app(), { id: 'down', type: 'ttn-downlink', app: 'app', deviceId: 'my-device', port: 1, wires: [[]] }], creds(DEVICES_ONLY))
      const res = await request().post('/ttn-app/check').send(dialog({ id: 'app' })).expect(200)
      const rights = (res.body.steps as Array<{ name: string; message: string }>).find((s) => s.name === 'rights')
      assert.match(rights?.message ?? '', /"Write downlink application traffic" \(for sending downlinks\)/)
    })

    it('an address that cannot be parsed: one failing step with the reason', async () => {
      await helper.load(ttnNodes, [], {})
      const res = await request().post('/ttn-app/check').send(dialog({ server: 'host:99999', apiKey: KEY })).expect(200)
      assert.equal(res.body.ok, false)
      assert.match(JSON.stringify(res.body.steps), /Invalid port/)
    })
  })

  describe('GET /ttn-app/:id/devices', () => {
    it('lists a page of devices with name and last seen, and the total; searches on the server', async () => {
      await helper.load(ttnNodes, [app()], creds())
      const page = await request().get('/ttn-app/app/devices?limit=10').expect(200)
      assert.equal(page.body.total, 32)
      const list = page.body.devices as Array<{ id: string; name: string; lastSeen: string | null }>
      assert.equal(list.length, 10)
      assert.deepEqual(list[0], { id: 'front-door', name: 'Front door', lastSeen: '2026-11-30T10:00:00Z' })
      assert.deepEqual(list[1], { id: 'my-device', name: 'Kitchen sensor', lastSeen: null })
      const found = await request().get('/ttn-app/app/devices?search=kitchen').expect(200)
      assert.deepEqual(found.body, { devices: [{ id: 'my-device', name: 'Kitchen sensor', lastSeen: null }], total: 1 })
      assert.ok(api.requests.some((r) => r.path === '/api/v3/search/applications/app1/devices' && r.query.query === 'kitchen'))
    })

    it('says why the list is empty, as a normal answer: not deployed, key without the devices right, server offline', async () => {
      await helper.load(ttnNodes, [app()], creds(TRAFFIC))
      const missing = await request().get('/ttn-app/nope/devices').expect(200)
      assert.deepEqual(missing.body, { devices: [], total: 0, reason: 'not-deployed', message: 'ttnApi.devices.notDeployed' })
      const rights = await request().get('/ttn-app/app/devices').expect(200)
      assert.equal(rights.body.reason, 'rights')
      assert.match(String(rights.body.detail), /View devices in application/)
      assert.deepEqual(rights.body.devices, [])
      await api.stop()
      const offline = await request().get('/ttn-app/app/devices').expect(200)
      assert.equal(offline.body.reason, 'offline')
      assert.ok(!JSON.stringify([missing.body, rights.body, offline.body]).includes('SECRETKEY'))
    })
  })

  describe('background diagnosis', () => {
    it('after CONNACK 5 names the cause on the status and in the log: the key belongs to another application', async () => {
      await helper.load(ttnNodes, [app(), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] }], creds(OTHER))
      const up = helper.getNode('up')
      const statuses = record(up, 'status')
      const cfg = helper.getNode('app')
      const errors = record(cfg, 'error')
      await waitFor(() => statuses.some((s) => String((s[0] as { text?: string }).text).includes('the key belongs to application app2')), 8000, 'the precise status')
      assert.deepEqual(statuses.find((s) => String((s[0] as { text?: string }).text).includes('app2'))?.[0], {
        fill: 'red',
        shape: 'ring',
        text: 'ttnApi.status.notAuthorizedBecause: the key belongs to application app2',
      })
      await waitFor(() => errors.some((e) => String(e[0]).includes('belongs to application app2, not app1')), 3000, 'the cause in the log')
      const logged = helper._logSpy?.getCalls().map((c) => JSON.stringify(c.args)) ?? []
      assert.equal(logged.some((l) => l.includes('SECRETKEY')), false, 'no key material in the log')
      const diagnoses = api.requests.filter((r) => r.path === '/api/v3/auth_info').length
      await delay(1500)
      assert.equal(api.requests.filter((r) => r.path === '/api/v3/auth_info').length, diagnoses, 'the check runs once, not once per attempt')
    })

    it('a connection that is up but whose key lacks traffic rights: "connected, but the key lacks Read application traffic"', async () => {
      broker.setApiKey('app1', DEVICES_ONLY)
      await helper.load(ttnNodes, [app(), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] }], creds(DEVICES_ONLY))
      const up = helper.getNode('up')
      const statuses = record(up, 'status')
      const cfg = helper.getNode('app')
      const warnings = record(cfg, 'warn')
      await waitFor(() => statuses.some((s) => (s[0] as { text?: string }).text === 'ttnApi.status.connectedBut the key lacks Read application traffic'), 8000, 'the precise status')
      assert.equal((statuses[statuses.length - 1][0] as { fill?: string }).fill, 'yellow')
      assert.ok(warnings.some((w) => /lacks "Read application traffic \(uplink and downlink\)" \(for receiving uplinks and events\)/.test(String(w[0]))))
    })

    it('an API that cannot be reached leaves the status as it is', async () => {
      await helper.load(ttnNodes, [app({ apiUrl: 'http://127.0.0.1:1' }), { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] }], creds())
      const up = helper.getNode('up')
      await waitFor(() => broker.connectionCount('app1@ttn') === 1)
      const statuses = record(up, 'status')
      await delay(500)
      assert.deepEqual(statuses, [])
    })
  })

  describe('ttn-uplink: Add device details', () => {
    async function load(extra: object = {}) {
      await helper.load(ttnNodes, [app(extra), { id: 'up', type: 'ttn-uplink', app: 'app', details: true, wires: [['out']] }, { id: 'out', type: 'helper' }], creds())
      const msgs = collect(helper.getNode('out'))
      await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes('v3/app1@ttn/devices/+/up')))
      await waitFor(() => api.eventStreams === 1, 5000, 'the change watch')
      return msgs
    }

    it('adds msg.device from the registry; the first uplink of an unknown device goes without, never waiting', async () => {
      const msgs = await load()
      await broker.publishUplink('app1@ttn', 'front-door', { frm_payload: 'AQ==', f_port: 1 })
      await waitFor(() => msgs.length === 1)
      assert.equal(msgs[0].device, undefined, 'not known yet: not held back')
      await waitFor(() => api.requests.some((r) => r.path === '/api/v3/applications/app1/devices/front-door'))
      await delay(100)
      await broker.publishUplink('app1@ttn', 'front-door', { frm_payload: 'Ag==', f_port: 1 })
      await waitFor(() => msgs.length === 2)
      assert.deepEqual(msgs[1].device, {
        name: 'Front door',
        description: 'Reed contact',
        attributes: { room: 'hall' },
        locations: { user: { latitude: 52.1, longitude: 4.3 } },
        version_ids: { brand_id: 'sim', model_id: 'door' },
      })
    })

    it('fetches each device once per refresh, however many uplinks, and again at once when the device changed', async () => {
      const msgs = await load()
      const gets = () => api.requests.filter((r) => r.path === '/api/v3/applications/app1/devices/my-device').length
      for (let i = 0; i < 5; i++) await broker.publishUplink('app1@ttn', 'my-device', { frm_payload: 'AQ==', f_port: 1 })
      await waitFor(() => msgs.length === 5)
      await delay(100)
      for (let i = 0; i < 5; i++) await broker.publishUplink('app1@ttn', 'my-device', { frm_payload: 'AQ==', f_port: 1 })
      await waitFor(() => msgs.length === 10)
      assert.equal(gets(), 1)
      assert.equal((msgs[9].device as { name: string }).name, 'Kitchen sensor')
      api.updateDevice('app1', 'my-device', { name: 'Pantry sensor' })
      await waitFor(() => gets() === 2, 5000, 'a fetch after end_device.update')
      await delay(100)
      await broker.publishUplink('app1@ttn', 'my-device', { frm_payload: 'AQ==', f_port: 1 })
      await waitFor(() => msgs.length === 11)
      assert.equal((msgs[10].device as { name: string }).name, 'Pantry sensor')
    })

    it('a change to msg.device in a flow does not reach the next uplink', async () => {
      const msgs = await load()
      await broker.publishUplink('app1@ttn', 'my-device', { frm_payload: 'AQ==', f_port: 1 })
      await waitFor(() => api.requests.some((r) => r.path === '/api/v3/applications/app1/devices/my-device'))
      await delay(100)
      await broker.publishUplink('app1@ttn', 'my-device', { frm_payload: 'AQ==', f_port: 1 })
      await waitFor(() => msgs.length === 2)
      ;(msgs[1].device as { name: string }).name = 'changed by a flow'
      await broker.publishUplink('app1@ttn', 'my-device', { frm_payload: 'AQ==', f_port: 1 })
      await waitFor(() => msgs.length === 3)
      assert.equal((msgs[2].device as { name: string }).name, 'Kitchen sensor')
    })

    it('a key without the devices right: uplinks still flow, one warning says why msg.device is missing', async () => {
      api.addKey({ key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_TRAFFIC_READ'] })
      await helper.load(ttnNodes, [app(), { id: 'up', type: 'ttn-uplink', app: 'app', details: true, wires: [['out']] }, { id: 'out', type: 'helper' }], creds())
      const msgs = collect(helper.getNode('out'))
      const warnings = record(helper.getNode('app'), 'warn')
      await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes('v3/app1@ttn/devices/+/up')))
      for (let i = 0; i < 3; i++) await broker.publishUplink('app1@ttn', `sensor-0${i}`, { frm_payload: 'AQ==', f_port: 1 })
      await waitFor(() => msgs.length === 3)
      await waitFor(() => warnings.some((w) => String(w[0]) === 'ttnApi.errors.details'), 3000, 'the warning')
      await delay(200)
      assert.equal(warnings.filter((w) => String(w[0]) === 'ttnApi.errors.details').length, 1)
      assert.ok(msgs.every((m) => m.device === undefined))
    })

    it('stops the change watch when the last node with details goes', async () => {
      await load()
      await helper.unload()
      await waitFor(() => api.eventStreams === 0, 3000, 'the watch closed')
    })
  })
})

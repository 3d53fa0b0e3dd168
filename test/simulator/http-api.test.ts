/** The HTTP API stand-in's own rules, asked with plain HTTP requests as any client would. */
import assert from 'node:assert/strict'
import { HttpApiStandIn, StorageStandIn, TtsBroker } from '../../src/simulator'

const KEY = 'NNSXS.STANDIN.SECRET'

describe('HttpApiStandIn', () => {
  let api: HttpApiStandIn
  let storage: StorageStandIn | undefined
  let broker: TtsBroker | undefined
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
    storage = await StorageStandIn.start({ applications: [{ appId: 'app1', apiKey: KEY }], broker })
    api = await HttpApiStandIn.start({
      applications: [{ appId: 'app1', devices: [{ deviceId: 'dev1', name: 'One', attributes: {} }] }],
      keys: [{ key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_ALL'] }],
      broker,
      storage,
    })
  })
  afterEach(async () => {
    await api.stop()
    await storage?.stop()
    await broker?.stop()
  })
  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${api.url}${path}`, { ...init, headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', ...(init.headers as Record<string, string>) } })

  it('answers auth_info without a key with {} (as the server does), and errors in the server format', async () => {
    assert.deepEqual(await (await fetch(`${api.url}/api/v3/auth_info`)).json(), {})
    const res = await fetch(`${api.url}/api/v3/applications/app1/devices`)
    assert.equal(res.status, 401)
    const body = (await res.json()) as { code: number; message: string; details: Array<{ name: string }> }
    assert.equal(body.code, 16)
    assert.equal(body.details[0].name, 'token_missing')
    assert.match(body.message, /^error:pkg\/auth:token_missing/)
  })

  it('returns only IDs, timestamps and the masked fields, empty ones omitted; rejects unknown paths and limits over 1000', async () => {
    const d = (await (await call('/api/v3/applications/app1/devices/dev1?field_mask=name,attributes')).json()) as Record<string, unknown>
    assert.deepEqual(Object.keys(d).sort(), ['created_at', 'ids', 'name', 'updated_at'])
    assert.equal((await call('/api/v3/applications/app1/devices?field_mask=secret_keys')).status, 400)
    assert.equal((await call('/api/v3/applications/app1/devices?limit=1001')).status, 400)
  })

  it('PUT with a field mask changes the device and emits end_device.update', async () => {
    const res = await call('/api/v3/applications/app1/devices/dev1', {
      method: 'PUT',
      body: JSON.stringify({ end_device: { name: 'Uno', description: 'ignored: not in the mask' }, field_mask: { paths: ['name'] } }),
    })
    assert.equal(res.status, 200)
    assert.equal(api.device('app1', 'dev1')?.name, 'Uno')
    assert.equal(api.device('app1', 'dev1')?.description, undefined)
  })

  it('serves the Storage stand-in on its own port, and the queue the MQTT simulator holds', async () => {
    await broker!.publishUplink('app1@ttn', 'dev1')
    const stored = await call('/api/v3/as/applications/app1/packages/storage/uplink_message')
    assert.equal(stored.status, 200)
    assert.match(await stored.text(), /"result"/)
    assert.deepEqual(await (await call('/api/v3/as/applications/app1/devices/dev1/down')).json(), {})
    const push = await call('/api/v3/as/applications/app1/devices/dev1/down/push', { method: 'POST', body: JSON.stringify({ downlinks: [{ f_port: 3, frm_payload: 'AQ==' }] }) })
    assert.equal(push.status, 200)
    assert.equal(broker!.downlinkQueue('app1@ttn', 'dev1').length, 1)
    const bad = await call('/api/v3/as/applications/app1/devices/dev1/down/push', { method: 'POST', body: JSON.stringify({ downlinks: [{ f_port: 3, frm_payload: 'AQ==', priority: 'URGENT' }] }) })
    assert.equal(bad.status, 400)
  })

  it('records requests without the key', async () => {
    await call('/api/v3/auth_info')
    assert.ok(!JSON.stringify(api.requests).includes(KEY))
    assert.equal(api.requests[0].authorized, true)
  })
})

/** Following device changes over the events API (src/sdk/api/events.ts) against the HTTP API stand-in. */
import assert from 'node:assert/strict'
import { ApiClient, ApiError, type DeviceChange } from '../../../src/sdk/api'
import { HttpApiStandIn } from '../../../src/simulator'
import { waitFor } from '../../support/wait'

const KEY = 'NNSXS.EVENTS.SECRET'
const TRAFFIC = 'NNSXS.EVTRAFFIC.SECRET'

describe('watchDeviceChanges', () => {
  let api: HttpApiStandIn
  const stops: Array<() => void> = []
  beforeEach(async () => {
    api = await HttpApiStandIn.start({
      applications: [{ appId: 'app1', devices: [{ deviceId: 'dev1', name: 'One' }, { deviceId: 'dev2' }] }],
      keys: [
        { key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_ALL'] },
        { key: TRAFFIC, appId: 'app1', rights: ['RIGHT_APPLICATION_TRAFFIC_READ'] },
      ],
    })
  })
  afterEach(async () => {
    for (const stop of stops.splice(0)) stop()
    await api.stop()
  })

  it('reports end_device.update and end_device.delete of the application, and reconnects after a drop', async () => {
    const changes: DeviceChange[] = []
    let opens = 0
    stops.push(new ApiClient({ apiKey: KEY, apiUrl: api.url }).watchDeviceChanges('app1', { onChange: (c) => changes.push(c), onOpen: () => opens++, retry: { minDelayMs: 20, maxDelayMs: 50 } }))
    await waitFor(() => opens === 1)
    api.updateDevice('app1', 'dev1', { name: 'Uno' })
    api.deleteDevice('app1', 'dev2')
    await waitFor(() => changes.length === 2)
    assert.deepEqual(changes, [
      { deviceId: 'dev1', event: 'end_device.update' },
      { deviceId: 'dev2', event: 'end_device.delete' },
    ])
    const request = api.requests.find((r) => r.path === '/api/v3/events')
    assert.equal(request?.method, 'POST')
    // The server goes away and comes back: the watch opens again by itself.
    const port = api.port
    await api.stop()
    api = await HttpApiStandIn.start({ applications: [{ appId: 'app1', devices: [{ deviceId: 'dev1' }] }], keys: [{ key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_ALL'] }], port })
    await waitFor(() => opens === 2, 5000, 'reopened')
    api.updateDevice('app1', 'dev1', { name: 'Again' })
    await waitFor(() => changes.length === 3)
  })

  it('a key that cannot see device events: the stream opens but stays silent (visibility), as on the server', async () => {
    const changes: DeviceChange[] = []
    let opens = 0
    stops.push(new ApiClient({ apiKey: TRAFFIC, apiUrl: api.url }).watchDeviceChanges('app1', { onChange: (c) => changes.push(c), onOpen: () => opens++ }))
    await waitFor(() => opens === 1)
    api.updateDevice('app1', 'dev1', { name: 'Uno' })
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(changes, [])
  })

  it('a refused key stops the watch for good, with the reason', async () => {
    const errors: Array<{ err: Error; permanent: boolean }> = []
    stops.push(new ApiClient({ apiKey: 'NNSXS.UNKNOWN.KEY', apiUrl: api.url }).watchDeviceChanges('app1', { onChange: () => undefined, onError: (err, permanent) => errors.push({ err, permanent }), retry: { minDelayMs: 10 } }))
    await waitFor(() => errors.length === 1)
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(errors.length, 1)
    assert.equal(errors[0].permanent, true)
    assert.ok(errors[0].err instanceof ApiError && errors[0].err.status === 401)
  })
})

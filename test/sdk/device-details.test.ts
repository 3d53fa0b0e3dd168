/**
 * The device details cache (src/sdk/device-details.ts) reading through the real ApiClient from the HTTP
 * API stand-in; a hand-moved clock stands for the refresh time, so nothing here waits for it.
 */
import assert from 'node:assert/strict'
import { ApiClient } from '../../src/sdk/api'
import { DeviceDetailsCache } from '../../src/sdk/device-details'
import { DEVICE_DETAIL_FIELDS } from '../../src/sdk/api/types'
import { HttpApiStandIn } from '../../src/simulator'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.DETAILS.SECRET'

describe('DeviceDetailsCache', () => {
  let api: HttpApiStandIn
  let client: ApiClient
  let now: number
  const errors: string[] = []
  beforeEach(async () => {
    api = await HttpApiStandIn.start({
      applications: [{ appId: 'app1', devices: Array.from({ length: 5 }, (_, i) => ({ deviceId: `dev-${i}`, name: `Device ${i}`, attributes: { n: String(i) } })) }],
      keys: [{ key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_DEVICES_READ'] }],
    })
    client = new ApiClient({ appId: 'app1', apiKey: KEY, apiUrl: api.url })
    now = 1_000_000
    errors.length = 0
  })
  afterEach(() => api.stop())
  const cache = (extra: object = {}) =>
    new DeviceDetailsCache({
      fetch: (id) => client.getDevice('app1', id, [...DEVICE_DETAIL_FIELDS]),
      now: () => now,
      refreshMs: 60_000,
      onError: (id, err) => errors.push(`${id}: ${err.message}`),
      ...extra,
    })
  const gets = (id: string) => api.requests.filter((r) => r.path === `/api/v3/applications/app1/devices/${id}`).length

  it('answers at once: nothing the first time, the details once fetched; one fetch however many uplinks', async () => {
    const c = cache()
    assert.equal(c.get('dev-1'), undefined)
    for (let i = 0; i < 50; i++) c.get('dev-1')
    await waitFor(() => c.get('dev-1') !== undefined)
    assert.deepEqual(c.get('dev-1'), { name: 'Device 1', attributes: { n: '1' } })
    assert.equal(gets('dev-1'), 1)
    assert.equal(c.fetches, 1)
  })

  it('reads a device again after the refresh time, keeping the old details meanwhile', async () => {
    const c = cache()
    c.get('dev-2')
    await waitFor(() => c.get('dev-2') !== undefined)
    api.putDevice('app1', { deviceId: 'dev-2', name: 'Renamed' })
    now += 59_999
    assert.equal(c.get('dev-2')?.name, 'Device 2')
    assert.equal(gets('dev-2'), 1)
    now += 1
    assert.equal(c.get('dev-2')?.name, 'Device 2', 'the old details while the new ones come')
    await waitFor(() => c.get('dev-2')?.name === 'Renamed')
    assert.equal(gets('dev-2'), 2)
  })

  it('invalidate reads again at once; during a fetch it reads once more after it', async () => {
    const c = cache()
    c.get('dev-3')
    api.putDevice('app1', { deviceId: 'dev-3', name: 'Changed' })
    c.invalidate('dev-3')
    // The first read may already see the change (it reaches the server after putDevice): the second
    // read, the one the invalidation asked for, must still happen, and exactly once.
    await waitFor(() => gets('dev-3') === 2 && c.get('dev-3')?.name === 'Changed', 3000, 'the read after the invalidation')
    await delay(100)
    assert.equal(gets('dev-3'), 2)
  })

  it('keeps at most maxDevices, dropping the least recently used', async () => {
    const c = cache({ maxDevices: 3 })
    for (const id of ['dev-0', 'dev-1', 'dev-2']) c.get(id)
    await waitFor(() => c.get('dev-2') !== undefined && c.get('dev-1') !== undefined && c.get('dev-0') !== undefined)
    // Use order: dev-1 oldest, then dev-2, dev-0 most recent.
    for (const id of ['dev-1', 'dev-2', 'dev-0']) c.get(id)
    c.get('dev-3')
    assert.equal(c.size, 3)
    assert.equal(c.get('dev-1'), undefined, 'evicted: fetched again')
    await waitFor(() => gets('dev-1') === 2, 3000, 'dev-1 fetched again')
    assert.equal(gets('dev-0'), 1)
  })

  it('a failure counts as the fetch of this refresh period, and is reported', async () => {
    const c = cache()
    c.get('nope')
    await waitFor(() => errors.length === 1)
    assert.match(errors[0], /^nope: No device nope in application app1 \(HTTP 404\)/)
    for (let i = 0; i < 10; i++) assert.equal(c.get('nope'), undefined)
    assert.equal(gets('nope'), 1)
  })

  it('rate limited: read again when the server says, not a whole refresh period later', async () => {
    const c = cache()
    api.injectFault({ type: 'rate-limit', retryAfterSeconds: 5 })
    c.get('dev-1')
    await waitFor(() => errors.length === 1)
    assert.match(errors[0], /rate limit .*wait 5 s/)
    now += 4999
    c.get('dev-1')
    assert.equal(gets('dev-1'), 1)
    now += 1
    c.get('dev-1')
    await waitFor(() => c.get('dev-1')?.name === 'Device 1')
    assert.equal(gets('dev-1'), 2)
  })

  it('a deleted device loses its details on the next read', async () => {
    const c = cache()
    c.get('dev-4')
    await waitFor(() => c.get('dev-4') !== undefined)
    api.deleteDevice('app1', 'dev-4')
    c.invalidate('dev-4')
    await waitFor(() => c.get('dev-4') === undefined)
  })
})

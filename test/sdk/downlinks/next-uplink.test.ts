import assert from 'node:assert/strict'
import { DownlinkError, MQTTClient, type MQTTClientOptions, ValidationError } from '../../../src'
import type { DownlinkOutcome } from '../../../src/sdk/downlink-tracker'
import type { V3DownlinkRequest } from '../../../src/sdk/messages'
import { TtsBroker } from '../../../src/simulator'
import { delay, waitFor } from '../../support/wait'

const KEY = 'NNSXS.HOLDTEST.SECRET'

describe("SDK downlinks: schedule 'next-uplink'", () => {
  let broker: TtsBroker
  const clients: MQTTClient[] = []
  async function client(options: MQTTClientOptions = {}): Promise<MQTTClient> {
    const c = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, { tenant: 'ttn', subscribeUplinks: 'on-demand', ...options })
    clients.push(c)
    await c.connect()
    return c
  }
  const upFilter = 'v3/app1@ttn/devices/+/up'
  /** The broker has the uplink subscription (an uplink published before it would be lost, as on the server). */
  const subscribed = () =>
    waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes(upFilter)), 2000, 'uplink subscription at the broker')
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], autoDeliver: { sentAfterMs: 5, ackAfterMs: 5 } })
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await broker.stop()
  })

  it('holds the downlink, subscribes to uplinks only while holding, and pushes it the moment the device sends one', async () => {
    const c = await client()
    const steps: DownlinkOutcome[] = []
    const sending = c.send('dev1', [7], 3, false, 'next-uplink', { onStatus: (o) => steps.push(o) })
    await subscribed()
    assert.equal(c.heldDownlinks('dev1'), 1)
    assert.equal(c.heldDownlinks(), 1)
    await delay(50)
    assert.equal(broker.downlinks.length, 0, 'nothing published before the uplink')
    // Another device's uplink does not release it.
    await broker.publishUplink('app1@ttn', 'dev2')
    await delay(50)
    assert.equal(broker.downlinks.length, 0)
    await broker.publishUplink('app1@ttn', 'dev1')
    const sent = await sending
    assert.equal(sent.topic, 'v3/app1@ttn/devices/dev1/down/push')
    assert.equal((sent.body as V3DownlinkRequest).downlinks[0].frm_payload, 'Bw==')
    assert.equal((await sent.wait('final', 3000)).status, 'sent')
    assert.deepEqual(steps.map((s) => s.status), ['held', 'queued', 'sent'])
    assert.equal(steps.at(-1)?.final, true)
    assert.equal(c.heldDownlinks(), 0)
    await waitFor(() => !c.subscribedFilters.includes(upFilter), 2000, 'uplink subscription released')
  })

  it('replaces an older held downlink for the same device and port (reported as replaced), keeps other ports', async () => {
    const c = await client()
    const older: DownlinkOutcome[] = []
    const first = c.send('dev1', [1], 3, false, 'next-uplink', { onStatus: (o) => older.push(o) })
    const otherPort = c.send('dev1', [2], 4, false, 'next-uplink')
    const newer = c.send('dev1', [3], 3, false, 'next-uplink')
    await assert.rejects(first, (err: DownlinkError) => err instanceof DownlinkError && err.outcome.status === 'replaced' && /replaced by a newer one/.test(err.message))
    assert.deepEqual(older.map((s) => s.status), ['held', 'replaced'])
    assert.equal(older[1].final, true)
    assert.equal(c.heldDownlinks('dev1'), 2)
    await subscribed()
    await broker.publishUplink('app1@ttn', 'dev1')
    const [a, b] = await Promise.all([otherPort, newer])
    assert.deepEqual(
      [a, b].map((r) => (r.body as V3DownlinkRequest).downlinks[0].frm_payload),
      ['Ag==', 'Aw=='],
    )
    await waitFor(() => broker.downlinks.length === 2)
    await delay(30)
    assert.equal(broker.downlinks.length, 2, 'the replaced one is never sent')
  })

  it('expires when no uplink comes within the ttl, and then never sends', async () => {
    const c = await client()
    const steps: DownlinkOutcome[] = []
    const p = c.send('dev1', [1], 3, false, 'next-uplink', { retry: { ttlMs: 80 }, onStatus: (o) => steps.push(o) })
    await assert.rejects(p, (err: DownlinkError) => err.outcome.status === 'expired' && /expired/.test(err.message))
    assert.deepEqual(steps.map((s) => s.status), ['held', 'expired'])
    assert.equal(steps[1].reason, 'no uplink from the device in time')
    assert.equal(c.heldDownlinks(), 0)
    await broker.publishUplink('app1@ttn', 'dev1')
    await delay(50)
    assert.equal(broker.downlinks.length, 0)
  })

  it('with retry, a nacked attempt is held again for the following uplink', async () => {
    await broker.stop()
    let nth = 0
    broker = await TtsBroker.start({
      applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }],
      autoDeliver: { sentAfterMs: 5, ackAfterMs: 5 },
      missesConfirmed: () => ++nth === 1,
    })
    const c = await client()
    const steps: DownlinkOutcome[] = []
    const p = c.send('dev1', [1], 3, true, 'next-uplink', { retry: { attempts: 2, backoffMs: 0 }, onStatus: (o) => steps.push(o) })
    await subscribed()
    await broker.publishUplink('app1@ttn', 'dev1')
    const sent = await p
    await waitFor(() => steps.some((s) => s.status === 'held' && s.attempt === 2), 2000, 'held again')
    assert.equal(broker.downlinks.length, 1)
    await broker.publishUplink('app1@ttn', 'dev1')
    assert.equal((await sent.wait('final', 3000)).status, 'ack')
    assert.deepEqual(
      steps.map((s) => `${s.attempt}:${s.status}`),
      ['1:held', '1:queued', '1:sent', '1:nack', '2:held', '2:queued', '2:sent', '2:ack'],
    )
  })

  it('says plainly that it does not work in a shared subscription group', async () => {
    const c = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, { tenant: 'ttn', autoConnect: false, sharedGroup: 'workers', topicPrefix: 'v3/app1@ttn' })
    clients.push(c)
    await assert.rejects(
      c.send('dev1', [1], 3, false, 'next-uplink'),
      (err: Error) => err instanceof ValidationError && /shared subscription group "workers"/.test(err.message),
    )
  })

  it('is dropped on close without a timer left behind', async () => {
    const c = await client()
    const p = c.send('dev1', [1], 3, false, 'next-uplink')
    await waitFor(() => c.heldDownlinks() === 1)
    await c.close()
    await assert.rejects(p, /closed/)
  })
})

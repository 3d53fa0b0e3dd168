/**
 * ttn-downlink's retries, next-uplink holds, class B/C and its status, in the real Node-RED runtime
 * against the simulated The Things Stack (compressed time: retry waits of tens of milliseconds).
 */
import assert from 'node:assert/strict'
import type { V3DownlinkRequest } from '../../src/sdk/messages'
import { TtsBroker } from '../../src/simulator'
import { missEvery } from '../../src/simulator/devices'
import { catchNode, collect, helper, record, ttnNodes } from '../support/node-red'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.NODERETRY.SECRETKEY'
type Downlink = { status: string; attempt?: number; attempts?: number; final?: boolean; reason?: string; retryInMs?: number; groupId?: string }
const dl = (m: Record<string, unknown>) => m.downlink as Downlink
const steps = (msgs: Record<string, unknown>[]) => msgs.map((m) => `${dl(m).attempt ?? '-'}:${dl(m).status}${dl(m).final ? '!' : ''}`)
const texts = (calls: unknown[][]) => calls.map((c) => (c[0] as { text?: string }).text)
/** The node's status is rate-limited (one update per 100 ms, the last always shown): wait for it. */
const showsLast = (calls: unknown[][], expected: object) =>
  waitFor(() => JSON.stringify(calls.at(-1)?.[0]) === JSON.stringify(expected), 2000, `status ${JSON.stringify(expected)}, last ${JSON.stringify(calls.at(-1)?.[0])}`)

describe('ttn-downlink: retries, next uplink, class B/C, status (Node-RED runtime)', () => {
  let broker: TtsBroker

  before(() => helper.startServer())
  after(() => helper.stopServer())
  afterEach(async () => {
    await helper.unload()
    await broker.stop()
  })

  async function load(config: object, brokerOptions: Partial<Parameters<typeof TtsBroker.start>[0]> = {}) {
    broker = await TtsBroker.start({
      applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }],
      autoDeliver: { sentAfterMs: 5, ackAfterMs: 5 },
      ...brokerOptions,
    })
    const flow = [
      { id: 'app', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3' },
      { id: 'down', type: 'ttn-downlink', app: 'app', deviceId: 'dev1', port: 1, schedule: 'last', wires: [['outcome']], ...config },
      { id: 'outcome', type: 'helper' },
      { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ]
    await helper.load([ttnNodes, catchNode], flow, { app: { apiKey: KEY } })
    await waitFor(() => broker.connectionCount('app1@ttn') === 1, 5000, 'connected')
    // The broker counts the connection before the client has its CONNACK: until then a downlink would wait (`waiting`).
    await waitFor(() => (helper.getNode('app') as unknown as { client?: { connected: boolean } }).client?.connected === true, 5000, 'the client connected')
    const down = helper.getNode('down')
    return { down, outcomes: collect(helper.getNode('outcome')), caught: collect(helper.getNode('caught')), statuses: record(down, 'status') }
  }
  const subscribedToUplinks = () =>
    waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes('v3/app1@ttn/devices/+/up')), 3000, 'uplink subscription')

  it('retries a nacked confirmed downlink as configured, reports every step with attempt/attempts, ends in ack', async () => {
    const { down, outcomes, caught, statuses } = await load({ confirmed: true, retryAttempts: '3', retryBackoff: '0.3' }, { missesConfirmed: missEvery(2) })
    down.receive({ payload: [1], topic: 'setpoint' })
    await waitFor(() => outcomes.some((m) => dl(m).final), 5000, 'final outcome')
    assert.deepEqual(steps(outcomes), ['1:queued', '1:sent', '1:nack', '2:queued', '2:sent', '2:ack!'])
    assert.equal(dl(outcomes[2]).retryInMs, 300)
    assert.equal(dl(outcomes[5]).attempts, 3)
    assert.equal(outcomes[5].topic, 'setpoint', 'each step carries the input message')
    assert.ok(outcomes.every((m) => dl(m).groupId === dl(outcomes[0]).groupId))
    assert.equal(caught.length, 0, 'a nack that is retried is not an error')
    assert.equal(broker.downlinks[1].topic, 'v3/app1@ttn/devices/dev1/down/push')
    const shown = texts(statuses)
    assert.ok(shown.includes('ttn.status.retrying'), `status while retrying: ${shown}`)
    await showsLast(statuses, { fill: 'green', shape: 'dot', text: 'ttn.status.outcome' })
  })

  it('msg.retry overrides the node; the final failure goes to the output and once to Catch', async () => {
    const { down, outcomes, caught, statuses } = await load({ confirmed: true, retryBackoff: '0.01' }, { missesConfirmed: () => true })
    down.receive({ payload: [1], retry: { attempts: 2 }, marker: 'm' })
    await waitFor(() => caught.length === 1 && outcomes.some((m) => dl(m).final), 5000, 'final failure')
    assert.deepEqual(steps(outcomes), ['1:queued', '1:sent', '1:nack', '2:queued', '2:sent', '2:failed!'])
    assert.equal(dl(outcomes[5]).reason, 'nack')
    assert.equal(caught[0].marker, 'm')
    assert.match((caught[0].error as { message: string }).message, /ttn.errors.downlinkGaveUp/)
    await delay(50)
    assert.equal(caught.length, 1)
    await waitFor(() => (statuses.at(-1)?.[0] as { fill?: string } | undefined)?.fill === 'red', 2000, 'red status')
  })

  it('a bad msg.retry reaches Catch with the reason and nothing is published', async () => {
    const { down, caught } = await load({})
    down.receive({ payload: [1], retry: { attempts: 0 } })
    down.receive({ payload: [1], retry: 'twice' })
    await waitFor(() => caught.length === 2)
    assert.match((caught[0].error as { message: string }).message, /retry.attempts is 0/)
    assert.match((caught[1].error as { message: string }).message, /retry is "twice"/)
    await delay(50)
    assert.equal(broker.downlinks.length, 0)
  })

  it("next-uplink: holds (status '1 held'), a newer one replaces it, the device's uplink sends it", async () => {
    const { down, outcomes, caught, statuses } = await load({ schedule: 'next-uplink' })
    down.receive({ payload: [1], n: 1 })
    await waitFor(() => outcomes.length === 1)
    assert.equal(dl(outcomes[0]).status, 'held')
    await showsLast(statuses, { fill: 'blue', shape: 'ring', text: 'ttn.status.held' })
    down.receive({ payload: [2], n: 2 })
    await waitFor(() => outcomes.length === 3)
    const replaced = outcomes.find((m) => dl(m).status === 'replaced')
    assert.equal(replaced?.n, 1)
    assert.equal(dl(replaced ?? {}).final, true)
    await subscribedToUplinks()
    assert.equal(broker.downlinks.length, 0)
    await broker.publishUplink('app1@ttn', 'dev1')
    await waitFor(() => outcomes.some((m) => dl(m).status === 'sent'), 3000, 'sent')
    assert.equal(broker.downlinks.length, 1)
    assert.equal((broker.downlinks[0].body as V3DownlinkRequest).downlinks[0].frm_payload, 'Ag==')
    assert.deepEqual(
      outcomes.filter((m) => m.n === 2).map((m) => dl(m).status),
      ['held', 'queued', 'sent'],
    )
    assert.equal(caught.length, 0, 'replaced is not an error')
  })

  it('next-uplink with a give-up time: expired on the output and at Catch', async () => {
    const { down, outcomes, caught } = await load({ schedule: 'next-uplink', retryTtl: '0.1' })
    down.receive({ payload: [1] })
    await waitFor(() => caught.length === 1, 3000, 'expired')
    assert.deepEqual(steps(outcomes), ['1:held', '1:expired!'])
    assert.match((caught[0].error as { message: string }).message, /ttn.errors.downlinkExpired/)
  })

  it("shows '1 waiting for connection' while offline, with an output message for that step, then the outcome", async () => {
    const { down, outcomes, statuses } = await load({})
    broker.disconnectAll()
    await waitFor(() => texts(statuses).includes('ttn.status.reconnecting'), 3000, 'reconnecting')
    down.receive({ payload: [1] })
    await waitFor(() => outcomes.length === 1)
    assert.equal(dl(outcomes[0]).status, 'waiting')
    await showsLast(statuses, { fill: 'yellow', shape: 'ring', text: 'ttn.status.waiting' })
    await waitFor(() => outcomes.some((m) => dl(m).status === 'sent'), 5000, 'sent after the reconnect')
    assert.deepEqual(outcomes.map((m) => dl(m).status), ['waiting', 'queued', 'sent'])
    await showsLast(statuses, { fill: 'green', shape: 'dot', text: 'ttn.status.outcome' })
  })

  it('shows failed in red with a short reason', async () => {
    const { down, outcomes, statuses } = await load({})
    down.receive({ payload: Buffer.alloc(60) })
    await waitFor(() => outcomes.length === 1)
    await showsLast(statuses, { fill: 'red', shape: 'dot', text: 'ttn.status.outcomeReason' })
  })

  it('msg.classBC becomes class_b_c; a bad one reaches Catch before anything is published', async () => {
    const { down, caught } = await load({}, { classC: ['dev1'] })
    down.receive({ payload: [1], classBC: { gateways: [{ id: 'Gateway_1' }] } })
    down.receive({ payload: [1], classBC: { absoluteTime: '2020-01-01T00:00:00Z' } })
    await waitFor(() => caught.length === 2)
    assert.match((caught[0].error as { message: string }).message, /gateway ID "Gateway_1" is not valid/)
    assert.match((caught[1].error as { message: string }).message, /not in the future/)
    await delay(50)
    assert.equal(broker.downlinks.length, 0)
    down.receive({ payload: [1], classBC: { gateways: [{ id: 'gw-roof', antennaIndex: 1 }] } })
    await waitFor(() => broker.downlinks.length === 1)
    assert.deepEqual((broker.downlinks[0].body as V3DownlinkRequest).downlinks[0].class_b_c, {
      gateways: [{ gateway_ids: { gateway_id: 'gw-roof' }, antenna_index: 1 }],
    })
    assert.deepEqual(broker.downlinks[0].violations, [])
  })

  it('a redeploy ends held downlinks and pending retries: nothing is sent for a node that is gone', async () => {
    const { down } = await load({ schedule: 'next-uplink' })
    down.receive({ payload: [1] })
    await subscribedToUplinks()
    await helper.unload()
    await broker.publishUplink('app1@ttn', 'dev1').catch(() => undefined)
    await delay(100)
    assert.equal(broker.downlinks.length, 0)
  })
})

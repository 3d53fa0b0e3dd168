/** ttn-downlink's msg.action 'list' and 'clear' against the simulated HTTP API and MQTT server, in the real runtime. */
import assert from 'node:assert/strict'
import { HttpApiStandIn, RIGHTS, TtsBroker } from '../../src/simulator'
import { catchNode, collect, helper, record, ttnNodes } from '../support/node-red'
import { waitFor } from '../support/wait'

const KEY = 'NNSXS.QUEUE.ALLRIGHTS'
const WRITE_ONLY = 'NNSXS.QUEUE.WRITEONLY'

describe('ttn-downlink: msg.action list and clear (Node-RED runtime)', () => {
  let broker: TtsBroker
  let api: HttpApiStandIn

  before(() => helper.startServer())
  after(() => helper.stopServer())
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }, { appId: 'app1', tenant: 'other', apiKey: WRITE_ONLY }] })
    api = await HttpApiStandIn.start({
      broker,
      applications: [{ appId: 'app1', devices: [{ deviceId: 'dev1' }] }],
      keys: [
        { key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_ALL'] },
        { key: WRITE_ONLY, appId: 'app1', rights: [RIGHTS.trafficDownWrite] },
      ],
    })
  })
  afterEach(async () => {
    await helper.unload()
    await api.stop()
    await broker.stop()
  })

  async function load(key = KEY, tenant = 'ttn', config: object = {}) {
    const flow = [
      { id: 'app', type: 'ttn-app', appId: 'app1', tenant, server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3', apiUrl: api.url },
      { id: 'down', type: 'ttn-downlink', app: 'app', deviceId: 'dev1', port: 1, schedule: 'last', wires: [['outcome']], ...config },
      { id: 'outcome', type: 'helper' },
      { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ]
    await helper.load([ttnNodes, catchNode], flow, { app: { apiKey: key } })
    await waitFor(() => broker.connectionCount(`app1@${tenant}`) === 1, 5000, 'connected')
    // The broker counts the connection before the client has its CONNACK: until then a downlink would wait (`waiting`).
    await waitFor(() => (helper.getNode('app') as unknown as { client?: { connected: boolean } }).client?.connected === true, 5000, 'the client connected')
    const down = helper.getNode('down')
    return { down, outcomes: collect(helper.getNode('outcome')), caught: collect(helper.getNode('caught')), statuses: record(down, 'status') }
  }
  const status = (m: Record<string, unknown>) => (m.downlink as { status: string }).status

  it("lists the device's queue as msg.payload, clears it, and lists it empty", async () => {
    const { down, outcomes, statuses } = await load()
    down.receive({ payload: [1] })
    down.receive({ payload: { led: 'on' } })
    await waitFor(() => outcomes.filter((m) => status(m) === 'queued').length === 2, 3000, 'two queued')
    down.receive({ action: 'list', topic: 'q' })
    await waitFor(() => outcomes.some((m) => status(m) === 'list'))
    const listed = outcomes.find((m) => status(m) === 'list') as Record<string, unknown>
    const queue = listed.payload as { frm_payload?: string; decoded_payload?: unknown; correlation_ids?: string[] }[]
    assert.equal(queue.length, 2)
    assert.equal(queue[0].frm_payload, 'AQ==')
    assert.deepEqual(queue[1].decoded_payload, { led: 'on' })
    assert.equal(listed.topic, 'q')
    assert.deepEqual(listed.downlink, { status: 'list', deviceId: 'dev1', count: 2 })
    await waitFor(() => /^ttn\.status\.listed/.test((statuses.at(-1)?.[0] as { text?: string } | undefined)?.text ?? ''), 2000, 'list status')
    const shown = statuses.at(-1)?.[0] as { fill: string; shape: string; text: string }
    assert.deepEqual([shown.fill, shown.shape], ['green', 'ring'])
    assert.match(shown.text, /^ttn\.status\.listed \d\d:\d\d$/)

    down.receive({ action: 'clear' })
    await waitFor(() => outcomes.some((m) => status(m) === 'cleared'))
    assert.deepEqual(broker.downlinkQueue('app1@ttn', 'dev1'), [])
    down.receive({ action: 'list' })
    await waitFor(() => outcomes.filter((m) => status(m) === 'list').length === 2)
    assert.deepEqual(outcomes.filter((m) => status(m) === 'list')[1].payload, [])
  })

  it('clear also drops what the node holds for the next uplink, reported as cleared', async () => {
    const { down, outcomes } = await load(KEY, 'ttn', { schedule: 'next-uplink' })
    down.receive({ payload: [1], n: 1 })
    await waitFor(() => outcomes.length === 1)
    down.receive({ action: 'clear' })
    await waitFor(() => outcomes.filter((m) => status(m) === 'cleared').length === 2, 3000, 'both cleared')
    assert.equal(outcomes.find((m) => m.n === 1 && status(m) === 'cleared') !== undefined, true)
  })

  it('HTTP errors reach Catch with what to do: a missing right, an unknown device, a rate limit', async () => {
    const { down, caught } = await load(WRITE_ONLY, 'other')
    down.receive({ action: 'list' })
    await waitFor(() => caught.length === 1)
    assert.match((caught[0].error as { message: string }).message, /403.*RIGHT_APPLICATION_TRAFFIC_READ|RIGHT_APPLICATION_TRAFFIC_READ.*403/s)
    down.receive({ action: 'clear', deviceId: 'nobody' })
    await waitFor(() => caught.length === 2)
    assert.match((caught[1].error as { message: string }).message, /No device nobody in application app1.*404/)
    api.injectFault({ type: 'rate-limit', retryAfterSeconds: 7 })
    down.receive({ action: 'clear' })
    await waitFor(() => caught.length === 3)
    assert.match((caught[2].error as { message: string }).message, /429/)
    api.injectFault({ type: 'status', status: 401, name: 'api_key_not_found', message: 'API key not found' })
    down.receive({ action: 'list' })
    await waitFor(() => caught.length === 4)
    assert.match((caught[3].error as { message: string }).message, /refused the API key \(HTTP 401\).*NNSXS/)
    api.injectFault({ type: 'status', status: 409, name: 'conflict', message: 'changed meanwhile' })
    down.receive({ action: 'clear' })
    await waitFor(() => caught.length === 5)
    assert.match((caught[4].error as { message: string }).message, /HTTP 409/)
  })

  it('refuses an unknown action', async () => {
    const { down, caught } = await load()
    down.receive({ action: 'flush' })
    await waitFor(() => caught.length === 1)
    assert.match((caught[0].error as { message: string }).message, /ttn.errors.unknownAction/)
  })
})

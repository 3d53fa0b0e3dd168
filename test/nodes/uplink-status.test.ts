/**
 * The uplink node's status: the connection's, plus the time of the last uplink while connected.
 * Unit part with explicit clocks (the throttle), runtime part in the real Node-RED runtime.
 */
import assert from 'node:assert/strict'
import type { NodeStatus } from '../../src/nodes/red'
import { UplinkStatus } from '../../src/nodes/uplink-status'
import { TtsBroker } from '../../src/simulator'
import { helper, record, ttnNodes } from '../support/node-red'
import { waitFor } from '../support/wait'

const KEY = 'NNSXS.UPLINKSTATUS.SECRETKEY'
const CONNECTED = { fill: 'green', shape: 'dot', text: 'ttn.status.connected' } as const
/** RED._ as the runtime words it: the key with its substitutions, so a test can read both. */
const fakeRED = { _: (key: string, s?: Record<string, unknown>) => `${key} ${JSON.stringify(s ?? {})}` }
const at = (hh: number, mm: number, ss = 0) => new Date(2026, 0, 1, hh, mm, ss).getTime()

describe('ttn-uplink status: connected · last hh:mm', () => {
  const made: UplinkStatus[] = []
  afterEach(() => {
    for (const s of made.splice(0)) s.dispose()
  })
  function make() {
    const shown: (NodeStatus | Record<string, never>)[] = []
    const status = new UplinkStatus(fakeRED as never, { status: (s) => shown.push(s) })
    made.push(status)
    return { status, shown }
  }

  it('shows the connection alone until the first uplink, then the time of the last one', () => {
    const { status, shown } = make()
    status.connectionChanged(CONNECTED)
    assert.deepEqual(shown, [CONNECTED])
    status.uplinkArrived(at(10, 33, 5))
    assert.deepEqual(shown[1], { fill: 'green', shape: 'dot', text: 'ttn.status.connectedLast {"time":"10:33"}' })
  })

  it('redraws at most once per minute shown, whatever the uplink rate', () => {
    const { status, shown } = make()
    status.connectionChanged(CONNECTED)
    for (let s = 0; s < 60; s++) status.uplinkArrived(at(10, 33, s))
    assert.equal(shown.length, 2, 'one redraw for sixty uplinks within 10:33')
    status.uplinkArrived(at(10, 34, 0))
    assert.equal(shown.length, 3)
    assert.match(String((shown[2] as NodeStatus).text), /"time":"10:34"/)
  })

  it('without a clock given, takes the time from the shared clock (the current minute)', () => {
    const { status, shown } = make()
    status.connectionChanged(CONNECTED)
    const before = new Date()
    status.uplinkArrived()
    const text = String((shown.at(-1) as NodeStatus).text)
    const hhmm = (d: Date) => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
    const after = new Date()
    assert.ok(text.includes(hhmm(before)) || text.includes(hhmm(after)) || text.includes(hhmm(new Date(before.getTime() - 1000))), text)
  })

  it('shows the other connection states unchanged, and the last uplink again once reconnected', () => {
    const { status, shown } = make()
    status.connectionChanged(CONNECTED)
    status.uplinkArrived(at(9, 5))
    const reconnecting = { fill: 'yellow', shape: 'ring', text: 'ttn.status.reconnecting' } as const
    status.connectionChanged(reconnecting)
    assert.deepEqual(shown.at(-1), reconnecting)
    status.connectionChanged(CONNECTED)
    assert.match(String((shown.at(-1) as NodeStatus).text), /connectedLast.*"09:05"/)
  })
})

describe('ttn-uplink status in the real runtime', () => {
  let broker: TtsBroker
  before(() => helper.startServer())
  after(() => helper.stopServer())
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
  })
  afterEach(async () => {
    await helper.unload()
    await broker.stop()
  })

  it('turns "connected" into "connected · last hh:mm" when an uplink arrives; other nodes keep "connected"', async () => {
    const flow = [
      { id: 'app', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3' },
      { id: 'up', type: 'ttn-uplink', app: 'app', deviceId: 'dev1', wires: [] },
      { id: 'ev', type: 'ttn-event', app: 'app', event: 'join', wires: [] },
    ]
    await helper.load(ttnNodes, flow, { app: { apiKey: KEY } })
    const up = helper.getNode('up')
    const ev = helper.getNode('ev')
    const upStatuses = record(up, 'status')
    const evStatuses = record(ev, 'status')
    await waitFor(() => upStatuses.some((s) => (s[0] as NodeStatus).text === 'ttn.status.connected'), 5000, 'connected')
    await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).some((f) => f.endsWith('/up'))), 5000, 'subscribed')
    const before = Date.now()
    const shownBefore = upStatuses.length
    await broker.publishUplink('app1@ttn', 'dev1', { frm_payload: 'Ag==', f_port: 1 })
    await waitFor(() => upStatuses.length > shownBefore, 5000, 'a status after the uplinks')
    await new Promise((r) => setTimeout(r, 100))
    const last = upStatuses.at(-1)?.[0] as NodeStatus
    assert.equal(last.fill, 'green')
    assert.equal(last.shape, 'dot')
    // In the test helper RED._ returns the key: the time itself is covered by the unit tests above.
    assert.equal(last.text, 'ttn.status.connectedLast')
    // Two uplinks within one minute: one redraw (two when the minute turned between them).
    assert.ok(upStatuses.length - shownBefore <= (Date.now() - before < 60_000 ? 2 : 3))
    const evTexts = evStatuses.map((s) => (s[0] as NodeStatus).text)
    assert.equal(evTexts.at(-1), 'ttn.status.connected', `the event node shows the connection only: ${evTexts}`)
    assert.equal(evTexts.includes('ttn.status.connectedLast'), false)
  })
})

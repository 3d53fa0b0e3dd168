import assert from 'node:assert/strict'
import { clientArguments } from '../../src/nodes/ttn-app'
import { StorageStandIn, TtsBroker } from '../../src/simulator'
import { collect, helper, record, ttnNodes } from '../support/node-red'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.TESTNRRECOVER.KEY'
const OTHER_KEY = 'NNSXS.TESTNROTHER.KEY'
/** The SDK waits 5 s after a reconnect before reading storage (batched writes); allow for it. */
const RECOVERY_WAIT_MS = 12_000

describe('Recovering missed uplinks in the Node-RED runtime', function () {
  this.timeout(30_000)
  let broker: TtsBroker
  let storage: StorageStandIn

  function flow(extra: object = {}) {
    return [
      { id: 'app', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3', recover: true, recoverUrl: storage.url, lookback: 0, ...extra },
      { id: 'up', type: 'ttn-uplink', app: 'app', deviceId: '', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]
  }

  async function listening(): Promise<void> {
    await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).some((f) => f.endsWith('/up'))), 5000, 'the up subscription')
  }

  async function publish(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await broker.publishUplink('app1@ttn', 'dev1')
      await delay(2)
    }
  }

  before(() => helper.startServer())
  after(() => helper.stopServer())
  afterEach(async () => {
    await helper.unload()
    await storage?.stop()
    await broker?.stop()
  })

  async function start(storageKey = KEY): Promise<void> {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
    storage = await StorageStandIn.start({ applications: [{ appId: 'app1', apiKey: storageKey }], broker })
  }

  it('wires the editor fields to the SDK option (v3 only; the base URL derived when empty)', () => {
    const on = clientArguments({ server: 'eu1.cloud.thethings.network', recover: true, recoverUrl: '', lookback: 30 }, undefined).options.recover
    assert.deepEqual(on, { enabled: true, lookbackMs: 30 * 60_000 })
    const url = clientArguments({ server: 'lns.example.com', recover: 'true', recoverUrl: ' https://lns.example.com:8443 ', lookback: '0' }, undefined).options.recover
    assert.deepEqual(url, { enabled: true, baseUrl: 'https://lns.example.com:8443' })
    assert.equal(clientArguments({ server: 'x', recover: false }, undefined).options.recover, undefined)
    assert.equal(clientArguments({ server: 'x', recover: true, api: 'v2' }, undefined).options.recover, undefined)
  })

  it('with the v2 API the option is ignored with a warning, and the node still connects', async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'legacy', apiKey: KEY, api: 'v2' }] })
    storage = await StorageStandIn.start({ applications: [{ appId: 'legacy', apiKey: KEY }] })
    const nodes = [
      { id: 'app', type: 'ttn-app', appId: 'legacy', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v2', recover: true, recoverUrl: storage.url },
      { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] },
    ]
    await helper.load(ttnNodes, nodes, { app: { apiKey: KEY } })
    await waitFor(() => broker.connectionCount('legacy') === 1, 5000, 'connected')
    const logged = (helper._logSpy?.getCalls() ?? []).map((c) => JSON.stringify(c.args))
    assert.equal(logged.filter((l) => l.includes('ttn.errors.recoverV2')).length, 1)
  })

  it('ttn-uplink sends the uplinks missed during a drop with msg.recovered = true, in order, then live ones without it', async () => {
    await start()
    await helper.load(ttnNodes, flow(), { app: { apiKey: KEY } })
    const out = collect(helper.getNode('out'))
    const statuses = record(helper.getNode('up'), 'status')
    await listening()
    await publish(1)
    await waitFor(() => out.length === 1, 3000, 'a live uplink')
    broker.disconnectAll()
    await waitFor(() => broker.connectionCount() === 0, 2000, 'the drop')
    await publish(3)
    assert.equal(broker.connectionCount(), 0, 'published while Node-RED was disconnected')
    await waitFor(() => out.length === 4, RECOVERY_WAIT_MS, 'the recovered uplinks')
    // Recovery reads until storage has nothing newer: an uplink published before that last read is
    // (rightly) delivered as recovered. "Live after recovery" means after the status says it is over.
    const lastStatus = () => (statuses[statuses.length - 1]?.[0] as { text?: string } | undefined)?.text
    // Connected again, with the time of the last uplink (ttn.status.connectedLast): uplinks have arrived.
    await waitFor(() => lastStatus() === 'ttn.status.connectedLast', RECOVERY_WAIT_MS, 'the end of the recovery')
    await publish(1)
    await waitFor(() => out.length === 5, 3000, 'a live uplink after recovery')
    await delay(200)
    assert.deepEqual(out.map((m) => m.counter), [1, 2, 3, 4, 5])
    assert.deepEqual(out.map((m) => m.recovered), [undefined, true, true, true, undefined])
    assert.deepEqual(out.map((m) => m.deviceId), ['dev1', 'dev1', 'dev1', 'dev1', 'dev1'])
    assert.equal(out[1].topic, 'v3/app1@ttn/devices/dev1/up')
    assert.ok(Buffer.isBuffer(out[1].payload))
    const shown = statuses.map((s) => s[0] as { fill?: string; text?: string })
    assert.ok(shown.some((s) => s.fill === 'blue' && /recovering/.test(s.text ?? '')), `status while recovering: ${JSON.stringify(shown)}`)
    assert.deepEqual(shown[shown.length - 1], { fill: 'green', shape: 'dot', text: 'ttn.status.connectedLast' })
  })

  it('a key without the right to read storage: one warning on the config node, live uplinks unaffected', async () => {
    await start(OTHER_KEY)
    await helper.load(ttnNodes, flow(), { app: { apiKey: KEY } })
    const out = collect(helper.getNode('out'))
    const warnings = record(helper.getNode('app'), 'warn')
    await listening()
    broker.disconnectAll()
    await waitFor(() => broker.connectionCount() === 0, 2000, 'the drop')
    await publish(2)
    await waitFor(() => storage.requests.length === 1, RECOVERY_WAIT_MS, 'the recovery attempt')
    await waitFor(() => warnings.length === 1, 2000, 'the warning')
    await publish(2)
    await waitFor(() => out.length === 2, 3000, 'live uplinks')
    await delay(200)
    assert.deepEqual(out.map((m) => [m.counter, m.recovered]), [
      [3, undefined],
      [4, undefined],
    ])
    assert.equal(warnings.length, 1)
    assert.match(String(warnings[0][0]), /Read application traffic/)
  })

  it('a full redeploy loses nothing: the new config node continues from the old one', async () => {
    await start()
    const nodes = flow()
    await helper.load(ttnNodes, nodes, { app: { apiKey: KEY } })
    let out = collect(helper.getNode('out'))
    await listening()
    await publish(1)
    await waitFor(() => out.length === 1, 3000, 'a live uplink')
    // Keep the new connection out while the deploy happens, so uplinks are published in the gap.
    broker.setApiKey('app1', 'NNSXS.TESTBLOCKED.KEY')
    await helper.setFlows(
      nodes.map((n) => (n.id === 'app' ? { ...n, credentials: { apiKey: KEY } } : n)),
      'full',
    )
    out = collect(helper.getNode('out'))
    await publish(2)
    assert.equal(broker.connectionCount('app1@ttn'), 0)
    broker.setApiKey('app1', KEY)
    await waitFor(() => out.length === 2, RECOVERY_WAIT_MS + 5000, 'the uplinks published during the deploy')
    await delay(200)
    assert.deepEqual(out.map((m) => [m.counter, m.recovered]), [
      [2, true],
      [3, true],
    ])
  })
})

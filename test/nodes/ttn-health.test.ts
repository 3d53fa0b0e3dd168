import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { GatewayServerStandIn, TtsBroker } from '../../src/simulator'
import { catchNode, collect, healthNodes, helper, record, ttnNodes } from '../support/node-red'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.HEALTHTEST.APPKEY'
const GW_KEY = 'NNSXS.HEALTHTEST.USERKEY'
const NODES = [ttnNodes, healthNodes, catchNode]

describe('ttn-monitor and ttn-gateway in the real Node-RED runtime (time compressed)', function () {
  this.timeout(20_000)
  let broker: TtsBroker
  const app = { id: 'app', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: '', tls: false, api: 'v3' }
  const creds = { app: { apiKey: KEY } }
  let counters: Record<string, number>
  /** An uplink of `dev` with the next frame counter (skip: counters to leave out, as lost). */
  const up = (dev: string, skip = 0) => {
    counters[dev] = (counters[dev] ?? 0) + 1 + skip
    return broker.publishUplink('app1@ttn', dev, { f_cnt: counters[dev], session_key_id: 'S1' })
  }

  before(() => helper.startServer())
  after(() => helper.stopServer())
  beforeEach(async () => {
    counters = {}
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
    app.server = `127.0.0.1:${broker.port}`
  })
  afterEach(async () => {
    await helper.unload()
    await broker.stop()
  })
  const ready = async () => {
    await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes('v3/app1@ttn/devices/+/up')), 5000, 'uplink subscription')
    // The broker lists a subscription a moment before it delivers on it (aedes adds it asynchronously).
    await delay(200)
  }

  describe('ttn-monitor', () => {
    const monitor = (extra: object = {}) => ({ id: 'mon', type: 'ttn-monitor', app: 'app', deviceId: '', silentAfter: 1, summaryEvery: 0, wires: [['out']], ...extra })

    it('sends device/silent once, device/back with how long it was away, and shows the silent count', async () => {
      await helper.load(NODES, [app, monitor(), { id: 'out', type: 'helper' }], creds)
      const out = collect(helper.getNode('out'))
      const status = record(helper.getNode('mon'), 'status')
      await ready()
      await up('dev1')
      const keepAlive = setInterval(() => void up('dev2'), 200)
      try {
        await waitFor(() => out.some((m) => m.event === 'device/silent'), 5000, 'device/silent')
        await delay(1200)
        assert.deepEqual(out.map((m) => `${m.event} ${m.deviceId}`), ['device/silent dev1'])
        const silent = out[0].payload as { deviceId: string; silent: boolean; received: number; silentAfter: number }
        assert.deepEqual([silent.deviceId, silent.silent, silent.received, silent.silentAfter], ['dev1', true, 1, 1])
        assert.equal(out[0].topic, 'device/silent')
        // (The test helper loads no message catalogs: texts are their keys here; the catalog test below checks them.)
        await waitFor(() => status.some((s) => (s[0] as { text?: string; fill?: string }).text === 'ttn-health.status.silent' && (s[0] as { fill?: string }).fill === 'yellow'), 5000, 'status: silent')
        await up('dev1', 2)
        await waitFor(() => out.length === 2, 3000, 'device/back')
        const back = out[1]
        assert.equal(back.event, 'device/back')
        const p = back.payload as { away: number; silent: boolean; lost: number }
        assert.ok(p.away >= 1, `away ${p.away}`)
        assert.deepEqual([p.silent, p.lost], [false, 2])
      } finally {
        clearInterval(keepAlive)
      }
    })

    it('learns the silent time when silentAfter is 0, and reports the application quiet and its traffic back', async () => {
      await helper.load(NODES, [app, monitor({ silentAfter: 0 }), { id: 'out', type: 'helper' }], creds)
      const out = collect(helper.getNode('out'))
      await ready()
      for (let i = 0; i < 4; i++) {
        await up('dev1')
        await delay(250)
      }
      await waitFor(() => out.some((m) => m.event === 'app/quiet'), 6000, 'app/quiet')
      assert.deepEqual(out.map((m) => m.event), ['device/silent', 'app/quiet'])
      const learned = (out[0].payload as { silentAfter: number; learnedSilentAfter: number }).silentAfter
      assert.ok(learned >= 0.6 && learned < 6, `learned ${learned}`) // 3 x ~250 ms, more on a busy machine
      await up('dev1')
      await waitFor(() => out.length === 4, 3000, 'traffic and back')
      assert.deepEqual(out.slice(2).map((m) => `${m.event} ${m.deviceId}`), ['app/traffic dev1', 'device/back dev1'])
    })

    it('answers msg.action "get" with the current records, one device with msg.deviceId, and refuses other actions', async () => {
      await helper.load(NODES, [app, monitor({ silentAfter: 60, summaryEvery: 0 }), { id: 'out', type: 'helper' }, { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] }, { id: 'caught', type: 'helper' }], creds)
      const out = collect(helper.getNode('out'))
      const caught = collect(helper.getNode('caught'))
      await ready()
      await up('dev1')
      await up('dev1', 1)
      await up('dev2')
      const mon = helper.getNode('mon')
      await waitFor(() => (mon as unknown as { receive: unknown }) !== undefined)
      await delay(100)
      mon.receive({ action: 'get', topic: 'ask' })
      await waitFor(() => out.length === 1, 3000, 'records')
      const all = out[0].payload as { deviceId: string; received: number; lost: number }[]
      assert.equal(out[0].topic, 'ask', 'the input message is answered')
      assert.deepEqual(all.map((r) => [r.deviceId, r.received, r.lost]).sort(), [['dev1', 2, 1], ['dev2', 1, 0]])
      mon.receive({ action: 'get', deviceId: 'dev1' })
      mon.receive({ action: 'get', deviceId: 'nobody' })
      await waitFor(() => out.length === 3, 3000, 'one record')
      assert.equal((out[1].payload as { deviceId: string }).deviceId, 'dev1')
      assert.equal(out[2].payload, null)
      mon.receive({ action: 'reset' })
      await waitFor(() => caught.length === 1, 3000, 'catch')
      assert.match(String((caught[0].error as { message: string }).message), /ttn-health\.errors\.action/)
    })

    it('keeps the records across a redeploy of the monitor and a full deploy', async () => {
      const flow = [app, monitor({ silentAfter: 60 }), { id: 'out', type: 'helper' }]
      await helper.load(NODES, flow, creds)
      await ready()
      await up('dev1')
      await up('dev1', 3)
      await delay(200)
      const ask = async () => {
        const out = collect(helper.getNode('out'))
        helper.getNode('mon').receive({})
        await waitFor(() => out.length === 1, 3000, 'records')
        return out[0].payload as { deviceId: string; received: number; lost: number }[]
      }
      assert.deepEqual((await ask()).map((r) => [r.received, r.lost]), [[2, 3]])
      await helper.setFlows([app, monitor({ silentAfter: 30 }), { id: 'out', type: 'helper' }], 'nodes', creds)
      await up('dev1')
      await delay(200)
      assert.deepEqual((await ask()).map((r) => [r.received, r.lost]), [[3, 3]])
      await helper.setFlows([{ ...app, name: 'renamed' }, monitor({ silentAfter: 30 }), { id: 'out', type: 'helper' }], 'full', creds)
      await ready()
      await delay(300)
      await up('dev1')
      await delay(200)
      assert.deepEqual((await ask()).map((r) => [r.received, r.lost]), [[4, 3]])
    })

    it('says plainly that it cannot judge health in a shared subscription group, and sends nothing', async () => {
      const sharedApp = { ...app, broker: 'generic', topicPrefix: 'ttn/app1', sharedGroup: 'workers' }
      await helper.load(NODES, [sharedApp, monitor(), { id: 'out', type: 'helper' }], creds)
      const mon = helper.getNode('mon')
      const status = record(mon, 'status')
      await delay(300)
      const logged = JSON.stringify(helper.log().getCalls?.().map((c) => c.args) ?? [])
      assert.match(logged, /"id":"mon"[^}]*"msg":"ttn-health\.errors\.shared"/)
      // Whatever the connection does meanwhile, the status keeps saying why the monitor is idle.
      assert.ok(status.every((s) => (s[0] as { text?: string }).text === 'ttn-health.status.shared'), JSON.stringify(status))
      const out = collect(helper.getNode('out'))
      mon.receive({ action: 'get' })
      await delay(100)
      assert.deepEqual(out, [])
    })

    it('says so when the silent time is not a number', async () => {
      await helper.load(NODES, [app, monitor({ silentAfter: 'soon' })], creds)
      await delay(100)
      const logged = JSON.stringify(helper.log().getCalls?.().map((c) => c.args) ?? [])
      assert.match(logged, /"id":"mon"[^}]*"msg":"ttn-health\.errors\.silentAfter"/)
    })
  })

  describe('ttn-gateway', () => {
    let gs: GatewayServerStandIn
    beforeEach(async () => {
      gs = await GatewayServerStandIn.start({
        gateways: ['gw-roof', 'gw-basement'],
        statusEveryMs: 0,
        keys: [
          { key: GW_KEY, kind: 'user', owner: 'alice', gatewayIds: ['gw-roof', 'gw-basement'] },
          { key: KEY, kind: 'application', owner: 'app1' },
        ],
      })
    })
    afterEach(() => gs.stop())
    const gateway = (extra: object = {}) => ({ id: 'gw', type: 'ttn-gateway', server: gs.url, app: '', gatewayIds: 'gw-roof, gw-basement', interval: 60, stats: false, wires: [['out']], ...extra })

    it('sends gateway/online for each gateway, gateway/offline when one disconnects, and answers an input with gateway/stats', async () => {
      await helper.load(NODES, [gateway(), { id: 'out', type: 'helper' }], { gw: { apiKey: GW_KEY } })
      const out = collect(helper.getNode('out'))
      const status = record(helper.getNode('gw'), 'status')
      await waitFor(() => out.length === 2, 5000, 'online')
      assert.deepEqual(out.map((m) => `${m.event} ${m.gatewayId}`).sort(), ['gateway/online gw-basement', 'gateway/online gw-roof'])
      gs.disconnect('gw-basement')
      helper.getNode('gw').receive({ topic: 'check' })
      await waitFor(() => out.length === 5, 5000, 'offline and stats')
      const rest = out.slice(2).map((m) => `${m.event} ${m.gatewayId}`)
      assert.deepEqual(rest, ['gateway/offline gw-basement', 'gateway/stats gw-roof', 'gateway/stats gw-basement'])
      const offline = out[2].payload as { online: boolean; reason: string; previous: string }
      assert.deepEqual([offline.online, offline.reason, offline.previous], [false, 'not-connected', 'online'])
      assert.equal(out[3].topic, 'gateway/stats')
      await waitFor(() => status.some((s) => (s[0] as { text?: string; fill?: string }).text === 'ttn-health.status.gateways' && (s[0] as { fill?: string }).fill === 'yellow'), 3000, 'status')
    })

    it('says plainly that an application key cannot read gateway status: status, and one Catch message, not one per poll', async () => {
      await helper.load(
        NODES,
        [gateway(), { id: 'out', type: 'helper' }, { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] }, { id: 'caught', type: 'helper' }],
        { gw: { apiKey: KEY } },
      )
      const caught = collect(helper.getNode('caught'))
      const out = collect(helper.getNode('out'))
      const status = record(helper.getNode('gw'), 'status')
      await waitFor(() => caught.length === 1, 5000, 'catch')
      for (let i = 0; i < 3; i++) helper.getNode('gw').receive({})
      await waitFor(() => gs.requests.length >= 4, 3000, 'more polls')
      await delay(200)
      assert.equal(caught.length, 1, 'one Catch message per problem, not one per poll')
      const msg = String((caught[0].error as { message: string }).message)
      assert.match(msg, /RIGHT_GATEWAY_STATUS_READ/)
      assert.match(msg, /application "app1"/)
      assert.equal(caught[0].event, 'gateway/error')
      assert.equal((caught[0].payload as { kind: string }).kind, 'forbidden')
      assert.ok(status.some((s) => (s[0] as { text?: string }).text === 'ttn-health.status.gwForbidden'))
      assert.equal(out.filter((m) => m.event !== 'gateway/stats').length, 0, 'no online/offline from refused polls')
    })

    it('takes the server from an application node: its HTTP API root (https://<MQTT host> without apiUrl)', async () => {
      await helper.load(
        NODES,
        [app, gateway({ server: '', app: 'app' }), { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] }, { id: 'caught', type: 'helper' }],
        { app: { apiKey: KEY }, gw: { apiKey: GW_KEY } },
      )
      const caught = collect(helper.getNode('caught'))
      await waitFor(() => caught.length === 1, 8000, 'catch')
      // The simulated application has no HTTPS API on its host: the poller asked https://127.0.0.1 and says what failed.
      const problem = caught[0].payload as { kind: string; message: string }
      assert.ok(['network', 'tls', 'timeout'].includes(problem.kind), problem.kind)
      assert.match(problem.message, /127\.0\.0\.1/)
      assert.equal(gs.requests.length, 0)
    })

    it('refuses an interval under 30 s and bad gateway IDs at deploy, with a message that says what to fix', async () => {
      await helper.load(NODES, [gateway({ interval: 5 }), { ...gateway({ gatewayIds: 'B827EBFFFE000001' }), id: 'gw2' }], { gw: { apiKey: GW_KEY }, gw2: { apiKey: GW_KEY } })
      await delay(100)
      const logged = JSON.stringify(helper.log().getCalls?.().map((c) => c.args) ?? [])
      assert.match(logged, /ttn-health\.errors\.interval/)
      assert.match(logged, /not its EUI/)
      assert.equal(gs.requests.length, 0)
    })
  })

  it('has every text the health nodes use in the message catalog', () => {
    const repo = join(__dirname, '..', '..', '..')
    const catalog = JSON.parse(readFileSync(join(repo, 'nodes', 'locales', 'en-US', 'ttn-health.json'), 'utf8')) as Record<string, unknown>
    const sources = ['src/nodes/ttn-monitor.ts', 'src/nodes/ttn-gateway.ts', 'nodes/ttn-health.html'].map((f) => readFileSync(join(repo, f), 'utf8')).join('\n')
    const keys = new Set(sources.match(/ttn-health\.[a-zA-Z]+\.[a-zA-Z]+/g) ?? [])
    assert.ok(keys.size > 20, `found ${keys.size} keys`)
    for (const key of keys) {
      const value = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], catalog)
      assert.equal(typeof value, 'string', `${key} is in ttn-health.json`)
    }
  })
})

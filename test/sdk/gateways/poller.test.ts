import assert from 'node:assert/strict'
import { GatewayPoller, type GatewayPollerOptions, type GatewayProblem, type GatewayReport, judgeGateway, parseGatewayIds } from '../../../src/sdk/gateways'
import { GatewayServerStandIn } from '../../../src/simulator/gateway-server'
import { delay, waitFor } from '../../support/wait'

const GW_KEY = 'NNSXS.GWKEYROOF0000000000.0000000000000000000000000000000000000000000000000000'
const USER_KEY = 'NNSXS.USERKEY00000000000.0000000000000000000000000000000000000000000000000000'
const APP_KEY = 'NNSXS.APPKEY000000000000.0000000000000000000000000000000000000000000000000000'

interface Seen {
  events: string[]
  reports: GatewayReport[]
  problems: GatewayProblem[]
  resolved: number
}

describe('gateway poller against the Gateway Server stand-in', function () {
  this.timeout(15_000)
  let gs: GatewayServerStandIn
  const pollers: GatewayPoller[] = []
  beforeEach(async () => {
    gs = await GatewayServerStandIn.start({
      gateways: ['gw-roof', 'gw-basement', 'gw-cellar'],
      offline: ['gw-cellar'],
      statusEveryMs: 0,
      keys: [
        { key: GW_KEY, kind: 'gateway', owner: 'gw-roof' },
        { key: USER_KEY, kind: 'user', owner: 'alice', gatewayIds: ['gw-roof', 'gw-basement', 'gw-cellar'] },
        { key: APP_KEY, kind: 'application', owner: 'my-app' },
      ],
    })
  })
  afterEach(async () => {
    for (const p of pollers.splice(0)) p.stop()
    await gs.stop()
  })
  const poller = (opts: Partial<GatewayPollerOptions>): { p: GatewayPoller; seen: Seen } => {
    const p = new GatewayPoller({ server: gs.url, apiKey: USER_KEY, gatewayIds: 'gw-roof', minIntervalMs: 0, intervalMs: 100, ...opts })
    const seen: Seen = { events: [], reports: [], problems: [], resolved: 0 }
    p.on('online', (r) => seen.events.push(`online ${r.gatewayId}`))
    p.on('offline', (r) => seen.events.push(`offline ${r.gatewayId} ${r.reason}`))
    p.on('stats', (r) => seen.reports.push(r))
    p.on('problem', (x) => seen.problems.push(x))
    p.on('resolved', () => seen.resolved++)
    pollers.push(p)
    return { p, seen }
  }

  it('reports one gateway online, offline when it disconnects (404), online when it is back: on changes only', async () => {
    const { p, seen } = poller({ apiKey: GW_KEY })
    p.start()
    await waitFor(() => seen.reports.length >= 3, 3000, 'three polls')
    assert.deepEqual(seen.events, ['online gw-roof'])
    assert.equal(seen.reports[0].previous, 'unknown')
    assert.equal(seen.reports[0].stats?.protocol, 'udp')
    assert.ok(gs.requests.every((r) => r.method === 'GET' && r.path === '/api/v3/gs/gateways/gw-roof/connection/stats'))
    gs.disconnect('gw-roof')
    await waitFor(() => seen.events.length === 2, 3000, 'offline')
    assert.deepEqual(seen.events, ['online gw-roof', 'offline gw-roof not-connected'])
    const offline = seen.reports.at(-1)!
    assert.deepEqual([offline.online, offline.previous, offline.stats], [false, 'online', undefined])
    gs.connect('gw-roof')
    await waitFor(() => seen.events.length === 3, 3000, 'online again')
    assert.equal(seen.events[2], 'online gw-roof')
    assert.deepEqual(p.status, { state: 'ok', online: 1, offline: 0 })
  })

  it('asks for several gateways in one batch request; those not connected are offline', async () => {
    const { p, seen } = poller({ gatewayIds: 'gw-roof, gw-basement gw-cellar' })
    p.start()
    await waitFor(() => seen.events.length === 3, 3000, 'three states')
    assert.deepEqual(seen.events.sort(), ['offline gw-cellar not-connected', 'online gw-basement', 'online gw-roof'])
    const first = gs.requests[0]
    assert.equal(first.method, 'POST')
    assert.equal(first.path, '/api/v3/gs/gateways/connection/stats')
    assert.deepEqual((first.body as { gateway_ids: unknown }).gateway_ids, [{ gateway_id: 'gw-roof' }, { gateway_id: 'gw-basement' }, { gateway_id: 'gw-cellar' }])
    assert.deepEqual(p.status, { state: 'ok', online: 2, offline: 1 })
  })

  it('counts a gateway offline when the server still lists it but its status and uplinks are stale', async () => {
    const { p, seen } = poller({ staleAfterMs: 1500 })
    p.start()
    await waitFor(() => seen.events.length === 1, 3000, 'online')
    gs.uplink('gw-roof')
    gs.freeze('gw-roof')
    await waitFor(() => seen.events.length === 2, 6000, 'stale')
    assert.equal(seen.events[1], 'offline gw-roof stale')
    const r = seen.reports.at(-1)!
    assert.ok(r.stats, 'the server still lists it')
    assert.ok((r.lastSeenAge ?? 0) > 1.5)
  })

  it('says plainly that an application key cannot read gateway status: one problem, no flood, no crash', async () => {
    const { p, seen } = poller({ apiKey: APP_KEY, gatewayIds: ['gw-roof', 'gw-basement'] })
    p.start()
    await waitFor(() => gs.requests.filter((r) => r.status === 403).length >= 4, 5000, 'several refused polls')
    assert.equal(seen.problems.length, 1)
    const problem = seen.problems[0]
    assert.equal(problem.kind, 'forbidden')
    assert.equal(problem.status, 403)
    assert.match(problem.message, /RIGHT_GATEWAY_STATUS_READ/)
    assert.match(problem.message, /application "my-app"/)
    assert.match(problem.message, /gateway API key/)
    assert.deepEqual(seen.events, [])
    assert.equal(p.status.state, 'error')
  })

  it('names the gateway a key may not read when a batch is refused', async () => {
    const { p, seen } = poller({ apiKey: GW_KEY, gatewayIds: ['gw-roof', 'gw-basement'] })
    p.start()
    await waitFor(() => seen.problems.length === 1 && seen.events.length === 1, 3000, 'problem and the readable gateway')
    assert.equal(seen.problems[0].gatewayId, 'gw-basement')
    assert.match(seen.problems[0].message, /gateway "gw-basement"/)
    assert.deepEqual(seen.events, ['online gw-roof'])
  })

  it('backs off on 429 for as long as the server asks, then resumes and says so', async () => {
    const { p, seen } = poller({})
    gs.rateLimitNext(2, 1)
    p.start()
    await waitFor(() => seen.problems.length === 1, 3000, '429')
    assert.equal(seen.problems[0].kind, 'rate-limited')
    assert.ok(seen.problems[0].retryInMs >= 1000)
    assert.match(seen.problems[0].message, /429/)
    await waitFor(() => seen.resolved === 1, 8000, 'resolved')
    assert.equal(seen.problems.length, 1, 'the second 429 is the same problem')
    assert.equal(gs.requests.filter((r) => r.status === 429).length, 2)
    assert.deepEqual(seen.events, ['online gw-roof'])
  })

  it('reports a refused key (401) and an unreachable server once each, and keeps polling', async () => {
    const bad = poller({ apiKey: 'NNSXS.NOPE' })
    bad.p.start()
    await waitFor(() => bad.seen.problems.length === 1, 3000, '401')
    assert.equal(bad.seen.problems[0].kind, 'unauthorized')
    assert.doesNotMatch(bad.seen.problems[0].message, /NNSXS\.NOPE/)
    const gone = poller({ server: 'http://127.0.0.1:1' })
    gone.p.start()
    await waitFor(() => gone.seen.problems.length === 1, 3000, 'network')
    assert.equal(gone.seen.problems[0].kind, 'network')
    await delay(400)
    assert.equal(gone.seen.problems.length, 1)
  })

  it('refuses unusable options with a message that says what to fix', () => {
    assert.throws(() => new GatewayPoller({ server: gs.url, apiKey: '', gatewayIds: 'gw-roof' }), /API key is missing/)
    assert.throws(() => new GatewayPoller({ server: gs.url, apiKey: GW_KEY, gatewayIds: 'B827EBFFFE000001' }), /not valid/)
    assert.throws(() => new GatewayPoller({ server: gs.url, apiKey: GW_KEY, gatewayIds: ' , ' }), /No gateway ID/)
    assert.throws(() => new GatewayPoller({ server: 'ftp://x', apiKey: GW_KEY, gatewayIds: 'gw-roof' }), /https:\/\//)
    assert.equal(new GatewayPoller({ server: gs.url, apiKey: GW_KEY, gatewayIds: 'gw-roof', intervalMs: 5000 }).intervalMs, 30_000)
    assert.equal(new GatewayPoller({ server: 'eu1.cloud.thethings.network', apiKey: GW_KEY, gatewayIds: 'gw-roof' }).root, 'https://eu1.cloud.thethings.network')
    assert.deepEqual(parseGatewayIds('a-gw, b-gw\na-gw'), ['a-gw', 'b-gw'])
  })
})

describe('gateway state from connection statistics', () => {
  const now = Date.parse('2026-12-01T12:00:00Z')
  it('is online with fresh status or uplink, stale past the limit, offline without statistics', () => {
    assert.deepEqual(judgeGateway(undefined, now), { online: false, reason: 'not-connected' })
    assert.equal(judgeGateway({ connected_at: '2026-12-01T11:00:00Z' }, now).online, true)
    const fresh = judgeGateway({ last_status_received_at: '2026-12-01T11:59:30Z', last_uplink_received_at: '2026-12-01T11:50:00Z' }, now)
    assert.deepEqual(fresh, { online: true, lastSeen: '2026-12-01T11:59:30.000Z', lastSeenAge: 30 })
    const stale = judgeGateway({ last_status_received_at: '2026-12-01T11:56:00Z' }, now)
    assert.deepEqual([stale.online, stale.reason, stale.lastSeenAge], [false, 'stale', 240])
    assert.equal(judgeGateway({ last_status_received_at: '2026-12-01T11:56:00Z' }, now, 300_000).online, true)
  })
})

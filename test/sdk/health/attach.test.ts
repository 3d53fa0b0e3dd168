// The tracker beside a real SDK client, fed over MQTT by the simulator's devices (with losses, counter
// restarts, gateways off the air and silences) and by recovery from the Storage Integration stand-in.
import assert from 'node:assert/strict'
import { MQTTClient, type MQTTClientOptions } from '../../../src'
import { type HealthEvent, healthTrackerFor } from '../../../src/sdk/health'
import { StorageStandIn, TtsBroker } from '../../../src/simulator'
import { DeviceSimulator, environmentSensor } from '../../../src/simulator/devices'
import { prng } from '../../support/prng'
import { delay, onceWithin, waitFor } from '../../support/wait'

const KEY = 'NNSXS.HEALTHATTACH.KEY'
const USERNAME = 'app1@ttn'

describe('health tracker beside an SDK client (simulated devices over MQTT)', function () {
  this.timeout(20_000)
  let broker: TtsBroker
  let storage: StorageStandIn | undefined
  let sim: DeviceSimulator | undefined
  const clients: MQTTClient[] = []
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
  })
  afterEach(async () => {
    sim?.stop()
    sim = undefined
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await storage?.stop()
    storage = undefined
    await broker.stop()
  })
  const client = (options: MQTTClientOptions = {}) => {
    const c = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, { tenant: 'ttn', ...options })
    clients.push(c)
    return c
  }
  const subscribed = async (c: MQTTClient) => {
    if (!c.connected) await onceWithin(c, 'connect')
    await waitFor(() => broker.subscriptionsOf(c.clientId).some((f) => f.endsWith('/up')), 3000, 'the up subscription')
    await waitFor(() => broker.subscriptionsOf(c.clientId).some((f) => f.endsWith('/join')), 3000, 'the join subscription')
  }
  const devices = (opts: Partial<ConstructorParameters<typeof DeviceSimulator>[0]>) => {
    sim = new DeviceSimulator({ broker, username: USERNAME, devices: [environmentSensor('dev1')], intervalMs: 30, rejoinChance: 0, random: prng(11), ...opts })
    return sim
  }

  it('is one tracker per client, listening only while watched (after a grace), with the connection state', async () => {
    const c = client()
    const t = healthTrackerFor(c)
    assert.equal(healthTrackerFor(c), t)
    assert.notEqual(healthTrackerFor(client({ autoConnect: false })), t)
    await onceWithin(c, 'connect')
    assert.equal(c.listenerTotal, 0, 'nothing listens before a watch')
    const w = t.watch({}, () => undefined)
    await subscribed(c)
    assert.ok(t.connected)
    assert.equal(c.listenerTotal, 2) // uplinks and joins
    w.close()
    assert.equal(c.listenerTotal, 2, 'kept for a redeploy')
  })

  it('counts what the devices lost on the air from the frame counters, exactly', async () => {
    const c = client()
    const t = healthTrackerFor(c)
    const w = t.watch({}, () => undefined)
    await subscribed(c)
    const s = devices({ lossChance: 0.3 })
    s.start()
    await waitFor(() => s.counts.uplinks >= 40, 8000, '40 uplinks')
    s.stop()
    await waitFor(() => t.get('dev1')?.received === s.counts.uplinks, 3000, 'all delivered')
    const r = t.get('dev1')!.snapshot()
    assert.ok(r.lost > 0)
    // Every counter up to the last one received was either received or lost; losses after it cannot be known yet.
    assert.equal(r.received + r.lost, r.fCnt + 1)
    assert.ok(r.lost <= s.counts.lost)
    assert.deepEqual([r.joins, r.resets], [1, 0])
    w.close()
  })

  it('does not count counter restarts, or a gateway off the air, as anything but what they are', async () => {
    const c = client()
    const t = healthTrackerFor(c)
    const w = t.watch({}, () => undefined)
    await subscribed(c)
    let online = true
    const heard: string[] = []
    // One options object, changed while the devices run (the simulator reads it on every uplink).
    const opts = { broker, username: USERNAME, devices: [environmentSensor('dev1')], intervalMs: 30, rejoinChance: 0, random: prng(11), resetChance: 0.15, gatewayOnline: (id: string) => online || id !== 'sim-gateway-roof', onGatewayUplink: (id: string) => heard.push(id) }
    const s = new DeviceSimulator(opts)
    sim = s
    s.start()
    await waitFor(() => s.counts.resets >= 2 && s.counts.uplinks >= 20, 8000, 'resets')
    opts.resetChance = 0
    online = false // the roof gateway goes down: only uplinks the basement gateway hears arrive
    await waitFor(() => s.counts.lost >= 3, 8000, 'lost while the roof gateway is down')
    online = true
    const uplinks = s.counts.uplinks
    await waitFor(() => s.counts.uplinks >= uplinks + 5, 8000, 'more uplinks')
    s.stop()
    await waitFor(() => t.get('dev1')?.received === s.counts.uplinks, 3000, 'all delivered')
    const r = t.get('dev1')!.snapshot()
    assert.deepEqual([r.resets, r.lost, r.repeated], [s.counts.resets, s.counts.lost, 0])
    assert.ok(heard.includes('sim-gateway-basement') && heard.includes('sim-gateway-roof'))
    w.close()
  })

  it('reports a device that goes silent and comes back, through the client', async () => {
    const c = client()
    const t = healthTrackerFor(c, { learning: { minSilentMs: 100 } })
    const events: HealthEvent[] = []
    const w = t.watch({ silentAfterMs: 0 }, (e) => events.push(e))
    await subscribed(c)
    const s = devices({ intervalMs: 60, silences: [{ deviceId: 'dev1', afterMs: 800, forMs: 1500 }] })
    s.start()
    const backs = () => events.filter((e) => e.event === 'device/back').map((e) => e.payload as { away: number; lost: number })
    // (A busy machine may stall the devices long enough for a short silence of its own: the long one is the planned one.)
    await waitFor(() => backs().some((b) => b.away >= 1), 8000, 'device/back after the silence')
    s.stop()
    const names = events.map((e) => e.event).filter((e) => e.startsWith('device/'))
    assert.deepEqual(names.slice(0, 2), ['device/silent', 'device/back'])
    const silences = names.filter((n) => n === 'device/silent').length
    assert.ok(silences - backs().length <= 1 && silences >= backs().length, 'each silence reported once, each return once')
    assert.ok(backs().every((b) => b.lost === 0), 'a device that sent nothing lost nothing')
    w.close()
  })

  it('counts uplinks recovered from the Storage Integration as received: the gap they fill is not loss', async () => {
    storage = await StorageStandIn.start({ applications: [{ appId: 'app1', apiKey: KEY }], broker })
    const c = client({
      reconnect: { minDelayMs: 400, maxDelayMs: 400, jitter: 0 },
      recover: { enabled: true, baseUrl: storage.url, settleMs: 100, retry: { minDelayMs: 50, maxDelayMs: 200 } },
    })
    const t = healthTrackerFor(c)
    const w = t.watch({}, () => undefined)
    await subscribed(c)
    for (let i = 0; i < 3; i++) {
      await broker.publishUplink(USERNAME, 'dev1')
      await delay(2)
    }
    await waitFor(() => t.get('dev1')?.received === 3, 3000, '3 live')
    broker.disconnectAll()
    await waitFor(() => broker.connectionCount() === 0 && !c.connected, 2000, 'the drop')
    for (let i = 0; i < 4; i++) {
      await broker.publishUplink(USERNAME, 'dev1')
      await delay(2)
    }
    await subscribed(c)
    await waitFor(() => t.get('dev1')?.received === 7, 5000, '4 recovered')
    await broker.publishUplink(USERNAME, 'dev1')
    await waitFor(() => t.get('dev1')?.received === 8, 3000, 'live again')
    const r = t.get('dev1')!.snapshot()
    assert.deepEqual([r.received, r.recovered, r.lost], [8, 4, 0])
    w.close()
  })
})

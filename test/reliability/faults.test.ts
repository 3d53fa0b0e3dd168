/**
 * Faults: the broker dies and comes back, refuses the key, or goes silent; downlinks are sent while
 * offline. Every claim of the README's Reliability section that concerns faults is checked here.
 */
import assert from 'node:assert/strict'
import { Backoff } from '../../src/sdk/backoff'
import { MQTTClient } from '../../src/sdk/client'
import type { ConnectionStatus } from '../../src/sdk/client'
import { ConnectResult } from '../../src/sdk/connack'
import { TtsBroker } from '../../src/simulator'
import { catchNode, collect, helper, record, ttnNodes } from '../support/node-red'
import { TcpProxy, startSilentServer } from '../support/tcp-proxy'
import { delay, onceWithin, waitFor } from '../support/wait'

const KEY = 'NNSXS.FAULTS.TESTKEY'
const apps = [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }]

describe('reliability: faults', function () {
  this.timeout(60_000)

  describe('broker killed mid-stream and restarted', () => {
    let broker: TtsBroker
    afterEach(async () => {
      await helper.unload()
      await broker.stop()
    })

    it('SDK: reconnects within its back-off bounds every time, re-subscribes once, and delivers every later uplink exactly once', async () => {
      broker = await TtsBroker.start({ applications: apps })
      const port = broker.port
      const client = new MQTTClient('app1', KEY, `127.0.0.1:${port}`, { tenant: 'ttn', reconnect: { minDelayMs: 20, maxDelayMs: 300 } })
      const counts = new Map<number, number>()
      client.setUplinkCallback((m) => {
        const n = (m as { uplink_message: { f_cnt: number } }).uplink_message.f_cnt
        counts.set(n, (counts.get(n) ?? 0) + 1)
      })
      const reconnectDelays: number[] = []
      client.on('status', (s: ConnectionStatus) => {
        if (s.state === 'reconnecting' && s.delayMs !== undefined) reconnectDelays.push(s.delayMs)
      })
      try {
        await onceWithin(client, 'connect')
        let fCnt = 1
        for (let round = 0; round < 8; round++) {
          // Mid-stream: uplinks are flowing when the broker dies.
          const stream = (async () => {
            for (let i = 0; i < 20; i++) await broker.publishUplink('app1@ttn', 'dev1', { f_cnt: 100_000 + round * 100 + i }).catch(() => undefined)
          })()
          await delay(2)
          await broker.stop()
          await stream
          broker = await TtsBroker.start({ port, applications: apps })
          await onceWithin(client, 'connect', 5000)
          await waitFor(() => broker.subscriptionsOf(client.clientId).length === 1, 2000, 'resubscribed')
          assert.deepEqual(broker.subscriptionsOf(client.clientId), ['v3/app1@ttn/devices/+/up'])
          for (let i = 0; i < 25; i++) await broker.publishUplink('app1@ttn', 'dev1', { f_cnt: fCnt++ })
        }
        await waitFor(() => [...counts.keys()].filter((k) => k < 100_000).length === fCnt - 1, 5000, 'all uplinks after restarts')
        await delay(100)
        for (let n = 1; n < fCnt; n++) assert.equal(counts.get(n), 1, `uplink ${n} arrived ${counts.get(n) ?? 0} times`)
        assert.ok(reconnectDelays.length >= 8)
        assert.ok(reconnectDelays.every((d) => d <= 300), `delays within the cap: ${reconnectDelays.join(',')}`)
      } finally {
        await client.close()
      }
    })

    it('Node-RED: status goes connected → reconnecting → connected and uplinks reach the flow once after each restart', async () => {
      broker = await TtsBroker.start({ applications: apps })
      const port = broker.port
      const flow = [
        { id: 'cfg', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${port}`, tls: false },
        { id: 'up', type: 'ttn-uplink', app: 'cfg', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ]
      await helper.load(ttnNodes, flow, { cfg: { apiKey: KEY } })
      const msgs = collect(helper.getNode('out'))
      await waitFor(() => broker.connectionCount('app1@ttn') === 1, 5000, 'connected')
      const statuses = record(helper.getNode('up'), 'status')
      for (let round = 0; round < 3; round++) {
        statuses.length = 0
        await broker.stop()
        broker = await TtsBroker.start({ port, applications: apps })
        // Once an uplink has arrived the uplink node reads "connected · last hh:mm" (ttn.status.connectedLast).
        const connected = round === 0 ? 'ttn.status.connected' : 'ttn.status.connectedLast'
        await waitFor(() => statuses.some((s) => (s[0] as { text?: string }).text === connected), 10_000, 'connected again')
        const texts = statuses.map((s) => (s[0] as { text?: string }).text)
        assert.equal(texts[0], 'ttn.status.reconnecting')
        assert.equal(texts[texts.length - 1], connected)
        await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).length === 1), 3000, 'resubscribed')
        await broker.publishUplink('app1@ttn', 'dev1', { f_cnt: round + 1 })
        await waitFor(() => msgs.length === round + 1, 3000, 'uplink in flow')
      }
      await delay(150)
      assert.deepEqual(msgs.map((m) => m.counter), [1, 2, 3])
      assert.equal(broker.connectionCount(), 1)
    })
  })

  describe('the broker refuses the key (CONNACK 5)', () => {
    let broker: TtsBroker | undefined
    afterEach(async () => {
      await helper.unload()
      await broker?.stop()
    })

    it('with the default back-off, attempts in the first minute stay few, whatever the jitter', () => {
      for (const r of [0, 0.5, 1]) {
        const b = new Backoff({}, () => r)
        let t = 0
        let attempts = 1
        while (true) {
          t += b.next()
          if (t > 60_000) break
          attempts++
        }
        assert.ok(attempts <= 8, `${attempts} attempts in a minute with jitter draw ${r}`)
      }
    })

    it('shows not authorized, logs the hint once, backs off (counted at the broker), and connects at once after the key is corrected', async () => {
      const b = await TtsBroker.start({ applications: apps })
      broker = b
      const flow = (key?: string) => [
        { id: 'cfg', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${b.port}`, tls: false, ...(key ? { credentials: { apiKey: key } } : {}) },
        { id: 'up', type: 'ttn-uplink', app: 'cfg', wires: [] },
      ]
      await helper.load(ttnNodes, flow(), { cfg: { apiKey: 'NNSXS.REVOKED.KEY' } })
      const cfgErrors = record(helper.getNode('cfg'), 'error')
      const statuses = record(helper.getNode('up'), 'status')
      const start = Date.now()
      await delay(6000)
      const refused = b.connectAttempts.filter((a) => a.returnCode === ConnectResult.NotAuthorized)
      // Default back-off: 0, then >= 0.5 s, >= 1 s, >= 2 s ... apart: at most 5 attempts in 6 s.
      assert.ok(refused.length >= 2 && refused.length <= 5, `${refused.length} attempts in ${Date.now() - start} ms`)
      const gaps = refused.slice(1).map((a, i) => a.at - refused[i].at)
      for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] > gaps[i - 1] * 0.9, `growing gaps: ${gaps.join(', ')}`)
      assert.ok(statuses.some((s) => (s[0] as { text?: string }).text === 'ttn.status.notAuthorized'))
      const logged = (helper._logSpy?.getCalls() ?? []).map((c) => JSON.stringify(c.args)).filter((l) => l.includes('ttn.errors.notAuthorized'))
      assert.equal(logged.length, 1, 'the hint is logged once, not once per attempt')
      assert.ok(cfgErrors.length <= 1)

      const before = b.connectAttempts.length
      const deployedAt = Date.now()
      await helper.setFlows(flow(KEY), 'nodes')
      await waitFor(() => b.connectionCount('app1@ttn') === 1, 2000, 'connected right after the corrected deploy')
      const next = b.connectAttempts.slice(before)
      assert.equal(next[0].returnCode, 0, 'the first attempt with the new key succeeds')
      assert.ok(next[0].at - deployedAt < 1000, 'no back-off delay carried over from the refused key')
    })
  })

  describe('the broker goes silent', () => {
    afterEach(() => helper.unload())

    it('SDK: a server that never sends CONNACK times out, is retried, and close() does not hang', async () => {
      const silent = await startSilentServer()
      const client = new MQTTClient('app1', KEY, `127.0.0.1:${silent.port}`, {
        tenant: 'ttn',
        connectTimeoutMs: 300,
        reconnect: { minDelayMs: 50, maxDelayMs: 100 },
      })
      const results: number[] = []
      client.setConnectCallback((res) => results.push(res))
      try {
        await waitFor(() => results.length >= 2, 5000, 'two timed-out attempts')
        assert.ok(results.every((r) => r === ConnectResult.Timeout))
        assert.ok(silent.connections() >= 2)
        assert.match(client.status.hint ?? '', /No answer/)
      } finally {
        const t0 = Date.now()
        await client.close()
        assert.ok(Date.now() - t0 < 3000, 'close() returned promptly')
        await silent.stop()
      }
    })

    it('SDK: a link that goes silent after connecting is detected by keepalive and recovered', async () => {
      const broker = await TtsBroker.start({ applications: apps })
      const proxy = await TcpProxy.start(broker.port)
      const client = new MQTTClient('app1', KEY, `127.0.0.1:${proxy.port}`, {
        tenant: 'ttn',
        keepalive: 1,
        connectTimeoutMs: 500,
        reconnect: { minDelayMs: 50, maxDelayMs: 200 },
      })
      const got: unknown[] = []
      client.setUplinkCallback((m) => got.push(m))
      try {
        await onceWithin(client, 'connect')
        proxy.goSilent()
        await onceWithin(client, 'close', 8000)
        proxy.resume()
        proxy.cutAll()
        await onceWithin(client, 'connect', 8000)
        await waitFor(() => broker.subscriptionsOf(client.clientId).length === 1, 3000, 'resubscribed')
        await broker.publishUplink('app1@ttn', 'dev1')
        await waitFor(() => got.length === 1, 3000, 'uplink after recovery')
      } finally {
        await client.close()
        await proxy.stop()
        await broker.stop()
      }
    })

    it('Node-RED: deploys and shutdown complete quickly while the server is silent', async () => {
      const silent = await startSilentServer()
      try {
        const flow = [
          { id: 'cfg', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${silent.port}`, tls: false },
          { id: 'up', type: 'ttn-uplink', app: 'cfg', wires: [] },
          { id: 'down', type: 'ttn-downlink', app: 'cfg', deviceId: 'dev1', wires: [[]] },
        ]
        await helper.load(ttnNodes, flow, { cfg: { apiKey: KEY } })
        await waitFor(() => silent.connections() >= 1, 3000, 'a connection attempt')
        const t0 = Date.now()
        await helper.setFlows([{ id: 'h', type: 'helper' }], 'full')
        const t1 = Date.now()
        assert.ok(t1 - t0 < 5000, `full deploy took ${t1 - t0} ms (Node-RED allows 15 s)`)
      } finally {
        await silent.stop()
      }
    })
  })

  describe('downlinks while offline', () => {
    let broker: TtsBroker
    afterEach(async () => {
      await helper.unload()
      await broker.stop()
    })

    it('queues up to 100 and sends them after reconnect; the rest go to Catch; nothing is silently lost', async () => {
      broker = await TtsBroker.start({ applications: apps })
      const port = broker.port
      const flow = [
        { id: 'cfg', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${port}`, tls: false },
        { id: 'down', type: 'ttn-downlink', app: 'cfg', deviceId: 'dev1', port: 1, schedule: 'last', wires: [['outcome']] },
        { id: 'outcome', type: 'helper' },
        { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ]
      await helper.load([ttnNodes, catchNode], flow, { cfg: { apiKey: KEY } })
      const caught = collect(helper.getNode('caught'))
      await waitFor(() => broker.connectionCount('app1@ttn') === 1, 5000, 'connected')
      await broker.stop()
      await delay(50)
      const down = helper.getNode('down')
      for (let i = 0; i < 105; i++) down.receive({ payload: [i], seq: i })
      await waitFor(() => caught.length === 5, 3000, 'the 5 over the bound are caught')
      for (const c of caught) assert.match((c.error as { message: string }).message, /already waiting \(limit 100\)/)
      assert.deepEqual(caught.map((c) => c.seq), [100, 101, 102, 103, 104])
      broker = await TtsBroker.start({ port, applications: apps })
      await waitFor(() => broker.downlinks.length === 100, 10_000, 'the queued 100 after reconnect')
      const bytes = broker.downlinks.map((d) => Buffer.from((d.body as { downlinks: { frm_payload: string }[] }).downlinks[0].frm_payload, 'base64')[0])
      assert.deepEqual(bytes, [...Array(100).keys()], 'in order, each once')
    })
  })
})

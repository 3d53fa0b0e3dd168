import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { V3DownlinkRequest } from '../../src/sdk/messages'
import { TtsBroker } from '../../src/simulator'
import { FIXTURE_DIR } from '../fixtures'
import { catchNode, collect, helper, ttnNodes } from '../support/node-red'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.CODECTEST.SECRETKEY'
const REPO = join(FIXTURE_DIR, 'device-repository')
const CLIMATE = {
  brand_id: 'tinkerworks',
  model_id: 'climate-pro',
  firmware_version: '1.0',
  hardware_version: 'A',
  band_id: 'EU_863_870',
}
const VALVE = {
  brand_id: 'tinkerworks',
  model_id: 'valve-controller',
  firmware_version: '1.2',
  band_id: 'EU_863_870',
}
const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64')
const MEASUREMENT = b64([0x00, 0x08, 0x7a, 0x6e, 0x0c, 0xe4])
const DECODED = { temperature: 21.7, humidity: 55, battery: 3.3, status: [] }

describe('Node-RED: payload codecs run locally', () => {
  let broker: TtsBroker

  const app = (extra: object = {}) => ({
    id: 'app',
    type: 'ttn-app',
    appId: 'app1',
    tenant: 'ttn',
    server: `127.0.0.1:${broker.port}`,
    tls: false,
    api: 'v3',
    codecRepo: REPO,
    ...extra,
  })
  const creds = { app: { apiKey: KEY } }
  const catcher = [
    { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ]

  async function loadUplink(node: object, appExtra: object = {}) {
    await helper.load(
      [ttnNodes, catchNode],
      [
        app(appExtra),
        { id: 'up', type: 'ttn-uplink', app: 'app', wires: [['out']], ...node },
        { id: 'out', type: 'helper' },
        ...catcher,
      ],
      creds,
    )
    const out = collect(helper.getNode('out'))
    const caught = collect(helper.getNode('caught'))
    await waitFor(
      () => broker.clientIds().some((id) => broker.subscriptionsOf(id).includes('v3/app1@ttn/devices/+/up')),
      5000,
      'uplink subscription',
    )
    return { out, caught }
  }

  before(() => helper.startServer())
  after(() => helper.stopServer())
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
  })
  afterEach(async () => {
    await helper.unload()
    await broker.stop()
  })

  describe('ttn-uplink Decode', () => {
    it('server (the default) leaves the message as before: no decodedBy, no codec', async () => {
      const { out } = await loadUplink({})
      await broker.publishUplink('app1@ttn', 'dev1', {
        frm_payload: MEASUREMENT,
        f_port: 1,
        version_ids: CLIMATE,
      })
      await waitFor(() => out.length === 1)
      assert.deepEqual(out[0].payload, Buffer.from(MEASUREMENT, 'base64'))
      assert.equal('decodedBy' in out[0], false)
      assert.equal('codec' in out[0], false)
    })

    it('local, Device Repository: decodes with the codec of the device version, in arrival order', async () => {
      const { out, caught } = await loadUplink({ decode: 'local', codec: 'repository' })
      for (let i = 0; i < 5; i++)
        await broker.publishUplink('app1@ttn', 'dev1', {
          frm_payload: MEASUREMENT,
          f_port: 1,
          f_cnt: i + 1,
          version_ids: CLIMATE,
          decoded_payload: { server: true },
        })
      await waitFor(() => out.length === 5)
      assert.deepEqual(
        out.map((m) => m.counter),
        [1, 2, 3, 4, 5],
      )
      assert.deepEqual(out[0].payload, DECODED)
      assert.deepEqual(out[0].decoded, DECODED)
      assert.equal(out[0].decodedBy, 'local')
      assert.deepEqual(out[0].codec, { name: 'tinkerworks/climate-pro-codec', warnings: [], errors: [] })
      assert.equal(caught.length, 0)
    })

    it('fallback: the server decoded payload when there is one, the local codec when not', async () => {
      const { out } = await loadUplink({ decode: 'fallback', codec: 'repository' })
      await broker.publishUplink('app1@ttn', 'dev1', {
        frm_payload: MEASUREMENT,
        f_port: 1,
        version_ids: CLIMATE,
        decoded_payload: { fromServer: 1 },
      })
      await broker.publishUplink('app1@ttn', 'dev1', {
        frm_payload: MEASUREMENT,
        f_port: 1,
        version_ids: CLIMATE,
      })
      await waitFor(() => out.length === 2)
      assert.deepEqual([out[0].payload, out[0].decodedBy], [{ fromServer: 1 }, 'server'])
      assert.deepEqual([out[1].payload, out[1].decodedBy], [DECODED, 'local'])
    })

    it('puts codec warnings on the message; errors go to Catch naming device and codec, and the uplink still comes with its bytes', async () => {
      const { out, caught } = await loadUplink({ decode: 'local' })
      await broker.publishUplink('app1@ttn', 'dev1', {
        frm_payload: b64([0x05, 0xff, 0x38, 0x50, 0x0b, 0x54]),
        f_port: 1,
        version_ids: CLIMATE,
      })
      await broker.publishUplink('app1@ttn', 'dev1', {
        frm_payload: b64([0x01]),
        f_port: 9,
        version_ids: CLIMATE,
      })
      await waitFor(() => out.length === 2 && caught.length === 1)
      assert.deepEqual((out[0].codec as { warnings: string[] }).warnings, [
        'battery low (2.9 V)',
        'tamper switch open',
      ])
      assert.equal(out[1].decodedBy, undefined)
      assert.deepEqual(out[1].payload, Buffer.from([0x01]))
      assert.deepEqual((out[1].codec as { errors: string[] }).errors, ['unknown FPort 9'])
      // The helper loads no message catalogs: RED._ returns the key (the text is in nodes/locales).
      const error = caught[0].error as { message: string; source: { id: string } }
      assert.equal(error.message, 'ttn.errors.codecFailed')
      assert.equal(error.source.id, 'up')
      assert.deepEqual(caught[0].codec, {
        name: 'tinkerworks/climate-pro-codec',
        warnings: [],
        errors: ['unknown FPort 9'],
      })
      assert.equal(caught[0].deviceId, 'dev1')
    })

    it('reports a device without a codec in the repository once, and still sends its uplinks', async () => {
      const { out, caught } = await loadUplink({ decode: 'local' })
      for (let i = 0; i < 3; i++)
        await broker.publishUplink('app1@ttn', 'dev2', {
          frm_payload: MEASUREMENT,
          f_port: 1,
          version_ids: { ...CLIMATE, model_id: 'unknown-model' },
        })
      await broker.publishUplink('app1@ttn', 'dev3', { frm_payload: MEASUREMENT, f_port: 1 })
      await waitFor(() => out.length === 4)
      await delay(50)
      assert.equal(caught.length, 2)
      assert.deepEqual(
        caught.map((m) => [
          m.deviceId,
          (m.error as { message: string }).message,
          (m.codec as { errors: string[] }).errors,
        ]),
        [
          ['dev2', 'ttn.errors.codecFailed', ['ttn.errors.codecNotInRepository']],
          ['dev3', 'ttn.errors.codecFailed', ['ttn.errors.codecNoVersion']],
        ],
      )
      assert.deepEqual(
        (out[1].codec as { errors: string[] }).errors,
        ['ttn.errors.codecNotInRepository'],
        'every message carries the reason',
      )
      assert.deepEqual(out[2].payload, Buffer.from(MEASUREMENT, 'base64'))
    })

    it('runs JavaScript written in the node; a runaway codec ends with an error and Node-RED carries on', async () => {
      const codecScript =
        'function decodeUplink(input) { if (input.fPort === 99) { for (;;) {} } return { data: { first: input.bytes[0], port: input.fPort } } }'
      const { out, caught } = await loadUplink(
        { decode: 'local', codec: 'javascript', codecScript },
        { codecTimeout: 50 },
      )
      await broker.publishUplink('app1@ttn', 'dev1', { frm_payload: b64([7]), f_port: 99 })
      await broker.publishUplink('app1@ttn', 'dev1', { frm_payload: b64([8]), f_port: 2 })
      await waitFor(() => out.length === 2 && caught.length === 1)
      assert.deepEqual(caught[0].codec, {
        name: 'JavaScript of ttn-uplink up',
        warnings: [],
        errors: ['decodeUplink: ran longer than its time limit (50 ms)'],
      })
      assert.deepEqual(out[1].payload, { first: 8, port: 2 })
      assert.equal(out[1].decodedBy, 'local')
    })

    it('reports JavaScript that does not load, with the reason', async () => {
      const { out, caught } = await loadUplink({
        name: 'broken',
        decode: 'local',
        codec: 'javascript',
        codecScript: 'function decodeUplink(input) {',
      })
      await broker.publishUplink('app1@ttn', 'dev1', { frm_payload: b64([1]), f_port: 1 })
      await waitFor(() => out.length === 1 && caught.length === 1)
      assert.deepEqual((caught[0].codec as { errors: string[] }).errors, ['ttn.errors.codecNotLoaded'])
    })

    it('does not decode FPort 0 (MAC commands only), as the server runs no formatter on it', async () => {
      const { out, caught } = await loadUplink({ decode: 'local', codec: 'cayennelpp' })
      await broker.publishUplink('app1@ttn', 'dev1', { frm_payload: undefined, f_port: 0 })
      await broker.publishUplink('app1@ttn', 'dev1', { frm_payload: b64([0x01, 0x67, 0x00, 0xd2]), f_port: 1 })
      await waitFor(() => out.length === 2)
      assert.equal(out[0].decodedBy, undefined)
      assert.equal('codec' in out[0], false)
      assert.deepEqual(out[1].payload, { temperature_1: 21 })
      assert.equal(caught.length, 0)
    })

    it('decodes Cayenne LPP in the server shape', async () => {
      const { out } = await loadUplink({ decode: 'local', codec: 'cayennelpp' })
      await broker.publishUplink('app1@ttn', 'dev1', {
        frm_payload: b64([0x01, 0x67, 0x00, 0xd2, 0x02, 0x68, 0x61]),
        f_port: 1,
      })
      await waitFor(() => out.length === 1)
      assert.deepEqual(out[0].payload, { temperature_1: 21, relative_humidity_2: 48.5 })
    })

    it('keeps output "bytes" and "message" as they are, with the decoded data in msg.decoded', async () => {
      const { out } = await loadUplink({ decode: 'local', output: 'bytes' })
      await broker.publishUplink('app1@ttn', 'dev1', {
        frm_payload: MEASUREMENT,
        f_port: 1,
        version_ids: CLIMATE,
      })
      await waitFor(() => out.length === 1)
      assert.deepEqual(out[0].payload, Buffer.from(MEASUREMENT, 'base64'))
      assert.deepEqual(out[0].decoded, DECODED)
    })
  })

  describe('ttn-downlink Encode', () => {
    async function loadDownlink(node: object) {
      await helper.load(
        [ttnNodes, catchNode],
        [
          app(),
          {
            id: 'down',
            type: 'ttn-downlink',
            app: 'app',
            deviceId: 'dev1',
            port: 1,
            wires: [['outcome']],
            ...node,
          },
          { id: 'outcome', type: 'helper' },
          ...catcher,
        ],
        creds,
      )
      await waitFor(() => broker.connectionCount('app1@ttn') === 1, 5000, 'connected')
      return {
        down: helper.getNode('down'),
        outcomes: collect(helper.getNode('outcome')),
        caught: collect(helper.getNode('caught')),
      }
    }
    const sent = (i: number) => (broker.downlinks[i].body as V3DownlinkRequest).downlinks[0]

    it('local JavaScript: sends the bytes and FPort encodeDownlink returns', async () => {
      const codecScript =
        'function encodeDownlink(input) { return { bytes: [input.data.interval >> 8, input.data.interval & 255], fPort: input.fPort + 1, warnings: ["checked"] } }'
      const { down, outcomes } = await loadDownlink({
        encode: 'local',
        codec: 'javascript',
        codecScript,
        port: 7,
      })
      down.receive({ payload: { interval: 600 } })
      await waitFor(() => broker.downlinks.length === 1 && outcomes.length > 0)
      assert.equal(sent(0).frm_payload, b64([2, 88]))
      assert.equal(sent(0).f_port, 8)
      assert.equal(sent(0).decoded_payload, undefined)
      assert.deepEqual(outcomes[0].codec, {
        name: 'JavaScript of ttn-downlink down',
        warnings: ['checked'],
        errors: [],
      })
      assert.equal((outcomes[0].downlink as { port: number }).port, 8)
    })

    it('encoder errors go to Catch and nothing is published', async () => {
      const { down, caught } = await loadDownlink({ encode: 'local', codec: 'repository' })
      down.receive({ payload: { valve: 'ajar' }, versionIds: VALVE })
      down.receive({ payload: 'not an object', versionIds: VALVE })
      await waitFor(() => caught.length === 2)
      await delay(100)
      assert.equal(broker.downlinks.length, 0)
      const messages = caught.map((m) => (m.error as { message: string }).message).sort()
      assert.deepEqual(messages, ['Error: ttn.errors.codecFailed', 'Error: ttn.errors.encodePayload'])
      const failed = caught.find((m) => (m.error as { message: string }).message.includes('codecFailed'))
      assert.deepEqual(failed?.codec, {
        name: 'tinkerworks/valve-controller-codec',
        warnings: [],
        errors: ['valve must be "open" or "closed"'],
      })
    })

    it("Device Repository: the version from msg.versionIds, or from the device's last uplink", async () => {
      const { down, caught } = await loadDownlink({ encode: 'local', codec: 'repository' })
      down.receive({ payload: { valve: 'open', duration: 600 }, versionIds: VALVE })
      await waitFor(() => broker.downlinks.length === 1)
      assert.deepEqual([sent(0).frm_payload, sent(0).f_port], [b64([1, 2, 88]), 5])

      down.receive({ payload: { valve: 'closed', duration: 5 } })
      await waitFor(() => caught.length === 1)
      assert.equal((caught[0].error as { message: string }).message, 'Error: ttn.errors.encodeNoCodec')

      await waitFor(
        () =>
          broker.clientIds().some((id) => broker.subscriptionsOf(id).includes('v3/app1@ttn/devices/+/up')),
        5000,
        'uplink subscription',
      )
      await broker.publishUplink('app1@ttn', 'dev1', {
        frm_payload: b64([1, 0, 1]),
        f_port: 1,
        version_ids: VALVE,
      })
      await delay(100)
      down.receive({ payload: { valve: 'closed', duration: 5 } })
      await waitFor(() => broker.downlinks.length === 2)
      assert.deepEqual([sent(1).frm_payload, sent(1).f_port], [b64([0, 0, 5]), 5])
    })

    it('Cayenne LPP: value_<channel> keys', async () => {
      const { down } = await loadDownlink({ encode: 'local', codec: 'cayennelpp', port: 3 })
      down.receive({ payload: { value_1: 12.34 } })
      await waitFor(() => broker.downlinks.length === 1)
      assert.deepEqual([sent(0).frm_payload, sent(0).f_port], [b64([1, 0x04, 0xd2]), 3])
    })
  })
})

/**
 * Bad input from the network and from flows. Nothing may crash Node-RED or stop the stream, errors
 * are reported (rate-limited), and nothing malformed is ever published.
 */
import assert from 'node:assert/strict'
import { downlinkViolations } from '../../src/simulator/downlink-rules'
import { TtsBroker } from '../../src/simulator'
import { fixture } from '../fixtures'
import { catchNode, collect, helper, record, ttnNodes } from '../support/node-red'
import { prng } from '../support/prng'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.BADINPUT.TESTKEY'

describe('reliability: bad input', function () {
  this.timeout(120_000)
  let broker: TtsBroker
  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], maxDownlinkBytes: 255 })
  })
  afterEach(async () => {
    await helper.unload()
    await broker.stop()
  })

  it('from the network: 10,000 malformed messages keep Node-RED running, are reported rate-limited, and a valid uplink still arrives', async () => {
    const flow = [
      { id: 'cfg', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false },
      { id: 'up', type: 'ttn-uplink', app: 'cfg', wires: [['ups']] },
      { id: 'ev', type: 'ttn-event', app: 'cfg', event: 'all', wires: [['evs']] },
      { id: 'down', type: 'ttn-downlink', app: 'cfg', deviceId: 'dev1', wires: [[]] },
      { id: 'ups', type: 'helper' },
      { id: 'evs', type: 'helper' },
    ]
    await helper.load(ttnNodes, flow, { cfg: { apiKey: KEY } })
    const ups = collect(helper.getNode('ups'))
    const evs = collect(helper.getNode('evs'))
    const warnings = record(helper.getNode('cfg'), 'warn')
    await waitFor(() => broker.clientIds().some((id) => broker.subscriptionsOf(id).length >= 10), 5000, 'subscribed')

    const base = 'v3/app1@ttn/devices/dev1'
    const huge = JSON.stringify({ uplink_message: { frm_payload: 'A'.repeat(1_000_000) }, junk: 'x'.repeat(1_000_000) })
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    const v2 = JSON.stringify(fixture('ttn-v2/up.json'))
    const bodies: (string | Buffer)[] = [
      '{not json',
      '',
      'null',
      '42',
      '"a string"',
      '[1,2,3]',
      '{}',
      '{"uplink_message": "a string"}',
      '{"uplink_message": null}',
      '{"uplink_message": [1]}',
      '{"uplink_message": {"f_port": "x", "f_cnt": "y", "frm_payload": 5, "rx_metadata": "nope", "settings": 7, "decoded_payload": "str"}, "end_device_ids": "dev"}',
      '{"__proto__": {"polluted": true}, "uplink_message": {"frm_payload": "AQ=="}}',
      v2,
      Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]),
      deep,
    ]
    const topics = [`${base}/up`, `${base}/join`, `${base}/down/queued`, `${base}/down/failed`, `${base}/service/data`, `${base}/up/bogus`, `${base}/nothing`]
    let sent = 0
    const start = Date.now()
    for (let i = 0; sent < 10_000; i++) {
      const body = bodies[i % bodies.length]
      const topic = topics[i % topics.length]
      await broker.publishRaw(topic, body)
      sent++
      if (i % 2000 === 0) await broker.publishRaw(`${base}/up`, huge)
    }
    await broker.publishUplink('app1@ttn', 'dev-valid', { decoded_payload: { ok: true } })
    await waitFor(() => ups.some((m) => m.deviceId === 'dev-valid'), 30_000, 'the valid uplink after the garbage')
    const elapsed = Date.now() - start
    assert.ok(({} as Record<string, unknown>).polluted === undefined, 'no prototype pollution')
    // Messages that are objects with an uplink_message object are delivered with safe defaults.
    for (const m of ups) {
      assert.equal(typeof m.port, 'number')
      assert.equal(typeof m.counter, 'number')
      assert.ok(Buffer.isBuffer(m.bytes))
    }
    // Reported, but rate-limited: 5 per minute plus at most one summary line per window.
    assert.ok(warnings.length >= 1, 'malformed input is reported')
    assert.ok(warnings.length <= 6 * Math.ceil((elapsed + 1) / 60_000), `${warnings.length} warnings in ${elapsed} ms`)
    assert.match(String(warnings[0][0]), /malformed message on v3\/app1@ttn\/devices\/dev1\//)
    assert.ok(evs.length < 10_000)
    // And the runtime still sends downlinks.
    helper.getNode('down').receive({ payload: [1] })
    await waitFor(() => broker.downlinks.length === 1, 3000, 'a downlink after the storm')
  })

  it('from flows: random combinations into ttn-downlink are each a valid publish or a clear error at Catch', async () => {
    const flow = [
      { id: 'cfg', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false },
      { id: 'down', type: 'ttn-downlink', app: 'cfg', deviceId: '', port: 1, wires: [['outcome']] },
      { id: 'outcome', type: 'helper' },
      { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ]
    await helper.load([ttnNodes, catchNode], flow, { cfg: { apiKey: KEY } })
    const caught = collect(helper.getNode('caught'))
    await waitFor(() => broker.connectionCount('app1@ttn') === 1, 5000, 'connected')

    const payloads: unknown[] = [
      null, undefined, 0, 42, -1, 3.14, true, {}, { a: 1 }, { nested: { deep: [1, 2] } }, [], [1, 2, 3], [256], ['a'], [-1],
      'AQ==', 'vu8=', 'hello world', 'zz', '0102ff', '', Buffer.alloc(0), Buffer.alloc(300), Buffer.alloc(10, 7), Buffer.alloc(255, 1),
    ]
    const ports: unknown[] = [0, 224, 256, 'abc', -1, 1, 223, '15', undefined, 1.5, null]
    const confirmeds: unknown[] = [true, false, 'true', 'yes', 1, undefined]
    const schedules: unknown[] = ['replace', 'last', 'push', 'first', 'FIRST', 'bogus', undefined, '']
    const priorities: unknown[] = ['NORMAL', 'high', 'URGENT', undefined, 5, 'HIGHEST']
    const devices: unknown[] = ['dev1', 'DEV1', 'a'.repeat(37), 'dev/1', 'dev+', 'dev#', '', undefined, 'd', 'ok-device', 123, 'v3/x', '+', '#']
    const rnd = prng(20261125)
    const any = <T>(list: T[]): T => list[Math.floor(rnd() * list.length)]
    // Mostly valid values, so that every field's bad values also meet otherwise valid messages.
    const valid = new Map<unknown[], unknown[]>([
      [payloads, ['AQ==', [1, 2, 3], { a: 1 }, Buffer.alloc(10, 7)]],
      [ports, [1, 223, '15', undefined]],
      [confirmeds, [true, false, undefined]],
      [schedules, ['replace', 'last', 'push', undefined]],
      [priorities, ['NORMAL', 'high', undefined]],
      [devices, ['dev1', 'ok-device']],
    ])
    const pick = (list: unknown[]): unknown => (rnd() < 0.85 ? any(valid.get(list) ?? list) : any(list))
    const N = 600
    const down = helper.getNode('down')
    for (let i = 0; i < N; i++) {
      const msg: Record<string, unknown> = { seq: i, payload: pick(payloads), port: pick(ports), confirmed: pick(confirmeds), schedule: pick(schedules), priority: pick(priorities) }
      if (rnd() < 0.2) msg.dev_id = pick(devices)
      else msg.deviceId = pick(devices)
      down.receive(msg)
    }
    const inputErrors = () => caught.filter((c) => c.downlink === undefined)
    await waitFor(() => broker.downlinks.length + inputErrors().length === N, 20_000, 'every message accounted for')
    await delay(200)
    assert.equal(broker.downlinks.length + inputErrors().length, N, 'nothing lost, nothing doubled')
    assert.ok(broker.downlinks.length > 10, `some valid publishes (${broker.downlinks.length})`)
    assert.ok(inputErrors().length > 10, 'some refusals')
    for (const d of broker.downlinks) {
      assert.deepEqual(downlinkViolations(d.body), [], `invalid body published: ${d.raw.toString()}`)
      assert.match(d.topic, /^v3\/app1@ttn\/devices\/[a-z0-9](?:-?[a-z0-9]){2,}\/down\/(push|replace)$/)
    }
    assert.deepEqual(broker.rejectedPublishes, [], 'no publish outside the application')
    for (const c of inputErrors()) {
      const message = (c.error as { message?: string }).message ?? ''
      assert.ok(message.length > 20, `a clear message, got "${message}"`)
      assert.match(message, /payload|FPort|device ID|schedule|priority|confirmed/i)
    }
  })
})

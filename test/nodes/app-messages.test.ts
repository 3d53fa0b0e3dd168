/**
 * What the ttn-app node says before and after connecting, in the real runtime: a refused login as whom,
 * where and why (short, for the debug sidebar) with the checklist in the log; a v2 key and TLS off towards
 * a public server named before any attempt. And the downlink texts: device and reason first, ID last.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DownlinkError } from '../../src/sdk/downlink-tracker'
import { TtsBroker } from '../../src/simulator'
import { helper, record, ttnNodes } from '../support/node-red'
import { waitFor } from '../support/wait'

const KEY = 'NNSXS.APPMESSAGES.SECRETKEY'
const catalog = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'nodes', 'locales', 'en-US', 'ttn.json'), 'utf8')) as {
  ttn: { errors: Record<string, string> }
}
const render = (text: string, s: Record<string, unknown>) => text.replace(/__(\w+)__/g, (_, k: string) => String(s[k]))

describe('ttn-app messages in the real runtime', () => {
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

  it('a refused key: a short error (what was tried, the likeliest cause) and the whole checklist in the log', async () => {
    const flow = [
      { id: 'app', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false },
      { id: 'up', type: 'ttn-uplink', app: 'app', wires: [] },
    ]
    await helper.load(ttnNodes, flow, { app: { apiKey: 'NNSXS.WRONG.KEY' } })
    const app = helper.getNode('app')
    const errors = record(app, 'error')
    const logs = record(app, 'log')
    await waitFor(() => errors.length > 0 && logs.length > 0, 10_000, 'the refusal reported')
    assert.deepEqual(errors[0], ['ttn.errors.notAuthorized'])
    const checklist = String(logs[0][0])
    assert.ok(
      checklist.startsWith(`Not authorized as app1@ttn at 127.0.0.1:${broker.port} (CONNACK 5): `),
      `the log line leads with what was tried: ${checklist}`,
    )
    assert.match(checklist, /Check: \(1\)/)
    assert.equal(checklist.includes('NNSXS.WRONG.KEY'), false)
  })

  it('warns before connecting: a TTN v2 access key, and TLS off towards a public server', async () => {
    const flow = [
      { id: 'v2key', type: 'ttn-app', appId: 'app1', server: 'eu1.cloud.thethings.network', tls: true },
      { id: 'plain', type: 'ttn-app', appId: 'app1', server: 'eu1.cloud.thethings.network', tls: false },
      { id: 'fine', type: 'ttn-app', appId: 'app1', server: `127.0.0.1:${broker.port}`, tls: false },
    ]
    // No node uses them: nothing connects, the warnings come from the configuration alone.
    const warned: string[] = []
    const onLog = (entry: { level: number; msg: unknown; id?: string }) => {
      if (entry.level === 30) warned.push(`${entry.id}: ${String(entry.msg)}`)
    }
    await helper.load(ttnNodes, flow, {
      v2key: { apiKey: 'ttn-account-v2.Zm9vYmFyYmF6' },
      plain: { apiKey: KEY },
      fine: { apiKey: KEY },
    })
    for (const call of helper._logSpy?.getCalls() ?? []) onLog(call.args[0] as { level: number; msg: unknown; id?: string })
    assert.ok(warned.includes('v2key: ttn.errors.v2Key'), `warnings: ${warned}`)
    assert.ok(warned.includes('plain: ttn.errors.plainPublic'), `warnings: ${warned}`)
    assert.equal(warned.some((w) => w.startsWith('fine:')), false, 'nothing to say about a local plain broker')
    assert.equal(broker.connectionCount(), 0)
  })

  it('downlink failures lead with the device and the reason, the correlation ID last', () => {
    const failed = new DownlinkError({
      status: 'failed',
      correlationId: 'ttn-sdk:down:83db3c8e-0000',
      deviceId: 'my-device',
      confirmed: false,
      error: { name: 'application_downlink_too_long', message: 'downlink too long' },
    })
    assert.equal(failed.message, 'Downlink to my-device failed: application_downlink_too_long (downlink too long) (ID ttn-sdk:down:83db3c8e-0000)')
    const timeout = new DownlinkError({ status: 'timeout', correlationId: 'c1', deviceId: 'my-device', confirmed: false })
    assert.match(timeout.message, /^Downlink to my-device: no answer from The Things Stack in time; .* \(ID c1\)$/)
    const e = catalog.ttn.errors
    assert.equal(
      render(e.downlinkFailed, { deviceId: 'my-device', reason: 'application_downlink_too_long', correlationId: 'c1' }),
      'Downlink to my-device failed: application_downlink_too_long (ID c1)',
    )
    for (const key of ['downlinkTimeout', 'downlinkNack', 'downlinkInvalidated']) {
      const text = render(e[key], { deviceId: 'my-device', correlationId: 'c1', seconds: 30 })
      assert.ok(text.startsWith('Downlink to my-device'), text)
      assert.ok(text.endsWith('(ID c1)'), text)
    }
  })
})

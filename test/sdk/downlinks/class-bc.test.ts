import assert from 'node:assert/strict'
import { MQTTClient, ValidationError, validateClassBC } from '../../../src'
import type { DownlinkOutcome } from '../../../src/sdk/downlink-tracker'
import type { V3DownlinkRequest } from '../../../src/sdk/messages'
import { TtsBroker } from '../../../src/simulator'
import { delay, waitFor } from '../../support/wait'

const KEY = 'NNSXS.CLASSC.SECRET'
const NOW = Date.parse('2026-12-01T10:00:00Z')

describe('SDK downlinks: class B/C', () => {
  describe('validateClassBC', () => {
    it('turns gateways and an absolute time into the class_b_c body, zero indexes left out', () => {
      assert.deepEqual(
        validateClassBC(
          { gateways: [{ id: 'gw-roof' }, { id: 'gw-cellar', antennaIndex: 1, groupIndex: 0 }], absoluteTime: '2026-12-01T10:33:00.5+01:00' },
          NOW - 3_600_000,
        ),
        {
          gateways: [{ gateway_ids: { gateway_id: 'gw-roof' } }, { gateway_ids: { gateway_id: 'gw-cellar' }, antenna_index: 1 }],
          absolute_time: '2026-12-01T10:33:00.5+01:00',
        },
      )
      assert.deepEqual(validateClassBC({ absoluteTime: new Date(NOW + 1000) }, NOW), { absolute_time: '2026-12-01T10:00:01.000Z' })
      assert.equal(validateClassBC(undefined), undefined)
    })

    it('refuses what the server would drop or fail, saying what to change', () => {
      const bad: [unknown, RegExp][] = [
        ['gw1', /give an object/],
        [{}, /classBC is empty/],
        [{ gateway: [] }, /classBC.gateway is not a class B\/C setting/],
        [{ gateways: [] }, /non-empty list/],
        [{ gateways: [{ id: 'GW_1' }] }, /gateways\[0\]: The gateway ID "GW_1" is not valid/],
        [{ gateways: [{}] }, /gateway ID is missing/],
        [{ gateways: [{ id: 'gw-1', antennaIndex: -1 }] }, /antennaIndex is -1/],
        [{ gateways: [{ id: 'gw-1', groupIndex: 1.5 }] }, /groupIndex is 1.5/],
        [{ absoluteTime: '2026-12-01 10:33' }, /RFC 3339/],
        [{ absoluteTime: '2026-12-01T10:33:00' }, /RFC 3339/],
        [{ absoluteTime: '2026-12-01T09:59:59Z' }, /not in the future.*expired_downlink/],
        [{ absoluteTime: 1764583980000 }, /RFC 3339/],
      ]
      for (const [input, pattern] of bad) {
        assert.throws(() => validateClassBC(input, NOW), (err: Error) => err instanceof ValidationError && pattern.test(err.message), JSON.stringify(input))
      }
    })
  })

  describe('send with classBC', () => {
    let broker: TtsBroker
    let client: MQTTClient | undefined
    beforeEach(async () => {
      broker = await TtsBroker.start({
        applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }, { appId: 'legacy', apiKey: KEY, api: 'v2' }],
        autoDeliver: { sentAfterMs: 5_000 },
        classC: ['lamp-group'],
      })
    })
    afterEach(async () => {
      await client?.close()
      client = undefined
      await broker.stop()
    })

    it('puts class_b_c in the body; the class C device (a multicast group) transmits at the absolute time, not after an uplink', async () => {
      client = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, { tenant: 'ttn' })
      await client.connect()
      const at = new Date(Date.now() + 300)
      const steps: DownlinkOutcome[] = []
      const sent = await client.send('lamp-group', [1], 10, false, 'last', {
        classBC: { gateways: [{ id: 'sim-gateway-roof' }], absoluteTime: at },
        onStatus: (o) => steps.push(o),
      })
      assert.deepEqual((sent.body as V3DownlinkRequest).downlinks[0].class_b_c, {
        gateways: [{ gateway_ids: { gateway_id: 'sim-gateway-roof' } }],
        absolute_time: at.toISOString(),
      })
      await waitFor(() => broker.downlinks.length === 1)
      assert.deepEqual(broker.downlinks[0].violations, [])
      await waitFor(() => steps.some((s) => s.status === 'sent'), 3000, 'sent at the absolute time')
      assert.ok(Date.now() >= at.getTime() - 20, 'not before the absolute time')
      assert.ok(Date.now() < at.getTime() + 2000, 'not only with the class A delay')
    })

    it('validates classBC before anything is published, and refuses it in v2 mode', async () => {
      client = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, { tenant: 'ttn' })
      await client.connect()
      await assert.rejects(client.send('dev1', [1], 1, false, 'last', { classBC: { gateways: [{ id: 'x' }] } }), /gateway ID "x" is not valid/)
      const v2 = new MQTTClient('legacy', KEY, `127.0.0.1:${broker.port}`, { api: 'v2' })
      try {
        await v2.connect()
        await assert.rejects(v2.send('dev1', [1], 1, false, 'last', { classBC: { gateways: [{ id: 'gw-1' }] } }), /need The Things Stack \(v3\)/)
      } finally {
        await v2.close()
      }
      await delay(50)
      assert.equal(broker.downlinks.length, 0)
    })
  })
})

/**
 * Generic broker mode without a broker: topics with a custom prefix and a shared group, option checks
 * that refuse what cannot work (with what to do instead), The Things Stack defaults untouched, the
 * config node's fields, and the simulated The Things Stack refusing `$share` as the real one does.
 */
import assert from 'node:assert/strict'
import { MQTTClient, type MQTTClientOptions } from '../../src'
import { clientArguments } from '../../src/nodes/ttn-app'
import { v311ConnectCode } from '../../src/sdk/broker-mode'
import { Topics } from '../../src/sdk/topics'
import { TtsBroker } from '../../src/simulator'
import { onceWithin } from '../support/wait'

const KEY = 'NNSXS.GENERICTEST.SECRET'

describe('generic broker mode', () => {
  describe('topics', () => {
    const t = new Topics('v3', 'app1@ttn', { prefix: 'ttn/app1', sharedGroup: 'workers' })
    it('puts the devices under the custom prefix and shares every event but the downlink outcomes', () => {
      assert.equal(t.root, 'ttn/app1')
      assert.equal(t.eventFilter('up'), '$share/workers/ttn/app1/devices/+/up')
      assert.equal(t.eventFilter('join'), '$share/workers/ttn/app1/devices/+/join')
      assert.equal(t.eventFilter('up/normalized'), '$share/workers/ttn/app1/devices/+/up/normalized')
      for (const e of ['down/queued', 'down/sent', 'down/ack', 'down/nack', 'down/failed', 'down/invalidated'] as const) {
        assert.equal(t.eventFilter(e), `ttn/app1/devices/+/${e}`)
      }
      assert.equal(t.downlink('dev1', 'push'), 'ttn/app1/devices/dev1/down/push')
    })
    it('parses the plain topics messages arrive on', () => {
      assert.deepEqual(t.parse('ttn/app1/devices/dev1/up'), { deviceId: 'dev1', event: 'up' })
      assert.deepEqual(t.parse('v3/app1@ttn/devices/dev1/up'), { problem: 'topic outside this application' })
    })
    it('applies the prefix to v2 topics too', () => {
      const v2 = new Topics('v2', 'app1', { prefix: 'legacy/app1' })
      assert.equal(v2.eventFilter('up'), 'legacy/app1/devices/+/up')
      assert.equal(v2.downlink('dev1', 'push'), 'legacy/app1/devices/dev1/down')
    })
  })

  describe('MQTTClient options', () => {
    const make = (options: MQTTClientOptions, address = '127.0.0.1:1883') => new MQTTClient('app1', KEY, address, { autoConnect: false, ...options })

    it('keeps The Things Stack defaults when no generic option is set', () => {
      const c = make({}, 'eu1.cloud.thethings.network:8883')
      assert.equal(c.username, 'app1@ttn')
      c.onUplink(undefined, () => undefined)
      assert.deepEqual(c.subscribedFilters, ['v3/app1@ttn/devices/+/up'])
    })

    it('logs in as the given user and subscribes under the prefix, shared', () => {
      const c = make({ username: ' node-red ', topicPrefix: ' ttn/app1 ', sharedGroup: 'workers', protocolVersion: 5 })
      assert.equal(c.username, 'node-red')
      c.onUplink(undefined, () => undefined)
      c.onEvent('down/ack', undefined, () => undefined)
      assert.deepEqual(c.subscribedFilters.sort(), ['$share/workers/ttn/app1/devices/+/up', 'ttn/app1/devices/+/down/ack'])
    })

    const refused: [string, MQTTClientOptions, RegExp, string?][] = [
      ['a wildcard in the prefix', { topicPrefix: 'ttn/+' }, /contains "\+", "#"/],
      ['a $ prefix', { topicPrefix: '$share/g/ttn' }, /reserved/],
      ['an empty topic level', { topicPrefix: 'ttn//app1' }, /empty topic level/],
      ['a trailing slash', { topicPrefix: 'ttn/app1/' }, /empty topic level/],
      ['a prefix ending in devices', { topicPrefix: 'ttn/app1/devices' }, /leave that out.*"ttn\/app1"/],
      ['an empty prefix', { topicPrefix: ' ' }, /topic prefix is empty/],
      ['a group with a slash', { sharedGroup: 'a/b' }, /group "a\/b" contains/],
      ['an empty group', { sharedGroup: '' }, /group is empty/],
      ['an empty username', { username: ' ' }, /username is empty/],
      ['MQTT 3', { protocolVersion: 3 as 4 }, /use 4 .* or 5/],
      ['MQTT 5 to The Things Stack', { protocolVersion: 5 }, /accepts only MQTT 3\.1\.1/, 'eu1.cloud.thethings.network'],
      ['a shared group on The Things Stack', { sharedGroup: 'g' }, /does not support shared subscriptions.*bridge/, 'acme.eu1.cloud.thethings.industries'],
    ]
    for (const [what, options, message, address] of refused) {
      it(`refuses ${what} with what to do instead`, () => {
        assert.throws(() => make(options, address), message)
      })
    }

    it('reads MQTT 5 CONNACK reason codes as their MQTT 3.1.1 equivalents', () => {
      assert.equal(v311ConnectCode(0x87), 5)
      assert.equal(v311ConnectCode(0x86), 4)
      assert.equal(v311ConnectCode(0x84), 1)
      assert.equal(v311ConnectCode(5), 5)
    })
  })

  describe('ttn-app fields', () => {
    const generic = { broker: 'generic' as const, username: 'node-red', topicPrefix: 'ttn/app1', protocolVersion: '5', sharedGroup: 'workers' }
    it('passes the generic fields to the SDK only in generic mode', () => {
      const { options } = clientArguments({ server: 'broker.local:1883', tls: false, ...generic }, undefined)
      assert.equal(options.username, 'node-red')
      assert.equal(options.topicPrefix, 'ttn/app1')
      assert.equal(options.protocolVersion, 5)
      assert.equal(options.sharedGroup, 'workers')
      const tts = clientArguments({ server: 'eu1.cloud.thethings.network', ...generic, broker: 'tts' }, undefined).options
      for (const key of ['username', 'topicPrefix', 'protocolVersion', 'sharedGroup'] as const) assert.equal(tts[key], undefined, key)
    })
    it('leaves empty fields at the defaults', () => {
      const { options } = clientArguments({ server: 'broker.local', broker: 'generic', username: '', topicPrefix: ' ', protocolVersion: '4', sharedGroup: '' }, undefined)
      for (const key of ['username', 'topicPrefix', 'protocolVersion', 'sharedGroup'] as const) assert.equal(options[key], undefined, key)
    })
  })

  it('the simulated The Things Stack refuses $share like the real one, and the SDK says the broker must support it', async () => {
    const broker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: null, apiKey: KEY }] })
    const c = new MQTTClient('app1', KEY, `127.0.0.1:${broker.port}`, { autoConnect: false, tenant: null, sharedGroup: 'workers' })
    try {
      const error = onceWithin<[Error]>(c, 'error', 5000)
      c.onUplink(undefined, () => undefined)
      await c.connect()
      const [err] = await error
      assert.match(err.message, /refused the subscription \$share\/workers\/v3\/app1\/devices\/\+\/up/)
      assert.match(err.message, /must support shared subscriptions/)
    } finally {
      await c.close()
      await broker.stop()
    }
  })
})

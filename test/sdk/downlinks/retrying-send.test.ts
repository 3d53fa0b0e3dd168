import assert from 'node:assert/strict'
import { DownlinkError, MQTTClient, type MQTTClientOptions, ValidationError } from '../../../src'
import type { DownlinkOutcome } from '../../../src/sdk/downlink-tracker'
import type { V3DownlinkRequest } from '../../../src/sdk/messages'
import { TtsBroker } from '../../../src/simulator'
import { missEvery } from '../../../src/simulator/devices'
import { delay } from '../../support/wait'

const KEY = 'NNSXS.RETRYTEST.SECRET'
const FAST: MQTTClientOptions = { tenant: 'ttn', reconnect: { minDelayMs: 300, maxDelayMs: 400 } }
const item = (b: TtsBroker, i: number) => (b.downlinks[i].body as V3DownlinkRequest).downlinks[0]
const summary = (steps: DownlinkOutcome[]) => steps.map((s) => `${s.attempt}:${s.status}${s.final ? '!' : ''}`)

describe('SDK downlinks: retries over the tracked send (compressed time)', () => {
  let broker: TtsBroker
  const clients: MQTTClient[] = []

  async function start(options: Parameters<typeof TtsBroker.start>[0]) {
    broker = await TtsBroker.start(options)
  }
  async function client(options: MQTTClientOptions = {}, appId = 'app1'): Promise<MQTTClient> {
    const c = new MQTTClient(appId, KEY, `127.0.0.1:${broker.port}`, { ...FAST, ...options })
    clients.push(c)
    await c.connect()
    return c
  }
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await broker.stop()
  })

  it('retries a nacked confirmed downlink with a new correlation ID, pushed, and ends in ack', async () => {
    await start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], autoDeliver: { sentAfterMs: 5, ackAfterMs: 5 }, missesConfirmed: missEvery(2) })
    const c = await client()
    const steps: DownlinkOutcome[] = []
    const sent = await c.send('dev1', [1], 5, true, 'replace', { retry: { attempts: 3, backoffMs: 20 }, onStatus: (o) => steps.push(o) })
    const final = await sent.wait('final', 5000)
    assert.equal(final.status, 'ack')
    assert.equal(final.final, true)
    assert.deepEqual(summary(steps), ['1:queued', '1:sent', '1:nack', '2:queued', '2:sent', '2:ack!'])
    assert.equal(steps[2].retryInMs, 20)
    assert.equal(broker.downlinks.length, 2)
    // The first attempt keeps the asked-for schedule; the retry is pushed, never replaces the queue.
    assert.equal(broker.downlinks[0].topic, 'v3/app1@ttn/devices/dev1/down/replace')
    assert.equal(broker.downlinks[1].topic, 'v3/app1@ttn/devices/dev1/down/push')
    const [a, b] = [item(broker, 0).correlation_ids ?? [], item(broker, 1).correlation_ids ?? []]
    assert.notEqual(a[0], b[0], 'each attempt has its own correlation ID')
    assert.equal(a[1], b[1], 'and both carry the one group ID')
    assert.equal(final.groupId, a[1])
    for (const d of broker.downlinks) assert.deepEqual(d.violations, [])
  })

  it('gives up after the last attempt with one final failed step that carries the last reason, and rejects wait()', async () => {
    await start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], autoDeliver: { sentAfterMs: 5, ackAfterMs: 5 }, missesConfirmed: () => true })
    const c = await client()
    const steps: DownlinkOutcome[] = []
    const sent = await c.send('dev1', [1], 5, true, 'last', { retry: { attempts: 2, backoffMs: 10 }, onStatus: (o) => steps.push(o) })
    await assert.rejects(sent.wait('final'), (err: DownlinkError) => {
      assert.ok(err instanceof DownlinkError)
      assert.match(err.message, /^Downlink to dev1 failed after 2 of 2 attempts: nack/)
      return true
    })
    assert.deepEqual(summary(steps), ['1:queued', '1:sent', '1:nack', '2:queued', '2:sent', '2:failed!'])
    assert.equal(steps.at(-1)?.reason, 'nack')
    assert.equal(steps.filter((s) => s.final).length, 1)
  })

  it('retries a failure that can pass later (downlink_queue_capacity) but never application_downlink_too_long', async () => {
    await start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], autoDeliver: { sentAfterMs: 5 } })
    const c = await client()
    // The first downlink of dev1 meets a full queue, as the Network Server reports it.
    let first = true
    broker.onDownlink((d) => {
      if (!first || d.deviceId !== 'dev1') return
      first = false
      const ids = (d.body as V3DownlinkRequest).downlinks[0].correlation_ids
      setTimeout(() => {
        broker.publishEvent('app1@ttn', 'dev1', 'down/failed', {
          downlink: { f_port: 5, frm_payload: 'AQ==', correlation_ids: ids },
          error: { namespace: 'pkg/networkserver', name: 'downlink_queue_capacity', message_format: 'downlink queue capacity exceeded', code: 8 },
        })
      }, 1)
    })
    const steps: DownlinkOutcome[] = []
    const sent = await c.send('dev1', [1], 5, false, 'last', { retry: { attempts: 3, backoffMs: 10 }, onStatus: (o) => steps.push(o) })
    assert.equal((await sent.wait('final', 5000)).status, 'sent')
    assert.equal(steps[0].status, 'failed')
    assert.equal(steps[0].error?.name, 'downlink_queue_capacity')
    assert.equal(steps.at(-1)?.attempt, 2)

    const tooLong: DownlinkOutcome[] = []
    const sent2 = await c.send('dev2', Buffer.alloc(60), 5, false, 'last', { retry: { attempts: 3, backoffMs: 10 }, onStatus: (o) => tooLong.push(o) })
    await assert.rejects(sent2.wait('final'), DownlinkError)
    assert.deepEqual(summary(tooLong), ['1:failed!'])
    assert.equal(tooLong[0].reason, 'application_downlink_too_long')
    assert.equal(broker.downlinks.filter((d) => d.deviceId === 'dev2').length, 1, 'not sent again')
  })

  it('retries only the outcomes asked for', async () => {
    await start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], autoDeliver: { sentAfterMs: 5, ackAfterMs: 5 }, missesConfirmed: () => true })
    const c = await client()
    const steps: DownlinkOutcome[] = []
    const sent = await c.send('dev1', [1], 5, true, 'last', { retry: { attempts: 3, backoffMs: 10, on: ['timeout'] }, onStatus: (o) => steps.push(o) })
    await assert.rejects(sent.wait('final'), DownlinkError)
    assert.deepEqual(summary(steps), ['1:queued', '1:sent', '1:failed!'])
  })

  it('ends with expired when the ttl runs out, whatever attempts are left', async () => {
    // A v2 application logged in with a v3 client: the simulator drops its downlinks without a word.
    await start({ applications: [{ appId: 'legacy', tenant: null, apiKey: KEY, api: 'v2' }] })
    const c = await client({ tenant: null }, 'legacy')
    const steps: DownlinkOutcome[] = []
    const sent = await c.send('dev1', [1], 5, false, 'last', {
      timeoutMs: 40,
      retry: { attempts: 50, backoffMs: 10, factor: 1, ttlMs: 300 },
      onStatus: (o) => steps.push(o),
    })
    await assert.rejects(sent.wait('final'), (err: Error) => /expired/.test(err.message))
    const last = steps.at(-1)
    assert.equal(last?.status, 'expired')
    assert.equal(last?.final, true)
    assert.ok((last?.attempt ?? 0) >= 2 && (last?.attempt ?? 0) < 50, `attempts made: ${last?.attempt}`)
    assert.ok(steps.slice(0, -1).every((s) => s.status === 'timeout' && !s.final))
    const published = broker.downlinks.length
    await delay(150)
    assert.equal(broker.downlinks.length, published, 'nothing is sent after it expired')
  })

  it('survives a reconnect: a retry due while offline waits for the connection, then goes out', async () => {
    await start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], autoDeliver: { sentAfterMs: 5, ackAfterMs: 5 }, missesConfirmed: missEvery(2) })
    const c = await client()
    const steps: DownlinkOutcome[] = []
    const sent = await c.send('dev1', [1], 5, true, 'last', {
      retry: { attempts: 2, backoffMs: 30 },
      onStatus: (o) => {
        steps.push(o)
        if (o.status === 'nack') broker.disconnectAll()
      },
    })
    const final = await sent.wait('final', 5000)
    assert.equal(final.status, 'ack')
    assert.deepEqual(summary(steps), ['1:queued', '1:sent', '1:nack', '2:waiting', '2:queued', '2:sent', '2:ack!'])
  })

  it('validates retry options before anything is published', async () => {
    await start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }] })
    const c = await client()
    const bad: [unknown, RegExp][] = [
      [{ attempts: 0 }, /retry.attempts is 0/],
      [{ attempts: 2.5 }, /whole number/],
      [{ attempts: 1000 }, /at most 100/],
      [{ ttlMs: -1 }, /retry.ttlMs/],
      [{ on: ['sometimes'] }, /retry.on/],
      ['often', /retry is "often"/],
    ]
    for (const [retry, pattern] of bad) {
      await assert.rejects(c.send('dev1', [1], 1, false, 'last', { retry: retry as never }), (err: Error) => err instanceof ValidationError && pattern.test(err.message))
    }
    await delay(50)
    assert.equal(broker.downlinks.length, 0)
  })
})

// The demo's simulated devices (src/simulator/devices.ts), seen from an MQTT client of the application as
// a flow would see them: joins first, then uplinks in The Things Stack's shape whose decoded_payload
// matches the bytes, frame counters that restart at a join, and silence after stop().

import assert from 'node:assert/strict'
import mqtt, { type MqttClient } from 'mqtt'
import {
  DeviceSimulator,
  demoDevices,
  doorSensor,
  environmentSensor,
  rawTemperatureSensor,
} from '../../src/simulator/devices'
import { TtsBroker } from '../../src/simulator'
import { prng } from '../support/prng'
import { delay, waitFor } from '../support/wait'

const KEY = 'NNSXS.DEVICES.TESTKEY'
const USERNAME = 'sim-app@ttn'
const EU868 = [
  '868100000',
  '868300000',
  '868500000',
  '867100000',
  '867300000',
  '867500000',
  '867700000',
  '867900000',
]

interface Seen {
  topic: string
  json: Record<string, unknown>
}
type Up = {
  f_port?: number
  f_cnt?: number
  frm_payload?: string
  decoded_payload?: Record<string, unknown>
  session_key_id?: string
  rx_metadata?: { gateway_ids: { gateway_id: string }; rssi: number; snr: number; channel_index?: number }[]
  settings?: { frequency?: string; data_rate?: { lora?: { spreading_factor?: number } } }
  consumed_airtime?: string
}

describe('simulated devices for the demo', () => {
  let broker: TtsBroker
  let client: MqttClient
  let seen: Seen[]
  let sim: DeviceSimulator | undefined

  beforeEach(async () => {
    broker = await TtsBroker.start({ applications: [{ appId: 'sim-app', tenant: 'ttn', apiKey: KEY }] })
    seen = []
    client = mqtt.connect(broker.url, { username: USERNAME, password: KEY, reconnectPeriod: 0 })
    client.on('message', (topic, payload) =>
      seen.push({ topic, json: JSON.parse(payload.toString('utf8')) as Record<string, unknown> }),
    )
    await client.subscribeAsync('v3/+/devices/+/#')
  })
  afterEach(async () => {
    sim?.stop()
    await client.endAsync(true)
    await broker.stop()
  })

  const of = (device: string, kind: 'up' | 'join') =>
    seen.filter((s) => s.topic === `v3/${USERNAME}/devices/${device}/${kind}`)
  const ups = (device: string) => of(device, 'up').map((s) => s.json.uplink_message as Up)

  it('each device joins, then sends uplinks with counters from 0, a decoded payload matching the bytes, and plausible radio data', async () => {
    sim = new DeviceSimulator({
      broker,
      username: USERNAME,
      intervalMs: 100,
      rejoinChance: 0,
      random: prng(7),
    })
    sim.start()
    await waitFor(() => demoDevices().every((d) => ups(d.deviceId).length >= 4), 5000, '4 uplinks per device')
    sim.stop()

    for (const { deviceId } of demoDevices()) {
      const first = seen.findIndex((s) => s.topic.endsWith(`/${deviceId}/join`))
      const firstUp = seen.findIndex((s) => s.topic.endsWith(`/${deviceId}/up`))
      assert.ok(first >= 0 && first < firstUp, `${deviceId} joins before its first uplink`)
      const join = of(deviceId, 'join')[0].json.join_accept as { session_key_id: string }
      const list = ups(deviceId)
      // The first frame after a join has FCnt 0, which the server omits like every zero value.
      assert.deepEqual(
        list.slice(0, 4).map((u) => u.f_cnt),
        [undefined, 1, 2, 3],
      )
      for (const u of list) {
        assert.equal(u.session_key_id, join.session_key_id, 'the session of the join')
        assert.ok(u.rx_metadata && u.rx_metadata.length >= 1 && u.rx_metadata.length <= 2)
        for (const rx of u.rx_metadata) {
          assert.ok(rx.rssi < -30 && rx.rssi > -140, `rssi ${rx.rssi}`)
          assert.ok(rx.snr <= 10 && rx.snr > -25, `snr ${rx.snr}`)
        }
        assert.ok(EU868.includes(u.settings?.frequency ?? ''), `frequency ${u.settings?.frequency}`)
        assert.match(u.consumed_airtime ?? '', /^0\.\d+s$/)
      }
    }
    // my-device: temperature (int16, 1/100 °C), humidity %, battery %, decoded by the application.
    for (const u of ups('my-device')) {
      const b = Buffer.from(u.frm_payload!, 'base64')
      assert.equal(u.f_port, 1)
      assert.deepEqual(u.decoded_payload, {
        temperature: b.readInt16BE(0) / 100,
        humidity: b[2],
        battery: b[3],
      })
    }
    // other-device: no payload formatter, 3 bytes as example 01's function node expects.
    for (const u of ups('other-device')) {
      assert.equal(u.decoded_payload, undefined)
      assert.equal(Buffer.from(u.frm_payload!, 'base64').length, 3)
      assert.equal(u.f_port, 2)
    }
    for (const u of ups('front-door')) {
      const b = Buffer.from(u.frm_payload!, 'base64')
      assert.deepEqual(u.decoded_payload, { open: b[0] === 1, openings: b.readUInt16BE(1), battery: b[3] })
    }

    // Every counted uplink arrives (one counted just before stop() may still be on its way on a busy
    // machine), and after that nothing more comes.
    const delivered = () => demoDevices().reduce((n, d) => n + ups(d.deviceId).length, 0)
    await waitFor(() => delivered() === sim!.counts.uplinks, 3000, 'every counted uplink delivered')
    const count = seen.length
    await delay(300)
    assert.equal(seen.length, count, 'silence after stop()')
    assert.equal(sim.counts.uplinks, delivered())
  })

  it('a rejoin starts a new session: a join event, a new session key, and the frame counter from 0', async () => {
    sim = new DeviceSimulator({
      broker,
      username: USERNAME,
      devices: [environmentSensor('rejoiner')],
      intervalMs: 50,
      rejoinChance: 1,
      random: prng(3),
    })
    sim.start()
    await waitFor(() => ups('rejoiner').length >= 3, 5000, '3 uplinks')
    sim.stop()
    const list = ups('rejoiner')
    assert.ok(of('rejoiner', 'join').length >= list.length, 'a join before every uplink')
    assert.ok(
      list.every((u) => u.f_cnt === undefined),
      'FCnt 0 every time',
    )
    assert.equal(new Set(list.map((u) => u.session_key_id)).size, list.length, 'a new session key per join')
  })

  it('readings drift within their range, and the door counts its openings', () => {
    const random = prng(11)
    const env = environmentSensor('e')
    const raw = rawTemperatureSensor('r')
    const door = doorSensor('d', { open: false, openings: 0, battery: 50 })
    let opened = 0
    let wasOpen = false
    for (let i = 0; i < 2000; i++) {
      const e = env.read(random).decoded as { temperature: number; humidity: number; battery: number }
      assert.ok(
        e.temperature >= -20 &&
          e.temperature <= 50 &&
          e.humidity >= 5 &&
          e.humidity <= 95 &&
          e.battery >= 5 &&
          e.battery <= 100,
      )
      const r = raw.read(random)
      assert.equal(r.bytes.readInt16BE(0), Math.round((r.decoded.temperature as number) * 100))
      const d = door.read(random).decoded as { open: boolean; openings: number }
      if (d.open && !wasOpen) opened++
      wasOpen = d.open
      assert.equal(d.openings, opened)
    }
    assert.ok(opened > 100, 'the door opens now and then')
  })

  it('refuses a non-positive interval with a clear error', () => {
    assert.throws(
      () => new DeviceSimulator({ broker, username: USERNAME, intervalMs: 0 }),
      /intervalMs must be a positive number, got 0/,
    )
  })
})

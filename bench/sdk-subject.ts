/**
 * Benchmark process: receives the uplink stream without Node-RED, either through the SDK
 * (MQTTClient.setUplinkCallback) or through a bare MQTT.js client that JSON.parses each message,
 * and measures the callback rate.
 */
import mqtt from 'mqtt'
import { MQTTClient } from '../src/sdk/client'
import { childConfig, serve, tell } from './ipc'
import { APP_ID, TENANT, UPLINK_FILTER } from './message'
import { Probe } from './probe'
import { WindowProfiler } from './window-profiler'

export interface SdkSubjectConfig {
  url: string
  kind: 'sdk' | 'bare'
  /** Write a CPU profile of the measurement window to this file. */
  profile?: string
}

const config = childConfig<SdkSubjectConfig>()
let probe: Probe | undefined
const arrive = (message: unknown) => probe?.arrive(message)
let close: () => Promise<void>

if (config.kind === 'sdk') {
  const client = new MQTTClient(APP_ID, 'NNSXS.BENCH.TEST-KEY', config.url, { tenant: TENANT })
  client.setUplinkCallback((msg) => arrive(msg))
  client.on('error', (err: Error) => tell({ type: 'error', message: `SDK client: ${err.message}` }))
  client.once('connect', () => tell({ type: 'ready' }))
  close = () => client.close()
} else {
  const client = mqtt.connect(config.url, { reconnectPeriod: 0 })
  client.on('message', (_topic, payload) => arrive(JSON.parse(payload.toString())))
  client.on('error', (err) => tell({ type: 'error', message: `MQTT.js client: ${err.message}` }))
  client.once('connect', () => {
    client.subscribe(UPLINK_FILTER, { qos: 0 })
    tell({ type: 'ready' })
  })
  close = () => new Promise<void>((resolve) => client.end(true, {}, () => resolve()))
}

serve(
  (msg) => {
    if (msg.type === 'arm') {
      const profiler = config.profile ? new WindowProfiler(config.profile) : undefined
      probe = new Probe(
        msg.probe,
        (result) => {
          const reply = () => tell({ type: 'result', result })
          profiler ? profiler.stop().then(reply, reply) : reply()
        },
        () => profiler?.start(),
      )
      tell({ type: 'armed' })
    }
  },
  () => close(),
)

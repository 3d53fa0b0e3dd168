/**
 * Benchmark process: one MQTT.js client that publishes, at QoS 0, either
 * - 'flood': the pre-serialised uplinks, cycling through the devices, as fast as the broker takes
 *   them (it stops at every full socket buffer until 'drain': aedes only reads on when its
 *   subscribers have taken the previous messages, so nothing is dropped or piled up), or
 * - 'rate': timestamped uplinks at a steady rate (messages per second), or
 * - 'downlink': downlink bodies as ttn-downlink builds them, each with a fresh correlation ID, as fast
 *   as the broker takes them (the bare-client baseline of the downlink scenario).
 * It starts on 'go' and stops on 'stop'.
 */
import { randomUUID } from 'node:crypto'
import mqtt from 'mqtt'
import { childConfig, serve, tell } from './ipc'
import { downlinkBody, downlinkTopic, PUBLISHER_ID, timedUplink, uplinkTemplates } from './message'

export interface PublisherConfig {
  url: string
  mode: 'flood' | 'rate' | 'downlink'
  devices: number
  /** Messages per second ('rate' mode). */
  rate?: number
  clientId?: string
}

/** Publishes per event-loop turn before yielding, so 'stop' and socket events get through. */
const BATCH = 64
const QOS0 = { qos: 0 } as const

const config = childConfig<PublisherConfig>()
const templates = config.mode === 'downlink' ? [] : uplinkTemplates(config.devices)
const client = mqtt.connect(config.url, {
  clientId: config.clientId ?? PUBLISHER_ID,
  username: PUBLISHER_ID,
  reconnectPeriod: 0,
  queueQoSZero: false,
})
let running = false
let published = 0
let cpuAtGo: NodeJS.CpuUsage | undefined

function next(): [string, Buffer | string] {
  const i = published++
  if (config.mode === 'downlink') return [downlinkTopic(0), downlinkBody(`ttn-sdk:down:${randomUUID()}`)]
  const t = templates[i % templates.length]
  return [t.topic, t.untimed]
}

function flood(): void {
  if (!running) return
  const stream = client.stream
  for (let k = 0; k < BATCH; k++) {
    const [topic, body] = next()
    client.publish(topic, body, QOS0)
    if (stream.writableNeedDrain) {
      stream.once('drain', flood)
      return
    }
  }
  setImmediate(flood)
}

function steady(rate: number): void {
  const start = process.hrtime.bigint()
  const tick = () => {
    if (!running) return
    const due = Math.floor((Number(process.hrtime.bigint() - start) / 1e9) * rate)
    while (published < due) {
      const t = templates[published++ % templates.length]
      client.publish(t.topic, timedUplink(t, process.hrtime.bigint()), QOS0)
    }
    setTimeout(tick, 1)
  }
  tick()
}

client.on('error', (err) => tell({ type: 'error', message: `publisher: ${err.message}` }))
client.once('connect', () => {
  // No Nagle delay on the publishing side either: the latency scenario times single messages.
  ;(client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true)
  tell({ type: 'ready' })
})

serve(
  (msg) => {
    if (msg.type === 'go' && !running) {
      running = true
      cpuAtGo = process.cpuUsage()
      if (config.mode === 'rate') steady(config.rate ?? 1000)
      else flood()
    } else if (msg.type === 'stop') {
      running = false
      const cpu = process.cpuUsage(cpuAtGo)
      tell({ type: 'stopped', published, cpuUs: cpu.user + cpu.system })
    }
  },
  () => new Promise<void>((resolve) => client.end(true, {}, () => resolve())),
)

/**
 * The benchmark's own Node-RED nodes, the same in every variant:
 * - bench-count: the downstream node. Counts arrivals (and reads the publish time for latency).
 * - bench-ceiling: the ceiling inside Node-RED: owns one MQTT.js client and does nothing but
 *   JSON.parse and send({payload}).
 * - bench-drive: feeds a downlink node. Keeps `window` messages in flight: starts `window` on 'go'
 *   and sends one more each time a Complete node reports that the downlink node finished one.
 * - bench-publish: the downlink ceiling inside Node-RED: owns one MQTT.js client and does nothing but
 *   build the body ttn-downlink would build (fresh correlation ID, JSON.stringify) and publish it.
 */
import { randomUUID } from 'node:crypto'
import mqtt from 'mqtt'
import type { NodeInstance, NodeMessage, NodeRedRuntime } from '../src/nodes/red'
import { arrive, ceilingClients, control, driven } from './control'
import { downlinkBody } from './message'

interface CeilingConfig {
  url: string
  topic: string
}

interface PublishConfig {
  url: string
  topic: string
}

interface DriveConfig {
  window: number | string
}

/** The downlink payload: 01 02 03 04. */
const PAYLOAD = Buffer.from([1, 2, 3, 4])

export const BENCH_NODE_TYPES = ['bench-count', 'bench-ceiling', 'bench-drive', 'bench-publish'] as const

export default function register(RED: NodeRedRuntime): void {
  function BenchCount(this: NodeInstance, config: object): void {
    RED.nodes.createNode(this, config)
    // ttn-uplink puts the parsed message in msg.ttn; mqtt in (JSON) and bench-ceiling in msg.payload.
    this.on('input', (msg: NodeMessage) => arrive(msg.ttn ?? msg.payload))
  }

  function BenchCeiling(this: NodeInstance, config: CeilingConfig): void {
    RED.nodes.createNode(this, config)
    const node = this
    const client = mqtt.connect(config.url, { reconnectPeriod: 1000 })
    ceilingClients.set(node.id, client)
    client.on('connect', () => client.subscribe(config.topic, { qos: 0 }))
    client.on('message', (_topic, payload) => node.send({ payload: JSON.parse(payload.toString()) }))
    client.on('error', (err) => node.error(err.message))
    node.on('close', (_removed, done) => {
      ceilingClients.delete(node.id)
      client.end(true, {}, () => done())
    })
  }

  function BenchDrive(this: NodeInstance, config: DriveConfig): void {
    RED.nodes.createNode(this, config)
    const node = this
    const window = Number(config.window) || 100
    let running = false
    const emit = () => {
      driven.count++
      node.send({ payload: PAYLOAD })
    }
    const go = () => {
      running = true
      for (let i = 0; i < window; i++) emit()
    }
    const stop = () => {
      running = false
    }
    control.on('go', go)
    control.on('stop', stop)
    node.on('input', () => {
      if (running) emit()
    })
    node.on('close', (_removed, done) => {
      control.off('go', go)
      control.off('stop', stop)
      done()
    })
  }

  function BenchPublish(this: NodeInstance, config: PublishConfig): void {
    RED.nodes.createNode(this, config)
    const node = this
    const client = mqtt.connect(config.url, { reconnectPeriod: 1000 })
    client.on('error', (err) => node.error(err.message))
    node.on('input', (_msg, _send, done) => {
      client.publish(config.topic, downlinkBody(`ttn-sdk:down:${randomUUID()}`), { qos: 0 }, (err) =>
        done(err),
      )
    })
    node.on('close', (_removed, done) => {
      client.end(true, {}, () => done())
    })
  }

  RED.nodes.registerType('bench-count', BenchCount as never)
  RED.nodes.registerType('bench-publish', BenchPublish as never)
  RED.nodes.registerType('bench-ceiling', BenchCeiling as never)
  RED.nodes.registerType('bench-drive', BenchDrive as never)
}

/** The editor half Node-RED expects beside a node file (the benchmark runs without the editor). */
export function editorHtml(): string {
  const defs: Record<string, string> = {
    'bench-count': "{category:'function',defaults:{},inputs:1,outputs:0}",
    'bench-ceiling': "{category:'function',defaults:{url:{value:''},topic:{value:''}},inputs:0,outputs:1}",
    'bench-drive': "{category:'function',defaults:{window:{value:100}},inputs:1,outputs:1}",
    'bench-publish': "{category:'function',defaults:{url:{value:''},topic:{value:''}},inputs:1,outputs:0}",
  }
  return BENCH_NODE_TYPES.map(
    (t) => `<script type="text/javascript">RED.nodes.registerType('${t}',${defs[t]});</script>`,
  ).join('\n')
}

/**
 * The flows each scenario deploys. Every uplink variant ends in the same bench-count node; only
 * what feeds it differs.
 */
import type { FlowNode } from './ipc'
import { APP_ID, deviceId, downlinkTopic, TENANT, UPLINK_FILTER } from './message'

/** Node IDs never equal a type name: Node-RED would read the type as a reference to that node. */
const TAB = 'id-tab'
/** The nodes whose MQTT client the isolated scenario injects into. */
export const APP_NODE = 'id-app'
export const BROKER_NODE = 'id-broker'
export const CEILING_NODE = 'id-ceiling'
const COUNT = 'id-count'
/** An obviously fake key: plain aedes accepts any credentials. */
export const BENCH_API_KEY = 'NNSXS.BENCH.TEST-KEY-NOT-A-REAL-ONE'

export type UplinkVariant = 'ttn' | 'mqtt-in' | 'ceiling'

function tab(): FlowNode {
  return { id: TAB, type: 'tab', label: 'bench' }
}

function counter(): FlowNode {
  return { id: COUNT, type: 'bench-count', z: TAB, wires: [] }
}

function ttnApp(port: number): FlowNode {
  return {
    id: APP_NODE,
    type: 'ttn-app',
    appId: APP_ID,
    tenant: TENANT,
    server: `127.0.0.1:${port}`,
    tls: false,
    api: 'v3',
    credentials: { apiKey: BENCH_API_KEY },
  }
}

export interface UplinkFlowOptions {
  port: number
  /** ttn only: how many ttn-uplink nodes. */
  nodes?: number
  /** ttn only: each node filters one device (dev-0, dev-1, ...); otherwise one node takes every device. */
  perDevice?: boolean
}

/** An uplink source (ttn-uplink nodes, mqtt in with JSON output, or the bench's ceiling node) → bench-count. */
export function uplinkFlow(variant: UplinkVariant, o: UplinkFlowOptions): FlowNode[] {
  const flow = [tab(), counter()]
  if (variant === 'ttn') {
    flow.push(ttnApp(o.port))
    const n = o.nodes ?? 1
    for (let i = 0; i < n; i++) {
      flow.push({
        id: `id-up-${i}`,
        type: 'ttn-uplink',
        z: TAB,
        app: APP_NODE,
        deviceId: o.perDevice ? deviceId(i) : '',
        output: 'auto',
        wires: [[COUNT]],
      })
    }
  } else if (variant === 'mqtt-in') {
    flow.push(
      {
        id: BROKER_NODE,
        type: 'mqtt-broker',
        name: 'bench',
        broker: '127.0.0.1',
        port: String(o.port),
        clientid: '',
        autoConnect: true,
        usetls: false,
        protocolVersion: '4',
        keepalive: '60',
        cleansession: true,
        autoUnsubscribe: true,
      },
      {
        id: 'id-mqtt-in',
        type: 'mqtt in',
        z: TAB,
        topic: UPLINK_FILTER,
        qos: '0',
        datatype: 'json',
        broker: BROKER_NODE,
        nl: false,
        rap: true,
        rh: 0,
        inputs: 0,
        wires: [[COUNT]],
      },
    )
  } else {
    flow.push({
      id: CEILING_NODE,
      type: 'bench-ceiling',
      z: TAB,
      url: `mqtt://127.0.0.1:${o.port}`,
      topic: UPLINK_FILTER,
      wires: [[COUNT]],
    })
  }
  return flow
}

/** Only the counting node: Node-RED without our package (memory baseline). */
export function emptyFlow(): FlowNode[] {
  return [tab(), counter()]
}

export type DownlinkVariant = 'ttn' | 'ceiling'

/**
 * bench-drive → ttn-downlink (device, port 1 and unconfirmed set on the node; msg carries only the
 * payload), and a Complete node on ttn-downlink back into bench-drive to keep `window` in flight.
 * The 'ceiling' variant has bench-publish (MQTT.js + JSON.stringify) in ttn-downlink's place.
 * The outcome timeout is long: plain aedes never answers down/queued, and a run must not end in a
 * storm of timeouts that the real server would not cause.
 */
export function downlinkFlow(variant: DownlinkVariant, port: number, window: number): FlowNode[] {
  const drive = { id: 'id-drive', type: 'bench-drive', z: TAB, window, wires: [['id-down']] }
  const complete = {
    id: 'id-complete',
    type: 'complete',
    z: TAB,
    scope: ['id-down'],
    uncaught: false,
    wires: [['id-drive']],
  }
  if (variant === 'ceiling') {
    return [
      tab(),
      drive,
      {
        id: 'id-down',
        type: 'bench-publish',
        z: TAB,
        url: `mqtt://127.0.0.1:${port}`,
        topic: downlinkTopic(0),
        wires: [],
      },
      complete,
    ]
  }
  return [
    tab(),
    ttnApp(port),
    drive,
    {
      id: 'id-down',
      type: 'ttn-downlink',
      z: TAB,
      app: APP_NODE,
      deviceId: deviceId(0),
      port: 1,
      confirmed: false,
      schedule: 'replace',
      priority: 'NORMAL',
      timeout: 3600,
      wires: [[]],
    },
    complete,
  ]
}

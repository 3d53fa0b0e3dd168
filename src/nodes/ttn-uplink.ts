/** ttn-uplink: one flow message per uplink of the selected device (or all devices). */
import type { Delivery } from '../sdk/client'
import type { UplinkMessage } from '../sdk/messages'
import type { DeviceDetails } from '../sdk/device-details'
import { summarizeUplink } from '../sdk/uplink'
import { findApp } from './app-ref'
import { createUplinkDecoding, type UplinkDecodingConfig } from './uplink-decoding'
import type { NodeInstance, NodeMessage, NodeRedRuntime, NodeStatus } from './red'
import { UplinkStatus } from './uplink-status'

export interface TtnUplinkConfig extends UplinkDecodingConfig {
  name?: string
  app?: string
  deviceId?: string
  output?: 'auto' | 'bytes' | 'message'
  /** *Add device details*: msg.device from the device registry (app-api.ts; the first uplink of a device may go without). */
  details?: boolean | string
}

export function uplinkMessage(d: Delivery<UplinkMessage>, output: TtnUplinkConfig['output']): NodeMessage {
  // The first node to take a delivery gets the parsed message, every other node a copy (Delivery.take).
  const message = d.take()
  const s = summarizeUplink(message)
  const payload = output === 'message' ? message : output === 'bytes' ? s.bytes : (s.decoded ?? s.bytes)
  const msg: NodeMessage = {
    topic: d.topic,
    payload,
    deviceId: d.deviceId,
    port: s.port,
    counter: s.counter,
    ttn: message,
    receivedAt: s.receivedAt,
    rssi: s.rssi,
    snr: s.snr,
    gatewayId: s.gatewayId,
    devEui: s.devEui,
    applicationId: s.applicationId,
    frequency: s.frequency,
    decoded: s.decoded,
    bytes: s.bytes,
  }
  if (d.recovered) msg.recovered = true
  return msg
}

/** msg.device: a copy, so a flow that changes it cannot change what the next uplink carries. */
function withDeviceDetails(device: DeviceDetails | undefined, msg: NodeMessage): NodeMessage {
  if (device) msg.device = structuredClone(device)
  return msg
}

export function registerTtnUplink(RED: NodeRedRuntime): void {
  function TtnUplink(this: NodeInstance, config: TtnUplinkConfig): void {
    RED.nodes.createNode(this, config)
    const node = this
    const app = findApp(RED, node, config.app)
    if (!app) {
      return
    }
    const output = config.output ?? 'auto'
    const details = config.details === true || config.details === 'true'
    const releaseDetails = details ? app.api.useDeviceDetails() : undefined
    const status = new UplinkStatus(RED, node)
    // Local decoding (docs/codecs.md); undefined for decode = server, which keeps the plain path.
    const decoding = createUplinkDecoding(RED._, node, config, app)
    const send = (m: NodeMessage) => node.send(m)
    const remove = app.onUplink(config.deviceId, (d) => {
      const msg = uplinkMessage(d, output)
      const out = details ? withDeviceDetails(app.api.deviceDetails(d.deviceId), msg) : msg
      if (decoding) decoding.handle(out, send)
      else node.send(out)
      status.uplinkArrived()
    })
    // The connection status reaches this node through its UplinkStatus, which adds the last uplink's time.
    const user = { id: node.id, type: node.type, status: (s: NodeStatus | Record<string, never>) => status.connectionChanged(s) }
    app.register(user)
    node.on('close', (_removed, done) => {
      decoding?.close()
      releaseDetails?.()
      remove()
      status.dispose()
      app.deregister(user, done)
    })
  }
  RED.nodes.registerType('ttn-uplink', TtnUplink as never)
}

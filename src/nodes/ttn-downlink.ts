/**
 * ttn-downlink: sends msg.payload to a device with the configured (or msg-overridden) port,
 * confirmation, schedule and priority, then reports the downlink's fate on its output.
 */
import type { DownlinkOutcome } from '../sdk/downlink-tracker'
import { findApp } from './app-ref'
import type { NodeInstance, NodeRedRuntime } from './red'

export interface TtnDownlinkConfig {
  name?: string
  app?: string
  deviceId?: string
  port?: number | string
  confirmed?: boolean | string
  schedule?: string
  priority?: string
  payloadFormat?: 'auto' | 'hex'
  timeout?: number | string
}

const DEFAULT_TIMEOUT_S = 30

/** The editor stores numbers as strings ("5"); report them as numbers. */
function asNumber(value: unknown): unknown {
  return typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value
}

function pick(msgValue: unknown, configValue: unknown): unknown {
  return msgValue === undefined || msgValue === null || msgValue === '' ? configValue : msgValue
}

export function registerTtnDownlink(RED: NodeRedRuntime): void {
  function TtnDownlink(this: NodeInstance, config: TtnDownlinkConfig): void {
    RED.nodes.createNode(this, config)
    const node = this
    const app = findApp(RED, node, config.app)
    if (!app) {
      node.on('input', (_msg, _send, done) => done(new Error(RED._('ttn.errors.noApp'))))
      return
    }
    const timeoutS = Number(config.timeout ?? DEFAULT_TIMEOUT_S)
    const timeoutMs = (Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS : DEFAULT_TIMEOUT_S) * 1000
    const configConfirmed = config.confirmed === true || config.confirmed === 'true'

    node.on('input', (msg, send, done) => {
      const deviceId = pick(msg.deviceId, pick(msg.dev_id, config.deviceId))
      const port = pick(msg.port, config.port === undefined || config.port === '' ? 1 : config.port)
      const confirmed = pick(msg.confirmed, configConfirmed)
      const schedule = pick(msg.schedule, config.schedule || 'replace')
      const priority = pick(msg.priority, config.priority || 'NORMAL')

      const report = (o: DownlinkOutcome) => {
        const out = RED.util.cloneMessage(msg)
        out.downlink = {
          status: o.status,
          correlationId: o.correlationId,
          deviceId: o.deviceId,
          port: asNumber(port),
          confirmed: o.confirmed,
          schedule,
          ...(o.error ? { error: o.error } : {}),
        }
        if (o.event) out.ttn = o.event
        send(out)
        if (o.status === 'failed') {
          const reason = `${o.error?.name ?? 'unknown'}${o.error?.message ? ` (${o.error.message})` : ''}`
          node.error(RED._('ttn.errors.downlinkFailed', { correlationId: o.correlationId, deviceId: o.deviceId, reason }), out)
        } else if (o.status === 'timeout') {
          node.error(RED._('ttn.errors.downlinkTimeout', { correlationId: o.correlationId, deviceId: o.deviceId, seconds: timeoutMs / 1000 }), out)
        } else if (o.status === 'nack' || o.status === 'invalidated') {
          const key = o.status === 'nack' ? 'ttn.errors.downlinkNack' : 'ttn.errors.downlinkInvalidated'
          node.error(RED._(key, { correlationId: o.correlationId, deviceId: o.deviceId }), out)
        }
      }

      app
        .sendDownlink(deviceId, msg.payload, port, confirmed, schedule, {
          priority: priority as string,
          payloadFormat: config.payloadFormat === 'hex' ? 'hex' : 'auto',
          timeoutMs,
          onStatus: report,
        })
        .then(
          () => done(),
          (err: Error) => done(err),
        )
    })

    const unwatch = app.watchDownlinkEvents()
    app.register(node)
    node.on('close', (_removed, done) => {
      unwatch()
      app.deregister(node, done)
    })
  }
  RED.nodes.registerType('ttn-downlink', TtnDownlink as never)
}

/**
 * ttn-downlink: sends msg.payload to a device with the configured (or msg-overridden) port,
 * confirmation, schedule and priority, then reports the downlink's fate on its output and its status.
 * Retries, next-uplink holds and class B/C are the SDK's (src/sdk/downlinks); this is the glue.
 */
import type { SendOptions } from '../sdk/client'
import { type DownlinkOutcome, DownlinkError } from '../sdk/downlink-tracker'
import type { RetryOptions } from '../sdk/downlinks/retry-policy'
import { isNextUplink } from '../sdk/downlinks/retrying-send'
import { findApp } from './app-ref'
import { createDownlinkEncoding, type DownlinkEncodingConfig } from './downlink-encoding'
import { DownlinkStatusView } from './downlink-status'
import type { NodeInstance, NodeMessage, NodeRedRuntime } from './red'

export interface TtnDownlinkConfig extends DownlinkEncodingConfig {
  name?: string
  app?: string
  deviceId?: string
  port?: number | string
  confirmed?: boolean | string
  schedule?: string
  priority?: string
  payloadFormat?: 'auto' | 'hex'
  timeout?: number | string
  /** Retry: attempts in all (1 = no retry), seconds before the first retry (growing), seconds after which it is given up (0 = never), outcomes retried. */
  retryAttempts?: number | string
  retryBackoff?: number | string
  retryTtl?: number | string
  retryOn?: string
}

const DEFAULT_TIMEOUT_S = 30

/** The editor stores numbers as strings ("5"); report them as numbers. */
function asNumber(value: unknown): unknown {
  return typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value
}

function pick(msgValue: unknown, configValue: unknown): unknown {
  return msgValue === undefined || msgValue === null || msgValue === '' ? configValue : msgValue
}

/** Seconds (number or numeric string) to ms; anything else is passed on for the SDK to refuse with its reason. */
function ms(seconds: unknown): unknown {
  if (seconds === undefined || seconds === null || seconds === '') return undefined
  const n = typeof seconds === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(seconds) ? Number(seconds) : seconds
  return typeof n === 'number' ? n * 1000 : seconds
}

/** The node's Retry settings with msg.retry ({ attempts, ttl, backoff } in seconds) over them; undefined = no retry. */
export function retryOptions(config: TtnDownlinkConfig, msgRetry: unknown): RetryOptions | undefined {
  const m = msgRetry !== null && typeof msgRetry === 'object' && !Array.isArray(msgRetry) ? (msgRetry as Record<string, unknown>) : {}
  if (msgRetry !== undefined && msgRetry !== null && m !== msgRetry) return msgRetry as RetryOptions // refused by the SDK, with its reason
  const attempts = pick(m.attempts, config.retryAttempts)
  const ttl = pick(m.ttl, Number(config.retryTtl) > 0 ? config.retryTtl : undefined)
  if ((attempts === undefined || attempts === '' || Number(attempts) === 1) && ttl === undefined) return undefined
  return {
    attempts: asNumber(attempts ?? 1) as number,
    backoffMs: ms(pick(m.backoff, config.retryBackoff)) as number,
    ttlMs: ms(ttl) as number,
    on: (config.retryOn ? config.retryOn.split(',').map((s) => s.trim()).filter(Boolean) : undefined) as RetryOptions['on'],
  }
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
    const payloadFormat = config.payloadFormat === 'hex' ? 'hex' : 'auto'
    const configRetry = retryOptions(config, undefined)
    const view = new DownlinkStatusView(RED, node, () => app.client?.connected === true)
    // Held downlinks and pending retries end with the node (a redeploy or removal), as at a restart.
    const abort = new AbortController()
    // Encode = local: the codec turns msg.payload into bytes here (docs/codecs.md).
    const encoding = createDownlinkEncoding(RED._, config, app, app, node.id)
    if (isNextUplink(config.schedule) && app.client?.sharedGroup) view.setWarning(RED._('ttn.status.nextUplinkShared'))

    /** The output message for one step of one downlink. */
    function outcomeMessage(msg: NodeMessage, o: DownlinkOutcome, port: unknown, schedule: unknown): NodeMessage {
      const out = RED.util.cloneMessage(msg)
      out.downlink = {
        status: o.status,
        correlationId: o.correlationId,
        deviceId: o.deviceId,
        port: asNumber(port),
        confirmed: o.confirmed,
        schedule,
        ...(o.error ? { error: o.error } : {}),
        ...(o.attempts !== undefined ? { attempt: o.attempt, attempts: o.attempts, groupId: o.groupId, final: o.final === true } : {}),
        ...(o.retryInMs !== undefined ? { retryInMs: o.retryInMs } : {}),
        ...(o.reason !== undefined ? { reason: o.reason } : {}),
      }
      if (o.event) out.ttn = o.event
      return out
    }

    /** Final failures (and, without retry, every bad outcome) also go to Catch nodes. */
    function reportError(o: DownlinkOutcome, out: NodeMessage): void {
      if (o.retryInMs !== undefined) return // another attempt follows
      const retried = o.attempts !== undefined && o.attempts > 1
      if (retried && (o.status === 'failed' || o.status === 'expired')) {
        const key = o.status === 'expired' ? 'ttn.errors.downlinkExpired' : 'ttn.errors.downlinkGaveUp'
        node.error(RED._(key, { deviceId: o.deviceId, attempt: o.attempt, attempts: o.attempts, reason: o.reason ?? '', id: o.groupId }), out)
      } else if (o.status === 'failed') {
        const reason = `${o.error?.name ?? o.reason ?? 'unknown'}${o.error?.message ? ` (${o.error.message})` : ''}`
        node.error(RED._('ttn.errors.downlinkFailed', { correlationId: o.correlationId, deviceId: o.deviceId, reason }), out)
      } else if (o.status === 'timeout') {
        node.error(RED._('ttn.errors.downlinkTimeout', { correlationId: o.correlationId, deviceId: o.deviceId, seconds: timeoutMs / 1000 }), out)
      } else if (o.status === 'expired') {
        node.error(RED._('ttn.errors.downlinkExpired', { deviceId: o.deviceId, attempt: o.attempt, attempts: o.attempts, reason: o.reason ?? '', id: o.groupId }), out)
      } else if (o.status === 'nack' || o.status === 'invalidated') {
        const key = o.status === 'nack' ? 'ttn.errors.downlinkNack' : 'ttn.errors.downlinkInvalidated'
        node.error(RED._(key, { correlationId: o.correlationId, deviceId: o.deviceId }), out)
      }
    }

    /** msg.action 'list' / 'clear': the device's queue over The Things Stack's HTTP API. */
    function queueAction(action: 'list' | 'clear', msg: NodeMessage, send: (m: NodeMessage) => void, done: (err?: Error) => void): void {
      const client = app?.client
      const deviceId = pick(msg.deviceId, pick(msg.dev_id, config.deviceId)) as string
      if (!client) {
        done(new Error(app?.configError ?? RED._('ttn.errors.noApp')))
        return
      }
      if (client.api !== 'v3') {
        done(new Error(RED._('ttn.errors.queueV2')))
        return
      }
      const fail = (err: Error) => {
        view.failure(RED._('ttn.status.queueFailed', { action }))
        done(err)
      }
      if (action === 'list') {
        client.listQueue(deviceId).then((queue) => {
          const out = RED.util.cloneMessage(msg)
          out.payload = queue
          out.downlink = { status: 'list', deviceId, count: queue.length }
          view.action(RED._('ttn.status.listed', { count: queue.length }))
          send(out)
          done()
        }, fail)
        return
      }
      client.clearQueue(deviceId).then(() => {
        // Downlinks this node holds for the device's next uplink go too (each reported as cleared).
        client.clearHeldDownlinks(deviceId)
        const out = RED.util.cloneMessage(msg)
        out.downlink = { status: 'cleared', deviceId }
        view.action(RED._('ttn.status.cleared'))
        send(out)
        done()
      }, fail)
    }

    node.on('input', (msg, send, done) => {
      const action = msg.action
      if (action !== undefined && action !== null && action !== '' && action !== 'send') {
        if (action === 'list' || action === 'clear') queueAction(action, msg, send, done)
        else done(new Error(RED._('ttn.errors.unknownAction', { action: JSON.stringify(action) })))
        return
      }
      let completed = false
      const complete = (err?: Error) => {
        if (completed) return
        completed = true
        done(err)
      }
      const deviceId = pick(msg.deviceId, pick(msg.dev_id, config.deviceId))
      let port = pick(msg.port, config.port === undefined || config.port === '' ? 1 : config.port)
      const confirmed = pick(msg.confirmed, configConfirmed)
      const schedule = pick(msg.schedule, config.schedule || 'replace')
      const priority = pick(msg.priority, config.priority || 'NORMAL')

      // Per message: counted in the status while held for an uplink or waiting for the connection.
      let held = false
      let waiting = false
      const report = (o: DownlinkOutcome) => {
        if (held && o.status !== 'held') view.held(-1)
        if (waiting && o.status !== 'waiting') view.waiting(-1)
        held = o.status === 'held'
        waiting = o.status === 'waiting'
        if (held) view.held(+1)
        else if (waiting) view.waiting(+1)
        else view.outcome(o)
        const out = outcomeMessage(msg, o, port, schedule)
        send(out)
        reportError(o, out)
        // A held downlink is accepted: the flow goes on, its fate follows on the output.
        if (held) complete()
      }

      const retry = msg.retry === undefined ? configRetry : retryOptions(config, msg.retry)
      const options: SendOptions = { priority: priority as string, payloadFormat, timeoutMs, onStatus: report }
      if (retry) options.retry = retry
      if (msg.classBC !== undefined) options.classBC = msg.classBC as SendOptions['classBC']
      if (retry || isNextUplink(schedule)) options.signal = abort.signal
      const publish = (payload: unknown) => app.sendDownlink(deviceId, payload, port, confirmed, schedule, options)
      const sent =
        encoding && deviceId
          ? encoding.encode(msg, String(deviceId), port).then((e) => {
              if (e.fPort !== undefined) port = e.fPort
              return publish(e.bytes)
            })
          : publish(msg.payload)
      sent.then(
          () => complete(),
          // A send that ended before it was published (replaced, expired) was reported on the output;
          // one aborted because the node closed has nobody left to tell.
          (err: Error) => complete(err instanceof DownlinkError || err.name === 'AbortError' ? undefined : err),
        )
    })

    const unwatch = app.watchDownlinkEvents()
    const user = view.connectionUser()
    app.register(user)
    node.on('close', (_removed, done) => {
      encoding?.close()
      abort.abort()
      view.dispose()
      unwatch()
      app.deregister(user, done)
    })
  }
  RED.nodes.registerType('ttn-downlink', TtnDownlink as never)
}

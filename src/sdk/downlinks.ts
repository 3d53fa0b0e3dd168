/**
 * Downlinks: validate, build the body, wait offline or publish, and follow each by correlation ID.
 * A downlink travels as one `OutgoingDownlink` from `send` to the wire: validated once, then either
 * queued while offline (bounded) or published, and tracked until the server reports its outcome.
 */
import { randomUUID } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import type { SendOptions, SendResult } from './client-types'
import { type DownlinkOutcome, DownlinkTracker, type WaitTarget } from './downlink-tracker'
import { ValidationError } from './errors'
import type { V2DownlinkRequest, V3DownlinkRequest } from './messages'
import type { Subscriptions } from './subscriptions'
import type { Api, Topics } from './topics'
import { type DownlinkRequest, validateDownlink } from './validate'
import { WatchedPromise } from './watched-promise'

const MAX_CORRELATION_ID = 100

export interface DownlinkSettings {
  api: Api
  topics: Topics
  subscriptions: Subscriptions
  /** Downlinks kept while offline (default 100). */
  offlineQueueLimit?: number
  /** How long the server has to queue a downlink before it counts as 'timeout', ms. */
  queueTimeoutMs?: number
  correlationPrefix?: string
  /** The connection while it is up. */
  connection(): MqttClient | undefined
  /** False once the client is stopped or closed: then nothing waits for a reconnect. */
  accepting(): boolean
  /** The downlink was written to the connection (the seed's downlinkCallback, the 'downlink' event). */
  written(mid: number, result: SendResult): void
  /** A failure the caller did not handle (see WatchedPromise). */
  report(err: Error): void
}

/** A downlink on its way from send() to the wire. */
interface OutgoingDownlink {
  request: DownlinkRequest
  options: SendOptions
  resolve(result: SendResult): void
  reject(err: Error): void
}

export class Downlinks {
  /** Matches the server's down/* events to our sends; Inbound feeds it. */
  readonly tracker: DownlinkTracker
  private readonly offline: OutgoingDownlink[] = []
  private nextMid = 1
  /** Set while this turn's downlink writes are held back, to leave in one system call. */
  private writesCorked = false

  constructor(private readonly settings: DownlinkSettings) {
    const { subscriptions } = settings
    this.tracker = new DownlinkTracker({
      queueTimeoutMs: settings.queueTimeoutMs,
      // Each tracked downlink holds the down/* subscriptions until it is final or forgotten.
      onDone: () => subscriptions.holdDownlinkEvents(false),
    })
  }

  /** Validate and send, or keep while offline. The promise rejects with what to change; nothing malformed is published. */
  send(
    deviceId: unknown,
    payload: unknown,
    port: unknown,
    confirmed: unknown,
    schedule: unknown,
    options: SendOptions,
  ): Promise<SendResult> {
    const sent = new WatchedPromise<SendResult>((resolve, reject) => {
      const request = validateDownlink(
        {
          deviceId,
          payload,
          port,
          confirmed,
          schedule,
          priority: options.priority,
          payloadFormat: options.payloadFormat,
          classBC: options.classBC,
        },
        this.settings.api,
      )
      validateCorrelationIds(options.correlationIds)
      const downlink: OutgoingDownlink = { request, options, resolve, reject }
      if (this.settings.connection()) {
        this.publish(downlink)
        return
      }
      if (!this.settings.accepting()) {
        throw new Error('The client is closed: call connect() or start() before sending downlinks.')
      }
      const limit = this.settings.offlineQueueLimit ?? 100
      if (this.offline.length >= limit) {
        throw new Error(
          `Not connected to The Things Stack and ${this.offline.length} downlinks are already waiting (limit ${limit}); this downlink was not sent.`,
        )
      }
      this.offline.push(downlink)
      options.onStatus?.({ status: 'waiting', correlationId: '', deviceId: request.deviceId, confirmed: request.confirmed })
    })
    // Reported once: to the caller who handles the promise, else as an 'error' (never a crash).
    return sent.whenUnhandled(this.settings.report)
  }

  /** How many downlinks wait for the connection. */
  get waiting(): number {
    return this.offline.length
  }

  /** Connected again: send what waited, in order. */
  flush(): void {
    for (const downlink of this.offline.splice(0)) {
      // A retrying send (src/sdk/downlinks/) that gave up while this attempt waited: it is not sent.
      if (downlink.options.cancelled?.()) {
        downlink.reject(new Error(`The downlink to ${downlink.request.deviceId} was given up before the connection came back; it was not sent.`))
      } else this.publish(downlink)
    }
  }

  /** The client stops: what waited is not sent, and each caller is told. */
  failWaiting(reason: 'closed' | 'stopped'): void {
    for (const d of this.offline.splice(0)) {
      d.reject(
        new Error(
          `The client was ${reason} before the downlink to ${d.request.deviceId} could be sent; it was not sent.`,
        ),
      )
    }
  }

  wait(correlationId: string, target: WaitTarget = 'final', timeoutMs?: number): Promise<DownlinkOutcome> {
    return this.tracker.wait(correlationId, target, timeoutMs)
  }

  private publish(downlink: OutgoingDownlink): void {
    const connection = this.settings.connection()
    if (!connection) {
      this.offline.unshift(downlink)
      return
    }
    const { api, topics, subscriptions } = this.settings
    const { request, options } = downlink
    const correlationId = `${this.settings.correlationPrefix ?? 'ttn-sdk:down:'}${randomUUID()}`
    const topic = topics.downlink(request.deviceId, request.schedule === 'replace' ? 'replace' : 'push')
    const body =
      api === 'v3' ? v3Body(request, [correlationId, ...(options.correlationIds ?? [])]) : v2Body(request)
    const mid = this.nextMid++
    if (api === 'v3') {
      // Held until the tracker calls onDone for this downlink (final, forgotten or abandoned).
      this.tracker.track(correlationId, request.deviceId, request.confirmed, options.onStatus)
      subscriptions.holdDownlinkEvents(true)
    }
    this.coalesceWrites(connection)
    connection.publish(topic, JSON.stringify(body), { qos: 0 }, (err) => {
      if (err) {
        this.tracker.abandon(correlationId)
        downlink.reject(
          new Error(
            `Publishing the downlink to ${request.deviceId} failed: ${err.message}; it was not sent.`,
          ),
        )
        return
      }
      if (api === 'v3') this.tracker.published(correlationId, options.timeoutMs)
      const result: SendResult = {
        mid,
        correlationId,
        deviceId: request.deviceId,
        topic,
        body,
        wait: (target: WaitTarget = 'final', timeoutMs?: number) =>
          api === 'v3'
            ? this.tracker.wait(correlationId, target, timeoutMs)
            : Promise.reject(new Error('Downlink outcomes are not reported in the TTN v2 API mode.')),
      }
      this.settings.written(mid, result)
      downlink.resolve(result)
    })
  }

  /**
   * Downlinks sent in one event-loop turn leave in one system call instead of one each (Node-RED
   * hands every message to a node in its own callback): cork the socket on the first publish of a
   * turn, uncork it on the next turn. Cork counts nest, so MQTT.js's own cork/uncork still works.
   */
  private coalesceWrites(connection: MqttClient): void {
    const stream = connection.stream as { cork?: () => void; uncork?: () => void } | undefined
    if (this.writesCorked || !stream?.cork || !stream.uncork) return
    stream.cork()
    this.writesCorked = true
    setImmediate(() => {
      this.writesCorked = false
      stream.uncork?.()
    })
  }
}

function validateCorrelationIds(ids: unknown[] | undefined): void {
  for (const id of ids ?? []) {
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_CORRELATION_ID) {
      throw new ValidationError(
        `Correlation IDs must be non-empty strings of at most ${MAX_CORRELATION_ID} characters; got ${JSON.stringify(id)}.`,
        'correlationIds',
      )
    }
  }
}

function v3Body(r: DownlinkRequest, correlationIds: string[]): V3DownlinkRequest {
  const item: V3DownlinkRequest['downlinks'][number] = { f_port: r.port }
  if (r.payload.kind === 'bytes') item.frm_payload = r.payload.bytes.toString('base64')
  else item.decoded_payload = r.payload.decoded
  item.confirmed = r.confirmed
  item.priority = r.priority
  item.correlation_ids = correlationIds
  if (r.classBC) item.class_b_c = r.classBC
  return { downlinks: [item] }
}

function v2Body(r: DownlinkRequest): V2DownlinkRequest {
  const body: V2DownlinkRequest = {
    port: r.port,
    confirmed: r.confirmed,
    schedule: r.schedule === 'push' ? 'last' : (r.schedule as V2DownlinkRequest['schedule']),
  }
  if (r.payload.kind === 'bytes') body.payload_raw = r.payload.bytes.toString('base64')
  else body.payload_fields = r.payload.decoded
  return body
}

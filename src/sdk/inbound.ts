/**
 * Messages from the server: topic → parsed message → the listeners of that event and device.
 * Parsing happens once per message and only when someone wants it (a map lookup decides); a
 * malformed message is reported with its topic and never stops the stream.
 */
import { Delivery } from './delivery'
import { Dispatcher } from './dispatch'
import type { DownlinkTracker } from './downlink-tracker'
import type { V3Envelope } from './messages'
import type { Subscriptions } from './subscriptions'
import { type Api, EVENT_NAMES, type EventName, type Topics, V3_BODY_KEY, supportsEvent } from './topics'

export type DeliveryListener = (delivery: Delivery) => void

export interface InboundSettings {
  api: Api
  topics: Topics
  subscriptions: Subscriptions
  tracker: DownlinkTracker
  /** Recovery's filter for live uplinks: false drops one it delivered already (or a repeat). */
  admitLive?: (message: Record<string, unknown>) => boolean
  /** A malformed message (reported as MalformedMessageError) or a throwing listener. */
  report(err: Error): void
}

export class MalformedMessageError extends Error {
  constructor(
    readonly topic: string,
    readonly reason: string,
  ) {
    super(`Ignored a malformed message on ${topic}: ${reason}`)
    this.name = 'MalformedMessageError'
  }
}

export class Inbound {
  private readonly dispatcher = new Dispatcher<Delivery>()
  private readonly onListenerError = (err: unknown): void =>
    this.settings.report(err instanceof Error ? err : new Error(String(err)))

  constructor(private readonly settings: InboundSettings) {}

  /** Number of listeners (for leak checks). */
  get listenerCount(): number {
    return this.dispatcher.listenerCount()
  }

  /** The events `listen(event)` stands for: 'all' is every event but uplinks that this API has. */
  eventsFor(event: EventName | 'all'): EventName[] {
    const { api } = this.settings
    const events = event === 'all' ? EVENT_NAMES.filter((e) => e !== 'up' && supportsEvent(api, e)) : [event]
    for (const e of events) {
      if (!EVENT_NAMES.includes(e))
        throw new Error(`Unknown event "${e}": use one of ${EVENT_NAMES.join(', ')} or "all".`)
      if (!supportsEvent(api, e)) throw new Error(`Event "${e}" does not exist in the TTN v2 API.`)
    }
    return events
  }

  /**
   * Route these events of one device (every device when empty) to the listener; the listener holds
   * their subscriptions. Returns the function that removes it (safe to call twice).
   */
  listen(events: EventName[], deviceId: string | undefined, listener: DeliveryListener): () => void {
    const device = deviceId?.trim() || undefined
    const { subscriptions } = this.settings
    for (const e of events) {
      this.dispatcher.add(e, device, listener)
      subscriptions.acquire(e)
    }
    let removed = false
    return () => {
      if (removed) return
      removed = true
      for (const e of events) {
        this.dispatcher.remove(e, device, listener)
        subscriptions.release(e)
      }
    }
  }

  /** Hand a delivery obtained elsewhere (recovered from storage) to the listeners. */
  deliver(delivery: Delivery): void {
    this.dispatcher.dispatch(delivery.event, delivery.deviceId, delivery, this.onListenerError)
  }

  /** One MQTT message from the server. */
  handle(topic: string, payload: Buffer): void {
    const { topics, tracker, api } = this.settings
    const route = topics.parse(topic)
    if ('problem' in route) {
      this.malformed(topic, route.problem)
      return
    }
    const { deviceId, event } = route
    const tracking = event.startsWith('down/') && tracker.size > 0
    if (!tracking && !this.dispatcher.wants(event, deviceId)) return
    let message: unknown
    try {
      message = JSON.parse(payload.toString('utf8'))
    } catch (err) {
      this.malformed(topic, `invalid JSON (${(err as Error).message})`)
      return
    }
    if (!message || typeof message !== 'object' || Array.isArray(message)) {
      this.malformed(topic, 'the message is not a JSON object')
      return
    }
    const fields = message as Record<string, unknown>
    let body: unknown = message
    if (api === 'v3') {
      const key = V3_BODY_KEY[event]
      body = fields[key]
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        this.malformed(
          topic,
          `no "${key}" object in the message (a v2 body on a v3 topic, or an unexpected shape)`,
        )
        return
      }
    } else if (event === 'up' && fields.dev_id === undefined) {
      fields.dev_id = deviceId
    }
    if (event === 'up' && this.settings.admitLive && !this.settings.admitLive(fields)) return
    if (tracking) tracker.handleEvent(event, message as V3Envelope)
    this.dispatcher.dispatch(
      event,
      deviceId,
      new Delivery(event, deviceId, topic, message as V3Envelope, body),
      this.onListenerError,
    )
  }

  private malformed(topic: string, reason: string): void {
    this.settings.report(new MalformedMessageError(topic, reason))
  }
}

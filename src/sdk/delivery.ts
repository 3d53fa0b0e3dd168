/**
 * One message from the server on its way to the listeners. It is parsed once and handed to every
 * listener of its event and device; `take()` is the one rule for who may change it: the first taker
 * gets the parsed object itself, every later taker a deep copy (Node-RED's rule for wires), so one
 * consumer changing what it received can never change what another sees.
 */
import type { UplinkMessage, V3Envelope } from './messages'
import { type Api, type EventName, V3_BODY_KEY } from './topics'

export interface DeliveryInit<M> {
  event: EventName
  deviceId: string
  topic: string
  message: M
  /** The event's body inside the message (e.g. join_accept); for v2, the whole message. */
  body: unknown
  recovered?: boolean
}

export class Delivery<M = V3Envelope | UplinkMessage> {
  readonly event: EventName
  readonly deviceId: string
  readonly topic: string
  /** The whole parsed message, shared by every listener: read it, or `take()` it to keep or change it. */
  readonly message: M
  /** The event's body (e.g. join_accept, uplink_message); for v2, the whole message. */
  readonly body: unknown
  /** True when the message was recovered after a disconnect rather than received live. */
  readonly recovered: boolean
  private taken = false

  constructor(init: DeliveryInit<M>) {
    this.event = init.event
    this.deviceId = init.deviceId
    this.topic = init.topic
    this.message = init.message
    this.body = init.body
    this.recovered = init.recovered === true
  }

  /**
   * The message (and its body) for a listener that hands it on or changes it: the parsed object on
   * the first call, a deep copy on every later call.
   */
  take(): { message: M; body: unknown } {
    if (!this.taken) {
      this.taken = true
      return { message: this.message, body: this.body }
    }
    const message = structuredClone(this.message)
    return { message, body: this.body === this.message ? message : bodyOf(message, this.event) }
  }
}

/** Where an event's body sits in a v3 message; v2 messages are their own body. */
export function bodyOf(message: unknown, event: EventName, api: Api = 'v3'): unknown {
  if (api === 'v2') return message
  return (message as Record<string, unknown>)[V3_BODY_KEY[event]]
}

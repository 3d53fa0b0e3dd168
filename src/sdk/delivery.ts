/**
 * One message from the server on its way to the listeners. It is parsed once and handed to every
 * listener of its event and device; `take()` is the one rule for who may change it: the first taker
 * gets the parsed object itself, every later taker a deep copy (Node-RED's rule for wires), so one
 * consumer changing what it received can never change what another sees.
 */
import type { UplinkMessage, V3Envelope } from './messages'
import { type EventName, V3_BODY_KEY } from './topics'

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

  // Positional, not an init object: one allocation per message on the hot path, not two.
  constructor(event: EventName, deviceId: string, topic: string, message: M, body: unknown, recovered = false) {
    this.event = event
    this.deviceId = deviceId
    this.topic = topic
    this.message = message
    this.body = body
    this.recovered = recovered
  }

  static from<M>(init: DeliveryInit<M>): Delivery<M> {
    return new Delivery(init.event, init.deviceId, init.topic, init.message, init.body, init.recovered === true)
  }

  /**
   * The message for a listener that hands it on or changes it: the parsed object on the first call,
   * a deep copy on every later call. (No wrapper object: this runs once per listener per message.)
   */
  take(): M {
    if (this.taken) return structuredClone(this.message)
    this.taken = true
    return this.message
  }

  /** The event's body inside `message`: this delivery's message or a copy `take()` returned. */
  bodyIn(message: M): unknown {
    if (message === this.message) return this.body
    // A v2 message is its own body.
    return this.body === this.message ? message : bodyOf(message, this.event)
  }
}

/** Where an event's body sits in a v3 message. */
function bodyOf(message: unknown, event: EventName): unknown {
  return (message as Record<string, unknown>)[V3_BODY_KEY[event]]
}

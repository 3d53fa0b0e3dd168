/**
 * What the connection is subscribed to. Every listener holds a reference to its event's MQTT filter:
 * the broker is told to subscribe on the first reference and to unsubscribe on the last, and every
 * held filter is subscribed again after each reconnect. Downlinks awaiting their outcome hold the
 * down/* events the same way.
 */
import type { MqttClient } from 'mqtt'
import { RefCounter } from './dispatch'
import { DOWNLINK_EVENTS } from './downlink-tracker'
import type { Api, EventName, Topics } from './topics'

export interface SubscriptionSettings {
  api: Api
  topics: Topics
  username: string
  /** Generic broker mode: refusals are explained with the broker's ACL, not The Things Stack's rules. */
  generic: boolean
  sharedGroup?: string
  /** The connection while it is up. */
  connection(): MqttClient | undefined
  report(err: Error): void
}

export class Subscriptions {
  private readonly refs = new RefCounter<string>()
  private downlinkEventHolds = 0

  constructor(private readonly settings: SubscriptionSettings) {}

  /** MQTT filters currently held. */
  get filters(): string[] {
    return this.refs.keys()
  }

  /** How many references hold the filter of this event. */
  holds(event: EventName): number {
    const filter = this.settings.topics.eventFilter(event)
    return filter === undefined ? 0 : this.refs.count(filter)
  }

  acquire(event: EventName): void {
    const filter = this.settings.topics.eventFilter(event)
    if (filter === undefined || !this.refs.acquire(filter)) return
    const connection = this.settings.connection()
    if (connection) this.subscribe(connection, [filter])
  }

  release(event: EventName): void {
    const filter = this.settings.topics.eventFilter(event)
    if (filter === undefined || !this.refs.release(filter)) return
    this.settings.connection()?.unsubscribe(filter, (err) => {
      if (err) this.settings.report(new Error(`Unsubscribing from ${filter} failed: ${err.message}`))
    })
  }

  /** After (re)connecting: subscribe to everything held. */
  restore(connection: MqttClient): void {
    const filters = this.refs.keys()
    if (filters.length > 0) this.subscribe(connection, filters)
  }

  /** Hold (or let go of) the down/* events that report downlink outcomes (v3 only). */
  holdDownlinkEvents(hold: boolean): void {
    if (this.settings.api !== 'v3') return
    if (hold) {
      if (this.downlinkEventHolds++ === 0) for (const e of DOWNLINK_EVENTS) this.acquire(e)
    } else if (this.downlinkEventHolds > 0 && --this.downlinkEventHolds === 0) {
      for (const e of DOWNLINK_EVENTS) this.release(e)
    }
  }

  private subscribe(connection: MqttClient, filters: string[]): void {
    const { username, generic, sharedGroup, topics } = this.settings
    connection.subscribe(filters, { qos: 0 }, (err, granted, suback) => {
      // A refusal is a SUBACK code of 128 or more (MQTT 5: a reason code). MQTT.js 5 reports it as an
      // error that carries the SUBACK; the codes are in the order of the filters.
      const codes: unknown[] = suback?.granted ?? (granted ?? []).map((g) => g.qos)
      const refused = filters.filter((_, i) => typeof codes[i] === 'number' && (codes[i] as number) >= 128)
      if (refused.length > 0) {
        const why = generic
          ? `Check the broker's ACL: user "${username}" needs to read ${topics.root}/devices/+/#` +
            (sharedGroup ? ', and the broker must support shared subscriptions ($share).' : '.')
          : `The topic must start with the exact username "${username}" (check the tenant suffix), and the key needs the right to read application traffic.`
        for (const filter of refused)
          this.settings.report(new Error(`The server refused the subscription ${filter}. ${why}`))
        return
      }
      // A connection that dropped with the SUBSCRIBE in flight re-subscribes on reconnect: not an error.
      if (
        err &&
        this.settings.connection() === connection &&
        !/connection closed|disconnecting/i.test(err.message)
      ) {
        this.settings.report(new Error(`Subscribing to ${filters.join(', ')} failed: ${err.message}`))
      }
    })
  }
}

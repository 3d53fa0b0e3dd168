/**
 * MQTT topics of The Things Stack v3 and of the retired TTN v2 handler: building publish topics,
 * subscription filters, and parsing incoming topics into (device, event).
 */

export type Api = 'v3' | 'v2'

/** Events the server publishes, named as in v3 (v2 events are mapped onto these names). */
export const EVENT_NAMES = [
  'up',
  'up/normalized',
  'join',
  'down/queued',
  'down/sent',
  'down/ack',
  'down/nack',
  'down/failed',
  'down/invalidated',
  'location/solved',
  'service/data',
] as const
export type EventName = (typeof EVENT_NAMES)[number]
const EVENT_SET: ReadonlySet<string> = new Set(EVENT_NAMES)
export function isEventName(x: unknown): x is EventName {
  return typeof x === 'string' && EVENT_SET.has(x)
}

/** The JSON key that carries the body of each v3 event. */
export const V3_BODY_KEY: Record<EventName, string> = {
  up: 'uplink_message',
  'up/normalized': 'uplink_normalized',
  join: 'join_accept',
  'down/queued': 'downlink_queued',
  'down/sent': 'downlink_sent',
  'down/ack': 'downlink_ack',
  'down/nack': 'downlink_nack',
  'down/failed': 'downlink_failed',
  'down/invalidated': 'downlink_queue_invalidated',
  'location/solved': 'location_solved',
  'service/data': 'service_data',
}

/** v2 topic suffixes (after `{app}/devices/{dev}/`) for the events that exist there. */
const V2_SUFFIX: Partial<Record<EventName, string>> = {
  up: 'up',
  join: 'events/activations',
  'down/queued': 'events/down/scheduled',
  'down/sent': 'events/down/sent',
  'down/ack': 'events/down/acks',
  'down/failed': 'events/down/errors',
}
const V2_EVENT_BY_SUFFIX = new Map<string, EventName>(
  Object.entries(V2_SUFFIX).map(([event, suffix]) => [suffix as string, event as EventName]),
)

export function supportsEvent(api: Api, event: EventName): boolean {
  return api === 'v3' || V2_SUFFIX[event] !== undefined
}

/** Where the topics live on brokers other than The Things Stack, and how subscriptions are shared. */
export interface TopicOptions {
  /** The topic tree's root instead of `v3/{app@tenant}` (v2: `{app}`), e.g. `ttn/my-app` for a bridged tree. */
  prefix?: string
  /** Shared subscription group: filters become `$share/{group}/{filter}` (MQTT 5 and Mosquitto 2 with 3.1.1). */
  sharedGroup?: string
}

/** Why a custom topic prefix cannot be used, or undefined when it can. */
export function topicPrefixProblem(prefix: unknown): string | undefined {
  if (typeof prefix !== 'string' || prefix.trim() === '') return 'The topic prefix is empty: give the root of the bridged topic tree, e.g. "ttn/my-app".'
  if (/[+#]/.test(prefix) || prefix.includes('\0')) return `The topic prefix "${prefix}" contains "+", "#" or NUL: it must be a plain topic, e.g. "ttn/my-app".`
  if (prefix.startsWith('$')) return `The topic prefix "${prefix}" starts with "$": such topics are reserved by brokers ($SYS, $share); use e.g. "ttn/my-app".`
  if (prefix.startsWith('/') || prefix.endsWith('/') || prefix.includes('//')) {
    return `The topic prefix "${prefix}" has an empty topic level (a leading, trailing or double "/"): write it as "ttn/my-app".`
  }
  if (/(^|\/)devices$/.test(prefix)) return `The topic prefix "${prefix}" ends with "devices": leave that out, it is added for you ("${prefix.replace(/\/?devices$/, '') || 'ttn/my-app'}").`
  return undefined
}

/** Why a shared subscription group name cannot be used, or undefined when it can. */
export function sharedGroupProblem(group: unknown): string | undefined {
  if (typeof group !== 'string' || group.trim() === '') return 'The shared subscription group is empty: give a name such as "node-red".'
  if (/[/+#\s]/.test(group) || group.includes('\0')) return `The shared subscription group "${group}" contains "/", "+", "#" or white space, which MQTT does not allow in a group name.`
  return undefined
}

export class Topics {
  /** The topic tree's root: `v3/{app@tenant}`, `{app}` (v2) or the custom prefix. */
  readonly root: string
  private readonly prefix: string
  private readonly sharePrefix: string
  constructor(
    readonly api: Api,
    readonly topicId: string,
    options: TopicOptions = {},
  ) {
    this.root = options.prefix ?? (api === 'v3' ? `v3/${topicId}` : topicId)
    this.prefix = `${this.root}/devices/`
    this.sharePrefix = options.sharedGroup ? `$share/${options.sharedGroup}/` : ''
  }

  /**
   * Filter for one event of every device. Filters never overlap, so no message arrives twice.
   * With a shared group every event is shared except the downlink outcomes (down/*): those must reach
   * the member that sent the downlink, which only a plain subscription guarantees.
   */
  eventFilter(event: EventName): string | undefined {
    const share = event.startsWith('down/') ? '' : this.sharePrefix
    if (this.api === 'v3') return `${share}${this.prefix}+/${event}`
    const suffix = V2_SUFFIX[event]
    return suffix ? `${share}${this.prefix}+/${suffix}` : undefined
  }

  downlink(deviceId: string, schedule: 'push' | 'replace'): string {
    return this.api === 'v3' ? `${this.prefix}${deviceId}/down/${schedule}` : `${this.prefix}${deviceId}/down`
  }

  /** Split an incoming topic into device and event, or say why it is not one of ours. */
  parse(topic: string): { deviceId: string; event: EventName } | { problem: string } {
    if (!topic.startsWith(this.prefix)) return { problem: 'topic outside this application' }
    const rest = topic.slice(this.prefix.length)
    const slash = rest.indexOf('/')
    if (slash <= 0) return { problem: 'no device ID in topic' }
    const deviceId = rest.slice(0, slash)
    const suffix = rest.slice(slash + 1)
    if (this.api === 'v3') {
      return isEventName(suffix) ? { deviceId, event: suffix } : { problem: `unknown event "${suffix}"` }
    }
    const event = V2_EVENT_BY_SUFFIX.get(suffix)
    return event ? { deviceId, event } : { problem: `unknown event "${suffix}"` }
  }
}

/**
 * Generic broker mode: the application's traffic bridged from The Things Stack into another broker
 * (Mosquitto, EMQX, HiveMQ, VerneMQ) that has its own users, its own topic tree and shared
 * subscriptions, so several consumers can split the traffic. The Things Stack itself accepts only
 * MQTT 3.1.1 and no `$share`, so those are refused early for its hosts instead of failing at connect.
 */
import { deriveTenant } from './address'
import { ConnectResult, type ConnectFailure } from './connack'
import { type TopicOptions, sharedGroupProblem, topicPrefixProblem } from './topics'

export interface BrokerModeOptions {
  topicPrefix?: string
  username?: string
  protocolVersion?: 4 | 5
  sharedGroup?: string
}

export interface BrokerMode {
  /** True when any generic-broker option is set: failure hints then speak of "the broker", not The Things Stack. */
  generic: boolean
  /** The MQTT username to log in with. */
  username: string
  protocolVersion: 4 | 5
  topics: TopicOptions
}

/** Check the generic-broker options and work out the login and topics; throws an Error that says what to change. */
export function resolveBrokerMode(options: BrokerModeOptions, topicId: string, host: string): BrokerMode {
  const ttsHost = deriveTenant(host) !== undefined
  const topics: TopicOptions = {}
  if (options.topicPrefix !== undefined) {
    const prefix = typeof options.topicPrefix === 'string' ? options.topicPrefix.trim() : options.topicPrefix
    const problem = topicPrefixProblem(prefix)
    if (problem) throw new Error(problem)
    topics.prefix = prefix
  }
  if (options.sharedGroup !== undefined) {
    const group = typeof options.sharedGroup === 'string' ? options.sharedGroup.trim() : options.sharedGroup
    const problem = sharedGroupProblem(group)
    if (problem) throw new Error(problem)
    if (ttsHost) {
      throw new Error(
        `${host} is The Things Stack, which gives every connection a full copy of the traffic and does not support shared ` +
          'subscriptions: bridge the application into a broker that does (Mosquitto, EMQX, HiveMQ, VerneMQ) and connect there.',
      )
    }
    topics.sharedGroup = group
  }
  const version = options.protocolVersion ?? 4
  if (version !== 4 && version !== 5) {
    throw new Error(`Unknown MQTT protocolVersion ${JSON.stringify(options.protocolVersion)}: use 4 (MQTT 3.1.1, the default) or 5 (MQTT 5, generic brokers only).`)
  }
  if (version === 5 && ttsHost) {
    throw new Error(`${host} is The Things Stack, which accepts only MQTT 3.1.1 (MQTT 5 is refused with CONNACK 1): leave protocolVersion at 4.`)
  }
  let username = topicId
  if (options.username !== undefined) {
    const name = typeof options.username === 'string' ? options.username.trim() : ''
    if (!name) throw new Error('The MQTT username is empty: give the broker user, or leave the option out to log in as the application.')
    username = name
  }
  const generic = options.topicPrefix !== undefined || options.username !== undefined || options.sharedGroup !== undefined || version === 5
  return { generic, username, protocolVersion: version, topics }
}

/** MQTT 5 CONNACK reason codes mapped to their MQTT 3.1.1 return codes, so callbacks and states read the same. */
const V5_TO_V311 = new Map<number, number>([
  [0x84, ConnectResult.UnacceptableProtocol],
  [0x85, ConnectResult.IdentifierRejected],
  [0x86, ConnectResult.BadUsernameOrPassword],
  [0x87, ConnectResult.NotAuthorized],
  [0x88, ConnectResult.ServerUnavailable],
  [0x89, ConnectResult.ServerUnavailable],
  [0x8a, ConnectResult.NotAuthorized],
  [0x8c, ConnectResult.BadUsernameOrPassword],
])
export function v311ConnectCode(code: number): number {
  return V5_TO_V311.get(code) ?? code
}

/** A refused login on a generic broker: its own users and ACL, not The Things Stack's tenant rules. */
export function genericFailure(failure: ConnectFailure, username: string, address: string, topicRoot: string): ConnectFailure {
  if (failure.code !== ConnectResult.NotAuthorized && failure.code !== ConnectResult.BadUsernameOrPassword) return failure
  return {
    ...failure,
    hint:
      `The broker at ${address} refused "${username}" (CONNACK ${failure.code}). Check the username and password ` +
      `(the API key field) of this broker's user, and that its ACL lets the user read ${topicRoot}/devices/+/# ` +
      'and write down/push and down/replace there.',
  }
}

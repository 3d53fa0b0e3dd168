/**
 * The client's public types: its options, the connection status it reports, what `send` takes and
 * gives back, the seed's callbacks, and the events it emits (typed, so listeners are checked).
 */
import type { BackoffOptions } from './backoff'
import type { BrokerModeOptions } from './broker-mode'
import type { ConnectError } from './connack'
import type { Delivery } from './delivery'
import type { DownlinkOutcome, WaitTarget } from './downlink-tracker'
import type { ClassBC } from './downlinks/class-bc'
import type { RetryOptions } from './downlinks/retry-policy'
import type { UplinkMessage, V2DownlinkRequest, V3DownlinkRequest } from './messages'
import type { PayloadFormat } from './payload'
import type { RecoveryEvent, RecoveryOptions } from './recovery'
import type { Api } from './topics'

export interface TlsOptions {
  /** Force TLS on or off; by default TLS is used for mqtts:// and port 8883. */
  enabled?: boolean
  /** Custom CA(s) for private deployments (PEM). */
  ca?: string | Buffer | Array<string | Buffer>
  /** Client certificate and key (PEM) for brokers that require them. */
  cert?: string | Buffer
  key?: string | Buffer
  passphrase?: string
  /** Certificate verification; on by default. Turning it off is explicit and reported as a warning. */
  rejectUnauthorized?: boolean
  /** Host name to verify the certificate against (SNI), when it differs from the address. */
  servername?: string
}

export interface MQTTClientOptions extends BrokerModeOptions {
  /** Tenant for the username (`app@tenant`); by default derived from the host. null: no tenant. */
  tenant?: string | null
  /** 'v3' (The Things Stack, default) or 'v2' (the retired TTN v2 handler and v2-style brokers). */
  api?: Api
  tls?: TlsOptions
  /** MQTT client ID; a random unique one by default. */
  clientId?: string
  /** Keepalive in seconds (default 60). The server drops a connection after 1.5 x keepalive of silence. */
  keepalive?: number
  /** Time to wait for CONNACK, ms (default 10000). */
  connectTimeoutMs?: number
  /** Reconnect back-off bounds (default 1 s doubling to 60 s, with jitter). */
  reconnect?: BackoffOptions
  /**
   * When to subscribe to the application's uplinks: 'on-connect' (default, as in the seed: from the
   * first connect on, so a callback set at any later moment sees every uplink published after the
   * call) or 'on-demand' (only while an uplink listener exists: for hosts such as the Node-RED config
   * node, where a connection used only for downlinks need not receive every uplink).
   */
  subscribeUplinks?: 'on-connect' | 'on-demand'
  /** Start connecting on construction (default true, as in the seed). */
  autoConnect?: boolean
  /** Downlinks kept while offline and sent after reconnect (default 100). Beyond it, send() rejects. */
  offlineQueueLimit?: number
  /** How long the server has to answer a downlink with down/queued before it counts as 'timeout', ms (default 30000). */
  downlinkTimeoutMs?: number
  /** Prefix of the correlation IDs added to every downlink. */
  correlationPrefix?: string
  /**
   * Recover uplinks missed while disconnected from the application's Storage Integration (off by default;
   * see docs "Recovering missed uplinks"). Recovered uplinks reach listeners with `recovered: true`.
   */
  recover?: RecoveryOptions
  /** Root of The Things Stack's HTTP API (listQueue, clearQueue; src/sdk/api/base-url.ts): default https://<MQTT host>. */
  apiUrl?: string
  // Generic broker mode (BrokerModeOptions, for traffic bridged into another broker; see README "Scale-out"):
  // topicPrefix replaces `v3/{app@tenant}`, username overrides the login, protocolVersion 5 is allowed,
  // sharedGroup subscribes as `$share/{group}/...`.
}

export type ConnectionState =
  | 'idle'
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'not-authorized'
  | 'disconnected'

export interface ConnectionStatus {
  state: ConnectionState
  /** Reconnect attempt number (1 = first retry) while reconnecting or not authorized. */
  attempt?: number
  /** Delay before the next attempt, ms. */
  delayMs?: number
  /** Result code of the last failed attempt (CONNACK code, or 16 network, 17 timeout, 18 TLS). */
  code?: number
  summary?: string
  hint?: string
  /** While connected and recovering missed uplinks: how many were recovered so far. */
  recovering?: number
}

export interface SendOptions {
  priority?: string
  /** 'hex' reads string payloads as hex; default 'auto' reads them as base64, as in the seed. */
  payloadFormat?: PayloadFormat
  /** Extra correlation IDs to attach (each at most 100 characters). */
  correlationIds?: string[]
  /** Override the client's downlinkTimeoutMs for this downlink. */
  timeoutMs?: number
  /**
   * Called for every status the server reports for this downlink (queued, sent, ack, nack, failed, timeout),
   * and the SDK's own steps: waiting (for the connection), held, replaced, expired, cleared.
   */
  onStatus?: (outcome: DownlinkOutcome) => void
  /** Try again on nack, timeout and failures that can pass later (docs/downlinks.md). Default: one attempt. */
  retry?: RetryOptions
  /** Class B/C: gateways to transmit from and/or the time to transmit at (docs/downlinks.md). */
  classBC?: ClassBC
  /** Ends pending retries and a held downlink of this send (its promise rejects); a downlink already published stays with the server. */
  signal?: AbortSignal
  /** Internal (src/sdk/downlinks): true when a downlink still waiting for the connection is no longer wanted. */
  cancelled?: () => boolean
}

export interface SendResult {
  /** Message number, as the seed's downlinkCallback `mid`. */
  mid: number
  /** The correlation ID this client added; the server echoes it in every event about this downlink. */
  correlationId: string
  deviceId: string
  topic: string
  /** The exact JSON body published. */
  body: V3DownlinkRequest | V2DownlinkRequest
  /** Wait for the server: 'queued', 'sent' or 'final' (ack for confirmed, sent for unconfirmed). Rejects with DownlinkError on failed / nack / timeout. */
  wait(target?: WaitTarget, timeoutMs?: number): Promise<DownlinkOutcome>
}

/** The seed's callbacks. `delivery.recovered` is true for an uplink recovered from storage after a disconnect. */
export type UplinkCallback<C> = (msg: UplinkMessage, client: C, delivery: Delivery<UplinkMessage>) => void
export type ConnectCallback<C> = (res: number, client: C) => void
export type DownlinkCallback<C> = (mid: number, client: C) => void
export type CloseCallback<C> = (res: number, client: C) => void

/**
 * The events a client emits (`client.on(name, listener)`), with their listeners' arguments.
 * - connect: connected (again); every subscription is back in place.
 * - close: the connection ended: 0 on request (close()/stop()), 1 when it was lost (a reconnect follows).
 * - status: every change of the connection status (see ConnectionStatus).
 * - uplink: every uplink (parsed message and its delivery); listening holds the uplink subscription.
 * - event: every other server event (join, down/*, location/solved, ...); listening holds their subscriptions.
 * - downlink: a downlink was written to the connection (`mid` as in the seed, and the SendResult).
 * - recovery: progress and problems of uplink recovery (only with options.recover).
 * - warning: something the user should know that is not an error (TLS verification off, recovery warnings).
 * - error: a failure no caller asked about (a malformed message, a refused subscription, a throwing
 *   listener, a send whose promise nobody handles). Emitted only when someone listens, so it never
 *   crashes the process.
 */
export interface ClientEvents<C> {
  connect: [client: C]
  close: [res: number, client: C]
  status: [status: ConnectionStatus]
  uplink: [message: UplinkMessage, delivery: Delivery<UplinkMessage>]
  event: [delivery: Delivery]
  downlink: [mid: number, result: SendResult]
  recovery: [event: RecoveryEvent]
  warning: [text: string]
  error: [error: Error | ConnectError]
}

/**
 * MQTTClient: the API of The Things Network's Python SDK (the seed), carried to TypeScript, Node's
 * event loop and The Things Stack v3 (with a legacy v2 mode). One instance owns at most one MQTT
 * connection. This file is the facade: the seed's methods and callbacks, the events, and the wiring
 * of the parts that do the work:
 *   session.ts       the connection: connect, back-off, reconnect, end (one state value)
 *   subscriptions.ts what the connection is subscribed to (reference counts, restore after reconnect)
 *   inbound.ts       topic → parsed message → the listeners of that event and device
 *   downlinks.ts     validate, build, wait offline or publish, track by correlation ID
 *   recovery/        uplinks missed while disconnected, from the Storage Integration
 *
 * The constructor starts connecting (unless autoConnect is false) on the next tick, so callbacks set
 * right after construction see every event. As in the seed, the client is subscribed to the
 * application's uplinks from the first connect on (unless subscribeUplinks is 'on-demand').
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { type Identity, parseAddress, resolveIdentity } from './address'
import { type BrokerMode, resolveBrokerMode } from './broker-mode'
import type {
  ClientEvents,
  CloseCallback,
  ConnectCallback,
  ConnectionStatus,
  DownlinkCallback,
  MQTTClientOptions,
  SendOptions,
  SendResult,
  UplinkCallback,
} from './client-types'
import { ConnectResult } from './connack'
import { Delivery, type DeliveryInit } from './delivery'
import type { DownlinkOutcome, WaitTarget } from './downlink-tracker'
import { Downlinks } from './downlinks'
import { needsRetryingSend, RetryingSender } from './downlinks/retrying-send'
import { type ApiClient, apiClientForMqtt, type QueuedDownlink } from './api'
import { checkedDeviceId } from './api/for-mqtt'
import { Inbound } from './inbound'
import type { UplinkMessage, V3Envelope } from './messages'
import { Recovery, type RecoveryCheckpoint, type RecoveryOptions, resolveRecovery } from './recovery'
import { Session } from './session'
import { Subscriptions } from './subscriptions'
import { type Api, type EventName, Topics } from './topics'

export type * from './client-types'
export { ConnectError } from './connack'
export { Delivery } from './delivery'
export { MalformedMessageError } from './inbound'

export class MQTTClient extends EventEmitter<ClientEvents<MQTTClient>> {
  readonly appId: string
  readonly tenant: string | undefined
  /** MQTT username: the topic ID (`app@tenant` or the bare app ID) unless options.username overrides it. */
  readonly username: string
  readonly host: string
  readonly port: number
  readonly tls: boolean
  readonly api: Api
  readonly clientId: string

  private readonly accessKey: string
  private readonly mode: BrokerMode
  private readonly topics: Topics
  private readonly session: Session
  private readonly subscriptions: Subscriptions
  private readonly inbound: Inbound
  private readonly downlinks: Downlinks
  private readonly recovery: Recovery | undefined
  private foreverWaiters: (() => void)[] = []
  /** For the HTTP API client (src/sdk/api): the address and TLS settings the MQTT connection uses. */
  private readonly apiSettings: Pick<MQTTClientOptions, 'apiUrl' | 'tls'>

  private uplinkCallback: UplinkCallback<MQTTClient> | undefined
  private connectCallback: ConnectCallback<MQTTClient> | undefined
  private downlinkCallback: DownlinkCallback<MQTTClient> | undefined
  private closeCallback: CloseCallback<MQTTClient> | undefined
  /** Removers of the dispatcher listeners behind client.on('uplink' | 'event'), while anyone listens. */
  private readonly emitterRoutes = new Map<'uplink' | 'event', () => void>()

  constructor(appID: string, appAccessKey: string, mqttAddress?: string, options: MQTTClientOptions = {}) {
    super()
    this.api = options.api ?? 'v3'
    if (this.api !== 'v3' && this.api !== 'v2')
      throw new Error(`Unknown api "${String(this.api)}": use "v3" (The Things Stack) or "v2" (legacy).`)
    if (typeof appAccessKey !== 'string' || appAccessKey.trim() === '') {
      throw new Error(
        'The API key (appAccessKey) is missing: create one in the console under API keys, with traffic read and downlink write rights.',
      )
    }
    this.accessKey = appAccessKey.trim()
    this.apiSettings = { apiUrl: options.apiUrl, tls: options.tls }
    const address = parseAddress(mqttAddress, options.tls?.enabled)
    const identity: Identity = resolveIdentity(appID, address.host, options.tenant, this.api)
    this.appId = identity.appId
    this.tenant = identity.tenant
    this.mode = resolveBrokerMode(options, identity.username, address.host)
    this.username = this.mode.username
    this.host = address.host
    this.port = address.port
    this.tls = address.tls
    this.clientId = options.clientId ?? `ttn-sdk-${randomBytes(8).toString('hex')}`
    this.topics = new Topics(this.api, identity.username, this.mode.topics)

    const report = (err: Error) => this.reportError(err)
    this.session = new Session(
      {
        address,
        username: this.username,
        password: this.accessKey,
        clientId: this.clientId,
        protocolVersion: this.mode.protocolVersion,
        keepalive: options.keepalive,
        connectTimeoutMs: options.connectTimeoutMs,
        reconnect: options.reconnect,
        tls: options.tls,
        generic: this.mode.generic,
        topicRoot: this.topics.root,
      },
      {
        connected: () => this.onConnected(),
        message: (topic, payload) => this.inbound.handle(topic, payload),
        lost: () => this.onLost(),
        failed: (failure) => this.callSafely(() => this.connectCallback?.(failure.code, this)),
        status: (status) => this.emit('status', status),
        warning: (text) => this.emit('warning', text),
      },
    )
    const connection = () => this.session.mqtt
    this.subscriptions = new Subscriptions({
      api: this.api,
      topics: this.topics,
      username: this.username,
      generic: this.mode.generic,
      sharedGroup: this.mode.topics.sharedGroup,
      connection,
      report,
    })
    this.downlinks = new Downlinks({
      api: this.api,
      topics: this.topics,
      subscriptions: this.subscriptions,
      offlineQueueLimit: options.offlineQueueLimit,
      queueTimeoutMs: options.downlinkTimeoutMs,
      correlationPrefix: options.correlationPrefix,
      connection,
      accepting: () => this.session.wanted,
      written: (mid, result) => {
        this.emit('downlink', mid, result)
        this.callSafely(() => this.downlinkCallback?.(mid, this))
      },
      report,
    })
    this.recovery = options.recover?.enabled ? this.createRecovery(options.recover) : undefined
    const recovery = this.recovery
    this.inbound = new Inbound({
      api: this.api,
      topics: this.topics,
      subscriptions: this.subscriptions,
      tracker: this.downlinks.tracker,
      admitLive: recovery ? (message) => recovery.admitLive(message) : undefined,
      report,
    })
    // The seed subscribes to uplinks when it connects: a callback set later misses nothing.
    if (options.subscribeUplinks !== 'on-demand') this.subscriptions.acquire('up')
    // client.on('uplink' | 'event', ...) listeners hold subscriptions like every other listener.
    // (EventEmitter's own events are outside the typed map of ClientEvents.)
    const emitter = this as EventEmitter
    emitter.on('newListener', (name: string | symbol) => this.onEmitterListener(name, +1))
    emitter.on('removeListener', (name: string | symbol) => this.onEmitterListener(name, -1))
    if (options.autoConnect !== false) this.session.startSoon()
  }

  // ---------------------------------------------------------------- seed API: connection

  /** Connect (again). Resolves when connected; rejects with ConnectError if the next attempt fails (retries continue). */
  connect(): Promise<void> {
    return this.session.connect()
  }

  /** Disconnect for good: stops reconnecting, fails queued downlinks, settles startForever(). closeCallback(0). */
  async close(): Promise<void> {
    await this.shutdown('closed')
    const waiters = this.foreverWaiters
    this.foreverWaiters = []
    for (const w of waiters) w()
  }

  /** Resume after stop(): connects again. */
  start(): Promise<void> {
    return this.connect()
  }

  /** Stop the client and disconnect it; start() or connect() resume. */
  stop(): Promise<void> {
    return this.shutdown('stopped')
  }

  /** Run until close() is called. Starts connecting if not already. */
  startForever(): Promise<void> {
    const p = new Promise<void>((resolve) => this.foreverWaiters.push(resolve))
    const state = this.session.state
    if (state === 'stopped' || state === 'starting') this.connect().catch(() => undefined)
    return p
  }

  get status(): ConnectionStatus {
    return this.session.status
  }

  get connected(): boolean {
    return this.session.connected
  }

  /** The shared subscription group this client is a member of (generic broker mode), if any. */
  get sharedGroup(): string | undefined {
    return this.mode.topics.sharedGroup
  }

  // ---------------------------------------------------------------- seed API: callbacks

  private removeUplinkCallbackRoute: (() => void) | undefined

  setUplinkCallback(cb: UplinkCallback<MQTTClient> | undefined): void {
    this.removeUplinkCallbackRoute?.()
    this.removeUplinkCallbackRoute = undefined
    this.uplinkCallback = cb
    if (cb) {
      this.removeUplinkCallbackRoute = this.onUplink(undefined, (d) =>
        this.uplinkCallback?.(d.message, this, d),
      )
    }
  }
  setConnectCallback(cb: ConnectCallback<MQTTClient> | undefined): void {
    this.connectCallback = cb
  }
  setDownlinkCallback(cb: DownlinkCallback<MQTTClient> | undefined): void {
    this.downlinkCallback = cb
  }
  setCloseCallback(cb: CloseCallback<MQTTClient> | undefined): void {
    this.closeCallback = cb
  }

  // ---------------------------------------------------------------- listeners (used by the Node-RED nodes)

  /** Listen to uplinks of one device (or all when deviceId is empty). Returns a function that removes the listener. */
  onUplink(deviceId: string | undefined, listener: (d: Delivery<UplinkMessage>) => void): () => void {
    return this.inbound.listen(['up'], deviceId, listener as (d: Delivery) => void)
  }

  /**
   * Listen to one event, or 'all' events other than uplinks, of one device or all. Returns a
   * function that removes the listener.
   */
  onEvent(
    event: EventName | 'all',
    deviceId: string | undefined,
    listener: (d: Delivery) => void,
  ): () => void {
    return this.inbound.listen(this.inbound.eventsFor(event), deviceId, listener)
  }

  /** Number of listeners routed by this client (for leak checks). */
  get listenerTotal(): number {
    return this.inbound.listenerCount
  }

  /** MQTT filters currently held (for diagnostics and tests). */
  get subscribedFilters(): string[] {
    return this.subscriptions.filters
  }

  /** Deliver messages obtained elsewhere (e.g. recovered from storage) through the normal listener path. */
  deliver(delivery: Delivery | DeliveryInit<V3Envelope | UplinkMessage>): void {
    this.inbound.deliver(delivery instanceof Delivery ? delivery : Delivery.from(delivery))
  }

  /**
   * Subscribe to the down/* events ahead of the first send (a downlink node does this when it starts),
   * so even the fastest down/queued cannot arrive before the subscription. Returns the release function.
   */
  watchDownlinkEvents(): () => void {
    this.subscriptions.holdDownlinkEvents(true)
    let released = false
    return () => {
      if (released) return
      released = true
      this.subscriptions.holdDownlinkEvents(false)
    }
  }

  // ---------------------------------------------------------------- seed API: send

  /**
   * Send a downlink. payload: Buffer / Uint8Array / number[] (bytes), a base64 string (as in the seed),
   * or a plain object (decoded_payload for the application's encoder). Validates everything first and
   * rejects with a ValidationError that says what to change; nothing malformed is published.
   * While offline the downlink waits in a bounded queue and is sent after reconnect. A failure is
   * reported once: through the returned promise, or as an 'error' event when nobody handles it.
   */
  send(
    deviceID: string,
    payload: unknown,
    port: unknown = 1,
    confirmation: unknown = false,
    schedule: unknown = 'replace',
    options: SendOptions = {},
  ): Promise<SendResult> {
    // Retries and next-uplink holds live in src/sdk/downlinks/; a plain send does not go through them.
    if (needsRetryingSend(schedule, options)) return this.retrying.send(deviceID, payload, port, confirmation, schedule, options)
    return this.downlinks.send(deviceID, payload, port, confirmation, schedule, options)
  }

  private retryingSender: RetryingSender | undefined
  /** Retries and next-uplink holds (src/sdk/downlinks/retrying-send.ts), over the plain send; made on first use. */
  private get retrying(): RetryingSender {
    this.retryingSender ??= new RetryingSender({
      api: this.api,
      sharedGroup: this.mode.topics.sharedGroup,
      sendOnce: (d, payload, port, confirmed, schedule, options) => this.downlinks.send(d, payload, port, confirmed, schedule, options),
      listenForUplinks: (deviceId, onUplink) =>
        this.onUplink(deviceId, (d) => {
          if (!d.recovered) onUplink()
        }),
      reportError: (err) => this.reportError(err instanceof Error ? err : new Error(String(err))),
    })
    return this.retryingSender
  }

  /** Downlinks held for a device's next uplink (schedule 'next-uplink'): of one device, or all. */
  heldDownlinks(deviceId?: string): number {
    return this.retryingSender?.heldCount(deviceId) ?? 0
  }

  /** Drop the downlinks held for the next uplink of one device (or all); each is reported as `cleared`. Returns how many. */
  clearHeldDownlinks(deviceId?: string): number {
    return this.retryingSender?.clearHeld(deviceId) ?? 0
  }

  // ---- HTTP API (src/sdk/api): same key, host and TLS settings as the MQTT connection
  private apiClient: ApiClient | undefined
  /** The application's HTTP API client (created on first use). */
  get http(): ApiClient {
    this.apiClient ??= apiClientForMqtt({
      appId: this.appId,
      apiKey: this.accessKey,
      host: this.host,
      apiUrl: this.apiSettings.apiUrl,
      tls: this.apiSettings.tls,
    })
    return this.apiClient
  }

  /** The device's downlink queue, read over HTTP (MQTT cannot list it). Rejects with ApiError. */
  async listQueue(deviceId: string): Promise<QueuedDownlink[]> {
    return this.http.listQueue(this.appId, checkedDeviceId(deviceId))
  }

  /** Empty the device's downlink queue over HTTP (a synchronous answer, unlike an MQTT replace). */
  async clearQueue(deviceId: string): Promise<void> {
    return this.http.replaceQueue(this.appId, checkedDeviceId(deviceId), [])
  }

  /** Wait for the outcome of a downlink sent earlier by this client. */
  waitForDownlink(
    correlationId: string,
    target: WaitTarget = 'final',
    timeoutMs?: number,
  ): Promise<DownlinkOutcome> {
    return this.downlinks.wait(correlationId, target, timeoutMs)
  }

  /**
   * Where uplink recovery stands (undefined when recover is off or before the first connect). Pass it
   * as `recover.resumeFrom` to a client that replaces this one, and the uplinks in between are recovered.
   */
  get recoveryCheckpoint(): RecoveryCheckpoint | undefined {
    return this.recovery?.checkpointState()
  }

  // ---------------------------------------------------------------- internals

  /** Wire uplink recovery (src/sdk/recovery) to this client: delivery, status, 'recovery' events. */
  private createRecovery(options: RecoveryOptions): Recovery {
    const settings = resolveRecovery(options, {
      host: this.host,
      appId: this.appId,
      apiKey: this.accessKey,
      api: this.api,
      generic: this.mode.generic,
      sharedGroup: this.mode.topics.sharedGroup,
    })
    return new Recovery(settings, {
      deliver: (message, deviceId) =>
        this.inbound.deliver(
          new Delivery('up', deviceId, `${this.topics.root}/devices/${deviceId}/up`, message as V3Envelope, message.uplink_message, true),
        ),
      listening: () => this.subscriptions.holds('up') > 0,
      progress: (recovering) => {
        if (!this.session.connected) return
        this.session.setStatus(
          recovering === undefined ? { state: 'connected' } : { state: 'connected', recovering },
        )
      },
      report: (event) => {
        this.emit('recovery', event)
        if (event.phase === 'warning' || event.phase === 'failed') this.emit('warning', event.message)
      },
    })
  }

  private onConnected(): void {
    const connection = this.session.mqtt
    if (connection) this.subscriptions.restore(connection)
    this.downlinks.flush()
    this.recovery?.connected()
    this.callSafely(() => this.connectCallback?.(ConnectResult.Accepted, this))
    this.emit('connect', this)
  }

  private onLost(): void {
    this.recovery?.disconnected()
    this.callSafely(() => this.closeCallback?.(1, this))
    this.emit('close', 1, this)
  }

  private async shutdown(reason: 'closed' | 'stopped'): Promise<void> {
    const ended = this.session.stop(reason)
    this.downlinks.failWaiting(reason)
    if (reason === 'closed') {
      this.downlinks.tracker.clear()
      this.retryingSender?.dispose()
      this.recovery?.dispose()
    } else {
      this.recovery?.disconnected()
    }
    const { reportClose } = await ended
    if (reportClose) {
      this.callSafely(() => this.closeCallback?.(0, this))
      this.emit('close', 0, this)
    }
  }

  private onEmitterListener(name: string | symbol, delta: number): void {
    if (name !== 'uplink' && name !== 'event') return
    // newListener fires before the listener is added, removeListener after it is removed.
    const count = this.listenerCount(name) + (delta > 0 ? 1 : 0)
    const existing = this.emitterRoutes.get(name)
    if (count > 0 && !existing) {
      const remove =
        name === 'uplink'
          ? this.onUplink(undefined, (d) => this.emit('uplink', d.message, d))
          : this.onEvent('all', undefined, (d) => this.emit('event', d))
      this.emitterRoutes.set(name, remove)
    } else if (count === 0 && existing) {
      existing()
      this.emitterRoutes.delete(name)
    }
  }

  /** A user callback that throws must not break the client: its error is reported instead. */
  private callSafely(call: () => void): void {
    try {
      call()
    } catch (err) {
      this.reportError(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** 'error' only when someone listens: an unhandled 'error' event would crash the host process. */
  private reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }
}

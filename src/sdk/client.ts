/**
 * MQTTClient: the API of The Things Network's Python SDK (seed), carried to TypeScript, Node's event
 * loop and The Things Stack v3 (with a legacy v2 mode). One instance owns at most one MQTT connection.
 *
 * Life cycle: the constructor starts connecting (unless autoConnect is false) on the next tick, so
 * callbacks set right after construction see every event. Each connection attempt is a fresh MQTT.js
 * client with its own reconnect disabled: this class owns reconnecting (exponential back-off with
 * jitter), re-subscribing, and the offline downlink queue, so no state leaks from one session to the next.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { type BrokerAddress, type Identity, parseAddress, resolveIdentity } from './address'
import { Backoff, type BackoffOptions } from './backoff'
import { type BrokerMode, type BrokerModeOptions, genericFailure, resolveBrokerMode, v311ConnectCode } from './broker-mode'
import { ConnectResult, type ConnectFailure, explainConnectFailure } from './connack'
import { Dispatcher, RefCounter } from './dispatch'
import { DOWNLINK_EVENTS, type DownlinkOutcome, DownlinkTracker, type WaitTarget } from './downlink-tracker'
import { ValidationError } from './errors'
import type { UplinkMessage, V2DownlinkRequest, V3DownlinkRequest, V3Envelope } from './messages'
import type { PayloadFormat } from './payload'
import { type Api, EVENT_NAMES, type EventName, Topics, V3_BODY_KEY, supportsEvent } from './topics'
import { type DownlinkRequest, validateDownlink } from './validate'
import { Recovery, type RecoveryCheckpoint, type RecoveryOptions, resolveRecovery } from './recovery'

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
   * see README "Recovering missed uplinks"). Recovered uplinks reach listeners with `recovered: true`.
   */
  recover?: RecoveryOptions
  // Generic broker mode (BrokerModeOptions, for traffic bridged into another broker; see README "Scale-out"):
  // topicPrefix replaces `v3/{app@tenant}`, username overrides the login, protocolVersion 5 is allowed,
  // sharedGroup subscribes as `$share/{group}/...`.
}

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'not-authorized' | 'disconnected'

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

/** One message from the server, routed to listeners. Parsed once and shared by every listener. */
export interface Delivery<M = V3Envelope | UplinkMessage> {
  event: EventName
  deviceId: string
  topic: string
  /** The whole parsed message. */
  message: M
  /** The event's body (e.g. join_accept, uplink_message); for v2, the whole message. */
  body: unknown
  /** True when the message was recovered after a disconnect rather than received live. */
  recovered?: boolean
}

export interface SendOptions {
  priority?: string
  /** 'hex' reads string payloads as hex; default 'auto' reads them as base64, as in the seed. */
  payloadFormat?: PayloadFormat
  /** Extra correlation IDs to attach (each at most 100 characters). */
  correlationIds?: string[]
  /** Override the client's downlinkTimeoutMs for this downlink. */
  timeoutMs?: number
  /** Called for every status the server reports for this downlink (queued, sent, ack, nack, failed, timeout). */
  onStatus?: (outcome: DownlinkOutcome) => void
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

/** `delivery.recovered` is true for an uplink recovered from storage after a disconnect. */
export type UplinkCallback = (msg: UplinkMessage, client: MQTTClient, delivery: Delivery<UplinkMessage>) => void
export type ConnectCallback = (res: number, client: MQTTClient) => void
export type DownlinkCallback = (mid: number, client: MQTTClient) => void
export type CloseCallback = (res: number, client: MQTTClient) => void

interface QueuedSend {
  request: DownlinkRequest
  options: SendOptions
  resolve: (r: SendResult) => void
  reject: (e: Error) => void
}

const MAX_CORRELATION_ID = 100

export class MQTTClient extends EventEmitter {
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
  private readonly address: BrokerAddress
  private readonly options: MQTTClientOptions
  private readonly topics: Topics
  private readonly mode: BrokerMode
  private readonly backoff: Backoff
  private readonly dispatcher = new Dispatcher<Delivery>()
  private readonly subscriptions = new RefCounter<string>()
  private readonly tracker: DownlinkTracker
  private readonly offlineQueue: QueuedSend[] = []
  private readonly recovery: Recovery | undefined

  private session: MqttClient | undefined
  private sessionConnected = false
  private wantConnected = false
  private reconnectTimer: NodeJS.Timeout | undefined
  private currentStatus: ConnectionStatus = { state: 'idle' }
  private nextMid = 1
  private connectWaiters: { resolve: () => void; reject: (e: Error) => void }[] = []
  private foreverWaiters: (() => void)[] = []

  private uplinkCallback: UplinkCallback | undefined
  private connectCallback: ConnectCallback | undefined
  private downlinkCallback: DownlinkCallback | undefined
  private closeCallback: CloseCallback | undefined
  private removeCallbackListener: (() => void) | undefined

  constructor(appID: string, appAccessKey: string, mqttAddress?: string, options: MQTTClientOptions = {}) {
    super()
    this.options = options
    this.api = options.api ?? 'v3'
    if (this.api !== 'v3' && this.api !== 'v2') throw new Error(`Unknown api "${String(this.api)}": use "v3" (The Things Stack) or "v2" (legacy).`)
    if (typeof appAccessKey !== 'string' || appAccessKey.trim() === '') {
      throw new Error('The API key (appAccessKey) is missing: create one in the console under API keys, with traffic read and downlink write rights.')
    }
    this.accessKey = appAccessKey.trim()
    this.address = parseAddress(mqttAddress, options.tls?.enabled)
    const identity: Identity = resolveIdentity(appID, this.address.host, options.tenant, this.api)
    this.appId = identity.appId
    this.tenant = identity.tenant
    this.mode = resolveBrokerMode(options, identity.username, this.address.host)
    this.username = this.mode.username
    this.host = this.address.host
    this.port = this.address.port
    this.tls = this.address.tls
    this.clientId = options.clientId ?? `ttn-sdk-${randomBytes(8).toString('hex')}`
    this.topics = new Topics(this.api, identity.username, this.mode.topics)
    this.backoff = new Backoff(options.reconnect)
    this.tracker = new DownlinkTracker({
      queueTimeoutMs: options.downlinkTimeoutMs,
      onStatus: (o) => this.emit('downlink-status', o),
    })
    this.recovery = options.recover?.enabled ? this.createRecovery(options.recover) : undefined
    // client.on('uplink' | 'event', ...) listeners hold subscriptions like every other listener.
    this.on('newListener', (name: string | symbol) => this.onEmitterListener(name, +1))
    this.on('removeListener', (name: string | symbol) => this.onEmitterListener(name, -1))
    if (options.autoConnect !== false) {
      this.wantConnected = true
      process.nextTick(() => {
        if (this.wantConnected && !this.session && !this.reconnectTimer) this.openSession()
      })
    }
  }

  // ---------------------------------------------------------------- seed API: connection

  /** Connect (again). Resolves when connected; rejects with ConnectError if the next attempt fails (retries continue). */
  connect(): Promise<void> {
    this.wantConnected = true
    const p = new Promise<void>((resolve, reject) => {
      if (this.sessionConnected) resolve()
      else this.connectWaiters.push({ resolve, reject })
    })
    if (!this.session && !this.reconnectTimer) this.openSession()
    return p
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
    if (!this.wantConnected || (!this.session && !this.reconnectTimer)) this.connect().catch(() => undefined)
    return p
  }

  get status(): ConnectionStatus {
    return { ...this.currentStatus }
  }

  get connected(): boolean {
    return this.sessionConnected
  }

  // ---------------------------------------------------------------- seed API: callbacks

  setUplinkCallback(cb: UplinkCallback | undefined): void {
    this.removeCallbackListener?.()
    this.removeCallbackListener = undefined
    this.uplinkCallback = cb
    if (cb) this.removeCallbackListener = this.onUplink(undefined, (d) => this.uplinkCallback?.(d.message as UplinkMessage, this, d))
  }
  setConnectCallback(cb: ConnectCallback | undefined): void {
    this.connectCallback = cb
  }
  setDownlinkCallback(cb: DownlinkCallback | undefined): void {
    this.downlinkCallback = cb
  }
  setCloseCallback(cb: CloseCallback | undefined): void {
    this.closeCallback = cb
  }

  // ---------------------------------------------------------------- listeners (used by the Node-RED nodes)

  /** Listen to uplinks of one device (or all when deviceId is empty). Returns a function that removes the listener. */
  onUplink(deviceId: string | undefined, listener: (d: Delivery<UplinkMessage>) => void): () => void {
    return this.addListenerFor(['up'], deviceId, listener as (d: Delivery) => void)
  }

  /**
   * Listen to one event, or 'all' events other than uplinks, of one device or all. Returns a
   * function that removes the listener.
   */
  onEvent(event: EventName | 'all', deviceId: string | undefined, listener: (d: Delivery) => void): () => void {
    const events =
      event === 'all' ? EVENT_NAMES.filter((e) => e !== 'up' && supportsEvent(this.api, e)) : [event]
    for (const e of events) {
      if (!EVENT_NAMES.includes(e)) throw new Error(`Unknown event "${e}": use one of ${EVENT_NAMES.join(', ')} or "all".`)
      if (!supportsEvent(this.api, e)) throw new Error(`Event "${e}" does not exist in the TTN v2 API.`)
    }
    return this.addListenerFor(events, deviceId, listener)
  }

  /** Number of listeners routed by this client (for leak checks). */
  get listenerTotal(): number {
    return this.dispatcher.listenerCount()
  }

  /** MQTT filters currently held (for diagnostics and tests). */
  get subscribedFilters(): string[] {
    return this.subscriptions.keys()
  }

  // ---------------------------------------------------------------- seed API: send

  /**
   * Send a downlink. payload: Buffer / Uint8Array / number[] (bytes), a base64 string (as in the seed),
   * or a plain object (decoded_payload for the application's encoder). Validates everything first and
   * rejects with a ValidationError that says what to change; nothing malformed is published.
   * While offline the downlink waits in a bounded queue and is sent after reconnect.
   */
  send(
    deviceID: string,
    payload: unknown,
    port: unknown = 1,
    confirmation: unknown = false,
    schedule: unknown = 'replace',
    options: SendOptions = {},
  ): Promise<SendResult> {
    const p = new Promise<SendResult>((resolve, reject) => {
      const request = validateDownlink(
        { deviceId: deviceID, payload, port, confirmed: confirmation, schedule, priority: options.priority, payloadFormat: options.payloadFormat },
        this.api,
      )
      if (options.correlationIds) {
        for (const id of options.correlationIds) {
          if (typeof id !== 'string' || id.length === 0 || id.length > MAX_CORRELATION_ID) {
            throw new ValidationError(`Correlation IDs must be non-empty strings of at most ${MAX_CORRELATION_ID} characters; got ${JSON.stringify(id)}.`, 'correlationIds')
          }
        }
      }
      const item: QueuedSend = { request, options, resolve, reject }
      if (this.sessionConnected && this.session) {
        this.publishDownlink(item)
        return
      }
      if (!this.wantConnected) {
        throw new Error('The client is closed: call connect() or start() before sending downlinks.')
      }
      const limit = this.options.offlineQueueLimit ?? 100
      if (this.offlineQueue.length >= limit) {
        throw new Error(
          `Not connected to The Things Stack and ${this.offlineQueue.length} downlinks are already waiting (limit ${limit}); this downlink was not sent.`,
        )
      }
      this.offlineQueue.push(item)
    })
    // Seed-style callers do not await: a refused downlink must not crash the process as an unhandled
    // rejection. Awaiting callers still see the rejection on the returned promise.
    p.catch((err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
    return p
  }

  /** Wait for the outcome of a downlink sent earlier by this client. */
  waitForDownlink(correlationId: string, target: WaitTarget = 'final', timeoutMs?: number): Promise<DownlinkOutcome> {
    return this.tracker.wait(correlationId, target, timeoutMs)
  }

  /** Deliver messages obtained elsewhere (e.g. recovered from storage) through the normal listener path. */
  deliver(delivery: Delivery): void {
    this.dispatcher.dispatch(delivery.event, delivery.deviceId, delivery, (err) => this.reportListenerError(err))
  }

  /**
   * Where uplink recovery stands (undefined when recover is off or before the first connect). Pass it
   * as `recover.resumeFrom` to a client that replaces this one, and the uplinks in between are recovered.
   */
  get recoveryCheckpoint(): RecoveryCheckpoint | undefined {
    return this.recovery?.checkpointState()
  }

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
    const upFilter = this.topics.eventFilter('up')
    return new Recovery(settings, {
      deliver: (message, deviceId) =>
        this.deliver({
          event: 'up',
          deviceId,
          topic: `${this.topics.root}/devices/${deviceId}/up`,
          message: message as V3Envelope,
          body: message.uplink_message,
          recovered: true,
        }),
      listening: () => upFilter !== undefined && this.subscriptions.count(upFilter) > 0,
      progress: (recovering) => {
        if (!this.sessionConnected) return
        this.setStatus(recovering === undefined ? { state: 'connected' } : { state: 'connected', recovering })
      },
      report: (event) => {
        this.emit('recovery', event)
        if (event.phase === 'warning' || event.phase === 'failed') this.emitWarning(event.message)
      },
    })
  }

  // ---------------------------------------------------------------- internals: sessions

  private openSession(): void {
    this.clearReconnectTimer()
    // A retry keeps showing "reconnecting (attempt n)" / "not authorized" until it succeeds or fails.
    if (this.backoff.attempts === 0) this.setStatus({ state: 'connecting' })
    const tlsOpts = this.options.tls ?? {}
    const opts: IClientOptions = {
      protocol: this.tls ? 'mqtts' : 'mqtt',
      host: this.host,
      port: this.port,
      protocolVersion: this.mode.protocolVersion,
      clean: true,
      clientId: this.clientId,
      username: this.username,
      password: this.accessKey,
      keepalive: this.options.keepalive ?? 60,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
    }
    if (this.tls) {
      opts.rejectUnauthorized = tlsOpts.rejectUnauthorized !== false
      if (tlsOpts.ca) opts.ca = tlsOpts.ca as IClientOptions['ca']
      if (tlsOpts.cert) opts.cert = tlsOpts.cert
      if (tlsOpts.key) opts.key = tlsOpts.key
      if (tlsOpts.passphrase) (opts as IClientOptions & { passphrase?: string }).passphrase = tlsOpts.passphrase
      opts.servername = tlsOpts.servername ?? (isIp(this.host) ? undefined : this.host)
      if (tlsOpts.rejectUnauthorized === false && !this.warnedTlsOff) {
        this.warnedTlsOff = true
        this.emitWarning(`TLS certificate verification is disabled for ${this.host}:${this.port}: only use this for private test deployments.`)
      }
    }
    const session = mqtt.connect(opts)
    this.session = session
    this.sessionConnected = false
    let lastError: Error | undefined
    let ended = false

    session.on('connect', () => {
      if (this.session !== session) return
      this.sessionConnected = true
      this.backoff.reset()
      this.setStatus({ state: 'connected' })
      const filters = this.subscriptions.keys()
      if (filters.length) this.subscribeFilters(session, filters)
      this.flushOfflineQueue()
      this.recovery?.connected()
      this.callConnectCallback(ConnectResult.Accepted)
      this.emit('connect', this)
      const waiters = this.connectWaiters
      this.connectWaiters = []
      for (const w of waiters) w.resolve()
    })
    session.on('message', (topic, payload) => {
      if (this.session === session) this.handleMessage(topic, payload)
    })
    session.on('error', (err) => {
      lastError = err
    })
    session.on('close', () => {
      if (ended) return
      ended = true
      if (this.session !== session) return
      session.removeAllListeners('message')
      session.end(true)
      const wasConnected = this.sessionConnected
      this.session = undefined
      this.sessionConnected = false
      if (wasConnected) {
        this.recovery?.disconnected()
        this.callCloseCallback(1)
        this.emit('close', 1, this)
        if (this.wantConnected) this.scheduleReconnect(undefined)
      } else {
        const failure = this.classify(lastError)
        this.callConnectCallback(failure.code)
        const error = new ConnectError(failure)
        this.emit('connect-failed', error)
        const waiters = this.connectWaiters
        this.connectWaiters = []
        for (const w of waiters) w.reject(error)
        if (this.wantConnected) this.scheduleReconnect(failure)
      }
    })
  }

  private classify(err: Error | undefined): ConnectFailure {
    const e = err as (Error & { code?: unknown }) | undefined
    let code: number = ConnectResult.NetworkError
    if (e && typeof e.code === 'number' && e.code > 0 && e.code < 256) code = v311ConnectCode(e.code)
    else if (e && /connack timeout/i.test(e.message)) code = ConnectResult.Timeout
    else if (e && (/certificate|self.signed|TLS|SSL|altnames|handshake/i.test(e.message) || (typeof e.code === 'string' && /CERT|TLS|SSL/.test(e.code)))) code = ConnectResult.TlsError
    // Name the cause users can act on: the certificate could not be verified (CA, host name, expiry).
    const detail = code === ConnectResult.TlsError && isCertificateError(e) ? `certificate verification failed (${e?.message})` : e?.message
    const failure = explainConnectFailure(code, this.username, `${this.host}:${this.port}`, detail)
    return this.mode.generic ? genericFailure(failure, this.username, `${this.host}:${this.port}`, this.topics.root) : failure
  }

  private scheduleReconnect(failure: ConnectFailure | undefined): void {
    this.clearReconnectTimer()
    const delayMs = this.backoff.next()
    const notAuthorized = failure?.code === ConnectResult.NotAuthorized || failure?.code === ConnectResult.BadUsernameOrPassword
    this.setStatus({
      state: notAuthorized ? 'not-authorized' : 'reconnecting',
      attempt: this.backoff.attempts,
      delayMs,
      code: failure?.code,
      summary: failure?.summary,
      hint: failure?.hint,
    })
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      if (this.wantConnected && !this.session) this.openSession()
    }, delayMs)
  }

  private clearReconnectTimer(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = undefined
  }

  private async shutdown(reason: 'closed' | 'stopped'): Promise<void> {
    this.wantConnected = false
    this.clearReconnectTimer()
    const session = this.session
    const wasConnected = this.sessionConnected
    this.session = undefined
    this.sessionConnected = false
    const queued = this.offlineQueue.splice(0)
    for (const q of queued) q.reject(new Error(`The client was ${reason} before the downlink to ${q.request.deviceId} could be sent; it was not sent.`))
    const waiters = this.connectWaiters
    this.connectWaiters = []
    for (const w of waiters) w.reject(new Error(`The client was ${reason} before it connected.`))
    if (reason === 'closed') this.tracker.clear()
    if (reason === 'closed') this.recovery?.dispose()
    else this.recovery?.disconnected()
    this.backoff.reset()
    if (session) {
      session.removeAllListeners('message')
      await endSession(session, wasConnected)
    }
    // connect() may have been called while we waited: then the new session's status stands.
    if (this.wantConnected) return
    const changed = this.currentStatus.state !== 'disconnected'
    this.setStatus({ state: 'disconnected' })
    if (wasConnected || changed) {
      this.callCloseCallback(0)
      this.emit('close', 0, this)
    }
  }

  // ---------------------------------------------------------------- internals: subscriptions

  private addListenerFor(events: EventName[], deviceId: string | undefined, listener: (d: Delivery) => void): () => void {
    const device = deviceId?.trim() || undefined
    for (const e of events) {
      this.dispatcher.add(e, device, listener)
      this.acquire(e)
    }
    let removed = false
    return () => {
      if (removed) return
      removed = true
      for (const e of events) {
        this.dispatcher.remove(e, device, listener)
        this.release(e)
      }
    }
  }

  private acquire(event: EventName): void {
    const filter = this.topics.eventFilter(event)
    if (!filter) return
    if (this.subscriptions.acquire(filter) && this.session && this.sessionConnected) this.subscribeFilters(this.session, [filter])
  }

  private release(event: EventName): void {
    const filter = this.topics.eventFilter(event)
    if (!filter) return
    if (this.subscriptions.release(filter) && this.session && this.sessionConnected) {
      this.session.unsubscribe(filter, (err) => {
        if (err) this.reportError(new Error(`Unsubscribing from ${filter} failed: ${err.message}`))
      })
    }
  }

  private subscribeFilters(session: MqttClient, filters: string[]): void {
    session.subscribe(filters, { qos: 0 }, (err, granted, suback) => {
      // A refusal is a SUBACK code of 128 or more (MQTT 5: a reason code). MQTT.js 5 reports it as an
      // error that carries the SUBACK; the codes are in the order of the filters.
      const codes: unknown[] = suback?.granted ?? (granted ?? []).map((g) => g.qos)
      const refused = filters.filter((_, i) => typeof codes[i] === 'number' && (codes[i] as number) >= 128)
      if (refused.length > 0) {
        const why = this.mode.generic
          ? `Check the broker's ACL: user "${this.username}" needs to read ${this.topics.root}/devices/+/#` +
            (this.mode.topics.sharedGroup ? ', and the broker must support shared subscriptions ($share).' : '.')
          : `The topic must start with the exact username "${this.username}" (check the tenant suffix), and the key needs the right to read application traffic.`
        for (const filter of refused) this.reportError(new Error(`The server refused the subscription ${filter}. ${why}`))
        return
      }
      if (err) {
        // A connection that dropped with the SUBSCRIBE in flight re-subscribes on reconnect: not an error.
        if (this.session === session && !/connection closed|disconnecting/i.test(err.message)) {
          this.reportError(new Error(`Subscribing to ${filters.join(', ')} failed: ${err.message}`))
        }
      }
    })
  }

  /**
   * Subscribe to the down/* events ahead of the first send (a downlink node does this when it starts),
   * so even the fastest down/queued cannot arrive before the subscription. Returns the release function.
   */
  watchDownlinkEvents(): () => void {
    this.holdDownlinkEvents(true)
    let released = false
    return () => {
      if (released) return
      released = true
      this.holdDownlinkEvents(false)
    }
  }

  private downlinkTrackingRefs = 0
  /** While downlinks await their outcome, hold subscriptions to the down/* events. */
  private holdDownlinkEvents(hold: boolean): void {
    if (this.api !== 'v3') return
    if (hold) {
      if (this.downlinkTrackingRefs++ === 0) for (const e of DOWNLINK_EVENTS) this.acquire(e)
    } else if (this.downlinkTrackingRefs > 0 && --this.downlinkTrackingRefs === 0) {
      for (const e of DOWNLINK_EVENTS) this.release(e)
    }
  }

  /** Given to the tracker with every downlink: one function for the client's life, not a closure per send. */
  private readonly releaseDownlinkEvents = (): void => this.holdDownlinkEvents(false)

  private emitterRemovers = new Map<string, () => void>()
  private onEmitterListener(name: string | symbol, delta: number): void {
    if (name !== 'uplink' && name !== 'event') return
    // newListener fires before the listener is added, removeListener after it is removed.
    const count = this.listenerCount(name) + (delta > 0 ? 1 : 0)
    const existing = this.emitterRemovers.get(name)
    if (count > 0 && !existing) {
      const remove =
        name === 'uplink'
          ? this.onUplink(undefined, (d) => this.emit('uplink', d.message, d))
          : this.onEvent('all', undefined, (d) => this.emit('event', d))
      this.emitterRemovers.set(name, remove)
    } else if (count === 0 && existing) {
      existing()
      this.emitterRemovers.delete(name)
    }
  }

  // ---------------------------------------------------------------- internals: messages

  private handleMessage(topic: string, payload: Buffer): void {
    const route = this.topics.parse(topic)
    if ('problem' in route) {
      this.reportMalformed(topic, route.problem)
      return
    }
    const { deviceId, event } = route
    const tracking = event.startsWith('down/') && this.tracker.size > 0
    if (!tracking && !this.dispatcher.wants(event, deviceId)) return
    let message: unknown
    try {
      message = JSON.parse(payload.toString('utf8'))
    } catch (err) {
      this.reportMalformed(topic, `invalid JSON (${(err as Error).message})`)
      return
    }
    if (!message || typeof message !== 'object' || Array.isArray(message)) {
      this.reportMalformed(topic, 'the message is not a JSON object')
      return
    }
    let body: unknown = message
    if (this.api === 'v3') {
      const key = V3_BODY_KEY[event]
      body = (message as Record<string, unknown>)[key]
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        this.reportMalformed(topic, `no "${key}" object in the message (a v2 body on a v3 topic, or an unexpected shape)`)
        return
      }
    } else if (event === 'up' && (message as Record<string, unknown>).dev_id === undefined) {
      ;(message as Record<string, unknown>).dev_id = deviceId
    }
    // Recovery on: an uplink it delivered already (or a repeat) is dropped; O(1).
    if (event === 'up' && this.recovery && !this.recovery.admitLive(message as Record<string, unknown>)) return
    if (tracking) this.tracker.handleEvent(event, message as V3Envelope)
    this.dispatcher.dispatch(event, deviceId, { event, deviceId, topic, message: message as V3Envelope, body }, (err) => this.reportListenerError(err))
  }

  private publishDownlink(item: QueuedSend): void {
    const session = this.session
    if (!session) {
      this.offlineQueue.unshift(item)
      return
    }
    const { request, options } = item
    const correlationId = `${this.options.correlationPrefix ?? 'ttn-sdk:down:'}${randomUUID()}`
    const topic = this.topics.downlink(request.deviceId, request.schedule === 'replace' ? 'replace' : 'push')
    const body = this.api === 'v3' ? v3Body(request, [correlationId, ...(options.correlationIds ?? [])]) : v2Body(request)
    const mid = this.nextMid++
    if (this.api === 'v3') {
      // The tracker releases the down/* subscription hold once this downlink is final or forgotten.
      this.tracker.track(correlationId, request.deviceId, request.confirmed, options.onStatus, this.releaseDownlinkEvents)
      this.holdDownlinkEvents(true)
    }
    this.coalesceWrites(session)
    session.publish(topic, JSON.stringify(body), { qos: 0 }, (err) => {
      if (err) {
        this.tracker.abandon(correlationId) // releases the hold through onDone
        item.reject(new Error(`Publishing the downlink to ${request.deviceId} failed: ${err.message}; it was not sent.`))
        return
      }
      if (this.api === 'v3') this.tracker.published(correlationId, options.timeoutMs)
      const result: SendResult = {
        mid,
        correlationId,
        deviceId: request.deviceId,
        topic,
        body,
        wait: (target: WaitTarget = 'final', timeoutMs?: number) =>
          this.api === 'v3'
            ? this.tracker.wait(correlationId, target, timeoutMs)
            : Promise.reject(new Error('Downlink outcomes are not reported in the TTN v2 API mode.')),
      }
      this.emit('downlink', mid, result)
      try {
        this.downlinkCallback?.(mid, this)
      } catch (cbErr) {
        this.reportListenerError(cbErr)
      }
      item.resolve(result)
    })
  }

  /** Set while this turn's downlink writes are held back, to leave in one system call. */
  private writesCorked = false

  /**
   * Downlinks sent in one event-loop turn leave in one system call instead of one each (Node-RED
   * hands every message to a node in its own callback): cork the socket on the first publish of a
   * turn, uncork it on the next turn. Cork counts nest, so MQTT.js's own cork/uncork still works.
   */
  private coalesceWrites(session: MqttClient): void {
    const stream = session.stream as { cork?: () => void; uncork?: () => void } | undefined
    if (this.writesCorked || !stream?.cork || !stream.uncork) return
    stream.cork()
    this.writesCorked = true
    setImmediate(() => {
      this.writesCorked = false
      stream.uncork?.()
    })
  }

  private flushOfflineQueue(): void {
    const items = this.offlineQueue.splice(0)
    for (const item of items) this.publishDownlink(item)
  }

  // ---------------------------------------------------------------- internals: reporting

  private setStatus(status: ConnectionStatus): void {
    this.currentStatus = status
    this.emit('status', { ...status })
  }

  private callConnectCallback(res: number): void {
    try {
      this.connectCallback?.(res, this)
    } catch (err) {
      this.reportListenerError(err)
    }
  }

  private callCloseCallback(res: number): void {
    try {
      this.closeCallback?.(res, this)
    } catch (err) {
      this.reportListenerError(err)
    }
  }

  private reportMalformed(topic: string, reason: string): void {
    const err = new MalformedMessageError(topic, reason)
    this.emit('malformed', err)
    this.reportError(err)
  }

  private reportListenerError(err: unknown): void {
    this.reportError(err instanceof Error ? err : new Error(String(err)))
  }

  /** 'error' only when someone listens: an unhandled 'error' event would crash the host process. */
  private reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  private warnedTlsOff = false
  private emitWarning(text: string): void {
    this.emit('warning', text)
  }
}

export class ConnectError extends Error {
  readonly code: number
  readonly hint: string
  constructor(failure: ConnectFailure) {
    super(`Connection failed (${failure.summary}, code ${failure.code}): ${failure.hint}`)
    this.name = 'ConnectError'
    this.code = failure.code
    this.hint = failure.hint
  }
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

/**
 * End an MQTT.js session for certain. A connected one gets a graceful DISCONNECT, and its socket is
 * destroyed if that takes over 2 s (a silent broker must not hang a deploy). One still connecting is
 * torn down at once: MQTT.js ignores a second end() call, so a graceful end that never completes
 * would leave the socket open and the broker would count a connection nobody owns.
 */
function endSession(session: MqttClient, connected: boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const destroy = () => {
      session.stream?.destroy()
      resolve()
    }
    if (!connected) {
      session.end(true, destroy)
      return
    }
    const force = setTimeout(destroy, 2000)
    session.end(false, () => {
      clearTimeout(force)
      resolve()
    })
  })
}

function v3Body(r: DownlinkRequest, correlationIds: string[]): V3DownlinkRequest {
  const item: V3DownlinkRequest['downlinks'][number] = { f_port: r.port }
  if (r.payload.kind === 'bytes') item.frm_payload = r.payload.bytes.toString('base64')
  else item.decoded_payload = r.payload.decoded
  item.confirmed = r.confirmed
  item.priority = r.priority
  item.correlation_ids = correlationIds
  return { downlinks: [item] }
}

function v2Body(r: DownlinkRequest): V2DownlinkRequest {
  const body: V2DownlinkRequest = { port: r.port, confirmed: r.confirmed, schedule: r.schedule === 'push' ? 'last' : (r.schedule as V2DownlinkRequest['schedule']) }
  if (r.payload.kind === 'bytes') body.payload_raw = r.payload.bytes.toString('base64')
  else body.payload_fields = r.payload.decoded
  return body
}

/** Node's codes for a server certificate that failed verification (unknown CA, wrong host name, expired ...). */
function isCertificateError(e: (Error & { code?: unknown }) | undefined): boolean {
  return typeof e?.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME/.test(e.code)
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}

// An in-process MQTT server that behaves like the Application Server MQTT frontend of The Things Stack
// (and, for legacy mode, the TTN v2 handler), built on aedes. Tests and the `npm start` demo use it instead of
// a live server, so it reproduces the behaviour clients must cope with (see shared/reference/tts-mqtt.md):
// CONNACK 5 on any credential problem, CONNACK 1 for MQTT 5, topic rewriting and SUBACK 0x80, QoS 0 delivery,
// silently dropped downlinks, down/queued and down/failed answers that echo correlation IDs.

import type { EventEmitter } from 'node:events'
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import {
  type AedesPublishPacket,
  Aedes,
  type Client,
  type ConnectPacket,
  type PublishPacket,
  type Subscription,
  type UnsubscribePacket,
} from 'aedes'
import {
  downlinkViolations,
  type ParsedDownlink,
  parseDownlinkBody,
  v2DownlinkViolations,
} from './downlink-rules'
import {
  buildDownlinkEvent,
  buildDownlinkFailed,
  buildEvent,
  buildUplink,
  buildV2Event,
  buildV2Uplink,
  type DownlinkMessageBody,
  downlinkCorrelationId,
  EVENT_BODY_KEYS,
  type ServerError,
  type SimEvent,
  type SimMessage,
  serverError,
  sessionKeyId,
  type UplinkMessageBody,
  V2_EVENT_TOPICS,
} from './messages'

export interface SimApplication {
  appId: string
  /** null/undefined = Open Source style: the username is the bare appId. Ignored for v2 apps. */
  tenant?: string | null
  apiKey: string
  /** 'v2' = the retired TTN v2 handler API (topics `{appId}/devices/...`). Default 'v3'. */
  api?: 'v3' | 'v2'
}

export interface TtsBrokerOptions {
  /** Default '127.0.0.1'. */
  host?: string
  /** Default 0 (a free port); pass the previous port to restart on the same one. */
  port?: number
  applications: SimApplication[]
  /** Serve MQTT over TLS (node:tls) instead of plain TCP; the url becomes mqtts://. */
  tls?: {
    key: string | Buffer
    cert: string | Buffer
    /** With requestCert: the CA that client certificates must chain to (mutual TLS). */
    ca?: string | Buffer
    requestCert?: boolean
  }
  /** Default 51 (EU868 DR0): a longer frm_payload gets down/failed application_downlink_too_long. */
  maxDownlinkBytes?: number
  /** After down/queued, emit down/sent (and down/ack for confirmed downlinks): for the demo. */
  autoDeliver?: { sentAfterMs: number; ackAfterMs?: number }
  // ---- issue 15: nack and class B/C (with autoDeliver) ----
  /**
   * Confirmed downlinks the device "misses": answered with down/nack instead of down/ack. Called once per
   * delivered confirmed downlink, with its device and how many confirmed downlinks that device got so far
   * (1 = the first). Deterministic in tests; devices.ts has `missEvery`.
   */
  missesConfirmed?: (deviceId: string, nth: number) => boolean
  /**
   * Class C devices: a downlink with class_b_c is transmitted without waiting for an uplink, at its
   * absolute_time when it has one. For other devices class_b_c is ignored (class A), as the server does.
   */
  classC?: readonly string[]
}

export type DownlinkSchedule = 'push' | 'replace' | 'v2'

/** An uplink the server published, whether or not anyone was subscribed (what the Storage Integration stores). */
export interface PublishedUplink {
  appId: string
  /** MQTT username / topic id of the application. */
  username: string
  api: 'v3' | 'v2'
  deviceId: string
  topic: string
  message: Record<string, unknown>
}

/** A PUBLISH a client made on a downlink topic of its own application, whatever the server made of it. */
export interface ReceivedDownlink {
  /** MQTT username of the publishing client (= topic id: "app1@ttn" or "app1"). */
  username: string
  deviceId: string
  topic: string
  schedule: DownlinkSchedule
  raw: Buffer
  /** Parsed JSON, or undefined when the payload is not JSON. */
  body: unknown
  clientId: string
  /** From downlinkViolations (v2: v2DownlinkViolations); [] for a clean downlink. */
  violations: string[]
  /** Date.now() on receipt. */
  at: number
}

export interface RejectedPublish {
  clientId: string
  topic: string
  /** Why the server ignored it (for assertion messages). */
  reason: string
}

export interface ConnectAttempt {
  clientId: string
  username?: string
  /** CONNACK return code: 0 accepted, 1 unacceptable protocol version, 5 not authorized. */
  returnCode: number
  at: number
}

interface AppState {
  appId: string
  tenant: string | null
  /** The MQTT username and topic id. */
  uid: string
  apiKey: string
  api: 'v3' | 'v2'
}

interface Session {
  client: Client
  app: AppState
  /** The client ID the client sent (aedes may know it under a de-duplicated internal ID). */
  publicId: string
}

interface QueuedDownlink {
  body: DownlinkMessageBody
  confirmed: boolean
}

/** v3 device ID rule of the server. */
const V3_DEVICE_ID = /^[a-z0-9](?:-?[a-z0-9]){2,}$/
/** v2 IDs also allowed underscores. */
const V2_DEVICE_ID = /^[0-9a-z](?:[_-]?[0-9a-z]){1,35}$/
const V3_DOWNLINK_TOPIC = /^v3\/([^/]+)\/devices\/([^/]+)\/down\/(push|replace)$/
const V2_DOWNLINK_TOPIC = /^([^/]+)\/devices\/([^/]+)\/down$/

function noop(): void {}

/**
 * The filter the server actually subscribes for `filter`, or undefined when it refuses it (SUBACK 0x80).
 * v3: `#` and `v3/#` become `v3/{uid}/#`, `v3/+/...` gets the uid, `v3/{uid}/...` stays, all else is refused.
 * v2: `{appId}/...` stays, `+/...` gets the appId, all else is refused.
 */
export function rewriteSubscription(api: 'v3' | 'v2', uid: string, filter: string): string | undefined {
  const levels = filter.split('/')
  if (api === 'v2') {
    if (levels[0] === uid && levels.length > 1) return filter
    if (levels[0] === '+' && levels.length > 1) return [uid, ...levels.slice(1)].join('/')
    return undefined
  }
  if (filter === '#' || filter === 'v3/#') return `v3/${uid}/#`
  if (levels[0] !== 'v3' || levels.length < 2) return undefined
  if (levels[1] === '+') return ['v3', uid, ...levels.slice(2)].join('/')
  if (levels[1] === uid) return filter
  return undefined
}

export class TtsBroker {
  /** Every downlink publish on an accepted downlink topic, in order of arrival. */
  readonly downlinks: ReceivedDownlink[] = []
  /** Publishes the server ignored: not a downlink topic, or another application's / tenant's topic. */
  readonly rejectedPublishes: RejectedPublish[] = []
  /** Every CONNECT that got a CONNACK, with its return code. */
  readonly connectAttempts: ConnectAttempt[] = []

  private readonly aedes: Aedes
  private readonly server: Server
  private readonly tlsMode: boolean
  private readonly requestedHost: string
  private listeningPort = 0
  private readonly apps: AppState[]
  private readonly maxDownlinkBytes: number
  private readonly autoDeliver: TtsBrokerOptions['autoDeliver']
  private readonly missesConfirmed: TtsBrokerOptions['missesConfirmed']
  private readonly classC: ReadonlySet<string>
  /** Confirmed downlinks delivered per device, for missesConfirmed. */
  private readonly confirmedDelivered = new Map<string, number>()
  /** Raw TCP sockets, so disconnectAll/stop can destroy them (TLS sockets sit on top of these). */
  private readonly sockets = new Set<Socket>()
  /** Authenticated connections. */
  private readonly sessions = new Map<Client, Session>()
  /** Client IDs as sent in CONNECT, kept until authentication. */
  private readonly sentClientIds = new WeakMap<Client, string>()
  /** Internal (aedes) client IDs in use, to give duplicates a distinct one. */
  private readonly internalIds = new Set<string>()
  private readonly queues = new Map<string, QueuedDownlink[]>()
  private readonly fCntUp = new Map<string, number>()
  private readonly fCntDown = new Map<string, number>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly downlinkHandlers = new Set<(d: ReceivedDownlink) => void>()
  private readonly uplinkHandlers = new Set<(u: PublishedUplink) => void>()
  private stopping: Promise<void> | undefined

  private constructor(opts: TtsBrokerOptions, aedes: Aedes) {
    this.aedes = aedes
    this.requestedHost = opts.host ?? '127.0.0.1'
    this.maxDownlinkBytes = opts.maxDownlinkBytes ?? 51
    this.autoDeliver = opts.autoDeliver
    this.missesConfirmed = opts.missesConfirmed
    this.classC = new Set(opts.classC ?? [])
    this.apps = opts.applications.map((a) => {
      const api = a.api ?? 'v3'
      const tenant = api === 'v3' ? (a.tenant ?? null) : null
      return { appId: a.appId, tenant, uid: tenant ? `${a.appId}@${tenant}` : a.appId, apiKey: a.apiKey, api }
    })
    const uids = new Set(this.apps.map((a) => a.uid))
    if (uids.size !== this.apps.length) throw new Error('TtsBroker: two applications have the same username')

    aedes.preConnect = (client, packet, cb) => this.onPreConnect(client, packet, cb)
    aedes.authenticate = (client, username, password, done) => {
      done(null, this.onAuthenticate(client, username, password))
    }
    aedes.authorizeSubscribe = (client, sub, done) => done(null, this.onSubscribe(client, sub))
    aedes.authorizePublish = (client, packet, done) => {
      // The server keeps no retained messages.
      packet.retain = false
      if (client) this.onClientPublish(client, packet)
      // Never an error: aedes would close the connection, the real server just ignores the publish.
      done(null)
    }
    // Only what the server itself publishes reaches subscribers: client publishes carry a clientId.
    aedes.authorizeForward = (_client, packet: AedesPublishPacket) =>
      (packet as { clientId?: string }).clientId === undefined ? packet : null
    aedes.on('unsubscribe', (topics, client) => this.onUnsubscribe(topics, client))
    // Internal persistence errors must not crash the test process; nothing to recover.
    const emitter: EventEmitter = aedes
    emitter.on('error', noop)

    this.tlsMode = opts.tls !== undefined
    this.server = opts.tls
      ? createTlsServer(
          {
            key: opts.tls.key,
            cert: opts.tls.cert,
            ca: opts.tls.ca,
            requestCert: opts.tls.requestCert ?? false,
            rejectUnauthorized: opts.tls.requestCert ?? false,
          },
          (s) => aedes.handle(s),
        )
      : createNetServer((s) => aedes.handle(s))
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.on('error', noop)
      socket.once('close', () => this.sockets.delete(socket))
    })
    this.server.on('tlsClientError', noop)
  }

  /** Starts a broker listening on host:port; resolves once it accepts connections. */
  static async start(opts: TtsBrokerOptions): Promise<TtsBroker> {
    const aedes = await Aedes.createBroker({
      // The server drops a connection without CONNECT after 10 s.
      connectTimeout: 10_000,
      // The server accepts any client ID, even long ones.
      maxClientsIdLength: 65535,
    })
    let broker: TtsBroker
    try {
      broker = new TtsBroker(opts, aedes)
      await broker.listen(opts.port ?? 0)
    } catch (err) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      throw err
    }
    return broker
  }

  get host(): string {
    return this.requestedHost
  }

  get port(): number {
    return this.listeningPort
  }

  /** mqtt://127.0.0.1:PORT, or mqtts:// in TLS mode. */
  get url(): string {
    const host = this.requestedHost.includes(':') ? `[${this.requestedHost}]` : this.requestedHost
    return `${this.tlsMode ? 'mqtts' : 'mqtt'}://${host}:${this.listeningPort}`
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, this.requestedHost, () => {
        this.server.off('error', reject)
        this.server.on('error', noop)
        this.listeningPort = (this.server.address() as AddressInfo).port
        resolve()
      })
    })
  }

  // ---- connection handling ------------------------------------------------------------------------

  private onPreConnect(
    client: Client,
    packet: ConnectPacket,
    cb: (err: Error | null, ok: boolean) => void,
  ): void {
    const sent = packet.clientId ?? ''
    this.sentClientIds.set(client, sent)
    if (packet.protocolVersion !== 3 && packet.protocolVersion !== 4) {
      // aedes answers CONNACK 1 itself, without calling authenticate: record it here, before it is sent.
      this.recordAttempt(sent, packet.username, 1)
    } else {
      // No persistent sessions on the server: aedes must neither restore subscriptions nor queue messages.
      packet.clean = true
      // The server does not enforce unique client IDs, aedes would kick the older connection: give aedes a
      // distinct internal ID. Empty IDs get a random one from aedes.
      if (sent !== '') {
        let internal = sent
        for (let n = 2; this.internalIds.has(internal); n++) internal = `${sent}#${n}`
        packet.clientId = internal
        this.internalIds.add(internal)
        client.conn.once('close', () => this.internalIds.delete(internal))
      }
    }
    cb(null, true)
  }

  private onAuthenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): boolean {
    const sent = this.sentClientIds.get(client) ?? client.id
    const app = this.apps.find((a) => a.uid === username)
    const ok = app !== undefined && password !== undefined && password.toString('utf8') === app.apiKey
    // Recorded before aedes writes the CONNACK, so a test that saw the CONNACK also sees the attempt.
    this.recordAttempt(sent, username, ok ? 0 : 5)
    if (!ok || !app) return false
    this.sessions.set(client, { client, app, publicId: sent || client.id })
    client.conn.once('close', () => this.sessions.delete(client))
    return true
  }

  private recordAttempt(clientId: string, username: string | undefined, returnCode: number): void {
    const attempt: ConnectAttempt = { clientId, returnCode, at: Date.now() }
    if (username !== undefined) attempt.username = username
    this.connectAttempts.push(attempt)
  }

  private liveSessions(username?: string): Session[] {
    return [...this.sessions.values()].filter(
      (s) => !s.client.closed && (username === undefined || s.app.uid === username),
    )
  }

  /** Clients currently connected and authenticated, optionally only those of one username. */
  connectionCount(username?: string): number {
    return this.liveSessions(username).length
  }

  /** Client IDs (as the clients sent them; a random one for an empty ID) of the live connections. */
  clientIds(username?: string): string[] {
    return this.liveSessions(username).map((s) => s.publicId)
  }

  /** Current subscription filters of a client, after rewriting (union over connections sharing the ID). */
  subscriptionsOf(clientId: string): string[] {
    const filters = new Set<string>()
    for (const s of this.liveSessions()) {
      if (s.publicId !== clientId) continue
      const subs = (s.client as unknown as { subscriptions: Record<string, unknown> }).subscriptions
      for (const f of Object.keys(subs)) filters.add(f)
    }
    return [...filters].sort()
  }

  /** The server drops every connection (sockets destroyed, no DISCONNECT); the broker keeps running. */
  disconnectAll(): void {
    for (const socket of this.sockets) socket.destroy()
  }

  /** Rotates or revokes (any other string) the key of an application, by appId or username. New
   * connections need the new key; established ones stay up (use disconnectAll to force a reconnect). */
  setApiKey(appId: string, key: string): void {
    const apps = this.apps.filter((a) => a.appId === appId || a.uid === appId)
    if (apps.length === 0) throw new Error(`TtsBroker.setApiKey: no application ${appId}`)
    for (const a of apps) a.apiKey = key
  }

  // ---- subscriptions ------------------------------------------------------------------------------

  private onSubscribe(client: Client, sub: Subscription): Subscription | null {
    const session = this.sessions.get(client)
    if (!session) return null
    const topic = rewriteSubscription(session.app.api, session.app.uid, sub.topic)
    if (topic === undefined) return null
    // The SUBACK grants the requested QoS (aedes takes it from the request), but delivery is QoS 0.
    return { ...sub, topic, qos: 0 }
  }

  /** aedes unsubscribes the filter as sent; the server unsubscribes the rewritten one, so do that too. */
  private onUnsubscribe(topics: string[], client: Client): void {
    const session = this.sessions.get(client)
    if (!session || client.closed) return
    const rewritten = topics
      .map((t) => rewriteSubscription(session.app.api, session.app.uid, t))
      .filter((t): t is string => t !== undefined && !topics.includes(t))
    if (rewritten.length === 0) return
    // No messageId: aedes sends no second UNSUBACK.
    const packet = { cmd: 'unsubscribe', unsubscriptions: rewritten } as UnsubscribePacket
    client.unsubscribe(packet, noop)
  }

  // ---- client publishes ---------------------------------------------------------------------------

  private onClientPublish(client: Client, packet: PublishPacket): void {
    const session = this.sessions.get(client)
    const topic = packet.topic
    const reason = session ? this.publishRejection(session.app, topic) : 'not an authenticated connection'
    if (reason !== undefined || !session) {
      this.rejectedPublishes.push({ clientId: session?.publicId ?? client.id, topic, reason: reason ?? '' })
      return
    }
    const raw = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload)
    if (session.app.api === 'v2') {
      const m = V2_DOWNLINK_TOPIC.exec(topic)!
      // The v2 handler's answers (events/down/scheduled ...) are not simulated: only recorded.
      this.record(session, m[2], topic, 'v2', raw)
      return
    }
    const m = V3_DOWNLINK_TOPIC.exec(topic)!
    this.onV3Downlink(session, m[2], m[3] as 'push' | 'replace', topic, raw)
  }

  /** Why the server ignores a publish on `topic`, or undefined for a downlink topic of the app. */
  private publishRejection(app: AppState, topic: string): string | undefined {
    if (app.api === 'v2') {
      const m = V2_DOWNLINK_TOPIC.exec(topic)
      if (!m) return 'not a downlink topic ({appId}/devices/{devId}/down)'
      if (m[1] !== app.uid) return `topic is not in application ${app.uid}`
      return undefined
    }
    const m = V3_DOWNLINK_TOPIC.exec(topic)
    if (!m) return 'not a downlink topic (v3/{uid}/devices/{dev}/down/push|replace)'
    if (m[1] !== app.uid)
      return `topic id ${m[1]} differs from username ${app.uid}: the server drops it silently`
    return undefined
  }

  private record(session: Session, deviceId: string, topic: string, schedule: DownlinkSchedule, raw: Buffer) {
    let body: unknown
    const violations: string[] = []
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch (err) {
      violations.push(`payload is not valid JSON: ${(err as Error).message}`)
    }
    if (body !== undefined) {
      violations.push(...(schedule === 'v2' ? v2DownlinkViolations(body) : downlinkViolations(body)))
    }
    const idRule = schedule === 'v2' ? V2_DEVICE_ID : V3_DEVICE_ID
    const validDeviceId = idRule.test(deviceId) && deviceId.length <= 36
    if (!validDeviceId)
      violations.push(`"${deviceId}" is not a valid device ID: the server drops it silently`)
    const d: ReceivedDownlink = {
      username: session.app.uid,
      deviceId,
      topic,
      schedule,
      raw: Buffer.from(raw),
      body,
      clientId: session.publicId,
      violations,
      at: Date.now(),
    }
    this.downlinks.push(d)
    for (const handler of this.downlinkHandlers) {
      try {
        handler(d)
      } catch (err) {
        // A failing test handler must fail the test, not the broker: rethrow outside the MQTT stack.
        process.nextTick(() => {
          throw err
        })
      }
    }
    return { body, validDeviceId }
  }

  private onV3Downlink(
    session: Session,
    deviceId: string,
    schedule: 'push' | 'replace',
    topic: string,
    raw: Buffer,
  ): void {
    const { body, validDeviceId } = this.record(session, deviceId, topic, schedule, raw)
    if (body === undefined || !validDeviceId) return // bad JSON: nothing comes back
    const parsed = parseDownlinkBody(body)
    if (!parsed.ok) return // unparseable (unknown priority, wrong types, ...): nothing comes back
    // Answer after the publish has been handled, like the server (which goes through its queue first).
    this.later(0, () => this.answerV3(session.app, deviceId, schedule, parsed.items))
  }

  /** Register a handler called for every ReceivedDownlink; returns the unsubscribe function. */
  onDownlink(handler: (d: ReceivedDownlink) => void): () => void {
    this.downlinkHandlers.add(handler)
    return () => {
      this.downlinkHandlers.delete(handler)
    }
  }

  /** The simulated downlink queue of a device (bodies as echoed in down/queued), oldest first. */
  downlinkQueue(username: string, deviceId: string): DownlinkMessageBody[] {
    return (this.queues.get(`${username}/${deviceId}`) ?? []).map((q) => ({ ...q.body }))
  }

  /** The MQTT username (topic ID) of a v3 application, by its bare ID (the HTTP API names apps that way). */
  usernameFor(appId: string): string | undefined {
    return this.apps.find((a) => a.appId === appId && a.api === 'v3')?.uid
  }

  /**
   * The HTTP API's `POST .../down/push|replace` (http-api.ts): the same queue and the same down/queued
   * events as over MQTT, but a bad body or a refused item answers the request instead of down/failed.
   * Returns undefined when queued, else the error (its name is the server's).
   */
  queueOverHttp(appId: string, deviceId: string, schedule: 'push' | 'replace', body: unknown): ServerError | { name: 'invalid_body'; message: string } | undefined {
    const app = this.apps.find((a) => a.appId === appId && a.api === 'v3')
    if (!app) throw new Error(`TtsBroker.queueOverHttp: no v3 application ${appId}`)
    const parsed = parseDownlinkBody(body)
    if (!parsed.ok) return { name: 'invalid_body', message: parsed.reason }
    const error = parsed.items.map((p) => this.itemError(p)).find((e) => e !== undefined)
    if (error) return error
    this.answerV3(app, deviceId, schedule, parsed.items)
    return undefined
  }

  private itemError(p: ParsedDownlink): ServerError | undefined {
    // The order of the server: the AS encodes (no payload at all), then needs an FPort, then the NS checks
    // the length against the data rate.
    if (!p.frmPayload && !p.decodedPayload) return serverError('no_payload')
    if (p.fPort === 0 && !p.decodedPayload) return serverError('no_f_port')
    if (p.frmPayload && p.frmPayload.length > this.maxDownlinkBytes) {
      return serverError('application_downlink_too_long')
    }
    return undefined
  }

  private answerV3(
    app: AppState,
    deviceId: string,
    schedule: 'push' | 'replace',
    items: ParsedDownlink[],
  ): void {
    const key = `${app.uid}/${deviceId}`
    if (items.length === 0) {
      // `{"downlinks":[]}` or a v2-style body: on replace the queue is wiped, silently.
      if (schedule === 'replace') this.queues.set(key, [])
      return
    }
    const withIds = items.map((p) => ({ p, cid: downlinkCorrelationId() }))
    const error = items.map((p) => this.itemError(p)).find((e) => e !== undefined)
    if (error) {
      // One bad item fails the batch: one down/failed per item, the queue stays as it was.
      for (const { p, cid } of withIds) {
        const downlink: DownlinkMessageBody = {
          f_port: p.fPort,
          frm_payload: p.frmPayload?.toString('base64'),
          decoded_payload: p.decodedPayload,
          confirmed: p.confirmed,
          priority: p.priority === 'LOWEST' ? undefined : p.priority,
          correlation_ids: [...p.correlationIds, cid],
        }
        this.emit(
          `v3/${app.uid}/devices/${deviceId}/down/failed`,
          buildDownlinkFailed(app.appId, deviceId, downlink, error),
        )
      }
      return
    }
    const queue = schedule === 'replace' ? [] : (this.queues.get(key) ?? [])
    for (const { p, cid } of withIds) {
      const fCnt = (this.fCntDown.get(key) ?? 0) + 1
      this.fCntDown.set(key, fCnt)
      const body: DownlinkMessageBody = {
        session_key_id: p.sessionKeyId ?? sessionKeyId(app.appId, deviceId),
        // No payload formatter here: with decoded_payload only, act as if the encoder chose FPort 1.
        f_port: p.fPort || 1,
        f_cnt: fCnt,
        frm_payload: p.frmPayload?.toString('base64'),
        decoded_payload: p.decodedPayload,
        confirmed: p.confirmed,
        // LOWEST is the enum's zero value, hence omitted like every zero value.
        priority: p.priority === 'LOWEST' ? undefined : p.priority,
        correlation_ids: [...p.correlationIds, cid],
        class_b_c: p.classBC,
        confirmed_retry: p.confirmedRetry,
      }
      const entry: QueuedDownlink = { body, confirmed: p.confirmed }
      queue.push(entry)
      this.emit(
        `v3/${app.uid}/devices/${deviceId}/down/queued`,
        buildDownlinkEvent(app.appId, deviceId, 'down/queued', body),
      )
      if (this.autoDeliver) this.scheduleDelivery(app, deviceId, key, entry, this.autoDeliver)
    }
    this.queues.set(key, queue)
  }

  private scheduleDelivery(
    app: AppState,
    deviceId: string,
    key: string,
    entry: QueuedDownlink,
    auto: NonNullable<TtsBrokerOptions['autoDeliver']>,
  ): void {
    const prefix = `v3/${app.uid}/devices/${deviceId}`
    this.later(this.sentAfterMs(deviceId, entry, auto.sentAfterMs), () => {
      const queue = this.queues.get(key) ?? []
      const index = queue.indexOf(entry)
      if (index < 0) return // replaced in the meantime: never sent
      queue.splice(index, 1)
      this.emit(`${prefix}/down/sent`, buildDownlinkEvent(app.appId, deviceId, 'down/sent', entry.body))
      if (entry.confirmed && auto.ackAfterMs !== undefined) {
        const nth = (this.confirmedDelivered.get(key) ?? 0) + 1
        this.confirmedDelivered.set(key, nth)
        const missed = this.missesConfirmed?.(deviceId, nth) === true
        this.later(auto.ackAfterMs, () => {
          const event = missed ? 'down/nack' : 'down/ack'
          this.emit(`${prefix}/${event}`, buildDownlinkEvent(app.appId, deviceId, event, entry.body))
        })
      }
    })
  }

  /** When a queued downlink is transmitted: class C with class_b_c at its absolute_time (or at once), else as configured. */
  private sentAfterMs(deviceId: string, entry: QueuedDownlink, configured: number): number {
    const classBC = entry.body.class_b_c
    if (!classBC || !this.classC.has(deviceId)) return configured
    const at = typeof classBC.absolute_time === 'string' ? Date.parse(classBC.absolute_time) : Number.NaN
    return Number.isNaN(at) ? Math.min(configured, 10) : Math.max(0, at - Date.now())
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      fn()
    }, ms)
    this.timers.add(timer)
  }

  // ---- server publishes ---------------------------------------------------------------------------

  private appByUsername(username: string): AppState {
    const app = this.apps.find((a) => a.uid === username)
    if (!app) {
      const known = this.apps.map((a) => a.uid).join(', ')
      throw new Error(`TtsBroker: no application with username "${username}" (configured: ${known})`)
    }
    return app
  }

  private publishPacket(topic: string, payload: Buffer): Promise<void> {
    if (this.stopping) return Promise.reject(new Error('TtsBroker is stopped'))
    const packet: PublishPacket = { cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }
    return new Promise((resolve, reject) => {
      this.aedes.publish(packet, (err) => (err ? reject(err) : resolve()))
    })
  }

  /** Fire-and-forget publish for the broker's own answers; failures only happen while stopping. */
  private emit(topic: string, message: SimMessage): void {
    this.publishPacket(topic, Buffer.from(JSON.stringify(message))).catch(noop)
  }

  /**
   * Publishes an uplink of a device, as the server would: the caller's fields are merged over a realistic
   * uplink_message (f_cnt counts up per device, starting at 1). `{fullMessage}` is sent as is.
   * v2 applications get the v2 shape on `{appId}/devices/{dev}/up`. Resolves with the message sent.
   */
  async publishUplink(
    username: string,
    deviceId: string,
    uplink?: Partial<UplinkMessageBody> | { fullMessage: object },
  ): Promise<Record<string, unknown>> {
    const app = this.appByUsername(username)
    const topic =
      app.api === 'v2' ? `${app.appId}/devices/${deviceId}/up` : `v3/${app.uid}/devices/${deviceId}/up`
    let message: Record<string, unknown>
    if (uplink && isFullMessage(uplink)) {
      message = uplink.fullMessage as Record<string, unknown>
    } else {
      const partial = (uplink ?? {}) as Partial<UplinkMessageBody>
      const key = `${app.uid}/${deviceId}`
      const fCnt = typeof partial.f_cnt === 'number' ? partial.f_cnt : (this.fCntUp.get(key) ?? 1)
      this.fCntUp.set(key, fCnt + 1)
      message =
        app.api === 'v2'
          ? buildV2Uplink(app.appId, deviceId, fCnt, partial)
          : buildUplink({ applicationId: app.appId, deviceId, fCnt, tenant: app.tenant }, partial)
    }
    // Stored before it is published, as the Application Server hands it to its integrations.
    for (const handler of this.uplinkHandlers) handler({ appId: app.appId, username: app.uid, api: app.api, deviceId, topic, message })
    await this.publishPacket(topic, Buffer.from(JSON.stringify(message)))
    return message
  }

  /** Register a handler for every uplink published by publishUplink (e.g. the Storage Integration stand-in). */
  onUplinkPublished(handler: (u: PublishedUplink) => void): () => void {
    this.uplinkHandlers.add(handler)
    return () => {
      this.uplinkHandlers.delete(handler)
    }
  }

  /**
   * Publishes an event of a device with a realistic body; `body` is merged (shallow) over the default body
   * (for down/failed: `{downlink, error}`). v2 applications get the v2 event topic where v2 had one
   * (join -> events/activations, down/queued -> events/down/scheduled, ...); others reject.
   */
  async publishEvent(
    username: string,
    deviceId: string,
    event: SimEvent,
    body?: object,
  ): Promise<Record<string, unknown>> {
    const app = this.appByUsername(username)
    if (!(event in EVENT_BODY_KEYS) || (event as string) === 'up') {
      throw new Error(`TtsBroker.publishEvent: unknown event ${event}`)
    }
    const b = (body ?? {}) as Record<string, unknown>
    let topic: string
    let message: SimMessage
    if (app.api === 'v2') {
      const suffix = V2_EVENT_TOPICS[event]
      if (!suffix) throw new Error(`TtsBroker.publishEvent: TTN v2 had no equivalent of ${event}`)
      topic = `${app.appId}/devices/${deviceId}/${suffix}`
      message = buildV2Event(app.appId, deviceId, event, b)
    } else {
      topic = `v3/${app.uid}/devices/${deviceId}/${event}`
      message = buildEvent(app.appId, deviceId, event, b, app.tenant)
    }
    await this.publishPacket(topic, Buffer.from(JSON.stringify(message)))
    return message
  }

  /** Publishes anything on any topic (no wildcards), for malformed-input tests. */
  async publishRaw(topic: string, payload: string | Buffer): Promise<void> {
    if (topic === '' || topic.includes('+') || topic.includes('#')) {
      throw new Error(`TtsBroker.publishRaw: invalid topic name ${JSON.stringify(topic)}`)
    }
    await this.publishPacket(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload))
  }

  /** Closes the listener, destroys every socket and closes aedes. Idempotent; bounded in time. */
  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop()
    return this.stopping
  }

  private async doStop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.downlinkHandlers.clear()
    this.uplinkHandlers.clear()
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const socket of this.sockets) socket.destroy()
    await withTimeout(serverClosed, 2000)
    await withTimeout(new Promise<void>((resolve) => this.aedes.close(() => resolve())), 2000)
    this.sessions.clear()
  }
}

function isFullMessage(u: object): u is { fullMessage: object } {
  const f = (u as { fullMessage?: unknown }).fullMessage
  return typeof f === 'object' && f !== null
}

/** Resolves when `p` settles or after `ms`, whichever comes first, leaving no timer behind. */
async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms)
  })
  try {
    await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

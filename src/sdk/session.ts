/**
 * The connection: connect, reconnect with back-off, and end it, with the state in one value.
 *
 * Each attempt is a fresh MQTT.js client with its own reconnect disabled: this module owns
 * reconnecting (exponential back-off with jitter, capped), so no state leaks from one attempt to the
 * next. What happens on top of a connection (subscriptions, downlinks, recovery) is the caller's,
 * told through the hooks.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { BrokerAddress } from './address'
import { Backoff, type BackoffOptions } from './backoff'
import { genericFailure, v311ConnectCode } from './broker-mode'
import type { ConnectionStatus, TlsOptions } from './client-types'
import { ConnectError, type ConnectFailure, ConnectResult, explainConnectFailure } from './connack'

/**
 * Where the connection stands. `stopped`: nobody wants it (new with autoConnect off, stopped or
 * closed). `starting`: wanted, first attempt on the next tick. `opening`: waiting for CONNACK.
 * `open`: connected. `waiting`: between attempts.
 */
export type SessionPhase =
  | { name: 'stopped' }
  | { name: 'starting' }
  | { name: 'opening'; mqtt: MqttClient }
  | { name: 'open'; mqtt: MqttClient }
  | { name: 'waiting'; timer: NodeJS.Timeout }

export interface SessionSettings {
  address: BrokerAddress
  username: string
  password: string
  clientId: string
  protocolVersion: 4 | 5
  keepalive?: number
  connectTimeoutMs?: number
  reconnect?: BackoffOptions
  tls?: TlsOptions
  /** Generic broker mode: failures are explained for a broker other than The Things Stack. */
  generic: boolean
  topicRoot: string
}

export interface SessionHooks {
  /** Connected (again): put subscriptions back, send what waited. Called before connect() resolves. */
  connected(mqtt: MqttClient): void
  message(topic: string, payload: Buffer): void
  /** A connection that was up is gone; a reconnect follows. */
  lost(): void
  /** An attempt failed before CONNACK (or with a refusal); a retry follows while the session is wanted. */
  failed(failure: ConnectFailure, error: ConnectError): void
  status(status: ConnectionStatus): void
  warning(text: string): void
}

export class Session {
  private phase: SessionPhase = { name: 'stopped' }
  private currentStatus: ConnectionStatus = { state: 'idle' }
  private readonly backoff: Backoff
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = []
  private warnedTlsOff = false

  constructor(
    private readonly settings: SessionSettings,
    private readonly hooks: SessionHooks,
  ) {
    this.backoff = new Backoff(settings.reconnect)
  }

  get state(): SessionPhase['name'] {
    return this.phase.name
  }

  /** The MQTT.js client while connected, else undefined. */
  get mqtt(): MqttClient | undefined {
    return this.phase.name === 'open' ? this.phase.mqtt : undefined
  }

  get connected(): boolean {
    return this.phase.name === 'open'
  }

  /** True unless stopped: the session is connected, connecting, or will try again. */
  get wanted(): boolean {
    return this.phase.name !== 'stopped'
  }

  get status(): ConnectionStatus {
    return { ...this.currentStatus }
  }

  setStatus(status: ConnectionStatus): void {
    this.currentStatus = status
    this.hooks.status({ ...status })
  }

  /** Want the connection; the first attempt starts on the next tick (callbacks set now see every event). */
  startSoon(): void {
    if (this.phase.name !== 'stopped') return
    this.phase = { name: 'starting' }
    process.nextTick(() => {
      if (this.phase.name === 'starting') this.open()
    })
  }

  /** Want the connection and resolve once connected; rejects with ConnectError if the next attempt fails. */
  connect(): Promise<void> {
    const connected = new Promise<void>((resolve, reject) => {
      if (this.phase.name === 'open') resolve()
      else this.waiters.push({ resolve, reject })
    })
    if (this.phase.name === 'stopped' || this.phase.name === 'starting') this.open()
    return connected
  }

  /**
   * Stop wanting the connection and end it. The state changes at once (so the caller can fail what
   * waited on it); the promise settles once the socket is gone, with whether the connection was up and
   * whether this stop is what the user sees (false when connect() was called again in the meantime).
   */
  stop(reason: 'closed' | 'stopped'): Promise<{ wasConnected: boolean; reportClose: boolean }> {
    const phase = this.phase
    this.phase = { name: 'stopped' }
    if (phase.name === 'waiting') clearTimeout(phase.timer)
    const wasConnected = phase.name === 'open'
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w.reject(new Error(`The client was ${reason} before it connected.`))
    this.backoff.reset()
    const mqttClient = phase.name === 'open' || phase.name === 'opening' ? phase.mqtt : undefined
    if (mqttClient) mqttClient.removeAllListeners('message')
    const ended = mqttClient ? endMqtt(mqttClient, wasConnected) : Promise.resolve()
    return ended.then(() => {
      // connect() may have been called while we waited: then the new attempt's status stands.
      if (this.phase.name !== 'stopped') return { wasConnected, reportClose: false }
      const changed = this.currentStatus.state !== 'disconnected'
      this.setStatus({ state: 'disconnected' })
      return { wasConnected, reportClose: wasConnected || changed }
    })
  }

  private open(): void {
    // A retry keeps showing "reconnecting (attempt n)" / "not authorized" until it succeeds or fails.
    if (this.backoff.attempts === 0) this.setStatus({ state: 'connecting' })
    const client = mqtt.connect(this.mqttOptions())
    this.phase = { name: 'opening', mqtt: client }
    let lastError: Error | undefined
    let ended = false
    const current = () =>
      (this.phase.name === 'opening' || this.phase.name === 'open') && this.phase.mqtt === client

    client.on('connect', () => {
      if (!current()) return
      this.phase = { name: 'open', mqtt: client }
      this.backoff.reset()
      this.setStatus({ state: 'connected' })
      this.hooks.connected(client)
      const waiters = this.waiters
      this.waiters = []
      for (const w of waiters) w.resolve()
    })
    client.on('message', (topic, payload) => {
      if (current()) this.hooks.message(topic, payload)
    })
    client.on('error', (err) => {
      lastError = err
    })
    client.on('close', () => {
      if (ended) return
      ended = true
      if (!current()) return
      const wasOpen = this.phase.name === 'open'
      client.removeAllListeners('message')
      client.end(true)
      if (wasOpen) {
        this.phase = { name: 'starting' } // placeholder until the retry is scheduled below
        this.hooks.lost()
        if (this.phase.name === 'starting') this.retryLater(undefined)
        return
      }
      this.phase = { name: 'starting' }
      const failure = this.classify(lastError)
      const error = new ConnectError(failure)
      this.hooks.failed(failure, error)
      const waiters = this.waiters
      this.waiters = []
      for (const w of waiters) w.reject(error)
      if (this.phase.name === 'starting') this.retryLater(failure)
    })
  }

  private retryLater(failure: ConnectFailure | undefined): void {
    const delayMs = this.backoff.next()
    const notAuthorized =
      failure?.code === ConnectResult.NotAuthorized || failure?.code === ConnectResult.BadUsernameOrPassword
    const timer = setTimeout(() => {
      if (this.phase.name === 'waiting' && this.phase.timer === timer) this.open()
    }, delayMs)
    this.phase = { name: 'waiting', timer }
    this.setStatus({
      state: notAuthorized ? 'not-authorized' : 'reconnecting',
      attempt: this.backoff.attempts,
      delayMs,
      code: failure?.code,
      summary: failure?.summary,
      hint: failure?.hint,
    })
  }

  private mqttOptions(): IClientOptions {
    const { address, tls = {} } = this.settings
    const opts: IClientOptions = {
      protocol: address.tls ? 'mqtts' : 'mqtt',
      host: address.host,
      port: address.port,
      protocolVersion: this.settings.protocolVersion,
      clean: true,
      clientId: this.settings.clientId,
      username: this.settings.username,
      password: this.settings.password,
      keepalive: this.settings.keepalive ?? 60,
      connectTimeout: this.settings.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
    }
    if (!address.tls) return opts
    opts.rejectUnauthorized = tls.rejectUnauthorized !== false
    if (tls.ca) opts.ca = tls.ca as IClientOptions['ca']
    if (tls.cert) opts.cert = tls.cert
    if (tls.key) opts.key = tls.key
    if (tls.passphrase) (opts as IClientOptions & { passphrase?: string }).passphrase = tls.passphrase
    opts.servername = tls.servername ?? (isIp(address.host) ? undefined : address.host)
    if (tls.rejectUnauthorized === false && !this.warnedTlsOff) {
      this.warnedTlsOff = true
      this.hooks.warning(
        `TLS certificate verification is disabled for ${address.host}:${address.port}: only use this for private test deployments.`,
      )
    }
    return opts
  }

  private classify(err: Error | undefined): ConnectFailure {
    const e = err as (Error & { code?: unknown }) | undefined
    let code: number = ConnectResult.NetworkError
    if (e && typeof e.code === 'number' && e.code > 0 && e.code < 256) code = v311ConnectCode(e.code)
    else if (e && /connack timeout/i.test(e.message)) code = ConnectResult.Timeout
    else if (
      e &&
      (/certificate|self.signed|TLS|SSL|altnames|handshake/i.test(e.message) ||
        (typeof e.code === 'string' && /CERT|TLS|SSL/.test(e.code)))
    )
      code = ConnectResult.TlsError
    // Name the cause users can act on: the certificate could not be verified (CA, host name, expiry).
    const detail =
      code === ConnectResult.TlsError && isCertificateError(e)
        ? `certificate verification failed (${e?.message})`
        : e?.message
    const { address, username, generic, topicRoot } = this.settings
    const where = `${address.host}:${address.port}`
    const failure = explainConnectFailure(code, username, where, detail)
    return generic ? genericFailure(failure, username, where, topicRoot) : failure
  }
}

/**
 * End an MQTT.js client for certain. A connected one gets a graceful DISCONNECT, and its socket is
 * destroyed if that takes over 2 s (a silent broker must not hang a deploy). One still connecting is
 * torn down at once: MQTT.js ignores a second end() call, so a graceful end that never completes
 * would leave the socket open and the broker would count a connection nobody owns.
 */
function endMqtt(client: MqttClient, connected: boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const destroy = () => {
      client.stream?.destroy()
      resolve()
    }
    if (!connected) {
      client.end(true, destroy)
      return
    }
    const force = setTimeout(destroy, 2000)
    client.end(false, () => {
      clearTimeout(force)
      resolve()
    })
  })
}

/** Node's codes for a server certificate that failed verification (unknown CA, wrong host name, expired ...). */
function isCertificateError(e: (Error & { code?: unknown }) | undefined): boolean {
  return typeof e?.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME/.test(e.code)
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}

/**
 * ttn-app, the config node: owns one SDK client (one MQTT connection) shared by every node that
 * uses it. Connects when the first user registers, disconnects when the last one leaves (after a
 * short grace so a "modified nodes" deploy that restarts the only consumer does not reconnect),
 * and pushes the connection state to every user.
 */
import {
  type ConnectionStatus,
  type Delivery,
  MQTTClient,
  type MQTTClientOptions,
  type SendOptions,
  type SendResult,
  type TlsOptions,
} from '../sdk/client'
import { isPublicTtsHost, parseAddress, tlsOverrideFor } from '../sdk/address'
import { apiKeyKind } from '../sdk/api-key'
import { likelyAuthCause } from '../sdk/connack'
import type { RecoveryCheckpoint, RecoveryEvent } from '../sdk/recovery'
import type { UplinkMessage } from '../sdk/messages'
import type { EventName } from '../sdk/topics'
import type { NodeInstance, NodeRedRuntime, NodeStatus, TlsConfigNode } from './red'
import { attachCodecHost, type CodecHost, type CodecRepoConfig } from './codec-repo'
import { type AppApiGlue, attachAppApi } from './app-api'
import { RateLimitedReporter } from './rate-limit'
import { statusFor } from './status'

export interface TtnAppConfig extends CodecRepoConfig {
  name?: string
  appId?: string
  tenant?: string
  server?: string
  tls?: boolean | string
  tlsConfig?: string
  api?: 'v3' | 'v2'
  keepalive?: number | string
  /** 'tts' (default): The Things Stack. 'generic': another broker carrying the bridged traffic (scale-out). */
  broker?: 'tts' | 'generic'
  /** Generic broker only: MQTT user (empty: the application ID), topic root, MQTT version, shared group. */
  username?: string
  topicPrefix?: string
  protocolVersion?: number | string
  sharedGroup?: string
  /** Recover missed uplinks from the Storage Integration; recoverUrl '' = https://<server host>; lookback in minutes. */
  recover?: boolean | string
  recoverUrl?: string
  lookback?: number | string
  /** Root of the HTTP API ('' = https://<server host>; The Things Network's device registry is on eu1): src/sdk/api/base-url.ts. */
  apiUrl?: string
}

/** What the config node needs of a user: an ID and somewhere to show the connection status. */
export type StatusTarget = Pick<NodeInstance, 'id' | 'type' | 'status'>

/** How long the connection outlives its last user, so redeploying a consumer does not reconnect. */
export const LAST_USER_GRACE_MS = 500

export interface TtnAppNode extends NodeInstance, CodecHost {
  /** Undefined when the configuration is unusable (the reason is in configError). */
  client: MQTTClient | undefined
  configError: string | undefined
  register(user: StatusTarget): void
  deregister(user: StatusTarget, done?: () => void): void
  onUplink(deviceId: string | undefined, listener: (d: Delivery<UplinkMessage>) => void): () => void
  onEvent(event: EventName | 'all', deviceId: string | undefined, listener: (d: Delivery) => void): () => void
  /** Hold the down/* event subscriptions while a downlink node exists; returns the release function. */
  watchDownlinkEvents(): () => void
  sendDownlink(deviceId: unknown, payload: unknown, port: unknown, confirmed: unknown, schedule: unknown, options: SendOptions): Promise<SendResult>
  /** The HTTP API side: needs, diagnosis, device details (app-api.ts). */
  api: AppApiGlue
}

/** Whether the connection will use TLS, as the SDK decides it (an unparsable address fails later, in the SDK). */
function usesTls(server: string, tlsOverride: boolean | undefined): boolean {
  try {
    return parseAddress(server, tlsOverride).tls
  } catch {
    return tlsOverride !== false
  }
}

/** "Not authorized as app@tenant at host:port: <likeliest cause>", through the catalog. */
function notAuthorizedText(RED: NodeRedRuntime, client: MQTTClient, generic: boolean): string {
  const c = likelyAuthCause(client.username, client.host)
  const cause = generic ? RED._('ttn.errors.authCause.broker') : RED._(`ttn.errors.authCause.${c.cause}`, c)
  return RED._('ttn.errors.notAuthorized', { username: client.username, address: `${client.host}:${client.port}`, cause })
}

/** Turn the node's fields into the SDK's constructor arguments. Exported for tests. */
export function clientArguments(
  config: TtnAppConfig,
  tlsNode: TlsConfigNode | undefined,
): { address: string; options: MQTTClientOptions } {
  const server = (config.server ?? '').trim() || 'eu1.cloud.thethings.network'
  const tlsOn = config.tls === undefined ? true : config.tls === true || config.tls === 'true'
  const tlsOverride = tlsOverrideFor(server, tlsOn)
  const tls: TlsOptions = tlsOverride === undefined ? {} : { enabled: tlsOverride }
  if (tlsNode && usesTls(server, tlsOverride)) {
    const o = tlsNode.addTLSOptions({})
    if (o.ca) tls.ca = o.ca as TlsOptions['ca']
    if (o.cert) tls.cert = o.cert as TlsOptions['cert']
    if (o.key) tls.key = o.key as TlsOptions['key']
    if (typeof o.passphrase === 'string') tls.passphrase = o.passphrase
    if (typeof o.servername === 'string' && o.servername) tls.servername = o.servername
    if (o.rejectUnauthorized === false) tls.rejectUnauthorized = false
  }
  const keepalive = Number(config.keepalive)
  const options: MQTTClientOptions = {
    api: config.api === 'v2' ? 'v2' : 'v3',
    tls,
    autoConnect: false,
    // Subscribed to uplinks only while an uplink node listens: a flow with only downlink nodes does
    // not receive every uplink of the application.
    subscribeUplinks: 'on-demand',
  }
  if (config.tenant?.trim()) options.tenant = config.tenant.trim()
  if (config.apiUrl?.trim()) options.apiUrl = config.apiUrl.trim()
  if (Number.isFinite(keepalive) && keepalive > 0) options.keepalive = keepalive
  if (config.broker === 'generic') {
    // Empty fields keep The Things Stack's defaults; the SDK validates what is set.
    if (config.username?.trim()) options.username = config.username.trim()
    if (config.topicPrefix?.trim()) options.topicPrefix = config.topicPrefix.trim()
    if (config.sharedGroup?.trim()) options.sharedGroup = config.sharedGroup.trim()
    if (String(config.protocolVersion) === '5') options.protocolVersion = 5
  }
  // Recovery needs The Things Stack's Storage Integration: v2 has none (the node warns, see below).
  if ((config.recover === true || config.recover === 'true') && options.api === 'v3') {
    const lookbackMinutes = Number(config.lookback)
    options.recover = { enabled: true }
    if (config.recoverUrl?.trim()) options.recover.baseUrl = config.recoverUrl.trim()
    else if (options.apiUrl) options.recover.baseUrl = options.apiUrl
    if (Number.isFinite(lookbackMinutes) && lookbackMinutes > 0) options.recover.lookbackMs = lookbackMinutes * 60_000
  }
  return { address: server, options }
}

/**
 * Recovery checkpoints of config nodes that were closed, by node ID: a full deploy replaces the config
 * node (and its client), and the new one continues where the old one stopped, so the uplinks published
 * during the deploy are recovered too. Dropped when the node is removed.
 */
const recoveryCheckpoints = new Map<string, { appId: string; server: string; checkpoint: RecoveryCheckpoint }>()

export function registerTtnApp(RED: NodeRedRuntime): void {
  function TtnApp(this: TtnAppNode, config: TtnAppConfig): void {
    RED.nodes.createNode(this, config)
    const node = this
    const users = new Map<string, StatusTarget>()
    let lastStatus: NodeStatus | Record<string, never> = {}
    let loggedHint: string | undefined
    let graceTimer: NodeJS.Timeout | undefined
    const warnings = new RateLimitedReporter((text) => node.warn(text))
    // Payload codecs run locally: the Device Repository and the sandbox limits (src/nodes/codec-repo.ts).
    attachCodecHost(RED, node, config)

    node.client = undefined
    node.configError = undefined
    let tlsVerificationOff = false
    let serverAddress = ''
    let clientOptions: MQTTClientOptions = {}
    try {
      const apiKey = node.credentials?.apiKey
      if (!apiKey?.trim()) throw new Error(RED._('ttn.errors.missingKey'))
      const tlsNode = config.tlsConfig ? (RED.nodes.getNode(config.tlsConfig) as TlsConfigNode | null) : null
      const { address, options } = clientArguments(config, tlsNode ?? undefined)
      serverAddress = address
      clientOptions = options
      const saved = recoveryCheckpoints.get(node.id)
      recoveryCheckpoints.delete(node.id)
      if (options.recover && saved && saved.appId === config.appId && saved.server === address) options.recover.resumeFrom = saved.checkpoint
      if ((config.recover === true || config.recover === 'true') && options.api === 'v2') node.warn(RED._('ttn.errors.recoverV2'))
      node.client = new MQTTClient(config.appId ?? '', apiKey, address, options)
      tlsVerificationOff = options.tls?.rejectUnauthorized === false
    } catch (err) {
      node.configError = (err as Error).message
      node.error(node.configError)
    }

    const client = node.client
    const broadcast = (status: NodeStatus | Record<string, never>) => {
      lastStatus = status
      for (const u of users.values()) u.status(status)
    }
    const api = attachAppApi({
      RED,
      node,
      client,
      appId: config.appId ?? '',
      apiKey: node.credentials?.apiKey ?? '',
      address: serverAddress,
      options: clientOptions,
      users,
      refresh: () => client && broadcast(api.status(client.status, statusFor(RED, client.status))),
    })
    node.api = api
    if (client) {
      client.on('status', (s: ConnectionStatus) => {
        broadcast(api.status(s, statusFor(RED, s)))
        if (s.state === 'connected') loggedHint = undefined
        // The full hint goes to the log once per distinct problem, not once per attempt.
        if (s.hint && s.hint !== loggedHint && (s.state === 'not-authorized' || s.state === 'reconnecting')) {
          loggedHint = s.hint
          if (s.state === 'not-authorized') {
            // Short for the debug sidebar (what was tried, the likeliest cause); the whole checklist in the log.
            node.error(notAuthorizedText(RED, client, config.broker === 'generic'))
            node.log(s.hint)
          } else node.warn(s.hint)
        }
      })
      client.on('error', (err: Error) => warnings.push(err.message))
      // Recovery problems (no rights, integration off, retention exceeded): the SDK reports each once.
      client.on('recovery', (e: RecoveryEvent) => {
        if (e.phase === 'warning' || e.phase === 'failed') node.warn(e.message)
      })
      // The SDK's one warning (TLS verification off) is logged here, once, in the user's language.
      if (client.tls && tlsVerificationOff) node.warn(RED._('ttn.errors.tlsOff', { server: `${client.host}:${client.port}` }))
      // The server would only say "not authorized": name what is visible before connecting.
      if (config.broker !== 'generic' && apiKeyKind(node.credentials?.apiKey) === 'v2') node.warn(RED._('ttn.errors.v2Key'))
      if (!client.tls && isPublicTtsHost(client.host)) node.warn(RED._('ttn.errors.plainPublic', { server: `${client.host}:${client.port}` }))
    }

    node.register = (user) => {
      if (graceTimer) {
        clearTimeout(graceTimer)
        graceTimer = undefined
      }
      users.set(user.id, user)
      if (!client) {
        user.status({ fill: 'red', shape: 'ring', text: node.configError === RED._('ttn.errors.missingKey') ? 'ttn.status.missingKey' : 'ttn.status.configError' })
        return
      }
      user.status(lastStatus)
      if (users.size === 1 && !client.connected) client.connect().catch(() => undefined)
    }

    node.deregister = (user, done) => {
      users.delete(user.id)
      if (users.size === 0 && client && !graceTimer) {
        graceTimer = setTimeout(() => {
          graceTimer = undefined
          if (users.size === 0) client.stop().catch(() => undefined)
        }, LAST_USER_GRACE_MS)
      }
      done?.()
    }

    const noop = () => undefined
    node.onUplink = (deviceId, listener) => (client ? client.onUplink(deviceId, listener) : noop)
    node.onEvent = (event, deviceId, listener) => (client ? client.onEvent(event, deviceId, listener) : noop)
    node.watchDownlinkEvents = () => (client ? client.watchDownlinkEvents() : noop)
    node.sendDownlink = (deviceId, payload, port, confirmed, schedule, options) => {
      if (!client) return Promise.reject(new Error(node.configError ?? RED._('ttn.errors.noApp')))
      return client.send(deviceId as string, payload, port, confirmed, schedule, options)
    }

    node.on('close', (removed, done) => {
      api.close()
      if (graceTimer) clearTimeout(graceTimer)
      graceTimer = undefined
      users.clear()
      if (!client) {
        done()
        return
      }
      // SDK close() forces the socket shut after 2 s, well inside Node-RED's 15 s limit.
      client.close().then(() => {
        // Hand the recovery checkpoint to the node that replaces this one (a full deploy), if any.
        const checkpoint = client.recoveryCheckpoint
        if (checkpoint && !removed) recoveryCheckpoints.set(node.id, { appId: config.appId ?? '', server: serverAddress, checkpoint })
        done()
      }, done)
    })
  }
  RED.nodes.registerType('ttn-app', TtnApp as never, { credentials: { apiKey: { type: 'password' } } })
}

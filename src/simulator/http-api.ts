// A stand-in for the parts of The Things Stack's HTTP API this package uses, on plain HTTP (node:http), for
// tests and the `npm start` demo. It answers like the real server as shared/reference/tts-api.md describes it:
//   GET  /api/v3/auth_info                                        any key; 401 api_key_not_found / api_key_expired
//   GET  /api/v3/applications/{app}/rights                        the key's rights there; {} for another app
//   GET  /api/v3/applications/{app}/devices                       DEVICES_READ; field_mask, limit (≤1000), page, order, X-Total-Count
//   GET  /api/v3/search/applications/{app}/devices                the same, plus `query` (ID, EUIs, name contain it)
//   GET  /api/v3/applications/{app}/devices/{dev}                 DEVICES_READ; 404 for an unknown device
//   PUT  /api/v3/applications/{app}/devices/{dev}                 DEVICES_WRITE; {"end_device":…,"field_mask":{"paths":[…]}}
//   GET  /api/v3/as/applications/{app}/devices/{dev}/down         TRAFFIC_READ; the queue the MQTT simulator holds
//   POST /api/v3/as/applications/{app}/devices/{dev}/down/push|replace   TRAFFIC_DOWN_WRITE; the same queue
//   POST /api/v3/events                                           a stream of end_device.* events (DEVICES_READ)
//   …/packages/storage/…                                          handed to a StorageStandIn, when one is given
// Missing rights get 403 insufficient_application_rights with details[].attributes.missing, a key of another
// application 403 no_application_rights, and injectable faults cover any status, 429 with Retry-After /
// X-Rate-Limit-* and a dropped connection. Keys are chosen per test with the rights it needs.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { LoopbackServer } from './loopback-server'
import { deviceIdentifiers, errorCorrelationId, rfc3339Nano, ulid } from './messages'
import type { StorageStandIn } from './storage'
import type { TtsBroker } from './tts-broker'

export const RIGHTS = {
  info: 'RIGHT_APPLICATION_INFO',
  trafficRead: 'RIGHT_APPLICATION_TRAFFIC_READ',
  trafficDownWrite: 'RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE',
  devicesRead: 'RIGHT_APPLICATION_DEVICES_READ',
  devicesWrite: 'RIGHT_APPLICATION_DEVICES_WRITE',
} as const

/** Every application right the stand-in knows, as RIGHT_APPLICATION_ALL expands to. */
export const ALL_APPLICATION_RIGHTS = [
  'RIGHT_APPLICATION_INFO',
  'RIGHT_APPLICATION_SETTINGS_BASIC',
  'RIGHT_APPLICATION_SETTINGS_API_KEYS',
  'RIGHT_APPLICATION_SETTINGS_COLLABORATORS',
  'RIGHT_APPLICATION_SETTINGS_PACKAGES',
  'RIGHT_APPLICATION_DELETE',
  'RIGHT_APPLICATION_DEVICES_READ',
  'RIGHT_APPLICATION_DEVICES_WRITE',
  'RIGHT_APPLICATION_DEVICES_READ_KEYS',
  'RIGHT_APPLICATION_DEVICES_WRITE_KEYS',
  'RIGHT_APPLICATION_TRAFFIC_READ',
  'RIGHT_APPLICATION_TRAFFIC_UP_WRITE',
  'RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE',
  'RIGHT_APPLICATION_LINK',
]

export interface ApiKeySpec {
  /** The secret, as sent in `Authorization: Bearer …`. */
  key: string
  /** The application the key belongs to. */
  appId: string
  /** Its rights; RIGHT_APPLICATION_ALL expands to every application right (as auth_info shows it). */
  rights: string[]
  id?: string
  name?: string
  /** RFC 3339; a time in the past makes every request answer 401 api_key_expired. */
  expiresAt?: string
}

export interface SimDevice {
  deviceId: string
  name?: string
  description?: string
  attributes?: Record<string, string>
  locations?: Record<string, { latitude: number; longitude: number; altitude?: number; accuracy?: number; source?: string }>
  versionIds?: Record<string, string>
  lastSeenAt?: string
  /** Where the device's Application Server is (host[:port]); default the stand-in's serverAddress. */
  applicationServerAddress?: string
}

export interface ApiApplication {
  appId: string
  devices?: SimDevice[]
}

export interface HttpApiStandInOptions {
  applications: ApiApplication[]
  keys: ApiKeySpec[]
  /** The MQTT simulator whose downlink queues the queue routes read and write. */
  broker?: TtsBroker
  /** Storage Integration routes are served by it, on this stand-in's port. */
  storage?: StorageStandIn
  /** application_server_address of devices that do not name one (default '127.0.0.1'). */
  serverAddress?: string
  /** Offer the device search service (default true); "not implemented on all deployments": off answers 501. */
  searchService?: boolean
  host?: string
  port?: number
}

/** A fault for the next request(s) whose path matches `path` (default: any route but storage). */
export type ApiFault =
  | { type: 'status'; status: number; name?: string; message?: string; code?: number; headers?: Record<string, string>; path?: RegExp }
  | { type: 'rate-limit'; retryAfterSeconds?: number; rateLimitRetrySeconds?: number; path?: RegExp }
  | { type: 'drop'; path?: RegExp }

export interface ApiRequestRecord {
  method: string
  path: string
  query: Record<string, string>
  status: number
  /** Whether an Authorization header came (its value is never recorded). */
  authorized: boolean
  at: number
}

interface StoredDevice {
  device: Record<string, unknown>
  createdAt: string
  updatedAt: string
}

interface EventStream {
  res: ServerResponse
  key: ApiKeySpec
  appIds: Set<string>
  names: ((name: string) => boolean)[]
}

class Problem extends Error {
  constructor(
    readonly status: number,
    readonly grpcCode: number,
    readonly namespace: string,
    readonly errorName: string,
    message: string,
    readonly attributes?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message)
  }
}

const DEVICE_FIELDS = new Set([
  'name',
  'description',
  'attributes',
  'locations',
  'version_ids',
  'last_seen_at',
  'application_server_address',
  'network_server_address',
  'join_server_address',
])
const ORDERS = new Set(['device_id', 'name', 'last_seen_at', 'created_at', 'dev_eui', 'join_eui', 'description'])

export class HttpApiStandIn {
  /** Every request, in order (never the key). */
  readonly requests: ApiRequestRecord[] = []
  private readonly http: LoopbackServer
  private readonly apps = new Map<string, Map<string, StoredDevice>>()
  private readonly keys = new Map<string, ApiKeySpec>()
  private readonly faults: ApiFault[] = []
  private readonly streams = new Set<EventStream>()
  private readonly broker: TtsBroker | undefined
  private readonly storage: StorageStandIn | undefined
  private readonly serverAddress: string
  private readonly searchService: boolean

  private constructor(opts: HttpApiStandInOptions) {
    this.broker = opts.broker
    this.storage = opts.storage
    this.serverAddress = opts.serverAddress ?? '127.0.0.1'
    this.searchService = opts.searchService !== false
    for (const a of opts.applications) {
      const devices = new Map<string, StoredDevice>()
      this.apps.set(a.appId, devices)
      for (const d of a.devices ?? []) this.putDevice(a.appId, d)
    }
    for (const k of opts.keys) this.addKey(k)
    this.http = new LoopbackServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) this.sendProblem(res, new Problem(500, 13, 'pkg/simulator', 'internal', `stand-in failure: ${err.message}`))
        else res.destroy()
      })
    }, opts.host)
  }

  static async start(opts: HttpApiStandInOptions): Promise<HttpApiStandIn> {
    const s = new HttpApiStandIn(opts)
    await s.http.listen(opts.port)
    return s
  }

  get port(): number {
    return this.http.port
  }

  /** http://127.0.0.1:PORT: the `apiUrl` of a client or ttn-app node. */
  get url(): string {
    return this.http.url
  }

  /** Add or replace a key (by its secret). */
  addKey(k: ApiKeySpec): void {
    this.keys.set(k.key, { ...k, id: k.id ?? `KEY${ulid().slice(-10)}`, rights: expandRights(k.rights) })
  }

  /** Revoke a key: it answers 401 api_key_not_found from now on. */
  removeKey(key: string): void {
    this.keys.delete(key)
  }

  /** Add a device or replace it whole (no event: use updateDevice for a change the server reports). */
  putDevice(appId: string, d: SimDevice): void {
    const devices = this.appDevices(appId)
    const now = rfc3339Nano()
    const old = devices.get(d.deviceId)
    const euis = deviceIdentifiers(d.deviceId)
    const device: Record<string, unknown> = {
      ids: { device_id: d.deviceId, application_ids: { application_id: appId }, dev_eui: euis.dev_eui, join_eui: euis.join_eui },
      name: d.name,
      description: d.description,
      attributes: d.attributes,
      locations: d.locations,
      version_ids: d.versionIds,
      last_seen_at: d.lastSeenAt,
      application_server_address: d.applicationServerAddress ?? this.serverAddress,
      network_server_address: d.applicationServerAddress ?? this.serverAddress,
      join_server_address: d.applicationServerAddress ?? this.serverAddress,
    }
    devices.set(d.deviceId, { device, createdAt: old?.createdAt ?? now, updatedAt: now })
  }

  /** Change fields of a device as a Console user would, and emit end_device.update on the event streams. */
  updateDevice(appId: string, deviceId: string, fields: Partial<Omit<SimDevice, 'deviceId'>>): void {
    const stored = this.appDevices(appId).get(deviceId)
    if (!stored) throw new Error(`HttpApiStandIn.updateDevice: no device ${deviceId} in ${appId}`)
    const map: Record<string, string> = { versionIds: 'version_ids', lastSeenAt: 'last_seen_at', applicationServerAddress: 'application_server_address' }
    const paths: string[] = []
    for (const [k, v] of Object.entries(fields)) {
      const field = map[k] ?? k
      stored.device[field] = v
      paths.push(field)
    }
    stored.updatedAt = rfc3339Nano()
    this.publishDeviceEvent('end_device.update', appId, deviceId, paths)
  }

  /** Remove a device (emits end_device.delete). */
  deleteDevice(appId: string, deviceId: string): void {
    if (this.appDevices(appId).delete(deviceId)) this.publishDeviceEvent('end_device.delete', appId, deviceId, [])
  }

  /** The device as stored, for assertions. */
  device(appId: string, deviceId: string): Record<string, unknown> | undefined {
    const d = this.apps.get(appId)?.get(deviceId)
    return d ? structuredClone(d.device) : undefined
  }

  /** Open event streams (POST /api/v3/events) right now. */
  get eventStreams(): number {
    return this.streams.size
  }

  /** Apply a fault to the next `times` matching requests. */
  injectFault(fault: ApiFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault)
  }

  stop(): Promise<void> {
    for (const s of this.streams) s.res.destroy()
    this.streams.clear()
    return this.http.stop()
  }

  // ---- request handling ---------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    const path = url.pathname.replace(/\/+$/, '')
    if (this.storage && /\/packages\/storage(\/|$)/.test(path)) {
      this.storage.serve(req, res)
      return
    }
    const query = Object.fromEntries(url.searchParams.entries())
    const record: ApiRequestRecord = { method: req.method ?? 'GET', path, query, status: 200, authorized: req.headers.authorization !== undefined, at: Date.now() }
    this.requests.push(record)
    try {
      const body = await readJson(req)
      const faultIndex = this.faults.findIndex((f) => !f.path || f.path.test(path))
      const fault = faultIndex >= 0 ? this.faults.splice(faultIndex, 1)[0] : undefined
      if (fault?.type === 'drop') {
        record.status = 0
        req.socket.destroy()
        return
      }
      if (fault?.type === 'rate-limit') {
        const headers: Record<string, string> = {
          'X-Rate-Limit-Limit': '10',
          'X-Rate-Limit-Available': '0',
          'X-Rate-Limit-Reset': String(fault.rateLimitRetrySeconds ?? fault.retryAfterSeconds ?? 1),
          'X-Rate-Limit-Retry': String(fault.rateLimitRetrySeconds ?? fault.retryAfterSeconds ?? 1),
        }
        if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds)
        throw new Problem(429, 8, 'pkg/ratelimit', 'rate_limit_exceeded', 'rate limit exceeded', undefined, headers)
      }
      if (fault?.type === 'status') {
        throw new Problem(fault.status, fault.code ?? 2, 'pkg/simulator', fault.name ?? 'injected', fault.message ?? `injected HTTP ${fault.status}`, undefined, fault.headers)
      }
      const status = await this.route(req.method ?? 'GET', path, query, body, req, res)
      record.status = status
    } catch (err) {
      const p = err instanceof Problem ? err : new Problem(500, 13, 'pkg/simulator', 'internal', (err as Error).message)
      record.status = p.status
      this.sendProblem(res, p)
    }
  }

  /** Answers the request; returns the status sent. */
  private async route(method: string, path: string, query: Record<string, string>, body: unknown, req: IncomingMessage, res: ServerResponse): Promise<number> {
    if (path === '/api/v3/auth_info' && method === 'GET') {
      const key = this.keyOf(req, true)
      if (!key) return this.json(res, 200, {})
      const apiKey: Record<string, unknown> = { id: key.id, name: key.name, rights: key.rights, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' }
      if (key.expiresAt) apiKey.expires_at = key.expiresAt
      return this.json(res, 200, {
        api_key: { api_key: omitUndefined(apiKey), entity_ids: { application_ids: { application_id: key.appId } } },
        universal_rights: {},
      })
    }
    let m = /^\/api\/v3\/applications\/([^/]+)\/rights$/.exec(path)
    if (m && method === 'GET') {
      const key = this.keyOf(req) as ApiKeySpec
      const appId = decodeURIComponent(m[1])
      // The server cannot tell "no rights" from "no such application": both are {}.
      return this.json(res, 200, key.appId === appId && this.apps.has(appId) ? { rights: key.rights } : {})
    }
    m = /^\/api\/v3\/(search\/)?applications\/([^/]+)\/devices$/.exec(path)
    if (m && method === 'GET') {
      const appId = decodeURIComponent(m[2])
      if (m[1] && !this.searchService) throw new Problem(501, 12, 'pkg/rpcserver', 'unimplemented', 'method SearchEndDevices not implemented')
      this.require(req, appId, RIGHTS.devicesRead)
      return this.listDevices(res, appId, query, m[1] !== undefined)
    }
    m = /^\/api\/v3\/applications\/([^/]+)\/devices\/([^/]+)$/.exec(path)
    if (m) {
      const appId = decodeURIComponent(m[1])
      const deviceId = decodeURIComponent(m[2])
      if (method === 'GET') {
        this.require(req, appId, RIGHTS.devicesRead)
        const stored = this.appDevices(appId).get(deviceId)
        if (!stored) throw notFound(appId, deviceId)
        return this.json(res, 200, project(stored, fieldMask(query.field_mask)))
      }
      if (method === 'PUT') {
        this.require(req, appId, RIGHTS.devicesWrite)
        if (!this.appDevices(appId).has(deviceId)) throw notFound(appId, deviceId)
        const b = body as { end_device?: Record<string, unknown>; field_mask?: { paths?: string[] } } | undefined
        const paths = b?.field_mask?.paths ?? []
        const fields: Record<string, unknown> = {}
        const back: Record<string, string> = { version_ids: 'versionIds', last_seen_at: 'lastSeenAt', application_server_address: 'applicationServerAddress' }
        for (const p of paths) {
          if (!DEVICE_FIELDS.has(p)) throw new Problem(400, 3, 'pkg/ttnpb', 'field_mask_paths', `invalid field mask path ${p}`)
          fields[back[p] ?? p] = b?.end_device?.[p]
        }
        this.updateDevice(appId, deviceId, fields)
        return this.json(res, 200, project(this.appDevices(appId).get(deviceId) as StoredDevice, paths))
      }
    }
    m = /^\/api\/v3\/as\/applications\/([^/]+)\/devices\/([^/]+)\/down(?:\/(push|replace))?$/.exec(path)
    if (m) {
      const appId = decodeURIComponent(m[1])
      const deviceId = decodeURIComponent(m[2])
      const op = m[3] as 'push' | 'replace' | undefined
      if (op === undefined && method === 'GET') {
        this.require(req, appId, RIGHTS.trafficRead)
        if (!this.appDevices(appId).has(deviceId)) throw notFound(appId, deviceId)
        const queue = this.broker?.downlinkQueue(this.usernameOf(appId), deviceId) ?? []
        return this.json(res, 200, queue.length ? { downlinks: queue.map((d) => omitUndefined(d as Record<string, unknown>)) } : {})
      }
      if (op && method === 'POST') {
        this.require(req, appId, RIGHTS.trafficDownWrite)
        if (!this.appDevices(appId).has(deviceId)) throw notFound(appId, deviceId)
        if (!this.broker) throw new Problem(503, 14, 'pkg/simulator', 'no_broker', 'this stand-in has no MQTT simulator to queue downlinks in')
        const error = this.broker.queueOverHttp(appId, deviceId, op, body ?? {})
        if (error) throw new Problem(400, 3, 'namespace' in error ? error.namespace : 'pkg/ttnpb', error.name, 'message_format' in error ? error.message_format : error.message)
        return this.json(res, 200, {})
      }
    }
    if (path === '/api/v3/events' && method === 'POST') return this.openEvents(req, res, body)
    if (/\/packages\/storage(\/|$)/.test(path)) {
      // No StorageStandIn attached: the application has no Storage Integration.
      const appId = /applications\/([^/]+)/.exec(path)?.[1] ?? ''
      this.keyOf(req)
      throw new Problem(404, 5, 'pkg/applicationserver/io/packages/storage', 'not_enabled', `storage integration not enabled for application ${decodeURIComponent(appId)}`)
    }
    throw new Problem(404, 5, 'pkg/web', 'route_not_found', `no route for ${method} ${path}`)
  }

  private listDevices(res: ServerResponse, appId: string, query: Record<string, string>, search: boolean): number {
    let limit = 100
    if (query.limit !== undefined && query.limit !== '') {
      limit = Number(query.limit)
      if (!Number.isInteger(limit) || limit < 0 || limit > 1000) {
        throw new Problem(400, 3, 'pkg/ttnpb', 'validation', `invalid field limit: value must be at most 1000, got ${query.limit}`)
      }
      if (limit === 0) limit = 100
    }
    const page = Math.max(1, Number(query.page) || 1)
    let devices = [...this.appDevices(appId).values()]
    const q = search ? (query.query ?? '').toLowerCase() : ''
    if (q) {
      devices = devices.filter((d) => {
        const ids = d.device.ids as { device_id: string; dev_eui?: string; join_eui?: string }
        return [ids.device_id, ids.dev_eui, ids.join_eui, d.device.name].some((v) => typeof v === 'string' && v.toLowerCase().includes(q))
      })
    }
    const order = query.order || 'device_id'
    const field = order.replace(/^-/, '')
    if (!ORDERS.has(field)) throw new Problem(400, 3, 'pkg/identityserver', 'invalid_order', `invalid order ${order}`)
    const value = (d: StoredDevice): string => {
      if (field === 'device_id' || field === 'dev_eui' || field === 'join_eui') return String((d.device.ids as Record<string, unknown>)[field] ?? '')
      if (field === 'created_at') return d.createdAt
      return String(d.device[field] ?? '')
    }
    devices.sort((a, b) => (value(a) < value(b) ? -1 : value(a) > value(b) ? 1 : 0))
    if (order.startsWith('-')) devices.reverse()
    const paths = fieldMask(query.field_mask)
    const pageItems = devices.slice((page - 1) * limit, page * limit)
    const body = pageItems.length ? { end_devices: pageItems.map((d) => project(d, paths)) } : {}
    return this.json(res, 200, body, { 'X-Total-Count': String(devices.length) })
  }

  private openEvents(req: IncomingMessage, res: ServerResponse, body: unknown): number {
    const key = this.keyOf(req) as ApiKeySpec
    const b = (body ?? {}) as { identifiers?: Array<{ application_ids?: { application_id?: string } }>; names?: string[] }
    const appIds = new Set<string>()
    for (const ids of b.identifiers ?? []) {
      const appId = ids.application_ids?.application_id
      if (!appId) throw new Problem(400, 3, 'pkg/events', 'invalid_identifiers', 'only application identifiers are simulated')
      // Opening a stream needs any right on each entity.
      if (key.appId !== appId || key.rights.length === 0) throw noRights(appId)
      appIds.add(appId)
    }
    if (appIds.size === 0) throw new Problem(400, 3, 'pkg/events', 'no_identifiers', 'identifiers are required')
    const names = (b.names ?? []).map((n) => {
      if (n.length > 2 && n.startsWith('/') && n.endsWith('/')) {
        const re = new RegExp(n.slice(1, -1))
        return (name: string) => re.test(name)
      }
      return (name: string) => name === n
    })
    const eventStream = req.headers.accept === 'text/event-stream'
    res.writeHead(200, { 'Content-Type': eventStream ? 'text/event-stream' : 'application/json' })
    const stream: EventStream = { res, key, appIds, names }
    this.streams.add(stream)
    res.on('close', () => this.streams.delete(stream))
    this.writeEvent(stream, { name: 'events.stream.start', time: rfc3339Nano(), identifiers: b.identifiers, unique_id: ulid() })
    return 200
  }

  private publishDeviceEvent(name: string, appId: string, deviceId: string, paths: string[]): void {
    const event = {
      name,
      time: rfc3339Nano(),
      identifiers: [{ device_ids: { device_id: deviceId, application_ids: { application_id: appId } } }],
      data: { '@type': 'type.googleapis.com/google.protobuf.FieldMask', paths },
      correlation_ids: [`rpc:/ttn.lorawan.v3.EndDeviceRegistry/Update:${ulid()}`],
      origin: 'stand-in',
      visibility: { rights: [RIGHTS.devicesRead] },
      unique_id: ulid(),
    }
    for (const s of this.streams) {
      if (!s.appIds.has(appId)) continue
      // Each event is filtered by its visibility: end_device.* need DEVICES_READ.
      if (!s.key.rights.includes(RIGHTS.devicesRead)) continue
      if (s.names.length && !s.names.some((f) => f(name))) continue
      this.writeEvent(s, event)
    }
  }

  private writeEvent(s: EventStream, event: Record<string, unknown>): void {
    const sep = s.res.req.headers.accept === 'text/event-stream' ? '\n\n' : '\n'
    s.res.write(`${JSON.stringify({ result: event })}${sep}`)
  }

  // ---- auth ---------------------------------------------------------------------------------------

  /** The key of the request, or a 401 Problem. `optional`: no header is fine (auth_info answers {}). */
  private keyOf(req: IncomingMessage, optional = false): ApiKeySpec | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
    if (!m) {
      if (optional) return undefined
      throw new Problem(401, 16, 'pkg/auth', 'token_missing', 'no API key in the Authorization header')
    }
    const key = this.keys.get(m[1])
    if (!key) {
      const looksLikeKey = /^NNSXS\.[A-Z0-9]+\.[A-Z0-9]+$/i.test(m[1])
      if (looksLikeKey) throw new Problem(401, 16, 'pkg/identityserver', 'api_key_not_found', 'API key not found')
      throw new Problem(401, 16, 'pkg/auth', 'invalid_authorization', 'invalid authorization')
    }
    if (key.expiresAt && Date.parse(key.expiresAt) <= Date.now()) throw new Problem(401, 16, 'pkg/identityserver', 'api_key_expired', 'API key expired')
    return key
  }

  private require(req: IncomingMessage, appId: string, right: string): ApiKeySpec {
    const key = this.keyOf(req) as ApiKeySpec
    if (key.appId !== appId || !this.apps.has(appId) || key.rights.length === 0) throw noRights(appId)
    if (!key.rights.includes(right)) {
      throw new Problem(403, 7, 'pkg/auth/rights', 'insufficient_application_rights', `insufficient rights for application \`${appId}\``, {
        missing: [right],
        uid: appId,
      })
    }
    return key
  }

  private usernameOf(appId: string): string {
    return this.broker?.usernameFor(appId) ?? appId
  }

  private appDevices(appId: string): Map<string, StoredDevice> {
    const devices = this.apps.get(appId)
    if (!devices) throw new Error(`HttpApiStandIn: no application ${appId}`)
    return devices
  }

  // ---- answers ------------------------------------------------------------------------------------

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers })
    res.end(text)
    return status
  }

  private sendProblem(res: ServerResponse, p: Problem): void {
    const details = [
      omitUndefined({
        '@type': 'type.googleapis.com/ttn.lorawan.v3.ErrorDetails',
        namespace: p.namespace,
        name: p.errorName,
        message_format: p.message,
        attributes: p.attributes,
        correlation_id: errorCorrelationId(),
        code: p.grpcCode,
      }),
    ]
    this.json(res, p.status, { code: p.grpcCode, message: `error:${p.namespace}:${p.errorName} (${p.message})`, details }, p.headers)
  }
}

function expandRights(rights: string[]): string[] {
  if (rights.includes('RIGHT_APPLICATION_ALL')) return [...ALL_APPLICATION_RIGHTS]
  return [...new Set(rights)]
}

function noRights(appId: string): Problem {
  return new Problem(403, 7, 'pkg/auth/rights', 'no_application_rights', `no rights for application \`${appId}\``, { uid: appId })
}

function notFound(appId: string, deviceId: string): Problem {
  return new Problem(404, 5, 'pkg/identityserver/store', 'not_found', `end device \`${appId}.${deviceId}\` not found`)
}

function fieldMask(text: string | undefined): string[] {
  if (!text) return []
  const paths = text.split(',').map((p) => p.trim()).filter(Boolean)
  for (const p of paths) if (!DEVICE_FIELDS.has(p)) throw new Problem(400, 3, 'pkg/ttnpb', 'field_mask_paths', `invalid field mask path ${p}`)
  return paths
}

/** Only the IDs, timestamps and masked fields; empty values omitted, as the server marshals them. */
function project(d: StoredDevice, paths: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ids: d.device.ids, created_at: d.createdAt, updated_at: d.updatedAt }
  for (const p of paths) {
    const v = d.device[p]
    if (v === undefined || v === '' || (typeof v === 'object' && v !== null && Object.keys(v).length === 0)) continue
    out[p] = v
  }
  return out
}

function omitUndefined<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]
  return o
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'HEAD') {
    req.resume()
    return undefined
  }
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  if (!text.trim()) return undefined
  try {
    return JSON.parse(text)
  } catch {
    throw new Problem(400, 3, 'pkg/jsonpb', 'unmarshal', 'request body is not valid JSON')
  }
}

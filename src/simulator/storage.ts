// A stand-in for The Things Stack's Storage Integration read API, on plain HTTP (node:http), for tests and the
// `npm start` demo. It keeps the uplinks TtsBroker publishes (whether or not anyone was connected) for a
// retention period and serves them the way shared/reference/tts-http.md describes the real server:
//   GET /api/v3/as/applications/{app}/packages/storage/uplink_message
//   GET /api/v3/as/applications/{app}/devices/{dev}/packages/storage/uplink_message     (+ /count on both)
// Bearer auth (401 without a key, 403 with another key), 404 when storage is off for the application, the
// query `after`, `before`, `last`, `limit`, `order`, `f_port`, `continuation_token`, one `{"result": …}` per
// message flushed one by one, separated by "\n\n" for exactly `Accept: text/event-stream` and "\n" otherwise,
// an optional page-size cap with or without `X-Continuation-Token`, and injectable faults: any HTTP status,
// 429 with Retry-After / X-Rate-Limit-*, an in-band `{"error": …}` or a dropped connection mid-stream.
// Deliberately strict where the real server is undocumented, so clients cannot lean on luck: without
// `order` the newest come first, and `after` may be exclusive (default) or inclusive.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { LoopbackServer } from './loopback-server'
import { canonicalTime, timeToMs } from '../sdk/recovery/timestamp'
import type { TtsBroker } from './tts-broker'

export interface StorageApplication {
  appId: string
  /** The key that may read this application's storage (Bearer). */
  apiKey: string
  /** Storage Integration enabled for the application (default true); disabled answers 404. */
  enabled?: boolean
}

export interface StorageStandInOptions {
  applications: StorageApplication[]
  /** How long uplinks are kept, ms (default 24 h, as on The Things Network). */
  retentionMs?: number
  /** Default '127.0.0.1'. */
  host?: string
  /** Default 0 (a free port). */
  port?: number
  /** Store every v3 uplink this broker publishes (see TtsBroker.onUplinkPublished). */
  broker?: TtsBroker
  /** A stored uplink becomes readable this long after it was stored, ms (the real one writes in batches). Default 0. */
  writeDelayMs?: number
  /** Most results per response, whatever `limit` asks (a server cap). Default none. */
  pageCap?: number
  /** Send X-Continuation-Token when a response was cut short and more match (default true). */
  continuationTokens?: boolean
  /** `after` as received_at > after ('exclusive', default) or >= after ('inclusive'). */
  afterMode?: 'exclusive' | 'inclusive'
  /** Split every response into writes of at most this many bytes (objects cut across chunks). Default off. */
  fragmentBytes?: number
  /** Messages kept per application at most (default 100000); the oldest go first. */
  maxMessages?: number
}

/** A fault for the next request(s) to a storage endpoint (after authentication). */
export type StorageFault =
  /** An HTTP error before streaming: status with a `{"code","message","details"}` body. */
  | { type: 'status'; status: number; code?: number; message?: string; headers?: Record<string, string> }
  /** 429 with Retry-After (seconds; omit to send only X-Rate-Limit-* headers with X-Rate-Limit-Retry). */
  | { type: 'rate-limit'; retryAfterSeconds?: number; rateLimitRetrySeconds?: number }
  /** Stream `afterResults` results, then an in-band `{"error": …}` object, then end. */
  | { type: 'in-band-error'; afterResults: number; code?: number; message?: string }
  /** Stream `afterResults` results, then destroy the connection (a network failure mid-stream). */
  | { type: 'drop'; afterResults: number }
  /** Stream `afterResults` results, then send nothing more and never end (a stalled response). */
  | { type: 'stall'; afterResults: number }

export interface StorageRequest {
  path: string
  query: Record<string, string>
  accept: string | undefined
  status: number
  /** Results streamed. */
  results: number
  /** The X-Continuation-Token sent back, if any. */
  continuationToken: string | undefined
  fault: StorageFault['type'] | undefined
  /** Date.now() on arrival. */
  at: number
}

interface Entry {
  seq: number
  /** Canonical received_at. */
  ts: string
  deviceId: string
  fPort: number
  storedAt: number
  message: Record<string, unknown>
}

interface AppStore {
  config: StorageApplication
  enabled: boolean
  /** Sorted by (ts, seq). */
  entries: Entry[]
}

interface Query {
  deviceId?: string
  after?: string
  before?: string
  limit?: number
  order: 'received_at' | '-received_at'
  fPort?: number
}

interface Token {
  q: Query
  /** Position of the last result sent: (ts, seq). */
  ts: string
  seq: number
}

const STORAGE_PATH = /^\/api\/v3\/as\/applications\/([^/]+)(?:\/devices\/([^/]+))?\/packages\/storage(?:\/([^/]+))?(\/count)?\/?$/
const MESSAGE_TYPES = new Set([
  'uplink_message',
  'uplink_normalized',
  'join_accept',
  'downlink_ack',
  'downlink_nack',
  'downlink_sent',
  'downlink_failed',
  'downlink_queued',
  'downlink_queue_invalidated',
  'location_solved',
  'service_data',
])

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

export class StorageStandIn {
  /** Every request to a storage endpoint, in order. */
  readonly requests: StorageRequest[] = []
  private readonly http: LoopbackServer
  private readonly apps = new Map<string, AppStore>()
  private readonly faults: StorageFault[] = []
  private readonly retentionMs: number
  private readonly maxMessages: number
  private readonly afterMode: 'exclusive' | 'inclusive'
  private detachBroker: (() => void) | undefined
  private seq = 0
  /** Mutable so a test can change them between requests. */
  writeDelayMs: number
  pageCap: number | undefined
  continuationTokens: boolean
  fragmentBytes: number | undefined

  private constructor(opts: StorageStandInOptions) {
    this.retentionMs = opts.retentionMs ?? 24 * 3600 * 1000
    this.maxMessages = opts.maxMessages ?? 100_000
    this.afterMode = opts.afterMode ?? 'exclusive'
    this.writeDelayMs = opts.writeDelayMs ?? 0
    this.pageCap = opts.pageCap
    this.continuationTokens = opts.continuationTokens ?? true
    this.fragmentBytes = opts.fragmentBytes
    for (const a of opts.applications) this.apps.set(a.appId, { config: a, enabled: a.enabled !== false, entries: [] })
    this.http = new LoopbackServer((req, res) => this.serve(req, res), opts.host)
    if (opts.broker) this.attach(opts.broker)
  }

  /** Start listening; resolves once it accepts requests. */
  static async start(opts: StorageStandInOptions): Promise<StorageStandIn> {
    const s = new StorageStandIn(opts)
    await s.http.listen(opts.port)
    return s
  }

  get port(): number {
    return this.http.port
  }

  /** http://127.0.0.1:PORT: the SDK's recover.baseUrl / the ttn-app node's Storage API. */
  get url(): string {
    return this.http.url
  }

  /** Store the v3 uplinks a broker publishes, for the applications configured here. Returns the detach function. */
  attach(broker: TtsBroker): () => void {
    this.detachBroker?.()
    const detach = broker.onUplinkPublished((u) => {
      if (u.api === 'v3' && this.apps.has(u.appId)) this.store(u.appId, u.message)
    })
    this.detachBroker = detach
    return detach
  }

  /** Store one uplink message (the JSON the MQTT `up` topic carries). */
  store(appId: string, message: Record<string, unknown>): void {
    const app = this.apps.get(appId)
    if (!app) throw new Error(`StorageStandIn: no application ${appId}`)
    if (!app.enabled) return // the integration stores nothing while it is off
    const ts = canonicalTime(message.received_at)
    if (ts === undefined) throw new Error(`StorageStandIn: uplink without a valid received_at: ${JSON.stringify(message.received_at)}`)
    const ids = message.end_device_ids as { device_id?: string } | undefined
    const up = message.uplink_message as { f_port?: number } | undefined
    const entry: Entry = {
      seq: ++this.seq,
      ts,
      deviceId: ids?.device_id ?? '',
      fPort: up?.f_port ?? 0,
      storedAt: Date.now(),
      message: structuredClone(message),
    }
    const list = app.entries
    // Usually appended; received_at can go backwards slightly, so insert in order.
    let i = list.length
    while (i > 0 && list[i - 1].ts > ts) i--
    list.splice(i, 0, entry)
    this.prune(app)
  }

  /** Stored uplinks of an application, oldest first (what a full read would return). */
  stored(appId: string): Record<string, unknown>[] {
    const app = this.apps.get(appId)
    if (!app) throw new Error(`StorageStandIn: no application ${appId}`)
    this.prune(app)
    return app.entries.map((e) => e.message)
  }

  /** Turn the Storage Integration of an application on or off (off: 404, nothing stored). */
  setEnabled(appId: string, enabled: boolean): void {
    const app = this.apps.get(appId)
    if (!app) throw new Error(`StorageStandIn: no application ${appId}`)
    app.enabled = enabled
  }

  /** Apply a fault to the next `times` storage requests. */
  injectFault(fault: StorageFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault)
  }

  /** Close the listener and every connection. Idempotent. */
  stop(): Promise<void> {
    this.detachBroker?.()
    this.detachBroker = undefined
    return this.http.stop()
  }

  // ---- request handling ---------------------------------------------------------------------------

  /** Answer one storage request; also called by HttpApiStandIn, which serves storage on the API's own port. */
  serve(req: IncomingMessage, res: ServerResponse): void {
    this.handle(req, res).catch((err: Error) => {
      if (!res.headersSent) this.sendProblem(res, new HttpProblem(500, 13, `stand-in failure: ${err.message}`))
      else res.destroy()
    })
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    const query = Object.fromEntries(url.searchParams.entries())
    const record: StorageRequest = {
      path: url.pathname,
      query,
      accept: req.headers.accept,
      status: 200,
      results: 0,
      continuationToken: undefined,
      fault: undefined,
      at: Date.now(),
    }
    this.requests.push(record)
    try {
      const m = STORAGE_PATH.exec(url.pathname)
      if (!m) throw new HttpProblem(404, 5, `no route for ${url.pathname}`)
      if (req.method !== 'GET') throw new HttpProblem(405, 12, `method ${req.method} not allowed`)
      const appId = decodeURIComponent(m[1])
      const deviceId = m[2] ? decodeURIComponent(m[2]) : undefined
      const type = m[3]
      const count = m[4] !== undefined
      const app = this.authorize(req, appId)
      if (!app.enabled) {
        throw new HttpProblem(404, 5, `error:pkg/applicationserver/io/packages/storage:not_enabled (storage integration not enabled for application ${appId})`)
      }
      if (!type) throw new HttpProblem(400, 3, 'error:pkg/applicationserver/io/packages/storage:missing_type (a message type is required)')
      if (!MESSAGE_TYPES.has(type)) throw new HttpProblem(400, 3, `error:pkg/applicationserver/io/packages/storage:invalid_type (unknown type ${type})`)
      const fault = this.faults.shift()
      record.fault = fault?.type
      if (fault?.type === 'status') {
        throw Object.assign(new HttpProblem(fault.status, fault.code ?? 2, fault.message ?? `injected HTTP ${fault.status}`), {
          headers: fault.headers,
        })
      }
      if (fault?.type === 'rate-limit') {
        const headers: Record<string, string> = {
          'X-Rate-Limit-Limit': '10',
          'X-Rate-Limit-Available': '0',
          'X-Rate-Limit-Reset': String(fault.retryAfterSeconds ?? fault.rateLimitRetrySeconds ?? 1),
          'X-Rate-Limit-Retry': String(fault.rateLimitRetrySeconds ?? fault.retryAfterSeconds ?? 1),
        }
        if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds)
        throw Object.assign(new HttpProblem(429, 8, 'error:pkg/ratelimit:rate_limit_exceeded (rate limit exceeded)'), { headers })
      }
      const { q, token } = this.parseQuery(query, deviceId)
      const matches = type === 'uplink_message' ? this.select(app, q, token) : []
      if (count) {
        const counts: Record<string, number> = {}
        for (const e of matches) counts[e.deviceId] = (counts[e.deviceId] ?? 0) + 1
        this.sendJson(res, 200, { count: counts })
        return
      }
      const size = Math.min(q.limit ?? Number.POSITIVE_INFINITY, this.pageCap ?? Number.POSITIVE_INFINITY)
      const page = matches.slice(0, size)
      const headers: Record<string, string> = {}
      const eventStream = req.headers.accept === 'text/event-stream'
      headers['Content-Type'] = eventStream ? 'text/event-stream' : 'application/json'
      if (matches.length > page.length && this.continuationTokens && page.length > 0) {
        const last = page[page.length - 1]
        const t: Token = { q, ts: last.ts, seq: last.seq }
        record.continuationToken = Buffer.from(JSON.stringify(t)).toString('base64url')
        headers['X-Continuation-Token'] = record.continuationToken
      }
      await this.stream(res, headers, page, eventStream ? '\n\n' : '\n', fault, record)
    } catch (err) {
      const p = err instanceof HttpProblem ? err : new HttpProblem(500, 13, (err as Error).message)
      record.status = p.status
      this.sendProblem(res, p, (err as { headers?: Record<string, string> }).headers)
    }
  }

  private authorize(req: IncomingMessage, appId: string): AppStore {
    const auth = req.headers.authorization ?? ''
    const m = /^Bearer\s+(\S+)$/i.exec(auth)
    if (!m) throw new HttpProblem(401, 16, 'error:pkg/auth:token_missing (no API key in the Authorization header)')
    const app = this.apps.get(appId)
    if (!app) throw new HttpProblem(403, 7, `error:pkg/auth/rights:no_application_rights (no rights for application ${appId})`)
    if (m[1] !== app.config.apiKey) throw new HttpProblem(403, 7, `error:pkg/auth/rights:no_application_rights (no rights for application ${appId})`)
    return app
  }

  private parseQuery(query: Record<string, string>, deviceId: string | undefined): { q: Query; token: Token | undefined } {
    if (query.continuation_token) {
      // With a token the other filters are ignored (the type is still in the path).
      try {
        const t = JSON.parse(Buffer.from(query.continuation_token, 'base64url').toString('utf8')) as Token
        if (!t || typeof t.ts !== 'string' || typeof t.seq !== 'number' || !t.q) throw new Error('shape')
        return { q: t.q, token: t }
      } catch {
        throw new HttpProblem(400, 3, 'error:pkg/applicationserver/io/packages/storage:invalid_continuation_token')
      }
    }
    const q: Query = { order: '-received_at' }
    if (deviceId) q.deviceId = deviceId
    const time = (name: string): string | undefined => {
      const v = query[name]
      if (v === undefined || v === '') return undefined
      const c = canonicalTime(v)
      if (c === undefined) throw new HttpProblem(400, 3, `invalid ${name}: ${JSON.stringify(v)} is not an RFC 3339 timestamp`)
      return c
    }
    q.after = time('after')
    q.before = time('before')
    if (query.last) {
      if (q.after || q.before) throw new HttpProblem(400, 3, '`last` cannot be combined with `after` or `before`')
      const ms = goDurationMs(query.last)
      if (ms === undefined) throw new HttpProblem(400, 3, `invalid last: ${JSON.stringify(query.last)}`)
      q.after = canonicalTime(new Date(Date.now() - ms).toISOString())
    }
    if (query.limit !== undefined && query.limit !== '') {
      const n = Number(query.limit)
      if (!Number.isInteger(n) || n < 0) throw new HttpProblem(400, 3, `invalid limit: ${JSON.stringify(query.limit)}`)
      if (n > 0) q.limit = n
    }
    if (query.order !== undefined && query.order !== '') {
      if (query.order !== 'received_at' && query.order !== '-received_at') {
        throw new HttpProblem(400, 3, `invalid order: ${JSON.stringify(query.order)} (use received_at or -received_at)`)
      }
      q.order = query.order
    }
    if (query.f_port !== undefined && query.f_port !== '') {
      const n = Number(query.f_port)
      if (!Number.isInteger(n) || n < 0 || n > 255) throw new HttpProblem(400, 3, `invalid f_port: ${JSON.stringify(query.f_port)}`)
      q.fPort = n
    }
    return { q, token: undefined }
  }

  private select(app: AppStore, q: Query, token: Token | undefined): Entry[] {
    this.prune(app)
    const now = Date.now()
    const out = app.entries.filter((e) => {
      if (now - e.storedAt < this.writeDelayMs) return false
      if (q.deviceId !== undefined && e.deviceId !== q.deviceId) return false
      if (q.fPort !== undefined && e.fPort !== q.fPort) return false
      if (q.after !== undefined && (this.afterMode === 'exclusive' ? e.ts <= q.after : e.ts < q.after)) return false
      if (q.before !== undefined && e.ts >= q.before) return false
      return true
    })
    if (q.order === '-received_at') out.reverse()
    if (!token) return out
    // Continue after the position of the token in the same order.
    const afterPos = (e: Entry) => {
      const cmp = e.ts === token.ts ? e.seq - token.seq : e.ts > token.ts ? 1 : -1
      return q.order === 'received_at' ? cmp > 0 : cmp < 0
    }
    return out.filter(afterPos)
  }

  private async stream(
    res: ServerResponse,
    headers: Record<string, string>,
    page: Entry[],
    separator: string,
    fault: StorageFault | undefined,
    record: StorageRequest,
  ): Promise<void> {
    res.writeHead(200, headers)
    res.flushHeaders()
    const cut = fault?.type === 'in-band-error' || fault?.type === 'drop' || fault?.type === 'stall' ? fault.afterResults : Number.POSITIVE_INFINITY
    for (const e of page) {
      if (record.results >= cut) break
      await this.write(res, `${JSON.stringify({ result: e.message })}${separator}`)
      record.results++
    }
    if (fault?.type === 'stall') return // the socket stays open until the client gives up or stop()
    if (fault?.type === 'drop') {
      await new Promise((r) => setImmediate(r))
      res.socket?.destroy()
      return
    }
    if (fault?.type === 'in-band-error') {
      const error = { code: fault.code ?? 14, message: fault.message ?? 'error:pkg/applicationserver/io/packages/storage:database (database unavailable)', details: [] }
      await this.write(res, `${JSON.stringify({ error })}${separator}`)
    }
    res.end()
  }

  /** One flush per write, as the server flushes every message; optionally cut into fragments. */
  private async write(res: ServerResponse, text: string): Promise<void> {
    const bytes = Buffer.from(text)
    const step = this.fragmentBytes && this.fragmentBytes > 0 ? this.fragmentBytes : bytes.length
    for (let i = 0; i < bytes.length; i += step) {
      if (res.destroyed) return
      if (!res.write(bytes.subarray(i, i + step))) await new Promise((r) => res.once('drain', r))
      if (step < bytes.length) await new Promise((r) => setImmediate(r))
    }
  }

  private sendProblem(res: ServerResponse, p: HttpProblem, headers?: Record<string, string>): void {
    this.sendJson(res, p.status, { code: p.code, message: p.message, details: [] }, headers)
  }

  private sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers })
    res.end(text)
  }

  private prune(app: AppStore): void {
    const oldest = Date.now() - this.retentionMs
    let drop = 0
    while (drop < app.entries.length && timeToMs(app.entries[drop].ts) < oldest) drop++
    drop = Math.max(drop, app.entries.length - this.maxMessages)
    if (drop > 0) app.entries.splice(0, drop)
  }
}

/** A Go duration as the API accepts for `last` ("90m", "1h30m", "45s"), in ms. */
function goDurationMs(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g
  let total = 0
  let consumed = 0
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index !== consumed) return undefined
    consumed += m[0].length
    const n = Number(m[1])
    total += m[2] === 'h' ? n * 3600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n
  }
  return consumed === text.length && consumed > 0 ? total : undefined
}

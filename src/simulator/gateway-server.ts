// A stand-in for The Things Stack's Gateway Server connection statistics, on plain HTTP (node:http), for
// tests and the `npm start` demo. It answers as shared/reference/tts-api.md §5 describes the real one:
//   GET  /api/v3/gs/gateways/{id}/connection/stats    RIGHT_GATEWAY_STATUS_READ; 404 not_connected when offline
//   POST /api/v3/gs/gateways/connection/stats         {"gateway_ids":[{"gateway_id":…}],"field_mask":…}, 1–100 IDs,
//                                                     the right on all of them; {"entries":{id:{…}}} without the offline ones
//   GET  /api/v3/auth_info                            whose key it is
// An application key gets 403 no_gateway_rights (an application key has no gateway rights), an unknown key
// 401. Gateways connect, disconnect, send status messages (every statusEveryMs while connected) and
// uplinks; a frozen gateway stays "connected" with old timestamps (the server's view of a UDP gateway
// that went silent). Faults: the next n requests answer 429 with X-Rate-Limit-Retry.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { LoopbackServer } from './loopback-server'
import { errorCorrelationId, rfc3339Nano } from './messages'

export interface SimGatewayKey {
  key: string
  /** What the key belongs to: a gateway key reads only that gateway; a user or organization key the gateways listed. */
  kind: 'gateway' | 'user' | 'organization' | 'application'
  /** The ID of the gateway, user, organization or application it belongs to. */
  owner: string
  /** Gateways this key may read the status of (gateway keys: their own gateway; application keys: none). */
  gatewayIds?: string[]
}

export interface GatewayServerOptions {
  host?: string
  port?: number
  /** Gateway IDs; each starts connected unless listed in `offline`. */
  gateways: string[]
  offline?: string[]
  keys: SimGatewayKey[]
  /** How often a connected gateway sends a status message (default 30 s, as a Semtech packet forwarder; 0: never). */
  statusEveryMs?: number
}

interface SimGateway {
  id: string
  connectedAt: string | undefined
  disconnectedAt: string | undefined
  lastStatusAt: string | undefined
  lastUplinkAt: string | undefined
  uplinks: number
  frozen: boolean
}

export interface GatewayRequestRecord {
  method: string
  path: string
  status: number
  body?: unknown
}

class Problem extends Error {
  constructor(
    readonly status: number,
    readonly grpcCode: number,
    readonly namespace: string,
    readonly errorName: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

export class GatewayServerStandIn {
  /** Every request answered, in order (for tests). */
  readonly requests: GatewayRequestRecord[] = []
  private readonly gateways = new Map<string, SimGateway>()
  private readonly keys = new Map<string, SimGatewayKey>()
  private statusTimer: NodeJS.Timeout | undefined
  private rateLimited = 0
  private rateLimitRetryS = 1

  private readonly http: LoopbackServer

  private constructor(host: string | undefined) {
    this.http = new LoopbackServer((req, res) => this.handle(req, res), host)
  }

  get port(): number {
    return this.http.port
  }

  get host(): string {
    return this.http.host
  }

  static async start(opts: GatewayServerOptions): Promise<GatewayServerStandIn> {
    const standIn = new GatewayServerStandIn(opts.host)
    await standIn.http.listen(opts.port)
    for (const k of opts.keys) standIn.keys.set(k.key, k)
    const offline = new Set(opts.offline ?? [])
    for (const id of opts.gateways) {
      standIn.gateways.set(id, { id, connectedAt: undefined, disconnectedAt: undefined, lastStatusAt: undefined, lastUplinkAt: undefined, uplinks: 0, frozen: false })
      if (!offline.has(id)) standIn.connect(id)
    }
    const every = opts.statusEveryMs ?? 30_000
    if (every > 0) {
      standIn.statusTimer = setInterval(() => {
        for (const g of standIn.gateways.values()) if (g.connectedAt && !g.frozen) g.lastStatusAt = rfc3339Nano()
      }, every)
      standIn.statusTimer.unref()
    }
    return standIn
  }

  /** The API root, as a ttn-gateway node's server: http://127.0.0.1:<port>. */
  get url(): string {
    return `http://${this.host}:${this.port}`
  }

  /** The gateway connects (or reconnects): a new connection, a first status message at once. */
  connect(id: string): void {
    const g = this.gateway(id)
    g.connectedAt = rfc3339Nano()
    g.lastStatusAt = g.connectedAt
    g.lastUplinkAt = undefined
    g.uplinks = 0 // statistics are not kept between connections
    g.frozen = false
  }

  /** The gateway disconnects: the server answers 404 not_connected. */
  disconnect(id: string): void {
    const g = this.gateway(id)
    g.connectedAt = undefined
    g.disconnectedAt = rfc3339Nano()
    g.frozen = false
  }

  isConnected(id: string): boolean {
    return this.gateways.get(id)?.connectedAt !== undefined
  }

  /** The gateway goes silent but the server still lists it as connected: its timestamps age (stale statistics). */
  freeze(id: string): void {
    this.gateway(id).frozen = true
  }

  /** A status message arrived from the gateway. */
  status(id: string): void {
    const g = this.gateway(id)
    if (g.connectedAt && !g.frozen) g.lastStatusAt = rfc3339Nano()
  }

  /** The gateway forwarded an uplink. */
  uplink(id: string): void {
    const g = this.gateways.get(id)
    if (!g?.connectedAt || g.frozen) return
    g.lastUplinkAt = rfc3339Nano()
    g.uplinks++
  }

  /** The next `count` requests answer 429 rate_limit_exceeded, asking to wait `retryAfterS`. */
  rateLimitNext(count: number, retryAfterS = 1): void {
    this.rateLimited = count
    this.rateLimitRetryS = retryAfterS
  }

  async stop(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer)
    await this.http.stop()
  }

  private gateway(id: string): SimGateway {
    const g = this.gateways.get(id)
    if (!g) throw new Error(`GatewayServerStandIn: no gateway ${id}`)
    return g
  }

  private statsOf(g: SimGateway): Record<string, unknown> {
    const s: Record<string, unknown> = { connected_at: g.connectedAt, protocol: 'udp', gateway_remote_address: { ip: '127.0.0.1' } }
    if (g.lastStatusAt) {
      s.last_status_received_at = g.lastStatusAt
      s.last_status = { time: g.lastStatusAt, versions: { 'ttn-lw-gateway-server': '3.32.1' }, metrics: { rxin: g.uplinks, rxok: g.uplinks, txin: 0, txok: 0 } }
    }
    if (g.lastUplinkAt) {
      s.last_uplink_received_at = g.lastUplinkAt
      s.uplink_count = String(g.uplinks)
    }
    s.sub_bands = [{ min_frequency: '863000000', max_frequency: '865000000', downlink_utilization_limit: 0.001 }, { min_frequency: '868000000', max_frequency: '868600000', downlink_utilization_limit: 0.01 }]
    return s
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]
      const record: GatewayRequestRecord = { method: req.method ?? 'GET', path, status: 200 }
      this.requests.push(record)
      try {
        if (this.rateLimited > 0) {
          this.rateLimited--
          throw new Problem(429, 8, 'pkg/ratelimit', 'rate_limit_exceeded', 'rate limit exceeded', {
            'X-Rate-Limit-Limit': '10',
            'X-Rate-Limit-Available': '0',
            'X-Rate-Limit-Reset': String(this.rateLimitRetryS),
            'X-Rate-Limit-Retry': String(this.rateLimitRetryS),
          })
        }
        const key = this.authenticate(req)
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown
        if (text) {
          try {
            body = JSON.parse(text)
          } catch {
            throw new Problem(400, 3, 'pkg/jsonpb', 'unmarshal', 'invalid JSON body')
          }
        }
        record.body = body
        this.send(res, 200, this.route(req.method ?? 'GET', path, key, body))
      } catch (err) {
        const p = err instanceof Problem ? err : new Problem(500, 13, 'pkg/gatewayserver', 'internal', (err as Error).message)
        record.status = p.status
        this.send(
          res,
          p.status,
          {
            code: p.grpcCode,
            message: `error:${p.namespace}:${p.errorName} (${p.message})`,
            details: [{ '@type': 'type.googleapis.com/ttn.lorawan.v3.ErrorDetails', namespace: p.namespace, name: p.errorName, message_format: p.message, correlation_id: errorCorrelationId(), code: p.grpcCode }],
          },
          p.headers,
        )
      }
    })
  }

  private authenticate(req: IncomingMessage): SimGatewayKey {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')
    const key = m ? this.keys.get(m[1]) : undefined
    if (!key) throw new Problem(401, 16, 'pkg/identityserver', 'api_key_not_found', 'API key not found')
    return key
  }

  private requireRight(key: SimGatewayKey, id: string): void {
    const allowed = key.kind === 'application' ? [] : key.kind === 'gateway' ? [key.owner] : (key.gatewayIds ?? [])
    if (!allowed.includes(id)) throw new Problem(403, 7, 'pkg/auth/rights', 'no_gateway_rights', `no rights for gateway \`${id}\``)
  }

  private route(method: string, path: string, key: SimGatewayKey, body: unknown): unknown {
    if (method === 'GET' && path === '/api/v3/auth_info') {
      const ids = key.kind === 'application' ? { application_ids: { application_id: key.owner } } : key.kind === 'gateway' ? { gateway_ids: { gateway_id: key.owner } } : key.kind === 'user' ? { user_ids: { user_id: key.owner } } : { organization_ids: { organization_id: key.owner } }
      return { api_key: { api_key: { id: 'SIMKEY', rights: key.kind === 'application' ? ['RIGHT_APPLICATION_ALL'] : ['RIGHT_GATEWAY_STATUS_READ'] }, entity_ids: ids } }
    }
    const one = /^\/api\/v3\/gs\/gateways\/([^/]+)\/connection\/stats$/.exec(path)
    if (method === 'GET' && one) {
      const id = decodeURIComponent(one[1])
      this.requireRight(key, id)
      const g = this.gateways.get(id)
      if (!g?.connectedAt) throw new Problem(404, 5, 'pkg/gatewayserver', 'not_connected', `gateway \`${id}\` not connected`)
      return this.statsOf(g)
    }
    if (method === 'POST' && path === '/api/v3/gs/gateways/connection/stats') {
      const list = (body as { gateway_ids?: unknown })?.gateway_ids
      if (!Array.isArray(list) || list.length < 1 || list.length > 100) {
        throw new Problem(400, 3, 'pkg/ttnpb', 'validation', 'invalid field `gateway_ids`: between 1 and 100 gateway identifiers')
      }
      const ids = list.map((x) => (x as { gateway_id?: unknown })?.gateway_id)
      if (ids.some((id) => typeof id !== 'string')) throw new Problem(400, 3, 'pkg/ttnpb', 'validation', 'invalid field `gateway_ids.gateway_id`')
      for (const id of ids as string[]) this.requireRight(key, id)
      const entries: Record<string, unknown> = {}
      for (const id of ids as string[]) {
        const g = this.gateways.get(id)
        if (g?.connectedAt) entries[id] = this.statsOf(g)
      }
      return { entries }
    }
    throw new Problem(404, 5, 'pkg/web', 'not_found', `no route ${method} ${path}`)
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers })
    res.end(text)
  }
}

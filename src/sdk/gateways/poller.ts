/**
 * Polls The Things Stack's Gateway Server for the connection state of a few gateways and reports
 * changes: `online` and `offline` when a gateway's state changes (the first poll reports each one's
 * state, with `previous: 'unknown'`), `stats` for every gateway on every poll, and `problem` once per
 * distinct failure (refused key, missing right, rate limit, network), `resolved` when polls succeed
 * again. Failures slow the polling down (429: as long as the server asks, else doubling up to 8
 * intervals); nothing throws out of the poller.
 *
 * Routes (shared/reference/tts-api.md §5): one gateway, `GET /api/v3/gs/gateways/{id}/connection/stats`
 * (404 = not connected); several, `POST /api/v3/gs/gateways/connection/stats` in batches of at most 100
 * (gateways not connected are left out of the answer). A batch needs the right on every gateway, so a
 * 403 on a batch switches to one request per gateway, which names the gateway the key may not read.
 */
import { EventEmitter } from 'node:events'
import { normalizeApiUrl } from '../api/base-url'
import { ApiClient } from '../api/client'
import { ApiError, apiRequest, type HttpTarget, type HttpTlsOptions } from '../api/http'
import { DEFAULT_STALE_AFTER_MS, type GatewayConnectionStats, type GatewayState, judgeGateway, parseGatewayIds } from './stats'

export const DEFAULT_INTERVAL_MS = 60_000
export const MIN_INTERVAL_MS = 30_000
/** The batch route takes at most this many IDs. */
export const BATCH_LIMIT = 100
/** Failures stretch the interval by doubling, up to this factor. */
const MAX_BACKOFF_FACTOR = 8

const STATS_FIELDS = [
  'connected_at',
  'disconnected_at',
  'protocol',
  'last_status_received_at',
  'last_status',
  'last_uplink_received_at',
  'uplink_count',
  'last_downlink_received_at',
  'downlink_count',
  'last_tx_acknowledgment_received_at',
  'tx_acknowledgment_count',
  'round_trip_times',
  'sub_bands',
  'gateway_remote_address',
]

export interface GatewayPollerOptions {
  /** The cluster: a host (`eu1.cloud.thethings.network`, `host:port`) or the API root URL (https://, or http:// for local servers). */
  server: string
  /** A gateway, user or organization API key with "View gateway status" (RIGHT_GATEWAY_STATUS_READ). */
  apiKey: string
  /** One or more gateway IDs (an array, or text separated by commas or spaces). */
  gatewayIds: string[] | string
  /** Time between polls, ms (default 60 s, at least minIntervalMs). */
  intervalMs?: number
  /** The floor for intervalMs (default 30 s: be kind to a shared server). */
  minIntervalMs?: number
  /** Connected, but no status and no uplink for this long (server time): offline, stale (default 3 min). */
  staleAfterMs?: number
  tls?: HttpTlsOptions
  /** Per-request time-out, ms (default 15 s). */
  timeoutMs?: number
}

export interface GatewayReport extends GatewayState {
  gatewayId: string
  previous: 'online' | 'offline' | 'unknown'
  /** The server's statistics; undefined when the gateway is not connected. */
  stats?: GatewayConnectionStats
}

export interface GatewayProblem {
  kind: ApiError['kind'] | 'unknown'
  /** What went wrong and what to do, in words. */
  message: string
  status: number
  /** The gateway the failed request was about, when it was about one. */
  gatewayId?: string
  /** When the next poll is, ms from now. */
  retryInMs: number
}

export interface PollerStatus {
  state: 'starting' | 'ok' | 'error'
  online: number
  offline: number
  problem?: GatewayProblem
}

interface PollResult {
  stats: Map<string, GatewayConnectionStats | undefined>
  serverNow: number
  errors: { gatewayId?: string; error: unknown }[]
}

/** Events: 'online', 'offline', 'stats' (GatewayReport), 'problem' (GatewayProblem), 'resolved', 'status' (PollerStatus). */
export class GatewayPoller extends EventEmitter {
  readonly gatewayIds: readonly string[]
  readonly intervalMs: number
  readonly root: string
  private readonly target: HttpTarget
  private readonly staleAfterMs: number
  private readonly timeoutMs: number | undefined
  private readonly reports = new Map<string, GatewayReport>()
  private singles: boolean
  private timer: NodeJS.Timeout | undefined
  private inFlight: Promise<void> | undefined
  private abort: AbortController | undefined
  private failures = 0
  private problem: GatewayProblem | undefined
  private running = false
  private currentStatus: PollerStatus = { state: 'starting', online: 0, offline: 0 }

  /** Throws when the options are unusable (no key, bad gateway ID, bad server address). */
  constructor(options: GatewayPollerOptions) {
    super()
    if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') {
      throw new Error('The API key is missing: create a gateway API key (or a user or organization key) with the right "View gateway status" in the Console.')
    }
    this.gatewayIds = parseGatewayIds(options.gatewayIds)
    this.root = apiRoot(options.server)
    const floor = options.minIntervalMs ?? MIN_INTERVAL_MS
    const wanted = options.intervalMs ?? DEFAULT_INTERVAL_MS
    this.intervalMs = Number.isFinite(wanted) ? Math.max(floor, wanted) : DEFAULT_INTERVAL_MS
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS
    this.timeoutMs = options.timeoutMs
    this.target = { root: this.root, apiKey: options.apiKey.trim(), tls: options.tls }
    this.singles = this.gatewayIds.length === 1
  }

  /** Poll now, then every interval, until stop(). */
  start(): void {
    if (this.running) return
    this.running = true
    this.schedule(0)
  }

  stop(): void {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.abort?.abort(new Error('stopped'))
  }

  get status(): PollerStatus {
    return { ...this.currentStatus }
  }

  /** The latest report of each gateway polled so far. */
  get latest(): GatewayReport[] {
    return [...this.reports.values()]
  }

  /** Poll at once (a poll already running is joined, not doubled); the regular schedule continues from here. */
  pollNow(): Promise<void> {
    if (this.inFlight) return this.inFlight
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.inFlight = this.poll().finally(() => {
      this.inFlight = undefined
    })
    return this.inFlight
  }

  private schedule(ms: number): void {
    if (!this.running) return
    if (this.timer) clearTimeout(this.timer)
    // Node fires a longer timer at once: 2^31 - 1 ms (24.8 days) is the longest wait it takes.
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.pollNow()
    }, Math.min(ms, 2_147_483_647))
    this.timer.unref?.()
  }

  private async poll(): Promise<void> {
    this.abort = new AbortController()
    const signal = this.abort.signal
    let result: PollResult
    try {
      result = await this.fetchAll(signal)
    } catch (err) {
      result = { stats: new Map(), serverNow: Date.now(), errors: [{ error: err }] }
    }
    if (signal.aborted) return
    for (const [id, stats] of result.stats) this.apply(id, stats, result.serverNow)
    let next = this.intervalMs
    if (result.errors.length > 0) {
      this.failures++
      const { gatewayId, error } = result.errors[0]
      const retryAfterMs = error instanceof ApiError ? error.retryAfterMs : undefined
      next = Math.min(this.intervalMs * 2 ** (this.failures - 1), this.intervalMs * MAX_BACKOFF_FACTOR)
      if (retryAfterMs !== undefined) next = Math.max(next, retryAfterMs)
      const problem = await this.describe(error, gatewayId, next, signal)
      if (signal.aborted) return
      const repeated = this.problem && this.problem.kind === problem.kind && this.problem.gatewayId === problem.gatewayId && this.problem.status === problem.status
      this.problem = problem
      if (!repeated) this.emit('problem', problem)
    } else {
      this.failures = 0
      if (this.problem) {
        this.problem = undefined
        this.emit('resolved')
      }
    }
    this.setStatus()
    this.schedule(next)
  }

  private async fetchAll(signal: AbortSignal): Promise<PollResult> {
    const out: PollResult = { stats: new Map(), serverNow: Date.now(), errors: [] }
    if (!this.singles) {
      try {
        for (let i = 0; i < this.gatewayIds.length; i += BATCH_LIMIT) {
          const ids = this.gatewayIds.slice(i, i + BATCH_LIMIT)
          const res = await apiRequest<{ entries?: Record<string, GatewayConnectionStats> }>(this.target, {
            method: 'POST',
            path: '/api/v3/gs/gateways/connection/stats',
            body: { gateway_ids: ids.map((gateway_id) => ({ gateway_id })), field_mask: { paths: STATS_FIELDS } },
            signal,
            timeoutMs: this.timeoutMs,
          })
          out.serverNow = serverTime(res.headers.date)
          const entries = res.body.entries && typeof res.body.entries === 'object' ? res.body.entries : {}
          for (const id of ids) out.stats.set(id, entries[id] ?? undefined)
        }
        return out
      } catch (err) {
        // A key without the right on one of them fails the whole batch; a server without the batch
        // route answers 404/405/501. One request per gateway then says which gateway is the problem.
        if (!(err instanceof ApiError) || !['forbidden', 'not-found', 'bad-request'].includes(err.kind)) throw err
        if (err.kind === 'bad-request' && err.status !== 405 && err.status !== 501) throw err
        this.singles = true
        out.stats.clear()
      }
    }
    for (const id of this.gatewayIds) {
      try {
        const res = await apiRequest<GatewayConnectionStats>(this.target, { path: `/api/v3/gs/gateways/${encodeURIComponent(id)}/connection/stats`, signal, timeoutMs: this.timeoutMs })
        out.serverNow = serverTime(res.headers.date)
        out.stats.set(id, res.body)
      } catch (err) {
        if (signal.aborted) throw err
        if (err instanceof ApiError && err.kind === 'not-found') out.stats.set(id, undefined)
        else {
          out.errors.push({ gatewayId: id, error: err })
          // The same refusal for every gateway (a bad key, a rate limit, no network): no need to ask again.
          if (err instanceof ApiError && ['unauthorized', 'rate-limited', 'network', 'timeout', 'tls'].includes(err.kind)) break
        }
      }
    }
    return out
  }

  private apply(id: string, stats: GatewayConnectionStats | undefined, serverNow: number): void {
    const state = judgeGateway(stats, serverNow, this.staleAfterMs)
    const before = this.reports.get(id)
    const previous = before ? (before.online ? 'online' : 'offline') : 'unknown'
    const report: GatewayReport = { gatewayId: id, ...state, previous }
    if (stats) report.stats = stats
    this.reports.set(id, report)
    if (previous !== (state.online ? 'online' : 'offline')) this.emit(state.online ? 'online' : 'offline', report)
    this.emit('stats', report)
  }

  private setStatus(): void {
    let online = 0
    let offline = 0
    for (const r of this.reports.values()) r.online ? online++ : offline++
    this.currentStatus = { state: this.problem ? 'error' : 'ok', online, offline }
    if (this.problem) this.currentStatus.problem = this.problem
    this.emit('status', this.status)
  }

  /** A failure in words that fit gateways (the key kinds, the right to add), and when the next poll is. */
  private async describe(error: unknown, gatewayId: string | undefined, retryInMs: number, signal: AbortSignal): Promise<GatewayProblem> {
    const next = ` Next poll in ${Math.round(retryInMs / 1000)} s.`
    if (!(error instanceof ApiError)) return { kind: 'unknown', status: 0, gatewayId, retryInMs, message: `Polling the Gateway Server failed: ${(error as Error)?.message ?? error}.${next}` }
    const base = { kind: error.kind, status: error.status, gatewayId, retryInMs }
    const gw = gatewayId ? ` gateway "${gatewayId}"` : ' these gateways'
    switch (error.kind) {
      case 'forbidden': {
        const whose = await this.keyOwner(signal)
        const app = whose?.startsWith('application ')
          ? ` This is an API key of ${whose}: application keys never carry gateway rights.`
          : whose
            ? ` (The key belongs to ${whose}.)`
            : ' An application API key never has it.'
        return {
          ...base,
          message:
            `The API key may not read the status of${gw} (HTTP 403${error.code ? `, ${error.code}` : ''}): it needs the right "View gateway status" (RIGHT_GATEWAY_STATUS_READ) on the gateway.${app}` +
            ` Use a gateway API key (Console → Gateways → the gateway → API keys), or a user or organization key with that right.${next}`,
        }
      }
      case 'unauthorized':
        return { ...base, message: `${error.message.replace(/NNSXS\.[A-Z0-9.]+/g, 'NNSXS.…')}${next}` }
      case 'rate-limited':
        return { ...base, message: `The Things Stack rate limit was reached (HTTP 429): polling pauses for ${Math.ceil(retryInMs / 1000)} s, then continues.` }
      default:
        return { ...base, message: `${error.message}${next}` }
    }
  }

  private owner: Promise<string | undefined> | undefined

  /** Whose key this is (from auth_info, asked once), for the 403 message; undefined when that cannot be found out. */
  private keyOwner(signal: AbortSignal): Promise<string | undefined> {
    this.owner ??= this.askOwner(signal)
    return this.owner
  }

  private async askOwner(signal: AbortSignal): Promise<string | undefined> {
    try {
      const info = await new ApiClient({ apiKey: this.target.apiKey, apiUrl: this.root, tls: this.target.tls, timeoutMs: 5000 }).authInfo(signal)
      const ids = info.api_key?.entity_ids
      if (ids?.application_ids) return `application "${ids.application_ids.application_id}"`
      if (ids?.user_ids) return `user "${ids.user_ids.user_id}"`
      if (ids?.organization_ids) return `organization "${ids.organization_ids.organization_id}"`
      const gw = (ids as { gateway_ids?: { gateway_id?: string } } | undefined)?.gateway_ids
      if (gw?.gateway_id) return `gateway "${gw.gateway_id}"`
    } catch {
      // auth_info is only for a better message.
    }
    return undefined
  }
}

/** The API root for a server given as a host, host:port or URL. */
export function apiRoot(server: string): string {
  const s = String(server ?? '').trim()
  if (s === '') throw new Error('The server is missing: give the cluster of the gateways (eu1.cloud.thethings.network), or choose an application node to take it from.')
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    if (/^mqtts?:/i.test(s)) return normalizeApiUrl(`https://${new URL(s).hostname}`)
    return normalizeApiUrl(s)
  }
  return normalizeApiUrl(`https://${s}`)
}

function serverTime(date: string | undefined): number {
  const t = date ? Date.parse(date) : Number.NaN
  return Number.isFinite(t) ? t : Date.now()
}

/**
 * Reading stored uplinks from The Things Stack's Storage Integration over HTTP(S), with Node's built-in
 * fetch: `GET /api/v3/as/applications/{app}/packages/storage/uplink_message?after=…&order=received_at`.
 *
 * - The body is a stream of `{"result": …}` objects, parsed while it arrives (stream-parser.ts); an
 *   `{"error": …}` object may arrive after streaming began.
 * - Pages: when the server sends `X-Continuation-Token`, the next request carries it; otherwise (the
 *   open-source gateway drops that header, and page-size caps are undocumented) the client pages itself
 *   by moving `after` to just before the last received_at it got, and stops when a page brings nothing
 *   newer. A silent cap below `limit` therefore loses nothing.
 * - 401/403/404/400 are permanent for this read; 429 waits as the server says (Retry-After, then the
 *   X-Rate-Limit-* headers); network errors, time-outs and 5xx are retried with capped back-off, from
 *   where the failed response stopped, until the caller aborts.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Backoff, type BackoffOptions } from '../backoff'
import { normalizeBaseUrl } from './base-url'
import { JsonObjectStream, StreamFormatError, streamItem } from './stream-parser'
import { canonicalTime, oneNanosecondBefore } from './timestamp'

export type StorageErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'bad-request'
  | 'rate-limited'
  | 'network'
  | 'server'
  | 'protocol'

const PERMANENT: ReadonlySet<StorageErrorKind> = new Set(['unauthorized', 'forbidden', 'not-found', 'bad-request'])

export class StorageError extends Error {
  readonly kind: StorageErrorKind
  readonly status: number | undefined
  /** For 'rate-limited': how long the server asked us to wait, ms. */
  readonly retryAfterMs: number | undefined
  constructor(kind: StorageErrorKind, message: string, status?: number, retryAfterMs?: number) {
    super(message)
    this.name = 'StorageError'
    this.kind = kind
    this.status = status
    this.retryAfterMs = retryAfterMs
  }
  /** Retrying cannot help: the key, the rights, the integration or the request must change. */
  get permanent(): boolean {
    return PERMANENT.has(this.kind)
  }
}

export interface StorageClientOptions {
  /** Server root, e.g. https://eu1.cloud.thethings.network (a trailing /api/v3 is accepted). */
  baseUrl: string
  appId: string
  apiKey: string
  /** `limit` per request (default 500). The server may cap it lower; paging copes. */
  pageSize?: number
  /** A response that sends no byte for this long is abandoned and retried, ms (default 30000). */
  fetchTimeoutMs?: number
  /** Back-off between retries after network errors and 5xx (default 1 s doubling to 60 s). */
  retry?: BackoffOptions
  /** Longest single wait a 429 can impose, ms (default 300000). */
  maxRateLimitWaitMs?: number
}

export interface StoredUplink {
  message: Record<string, unknown>
  /** Canonical received_at. */
  receivedAt: string
}

export interface ReadOptions {
  /** Canonical received_at: read uplinks received after it. */
  after: string
  signal: AbortSignal
  /** Called for every stored uplink, in the server's order (received_at, oldest first). */
  onItem(item: StoredUplink): void
  /** A result that is not a usable uplink (no received_at): skipped. */
  onSkip?(reason: string): void
  /** A request failed and will be retried after delayMs. */
  onRetry?(error: StorageError, delayMs: number, attempt: number): void
}

export interface ReadSummary {
  /** Stored results received (duplicates across pages included). */
  items: number
  requests: number
  /** Newest received_at seen. */
  last: string | undefined
}

interface PageResult {
  count: number
  last: string | undefined
  token: string | undefined
  /** Wait before the next request (the server said the rate limit is used up), ms. */
  throttleMs: number
}

export class StorageClient {
  /** The endpoint, without query. */
  readonly endpoint: string
  private readonly apiKey: string
  private readonly pageSize: number
  private readonly fetchTimeoutMs: number
  private readonly retry: BackoffOptions
  private readonly maxRateLimitWaitMs: number

  constructor(options: StorageClientOptions) {
    const root = normalizeBaseUrl(options.baseUrl)
    this.endpoint = `${root}/api/v3/as/applications/${encodeURIComponent(options.appId)}/packages/storage/uplink_message`
    this.apiKey = options.apiKey
    this.pageSize = positiveInt(options.pageSize, 500, 'pageSize')
    this.fetchTimeoutMs = positiveInt(options.fetchTimeoutMs, 30_000, 'fetchTimeoutMs')
    this.retry = { minDelayMs: 1000, maxDelayMs: 60_000, ...options.retry }
    this.maxRateLimitWaitMs = positiveInt(options.maxRateLimitWaitMs, 300_000, 'maxRateLimitWaitMs')
  }

  /** Read every stored uplink after `after`, page by page, until the end of storage or a permanent error. */
  async read(options: ReadOptions): Promise<ReadSummary> {
    const { signal } = options
    const backoff = new Backoff(this.retry)
    const summary: ReadSummary = { items: 0, requests: 0, last: undefined }
    let query: Record<string, string> = this.afterQuery(options.after)
    /** Newest received_at of the previous page: a page that brings nothing newer is the end. */
    let previousLast: string | undefined
    let sawToken = false
    let triedExact = false
    let failures = 0
    let throttleMs = 0
    const onItem = (item: StoredUplink) => {
      summary.items++
      if (summary.last === undefined || item.receivedAt > summary.last) summary.last = item.receivedAt
      options.onItem(item)
    }
    for (;;) {
      if (throttleMs > 0) await sleep(throttleMs, undefined, { signal })
      signal.throwIfAborted()
      summary.requests++
      let page: PageResult
      try {
        page = await this.page(query, signal, onItem, options.onSkip)
      } catch (err) {
        if (signal.aborted) throw err
        const e = asStorageError(err)
        if (e.permanent) throw e
        failures++
        const delayMs =
          e.kind === 'rate-limited' && e.retryAfterMs !== undefined ? Math.min(e.retryAfterMs, this.maxRateLimitWaitMs) : backoff.next()
        options.onRetry?.(e, delayMs, failures)
        // Continue from the last uplink received rather than repeat what already arrived.
        if (summary.last !== undefined) query = this.afterQuery(oneNanosecondBefore(summary.last))
        throttleMs = 0
        await sleep(delayMs, undefined, { signal })
        continue
      }
      backoff.reset()
      failures = 0
      throttleMs = page.throttleMs
      if (page.token) {
        sawToken = true
        if (page.count === 0) return summary
        previousLast = page.last ?? previousLast
        query = { continuation_token: page.token }
        continue
      }
      // A server that pages with tokens omits the header on the last page.
      if (sawToken || page.count === 0) return summary
      const advanced = page.last !== undefined && (previousLast === undefined || page.last > previousLast)
      if (!advanced) {
        // A full page of uplinks that all share one received_at: step over them once, then stop.
        if (page.count >= this.pageSize && previousLast !== undefined && !triedExact) {
          triedExact = true
          query = this.afterQuery(previousLast)
          continue
        }
        return summary
      }
      triedExact = false
      previousLast = page.last
      query = this.afterQuery(oneNanosecondBefore(page.last as string))
    }
  }

  private afterQuery(after: string): Record<string, string> {
    return { after, order: 'received_at', limit: String(this.pageSize) }
  }

  /** One request: streams its results to onItem; throws StorageError on any failure. */
  private async page(
    query: Record<string, string>,
    outer: AbortSignal,
    onItem: (item: StoredUplink) => void,
    onSkip: ((reason: string) => void) | undefined,
  ): Promise<PageResult> {
    const url = new URL(this.endpoint)
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
    const ac = new AbortController()
    const abort = () => ac.abort()
    outer.addEventListener('abort', abort, { once: true })
    let timedOut = false
    let timer: NodeJS.Timeout | undefined
    const arm = () => {
      clearTimeout(timer)
      timer = setTimeout(() => {
        timedOut = true
        ac.abort()
      }, this.fetchTimeoutMs)
    }
    const where = `${url.origin}${url.pathname}`
    const failure = (err: unknown): Error => {
      if (outer.aborted) return err instanceof Error ? err : new Error(String(err))
      if (err instanceof StorageError) return err
      if (timedOut) return new StorageError('network', `${where} sent nothing for ${this.fetchTimeoutMs / 1000} s.`)
      if (err instanceof StreamFormatError) return new StorageError('protocol', `${where} sent an unexpected response: ${err.message}.`)
      const cause = (err as { cause?: { code?: string; message?: string } }).cause
      const detail = cause?.code ?? cause?.message ?? (err as Error).message
      return new StorageError('network', `${where} cannot be reached (${detail}).`)
    }
    arm()
    try {
      const res = await fetch(url, {
        headers: { Authorization: `Bearer ${this.apiKey}`, Accept: 'text/event-stream' },
        signal: ac.signal,
      })
      if (!res.ok) throw await httpError(res, where)
      const result: PageResult = {
        count: 0,
        last: undefined,
        token: res.headers.get('x-continuation-token') || undefined,
        throttleMs: rateLimitThrottle(res.headers),
      }
      if (!res.body) return result
      const parser = new JsonObjectStream()
      const decoder = new TextDecoder('utf-8')
      const reader = res.body.getReader()
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          arm()
          for (const obj of parser.push(decoder.decode(value, { stream: true }))) {
            const item = streamItem(obj)
            if ('error' in item) throw inBandError(item.error, where)
            result.count++
            const receivedAt = canonicalTime(item.result.received_at)
            if (receivedAt === undefined) {
              onSkip?.(`a stored message without a valid received_at (${JSON.stringify(item.result.received_at)})`)
              continue
            }
            if (result.last === undefined || receivedAt > result.last) result.last = receivedAt
            onItem({ message: item.result, receivedAt })
          }
        }
        parser.push(decoder.decode())
        parser.end()
      } finally {
        reader.cancel().catch(() => undefined)
      }
      return result
    } catch (err) {
      throw failure(err)
    } finally {
      clearTimeout(timer)
      outer.removeEventListener('abort', abort)
    }
  }
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value < 1) throw new Error(`recover.${name} must be a number of at least 1, got ${value}.`)
  return Math.floor(value)
}

function asStorageError(err: unknown): StorageError {
  return err instanceof StorageError ? err : new StorageError('network', (err as Error)?.message ?? String(err))
}

/** gRPC codes the server puts in error bodies and in-band errors. */
function kindOfCode(code: number | undefined): StorageErrorKind {
  switch (code) {
    case 16:
      return 'unauthorized'
    case 7:
      return 'forbidden'
    case 5:
      return 'not-found'
    case 3:
    case 9:
    case 11:
      return 'bad-request'
    case 8:
      return 'rate-limited'
    default:
      return 'server'
  }
}

function explain(kind: StorageErrorKind, where: string, status: number | string, serverMessage: string): string {
  const said = serverMessage ? ` The server said: ${serverMessage}` : ''
  switch (kind) {
    case 'unauthorized':
      return `The Storage Integration refused the API key (${status}): check the key.${said}`
    case 'forbidden':
      return `The API key may not read stored uplinks (${status}): give it the right "Read application traffic" (RIGHT_APPLICATION_TRAFFIC_READ).${said}`
    case 'not-found':
      return (
        `No Storage Integration at ${where} (${status}): enable it for the application in the Console ` +
        `(Applications → your application → Integrations → Storage Integration), and check the Storage API address.${said}`
      )
    case 'bad-request':
      return `The Storage Integration rejected the request (${status}).${said}`
    case 'rate-limited':
      return `The Storage Integration rate limit was reached (${status}).${said}`
    default:
      return `The Storage Integration failed (${status}).${said}`
  }
}

async function httpError(res: Response, where: string): Promise<StorageError> {
  let serverMessage = ''
  try {
    const text = (await res.text()).slice(0, 4096)
    try {
      const body = JSON.parse(text) as { message?: unknown }
      serverMessage = typeof body.message === 'string' ? body.message : text.trim()
    } catch {
      serverMessage = text.trim().slice(0, 200)
    }
  } catch {
    // The body is only for the message.
  }
  const status = res.status
  let kind: StorageErrorKind
  if (status === 401) kind = 'unauthorized'
  else if (status === 403) kind = 'forbidden'
  else if (status === 404) kind = 'not-found'
  else if (status === 429) kind = 'rate-limited'
  else if (status === 400) kind = 'bad-request'
  else kind = 'server'
  const retryAfterMs = status === 429 ? retryAfter(res.headers) : undefined
  return new StorageError(kind, explain(kind, where, `HTTP ${status}`, serverMessage), status, retryAfterMs)
}

function inBandError(error: { code?: number; message?: string }, where: string): StorageError {
  const kind = kindOfCode(typeof error.code === 'number' ? error.code : undefined)
  const message = typeof error.message === 'string' ? error.message : JSON.stringify(error).slice(0, 200)
  return new StorageError(kind, explain(kind, where, `error code ${error.code} in the stream`, message))
}

/** The wait a 429 asks for, ms: Retry-After (seconds or a date), else X-Rate-Limit-Retry, else -Reset. */
export function retryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const ra = headers.get('retry-after')
  if (ra) {
    const s = Number(ra)
    if (Number.isFinite(s) && s >= 0) return Math.ceil(s * 1000)
    const date = Date.parse(ra)
    if (Number.isFinite(date)) return Math.max(0, date - now)
  }
  for (const name of ['x-rate-limit-retry', 'x-rate-limit-reset']) {
    const s = Number(headers.get(name) ?? '')
    if (headers.get(name) && Number.isFinite(s) && s >= 0) return Math.ceil(s * 1000)
  }
  return undefined
}

/** After a successful response that used up the allowance (X-Rate-Limit-Available: 0), wait for the reset. */
function rateLimitThrottle(headers: Headers): number {
  if (headers.get('x-rate-limit-available') !== '0') return 0
  const s = Number(headers.get('x-rate-limit-reset') ?? '')
  return Number.isFinite(s) && s > 0 ? Math.min(Math.ceil(s * 1000), 60_000) : 0
}

export { normalizeBaseUrl }

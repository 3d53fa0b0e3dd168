/**
 * One typed request to The Things Stack's HTTP API (`/api/v3/...`), with errors that say what to do.
 *
 * Why node:http / node:https and not the global fetch: Node's fetch (undici) takes a custom CA or
 * `rejectUnauthorized: false` only through an undici `Agent` passed as `dispatcher`, and undici is not a
 * dependency of this package (nor importable from Node itself). Private deployments need exactly those
 * settings, shared with the MQTT connection, so every request goes through node:https with the same TLS
 * options as the MQTT client (CA, client certificate, verification, SNI name); plain http:// is for local
 * test servers. One code path for both, so what the tests exercise is what users run.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { request as httpsRequest, type RequestOptions as HttpsRequestOptions } from 'node:https'
import { retryAfter } from '../recovery/storage-client'
import { rightLabel } from './rights'

/** TLS settings for HTTPS requests: the MQTT client's TlsOptions minus `enabled` (the URL scheme decides). */
export interface HttpTlsOptions {
  ca?: string | Buffer | Array<string | Buffer>
  cert?: string | Buffer
  key?: string | Buffer
  passphrase?: string
  /** Certificate verification; on unless explicitly false. */
  rejectUnauthorized?: boolean
  servername?: string
}

export type ApiErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'rate-limited'
  | 'bad-request'
  | 'server'
  | 'network'
  | 'tls'
  | 'timeout'
  | 'protocol'

export class ApiError extends Error {
  readonly kind: ApiErrorKind
  /** HTTP status; 0 when no response came (network, TLS, timeout). */
  readonly status: number
  /** The server's error name (`api_key_expired`, `insufficient_application_rights`, ...) or the socket error code. */
  readonly code: string | undefined
  /** From a 403: the first right the key lacks, as the server names it (RIGHT_APPLICATION_...). */
  readonly missingRight: string | undefined
  /** From a 429: how long the server asked us to wait, ms. */
  readonly retryAfterMs: number | undefined
  /** The server's own message, for logs. */
  readonly serverMessage: string | undefined
  constructor(
    kind: ApiErrorKind,
    message: string,
    extra: { status?: number; code?: string; missingRight?: string; retryAfterMs?: number; serverMessage?: string } = {},
  ) {
    super(message)
    this.name = 'ApiError'
    this.kind = kind
    this.status = extra.status ?? 0
    this.code = extra.code
    this.missingRight = extra.missingRight
    this.retryAfterMs = extra.retryAfterMs
    this.serverMessage = extra.serverMessage
  }
}

export interface ApiRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** Path under the root, starting with /api/v3/. */
  path: string
  query?: Record<string, string | number | undefined>
  body?: unknown
  /** What a 404 means for this route, in words ("no device x in application y"). */
  notFound?: string
  signal?: AbortSignal
  /** Abandon the request after this long without a complete answer, ms (default 15000). */
  timeoutMs?: number
}

export interface ApiResponse<T> {
  status: number
  headers: IncomingHttpHeaders
  body: T
}

export interface HttpTarget {
  /** Server root: https://host[:port][/prefix] with no trailing slash and no /api/v3. */
  root: string
  apiKey: string
  tls?: HttpTlsOptions
}

const MAX_BODY_BYTES = 8 * 1024 * 1024

/** Send one request and parse the JSON answer; throws ApiError for every failure. */
export function apiRequest<T>(target: HttpTarget, req: ApiRequest): Promise<ApiResponse<T>> {
  const url = new URL(`${target.root}${req.path}`)
  for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v))
  const where = `${url.origin}${url.pathname}`
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body))
  const headers: Record<string, string | number> = { Authorization: `Bearer ${target.apiKey}`, Accept: 'application/json' }
  if (payload) {
    headers['Content-Type'] = 'application/json'
    headers['Content-Length'] = payload.length
  }
  const options: HttpsRequestOptions = { method: req.method ?? 'GET', headers }
  const secure = url.protocol === 'https:'
  if (secure) {
    const tls = target.tls ?? {}
    options.rejectUnauthorized = tls.rejectUnauthorized !== false
    if (tls.ca) options.ca = tls.ca
    if (tls.cert) options.cert = tls.cert
    if (tls.key) options.key = tls.key
    if (tls.passphrase) options.passphrase = tls.passphrase
    if (tls.servername) options.servername = tls.servername
  }
  const timeoutMs = req.timeoutMs ?? 15_000
  return new Promise<ApiResponse<T>>((resolve, reject) => {
    let settled = false
    const finish = (err: Error | undefined, value?: ApiResponse<T>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.signal?.removeEventListener('abort', onAbort)
      if (err) reject(err)
      else resolve(value as ApiResponse<T>)
    }
    const send = secure ? httpsRequest : httpRequest
    const r = send(url, options, (res) => {
      readBody(res).then(
        (text) => {
          try {
            finish(undefined, answer<T>(res, text, where, req.notFound))
          } catch (err) {
            finish(err as Error)
          }
        },
        (err: Error) => finish(networkError(err, where)),
      )
    })
    const timer = setTimeout(() => {
      finish(new ApiError('timeout', `${where} did not answer within ${timeoutMs / 1000} s: check the API address and the network.`, { code: 'ETIMEDOUT' }))
      r.destroy()
    }, timeoutMs)
    const onAbort = () => {
      finish(req.signal?.reason instanceof Error ? req.signal.reason : new Error('aborted'))
      r.destroy()
    }
    if (req.signal?.aborted) {
      onAbort()
      return
    }
    req.signal?.addEventListener('abort', onAbort, { once: true })
    r.on('error', (err) => finish(networkError(err, where)))
    r.end(payload)
  })
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY_BYTES) {
        res.destroy(new Error(`the answer is larger than ${MAX_BODY_BYTES} bytes`))
        return
      }
      chunks.push(c)
    })
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    res.on('error', reject)
    res.on('aborted', () => reject(new Error('the connection closed before the answer was complete')))
  })
}

function answer<T>(res: IncomingMessage, text: string, where: string, notFound: string | undefined): ApiResponse<T> {
  const status = res.statusCode ?? 0
  let body: unknown
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text)
    } catch {
      if (status >= 200 && status < 300) {
        throw new ApiError('protocol', `${where} answered with something that is not JSON: is the API address right (it must be the server's root, e.g. https://eu1.cloud.thethings.network)?`, { status })
      }
    }
  }
  if (status >= 200 && status < 300) return { status, headers: res.headers, body: (body ?? {}) as T }
  throw httpError(status, res.headers, body, text, where, notFound)
}

interface ErrorBody {
  code?: number
  message?: string
  details?: Array<{ name?: string; namespace?: string; attributes?: Record<string, unknown> }>
}

/** The error name: details[0].name, else the "error:pkg/...:name (…)" prefix of the message. */
function errorName(body: ErrorBody | undefined): string | undefined {
  const d = body?.details?.find((x) => typeof x?.name === 'string')
  if (d?.name) return d.name
  const m = typeof body?.message === 'string' ? /^error:[^:\s]+:([a-z0-9_]+)/.exec(body.message) : null
  return m?.[1]
}

function missingRightOf(body: ErrorBody | undefined): string | undefined {
  for (const d of body?.details ?? []) {
    const missing = d?.attributes?.missing
    if (Array.isArray(missing) && typeof missing[0] === 'string') return missing[0]
    if (typeof missing === 'string' && missing) return missing.split(/[\s,]+/)[0]
  }
  return undefined
}

function httpError(status: number, headers: IncomingHttpHeaders, raw: unknown, text: string, where: string, notFound: string | undefined): ApiError {
  const body = raw && typeof raw === 'object' ? (raw as ErrorBody) : undefined
  const code = errorName(body)
  const serverMessage = typeof body?.message === 'string' ? body.message : text.trim().slice(0, 200) || undefined
  const said = serverMessage ? ` (the server said: ${serverMessage})` : ''
  const extra = { status, code, serverMessage }
  switch (status) {
    case 401: {
      const why =
        code === 'api_key_expired'
          ? 'the API key has expired'
          : code === 'api_key_not_found'
            ? 'no such API key (deleted, or from another server)'
            : code === 'invalid_authorization' || code === 'token_mismatch'
              ? 'the API key is not valid (mistyped or truncated)'
              : 'the API key is invalid or expired'
      return new ApiError('unauthorized', `The Things Stack refused the API key (HTTP 401): ${why}. Create a new key in the Console (API keys → Add API key) and paste it whole, starting with NNSXS.${said}`, extra)
    }
    case 403: {
      const missingRight = missingRightOf(body)
      const what = missingRight
        ? `the API key lacks the right "${rightLabel(missingRight)}" (${missingRight}): add it to the key in the Console (API keys → the key → Rights), or use a key that has it`
        : 'the API key has no rights on this application: use a key of this application, and check the application ID and tenant'
      return new ApiError('forbidden', `The Things Stack denied ${where} (HTTP 403): ${what}.${said}`, { ...extra, missingRight })
    }
    case 404:
      return new ApiError('not-found', `${notFound ?? `Nothing at ${where}`} (HTTP 404): check the ID, and that the API address is the cluster that serves it.${said}`, extra)
    case 409:
      return new ApiError('conflict', `The Things Stack refused the change (HTTP 409: ${code ?? 'conflict'}): it conflicts with what is already there (an ID or EUI in use, or a change made meanwhile); read it again and retry.${said}`, extra)
    case 429: {
      const retryAfterMs = retryAfter(toHeaders(headers))
      const wait = retryAfterMs !== undefined ? ` it asks to wait ${Math.ceil(retryAfterMs / 1000)} s before the next request` : ' wait before retrying'
      return new ApiError('rate-limited', `The Things Stack rate limit was reached (HTTP 429):${wait}.${said}`, { ...extra, retryAfterMs })
    }
    default:
      if (status >= 400 && status < 500) return new ApiError('bad-request', `The Things Stack rejected the request to ${where} (HTTP ${status}).${said}`, extra)
      return new ApiError('server', `The Things Stack failed to answer ${where} (HTTP ${status}); retry later.${said}`, extra)
  }
}

function toHeaders(h: IncomingHttpHeaders): Headers {
  const out = new Headers()
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v)
  return out
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|SSL|TLS|EPROTO/

function networkError(err: Error, where: string): ApiError {
  const code = (err as { code?: string }).code
  const host = new URL(where).host
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ApiError('network', `The name ${new URL(where).hostname} does not resolve (${code}): check the server / API address for typos, and the DNS of this machine.`, { code })
  }
  if (code === 'ECONNREFUSED') return new ApiError('network', `${host} refused the connection (ECONNREFUSED): nothing listens there; check the port of the API address.`, { code })
  if (code && TLS_CODES.test(code)) {
    return new ApiError('tls', `TLS with ${host} failed (${code}: ${err.message}): check the CA for private deployments, that the host name matches the certificate, and that the address uses https:// only where the server speaks TLS.`, { code })
  }
  return new ApiError('network', `${where} cannot be reached (${code ?? err.message}): check the API address and the network.`, { code })
}

/**
 * ApiClient: the few routes of The Things Stack's HTTP API this package uses (shared/reference/tts-api.md),
 * typed, with the key, host rule (base-url.ts) and TLS settings of the MQTT connection, and ApiError for
 * every failure (http.ts). Identity Server routes go to `base.identity`, Application Server routes to
 * `base.app` (they differ only on The Things Network, whose Identity Server is eu1).
 */
import { type ApiBase, resolveApiBase } from './base-url'
import { ApiError, type ApiRequest, type HttpTlsOptions, apiRequest } from './http'
import type { AuthInfo, DownlinkItem, EndDevice, QueuedDownlink } from './types'

export interface ApiClientOptions {
  /** The bare application ID (no @tenant): the default for the methods that take one. */
  appId?: string
  apiKey: string
  /** The MQTT host: the API root is https://<host> unless apiUrl is given. */
  host?: string
  /** Explicit API root (https://..., or http:// for local servers). */
  apiUrl?: string
  tls?: HttpTlsOptions
  /** Per-request time-out, ms (default 15000). */
  timeoutMs?: number
}

export interface ListDevicesOptions {
  /** Fields to return besides the IDs, e.g. ['name', 'last_seen_at']. */
  fieldMask?: string[]
  /** Devices per page, 1..1000 (the server's default is 100). */
  limit?: number
  /** 1-based page. */
  page?: number
  /** Server-side search in device ID, EUIs and name (the search route); empty lists all. */
  search?: string
  /** `device_id`, `name`, `last_seen_at`, ... with `-` for descending. */
  order?: string
  signal?: AbortSignal
}

export interface DeviceList {
  devices: EndDevice[]
  /** All matching devices on every page (X-Total-Count); the page's length when the server does not say. */
  total: number
}

export interface StorageStatus {
  enabled: boolean
  /** Why not, in words, when it is not enabled or cannot be told. */
  message?: string
}

export class ApiClient {
  readonly base: ApiBase
  readonly appId: string | undefined
  private readonly apiKey: string
  private readonly tls: HttpTlsOptions | undefined
  private readonly timeoutMs: number | undefined

  constructor(options: ApiClientOptions) {
    if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') {
      throw new Error('The API key is missing: create one in the Console under API keys.')
    }
    if (!options.host && !options.apiUrl?.trim()) throw new Error('ApiClient needs the server host or an API address (apiUrl).')
    this.base = resolveApiBase(options.host ?? '', options.apiUrl)
    this.appId = options.appId
    this.apiKey = options.apiKey.trim()
    this.tls = options.tls
    this.timeoutMs = options.timeoutMs
  }

  /** Whose key this is, its rights and expiry (`GET /api/v3/auth_info`; needs no right). */
  async authInfo(signal?: AbortSignal): Promise<AuthInfo> {
    return (await this.identity<AuthInfo>({ path: '/api/v3/auth_info', signal })).body
  }

  /**
   * The key's rights on an application (`GET /api/v3/applications/{app}/rights`). Empty when the key has
   * none there, which is also the answer for an application that does not exist (the server does not tell).
   */
  async applicationRights(appId: string = this.requireApp(), signal?: AbortSignal): Promise<string[]> {
    const res = await this.identity<{ rights?: string[] }>({ path: `/api/v3/applications/${seg(appId)}/rights`, signal })
    return Array.isArray(res.body.rights) ? res.body.rights : []
  }

  /** One page of the application's devices; with `search`, only those whose ID, EUI or name contains it. */
  async listDevices(appId: string = this.requireApp(), options: ListDevicesOptions = {}): Promise<DeviceList> {
    const search = options.search?.trim()
    const limit = options.limit === undefined ? undefined : clamp(options.limit, 1, 1000, 'limit')
    const page = options.page === undefined ? undefined : clamp(options.page, 1, Number.MAX_SAFE_INTEGER, 'page')
    const path = search ? `/api/v3/search/applications/${seg(appId)}/devices` : `/api/v3/applications/${seg(appId)}/devices`
    const res = await this.identity<{ end_devices?: EndDevice[] }>({
      path,
      query: { field_mask: options.fieldMask?.join(','), limit, page, order: options.order, query: search },
      notFound: `No application ${appId} on ${hostOf(this.base.identity)}`,
      signal: options.signal,
    })
    const devices = Array.isArray(res.body.end_devices) ? res.body.end_devices : []
    const header = Number(res.headers['x-total-count'])
    const total = Number.isFinite(header) && header >= 0 ? header : devices.length
    return { devices, total }
  }

  /** One device from the registry with the fields asked for (`GET /api/v3/applications/{app}/devices/{dev}`). */
  async getDevice(appId: string, deviceId: string, fieldMask: string[] = [], signal?: AbortSignal): Promise<EndDevice> {
    const res = await this.identity<EndDevice>({
      path: `/api/v3/applications/${seg(appId)}/devices/${seg(deviceId)}`,
      query: { field_mask: fieldMask.join(',') },
      notFound: `No device ${deviceId} in application ${appId}`,
      signal,
    })
    return res.body
  }

  /** The device's downlink queue of the current session, oldest first (`GET .../devices/{dev}/down`). */
  async listQueue(appId: string, deviceId: string, signal?: AbortSignal): Promise<QueuedDownlink[]> {
    const res = await this.application<{ downlinks?: QueuedDownlink[] }>({
      path: `/api/v3/as/applications/${seg(appId)}/devices/${seg(deviceId)}/down`,
      notFound: `No device ${deviceId} in application ${appId} on ${hostOf(this.base.app)}`,
      signal,
    })
    return Array.isArray(res.body.downlinks) ? res.body.downlinks : []
  }

  /** Replace the device's queue with `downlinks`; `[]` clears it (`POST .../down/replace`). */
  async replaceQueue(appId: string, deviceId: string, downlinks: DownlinkItem[], signal?: AbortSignal): Promise<void> {
    await this.queue('replace', appId, deviceId, downlinks, signal)
  }

  /** Append `downlinks` to the device's queue (`POST .../down/push`). */
  async pushQueue(appId: string, deviceId: string, downlinks: DownlinkItem[], signal?: AbortSignal): Promise<void> {
    await this.queue('push', appId, deviceId, downlinks, signal)
  }

  /**
   * Whether the application's Storage Integration is on, by counting the uplinks stored in the last second
   * (the cheapest storage read; needs Read application traffic, like recovery itself). Off answers 404.
   */
  async storageIntegrationStatus(appId: string = this.requireApp(), signal?: AbortSignal): Promise<StorageStatus> {
    try {
      await this.application<unknown>({ path: `/api/v3/as/applications/${seg(appId)}/packages/storage/uplink_message/count`, query: { last: '1s' }, signal })
      return { enabled: true }
    } catch (err) {
      if (err instanceof ApiError && err.kind === 'not-found') {
        return {
          enabled: false,
          message: `The Storage Integration is not enabled for ${appId} on ${hostOf(this.base.app)}: enable it in the Console (Applications → ${appId} → Integrations → Storage Integration).`,
        }
      }
      throw err
    }
  }

  private queue(op: 'push' | 'replace', appId: string, deviceId: string, downlinks: DownlinkItem[], signal?: AbortSignal) {
    if (!Array.isArray(downlinks)) throw new TypeError('downlinks must be an array (an empty one clears the queue on replace).')
    return this.application<unknown>({
      method: 'POST',
      path: `/api/v3/as/applications/${seg(appId)}/devices/${seg(deviceId)}/down/${op}`,
      body: { downlinks },
      notFound: `No device ${deviceId} in application ${appId} on ${hostOf(this.base.app)}`,
      signal,
    })
  }

  private identity<T>(req: ApiRequest) {
    return apiRequest<T>({ root: this.base.identity, apiKey: this.apiKey, tls: this.tls }, { timeoutMs: this.timeoutMs, ...req })
  }

  private application<T>(req: ApiRequest) {
    return apiRequest<T>({ root: this.base.app, apiKey: this.apiKey, tls: this.tls }, { timeoutMs: this.timeoutMs, ...req })
  }

  private requireApp(): string {
    if (!this.appId) throw new Error('No application ID: give one to the method or to the ApiClient.')
    return this.appId
  }
}

function seg(id: string): string {
  if (typeof id !== 'string' || id === '') throw new TypeError('An application or device ID is missing.')
  return encodeURIComponent(id)
}

function clamp(n: number, min: number, max: number, name: string): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${n}.`)
  return n
}

function hostOf(root: string): string {
  return new URL(root).host
}

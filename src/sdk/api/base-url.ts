/**
 * Where The Things Stack's HTTP API lives, in one rule (SPEC, `ttn-app` property `apiUrl`):
 * - the API root is `apiUrl` when given (https://, or http:// for local servers), else `https://<MQTT host>`;
 * - application-server routes (downlink queue, Storage Integration) go to that root: the application's cluster;
 * - Identity Server routes (end devices, auth_info, rights) go to the same root, except on The Things Network
 *   (`*.cloud.thethings.network`), whose only Identity Server is eu1: "Identity Server API requests to any
 *   cluster other than eu1 will fail" (shared/reference/tts-api.md §2.1).
 */

export interface ApiBase {
  /** Application Server routes (`/api/v3/as/...`): the application's cluster. */
  app: string
  /** Identity Server routes (`/api/v3/applications/...`, `/api/v3/auth_info`). */
  identity: string
}

/** The Things Network's Identity Server host. */
export const TTN_IDENTITY_HOST = 'eu1.cloud.thethings.network'

/** True for The Things Network's clusters (eu1, nam1, au1 .cloud.thethings.network). */
export function isTheThingsNetwork(host: string): boolean {
  const h = host.toLowerCase()
  return h === 'cloud.thethings.network' || h.endsWith('.cloud.thethings.network')
}

/** Validate an API address and make it the server root (no trailing slash, no /api/v3). */
export function normalizeApiUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw new Error(`The API address "${value}" is not a URL: give the server's root, e.g. https://eu1.cloud.thethings.network, or leave it empty.`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`The API address "${value}" must start with https:// (or http:// for a local test server).`)
  }
  if (url.search || url.hash) throw new Error(`The API address "${value}" must not have a query or fragment.`)
  if (url.username || url.password) throw new Error(`The API address "${value}" must not carry a user or password: the API key authenticates.`)
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/v3$/, '')
  return `${url.origin}${path}`
}

/**
 * The API roots for an application served from `mqttHost`, with an optional explicit `apiUrl`.
 * An IPv6 MQTT host is bracketed in the URL.
 */
export function resolveApiBase(mqttHost: string, apiUrl?: string): ApiBase {
  const explicit = typeof apiUrl === 'string' && apiUrl.trim() !== ''
  const host = mqttHost.includes(':') && !mqttHost.startsWith('[') ? `[${mqttHost}]` : mqttHost
  const app = explicit ? normalizeApiUrl(apiUrl) : normalizeApiUrl(`https://${host}`)
  const url = new URL(app)
  if (!isTheThingsNetwork(url.hostname) || url.hostname === TTN_IDENTITY_HOST) return { app, identity: app }
  url.hostname = TTN_IDENTITY_HOST
  return { app, identity: `${url.origin}${url.pathname.replace(/\/+$/, '')}` }
}

/**
 * Where to connect and as whom: parses the seed's `host:port` form and MQTT URLs, decides TLS,
 * and derives the username / topic ID (`app@tenant`) the way The Things Stack expects it.
 */

export const DEFAULT_ADDRESS = 'eu1.cloud.thethings.network:8883'
export const TLS_PORT = 8883
export const PLAIN_PORT = 1883

export interface BrokerAddress {
  host: string
  port: number
  /** true when the connection must use TLS (mqtts:// or port 8883, unless overridden). */
  tls: boolean
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i

/**
 * Parse `host`, `host:port`, `[v6]:port`, `mqtt://host[:port]` or `mqtts://host[:port]`.
 * `tlsOverride` (from options.tls.enabled) wins over what the port suggests, but never over a scheme.
 */
export function parseAddress(address: string = DEFAULT_ADDRESS, tlsOverride?: boolean): BrokerAddress {
  const text = String(address).trim()
  if (!text) throw new Error('The MQTT address is empty: give "host:port" (e.g. "eu1.cloud.thethings.network:8883") or an mqtts:// URL.')
  let scheme: string | undefined
  let rest = text
  const m = SCHEME.exec(text)
  if (m) {
    scheme = m[1].toLowerCase()
    if (scheme !== 'mqtt' && scheme !== 'mqtts' && scheme !== 'tcp' && scheme !== 'ssl' && scheme !== 'tls') {
      throw new Error(
        `Unsupported scheme "${scheme}://" in MQTT address "${text}": use mqtt:// (plain) or mqtts:// (TLS). ` +
          'The Things Stack does not offer MQTT over WebSocket on the Application Server.',
      )
    }
    rest = text.slice(m[0].length).replace(/\/.*$/, '')
  }
  let host = rest
  let portText: string | undefined
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']')
    if (end < 0) throw new Error(`Invalid MQTT address "${text}": unclosed "[" in an IPv6 host.`)
    host = rest.slice(1, end)
    const after = rest.slice(end + 1)
    if (after.startsWith(':')) portText = after.slice(1)
    else if (after) throw new Error(`Invalid MQTT address "${text}": unexpected "${after}" after the host.`)
  } else {
    const idx = rest.lastIndexOf(':')
    if (idx >= 0) {
      host = rest.slice(0, idx)
      portText = rest.slice(idx + 1)
    }
  }
  if (!host || /[\s/]/.test(host)) {
    throw new Error(`Invalid MQTT address "${text}": the host is missing or malformed. Expected "host:port" or mqtts://host.`)
  }
  const schemeTls = scheme === undefined ? undefined : scheme === 'mqtts' || scheme === 'ssl' || scheme === 'tls'
  let port: number
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new Error(`Invalid port "${portText}" in MQTT address "${text}": use a number from 1 to 65535 (8883 TLS, 1883 plain).`)
    }
    port = Number(portText)
  } else {
    const wantsTls = schemeTls ?? tlsOverride ?? true
    port = wantsTls ? TLS_PORT : PLAIN_PORT
  }
  const tls = schemeTls ?? tlsOverride ?? port === TLS_PORT
  return { host: host.toLowerCase(), port, tls }
}

/** The tenant The Things Stack expects in the username, derived from the cluster host. */
export function deriveTenant(host: string): string | undefined {
  const h = host.toLowerCase()
  if (h === 'cloud.thethings.network' || h.endsWith('.cloud.thethings.network')) return 'ttn'
  const tti = /^([a-z0-9](?:[-]?[a-z0-9])*)\.[a-z0-9-]+\.cloud\.thethings\.industries$/.exec(h)
  if (tti) return tti[1]
  return undefined
}

export interface Identity {
  /** The bare application ID, as it appears inside messages. */
  appId: string
  tenant: string | undefined
  /** The MQTT username, which is also the topic ID: `app@tenant`, or the bare ID without a tenant. */
  username: string
}

export const ID_PATTERN = /^[a-z0-9](?:[-]?[a-z0-9]){2,}$/
export const V2_ID_PATTERN = /^[0-9a-z](?:[_-]?[0-9a-z]){1,35}$/
export const MAX_ID_LENGTH = 36

/** Why an ID pattern failed, as codes: the SDK words them in English, the editor through its catalog. */
export type IdHint = 'upper-case' | 'reserved-characters' | 'underscore' | 'too-short'
export type IdCheck =
  | { ok: true }
  | { ok: false; reason: 'missing' }
  | { ok: false; reason: 'too-long'; length: number }
  | { ok: false; reason: 'pattern'; hints: IdHint[] }

/**
 * The one rule for application, device and tenant IDs, shared with the editor (resources/ttn-rules.js
 * is built from this module), so the dialog accepts exactly what the runtime accepts.
 */
export function checkId(id: unknown, api: 'v3' | 'v2' = 'v3'): IdCheck {
  if (typeof id !== 'string' || id.length === 0) return { ok: false, reason: 'missing' }
  if (id.length > MAX_ID_LENGTH) return { ok: false, reason: 'too-long', length: id.length }
  const pattern = api === 'v2' ? V2_ID_PATTERN : ID_PATTERN
  if (pattern.test(id)) return { ok: true }
  const hints: IdHint[] = []
  if (/[A-Z]/.test(id)) hints.push('upper-case')
  if (/[+#/]/.test(id)) hints.push('reserved-characters')
  if (api === 'v3' && id.includes('_')) hints.push('underscore')
  if (id.length < 3) hints.push('too-short')
  return { ok: false, reason: 'pattern', hints }
}

const HINT_TEXT: Record<IdHint, string> = {
  'upper-case': 'upper-case letters are not allowed',
  'reserved-characters': '"/", "+" and "#" are not allowed',
  underscore: '"_" is not allowed in v3 IDs (use "-")',
  'too-short': 'at least 3 characters are needed',
}

/** Check an application, device, gateway or tenant ID and explain what is wrong with it. Returns undefined when valid. */
export function idProblem(kind: 'application' | 'device' | 'gateway' | 'tenant', id: unknown, api: 'v3' | 'v2' = 'v3'): string | undefined {
  const check = checkId(id, api)
  if (check.ok) return undefined
  if (check.reason === 'missing') return `The ${kind} ID is missing: give the ${kind} ID as shown in the console.`
  if (check.reason === 'too-long') return `The ${kind} ID "${id}" is ${check.length} characters long; at most ${MAX_ID_LENGTH} are allowed.`
  const detail = check.hints.length ? ` (${check.hints.map((h) => HINT_TEXT[h]).join('; ')})` : ''
  return (
    `The ${kind} ID "${id}" is not valid${detail}: use lower-case letters, digits and single dashes, ` +
    'starting and ending with a letter or digit, 3 to 36 characters.'
  )
}

/**
 * The TLS choice handed to parseAddress for a server field and a "Use TLS" checkbox: a scheme decides
 * by itself (mqtts://, ssl://, tls:// on; mqtt://, tcp:// off), otherwise the checkbox does. The config
 * node and the editor's address line both call this, so they cannot disagree.
 */
export function tlsOverrideFor(server: string, tlsChecked: boolean): boolean | undefined {
  return SCHEME.test(String(server).trim()) ? undefined : tlsChecked
}

/** Hosts of The Things Network and The Things Stack Cloud: public servers, where a key must never travel in clear. */
export function isPublicTtsHost(host: string): boolean {
  const h = host.toLowerCase()
  return /(^|\.)thethings\.(network|industries)$/.test(h)
}

/** Work out the username / topic ID from the app ID, the host and an optional explicit tenant. */
export function resolveIdentity(appID: string, host: string, tenantOption?: string | null, api: 'v3' | 'v2' = 'v3'): Identity {
  const raw = String(appID ?? '').trim()
  if (raw.includes('@')) {
    const [appId, tenant, extra] = raw.split('@')
    if (extra !== undefined || !tenant) {
      throw new Error(`The application ID "${raw}" has a malformed "@tenant" part: write it as "my-app@ttn" or give the tenant separately.`)
    }
    const problem = idProblem('application', appId, api) ?? idProblem('tenant', tenant)
    if (problem) throw new Error(problem)
    return { appId, tenant, username: raw }
  }
  const problem = idProblem('application', raw, api)
  if (problem) throw new Error(problem)
  if (api === 'v2') return { appId: raw, tenant: undefined, username: raw }
  const explicit = typeof tenantOption === 'string' ? tenantOption.trim() : ''
  // A tenant that cannot exist would only ever earn "not authorized": say so before connecting.
  const tenantProblem = explicit ? idProblem('tenant', explicit) : undefined
  if (tenantProblem) throw new Error(tenantProblem)
  const tenant = explicit || deriveTenant(host)
  return { appId: raw, tenant, username: tenant ? `${raw}@${tenant}` : raw }
}

/**
 * Connection result codes and what they mean for a The Things Stack user. The server answers almost
 * every credential problem with CONNACK 5, so the hint lists the usual causes in order of likelihood.
 */

export const ConnectResult = {
  Accepted: 0,
  UnacceptableProtocol: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUsernameOrPassword: 4,
  NotAuthorized: 5,
  /** Not a CONNACK: the TCP/TLS connection failed or was closed before a CONNACK arrived. */
  NetworkError: 16,
  /** Not a CONNACK: no CONNACK within the connect timeout. */
  Timeout: 17,
  /** Not a CONNACK: the TLS handshake failed (certificate, host name, protocol). */
  TlsError: 18,
} as const
export type ConnectResultCode = (typeof ConnectResult)[keyof typeof ConnectResult]

export interface ConnectFailure {
  code: number
  /** One line for a status text. */
  summary: string
  /** What to check, for the log. */
  hint: string
}

export function explainConnectFailure(code: number, username: string, host: string, detail?: string): ConnectFailure {
  switch (code) {
    case ConnectResult.NotAuthorized:
    case ConnectResult.BadUsernameOrPassword: {
      const cause = likelyAuthCause(username, host)
      return {
        code,
        summary: 'not authorized',
        // What was tried and the likeliest cause first: a debug sidebar cuts long lines.
        hint:
          `Not authorized as ${username} at ${host} (CONNACK ${code}): ${authCauseText(cause)}. Check: ` +
          '(1) the username ends with the tenant: "@ttn" on The Things Network, "@<tenant>" on The Things Stack Cloud, ' +
          'nothing on Open Source; (2) the API key belongs to this application, is not revoked, and has the rights ' +
          '"Read application traffic" and "Write downlink application traffic"; (3) the application lives on this ' +
          'cluster (eu1, nam1, au1 ...: see the console URL); (4) application IDs are lower case.',
      }
    }
    case ConnectResult.UnacceptableProtocol:
      return {
        code,
        summary: 'protocol refused',
        hint: `The broker at ${host} refused the MQTT protocol version (CONNACK 1). The Things Stack only speaks MQTT 3.1.1; do not force MQTT 5.`,
      }
    case ConnectResult.IdentifierRejected:
      return { code, summary: 'client ID rejected', hint: `The broker at ${host} rejected the client ID (CONNACK 2): use another or leave it empty for a random one.` }
    case ConnectResult.ServerUnavailable:
      return { code, summary: 'server unavailable', hint: `The broker at ${host} is unavailable (CONNACK 3); retrying.` }
    case ConnectResult.Timeout:
      return { code, summary: 'timeout', hint: `No answer from ${host} within the connect timeout${detail ? ` (${detail})` : ''}; check the host, port and firewall.` }
    case ConnectResult.TlsError:
      return {
        code,
        summary: 'TLS error',
        hint: `TLS with ${host} failed${detail ? `: ${detail}` : ''}. Check the port (8883 is TLS, 1883 plain), the CA for private deployments, and the host name in the certificate.`,
      }
    default:
      return { code, summary: 'connection failed', hint: `Could not reach ${host}${detail ? `: ${detail}` : ''}; retrying with back-off.` }
  }
}

/**
 * The likeliest reason The Things Stack refused a login, judged from the username and the server alone
 * (the server says only "not authorized"): a tenant that does not fit the host, or else the key.
 * `expected` is the username or host that would fit.
 */
export type AuthCause =
  | { cause: 'no-tenant'; expected: string }
  | { cause: 'wrong-tenant'; tenant: string; expected: string }
  | { cause: 'cloud-host-without-tenant'; expected: string }
  | { cause: 'key' }

const TTN_HOST = /(^|\.)cloud\.thethings\.network$/
const CLOUD_TENANT_HOST = /^([a-z0-9](?:-?[a-z0-9])*)\.[a-z0-9-]+\.cloud\.thethings\.industries$/
const CLOUD_CLUSTER_HOST = /^([a-z0-9-]+)\.cloud\.thethings\.industries$/

export function likelyAuthCause(username: string, hostAndPort: string): AuthCause {
  const host = hostAndPort.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase()
  const [app, tenant] = String(username).split('@')
  const expectedTenant = TTN_HOST.test(host) ? 'ttn' : CLOUD_TENANT_HOST.exec(host)?.[1]
  const cluster = CLOUD_CLUSTER_HOST.exec(host)
  if (!expectedTenant && cluster && !CLOUD_TENANT_HOST.test(host)) {
    return { cause: 'cloud-host-without-tenant', expected: `<tenant>.${cluster[1]}.cloud.thethings.industries` }
  }
  if (expectedTenant && tenant === undefined) return { cause: 'no-tenant', expected: `${app}@${expectedTenant}` }
  if (expectedTenant && tenant !== expectedTenant) return { cause: 'wrong-tenant', tenant, expected: `${app}@${expectedTenant}` }
  return { cause: 'key' }
}

/** The cause in English, for the SDK's hint; Node-RED words the same causes through its catalog. */
export function authCauseText(c: AuthCause): string {
  switch (c.cause) {
    case 'no-tenant':
      return `the username has no tenant; on this server it is ${c.expected}`
    case 'wrong-tenant':
      return `the tenant "${c.tenant}" does not belong to this server; here the username is ${c.expected}`
    case 'cloud-host-without-tenant':
      return `The Things Stack Cloud addresses start with your tenant: ${c.expected}`
    default:
      return 'the server refused the API key: is it a key of this application, on this cluster, with traffic rights?'
  }
}

/** A connection attempt that failed: the code (CONNACK or ours) and what to check. */
export class ConnectError extends Error {
  readonly code: number
  readonly hint: string
  constructor(failure: ConnectFailure) {
    super(`Connection failed (${failure.summary}, code ${failure.code}): ${failure.hint}`)
    this.name = 'ConnectError'
    this.code = failure.code
    this.hint = failure.hint
  }
}

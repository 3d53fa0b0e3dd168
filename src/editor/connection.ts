/**
 * The ttn-app dialog's summary of a configuration: the address and username the runtime will use, how
 * TLS is decided, which tenant wins, and what deserves a warning. Every answer comes from the SDK's
 * own functions (parseAddress, resolveIdentity, tlsOverrideFor), so the dialog shows what the
 * runtime does. Runs in the editor (resources/ttn-rules.js); nothing here may need Node.
 */
import { deriveTenant, isPublicTtsHost, PLAIN_PORT, parseAddress, resolveIdentity, TLS_PORT, tlsOverrideFor } from '../sdk/address'
import { apiKeyKind } from '../sdk/api-key'

/** The dialog's values, as the ttn-app node stores them. */
export interface DialogValues {
  server: string
  tls: boolean
  appId: string
  /** The `tenant` property (edited in the dialog's one Tenant field for custom hosts). */
  tenant: string
  api: 'v3' | 'v2'
  broker: 'tts' | 'generic'
  /** Generic broker: the MQTT user (empty: the application ID). */
  username: string
  /** The key as typed; undefined when the dialog only knows that one is stored. */
  apiKey?: string
}

export type TenantSource = 'app-id' | 'tenant-field' | 'server'

export interface ConnectionView {
  /** `${ENV}` in the server: resolved when deployed, nothing to check here. */
  env: boolean
  /** `mqtts://host:port` as the runtime connects, when the server parses. */
  address?: string
  host?: string
  /** The SDK's own words for an unusable server. */
  addressProblem?: string
  /** TLS as the runtime will use it, and what decided it (see tlsImplied; otherwise the checkbox). */
  tls: boolean
  tlsDecidedBy: 'scheme' | 'port' | 'checkbox'
  /** The MQTT username (also the topic ID); undefined with addressProblem or usernameProblem. */
  username?: string
  usernameProblem?: string
  /** The tenant in the username and where it came from; `overruled` lists the values that lost. */
  tenant?: { value: string; source: TenantSource; overruled: { value: string; source: TenantSource }[] }
  /** TLS off towards The Things Network or The Things Stack Cloud: the key would travel in clear. */
  plainOnPublicServer: boolean
  /** A key that cannot be a The Things Stack v3 key ('v2', 'other'), or a missing one. */
  keyWarning?: 'missing' | 'v2' | 'other'
  /** The application's page in The Things Stack Console, when the server is a named host. */
  consoleUrl?: string
}

const ENV_REFERENCE = /\$\{[^}]*\}/
const IP_ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:]*)$/i

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** The values that lost against the winning tenant (same order of precedence as resolveIdentity). */
function tenantOf(v: DialogValues, host: string): ConnectionView['tenant'] {
  if (v.api === 'v2') return undefined
  const candidates: { value: string; source: TenantSource }[] = []
  const at = v.appId.trim().split('@')
  if (at.length === 2 && at[1]) candidates.push({ value: at[1], source: 'app-id' })
  if (v.tenant.trim()) candidates.push({ value: v.tenant.trim(), source: 'tenant-field' })
  const derived = deriveTenant(host)
  if (derived) candidates.push({ value: derived, source: 'server' })
  const [winner, ...rest] = candidates
  if (!winner) return undefined
  return { ...winner, overruled: rest.filter((c) => c.value !== winner.value) }
}

const EXPLICIT_PORT = /^(?:\[[^\]]*\]|[^:[\]/]+):(\d+)$/

/**
 * What the address itself says about TLS, so the dialog's checkbox can follow it instead of
 * contradicting it: a scheme decides (mqtts://, ssl://, tls:// on; mqtt://, tcp:// off), and so does
 * the port that names it (host:8883 is TLS, host:1883 plain). Undefined: the checkbox decides.
 */
export function tlsImplied(server: string): { tls: boolean; by: 'scheme' | 'port' } | undefined {
  const s = String(server ?? '').trim()
  if (!s || ENV_REFERENCE.test(s)) return undefined
  try {
    if (tlsOverrideFor(s, false) === undefined) return { tls: parseAddress(s).tls, by: 'scheme' }
  } catch {
    return undefined
  }
  const port = EXPLICIT_PORT.exec(s)?.[1]
  if (port === String(TLS_PORT)) return { tls: true, by: 'port' }
  if (port === String(PLAIN_PORT)) return { tls: false, by: 'port' }
  return undefined
}

export function describeConnection(v: DialogValues): ConnectionView {
  const server = String(v.server ?? '').trim()
  const implied = tlsImplied(server)
  // The dialog ticks the checkbox as the port says; describe what will be saved.
  const tlsChecked = implied?.by === 'port' ? implied.tls : v.tls
  const tlsOverride = tlsOverrideFor(server, tlsChecked)
  const view: ConnectionView = {
    env: ENV_REFERENCE.test(server),
    tls: tlsChecked,
    tlsDecidedBy: implied?.by ?? 'checkbox',
    plainOnPublicServer: false,
  }
  const kind = apiKeyKind(v.apiKey)
  // A key from the environment, or a generic broker's password, can look like anything.
  if (v.apiKey !== undefined && kind !== 'v3' && kind !== 'env' && !(v.broker === 'generic' && kind !== 'missing')) {
    view.keyWarning = kind
  }
  if (view.env) return view
  let host: string
  try {
    const parsed = parseAddress(server, tlsOverride)
    host = parsed.host
    view.host = host
    view.tls = parsed.tls
    view.address = `${parsed.tls ? 'mqtts' : 'mqtt'}://${host.includes(':') ? `[${host}]` : host}:${parsed.port}`
  } catch (err) {
    view.addressProblem = errorText(err)
    return view
  }
  view.plainOnPublicServer = !view.tls && isPublicTtsHost(host)
  const appId = v.appId.trim()
  if (appId) {
    try {
      const identity = resolveIdentity(appId, host, v.tenant, v.api)
      view.username = v.broker === 'generic' && v.username.trim() ? v.username.trim() : identity.username
      view.tenant = tenantOf(v, host)
      if (v.broker !== 'generic' && v.api === 'v3' && !IP_ADDRESS.test(host) && host !== 'localhost' && host.includes('.')) {
        view.consoleUrl = `https://${host}/console/applications/${encodeURIComponent(identity.appId)}`
      }
    } catch (err) {
      view.usernameProblem = errorText(err)
    }
  }
  return view
}

/**
 * What an API key looks like, so a key that cannot work is named before it is sent: The Things Stack
 * answers a wrong key with a bare "not authorized", whatever the cause.
 */

/**
 * v3 keys are `NNSXS.` + an ID + `.` + a secret, both upper-case base32 (an ID and a secret);
 * the ID part is stored by the server, the secret shown once. The length check is loose on purpose:
 * a key that differs only in length is still reported by the server, not guessed at here.
 */
const V3_KEY = /^NNSXS\.[A-Z0-9]{16,}\.[A-Z0-9]{16,}$/
/** TTN v2 access keys: `ttn-account-v2.` + base64url. The v2 network was shut down in 2021. */
const V2_KEY = /^ttn-account-v2\./
/** `${NAME}`: Node-RED reads the value from the environment when the flow starts. */
const ENV_REFERENCE = /^\$\{[^}]+\}$/

export type ApiKeyKind = 'missing' | 'env' | 'v3' | 'v2' | 'other'

export function apiKeyKind(key: unknown): ApiKeyKind {
  if (typeof key !== 'string' || key.trim() === '') return 'missing'
  const k = key.trim()
  if (ENV_REFERENCE.test(k)) return 'env'
  if (V3_KEY.test(k)) return 'v3'
  if (V2_KEY.test(k)) return 'v2'
  return 'other'
}

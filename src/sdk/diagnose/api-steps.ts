/**
 * The steps of a connection check that ask The Things Stack's HTTP API what the MQTT server does not say:
 * whose key this is and until when (auth_info), its rights on the application against what the nodes
 * need, which cluster the application's devices live on, and whether the Storage Integration is on.
 * shared/reference/tts-api.md §2.3 is the order of reasoning.
 */
import { isTheThingsNetwork } from '../api/base-url'
import type { ApiClient } from '../api/client'
import { ApiError } from '../api/http'
import { Right, hasRight, rightLabel } from '../api/rights'
import type { AuthInfo } from '../api/types'
import type { CheckStep, Needs } from './types'

export interface KeyFacts {
  /** The application the key belongs to, when it is an application key. */
  keyApp?: string
  /** The key's rights on the configured application (undefined when they could not be read). */
  rights?: string[]
}

/** Who owns the key and whether it is still valid. */
export async function keyStep(api: ApiClient, appId: string, facts: KeyFacts): Promise<CheckStep> {
  let info: AuthInfo
  try {
    info = await api.authInfo()
  } catch (err) {
    return { name: 'key', ok: false, message: apiProblem(err, 'the key could not be checked') }
  }
  const key = info.api_key?.api_key
  const ids = info.api_key?.entity_ids
  if (!info.api_key) {
    if (info.oauth_access_token) return { name: 'key', ok: true, message: 'This is an OAuth access token, not an API key: it expires soon; use an API key for a lasting connection.', warning: true }
    return { name: 'key', ok: false, message: 'The server did not recognise the key as an API key: paste the whole key (it starts with NNSXS.).' }
  }
  const expiry = key?.expires_at ? ` It expires on ${key.expires_at.slice(0, 10)}.` : ' It does not expire.'
  const named = key?.name ? ` "${key.name}"` : ''
  if (ids?.application_ids) {
    facts.keyApp = ids.application_ids.application_id
    if (facts.keyApp !== appId) {
      return {
        name: 'key',
        ok: false,
        message: `The key${named} belongs to application ${facts.keyApp}, not ${appId}: create a key in ${appId} (Applications → ${appId} → API keys), or correct the application ID.`,
      }
    }
    return { name: 'key', ok: true, message: `The key${named} is valid and belongs to application ${appId}.${expiry}` }
  }
  const owner = ids?.user_ids
    ? `user ${ids.user_ids.user_id}`
    : ids?.organization_ids
      ? `organization ${ids.organization_ids.organization_id}`
      : ids?.gateway_ids
        ? `gateway ${ids.gateway_ids.gateway_id}`
        : 'another entity'
  if (ids?.gateway_ids) {
    return { name: 'key', ok: false, message: `The key${named} belongs to ${owner}, which gives no rights on applications: use an API key of application ${appId}.` }
  }
  return { name: 'key', ok: true, message: `The key${named} is a key of ${owner}; its rights on ${appId} are checked next.${expiry}` }
}

/** The rights the nodes need, each missing one named as the Console names it. */
export async function rightsStep(api: ApiClient, appId: string, needs: Needs, facts: KeyFacts, clusterHost: string): Promise<CheckStep> {
  let rights: string[]
  try {
    rights = await api.applicationRights(appId)
  } catch (err) {
    return { name: 'rights', ok: false, message: apiProblem(err, 'the rights could not be read') }
  }
  facts.rights = rights
  if (rights.length === 0) {
    const cluster = clusterName(clusterHost)
    return {
      name: 'rights',
      ok: false,
      message: facts.keyApp && facts.keyApp !== appId
        ? `The key has no rights on ${appId}.`
        : `The key has no rights on ${appId}: either there is no application ${appId}${cluster ? ` on ${cluster}` : ''} (check the ID and the tenant), or the key was given no rights; add rights to it in the Console.`,
    }
  }
  const required: Array<{ right: string; why: string }> = []
  if (needs.readTraffic || needs.recovery) required.push({ right: Right.TrafficRead, why: needs.recovery && !needs.readTraffic ? 'recovering missed uplinks' : 'receiving uplinks and events' })
  if (needs.writeDownlinks) required.push({ right: Right.TrafficDownWrite, why: 'sending downlinks' })
  if (needs.readDevices) required.push({ right: Right.DevicesRead, why: 'adding device details to uplinks' })
  const missing = required.filter((r) => !hasRight(rights, r.right))
  if (missing.length) {
    const list = missing.map((m) => `"${rightLabel(m.right)}" (for ${m.why})`).join(' and ')
    return { name: 'rights', ok: false, message: `The key lacks ${list}: add ${missing.length > 1 ? 'them' : 'it'} to the key in the Console (API keys → the key → Rights).` }
  }
  const have = required.map((r) => `"${rightLabel(r.right)}"`).join(', ')
  if (!needs.readDevices && !hasRight(rights, Right.DevicesRead)) {
    return {
      name: 'rights',
      ok: true,
      warning: true,
      message: `${have ? `The key has ${have}. ` : ''}It lacks "${rightLabel(Right.DevicesRead)}": the device lists in the editor stay empty (typing device IDs works); add that right to pick devices from a list.`,
    }
  }
  return { name: 'rights', ok: true, message: have ? `The key has what the nodes need: ${have}.` : 'The key has rights on the application; no node needs more yet.' }
}

/**
 * Whether the application lives on the cluster the MQTT connection goes to: its devices name their
 * Application Server. A wrong cluster on The Things Network connects and then stays silent.
 */
export async function clusterStep(api: ApiClient, appId: string, mqttHost: string, facts: KeyFacts): Promise<CheckStep> {
  if (facts.rights && !hasRight(facts.rights, Right.DevicesRead)) {
    return { name: 'cluster', ok: true, skipped: true, message: `Not checked: the key lacks "${rightLabel(Right.DevicesRead)}", which shows where the devices live.` }
  }
  let addresses: string[]
  try {
    const { devices } = await api.listDevices(appId, { fieldMask: ['application_server_address'], limit: 20 })
    addresses = devices.map((d) => hostOfAddress(d.application_server_address)).filter((a): a is string => a !== undefined)
  } catch (err) {
    return { name: 'cluster', ok: true, skipped: true, message: `Not checked: ${apiProblem(err, 'the devices could not be listed')}` }
  }
  if (addresses.length === 0) return { name: 'cluster', ok: true, skipped: true, message: `Not checked: ${appId} has no devices yet.` }
  const host = mqttHost.toLowerCase()
  const elsewhere = addresses.filter((a) => a !== host)
  if (elsewhere.length === 0) return { name: 'cluster', ok: true, message: `The devices of ${appId} are served by ${host}, where the connection goes.` }
  // The most common other address is where the application is.
  const counts = new Map<string, number>()
  for (const a of elsewhere) counts.set(a, (counts.get(a) ?? 0) + 1)
  const there = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0]
  if (elsewhere.length < addresses.length) {
    return { name: 'cluster', ok: true, warning: true, message: `Some devices of ${appId} are served by ${there}, not ${host}: their traffic does not come over this connection.` }
  }
  const here = clusterName(host) ?? host
  const where = clusterName(there) ?? there
  return { name: 'cluster', ok: false, message: `No application ${appId} on ${here}: it is on ${where}. Set the server to ${there}.` }
}

export async function storageStep(api: ApiClient, appId: string): Promise<CheckStep> {
  try {
    const status = await api.storageIntegrationStatus(appId)
    if (status.enabled) return { name: 'storage', ok: true, message: `The Storage Integration of ${appId} is on: missed uplinks can be recovered.` }
    return { name: 'storage', ok: false, message: status.message ?? `The Storage Integration of ${appId} is off.` }
  } catch (err) {
    return { name: 'storage', ok: false, message: apiProblem(err, 'the Storage Integration could not be checked') }
  }
}

/** An API failure in words for a step: the ApiError says what to do; anything else is shown as it is. */
export function apiProblem(err: unknown, what: string): string {
  if (err instanceof ApiError) return err.message
  return `${what}: ${(err as Error)?.message ?? String(err)}`
}

/** eu1 for eu1.cloud.thethings.network, tenant.eu1 for Cloud hosts; undefined for other hosts. */
export function clusterName(host: string): string | undefined {
  const h = host.toLowerCase()
  if (isTheThingsNetwork(h)) return h.split('.')[0]
  const m = /^([a-z0-9-]+\.)?([a-z0-9]+)\.cloud\.thethings\.industries$/.exec(h)
  return m ? m[2] : undefined
}

function hostOfAddress(address: string | undefined): string | undefined {
  if (!address) return undefined
  const text = address.replace(/^[a-z]+:\/\//i, '').split('/')[0]
  if (text.startsWith('[')) return text.slice(1, text.indexOf(']')).toLowerCase()
  return text.split(':')[0].toLowerCase()
}

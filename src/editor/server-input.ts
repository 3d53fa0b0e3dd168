/**
 * What people paste into the ttn-app dialog's Server field, read the way they meant it: the Console URL
 * from the browser's address bar, a bare cluster name, a host. Runs in the editor (resources/ttn-rules.js)
 * and is unit-tested in Node; nothing here may need Node.
 */

/** The Things Network's public clusters, as offered by the dialog's Network select. */
export const TTN_CLUSTERS = {
  eu1: 'eu1.cloud.thethings.network',
  nam1: 'nam1.cloud.thethings.network',
  au1: 'au1.cloud.thethings.network',
} as const
export type TtnCluster = keyof typeof TTN_CLUSTERS

/** The Things Stack Cloud clusters the dialog lists; a host on another cluster is still recognised. */
export const CLOUD_CLUSTERS = ['eu1', 'eu2', 'nam1', 'au1', 'as1'] as const

const CLOUD_HOST = /^([a-z0-9](?:-?[a-z0-9])*)\.([a-z0-9-]+)\.cloud\.thethings\.industries$/
const WEB_URL = /^https?:\/\/([^/?#\s]*)/i
const ENV_REFERENCE = /\$\{[^}]*\}/

export type ServerNote = 'console-url' | 'cluster-name'

/** The field's text as the runtime should read it, and why it was rewritten (undefined: it was not). */
export interface ServerReading {
  server: string
  note?: ServerNote
}

/**
 * Console URL (`https://eu1.cloud.thethings.network/console/...`) → its host; `eu1`, `nam1`, `au1` →
 * the cluster's host. Anything else is left exactly as typed: the address check says what is wrong.
 */
export function readServerInput(text: string): ServerReading {
  const server = String(text ?? '').trim()
  if (ENV_REFERENCE.test(server)) return { server }
  const web = WEB_URL.exec(server)
  if (web) {
    // The web port is not the MQTT port: keep the host only, the TLS setting picks 8883 or 1883.
    const host = web[1].replace(/^[^@]*@/, '').replace(/:\d*$/, '').toLowerCase()
    return host ? { server: host, note: 'console-url' } : { server }
  }
  const name = server.toLowerCase()
  if (Object.hasOwn(TTN_CLUSTERS, name)) return { server: TTN_CLUSTERS[name as TtnCluster], note: 'cluster-name' }
  return { server }
}

export type Network =
  | { preset: TtnCluster }
  | { preset: 'cloud'; tenant: string; cluster: string }
  | { preset: 'custom' }

/** The host part of a server field, lower case, without scheme, port or path ('' when there is none). */
export function hostOf(server: string): string {
  let s = String(server ?? '')
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
  s = s.split('/')[0]
  if (s.startsWith('[')) return s.slice(1, s.indexOf(']') > 0 ? s.indexOf(']') : undefined).toLowerCase()
  return s.split(':')[0].toLowerCase()
}

/** Which entry of the Network select a server belongs to. */
export function networkOf(server: string): Network {
  const host = hostOf(server)
  for (const key of Object.keys(TTN_CLUSTERS) as TtnCluster[]) {
    if (host === TTN_CLUSTERS[key]) return { preset: key }
  }
  const cloud = CLOUD_HOST.exec(host)
  if (cloud) return { preset: 'cloud', tenant: cloud[1], cluster: cloud[2] }
  return { preset: 'custom' }
}

/** The Things Stack Cloud host of a tenant on a cluster. */
export function cloudHost(tenant: string, cluster: string): string {
  return `${tenant}.${cluster}.cloud.thethings.industries`
}

/**
 * What a ttn-app config node does with The Things Stack's HTTP API, kept out of ttn-app.ts: what its
 * users need from the key (for the checks), the background diagnosis of refusals and silent keys
 * (diagnosis.ts), and the device details cache with its change watch for ttn-uplink's *Add device details*.
 */
import type { ConnectionStatus, MQTTClient, MQTTClientOptions } from '../sdk/client'
import { DEVICE_DETAIL_FIELDS } from '../sdk/api/types'
import { type DeviceDetails, DeviceDetailsCache } from '../sdk/device-details'
import type { CheckInput, Needs } from '../sdk/diagnose'
import { RuntimeDiagnosis } from './diagnosis'
import type { NodeInstance, NodeRedRuntime, NodeStatus } from './red'
import type { StatusTarget } from './ttn-app'

/** What a node of this type needs from the key; types not listed (new nodes) are assumed to read traffic. */
export function needsOfType(type: string): Needs {
  if (type === 'ttn-downlink') return { writeDownlinks: true, readTraffic: true }
  return { readTraffic: true }
}

/** The union of what a set of users need, plus recovery when it is on. */
export function combineNeeds(list: Iterable<Needs>, recovery: boolean): Needs {
  const out: Needs = {}
  for (const n of list) {
    if (n.readTraffic) out.readTraffic = true
    if (n.writeDownlinks) out.writeDownlinks = true
    if (n.readDevices) out.readDevices = true
  }
  if (recovery) out.recovery = true
  return out
}

export interface AppApiGlue {
  needs(): Needs
  /** The status to show for a client status (refined by a diagnosed cause), and start the diagnosis when due. */
  status(s: ConnectionStatus, generic: NodeStatus | Record<string, never>): NodeStatus | Record<string, never>
  /** msg.device for an uplink: from the cache at once, never waiting (undefined the first time). */
  deviceDetails(deviceId: string): DeviceDetails | undefined
  /** A node uses device details from now on; returns the release function. */
  useDeviceDetails(): () => void
  /** What POST /ttn-app/check uses when asked about this deployed node. */
  checkInput(): CheckInput | undefined
  close(): void
}

export interface AppApiContext {
  RED: NodeRedRuntime
  node: NodeInstance
  client: MQTTClient | undefined
  /** The configured application ID (may carry @tenant), the key, and the client's constructor arguments. */
  appId: string
  apiKey: string
  address: string
  options: MQTTClientOptions
  users: Map<string, StatusTarget>
  /** Show the current status again on every user. */
  refresh(): void
  /** Refresh period and size of the device details cache (defaults in src/sdk/device-details.ts). */
  detailsRefreshMs?: number
  detailsMaxDevices?: number
}

export function attachAppApi(ctx: AppApiContext): AppApiGlue {
  const { RED, node, client } = ctx
  let detailUsers = 0
  let cache: DeviceDetailsCache | undefined
  let stopWatch: (() => void) | undefined
  const reported = new Set<string>()
  /** One warning per kind of problem (a missing right is the same problem for every device). */
  const warnOnce = (kind: string, text: string) => {
    if (reported.has(kind)) return
    reported.add(kind)
    node.warn(text)
  }

  const needs = (): Needs => {
    const list: Needs[] = [...ctx.users.values()].map((u) => needsOfType(u.type))
    if (detailUsers > 0) list.push({ readDevices: true })
    return combineNeeds(list, ctx.options.recover !== undefined)
  }
  const checkInput = (): CheckInput | undefined => {
    if (!client || client.api === 'v2') return undefined
    return { appId: ctx.appId, apiKey: ctx.apiKey, address: ctx.address, options: ctx.options, needs: needs() }
  }
  const diagnosis = new RuntimeDiagnosis({
    RED,
    input: checkInput,
    error: (text) => node.error(text),
    warn: (text) => node.warn(text),
    refresh: ctx.refresh,
  })

  const startDetails = (c: MQTTClient) => {
    const api = c.http
    cache = new DeviceDetailsCache({
      fetch: (deviceId) => api.getDevice(c.appId, deviceId, [...DEVICE_DETAIL_FIELDS]),
      refreshMs: ctx.detailsRefreshMs,
      maxDevices: ctx.detailsMaxDevices,
      onError: (deviceId, err) => {
        const kind = (err as { kind?: string }).kind
        // An unknown device is normal (details follow once it is registered); a missing right or an unreachable API is worth one warning.
        if (kind === 'not-found') return
        warnOnce(`details:${kind}`, RED._('ttnApi.errors.details', { deviceId, reason: err.message }))
      },
    })
    const current = cache
    stopWatch = api.watchDeviceChanges(c.appId, {
      onChange: (change) => current.invalidate(change.deviceId),
      // Changes made while the watch was down were missed: read every device again on its next uplink.
      onOpen: () => current.expireAll(),
      onError: (err, permanent) => {
        if (permanent) warnOnce('watch', RED._('ttnApi.errors.detailsWatch', { reason: err.message }))
      },
    })
  }

  return {
    needs,
    status(s, generic) {
      diagnosis.observe(s)
      return diagnosis.refine(s, generic)
    },
    deviceDetails: (deviceId) => cache?.get(deviceId),
    useDeviceDetails() {
      if (!client || client.api === 'v2') return () => undefined
      detailUsers++
      if (detailUsers === 1 && !cache) startDetails(client)
      let released = false
      return () => {
        if (released) return
        released = true
        detailUsers--
        if (detailUsers === 0) {
          stopWatch?.()
          stopWatch = undefined
          cache?.close()
          cache = undefined
        }
      }
    },
    checkInput,
    close() {
      diagnosis.close()
      stopWatch?.()
      cache?.close()
    },
  }
}

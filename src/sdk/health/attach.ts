/**
 * One health tracker per SDK client, created on first use and kept beside the client (a WeakMap, so
 * it goes when the client goes). While at least one watch is open the tracker listens to the
 * client's uplinks, joins and connection state through the client's public listener API; after the
 * last watch closes it keeps listening for a grace period, so a monitor that is redeployed misses no
 * uplink (a missed uplink would later look like a lost one).
 */
import type { ConnectionStatus, MQTTClient } from '../client'
import type { UplinkMessage } from '../messages'
import { supportsEvent } from '../topics'
import { HealthTracker, type HealthTrackerOptions } from './tracker'

/** How long a tracker keeps listening after its last watch closed. */
export const RELEASE_GRACE_MS = 60_000

const trackers = new WeakMap<MQTTClient, HealthTracker>()

/** The client's tracker, created on the first call. Options apply only to that first call. */
export function healthTrackerFor(client: MQTTClient, options: Omit<HealthTrackerOptions, 'onInUse'> = {}): HealthTracker {
  let tracker = trackers.get(client)
  if (tracker) return tracker
  let release: (() => void) | undefined
  let graceTimer: NodeJS.Timeout | undefined
  const listen = () => {
    const t = tracker as HealthTracker
    const removeUplinks = client.onUplink(undefined, (d) => t.observeUplink(d.deviceId, d.message as UplinkMessage, d.recovered === true))
    // Joins restart the counter (v2 calls them activations; a broker mode without them leaves the session key and counter rules).
    const removeJoins = supportsEvent(client.api, 'join') ? client.onEvent('join', undefined, (d) => t.observeJoin(d.deviceId)) : () => undefined
    const onStatus = (s: ConnectionStatus) => t.setConnected(s.state === 'connected')
    client.on('status', onStatus)
    t.setConnected(client.connected)
    return () => {
      removeUplinks()
      removeJoins()
      client.off('status', onStatus)
    }
  }
  tracker = new HealthTracker({
    ...options,
    onInUse(inUse) {
      if (graceTimer) clearTimeout(graceTimer)
      graceTimer = undefined
      if (inUse) {
        if (!release) release = listen()
        return
      }
      graceTimer = setTimeout(() => {
        graceTimer = undefined
        release?.()
        release = undefined
      }, RELEASE_GRACE_MS)
      graceTimer.unref?.()
    },
  })
  trackers.set(client, tracker)
  return tracker
}

/**
 * True when the client subscribes in a shared group (scale-out): it then sees only its share of the
 * uplinks, so silence and loss cannot be judged from them.
 */
export function seesSharedTraffic(client: MQTTClient): boolean {
  return client.subscribedFilters.some((f) => f.startsWith('$share/'))
}

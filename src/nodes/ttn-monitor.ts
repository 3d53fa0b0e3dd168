/**
 * ttn-monitor: device health of one application (or one device) as flow messages: device/silent,
 * device/back, device/summary, app/quiet, app/traffic. The records live in the SDK's tracker beside
 * the application's client, so they survive redeploys of this node; a full deploy, which replaces the
 * client, hands them to the new client's tracker.
 */
import type { MQTTClient } from '../sdk/client'
import { type HealthEvent, type HealthTracker, type HealthWatch, healthTrackerFor, seesSharedTraffic } from '../sdk/health'
import { appStatus, seconds } from './health-shared'
import type { NodeInstance, NodeMessage, NodeRedRuntime, NodeStatus } from './red'
import type { TtnAppNode } from './ttn-app'

export interface TtnMonitorConfig {
  name?: string
  app?: string
  deviceId?: string
  /** Seconds; 0 = learned from each device's interval. */
  silentAfter?: number | string
  /** Seconds; 0 = no summaries. */
  summaryEvery?: number | string
}

/** The tracker each application node's client had last, so a full deploy can hand its records on. */
const lastTrackers = new Map<string, { client: MQTTClient; tracker: HealthTracker }>()

/** The same application on the same server: records of one may continue in the other. */
function sameApplication(a: MQTTClient, b: MQTTClient): boolean {
  return a.username === b.username && a.host === b.host && a.port === b.port && a.api === b.api
}

/**
 * The client's tracker, continuing the records of the application node's previous client (a full
 * deploy replaced it), if that one served the same application.
 */
function trackerFor(appNodeId: string, client: MQTTClient): HealthTracker {
  const tracker = healthTrackerFor(client)
  const last = lastTrackers.get(appNodeId)
  if (last && last.client !== client && sameApplication(last.client, client)) tracker.adopt(last.tracker)
  lastTrackers.set(appNodeId, { client, tracker })
  return tracker
}

export function registerTtnMonitor(RED: NodeRedRuntime): void {
  function TtnMonitor(this: NodeInstance, config: TtnMonitorConfig): void {
    RED.nodes.createNode(this, config)
    const node = this
    const fail = (text: string, status: string) => {
      node.status({ fill: 'red', shape: 'ring', text: status })
      node.error(text)
    }
    const app = config.app ? (RED.nodes.getNode(config.app) as TtnAppNode | null) : null
    const silentAfter = seconds(config.silentAfter, 0)
    const summaryEvery = seconds(config.summaryEvery, 0)
    if (!app) {
      fail(RED._('ttn-health.errors.noApp'), 'ttn-health.status.noApp')
      return
    }
    if (silentAfter === undefined || summaryEvery === undefined) {
      const which = silentAfter === undefined ? 'silentAfter' : 'summaryEvery'
      fail(RED._(`ttn-health.errors.${which}`, { value: String(config[which]) }), 'ttn-health.status.configError')
      return
    }
    const client = app.client
    const deviceId = config.deviceId?.trim() || undefined

    let watch: HealthWatch | undefined
    let connection: NodeStatus | Record<string, never> = {}
    let shared = false
    let shown = ''
    const showStatus = () => {
      if (shared) return node.status({ fill: 'red', shape: 'ring', text: 'ttn-health.status.shared' })
      if (!watch || (connection as NodeStatus).fill !== 'green') {
        shown = ''
        return node.status(appStatus(RED, connection))
      }
      const silent = watch.silentCount
      const devices = watch.deviceCount
      const key = `${silent}/${devices}`
      if (key === shown) return
      shown = key
      if (silent > 0) node.status({ fill: 'yellow', shape: 'dot', text: RED._('ttn-health.status.silent', { silent, devices }) })
      else node.status({ fill: 'green', shape: 'dot', text: RED._('ttn-health.status.watching', { devices }) })
    }
    // New devices appear without an event: the count is refreshed now and then (only sent when it changed).
    const refresh = setInterval(showStatus, 2000)
    refresh.unref?.()
    // Registered with the application like every node that uses it, through a stand-in whose status
    // shows the connection only while it is not up: once it is, this node shows the devices.
    const user: NodeInstance = Object.assign(Object.create(node) as NodeInstance, {
      status(s: NodeStatus | Record<string, never>) {
        connection = s
        showStatus()
      },
    })

    if (client) {
      const tracker = trackerFor(app.id, client)
      watch = tracker.watch(
        { key: node.id, deviceId, silentAfterMs: silentAfter * 1000, summaryEveryMs: summaryEvery * 1000 },
        (e: HealthEvent) => {
          node.send({ topic: e.event, event: e.event, deviceId: e.deviceId, payload: e.payload })
          if (e.event !== 'device/summary') showStatus()
        },
      )
    }
    // In a shared subscription group this instance sees only its share of the uplinks: silence and loss
    // would be false alarms, so the monitor says so and stays quiet.
    if (client && seesSharedTraffic(client)) {
      shared = true
      watch?.close()
      watch = undefined
      node.warn(RED._('ttn-health.errors.shared'))
    }
    app.register(user)

    node.on('input', (msg, send, done) => {
      const action = msg.action === undefined ? 'get' : msg.action
      if (action !== 'get') {
        done(new Error(RED._('ttn-health.errors.action', { action: String(action) })))
        return
      }
      if (!watch) {
        done(new Error(shared ? RED._('ttn-health.errors.shared') : (app.configError ?? RED._('ttn-health.errors.noApp'))))
        return
      }
      const one = typeof msg.deviceId === 'string' && msg.deviceId.trim() !== '' ? msg.deviceId.trim() : undefined
      const out: NodeMessage = msg
      out.event = 'records'
      out.payload = one ? (watch.record(one) ?? null) : watch.records()
      send(out)
      done()
    })

    node.on('close', (removed, done) => {
      clearInterval(refresh)
      // Redeployed: the watch's state stays with the tracker for the node that replaces this one.
      watch?.close(removed)
      watch = undefined
      app.deregister(user, done)
    })
  }
  RED.nodes.registerType('ttn-monitor', TtnMonitor as never)
}

/** ttn-event: joins, downlink fates, locations and the other server events, as flow messages. */
import { EVENT_NAMES, type EventName } from '../sdk/topics'
import { findApp } from './app-ref'
import type { NodeInstance, NodeRedRuntime } from './red'

export interface TtnEventConfig {
  name?: string
  app?: string
  deviceId?: string
  event?: string
}

export function registerTtnEvent(RED: NodeRedRuntime): void {
  function TtnEvent(this: NodeInstance, config: TtnEventConfig): void {
    RED.nodes.createNode(this, config)
    const node = this
    const app = findApp(RED, node, config.app)
    if (!app) {
      return
    }
    const event = (config.event || 'all') as EventName | 'all'
    if (event !== 'all' && !EVENT_NAMES.includes(event)) {
      node.status({ fill: 'red', shape: 'ring', text: 'ttn.status.configError' })
      node.error(`Unknown event "${event}": choose one of ${EVENT_NAMES.join(', ')} or "all".`)
      return
    }
    let remove: () => void
    try {
      remove = app.onEvent(event, config.deviceId, (d) => {
        // The first node to take a delivery gets the parsed message, every other node a copy.
        const message = d.take()
        node.send({ topic: d.topic, event: d.event, deviceId: d.deviceId, payload: d.bodyIn(message), ttn: message })
      })
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: 'ttn.status.configError' })
      node.error((err as Error).message)
      return
    }
    app.register(node)
    node.on('close', (_removed, done) => {
      remove()
      app.deregister(node, done)
    })
  }
  RED.nodes.registerType('ttn-event', TtnEvent as never)
}

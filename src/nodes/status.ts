/** Node status for a connection state: one place, so every node shows the same thing. */
import type { ConnectionStatus } from '../sdk/client'
import type { NodeRedRuntime, NodeStatus } from './red'

export function statusFor(RED: NodeRedRuntime, s: ConnectionStatus): NodeStatus | Record<string, never> {
  switch (s.state) {
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', text: 'ttn.status.connecting' }
    case 'connected':
      if (s.recovering !== undefined) return { fill: 'blue', shape: 'dot', text: RED._('ttn.status.recovering', { count: s.recovering }) }
      return { fill: 'green', shape: 'dot', text: 'ttn.status.connected' }
    case 'reconnecting':
      return {
        fill: 'yellow',
        shape: 'ring',
        text: RED._('ttn.status.reconnecting', { attempt: s.attempt ?? 1, delay: Math.round((s.delayMs ?? 0) / 100) / 10 }),
      }
    case 'not-authorized':
      return { fill: 'red', shape: 'ring', text: 'ttn.status.notAuthorized' }
    case 'disconnected':
      return { fill: 'red', shape: 'ring', text: 'ttn.status.disconnected' }
    default:
      return {}
  }
}

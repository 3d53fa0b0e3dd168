/** What Node-RED loads through nodes/ttn-health.js: the health node set (ttn-monitor, ttn-gateway). */
import type { NodeRedRuntime } from './red'
import { registerTtnGateway } from './ttn-gateway'
import { registerTtnMonitor } from './ttn-monitor'

export default function register(RED: NodeRedRuntime): void {
  registerTtnMonitor(RED)
  registerTtnGateway(RED)
}

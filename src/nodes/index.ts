/** What Node-RED loads (through nodes/ttn.js): registers the four node types of the "ttn" set. */
import { registerAdminEndpoints } from './admin'
import type { NodeRedRuntime } from './red'
import { registerTtnApp } from './ttn-app'
import { registerTtnDownlink } from './ttn-downlink'
import { registerTtnEvent } from './ttn-event'
import { registerTtnUplink } from './ttn-uplink'

export default function register(RED: NodeRedRuntime): void {
  registerTtnApp(RED)
  registerTtnUplink(RED)
  registerTtnDownlink(RED)
  registerTtnEvent(RED)
  registerAdminEndpoints(RED)
}

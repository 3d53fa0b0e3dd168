/** How a consumer node finds its ttn-app config node, and what it shows when there is none. */
import type { NodeInstance, NodeRedRuntime } from './red'
import type { TtnAppNode } from './ttn-app'

export function findApp(RED: NodeRedRuntime, node: NodeInstance, appId: string | undefined): TtnAppNode | undefined {
  const app = appId ? (RED.nodes.getNode(appId) as TtnAppNode | null) : null
  if (app) return app
  node.status({ fill: 'red', shape: 'ring', text: 'ttn.status.noApp' })
  node.error(RED._('ttn.errors.noApp'))
  return undefined
}

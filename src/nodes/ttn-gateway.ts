/**
 * ttn-gateway: the connection state of gateways, polled from The Things Stack's Gateway Server by the
 * SDK's GatewayPoller: gateway/online and gateway/offline on changes, gateway/stats on each poll when
 * asked for (and as the answer to an input message), problems as status and one Catch message each.
 */
import { type GatewayProblem, GatewayPoller, type GatewayReport, type PollerStatus } from '../sdk/gateways'
import type { NodeInstance, NodeMessage, NodeRedRuntime, NodeStatus } from './red'
import type { TtnAppNode } from './ttn-app'

export interface TtnGatewayConfig {
  name?: string
  /** The cluster (host or URL)... */
  server?: string
  /** ...or a ttn-app node to take it from. */
  app?: string
  /** Gateway IDs, separated by commas or spaces. */
  gatewayIds?: string
  /** Seconds between polls (default 60, at least 30). */
  interval?: number | string
  /** Send gateway/stats on every poll. */
  stats?: boolean | string
}

/** The status text for a problem, short enough for under a node. */
function problemStatus(RED: NodeRedRuntime, p: GatewayProblem): NodeStatus {
  const retry = Math.round(p.retryInMs / 1000)
  switch (p.kind) {
    case 'forbidden':
      return { fill: 'red', shape: 'ring', text: 'ttn-health.status.gwForbidden' }
    case 'unauthorized':
      return { fill: 'red', shape: 'ring', text: 'ttn-health.status.gwUnauthorized' }
    case 'rate-limited':
      return { fill: 'yellow', shape: 'ring', text: RED._('ttn-health.status.gwRateLimited', { retry }) }
    default:
      return { fill: 'red', shape: 'ring', text: RED._('ttn-health.status.gwUnreachable', { retry }) }
  }
}

export function registerTtnGateway(RED: NodeRedRuntime): void {
  function TtnGateway(this: NodeInstance, config: TtnGatewayConfig): void {
    RED.nodes.createNode(this, config)
    const node = this
    let poller: GatewayPoller
    try {
      let server = config.server?.trim() ?? ''
      if (config.app) {
        const app = RED.nodes.getNode(config.app) as TtnAppNode | null
        if (!app) throw new Error(RED._('ttn-health.errors.noApp'))
        if (!app.client) throw new Error(app.configError ?? RED._('ttn-health.errors.noApp'))
        // The application's cluster, by the same rule as its other HTTP requests (apiUrl, else https://<host>).
        server = app.client.http.base.app
      }
      const interval = config.interval === undefined || config.interval === '' ? 60 : Number(config.interval)
      if (!Number.isFinite(interval) || interval < 30) throw new Error(RED._('ttn-health.errors.interval', { value: String(config.interval) }))
      poller = new GatewayPoller({ server, apiKey: node.credentials?.apiKey ?? '', gatewayIds: config.gatewayIds ?? '', intervalMs: interval * 1000 })
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: 'ttn-health.status.configError' })
      node.error((err as Error).message)
      node.on('input', (_msg, _send, done) => done(err as Error))
      return
    }
    const sendStats = config.stats === true || config.stats === 'true'
    const message = (event: string, r: GatewayReport, base: NodeMessage = {}): NodeMessage => ({ ...base, topic: event, event, gatewayId: r.gatewayId, payload: r })

    poller.on('online', (r: GatewayReport) => node.send(message('gateway/online', r)))
    poller.on('offline', (r: GatewayReport) => node.send(message('gateway/offline', r)))
    if (sendStats) poller.on('stats', (r: GatewayReport) => node.send(message('gateway/stats', r)))
    // One Catch message per distinct problem; the poller does not repeat one while it lasts.
    poller.on('problem', (p: GatewayProblem) => node.error(p.message, { topic: 'gateway/error', event: 'gateway/error', gatewayId: p.gatewayId, payload: p }))
    poller.on('resolved', () => node.log(RED._('ttn-health.log.resolved')))
    poller.on('status', (s: PollerStatus) => {
      if (s.problem) node.status(problemStatus(RED, s.problem))
      else node.status({ fill: s.offline > 0 ? 'yellow' : 'green', shape: 'dot', text: RED._('ttn-health.status.gateways', { online: s.online, offline: s.offline }) })
    })
    node.status({ fill: 'yellow', shape: 'ring', text: 'ttn-health.status.polling' })
    poller.start()

    // An input message polls now and answers with every gateway's report (gateway/stats), carrying the input's properties.
    node.on('input', (msg, send, done) => {
      if (msg.action !== undefined && msg.action !== 'poll') {
        done(new Error(RED._('ttn-health.errors.gatewayAction', { action: String(msg.action) })))
        return
      }
      poller.pollNow().then(() => {
        const { _msgid, ...rest } = msg
        const out = poller.latest.map((r) => message('gateway/stats', r, rest))
        if (out.length > 0) send([out] as never)
        done()
      }, done)
    })

    node.on('close', (_removed, done) => {
      poller.stop()
      poller.removeAllListeners()
      done()
    })
  }
  RED.nodes.registerType('ttn-gateway', TtnGateway as never, { credentials: { apiKey: { type: 'password' } } })
}

/**
 * Benchmark process: a plain aedes broker on 127.0.0.1 (free port, no authentication, no rules), the
 * common ground for our nodes and Node-RED's mqtt nodes. It reports who is connected and subscribed,
 * and measures the arrival rate of downlinks (publishes on .../down/push|replace).
 */
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { Aedes } from 'aedes'
import { type BrokerState, serve, tell } from './ipc'
import { Probe } from './probe'

const DOWNLINK_TOPIC = /\/down\/(push|replace)$/

async function main(): Promise<void> {
  const aedes = await Aedes.createBroker()
  const clients = new Set<string>()
  const subscriptions: BrokerState['subscriptions'] = []
  let downlinks: Probe | undefined

  aedes.on('client', (c) => clients.add(c.id))
  aedes.on('clientDisconnect', (c) => {
    clients.delete(c.id)
    for (let i = subscriptions.length - 1; i >= 0; i--)
      if (subscriptions[i].clientId === c.id) subscriptions.splice(i, 1)
  })
  aedes.on('subscribe', (subs, c) => {
    for (const s of subs) subscriptions.push({ clientId: c.id, topic: s.topic })
  })
  aedes.on('publish', (packet, c) => {
    if (downlinks && c && DOWNLINK_TOPIC.test(packet.topic)) downlinks.arrive()
  })

  const sockets = new Set<Socket>()
  // TCP_NODELAY, as production brokers set it: without it Nagle's algorithm holds small writes back
  // and the latency scenario would measure the kernel's delayed ACKs.
  const server = createServer({ noDelay: true }, (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
    aedes.handle(s)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))

  serve(
    (msg) => {
      if (msg.type === 'state')
        tell({ type: 'state', state: { clients: [...clients], subscriptions: [...subscriptions] } })
      else if (msg.type === 'arm') {
        downlinks = new Probe(msg.probe, (result) => tell({ type: 'result', result }))
        tell({ type: 'armed' })
      }
    },
    async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      server.close()
    },
  )
  tell({ type: 'ready', port: (server.address() as AddressInfo).port })
}

main().catch((err: Error) => {
  tell({ type: 'error', message: err.stack ?? err.message })
  process.exit(1)
})

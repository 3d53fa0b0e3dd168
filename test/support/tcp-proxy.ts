/**
 * A TCP proxy between a client and a broker on 127.0.0.1, to make the network misbehave for real:
 * cut every connection, or go silent (keep sockets open, forward nothing) like a dead link.
 */
import net from 'node:net'

export class TcpProxy {
  private readonly sockets = new Set<net.Socket>()
  private silent = false
  connections = 0

  private constructor(
    private readonly server: net.Server,
    private targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = net.createServer()
    const proxy = new TcpProxy(server, targetPort)
    server.on('connection', (client) => proxy.accept(client))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port
  }

  /** Point new connections at another broker port (after a restart on a new port). */
  retarget(port: number): void {
    this.targetPort = port
  }

  /** Accept connections but forward nothing, in either direction. */
  goSilent(): void {
    this.silent = true
  }

  resume(): void {
    this.silent = false
  }

  /** Drop every open connection at once. */
  cutAll(): void {
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
  }

  async stop(): Promise<void> {
    this.cutAll()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: net.Socket): void {
    this.connections++
    this.sockets.add(client)
    client.on('error', () => undefined)
    client.on('close', () => this.sockets.delete(client))
    const upstream = net.connect(this.targetPort, '127.0.0.1')
    this.sockets.add(upstream)
    upstream.on('error', () => client.destroy())
    upstream.on('close', () => {
      this.sockets.delete(upstream)
      client.destroy()
    })
    client.on('close', () => upstream.destroy())
    client.on('data', (chunk) => {
      if (!this.silent) upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      if (!this.silent) client.write(chunk)
    })
  }
}

/** A server that accepts TCP connections and never says a word. */
export async function startSilentServer(): Promise<{ port: number; connections: () => number; stop: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  let count = 0
  const server = net.createServer((s) => {
    count++
    sockets.add(s)
    s.on('error', () => undefined)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * What every HTTP stand-in of the simulator shares: a node:http server on a loopback address, the URL
 * clients are given, and a stop that never waits for keep-alive connections (each socket is tracked
 * and destroyed), so a test or the demo ends at once.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export class LoopbackServer {
  readonly server: Server
  private readonly sockets = new Set<Socket>()
  private listeningPort = 0
  private stopping: Promise<void> | undefined

  /** `host` defaults to 127.0.0.1; the stand-ins serve nothing beyond this machine. */
  constructor(
    handler: RequestListener,
    readonly host = '127.0.0.1',
  ) {
    this.server = createServer(handler)
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s)
      s.once('close', () => this.sockets.delete(s))
    })
  }

  /** Start listening (port 0: a free one); resolves once it accepts requests. */
  listen(port = 0): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, this.host, () => {
        this.server.off('error', reject)
        this.listeningPort = (this.server.address() as AddressInfo).port
        resolve()
      })
    })
  }

  get port(): number {
    return this.listeningPort
  }

  /** http://127.0.0.1:PORT (an IPv6 host in brackets). */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host
    return `http://${host}:${this.listeningPort}`
  }

  /** Close the listener and every connection. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      for (const s of this.sockets) s.destroy()
    })
    return this.stopping
  }
}

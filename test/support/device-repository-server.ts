/**
 * A stand-in for the Device Repository's public raw files (raw.githubusercontent.com) on 127.0.0.1:
 * serves a folder under /TheThingsNetwork/lorawan-devices/master/, answers 404 for what is not
 * there, and counts the requests per path so tests can see what was fetched and what came from cache.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, normalize } from 'node:path'

const PREFIX = '/TheThingsNetwork/lorawan-devices/master/'

export class RepositoryServer {
  readonly requests = new Map<string, number>()
  private constructor(
    private readonly server: Server,
    readonly baseUrl: string,
  ) {}

  static async start(folder: string): Promise<RepositoryServer> {
    let self: RepositoryServer | undefined
    const server = createServer(async (req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
      if (self)
        self.requests.set(path.slice(PREFIX.length), (self.requests.get(path.slice(PREFIX.length)) ?? 0) + 1)
      const rel = normalize(path.slice(PREFIX.length))
      if (!path.startsWith(PREFIX) || rel.startsWith('..')) {
        res.writeHead(404).end('404: Not Found')
        return
      }
      try {
        const body = await readFile(join(folder, rel))
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(body)
      } catch {
        res.writeHead(404).end('404: Not Found')
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    self = new RepositoryServer(server, `http://127.0.0.1:${port}${PREFIX}`)
    return self
  }

  total(): number {
    let n = 0
    for (const v of this.requests.values()) n += v
    return n
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }
}

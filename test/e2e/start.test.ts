/**
 * `npm start` as a newcomer runs it: the script starts Node-RED and the simulator, prints the editor
 * URL, uplinks reach the debug sidebar, an inject button sends a downlink whose fate shows up, and
 * SIGINT (Ctrl-C) stops every process. Also: a second start keeps the user's flow, a real application
 * (here: a TtsBroker standing in for it) is used without a simulator, a busy port is reported.
 * Each run uses a temporary user directory instead of the repository's .demo/.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { TtsBroker } from '../../src/simulator'
import { demoDevices } from '../../src/simulator/devices'
import {
  alive,
  childPids,
  EditorComms,
  freePort,
  REPO,
  removeDir,
  tempDir,
} from '../support/node-red-process'
import { findKeys } from '../support/secret-guard'
import { waitFor } from '../support/wait'

/** What the demo's credentials file must hold: a reference to the environment, never a key. */
const KEY_REFERENCE = { 'ex-ttn-app': { apiKey: '$' + '{TTN_API_KEY}' } }
/** Against the simulator the gateway node of tab 04 has its key by reference too. */
const SIM_KEY_REFERENCE = { ...KEY_REFERENCE, 'ex4-gateway': { apiKey: '$' + '{TTN_GATEWAY_KEY}' } }

const START = join(REPO, 'dist', 'scripts', 'start.js')

/** `node dist/scripts/start.js` (what `npm start` runs after building) with its output captured. */
class StartScript {
  output = ''
  readonly exited: Promise<number | null>
  private readonly child: ChildProcess

  constructor(args: string[], env: Record<string, string> = {}) {
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('TTN_') && k !== 'PORT'),
    )
    this.child = spawn(process.execPath, [START, ...args], {
      env: { ...clean, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const take = (b: Buffer) => {
      this.output += b.toString('utf8')
    }
    this.child.stdout?.on('data', take)
    this.child.stderr?.on('data', take)
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
  }

  get pid(): number {
    return this.child.pid!
  }

  /** Resolves with the first match of `re` in the output; fails with the output after `timeoutMs`. */
  async waitFor(re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const m = this.output.match(re)
      if (m) return m
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(
          `npm start never printed ${re} (exit code ${this.child.exitCode}). Output:\n${this.output.slice(-3000)}`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** SIGINT, like Ctrl-C; resolves with the exit code, or kills after `timeoutMs` and fails. */
  async interrupt(timeoutMs = 20_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode
    this.child.kill('SIGINT')
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.kill()
        reject(
          new Error(
            `npm start did not exit within ${timeoutMs} ms of SIGINT. Output:\n${this.output.slice(-3000)}`,
          ),
        )
      }, timeoutMs)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** For after hooks: the script and whatever it started, by PID. */
  kill(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    for (const pid of childPids(this.pid)) process.kill(pid, 'SIGKILL')
    this.child.kill('SIGKILL')
  }
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    headers: { Accept: 'application/json' },
    signal: AbortSignal.timeout(10_000),
  })
  return { status: res.status, text: await res.text() }
}

function portRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })
}

type FlowNode = Record<string, unknown> & { id: string; type: string }

describe('npm start', function () {
  this.timeout(120_000)
  let userDir: string
  const scripts: StartScript[] = []
  const sockets: EditorComms[] = []
  const start = (args: string[], env?: Record<string, string>) => {
    const s = new StartScript(args, env)
    scripts.push(s)
    return s
  }

  before(() => {
    userDir = tempDir('ttn-start-')
  })
  after(() => {
    for (const c of sockets) c.close()
    for (const s of scripts) s.kill()
    removeDir(userDir)
  })

  it("starts Node-RED with the example flows against the simulator: uplinks in the debug sidebar, a downlink's fate after an inject button; Ctrl-C stops every process", async () => {
    const port = await freePort()
    const demo = start(['--user-dir', userDir, '--port', String(port), '--interval', '0.5'])
    const [, url] = await demo.waitFor(/Editor: +(http:\/\/\S+)/)
    assert.equal(url, `http://127.0.0.1:${port}/`)
    const [, simPort] = await demo.waitFor(/simulated The Things Stack \(mqtt:\/\/127\.0\.0\.1:(\d+)\)/)

    const editor = await get(url)
    assert.equal(editor.status, 200)
    assert.match(editor.text, /<title>Node-RED<\/title>/)
    const flows = JSON.parse((await get(`${url}flows`)).text) as FlowNode[]
    assert.deepEqual(
      flows.filter((n) => n.type === 'tab').map((n) => n.label),
      // One tab per example flow, in file order.
      readdirSync(join(REPO, 'examples'))
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => f.replace(/\.json$/, '')),
    )
    const app = flows.find((n) => n.type === 'ttn-app')!
    assert.deepEqual(
      [app.appId, app.tenant, app.server, app.tls],
      ['demo-app', 'ttn', `127.0.0.1:${simPort}`, false],
    )
    // Missed uplinks are recovered from the Storage Integration stand-in, which wants the key.
    const [, storageUrl] = await demo.waitFor(/Storage Integration stand-in \((http:\/\/127\.0\.0\.1:\d+)\)/)
    assert.deepEqual([app.recover, app.recoverUrl], [true, storageUrl])
    // The HTTP API stand-in (device lists, Check connection, device details) serves the demo's devices.
    const [, apiUrl] = await demo.waitFor(/HTTP API: +the API stand-in \((http:\/\/127\.0\.0\.1:\d+)\)/)
    assert.equal(app.apiUrl, apiUrl)
    const listed = await get(`${url}ttn-app/${app.id}/devices`)
    assert.deepEqual(
      (JSON.parse(listed.text) as { devices: { id: string }[] }).devices.map((d) => d.id).sort(),
      demoDevices()
        .map((d) => d.deviceId)
        .sort(),
    )
    assert.equal(
      (await get(`${storageUrl}/api/v3/as/applications/demo-app/packages/storage/uplink_message`)).status,
      401,
    )

    const comms = await EditorComms.connect(url)
    sockets.push(comms)
    await waitFor(
      // "connected", or "connected · last hh:mm" once the simulated devices have sent an uplink.
      () => comms.statuses('ex1-uplink-all').some((s) => s === 'ttn.status.connected' || /^connected · last \d\d:\d\d$/.test(s)),
      10_000,
      'the uplink node connected',
    )
    // Tab 04: the gateway node polls the Gateway Server stand-in, the monitor counts the devices.
    await waitFor(() => comms.statuses('ex4-gateway').includes('2 online, 0 offline'), 10_000, 'both gateways online')
    const deviceCount = demoDevices().length
    await waitFor(() => comms.statuses('ex4-monitor').includes(`${deviceCount} devices, none silent`), 10_000, `the monitor sees the ${deviceCount} devices`)
    // Decoded by the application (my-device), and bytes decoded by the example's function node (other-device).
    await waitFor(
      () => comms.debug('ex1-debug-payload').some((d) => String(d.topic).endsWith('/my-device/up')),
      10_000,
      'an uplink of my-device in the sidebar',
    )
    await waitFor(
      () => comms.debug('ex1-debug-decoded').some((d) => String(d.topic).endsWith('/other-device/up')),
      10_000,
      'other-device decoded by the function node',
    )
    const mine = comms.debug('ex1-debug-payload').find((d) => String(d.topic).endsWith('/my-device/up'))!
    assert.deepEqual(Object.keys(JSON.parse(String(mine.msg))), ['temperature', 'humidity', 'battery'])
    const other = comms.debug('ex1-debug-decoded').find((d) => String(d.topic).endsWith('/other-device/up'))!
    assert.equal(typeof (JSON.parse(String(other.msg)) as { temperature: unknown }).temperature, 'number')

    // The "confirmed" button: queued, then sent and acknowledged, as the sidebar and the node status show.
    assert.equal((await fetch(`${url}inject/demo-inject-confirmed`, { method: 'POST' })).status, 200)
    const outcomes = () =>
      comms.debug('ex2-debug-outcome').map((d) => (JSON.parse(String(d.msg)) as { status: string }).status)
    await waitFor(() => outcomes().join() === 'queued,sent,ack', 15_000, 'queued, sent, ack in the sidebar')
    assert.deepEqual(comms.statuses('ex2-debug-outcome').slice(-3), ['queued', 'sent', 'ack'])
    // The "too long" button: refused by the server.
    assert.equal((await fetch(`${url}inject/demo-inject-too-long`, { method: 'POST' })).status, 200)
    await waitFor(() => outcomes().includes('failed'), 10_000, 'failed in the sidebar')
    await waitFor(() => comms.debug('ex2-debug-error').length === 1, 5000, 'the error at the Catch node')
    // The retry button: front-door misses the first attempt (nack), the retry is acknowledged.
    assert.equal((await fetch(`${url}inject/demo-inject-retry`, { method: 'POST' })).status, 200)
    await waitFor(() => outcomes().join().endsWith('nack,queued,sent,ack'), 20_000, 'nack, then the retry acknowledged')
    // The list button: the queue of my-device over the HTTP API stand-in.
    assert.equal((await fetch(`${url}inject/ex2-inject-list`, { method: 'POST' })).status, 200)
    await waitFor(() => comms.debug('ex2-debug-queue').length === 1, 10_000, 'the queue in the sidebar')

    // The key only ever exists in the environment of the Node-RED process.
    assert.deepEqual(JSON.parse(readFileSync(join(userDir, 'flows_cred.json'), 'utf8')), SIM_KEY_REFERENCE)
    assert.deepEqual(findKeys(readFileSync(join(userDir, 'flows.json'), 'utf8')), [])

    // A change made in the editor, to be kept by the next start.
    const rev = JSON.parse(
      await fetch(`${url}flows`, { headers: { 'Node-RED-API-Version': 'v2' } }).then((r) => r.text()),
    ) as { rev: string; flows: FlowNode[] }
    const changed = [
      ...rev.flows,
      {
        id: 'user-comment',
        type: 'comment',
        z: 'demo-tab-1',
        name: 'mine',
        info: '',
        x: 100,
        y: 400,
        wires: [],
      },
    ]
    const deployed = await fetch(`${url}flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2' },
      body: JSON.stringify({ rev: rev.rev, flows: changed }),
    })
    assert.equal(deployed.status, 200)

    const [red] = childPids(demo.pid)
    assert.ok(red && alive(red), 'Node-RED runs as a child process')
    comms.close()
    assert.equal(await demo.interrupt(), 0, 'exit code 0 after Ctrl-C')
    assert.equal(alive(red), false, 'Node-RED has exited')
    assert.ok(await portRefused(Number(simPort)), 'the simulator has stopped')
    assert.ok(await portRefused(Number(new URL(storageUrl).port)), 'the storage stand-in has stopped')
    assert.ok(await portRefused(Number(new URL(apiUrl).port)), 'the HTTP API stand-in has stopped')
    assert.ok(await portRefused(port), 'the editor port is closed')
    assert.match(demo.output, /Stopped\.\n?$/)
    assert.deepEqual(findKeys(demo.output), [], 'no API key in the output')
  })

  it('a second start keeps the flow changed in the editor and points it at the new simulator', async () => {
    const port = await freePort()
    const demo = start(['--user-dir', userDir, '--port', String(port), '--interval', '0.5'])
    const [, url] = await demo.waitFor(/Editor: +(http:\/\/\S+)/)
    const [, simPort] = await demo.waitFor(/simulated The Things Stack \(mqtt:\/\/127\.0\.0\.1:(\d+)\)/)
    const flows = JSON.parse((await get(`${url}flows`)).text) as FlowNode[]
    assert.ok(
      flows.some((n) => n.id === 'user-comment'),
      "the user's node is still there",
    )
    assert.equal(flows.find((n) => n.type === 'ttn-app')!.server, `127.0.0.1:${simPort}`)
    const comms = await EditorComms.connect(url)
    sockets.push(comms)
    await waitFor(() => comms.debug('ex1-debug-payload').length > 0, 10_000, 'uplinks again')
    comms.close()
    assert.equal(await demo.interrupt(), 0)
  })

  it('with TTN_APP_ID and TTN_API_KEY: connects to that application and starts no simulator', async () => {
    const key = 'NNSXS.TESTREALAPP.TESTSECRETKEYFORTHESTARTTEST'
    const broker = await TtsBroker.start({ applications: [{ appId: 'real-app', apiKey: key }] })
    try {
      const dir = join(userDir, 'real')
      const port = await freePort()
      const real = start(['--user-dir', dir, '--device', 'real-device'], {
        PORT: String(port),
        TTN_APP_ID: 'real-app',
        TTN_API_KEY: key,
        TTN_SERVER: `mqtt://127.0.0.1:${broker.port}`,
      })
      const [, url] = await real.waitFor(/Editor: +(http:\/\/\S+)/)
      assert.match(real.output, new RegExp(`Application: real-app on mqtt://127\\.0\\.0\\.1:${broker.port}`))
      assert.doesNotMatch(real.output, /simulated/)
      await waitFor(
        () => broker.connectionCount('real-app') === 1,
        10_000,
        'the flow connected to the application',
      )
      const comms = await EditorComms.connect(url)
      sockets.push(comms)
      await waitFor(
        () =>
          broker
            .clientIds('real-app')
            .some((id) => broker.subscriptionsOf(id).includes('v3/real-app/devices/+/up')),
        10_000,
        'the uplink nodes subscribed',
      )
      await broker.publishUplink('real-app', 'real-device', { decoded_payload: { level: 7 } })
      await waitFor(
        () => comms.debug('ex1-debug-payload').some((d) => d.msg === '{"level":7}'),
        10_000,
        'the uplink in the sidebar',
      )
      // --device: the nodes of the examples that name one device use it.
      // Its debug node shows the uplink counter under itself (not in the sidebar: no duplicate output).
      await waitFor(
        () => comms.statuses('ex1-debug-message').some((t) => /^\d+$/.test(t)),
        5000,
        'the single-device node got it',
      )
      assert.equal(comms.debug('ex1-debug-message').length, 0, 'nothing in the sidebar from the single-device node')
      const flows = JSON.parse((await get(`${url}flows`)).text) as FlowNode[]
      assert.equal(flows.find((n) => n.id === 'ex2-downlink')!.deviceId, 'real-device')
      const app = flows.find((n) => n.type === 'ttn-app')!
      assert.deepEqual([app.recover, app.recoverUrl], [false, ''], 'no storage address left from a demo run')
      comms.close()
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'flows_cred.json'), 'utf8')), KEY_REFERENCE)
      assert.equal(await real.interrupt(), 0)
      assert.equal(real.output.includes(key), false, 'no key in the output')
      await waitFor(() => broker.connectionCount('real-app') === 0, 3000, 'the connection closed')
    } finally {
      await broker.stop()
    }
  })

  it('says so when the port asked for is in use, and when options are wrong', async () => {
    const busy: Server = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    const port = (busy.address() as { port: number }).port
    try {
      const s = start(['--user-dir', join(userDir, 'busy'), '--port', String(port)])
      assert.notEqual(await s.exited, 0)
      assert.match(s.output, new RegExp(`Port ${port} is in use`))
      assert.doesNotMatch(s.output, /Welcome to Node-RED/, 'Node-RED was not started')
    } finally {
      busy.close()
    }
    const noKey = start(['--user-dir', join(userDir, 'nokey'), '--app', 'my-app'])
    assert.equal(await noKey.exited, 2)
    assert.match(noKey.output, /No API key for my-app: set TTN_API_KEY/)
    const badCluster = start(['--app', 'my-app', '--cluster', 'eu2'], { TTN_API_KEY: 'NNSXS.TESTX.TESTY' })
    assert.equal(await badCluster.exited, 2)
    assert.match(badCluster.output, /Unknown cluster "eu2"/)
  })
})

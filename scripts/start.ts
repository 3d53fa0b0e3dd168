/**
 * `npm start`: a real Node-RED with this package and its example flows, connected to a built-in
 * simulated The Things Stack (or to a real application, see start-options.ts). Everything it writes
 * goes to the user directory (.demo/ in the repository by default). Ctrl-C stops Node-RED and the
 * simulators and waits for them.
 */
import { randomBytes } from 'node:crypto'
import { lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs'
import { join, relative } from 'node:path'
import { DeviceSimulator, demoDevices, missEvery, SIM_GATEWAY_IDS } from '../src/simulator/devices'
import { GatewayServerStandIn } from '../src/simulator/gateway-server'
import { StorageStandIn } from '../src/simulator/storage'
import { HttpApiStandIn } from '../src/simulator/http-api'
import { demoRegistry } from '../src/simulator/demo-registry'
import { TtsBroker } from '../src/simulator/tts-broker'
import { type AppTarget, GATEWAY_KEY_ENV, KEY_ENV, prepareFlows } from './demo-flow'
import { freePort, NodeRedProcess, nodeRed4, nodeRed5, portIsFree, REPO } from './node-red-process'
import { parseStartOptions, type StartConfig, USAGE, UsageError } from './start-options'

const PACKAGE_NAME: string = (require(join(REPO, 'package.json')) as { name: string }).name
const SIM_APP = { appId: 'demo-app', tenant: 'ttn' }
/** The simulator's downlink timing: a class A device gets its downlink after its next uplink. */
const AUTO_DELIVER = { sentAfterMs: 2000, ackAfterMs: 1500 }

function say(text: string): void {
  process.stdout.write(`[npm start] ${text}\n`)
}

/** The demo user directory sees this package through a symlink, as `npm install <folder>` would make it. */
function linkPackage(userDir: string): void {
  const modules = join(userDir, 'node_modules')
  const link = join(modules, PACKAGE_NAME)
  mkdirSync(modules, { recursive: true })
  try {
    const stat = lstatSync(link)
    if (!stat.isSymbolicLink()) {
      say(`${link} is an installed copy, not this repository: Node-RED loads that copy.`)
      return
    }
    if (readlinkSync(link) === REPO) return
    rmSync(link)
  } catch {
    // No link yet.
  }
  symlinkSync(REPO, link, 'dir')
}

async function choosePort(config: StartConfig): Promise<number> {
  if (await portIsFree(config.port)) return config.port
  if (config.portExplicit) {
    throw new UsageError(
      `Port ${config.port} is in use (another Node-RED?). Choose another one: PORT=${config.port + 10} npm start`,
    )
  }
  const port = await freePort()
  say(
    `Port ${config.port} is in use (another Node-RED?); using ${port} instead. PORT=<n> npm start chooses one.`,
  )
  return port
}

/** A key that only the simulator knows, made anew on every start and never printed. */
function demoKey(): string {
  const part = (n: number) => randomBytes(n).toString('hex').toUpperCase()
  return `NNSXS.DEMO${part(8)}.${part(24)}`
}

interface Running {
  /** Set while Node-RED starts, so a Ctrl-C during the start still stops it. */
  redStarting?: Promise<NodeRedProcess>
  red?: NodeRedProcess
  broker?: TtsBroker
  storage?: StorageStandIn
  gateways?: GatewayServerStandIn
  gatewayTimer?: NodeJS.Timeout
  /** The HTTP API stand-in (device registry, auth_info, rights, downlink queue), with the Storage routes too. */
  api?: HttpApiStandIn
  devices?: DeviceSimulator
}

/**
 * Tab "04 Device and gateway health": front-door goes quiet for a minute, 90 s in and then every five
 * minutes; the basement gateway goes offline for two and a half minutes, two minutes in and then every eight.
 */
const HEALTH_DEMO = {
  silentDevice: { deviceId: 'front-door', afterMs: 90_000, forMs: 60_000, everyMs: 5 * 60_000 },
  offlineGateway: { gatewayId: 'sim-gateway-basement', afterMs: 2 * 60_000, forMs: 150_000, everyMs: 8 * 60_000 },
}

async function main(): Promise<number> {
  let config: StartConfig
  try {
    config = parseStartOptions(process.argv.slice(2), process.env, REPO)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (config.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }

  const running: Running = {}
  let stopping: Promise<number> | undefined
  const stop = (reason: string, code: number): Promise<number> => {
    if (!stopping) stopping = shutdown(running, reason, code)
    return stopping
  }
  let firstSignalAt: number | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt !== undefined) {
      // One Ctrl-C can arrive twice (from the terminal and forwarded by npm): only a later one forces.
      if (Date.now() - firstSignalAt < 500) return
      say('Stopping now.')
      if (running.red?.pid !== undefined) process.kill(running.red.pid, 'SIGKILL')
      process.exit(130)
    }
    firstSignalAt = Date.now()
    void stop(`${signal}: stopping Node-RED and the simulator (Ctrl-C again to force)`, 0).then((code) =>
      process.exit(code),
    )
  }
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal)

  try {
    const port = await choosePort(config)
    mkdirSync(config.userDir, { recursive: true })
    linkPackage(config.userDir)

    let target: AppTarget
    let apiKey: string
    let gatewayKey = ''
    if (config.application) {
      const a = config.application
      apiKey = a.apiKey
      target = {
        name: `${a.appId} (${a.server})`,
        appId: a.appId,
        tenant: a.tenant,
        server: a.server,
        tls: a.tls,
      }
      if (a.deviceId) target.deviceId = a.deviceId
    } else {
      apiKey = demoKey()
      running.broker = await TtsBroker.start({
        applications: [{ ...SIM_APP, apiKey }],
        autoDeliver: AUTO_DELIVER,
        // The retry button of tab 02: front-door misses every other confirmed downlink.
        missesConfirmed: missEvery(2, ['front-door']),
      })
      // The Storage Integration keeps every uplink, so the flow can recover what it missed while disconnected.
      running.storage = await StorageStandIn.start({
        applications: [{ appId: SIM_APP.appId, apiKey }],
        broker: running.broker,
      })
      // The Gateway Server stand-in for the gateway node of tab 04, with a user key that may read both gateways.
      gatewayKey = demoKey()
      running.gateways = await GatewayServerStandIn.start({
        gateways: [...SIM_GATEWAY_IDS],
        keys: [{ key: gatewayKey, kind: 'user', owner: 'demo-user', gatewayIds: [...SIM_GATEWAY_IDS] }],
      })
      running.api = await HttpApiStandIn.start({
        applications: [{ appId: SIM_APP.appId, devices: demoRegistry(demoDevices()) }],
        keys: [{ key: apiKey, appId: SIM_APP.appId, rights: ['RIGHT_APPLICATION_ALL'], name: 'npm start demo' }],
        broker: running.broker,
        storage: running.storage,
      })
      target = {
        name: `${SIM_APP.appId} (simulator)`,
        ...SIM_APP,
        server: `127.0.0.1:${running.broker.port}`,
        tls: false,
        recoverUrl: running.storage.url,
        // The simulated climate-pro-1 is decoded locally with the codec of this repository's fixture vendor.
        codecRepo: join(REPO, 'test', 'fixtures', 'device-repository'),
        gateways: { server: running.gateways.url, gatewayIds: SIM_GATEWAY_IDS.join(', ') },
        apiUrl: running.api.url,
      }
    }

    const result = prepareFlows(config.userDir, join(REPO, 'examples'), target, config.reset)
    if (result === 'foreign') {
      say(
        `The flows in ${config.userDir} have no demo application node: left as they are. --reset replaces them with the demo flow.`,
      )
    }

    const runtime = config.nodeRed === 5 ? nodeRed5() : nodeRed4()
    say(`Starting ${runtime.label} (user directory ${relative(process.cwd(), config.userDir) || '.'})...`)
    running.redStarting = NodeRedProcess.start({
      runtime,
      userDir: config.userDir,
      port,
      // The credential in flows_cred.json is only the reference ${TTN_API_KEY}; the key itself is here.
      env: { ...process.env, [KEY_ENV]: apiKey, [GATEWAY_KEY_ENV]: gatewayKey },
      settings: { credentialSecret: false },
      onOutput: (text) => process.stdout.write(text),
    })
    running.red = await running.redStarting
    if (stopping) return await stopping
    running.red.exited.then((exit) => {
      if (!stopping)
        void stop(`Node-RED exited by itself (${exit.code ?? exit.signal}): stopping.`, 1).then((code) =>
          process.exit(code),
        )
    })

    if (running.broker) {
      const username = `${SIM_APP.appId}@${SIM_APP.tenant}`
      await waitForConnection(running.broker, username, 15_000)
      if (stopping) return await stopping
      const gs = running.gateways
      running.devices = new DeviceSimulator({
        broker: running.broker,
        username,
        intervalMs: config.intervalMs,
        silences: [HEALTH_DEMO.silentDevice],
        gatewayOnline: (id) => gs?.isConnected(id) ?? true,
        onGatewayUplink: (id) => gs?.uplink(id),
      })
      running.devices.start()
      if (gs) running.gatewayTimer = scheduleGatewayOutage(gs)
    }
    banner(config, running, target)
    return await new Promise<number>(() => undefined)
  } catch (err) {
    const message =
      err instanceof UsageError ? err.message : `npm start failed: ${(err as Error).stack ?? err}`
    process.stderr.write(`${message}\n`)
    return stop('cleaning up', 1)
  }
}

/** The demo gateway goes offline and comes back on HEALTH_DEMO's schedule; the returned timer stops it. */
function scheduleGatewayOutage(gs: GatewayServerStandIn): NodeJS.Timeout {
  const { gatewayId, afterMs, forMs, everyMs } = HEALTH_DEMO.offlineGateway
  const startedAt = Date.now()
  return setInterval(() => {
    const t = Date.now() - startedAt - afterMs
    const down = t >= 0 && t % everyMs < forMs
    if (down && gs.isConnected(gatewayId)) gs.disconnect(gatewayId)
    else if (!down && !gs.isConnected(gatewayId)) gs.connect(gatewayId)
  }, 1000)
}

/** The flow connects a moment after Node-RED is up; devices start once someone listens. */
async function waitForConnection(broker: TtsBroker, username: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (broker.connectionCount(username) === 0) {
    if (Date.now() > deadline) {
      say(
        "The demo flow has not connected to the simulator yet: the devices start anyway. Check the ttn nodes' status in the editor.",
      )
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  // Let the subscriptions that follow the CONNACK settle, so the first joins are seen.
  await new Promise((resolve) => setTimeout(resolve, 300))
}

function banner(config: StartConfig, running: Running, target: AppTarget): void {
  const url = running.red?.url ?? ''
  const lines = [
    '',
    `Node-RED is running with ${PACKAGE_NAME} and its example flows.`,
    `  Editor:      ${url}`,
  ]
  if (running.broker) {
    lines.push(
      `  Application: ${SIM_APP.appId}@${SIM_APP.tenant} on the built-in simulated The Things Stack (${running.broker.url})`,
      `  Storage:     the Storage Integration stand-in (${running.storage?.url}) for recovering missed uplinks`,
      `  Gateways:    ${SIM_GATEWAY_IDS.join(', ')} on the Gateway Server stand-in (${running.gateways?.url})`,
      `  HTTP API:    the API stand-in (${running.api?.url}): device lists, Check connection, device details`,
      `  Devices:     ${demoDevices()
        .map((d) => d.deviceId)
        .join(', ')}: a join, then an uplink every ${config.intervalMs / 1000} s or so`,
    )
  } else {
    lines.push(`  Application: ${target.appId} on ${target.server}`)
  }
  lines.push(
    '',
    'Open the editor and the debug sidebar (the bug icon at the top right): uplinks arrive there.',
    'On the tab "02 Send a downlink and follow its outcome", press an inject button: the outcome',
    '(queued, sent, ack, or failed) appears in the sidebar and under the "outcome" node.',
    'On the tab "04 Device and gateway health", front-door goes silent 90 s in (for a minute),',
    'and sim-gateway-basement goes offline 2 minutes in (for two and a half).',
    'Ctrl-C stops everything.',
    '',
  )
  process.stdout.write(`${lines.join('\n')}\n`)
}

/** Devices first, then Node-RED (it closes its connection), then the simulators; resolves with the exit code. */
async function shutdown(running: Running, reason: string, code: number): Promise<number> {
  say(reason)
  running.devices?.stop()
  if (running.gatewayTimer) clearInterval(running.gatewayTimer)
  const red = running.red ?? (await running.redStarting?.catch(() => undefined))
  if (red) {
    const exit = await red.stop('SIGTERM', 15_000)
    if (exit.signal === 'SIGKILL') say('Node-RED did not stop within 15 s and was killed.')
  }
  await running.api?.stop()
  await running.storage?.stop()
  await running.gateways?.stop()
  await running.broker?.stop()
  say('Stopped.')
  return code
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err}\n`)
    process.exit(1)
  },
)

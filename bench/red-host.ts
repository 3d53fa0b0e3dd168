/**
 * Benchmark process: a real Node-RED runtime embedded in this process (require('node-red'),
 * RED.init, RED.start), without editor or HTTP server. Loads the benchmark's nodes and, unless told
 * otherwise, this package's nodes (nodes/ttn.js, as Node-RED loads them from a nodes directory);
 * deploys the flows the orchestrator sends; measures arrivals at bench-count and its own memory.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { armProbe, ceilingClients, control, driven, type MessageEmitter } from './control'
import { APP_NODE, BROKER_NODE, CEILING_NODE } from './flows'
import { childConfig, type FlowNode, type InjectSource, serve, tell } from './ipc'
import { uplinkTemplates } from './message'
import { editorHtml } from './nodes'
import type { ProbeConfig } from './probe'
import { WindowProfiler } from './window-profiler'

export interface RedHostConfig {
  /** Load this package's nodes (false: the "without our package" baseline). */
  withPackage: boolean
  /** Write a CPU profile of the measurement window (or of go → stop when nothing is probed here) to this file. */
  profile?: string
}

/** The slice of node-red's embedding API used here (the package ships no types). */
interface EmbeddedRed {
  init(settings: Record<string, unknown>): void
  start(): Promise<void>
  stop(): Promise<void>
  nodes: { getNode(id: string): unknown }
  runtime: {
    flows: { setFlows(opts: { flows: { flows: FlowNode[] }; deploymentType: 'full' }): Promise<unknown> }
    events: { once(event: 'flows:started', fn: () => void): void }
  }
}

const REPO = join(__dirname, '..', '..')
const config = childConfig<RedHostConfig>()
const userDir = mkdtempSync(join(tmpdir(), 'ttn-bench-red-'))
const benchNodesDir = join(userDir, 'bench-nodes')
mkdirSync(benchNodesDir)
writeFileSync(
  join(benchNodesDir, 'bench.js'),
  `module.exports = require(${JSON.stringify(join(__dirname, 'nodes.js'))}).default\n`,
)
writeFileSync(join(benchNodesDir, 'bench.html'), editorHtml())

const RED = require('node-red') as EmbeddedRed

const gc = (globalThis as { gc?: () => void }).gc
const profiler = config.profile ? new WindowProfiler(config.profile) : undefined
/** Whether arrivals are measured here (uplinks) or elsewhere (downlinks, at the broker). */
let probed = false
let cpuAtGo: NodeJS.CpuUsage | undefined

/** Arms the probe at bench-count; its result goes to the orchestrator. */
function arm(probe: ProbeConfig, onDone?: () => void): void {
  probed = true
  armProbe(
    probe,
    (result) => {
      onDone?.()
      const reply = () => tell({ type: 'result', result })
      profiler ? profiler.stop().then(reply, reply) : reply()
    },
    () => profiler?.start(),
  )
}

/** Uplinks fed to the MQTT.js client per event-loop turn, so Node-RED's deliveries interleave. */
const INJECT_BATCH = 100

/** The MQTT.js client (it emits 'message') that feeds `source` in the deployed flow. */
function injectionTarget(source: InjectSource): MessageEmitter {
  let target: unknown
  if (source === 'ttn') {
    // MQTTClient keeps its connection (Session, holding the MQTT.js client) private; the benchmark reaches in on purpose.
    target = (RED.nodes.getNode(APP_NODE) as { client?: { session?: { mqtt?: unknown } } } | null)?.client
      ?.session?.mqtt
  } else if (source === 'mqtt-in') {
    target = (RED.nodes.getNode(BROKER_NODE) as { client?: unknown } | null)?.client
  } else {
    target = ceilingClients.get(CEILING_NODE)
  }
  // MQTT.js mixes EventEmitter in rather than extending it: check for emit().
  if (typeof (target as Partial<MessageEmitter> | undefined)?.emit !== 'function') {
    throw new Error(
      `No connected MQTT client to inject into for "${source}": deploy its flow and wait for its subscription first.`,
    )
  }
  return target as MessageEmitter
}

/**
 * Emits uplinks on the source's MQTT.js client as if they had come from the broker, as fast as the
 * flow takes them, until the probe at bench-count has its result: Node-RED's side alone, without
 * the broker, the publisher and MQTT.js's packet parsing competing for the CPU.
 */
function inject(probe: ProbeConfig, devices: number, source: InjectSource): void {
  const target = injectionTarget(source)
  const templates = uplinkTemplates(devices)
  let running = true
  let i = 0
  arm(probe, () => {
    running = false
  })
  const pump = () => {
    for (let k = 0; k < INJECT_BATCH && running; k++) {
      const t = templates[i++ % templates.length]
      target.emit('message', t.topic, t.untimed, {
        cmd: 'publish',
        qos: 0,
        retain: false,
        dup: false,
        topic: t.topic,
        payload: t.untimed,
      })
    }
    if (running) setImmediate(pump)
  }
  pump()
}

async function settle(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

async function main(): Promise<void> {
  RED.init({
    userDir,
    flowFile: 'flows.json',
    credentialSecret: 'bench-only-not-a-secret',
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    nodesDir: config.withPackage ? [benchNodesDir, join(REPO, 'nodes')] : [benchNodesDir],
    logging: { console: { level: 'warn', metrics: false, audit: false } },
    externalModules: { autoInstall: false },
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
  })
  // RED.start() resolves before the runtime has loaded its (empty) flow file and credentials; a
  // deploy before that would have its credentials wiped by that load.
  const started = new Promise<void>((resolve) => RED.runtime.events.once('flows:started', resolve))
  await RED.start()
  await started
  serve(
    async (msg) => {
      switch (msg.type) {
        case 'deploy': {
          // setFlows can resolve before the new flows have started: wait for them.
          const running = new Promise<void>((resolve) => RED.runtime.events.once('flows:started', resolve))
          await RED.runtime.flows.setFlows({ flows: { flows: msg.flows }, deploymentType: 'full' })
          await running
          tell({ type: 'deployed' })
          break
        }
        case 'arm':
          arm(msg.probe)
          tell({ type: 'armed' })
          break
        case 'inject':
          inject(msg.probe, msg.devices, msg.source)
          break
        case 'go':
          if (!probed) profiler?.start()
          cpuAtGo = process.cpuUsage()
          driven.count = 0
          control.emit('go')
          break
        case 'stop': {
          control.emit('stop')
          const cpu = process.cpuUsage(cpuAtGo)
          if (!probed) await profiler?.stop()
          tell({ type: 'stopped', published: driven.count, cpuUs: cpu.user + cpu.system })
          break
        }
        case 'memory': {
          if (!gc)
            throw new Error(
              'Memory is measured after garbage collection: start this process with --expose-gc.',
            )
          // Two collections with a pause between, so finalizers and weak references settle.
          gc()
          await settle(200)
          gc()
          const m = process.memoryUsage()
          tell({
            type: 'memory',
            memory: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external },
          })
          break
        }
      }
    },
    async () => {
      await RED.stop().catch(() => undefined)
      rmSync(userDir, { recursive: true, force: true })
    },
  )
  tell({ type: 'ready' })
}

process.on('exit', () => rmSync(userDir, { recursive: true, force: true }))
main().catch((err: Error) => {
  tell({ type: 'error', message: err.stack ?? err.message })
  process.exit(1)
})

/**
 * The codec scenario (BENCH_ONLY=codec npm run bench): what decoding uplinks in Node-RED costs.
 *
 * Node-RED runs in this process (node-red-node-test-helper, the real runtime) with one ttn-uplink
 * node; realistic uplinks (the 1.5 KB message of the other scenarios, carrying a Climate Pro
 * measurement and its version_ids, no decoded_payload) are emitted on the application's MQTT.js
 * client, as in the isolated scenario, so no broker or socket takes CPU. Variants:
 * - Decode on the server (nothing decoded here): the baseline;
 * - Decode here with the Device Repository codec (test/fixtures/device-repository, climate-pro.js);
 * - the same decoder, sandboxed, called directly (loadCodec): the sandbox's cost per call;
 * - the same decoder as a plain function in Node, and in node:vm: what the sandbox is compared with;
 * - the first use of the 41 KB field-logger codec: engine start + compile.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createContext, Script } from 'node:vm'
import { loadCodec } from '../src/sdk/codecs'
import { TtsBroker } from '../src/simulator'
import { helper, ttnNodes } from '../test/support/node-red'
import { uplinkObject, uplinkTopic } from './message'
import { spread } from './stats'
import type { Comparison, ScenarioResult, SuiteOptions, VariantResult } from './suite'

const REPO = join(__dirname, '..', '..')
const FIXTURES = join(REPO, 'test', 'fixtures', 'device-repository')
const VENDOR = join(FIXTURES, 'vendor', 'tinkerworks')
const KEY = 'NNSXS.BENCH.CODEC-KEY-NOT-A-REAL-ONE'
const DEVICES = 50
const MEASUREMENT = [0x00, 0x08, 0x7a, 0x6e, 0x0c, 0xe4]
const VERSION = { brand_id: 'tinkerworks', model_id: 'climate-pro', hardware_version: 'A', firmware_version: '1.0', band_id: 'EU_863_870' }

interface Emitter {
  emit(event: 'message', topic: string, payload: Buffer, packet: object): boolean
}

function uplinks(): { topic: string; payload: Buffer }[] {
  const out = []
  for (let i = 0; i < DEVICES; i++) {
    const msg = uplinkObject(i) as { uplink_message: Record<string, unknown> }
    const up = msg.uplink_message
    up.frm_payload = Buffer.from(MEASUREMENT).toString('base64')
    up.f_port = 1
    up.version_ids = VERSION
    delete up.decoded_payload
    out.push({ topic: uplinkTopic(i), payload: Buffer.from(JSON.stringify(msg)) })
  }
  return out
}

/** Uplinks per second through one ttn-uplink node with this Decode setting, and CPU µs per uplink. */
async function throughTtnUplink(decode: 'server' | 'local', count: number, warmup: number): Promise<{ perSecond: number; cpuUs: number }> {
  const broker = await TtsBroker.start({ applications: [{ appId: 'bench', tenant: 'ttn', apiKey: KEY }] })
  try {
    const flow = [
      { id: 'app', type: 'ttn-app', appId: 'bench', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3', codecRepo: FIXTURES },
      { id: 'up', type: 'ttn-uplink', app: 'app', decode, codec: 'repository', wires: [['count']] },
      { id: 'count', type: 'helper' },
    ]
    await helper.load(ttnNodes, flow, { app: { apiKey: KEY } })
    const start = Date.now()
    while (!broker.clientIds().some((id) => broker.subscriptionsOf(id).includes('v3/bench@ttn/devices/+/up'))) {
      if (Date.now() - start > 10_000) throw new Error('ttn-uplink did not subscribe')
      await new Promise((r) => setTimeout(r, 20))
    }
    const client = (helper.getNode('app') as unknown as { client?: { session?: { mqtt?: Emitter } } }).client?.session?.mqtt
    if (!client) throw new Error('no MQTT client to emit uplinks on')
    const messages = uplinks()
    let received = 0
    let t0 = 0n
    let cpu0 = process.cpuUsage()
    let decodedOk = 0
    const done = new Promise<{ perSecond: number; cpuUs: number }>((resolve) => {
      helper.getNode('count').on('input', (msg: Record<string, unknown>) => {
        received++
        if (msg.decodedBy === 'local') decodedOk++
        if (received === warmup) {
          t0 = process.hrtime.bigint()
          cpu0 = process.cpuUsage()
        }
        if (received === warmup + count) {
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9
          const cpu = process.cpuUsage(cpu0)
          resolve({ perSecond: count / seconds, cpuUs: (cpu.user + cpu.system) / count })
        }
      })
    })
    let sent = 0
    const total = warmup + count
    const pump = () => {
      // Keep a bounded number in flight, as a socket would deliver them.
      for (let k = 0; k < 200 && sent < total && sent - received < 2000; k++) {
        const m = messages[sent++ % messages.length]
        client.emit('message', m.topic, m.payload, { cmd: 'publish', qos: 0, retain: false, dup: false, topic: m.topic, payload: m.payload })
      }
      if (sent < total) setImmediate(pump)
    }
    pump()
    const result = await done
    if (decode === 'local' && decodedOk !== total) throw new Error(`only ${decodedOk} of ${total} uplinks were decoded locally`)
    return result
  } finally {
    await helper.unload()
    await broker.stop()
  }
}

/** Per-call µs of `fn` over `n` calls (after a warm-up of n/10). */
function perCall(n: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < n / 10; i++) fn(i)
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn(i)
  return Number(process.hrtime.bigint() - t0) / 1e3 / n
}

export async function codecScenario(opts: SuiteOptions, errors: string[]): Promise<Omit<ScenarioResult, 'seconds' | 'errors'>> {
  const reps = opts.reps
  const count = Math.max(2000, Math.round(opts.isolated.uplinks / 10))
  const warmup = Math.max(500, Math.round(opts.isolated.warmup / 10))
  const calls = count * 2
  const source = readFileSync(join(VENDOR, 'climate-pro.js'), 'utf8')
  const large = readFileSync(join(VENDOR, 'field-logger.js'), 'utf8')
  const inputs = Array.from({ length: 64 }, (_, i) => ({ bytes: [i & 1 ? 0x05 : 0x00, 0x08, 0x7a + (i & 7), 0x6e, 0x0c, 0xe4], fPort: 1 }))

  const server: number[] = []
  const local: number[] = []
  const serverCpu: number[] = []
  const localCpu: number[] = []
  const sandbox: number[] = []
  const plain: number[] = []
  const vmCalls: number[] = []
  const firstCompile: number[] = []
  const nextCompile: number[] = []

  await helper.startServer()
  try {
    // The first codec ever loaded pays for compiling the engine's WebAssembly module as well.
    let t = process.hrtime.bigint()
    const first = loadCodec(large, { name: 'field-logger' })
    await first.ready
    firstCompile.push(Number(process.hrtime.bigint() - t) / 1e6)
    first.close()
    for (let rep = 0; rep < reps; rep++) {
      for (const [decode, rates, cpus] of (rep % 2 ? [['local', local, localCpu], ['server', server, serverCpu]] : [['server', server, serverCpu], ['local', local, localCpu]]) as ['server' | 'local', number[], number[]][]) {
        try {
          const r = await throughTtnUplink(decode, count, warmup)
          rates.push(r.perSecond)
          cpus.push(r.cpuUs)
        } catch (err) {
          errors.push(`codec ${decode} run ${rep + 1}: ${(err as Error).message}`)
        }
      }
      const codec = loadCodec(source, { name: 'climate-pro' })
      await codec.ready
      sandbox.push(perCall(calls, (i) => codec.decodeUplink(inputs[i & 63])))
      codec.close()
      const fn = new Function(`${source}\nreturn decodeUplink`)() as (input: unknown) => unknown
      // As the sandbox does: a copy of the input in, a JSON copy of the output out.
      plain.push(perCall(calls, (i) => JSON.parse(JSON.stringify(fn(structuredClone(inputs[i & 63]))))))
      const context = createContext({})
      new Script(source).runInContext(context)
      const call = new Script('(json) => JSON.stringify(decodeUplink(JSON.parse(json)))').runInContext(context) as (json: string) => string
      vmCalls.push(perCall(calls, (i) => JSON.parse(call(JSON.stringify(inputs[i & 63])))))
      t = process.hrtime.bigint()
      const again = loadCodec(large, { name: 'field-logger' })
      await again.ready
      nextCompile.push(Number(process.hrtime.bigint() - t) / 1e6)
      again.close()
    }
  } finally {
    await helper.stopServer()
  }

  const variant = (id: string, label: string, unit: string, samples: number[], cpu?: number[]): VariantResult => {
    const v: VariantResult = { id, label, unit, samples, spread: spread(samples) }
    if (cpu?.length) {
      v.cpuSamples = cpu
      v.cpuUsPerMessage = spread(cpu)
    }
    return v
  }
  const med = (xs: number[]) => spread(xs).median
  const ratio = (label: string, a: number[], b: number[], target?: Comparison['target']): Comparison => {
    const c: Comparison = { label, value: med(a) / med(b), kind: 'ratio' }
    if (target) c.target = target
    if (target) c.met = target.op === '>=' ? c.value >= target.value : target.op === '<=' ? c.value <= target.value : c.value === target.value
    return c
  }
  const perDecode = med(localCpu) - med(serverCpu)
  const localRate: Comparison = { label: 'uplinks/s through ttn-uplink with local decoding', value: Math.round(med(local)), kind: 'count', unit: 'msg/s', target: { op: '>=', value: 1000 }, met: med(local) >= 1000 }
  return {
    id: 'codec' as ScenarioResult['id'],
    title: 'Payload codecs: ttn-uplink decoding locally (Device Repository codec, QuickJS sandbox) vs not decoding; the decoder sandboxed, plain and in node:vm',
    variants: [
      variant('server', 'ttn-uplink, Decode on the server (no local decoding)', 'msg/s', server, serverCpu),
      variant('local', 'ttn-uplink, Decode here: Device Repository codec', 'msg/s', local, localCpu),
      variant('sandbox', 'decodeUplink in the sandbox (loadCodec), per call', 'µs', sandbox),
      variant('plain', 'the same decoder as a plain function in Node (JSON copies in and out), per call', 'µs', plain),
      variant('vm', 'the same decoder in node:vm (JSON in and out), per call', 'µs', vmCalls),
      variant('compile-first', 'first use of the 41 KB codec: WebAssembly compile + engine + script', 'ms', firstCompile),
      variant('compile', 'first use of the 41 KB codec, engine module already compiled', 'ms', nextCompile),
    ],
    comparisons: [
      localRate,
      ratio('local decoding / no decoding, uplinks/s', local, server),
      { label: 'CPU per local decode in ttn-uplink (local − server CPU per uplink)', value: perDecode, kind: 'difference', unit: 'µs' },
      ratio('sandbox / plain function, per call', sandbox, plain),
      ratio('sandbox / node:vm, per call', sandbox, vmCalls),
    ],
  }
}



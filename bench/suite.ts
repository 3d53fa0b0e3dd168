/**
 * The benchmark suite: six scenarios, each a set of variants measured in several repetitions (the
 * variants interleaved, in a rotating order, so machine noise spreads evenly), reported as medians
 * with min/max and compared as ratios against the targets.
 *
 * Every run gets fresh processes: a broker (plain aedes on 127.0.0.1), a subject (Node-RED embedded in
 * its own process, or an SDK / bare MQTT.js client), and a publisher.
 */
import { arch, cpus, platform, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { Child, type BrokerState, type FlowNode, type MemorySample } from './ipc'
import { PUBLISHER_ID, UPLINK_FILTER, uplinkTemplates } from './message'
import type { ProbeConfig, ProbeResult } from './probe'
import { type DownlinkVariant, downlinkFlow, emptyFlow, uplinkFlow, type UplinkVariant } from './flows'
import type { PublisherConfig } from './publisher'
import type { RedHostConfig } from './red-host'
import type { SdkSubjectConfig } from './sdk-subject'
import { type Spread, median, spread } from './stats'
import { codecScenario } from './codec'

export type ScenarioId = 'uplink' | 'fanout' | 'sdk' | 'downlink' | 'latency' | 'memory' | 'isolated' | 'codec'
export const SCENARIOS: readonly ScenarioId[] = [
  'uplink',
  'fanout',
  'sdk',
  'downlink',
  'latency',
  'memory',
  'isolated',
  // Payload codecs run locally (bench/codec.ts): BENCH_ONLY=codec npm run bench runs it alone.
  'codec',
]

export interface SuiteOptions {
  /** Repetitions of the throughput scenarios (uplink, fanout, sdk, downlink). */
  reps: number
  /** Uplinks measured per Node-RED throughput run, after `warmup` uplinks. */
  uplinks: number
  warmup: number
  /** Uplinks measured per SDK run (callbacks are cheaper, so more are needed for a stable figure). */
  sdkUplinks: number
  /** Devices the uplink stream cycles through. */
  devices: number
  /** ttn-uplink nodes in the fan-out scenario, each filtering one device. */
  fanoutNodes: number
  /** Downlinks measured per run, after `downlinkWarmup`; `downlinkWindow` kept in flight by the driver. */
  downlinks: number
  downlinkWarmup: number
  downlinkWindow: number
  latency: { reps: number; rate: number; seconds: number; warmupSeconds: number }
  memory: { reps: number; nodes: number; uplinks: number; settleMs: number }
  /** Uplinks injected per run (after `warmup`) in the isolated scenario. */
  isolated: { reps: number; uplinks: number; warmup: number }
  /** Pause between a subject being ready and the measurement (startup work settling). */
  settleMs: number
  /** Limit for one run. */
  runTimeoutMs: number
  scenarios: readonly ScenarioId[]
  /** Write V8 CPU profiles of the subject processes here (node --cpu-prof). */
  cpuProfDir?: string
  log: (line: string) => void
}

export const FULL: Omit<SuiteOptions, 'log'> = {
  reps: 5,
  uplinks: 100_000,
  warmup: 10_000,
  sdkUplinks: 250_000,
  devices: 500,
  fanoutNodes: 500,
  downlinks: 50_000,
  downlinkWarmup: 5_000,
  downlinkWindow: 100,
  latency: { reps: 3, rate: 1000, seconds: 10, warmupSeconds: 2 },
  memory: { reps: 3, nodes: 100, uplinks: 100_000, settleMs: 2000 },
  isolated: { reps: 5, uplinks: 200_000, warmup: 20_000 },
  settleMs: 1000,
  runTimeoutMs: 120_000,
  scenarios: SCENARIOS,
}

export const QUICK: Omit<SuiteOptions, 'log'> = {
  ...FULL,
  reps: 2,
  uplinks: 30_000,
  warmup: 5_000,
  sdkUplinks: 60_000,
  downlinks: 15_000,
  downlinkWarmup: 2_000,
  latency: { reps: 1, rate: 1000, seconds: 4, warmupSeconds: 1 },
  memory: { reps: 1, nodes: 100, uplinks: 20_000, settleMs: 1000 },
  isolated: { reps: 1, uplinks: 50_000, warmup: 10_000 },
  settleMs: 500,
}

export interface VariantResult {
  id: string
  label: string
  unit: string
  samples: number[]
  spread: Spread
  /** CPU time of the measuring process per message, µs (throughput variants). */
  cpuUsPerMessage?: Spread
  cpuSamples?: number[]
}

export interface Comparison {
  label: string
  /** Ratio (or difference) of the medians. */
  value: number
  kind: 'ratio' | 'difference' | 'count'
  unit?: string
  /** The same comparison per repetition (paired runs): its min and max. */
  range?: { min: number; max: number }
  target?: { op: '>=' | '<=' | '=='; value: number }
  met?: boolean
}

export interface ScenarioResult {
  id: ScenarioId
  title: string
  variants: VariantResult[]
  comparisons: Comparison[]
  errors: string[]
  seconds: number
}

export interface MachineInfo {
  cpu: string
  cores: number
  memoryGb: number
  os: string
  node: string
  nodeRed: string
  mqtt: string
  aedes: string
}

export interface SuiteResult {
  date: string
  machine: MachineInfo
  options: Omit<SuiteOptions, 'log'>
  messageBytes: number
  scenarios: ScenarioResult[]
  seconds: number
}

// ------------------------------------------------------------------ processes

const PEEK_MS = 200

/** Where the subject of run `name` writes the CPU profile of its measurement window, if profiling. */
function profileFile(opts: SuiteOptions, name: string): string | undefined {
  return opts.cpuProfDir ? join(opts.cpuProfDir, `${name}.cpuprofile`) : undefined
}

async function startBroker(): Promise<{ broker: Child; port: number; url: string }> {
  const broker = Child.start('broker', 'broker', {})
  try {
    const { port } = await broker.next('ready', 15_000)
    if (!port) throw new Error('the broker reported no port')
    return { broker, port, url: `mqtt://127.0.0.1:${port}` }
  } catch (err) {
    await broker.stop()
    throw err
  }
}

async function brokerState(broker: Child): Promise<BrokerState> {
  return (await broker.request({ type: 'state' }, 'state', 10_000)).state
}

/**
 * Waits until a client other than the publisher subscribed to a filter the predicate accepts. The
 * subject's output goes into the error, as that is where the reason is.
 */
async function waitForSubscriber(
  broker: Child,
  subject: Child,
  accept: (topic: string) => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const state = await brokerState(broker)
    if (state.subscriptions.some((s) => s.clientId !== PUBLISHER_ID && accept(s.topic))) return
    if (Date.now() > deadline) {
      throw new Error(
        `No subscriber within ${timeoutMs} ms (broker clients: ${JSON.stringify(state.clients)}). ${subject.label} wrote:\n${subject.tail()}`,
      )
    }
    await sleep(PEEK_MS)
  }
}

/** Waits until `n` clients other than the publisher are connected. */
async function waitForConnections(broker: Child, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await subjectConnections(broker)) < n) {
    if (Date.now() > deadline)
      throw new Error(`Fewer than ${n} clients connected to the broker within ${timeoutMs} ms`)
    await sleep(PEEK_MS)
  }
}

/** Connections to the broker other than the publisher's. */
async function subjectConnections(broker: Child): Promise<number> {
  return (await brokerState(broker)).clients.filter((c) => c !== PUBLISHER_ID).length
}

async function startRed(
  opts: SuiteOptions,
  name: string,
  withPackage: boolean,
  flows: FlowNode[],
): Promise<Child> {
  const cfg: RedHostConfig = { withPackage, profile: profileFile(opts, name) }
  const red = Child.start(`Node-RED (${name})`, 'red-host', cfg, ['--expose-gc'])
  try {
    await red.next('ready', 60_000)
    await red.request({ type: 'deploy', flows }, 'deployed', 60_000)
    return red
  } catch (err) {
    await red.stop()
    throw err
  }
}

async function startPublisher(config: PublisherConfig): Promise<Child> {
  const pub = Child.start('publisher', 'publisher', config)
  try {
    await pub.next('ready', 15_000)
    return pub
  } catch (err) {
    await pub.stop()
    throw err
  }
}

interface Measured {
  result: ProbeResult
  /** What the source reported when stopped: messages it sent and CPU it spent since 'go'. */
  source: { published: number; cpuUs: number }
}

/**
 * Arms the probe in `measurer`, tells `source` (the publisher, or a driver inside Node-RED) to go,
 * waits for the probe's result, then stops the source.
 */
async function measure(
  measurer: Child,
  probe: ProbeConfig,
  source: Child,
  timeoutMs: number,
): Promise<Measured> {
  await measurer.request({ type: 'arm', probe }, 'armed', 10_000)
  source.send({ type: 'go' })
  let result: ProbeResult
  try {
    result = (await measurer.next('result', timeoutMs)).result
  } catch (err) {
    // Best effort: the source may be the process that failed.
    try {
      source.send({ type: 'stop' })
    } catch {
      // Already gone.
    }
    throw err
  }
  const stopped = await source.request({ type: 'stop' }, 'stopped', 10_000)
  return { result, source: { published: stopped.published, cpuUs: stopped.cpuUs } }
}

async function stopAll(children: (Child | undefined)[]): Promise<void> {
  await Promise.all(children.map((c) => c?.stop()))
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// ------------------------------------------------------------------ one run of each kind

interface ThroughputSample {
  perSecond: number
  cpuUsPerMessage: number
  connections?: number
}

/** Uplink stream (flood) → Node-RED flow → bench-count. */
async function redUplinkRun(
  opts: SuiteOptions,
  name: string,
  variant: UplinkVariant,
  flowOpts: { nodes?: number; perDevice?: boolean },
  target: number,
): Promise<ThroughputSample> {
  const { broker, port, url } = await startBroker()
  let red: Child | undefined
  let pub: Child | undefined
  try {
    red = await startRed(opts, name, true, uplinkFlow(variant, { port, ...flowOpts }))
    await waitForSubscriber(broker, red, (t) => t === UPLINK_FILTER, 30_000)
    await sleep(opts.settleMs)
    pub = await startPublisher({ url, mode: 'flood', devices: opts.devices })
    const { result: r } = await measure(red, { warmup: opts.warmup, target }, pub, opts.runTimeoutMs)
    return {
      perSecond: r.perSecond,
      cpuUsPerMessage: r.cpuUsPerMessage,
      connections: await subjectConnections(broker),
    }
  } finally {
    await stopAll([pub, red])
    await broker.stop()
  }
}

/** Uplink stream (flood) → SDK callback or bare MQTT.js + JSON.parse, no Node-RED. */
async function sdkRun(
  opts: SuiteOptions,
  name: string,
  kind: SdkSubjectConfig['kind'],
): Promise<ThroughputSample> {
  const { broker, url } = await startBroker()
  let subject: Child | undefined
  let pub: Child | undefined
  try {
    const cfg: SdkSubjectConfig = { url, kind, profile: profileFile(opts, name) }
    subject = Child.start(name, 'sdk-subject', cfg)
    await subject.next('ready', 15_000)
    await waitForSubscriber(broker, subject, (t) => t === UPLINK_FILTER, 15_000)
    await sleep(opts.settleMs)
    pub = await startPublisher({ url, mode: 'flood', devices: opts.devices })
    const { result: r } = await measure(
      subject,
      { warmup: opts.warmup, target: opts.warmup + opts.sdkUplinks },
      pub,
      opts.runTimeoutMs,
    )
    return { perSecond: r.perSecond, cpuUsPerMessage: r.cpuUsPerMessage }
  } finally {
    await stopAll([pub, subject])
    await broker.stop()
  }
}

/**
 * Downlinks counted at the broker: from ttn-downlink in Node-RED, from the minimal MQTT.js node in
 * its place, or from a bare MQTT.js client process.
 */
async function downlinkRun(
  opts: SuiteOptions,
  name: string,
  kind: DownlinkVariant | 'bare',
): Promise<ThroughputSample> {
  const { broker, port, url } = await startBroker()
  let source: Child | undefined
  try {
    const probe = { warmup: opts.downlinkWarmup, target: opts.downlinkWarmup + opts.downlinks }
    if (kind === 'ttn') {
      source = await startRed(opts, name, true, downlinkFlow('ttn', port, opts.downlinkWindow))
      await waitForSubscriber(broker, source, (t) => t.endsWith('/down/queued'), 30_000)
    } else if (kind === 'ceiling') {
      source = await startRed(opts, name, true, downlinkFlow('ceiling', port, opts.downlinkWindow))
      await waitForConnections(broker, 1, 30_000)
    } else {
      source = await startPublisher({ url, mode: 'downlink', devices: 1 })
    }
    await sleep(opts.settleMs)
    // Counted at the broker; the CPU per message is the source's (whole run, warm-up included).
    const { result, source: s } = await measure(broker, probe, source, opts.runTimeoutMs)
    return { perSecond: result.perSecond, cpuUsPerMessage: s.published ? s.cpuUs / s.published : Number.NaN }
  } finally {
    await stopAll([source])
    await broker.stop()
  }
}

/** Timed uplinks at a steady rate → Node-RED flow → bench-count, which records each latency. */
async function latencyRun(
  opts: SuiteOptions,
  name: string,
  variant: UplinkVariant,
): Promise<{ p50: number; p99: number }> {
  const { broker, port, url } = await startBroker()
  let red: Child | undefined
  let pub: Child | undefined
  try {
    red = await startRed(opts, name, true, uplinkFlow(variant, { port }))
    await waitForSubscriber(broker, red, (t) => t === UPLINK_FILTER, 30_000)
    await sleep(opts.settleMs)
    const { rate, seconds, warmupSeconds } = opts.latency
    pub = await startPublisher({ url, mode: 'rate', rate, devices: opts.devices })
    const warmup = Math.max(1, Math.round(rate * warmupSeconds))
    const { result: r } = await measure(
      red,
      { warmup, target: warmup + Math.round(rate * seconds), latency: true },
      pub,
      opts.runTimeoutMs + seconds * 2000,
    )
    if (!r.latencyMs) throw new Error('the latency probe returned no latencies')
    return { p50: r.latencyMs.p50, p99: r.latencyMs.p99 }
  } finally {
    await stopAll([pub, red])
    await broker.stop()
  }
}

type IsolatedVariant = UplinkVariant | 'ttn-many'

/**
 * Node-RED's side alone: the flow is deployed and connected as in the uplink scenario, but the
 * uplinks are emitted on the source's MQTT.js client inside the Node-RED process (as if they had
 * just been parsed off the socket), so broker, publisher and packet parsing take no CPU.
 */
async function isolatedRun(
  opts: SuiteOptions,
  name: string,
  variant: IsolatedVariant,
): Promise<ThroughputSample> {
  const { broker, port } = await startBroker()
  let red: Child | undefined
  try {
    const source: UplinkVariant = variant === 'ttn-many' ? 'ttn' : variant
    const flowOpts = variant === 'ttn-many' ? { nodes: opts.fanoutNodes, perDevice: true } : {}
    red = await startRed(opts, name, true, uplinkFlow(source, { port, ...flowOpts }))
    await waitForSubscriber(broker, red, (t) => t === UPLINK_FILTER, 30_000)
    await sleep(opts.settleMs)
    const { uplinks, warmup } = opts.isolated
    const probe = { warmup, target: warmup + uplinks }
    const { result } = await red.request(
      { type: 'inject', probe, devices: opts.devices, source },
      'result',
      opts.runTimeoutMs,
    )
    return { perSecond: result.perSecond, cpuUsPerMessage: result.cpuUsPerMessage }
  } finally {
    await red?.stop()
    await broker.stop()
  }
}

interface MemoryRun {
  idle: MemorySample
  after?: MemorySample
}

/** RSS of a Node-RED idle (after settling) and, if a flow takes uplinks, after `uplinks` of them. */
async function memoryRun(
  opts: SuiteOptions,
  name: string,
  kind: 'baseline' | 'ttn' | 'mqtt-in',
): Promise<MemoryRun> {
  const { broker, port, url } = await startBroker()
  let red: Child | undefined
  let pub: Child | undefined
  const m = opts.memory
  try {
    const flows =
      kind === 'baseline'
        ? emptyFlow()
        : kind === 'ttn'
          ? uplinkFlow('ttn', { port, nodes: m.nodes, perDevice: true })
          : uplinkFlow('mqtt-in', { port })
    red = await startRed(opts, name, kind !== 'baseline', flows)
    if (kind !== 'baseline') await waitForSubscriber(broker, red, (t) => t === UPLINK_FILTER, 30_000)
    await sleep(m.settleMs)
    const idle = (await red.request({ type: 'memory' }, 'memory', 30_000)).memory
    if (kind === 'baseline') return { idle }
    // Every uplink goes to one of the flow's devices (ttn: one node per device).
    pub = await startPublisher({ url, mode: 'flood', devices: m.nodes })
    const warmup = Math.min(1000, Math.floor(m.uplinks / 10))
    await measure(red, { warmup, target: m.uplinks }, pub, opts.runTimeoutMs * 3)
    await pub.stop()
    await sleep(m.settleMs)
    const after = (await red.request({ type: 'memory' }, 'memory', 30_000)).memory
    return { idle, after }
  } finally {
    await stopAll([pub, red])
    await broker.stop()
  }
}

// ------------------------------------------------------------------ scenarios

interface Variant<S> {
  id: string
  label: string
  run: (rep: number) => Promise<S>
}

/** Runs every variant `reps` times, interleaved in a rotating order; failures are collected. */
async function repeat<S>(
  opts: SuiteOptions,
  scenario: string,
  reps: number,
  variants: Variant<S>[],
  errors: string[],
): Promise<Map<string, (S | undefined)[]>> {
  const out = new Map<string, (S | undefined)[]>(variants.map((v) => [v.id, []]))
  for (let rep = 0; rep < reps; rep++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + rep) % variants.length]
      const started = Date.now()
      try {
        const s = await v.run(rep)
        out.get(v.id)![rep] = s
        opts.log(
          `  ${scenario} rep ${rep + 1}/${reps} ${v.label}: ${brief(s)} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
        )
      } catch (err) {
        const text = `${v.label}, repetition ${rep + 1}: ${(err as Error).message}`
        errors.push(text)
        opts.log(`  ${scenario} rep ${rep + 1}/${reps} FAILED ${text}`)
      }
    }
  }
  return out
}

function brief(s: unknown): string {
  return JSON.stringify(s, (_k, v) => (typeof v === 'number' ? Number(v.toPrecision(4)) : v))
}

function defined<T>(xs: (T | undefined)[]): T[] {
  return xs.filter((x): x is T => x !== undefined)
}

function throughputVariant(
  id: string,
  label: string,
  samples: (ThroughputSample | undefined)[],
): VariantResult {
  const ok = defined(samples)
  const rates = ok.map((s) => s.perSecond)
  const cpu = ok.map((s) => s.cpuUsPerMessage).filter((x) => Number.isFinite(x))
  const v: VariantResult = { id, label, unit: 'msg/s', samples: rates, spread: spread(rates) }
  if (cpu.length) {
    v.cpuSamples = cpu
    v.cpuUsPerMessage = spread(cpu)
  }
  return v
}

function valueVariant(id: string, label: string, unit: string, values: number[]): VariantResult {
  return { id, label, unit, samples: values, spread: spread(values) }
}

/** ours / theirs: the ratio of the medians, and its range over paired repetitions. */
function ratio(
  label: string,
  ours: (number | undefined)[],
  theirs: (number | undefined)[],
  target?: Comparison['target'],
): Comparison {
  const a = defined(ours)
  const b = defined(theirs)
  const value = median(a) / median(b)
  const paired = ours.flatMap((x, i) =>
    x !== undefined && theirs[i] !== undefined ? [x / (theirs[i] as number)] : [],
  )
  const c: Comparison = { label, value, kind: 'ratio' }
  if (paired.length) c.range = { min: Math.min(...paired), max: Math.max(...paired) }
  if (target) {
    c.target = target
    c.met = check(value, target)
  }
  return c
}

/** Whether a value meets a target. */
export function check(value: number, t: NonNullable<Comparison['target']>): boolean {
  if (!Number.isFinite(value)) return false
  return t.op === '>=' ? value >= t.value : t.op === '<=' ? value <= t.value : value === t.value
}

const rate = (s: ThroughputSample | undefined) => s?.perSecond
const CPU_LABEL = 'by CPU per message'
/** 1 / CPU per message: how many messages one core could take, the figure machine noise disturbs least. */
const capacity = (s: ThroughputSample | undefined) =>
  s && Number.isFinite(s.cpuUsPerMessage) && s.cpuUsPerMessage > 0 ? 1e6 / s.cpuUsPerMessage : undefined

async function uplinkScenario(
  opts: SuiteOptions,
  errors: string[],
): Promise<Omit<ScenarioResult, 'seconds' | 'errors'>> {
  const target = opts.warmup + opts.uplinks
  const runs = await repeat<ThroughputSample>(
    opts,
    'uplink',
    opts.reps,
    [
      {
        id: 'ttn',
        label: 'ttn-uplink',
        run: (r) => redUplinkRun(opts, `uplink-ttn-${r}`, 'ttn', {}, target),
      },
      {
        id: 'mqtt-in',
        label: 'mqtt in (JSON)',
        run: (r) => redUplinkRun(opts, `uplink-mqtt-in-${r}`, 'mqtt-in', {}, target),
      },
      {
        id: 'ceiling',
        label: 'ceiling (MQTT.js + JSON.parse node)',
        run: (r) => redUplinkRun(opts, `uplink-ceiling-${r}`, 'ceiling', {}, target),
      },
    ],
    errors,
  )
  const ttn = runs.get('ttn')!.map(rate)
  return {
    id: 'uplink',
    title: 'Uplink throughput through Node-RED (source → one counting node)',
    variants: [
      throughputVariant('ttn', 'ttn-uplink', runs.get('ttn')!),
      throughputVariant('mqtt-in', 'mqtt in (JSON)', runs.get('mqtt-in')!),
      throughputVariant('ceiling', 'ceiling: MQTT.js + JSON.parse node', runs.get('ceiling')!),
    ],
    comparisons: [
      ratio('ttn-uplink / mqtt in', ttn, runs.get('mqtt-in')!.map(rate), { op: '>=', value: 1.05 }),
      ratio('ttn-uplink / ceiling', ttn, runs.get('ceiling')!.map(rate), { op: '>=', value: 0.95 }),
      ratio(
        `ttn-uplink / mqtt in, ${CPU_LABEL}`,
        runs.get('ttn')!.map(capacity),
        runs.get('mqtt-in')!.map(capacity),
      ),
      ratio(
        `ttn-uplink / ceiling, ${CPU_LABEL}`,
        runs.get('ttn')!.map(capacity),
        runs.get('ceiling')!.map(capacity),
      ),
    ],
  }
}

async function fanoutScenario(
  opts: SuiteOptions,
  errors: string[],
): Promise<Omit<ScenarioResult, 'seconds' | 'errors'>> {
  const target = opts.warmup + opts.uplinks
  const n = opts.fanoutNodes
  const runs = await repeat<ThroughputSample>(
    opts,
    'fanout',
    opts.reps,
    [
      {
        id: 'one',
        label: '1 ttn-uplink (all devices)',
        run: (r) => redUplinkRun(opts, `fanout-1-${r}`, 'ttn', { nodes: 1 }, target),
      },
      {
        id: 'many',
        label: `${n} ttn-uplink (one device each)`,
        run: (r) => redUplinkRun(opts, `fanout-${n}-${r}`, 'ttn', { nodes: n, perDevice: true }, target),
      },
    ],
    errors,
  )
  const connections = defined(runs.get('many')!).map((s) => s.connections ?? Number.NaN)
  return {
    id: 'fanout',
    title: `Fan-out: 1 versus ${n} ttn-uplink nodes on one config node (${opts.devices} devices)`,
    variants: [
      throughputVariant('one', '1 ttn-uplink (all devices)', runs.get('one')!),
      throughputVariant('many', `${n} ttn-uplink (one device each)`, runs.get('many')!),
    ],
    comparisons: [
      ratio(`${n} nodes / 1 node`, runs.get('many')!.map(rate), runs.get('one')!.map(rate), {
        op: '>=',
        value: 0.9,
      }),
      ratio(
        `${n} nodes / 1 node, ${CPU_LABEL}`,
        runs.get('many')!.map(capacity),
        runs.get('one')!.map(capacity),
      ),
      {
        label: `MQTT connections with ${n} nodes (max over runs)`,
        value: connections.length ? Math.max(...connections) : Number.NaN,
        kind: 'count',
        target: { op: '==', value: 1 },
        met: connections.length > 0 && connections.every((c) => c === 1),
      },
    ],
  }
}

async function sdkScenario(
  opts: SuiteOptions,
  errors: string[],
): Promise<Omit<ScenarioResult, 'seconds' | 'errors'>> {
  const runs = await repeat<ThroughputSample>(
    opts,
    'sdk',
    opts.reps,
    [
      { id: 'sdk', label: 'SDK uplink callback', run: (r) => sdkRun(opts, `sdk-sdk-${r}`, 'sdk') },
      { id: 'bare', label: 'bare MQTT.js + JSON.parse', run: (r) => sdkRun(opts, `sdk-bare-${r}`, 'bare') },
    ],
    errors,
  )
  return {
    id: 'sdk',
    title: 'SDK alone: uplink callback versus bare MQTT.js',
    variants: [
      throughputVariant('sdk', 'SDK uplink callback', runs.get('sdk')!),
      throughputVariant('bare', 'bare MQTT.js + JSON.parse', runs.get('bare')!),
    ],
    comparisons: [
      ratio('SDK / bare MQTT.js', runs.get('sdk')!.map(rate), runs.get('bare')!.map(rate), {
        op: '>=',
        value: 0.9,
      }),
      ratio(
        `SDK / bare MQTT.js, ${CPU_LABEL}`,
        runs.get('sdk')!.map(capacity),
        runs.get('bare')!.map(capacity),
      ),
    ],
  }
}

async function downlinkScenario(
  opts: SuiteOptions,
  errors: string[],
): Promise<Omit<ScenarioResult, 'seconds' | 'errors'>> {
  const runs = await repeat<ThroughputSample>(
    opts,
    'downlink',
    opts.reps,
    [
      { id: 'ttn', label: 'ttn-downlink', run: (r) => downlinkRun(opts, `downlink-ttn-${r}`, 'ttn') },
      {
        id: 'bare',
        label: 'bare MQTT.js publish',
        run: (r) => downlinkRun(opts, `downlink-bare-${r}`, 'bare'),
      },
      {
        id: 'ceiling',
        label: 'MQTT.js publish node',
        run: (r) => downlinkRun(opts, `downlink-ceiling-${r}`, 'ceiling'),
      },
    ],
    errors,
  )
  const ttn = runs.get('ttn')!.map(rate)
  return {
    id: 'downlink',
    title: 'Downlinks reaching the broker',
    variants: [
      throughputVariant('ttn', 'ttn-downlink (in Node-RED)', runs.get('ttn')!),
      throughputVariant('bare', 'bare MQTT.js client process, same bodies', runs.get('bare')!),
      throughputVariant('ceiling', 'ceiling in Node-RED: MQTT.js publish node', runs.get('ceiling')!),
    ],
    comparisons: [
      ratio('ttn-downlink / bare MQTT.js', ttn, runs.get('bare')!.map(rate), { op: '>=', value: 0.8 }),
      ratio('ttn-downlink / MQTT.js publish node (context)', ttn, runs.get('ceiling')!.map(rate)),
      ratio(
        `ttn-downlink / bare MQTT.js, ${CPU_LABEL}`,
        runs.get('ttn')!.map(capacity),
        runs.get('bare')!.map(capacity),
      ),
      ratio(
        `ttn-downlink / MQTT.js publish node, ${CPU_LABEL}`,
        runs.get('ttn')!.map(capacity),
        runs.get('ceiling')!.map(capacity),
      ),
    ],
  }
}

async function latencyScenario(
  opts: SuiteOptions,
  errors: string[],
): Promise<Omit<ScenarioResult, 'seconds' | 'errors'>> {
  const runs = await repeat(
    opts,
    'latency',
    opts.latency.reps,
    [
      { id: 'ttn', label: 'ttn-uplink', run: (r) => latencyRun(opts, `latency-ttn-${r}`, 'ttn') },
      {
        id: 'mqtt-in',
        label: 'mqtt in (JSON)',
        run: (r) => latencyRun(opts, `latency-mqtt-in-${r}`, 'mqtt-in'),
      },
    ],
    errors,
  )
  const pick = (id: string, p: 'p50' | 'p99') => runs.get(id)!.map((s) => s?.[p])
  return {
    id: 'latency',
    title: `Latency at a steady ${opts.latency.rate} uplinks/s, publish → flow (ms)`,
    variants: [
      valueVariant('ttn-p50', 'ttn-uplink p50', 'ms', defined(pick('ttn', 'p50'))),
      valueVariant('ttn-p99', 'ttn-uplink p99', 'ms', defined(pick('ttn', 'p99'))),
      valueVariant('mqtt-in-p50', 'mqtt in p50', 'ms', defined(pick('mqtt-in', 'p50'))),
      valueVariant('mqtt-in-p99', 'mqtt in p99', 'ms', defined(pick('mqtt-in', 'p99'))),
    ],
    comparisons: [
      ratio('p50 ttn-uplink / mqtt in (lower is better)', pick('ttn', 'p50'), pick('mqtt-in', 'p50')),
      ratio('p99 ttn-uplink / mqtt in (lower is better)', pick('ttn', 'p99'), pick('mqtt-in', 'p99')),
    ],
  }
}

const MB = 1024 * 1024

async function memoryScenario(
  opts: SuiteOptions,
  errors: string[],
): Promise<Omit<ScenarioResult, 'seconds' | 'errors'>> {
  const m = opts.memory
  const runs = await repeat<MemoryRun>(
    opts,
    'memory',
    m.reps,
    [
      {
        id: 'baseline',
        label: 'Node-RED without our package',
        run: (r) => memoryRun(opts, `memory-baseline-${r}`, 'baseline'),
      },
      {
        id: 'ttn',
        label: `1 ttn-app + ${m.nodes} ttn-uplink`,
        run: (r) => memoryRun(opts, `memory-ttn-${r}`, 'ttn'),
      },
      {
        id: 'mqtt-in',
        label: 'mqtt in (JSON), for reference',
        run: (r) => memoryRun(opts, `memory-mqtt-in-${r}`, 'mqtt-in'),
      },
    ],
    errors,
  )
  const rss = (id: string, when: 'idle' | 'after') =>
    runs.get(id)!.map((s) => (s?.[when] ? s[when].rss / MB : undefined))
  // The JavaScript heap after GC: what a leak would grow (RSS also holds the allocator's high-water mark).
  const heap = (id: string, when: 'idle' | 'after') =>
    runs.get(id)!.map((s) => (s?.[when] ? s[when].heapUsed / MB : undefined))
  const k = `${Math.round(m.uplinks / 1000)}k`
  const diff = (label: string, a: (number | undefined)[], b: (number | undefined)[]): Comparison => {
    const paired = a.flatMap((x, i) => (x !== undefined && b[i] !== undefined ? [x - (b[i] as number)] : []))
    return {
      label,
      value: median(defined(a)) - median(defined(b)),
      kind: 'difference',
      unit: 'MB',
      range: paired.length ? { min: Math.min(...paired), max: Math.max(...paired) } : undefined,
    }
  }
  return {
    id: 'memory',
    title: `Memory: resident set size after GC (MB), ${m.nodes} of our nodes, ${k} uplinks`,
    variants: [
      valueVariant(
        'baseline-idle',
        'Node-RED without our package, idle',
        'MB',
        defined(rss('baseline', 'idle')),
      ),
      valueVariant('ttn-idle', `1 ttn-app + ${m.nodes} ttn-uplink, idle`, 'MB', defined(rss('ttn', 'idle'))),
      valueVariant(
        'ttn-after',
        `1 ttn-app + ${m.nodes} ttn-uplink, after ${k} uplinks`,
        'MB',
        defined(rss('ttn', 'after')),
      ),
      valueVariant('mqtt-in-idle', 'mqtt in (reference), idle', 'MB', defined(rss('mqtt-in', 'idle'))),
      valueVariant(
        'mqtt-in-after',
        `mqtt in (reference), after ${k} uplinks`,
        'MB',
        defined(rss('mqtt-in', 'after')),
      ),
    ],
    comparisons: [
      diff('ours idle − without package', rss('ttn', 'idle'), rss('baseline', 'idle')),
      diff(`ours after ${k} − without package`, rss('ttn', 'after'), rss('baseline', 'idle')),
      diff(`ours: growth over ${k} uplinks`, rss('ttn', 'after'), rss('ttn', 'idle')),
      diff(`mqtt in: growth over ${k} uplinks`, rss('mqtt-in', 'after'), rss('mqtt-in', 'idle')),
      diff('ours idle − without package, JS heap', heap('ttn', 'idle'), heap('baseline', 'idle')),
      diff(`ours: JS heap growth over ${k} uplinks`, heap('ttn', 'after'), heap('ttn', 'idle')),
      diff(`mqtt in: JS heap growth over ${k} uplinks`, heap('mqtt-in', 'after'), heap('mqtt-in', 'idle')),
    ],
  }
}

async function isolatedScenario(
  opts: SuiteOptions,
  errors: string[],
): Promise<Omit<ScenarioResult, 'seconds' | 'errors'>> {
  const n = opts.fanoutNodes
  const variants: { id: IsolatedVariant; label: string }[] = [
    { id: 'ttn', label: 'ttn-uplink' },
    { id: 'mqtt-in', label: 'mqtt in (JSON)' },
    { id: 'ceiling', label: 'ceiling: MQTT.js + JSON.parse node' },
    { id: 'ttn-many', label: `${n} ttn-uplink (one device each)` },
  ]
  const runs = await repeat<ThroughputSample>(
    opts,
    'isolated',
    opts.isolated.reps,
    variants.map((v) => ({
      id: v.id,
      label: v.label,
      run: (r) => isolatedRun(opts, `isolated-${v.id}-${r}`, v.id),
    })),
    errors,
  )
  const cap = (id: IsolatedVariant) => runs.get(id)!.map(capacity)
  return {
    id: 'isolated',
    title: "Node-RED side alone: uplinks emitted on the source's MQTT.js client, no broker traffic",
    variants: variants.map((v) => throughputVariant(v.id, v.label, runs.get(v.id)!)),
    comparisons: [
      ratio(`ttn-uplink / mqtt in, ${CPU_LABEL}`, cap('ttn'), cap('mqtt-in')),
      ratio(`ttn-uplink / ceiling, ${CPU_LABEL}`, cap('ttn'), cap('ceiling')),
      ratio(`${n} nodes / 1 node, ${CPU_LABEL}`, cap('ttn-many'), cap('ttn')),
    ],
  }
}

const RUNNERS: Record<
  ScenarioId,
  (o: SuiteOptions, e: string[]) => Promise<Omit<ScenarioResult, 'seconds' | 'errors'>>
> = {
  uplink: uplinkScenario,
  fanout: fanoutScenario,
  sdk: sdkScenario,
  downlink: downlinkScenario,
  latency: latencyScenario,
  memory: memoryScenario,
  isolated: isolatedScenario,
  codec: codecScenario,
}

function versionOf(pkg: string): string {
  try {
    return (require(join(__dirname, '..', '..', 'node_modules', pkg, 'package.json')) as { version: string })
      .version
  } catch {
    return 'unknown'
  }
}

export function machineInfo(): MachineInfo {
  const list = cpus()
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    nodeRed: versionOf('node-red'),
    mqtt: versionOf('mqtt'),
    aedes: versionOf('aedes'),
  }
}

export async function runSuite(opts: SuiteOptions): Promise<SuiteResult> {
  const started = Date.now()
  for (const s of opts.scenarios)
    if (!SCENARIOS.includes(s)) throw new Error(`Unknown scenario "${s}": use ${SCENARIOS.join(', ')}.`)
  const scenarios: ScenarioResult[] = []
  for (const id of opts.scenarios) {
    const t0 = Date.now()
    opts.log(`${id}:`)
    const errors: string[] = []
    const r = await RUNNERS[id](opts, errors)
    scenarios.push({ ...r, errors, seconds: (Date.now() - t0) / 1000 })
  }
  const { log: _log, ...options } = opts
  return {
    date: new Date().toISOString(),
    machine: machineInfo(),
    options,
    messageBytes: uplinkTemplates(1)[0].untimed.length,
    scenarios,
    seconds: (Date.now() - started) / 1000,
  }
}

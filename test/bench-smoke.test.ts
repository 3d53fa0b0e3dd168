/**
 * Keeps the benchmark (npm run bench) working: every scenario runs end to end with tiny message
 * counts (real broker, publisher, Node-RED and SDK processes) and must produce well-formed results.
 * Nothing here asserts on timing: figures from a machine shared with other test runs mean nothing.
 * The one functional claim checked is the fan-out's single MQTT connection.
 */
import assert from 'node:assert/strict'
import { publishTimeNs, TARGET_BYTES, timedUplink, uplinkTemplates } from '../bench/message'
import { Probe, type ProbeResult } from '../bench/probe'
import { missedTargets, renderMarkdown, renderText } from '../bench/report'
import { median, percentile, spread } from '../bench/stats'
import {
  FULL,
  type ScenarioId,
  SCENARIOS,
  type SuiteOptions,
  type SuiteResult,
  runSuite,
} from '../bench/suite'

const TINY: SuiteOptions = {
  ...FULL,
  reps: 1,
  uplinks: 300,
  warmup: 50,
  sdkUplinks: 300,
  devices: 20,
  fanoutNodes: 20,
  downlinks: 300,
  downlinkWarmup: 50,
  downlinkWindow: 20,
  latency: { reps: 1, rate: 200, seconds: 1, warmupSeconds: 0.25 },
  memory: { reps: 1, nodes: 10, uplinks: 300, settleMs: 100 },
  isolated: { reps: 1, uplinks: 300, warmup: 50 },
  settleMs: 0,
  runTimeoutMs: 30_000,
  scenarios: SCENARIOS,
  log: () => undefined,
}

function assertWellFormed(r: SuiteResult, id: ScenarioId): void {
  assert.equal(r.scenarios.length, 1)
  const s = r.scenarios[0]
  assert.equal(s.id, id)
  assert.deepEqual(s.errors, [], `the ${id} scenario reported errors`)
  assert.ok(s.variants.length >= 2, `${id}: at least two variants to compare`)
  const reps =
    { latency: TINY.latency.reps, memory: TINY.memory.reps, isolated: TINY.isolated.reps }[id as string] ??
    TINY.reps
  for (const v of s.variants) {
    assert.equal(v.samples.length, reps, `${id} / ${v.label}: one sample per repetition`)
    for (const x of v.samples)
      assert.ok(Number.isFinite(x) && x > 0, `${id} / ${v.label}: sample ${x} is a positive number`)
    assert.ok(
      v.spread.min <= v.spread.median && v.spread.median <= v.spread.max,
      `${id} / ${v.label}: min <= median <= max`,
    )
    if (v.unit === 'msg/s')
      assert.ok(
        v.cpuUsPerMessage && v.cpuUsPerMessage.median > 0,
        `${id} / ${v.label}: CPU per message measured`,
      )
  }
  assert.ok(s.comparisons.length >= 1)
  for (const c of s.comparisons) {
    assert.ok(Number.isFinite(c.value), `${id} / ${c.label}: a finite value`)
    if (c.target) assert.equal(typeof c.met, 'boolean', `${id} / ${c.label}: judged against its target`)
  }
  const text = renderText(r)
  const md = renderMarkdown(r)
  assert.ok(text.includes(s.title) && md.includes(s.title), 'the table names the scenario')
  for (const v of s.variants) assert.ok(md.includes(v.label), `the Markdown table has a row for ${v.label}`)
  assert.ok(Array.isArray(missedTargets(r)))
  assert.ok(
    r.messageBytes >= TARGET_BYTES && r.messageBytes < TARGET_BYTES * 1.2,
    `uplinks are about 1.5 KB (${r.messageBytes} bytes)`,
  )
}

describe('benchmark smoke run (tiny N, results checked for form only)', function () {
  this.timeout(120_000)

  for (const id of SCENARIOS) {
    it(`${id}: runs every variant and reports a well-formed table`, async () => {
      const r = await runSuite({ ...TINY, scenarios: [id] })
      assertWellFormed(r, id)
      if (id === 'fanout') {
        const connections = r.scenarios[0].comparisons.find((c) => c.kind === 'count')
        assert.equal(
          connections?.value,
          1,
          `${TINY.fanoutNodes} ttn-uplink nodes on one config node share one MQTT connection`,
        )
        assert.equal(connections?.met, true)
      }
    })
  }
})

describe('benchmark building blocks', () => {
  it('median, spread and nearest-rank percentiles', () => {
    assert.equal(median([3, 1, 2]), 2)
    assert.equal(median([4, 1, 3, 2]), 2.5)
    assert.ok(Number.isNaN(median([])))
    assert.deepEqual(spread([5, 1, 3]), { median: 3, min: 1, max: 5 })
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1)
    assert.equal(percentile(sorted, 50), 50)
    assert.equal(percentile(sorted, 99), 99)
    assert.equal(percentile(sorted, 100), 100)
    assert.equal(percentile([7], 99), 7)
  })

  it('a probe measures the window between the warm-up and the target arrival, latency included', () => {
    let result: ProbeResult | undefined
    let opened = 0
    const probe = new Probe(
      { warmup: 2, target: 5, latency: true },
      (r) => (result = r),
      () => opened++,
    )
    const [t] = uplinkTemplates(1)
    for (let i = 0; i < 6; i++) probe.arrive(JSON.parse(timedUplink(t, process.hrtime.bigint()).toString()))
    assert.equal(opened, 1)
    assert.ok(result)
    assert.equal(result.messages, 3)
    assert.equal(result.latencyMs?.samples, 3)
    assert.ok((result.latencyMs?.p50 ?? -1) >= 0)
    assert.equal(probe.arrivals, 6)
    assert.throws(() => new Probe({ warmup: 5, target: 5 }, () => undefined), /warmup < target/)
  })

  it('uplinks carry a fixed-width publish time: untimed and timed copies have the same size', () => {
    const [t] = uplinkTemplates(1)
    const timed = timedUplink(t, 123456789n)
    assert.equal(timed.length, t.untimed.length)
    assert.equal(publishTimeNs(JSON.parse(timed.toString())), 123456789n)
    assert.equal(publishTimeNs(JSON.parse(t.untimed.toString())), undefined)
  })
})

/** The suite's results as a console table and as the Markdown that goes into BENCHMARKS.md. */
import { type Comparison, check, type ScenarioResult, type SuiteResult, type VariantResult } from './suite'

function num(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a'
  if (unit === 'msg/s') return Math.round(value).toLocaleString('en-US')
  if (unit === 'MB') return value.toFixed(1)
  if (unit === 'µs') return value.toFixed(1)
  return value.toFixed(2)
}

/** `judged`: v is the value the verdict is about (not one end of the range). */
function comparisonValue(c: Comparison, v: number, judged = false): string {
  if (!Number.isFinite(v)) return 'n/a'
  if (c.kind === 'ratio') {
    // Two decimals, or as many more as it takes for the shown value to agree with the verdict
    // (1.0497 against ≥ 1.05 shows as 1.0497, not as a 1.05 that was missed).
    if (!judged || !c.target || c.met === undefined) return v.toFixed(2)
    for (let digits = 2; digits < 6; digits++) {
      if (check(Number(v.toFixed(digits)), c.target) === c.met) return v.toFixed(digits)
    }
    return v.toFixed(6)
  }
  if (c.kind === 'count') return String(v)
  return `${v >= 0 ? '+' : ''}${v.toFixed(1)} ${c.unit ?? ''}`.trim()
}

function targetText(c: Comparison): string {
  if (!c.target) return '—'
  const op = c.target.op === '>=' ? '≥' : c.target.op === '<=' ? '≤' : '='
  return `${op} ${c.target.value}`
}

function verdict(c: Comparison): string {
  if (c.met === undefined) return ''
  return c.met ? 'met' : 'MISSED'
}

function rangeText(c: Comparison): string {
  return c.range ? `${comparisonValue(c, c.range.min)} – ${comparisonValue(c, c.range.max)}` : ''
}

function variantRow(v: VariantResult): string[] {
  return [
    v.label,
    `${num(v.spread.median, v.unit)} ${v.unit}`,
    num(v.spread.min, v.unit),
    num(v.spread.max, v.unit),
    v.cpuUsPerMessage
      ? `${num(v.cpuUsPerMessage.median, 'µs')} (${num(v.cpuUsPerMessage.min, 'µs')}–${num(v.cpuUsPerMessage.max, 'µs')})`
      : '',
    String(v.samples.length),
  ]
}

function comparisonRow(c: Comparison): string[] {
  return [c.label, comparisonValue(c, c.value, true), rangeText(c), targetText(c), verdict(c)]
}

const VARIANT_HEAD = ['variant', 'median', 'min', 'max', 'CPU µs/msg (min–max)', 'runs']
const COMPARISON_HEAD = ['comparison (of medians)', 'value', 'range over paired runs', 'target', '']

function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (r: string[]) =>
    `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`.trimEnd()
  return [line(head), ...rows.map(line)].join('\n')
}

function mdTable(head: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|')
  const align = head.map((_, i) => (i === 0 ? ':--' : '--:'))
  return [head, align, ...rows].map((r) => `| ${r.map(esc).join(' | ')} |`).join('\n')
}

function scenarioText(s: ScenarioResult, n: number): string {
  const parts = [
    `${n}. ${s.title}  [${s.seconds.toFixed(0)} s]`,
    textTable(VARIANT_HEAD, s.variants.map(variantRow)),
  ]
  if (s.comparisons.length) parts.push(textTable(COMPARISON_HEAD, s.comparisons.map(comparisonRow)))
  for (const e of s.errors) parts.push(`  error: ${e.split('\n')[0]}`)
  return parts.join('\n')
}

export function header(r: SuiteResult): string {
  const m = r.machine
  return [
    `Date: ${r.date}`,
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB RAM, ${m.os}`,
    `Software: Node.js ${m.node}, Node-RED ${m.nodeRed}, MQTT.js ${m.mqtt}, aedes ${m.aedes}`,
    `Uplink message: ${r.messageBytes} bytes; repetitions: ${r.options.reps} (latency ${r.options.latency.reps}, memory ${r.options.memory.reps}, isolated ${r.options.isolated.reps}); total ${Math.round(r.seconds)} s`,
  ].join('\n')
}

export function renderText(r: SuiteResult): string {
  return [header(r), '', ...r.scenarios.map((s, i) => `${scenarioText(s, i + 1)}\n`)].join('\n')
}

export function renderMarkdown(r: SuiteResult): string {
  const out = [
    header(r)
      .split('\n')
      .map((l) => `${l}  `)
      .join('\n'),
    '',
  ]
  r.scenarios.forEach((s, i) => {
    out.push(`### ${i + 1}. ${s.title}`, '', mdTable(VARIANT_HEAD, s.variants.map(variantRow)), '')
    if (s.comparisons.length) out.push(mdTable(COMPARISON_HEAD, s.comparisons.map(comparisonRow)), '')
    for (const e of s.errors) out.push(`- error: ${e.split('\n')[0]}`)
    if (s.errors.length) out.push('')
  })
  return out.join('\n')
}

/** Comparisons that have a target and missed it. */
export function missedTargets(r: SuiteResult): string[] {
  return r.scenarios.flatMap((s) =>
    s.comparisons
      .filter((c) => c.met === false)
      .map((c) => `${s.id}: ${c.label} = ${comparisonValue(c, c.value, true)} (target ${targetText(c)})`),
  )
}

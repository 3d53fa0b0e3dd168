/**
 * `npm run bench`: runs the suite, prints the table, and writes it to bench/results/ as JSON (and
 * Markdown for BENCHMARKS.md). Environment:
 * - BENCH_QUICK=1       a short run (fewer repetitions and messages)
 * - BENCH_ONLY=a,b      only these scenarios (uplink, fanout, sdk, downlink, latency, memory, isolated, codec)
 * - BENCH_REPS=n        repetitions of the throughput scenarios
 * - BENCH_CPU_PROF=dir  write V8 CPU profiles of the measured processes into dir
 * - BENCH_OUT=dir       where results go (default bench/results)
 *
 * `node dist/bench/run.js --render <results.json>` prints a saved run's table and Markdown again.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { missedTargets, renderMarkdown, renderText } from './report'
import { FULL, QUICK, type ScenarioId, type SuiteOptions, type SuiteResult, runSuite } from './suite'

function options(env: NodeJS.ProcessEnv): SuiteOptions {
  const base = env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true' ? QUICK : FULL
  const opts: SuiteOptions = { ...base, log: (line) => process.stderr.write(`${line}\n`) }
  if (env.BENCH_ONLY)
    opts.scenarios = env.BENCH_ONLY.split(',')
      .map((s) => s.trim())
      .filter(Boolean) as ScenarioId[]
  if (env.BENCH_REPS) {
    const reps = Number(env.BENCH_REPS)
    if (!Number.isInteger(reps) || reps < 1)
      throw new Error(`BENCH_REPS must be a positive integer; got "${env.BENCH_REPS}".`)
    opts.reps = reps
  }
  if (env.BENCH_CPU_PROF) {
    opts.cpuProfDir = resolve(env.BENCH_CPU_PROF)
    mkdirSync(opts.cpuProfDir, { recursive: true })
  }
  return opts
}

async function main(): Promise<void> {
  if (process.argv[2] === '--render') {
    const file = process.argv[3]
    if (!file) throw new Error('Usage: node dist/bench/run.js --render <results.json>')
    const saved = JSON.parse(readFileSync(file, 'utf8')) as SuiteResult
    process.stdout.write(`${renderText(saved)}\n${renderMarkdown(saved)}\n`)
    return
  }
  const opts = options(process.env)
  const outDir = resolve(process.env.BENCH_OUT ?? join(__dirname, '..', '..', 'bench', 'results'))
  const result = await runSuite(opts)
  const text = renderText(result)
  process.stdout.write(`\n${text}\n`)
  mkdirSync(outDir, { recursive: true })
  const stamp = result.date.replace(/[:.]/g, '-')
  const json = `${JSON.stringify(result, null, 2)}\n`
  writeFileSync(join(outDir, `bench-${stamp}.json`), json)
  writeFileSync(join(outDir, 'latest.json'), json)
  writeFileSync(join(outDir, 'latest.md'), renderMarkdown(result))
  process.stdout.write(`Results: ${join(outDir, 'latest.json')} (Markdown: latest.md)\n`)
  const missed = missedTargets(result)
  if (missed.length) process.stdout.write(`Targets missed:\n${missed.map((m) => `  ${m}`).join('\n')}\n`)
  const failed = result.scenarios.some((s) => s.errors.length > 0)
  process.exitCode = failed ? 1 : 0
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`)
  process.exitCode = 1
})

/**
 * Summarises a V8 CPU profile (node --cpu-prof, or BENCH_CPU_PROF=dir npm run bench): self time by
 * function and by package, to see where a variant spends its time.
 *
 *   node dist/bench/profile.js <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  totalMs: number
  functions: { name: string; ms: number; share: number }[]
  packages: { name: string; ms: number; share: number }[]
}

/** Where a script belongs: a package under node_modules, this repository's src/ or bench/, or Node itself. */
export function packageOf(url: string): string {
  if (!url) return '(VM: GC, idle, program)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  const own = /\/dist\/(src|bench)\//.exec(url)
  if (own) return `this repo: ${own[1]}/`
  if (url.startsWith('node:')) return 'node core'
  return url
}

/**
 * Nodes called from node:inspector: the in-process profiler's own work (WindowProfiler stops the
 * profile through an inspector session), which is no part of what was measured.
 */
function profilerNodes(nodes: ProfileNode[]): Set<number> {
  const byId = new Map(nodes.map((n) => [n.id, n]))
  const out = new Set<number>()
  const mark = (id: number) => {
    if (out.has(id)) return
    out.add(id)
    for (const c of byId.get(id)?.children ?? []) mark(c)
  }
  for (const n of nodes) if (n.callFrame.url === 'node:inspector') mark(n.id)
  return out
}

export function summarize(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const ownWork = profilerNodes(profile.nodes)
  const fn = new Map<string, number>()
  const pkg = new Map<string, number>()
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])
    const dt = (profile.timeDeltas[i] ?? 0) / 1000
    if (!node || ownWork.has(node.id)) continue
    total += dt
    const { functionName, url, lineNumber } = node.callFrame
    const file = url.replace(/^.*\/(node_modules|dist)\//, '$1/')
    const key = `${functionName || '(anonymous)'}  ${file ? `${file}:${lineNumber + 1}` : ''}`.trim()
    fn.set(key, (fn.get(key) ?? 0) + dt)
    const p = packageOf(url)
    pkg.set(p, (pkg.get(p) ?? 0) + dt)
  }
  const rank = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ name, ms, share: ms / total }))
  return { totalMs: total, functions: rank(fn, top), packages: rank(pkg, 15) }
}

function render(s: ProfileSummary): string {
  const row = (x: { name: string; ms: number; share: number }) =>
    `${x.ms.toFixed(0).padStart(7)} ms ${(x.share * 100).toFixed(1).padStart(5)} %  ${x.name}`
  return [
    `total ${s.totalMs.toFixed(0)} ms`,
    '',
    'self time by package:',
    ...s.packages.map(row),
    '',
    'self time by function:',
    ...s.functions.map(row),
  ].join('\n')
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2)
  if (!file) {
    process.stderr.write('usage: node dist/bench/profile.js <file.cpuprofile> [top]\n')
    process.exit(2)
  }
  process.stdout.write(
    `${render(summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(top) || 25))}\n`,
  )
}

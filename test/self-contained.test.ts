/**
 * A clone of the repository carries everything its tests need. The test clones the committed state
 * into an empty temporary folder (nothing beside it: no shared/ folder, no sibling checkout), builds it
 * there, loads every compiled test file without running it, and reads the fixtures the tests and the
 * benchmark use. What it guards against: a test, benchmark or script that reads a path outside the
 * repository, or a file the suite needs that was never committed.
 *
 * Installing packages again would need the network; the clone borrows this checkout's node_modules
 * through a symbolic link instead (a folder git never tracks, so the clone would lack it anyway).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, symlinkSync } from 'node:fs'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { REPO, removeDir, tempDir } from './support/node-red-process'

const run = promisify(execFile)

/** Text files of the clone whose contents may name paths (sources, scripts, flows, configs). */
function sourceFiles(dir: string, root = dir): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name === '.git') continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...sourceFiles(path, root))
    else if (/\.(ts|js|mjs|cjs|json|html)$/.test(entry.name) || entry.name === 'run')
      out.push(relative(root, path))
  }
  return out
}

describe('a fresh clone of the repository', function () {
  // A full TypeScript build on a loaded 2-core machine.
  this.timeout(240_000)
  let parent: string | undefined
  let clone: string

  before(async () => {
    parent = tempDir('ttn-clone-')
    clone = join(parent, 'repo')
    await run('git', ['clone', '--quiet', REPO, clone])
    symlinkSync(join(REPO, 'node_modules'), join(clone, 'node_modules'), 'dir')
  })
  after(() => removeDir(parent))

  it('has nothing beside it, and no file in it reaches outside the repository', () => {
    assert.deepEqual(readdirSync(parent as string), ['repo'])
    // A relative path up into the folder beside the checkout, or that folder's name handed to join()/resolve().
    const outside = sourceFiles(clone).filter((file) => {
      const text = readFileSync(join(clone, file), 'utf8')
      return /(\.\.\/)+shared\//.test(text) || (/\.(ts|js|mjs|cjs)$/.test(file) && /['"]shared['"]\s*[,)]/.test(text))
    })
    assert.deepEqual(outside, [], `files that read the folder beside the checkout: ${outside.join(', ')}`)
  })

  it('builds, and every compiled test file loads (mocha --dry-run)', async () => {
    await run('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: clone, timeout: 200_000 })
    const { stdout } = await run('npx', ['mocha', '--dry-run', '--reporter', 'dot'], {
      cwd: clone,
      timeout: 60_000,
    })
    assert.match(stdout, /\d+ passing/, stdout.slice(-500))
  })

  it('reads the official fixtures from inside the clone, for the tests and the benchmark', () => {
    const fixtures = require(join(clone, 'dist', 'test', 'fixtures.js')) as {
      FIXTURE_DIR: string
      fixture(name: string): Record<string, unknown>
    }
    assert.ok(fixtures.FIXTURE_DIR.startsWith(clone), `${fixtures.FIXTURE_DIR} is outside ${clone}`)
    for (const name of [
      'tts-v3/up.json',
      'tts-v3/join.json',
      'tts-v3/down-ack.json',
      'tts-v3/down-failed.json',
      'ttn-v2/up.json',
    ]) {
      assert.equal(typeof fixtures.fixture(name), 'object', name)
    }
    const bench = require(join(clone, 'dist', 'bench', 'message.js')) as { FIXTURE: string }
    assert.ok(bench.FIXTURE.startsWith(clone) && existsSync(bench.FIXTURE), bench.FIXTURE)
  })
})

// The set-up step of `npm test` (scripts/test-prereqs.mjs) on a machine that lacks Mosquitto and
// openssl: it stops at once with the one command to run, and never starts the suite. Played with
// TTN_PREREQS_SEARCH_PATH (the folders it looks in) pointing at an empty folder.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { REPO, removeDir, tempDir } from '../support/node-red-process'

const SCRIPT = join(REPO, 'scripts', 'test-prereqs.mjs')

function runPrereqs(empty: string, asUser?: number) {
  // Another user may not be able to enter the checkout (a clone in a private temp folder): it runs a
  // copy of the script from a folder everyone can read. The script stops before it needs the checkout.
  const script = asUser === undefined ? SCRIPT : readableCopy(SCRIPT)
  const args =
    asUser === undefined
      ? [script]
      : ['--reuid', String(asUser), '--regid', String(asUser), '--clear-groups', process.execPath, script]
  return spawnSync(asUser === undefined ? process.execPath : 'setpriv', args, {
    env: { ...process.env, TTN_PREREQS_SEARCH_PATH: empty },
    encoding: 'utf8',
    timeout: 30_000,
  })
}

const copies: string[] = []
function readableCopy(file: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ttn-prereqs-'))
  chmodSync(dir, 0o755)
  const copy = join(dir, basename(file))
  copyFileSync(file, copy)
  chmodSync(copy, 0o644)
  copies.push(dir)
  return copy
}

describe('npm test set-up on a machine without Mosquitto and openssl', () => {
  let empty: string
  before(() => {
    empty = tempDir('ttn-no-programs-')
  })
  after(() => {
    removeDir(empty)
    for (const dir of copies.splice(0)) removeDir(dir)
  })

  it('stops at once with the one command: sudo apt-get for a user, the package manager for root without apt-get', () => {
    const root = typeof process.getuid === 'function' && process.getuid() === 0
    // As root, play the user with nobody's IDs; otherwise this process already is such a user.
    const user = runPrereqs(empty, root ? 65534 : undefined)
    assert.equal(user.status, 1, user.stderr)
    assert.match(user.stderr, /need mosquitto and openssl, which no npm package ships/)
    assert.match(user.stderr, /To fix: sudo apt-get install -y mosquitto openssl/)
    assert.doesNotMatch(user.stdout, /ready/)
    if (!root) return
    const rootWithoutApt = runPrereqs(empty)
    assert.equal(rootWithoutApt.status, 1, rootWithoutApt.stderr)
    assert.match(
      rootWithoutApt.stderr,
      /To fix: install mosquitto openssl with your system's package manager/,
    )
  })
})

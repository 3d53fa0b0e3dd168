// Runs before the first test (`npm test` → pretest). Everything the suite needs that is not an npm
// package is obtained here, or the run stops at once with the one command that fixes it, so a missing
// program never shows up as a failure in the middle of the run.
//
// - Chromium (editor tests): the build that ships inside the npm package @sparticuz/chromium (a dev
//   dependency, so `npm install` already downloaded it). It is unpacked once into
//   node_modules/.cache/ttn-chromium/<version>/ and started once to prove it runs.
// - Mosquitto (the suites that run against a real Mosquitto broker) and openssl (TLS certificates made
//   at test time): Debian packages; no npm package ships them. Installed with apt-get when we are root
//   on a machine that has it; otherwise the script stops with the command to run.
//
// Plain JavaScript (not compiled) so it runs before the build, and ESM because the Chromium package is
// published as an ES module only.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..')

function log(line) {
  process.stdout.write(`[test setup] ${line}\n`)
}

function fail(reason, fix) {
  process.stderr.write(`\n[test setup] ${reason}\n[test setup] To fix: ${fix}\n\n`)
  process.exit(1)
}

/** Where programs are looked for: PATH and the sbin folders (Debian puts mosquitto in /usr/sbin). */
function searchDirs() {
  // TTN_PREREQS_SEARCH_PATH replaces the whole list: the script's own test uses it to play a bare machine.
  const override = process.env.TTN_PREREQS_SEARCH_PATH
  if (override !== undefined) return override.split(delimiter).filter(Boolean)
  return [
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean),
    '/usr/sbin',
    '/usr/local/sbin',
    '/sbin',
  ]
}

function findProgram(name) {
  const dirs = searchDirs()
  return dirs.map((dir) => join(dir, name)).find((file) => existsSync(file))
}

/** Debian packages the suite needs, by program: [program, package]. */
const DEBIAN_NEEDS = [
  ['mosquitto', 'mosquitto'],
  ['openssl', 'openssl'],
]

function ensureDebianPrograms() {
  const missing = DEBIAN_NEEDS.filter(([program]) => !findProgram(program)).map(([, pkg]) => pkg)
  if (missing.length === 0) return
  const command = `apt-get install -y ${missing.join(' ')}`
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (!isRoot || !findProgram('apt-get')) {
    fail(
      `The tests need ${missing.join(' and ')}, which no npm package ships, and this user cannot install it.`,
      isRoot ? `install ${missing.join(' ')} with your system's package manager` : `sudo ${command}`,
    )
  }
  log(`installing Debian packages the tests need: ${missing.join(', ')} (once; about a minute)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', ...missing],
  ]) {
    const run = spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'inherit'] })
    if (run.status !== 0) fail(`apt-get ${args.join(' ')} failed (exit ${run.status}).`, command)
  }
  // Debian's package may start a system broker; the tests start their own on free ports.
  spawnSync('systemctl', ['stop', 'mosquitto'], { stdio: 'ignore' })
  const still = DEBIAN_NEEDS.filter(([program]) => !findProgram(program)).map(([program]) => program)
  if (still.length > 0) fail(`After installing, ${still.join(', ')} still cannot be found.`, command)
}

async function ensureChromium() {
  const pkgDir = join(repo, 'node_modules', '@sparticuz', 'chromium')
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
  const dir = join(repo, 'node_modules', '.cache', 'ttn-chromium', version)
  const executable = join(dir, 'chromium')
  if (!existsSync(executable)) {
    log(`unpacking Chromium ${version} from the npm package @sparticuz/chromium (once; a few seconds)`)
    mkdirSync(dir, { recursive: true })
    // The package unpacks into os.tmpdir(), which follows TMPDIR at call time: point it at our folder so
    // no other project's copy in /tmp is picked up and a version change unpacks anew.
    const saved = process.env.TMPDIR
    process.env.TMPDIR = dir
    try {
      const { default: Chromium } = await import('@sparticuz/chromium')
      await Chromium.executablePath(join(pkgDir, 'bin'))
    } finally {
      if (saved === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = saved
    }
  }
  try {
    execFileSync(executable, ['--version'], { stdio: 'pipe', timeout: 30_000 })
  } catch (err) {
    fail(
      `Chromium from @sparticuz/chromium (${executable}) does not start: ${String(err.stderr || err.message).trim()}`,
      `rm -rf node_modules && npm install, then npm test again`,
    )
  }
  // The editor tests read where Chromium is from here (test/support/browser.ts): one copy of the rule.
  const fontconfig = join(dir, 'fonts')
  writeFileSync(
    join(repo, 'node_modules', '.cache', 'ttn-chromium', 'current.json'),
    JSON.stringify({ version, executable, fontconfig }),
  )
}

ensureDebianPrograms()
await ensureChromium()
log('Chromium, Mosquitto and openssl are ready')

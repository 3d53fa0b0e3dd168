/**
 * The Mosquitto tests never skip: a missing broker is a failure that says how to install it, locally
 * and (more insistently) in CI. Here the search is pointed at an empty directory to see that message.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MOSQUITTO_MISSING, defaultSearchDirs, mosquittoTools } from '../support/mosquitto'

describe('Mosquitto test setup', () => {
  it('finds the installed broker and password tool', () => {
    const tools = mosquittoTools(defaultSearchDirs())
    assert.match(tools.broker, /mosquitto$/)
    assert.match(tools.passwd, /mosquitto_passwd$/)
  })

  it('fails with the install command when Mosquitto is missing, and says CI must not skip', () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-mosquitto-'))
    const saved = { ci: process.env.CI, bin: process.env.MOSQUITTO_BIN }
    try {
      delete process.env.MOSQUITTO_BIN
      delete process.env.CI
      assert.throws(() => mosquittoTools([empty]), (err: Error) => err.message === MOSQUITTO_MISSING)
      process.env.CI = 'true'
      assert.throws(() => mosquittoTools([empty]), /^Error: Mosquitto is not installed: apt-get install mosquitto \(CI runs these tests and must not skip them/)
    } finally {
      for (const [key, value] of [['CI', saved.ci], ['MOSQUITTO_BIN', saved.bin]] as const) {
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
      rmSync(empty, { recursive: true, force: true })
    }
  })
})

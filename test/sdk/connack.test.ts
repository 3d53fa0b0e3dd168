import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { authCauseText, ConnectResult, explainConnectFailure, likelyAuthCause } from '../../src/sdk/connack'

const catalog = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'nodes', 'locales', 'en-US', 'ttn.json'), 'utf8')) as {
  ttn: { errors: { notAuthorized: string; authCause: Record<string, string> } }
}
/** Node-RED's i18next substitution (__name__), enough to read the catalog's sentences. */
const render = (text: string, s: Record<string, unknown>) => text.replace(/__(\w+)__/g, (_, k: string) => String(s[k]))

describe('connack: a refused login leads with what was tried and the likeliest cause', () => {
  it('names a tenant that does not fit the host', () => {
    assert.deepEqual(likelyAuthCause('demo-app', 'eu1.cloud.thethings.network:8883'), { cause: 'no-tenant', expected: 'demo-app@ttn' })
    assert.deepEqual(likelyAuthCause('demo-app@acme', 'eu1.cloud.thethings.network:8883'), {
      cause: 'wrong-tenant',
      tenant: 'acme',
      expected: 'demo-app@ttn',
    })
    assert.deepEqual(likelyAuthCause('demo-app@ttn', 'acme.eu1.cloud.thethings.industries:8883'), {
      cause: 'wrong-tenant',
      tenant: 'ttn',
      expected: 'demo-app@acme',
    })
    assert.deepEqual(likelyAuthCause('demo-app@acme', 'eu1.cloud.thethings.industries:8883'), {
      cause: 'cloud-host-without-tenant',
      expected: '<tenant>.eu1.cloud.thethings.industries',
    })
  })
  it('blames the key when the username fits the host', () => {
    assert.deepEqual(likelyAuthCause('demo-app@ttn', 'eu1.cloud.thethings.network:8883'), { cause: 'key' })
    assert.deepEqual(likelyAuthCause('demo-app', 'lorawan.example.com:8883'), { cause: 'key' })
    assert.deepEqual(likelyAuthCause('demo-app@corp', '127.0.0.1:1883'), { cause: 'key' })
  })
  it('the log hint starts with the username and address, then the cause, then the checklist', () => {
    const f = explainConnectFailure(ConnectResult.NotAuthorized, 'demo-app', 'eu1.cloud.thethings.network:8883')
    assert.equal(f.summary, 'not authorized')
    assert.match(f.hint, /^Not authorized as demo-app at eu1\.cloud\.thethings\.network:8883 \(CONNACK 5\): the username has no tenant; on this server it is demo-app@ttn\. Check: \(1\)/)
  })
  it('the Node-RED catalog words every cause, short enough for the debug sidebar', () => {
    const causes = [
      likelyAuthCause('a', 'eu1.cloud.thethings.network:8883'),
      likelyAuthCause('a@x', 'eu1.cloud.thethings.network:8883'),
      likelyAuthCause('a@x', 'eu1.cloud.thethings.industries:8883'),
      likelyAuthCause('a@ttn', 'eu1.cloud.thethings.network:8883'),
    ]
    for (const c of [...causes, { cause: 'broker' }]) {
      const text = catalog.ttn.errors.authCause[c.cause]
      assert.ok(text, `catalog text for ${c.cause}`)
      const line = render(catalog.ttn.errors.notAuthorized, {
        username: 'demo-app@x',
        address: 'eu1.cloud.thethings.network:8883',
        cause: render(text, c as Record<string, unknown>),
      })
      assert.match(line, /^Not authorized as demo-app@x at eu1\.cloud\.thethings\.network:8883: /)
      // The debug sidebar shows about 110 characters of a string before it cuts it.
      assert.ok(line.length <= 130, `${line.length} characters: ${line}`)
      assert.doesNotMatch(line, /undefined/)
    }
    assert.match(authCauseText({ cause: 'key' }), /API key/)
  })
})

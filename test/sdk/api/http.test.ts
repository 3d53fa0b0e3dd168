/**
 * The request helper's errors, against real servers on 127.0.0.1: the HTTP API stand-in for the server's
 * answers, node:https with certificates made at test time for TLS, closed ports and unknown names for the
 * network.
 */
import assert from 'node:assert/strict'
import { createServer as createHttpsServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { ApiError, apiRequest } from '../../../src/sdk/api'
import { HttpApiStandIn } from '../../../src/simulator'
import { type TestPki, makeTestPki } from '../../support/certs'

const KEY = 'NNSXS.HTTPTEST.SECRET'

describe('apiRequest and ApiError (src/sdk/api/http.ts)', () => {
  let api: HttpApiStandIn
  beforeEach(async () => {
    api = await HttpApiStandIn.start({
      applications: [{ appId: 'app1', devices: [{ deviceId: 'dev1', name: 'Dev 1' }] }],
      keys: [
        { key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_TRAFFIC_READ'] },
        { key: 'NNSXS.OLD.SECRET', appId: 'app1', rights: ['RIGHT_APPLICATION_ALL'], expiresAt: '2020-01-01T00:00:00Z' },
      ],
    })
  })
  afterEach(() => api.stop())
  const target = (apiKey = KEY) => ({ root: api.url, apiKey })

  async function failure(p: Promise<unknown>): Promise<ApiError> {
    try {
      await p
    } catch (err) {
      assert.ok(err instanceof ApiError, `expected an ApiError, got ${err}`)
      return err
    }
    assert.fail('expected the request to fail')
  }

  it('returns the parsed body, the status and the headers', async () => {
    const res = await apiRequest<{ api_key: { entity_ids: unknown } }>(target(), { path: '/api/v3/auth_info' })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.api_key.entity_ids, { application_ids: { application_id: 'app1' } })
    assert.equal(res.headers['content-type'], 'application/json')
  })

  it('401: says the key is invalid or expired, by the server error name, and what to do', async () => {
    const expired = await failure(apiRequest(target('NNSXS.OLD.SECRET'), { path: '/api/v3/auth_info' }))
    assert.equal(expired.status, 401)
    assert.equal(expired.kind, 'unauthorized')
    assert.equal(expired.code, 'api_key_expired')
    assert.match(expired.message, /the API key has expired\. Create a new key in the Console/)
    const unknown = await failure(apiRequest(target('NNSXS.NOPE.NOPE'), { path: '/api/v3/auth_info' }))
    assert.equal(unknown.code, 'api_key_not_found')
    assert.match(unknown.message, /no such API key/)
    const garbled = await failure(apiRequest(target('not-a-key'), { path: '/api/v3/auth_info' }))
    assert.equal(garbled.code, 'invalid_authorization')
    assert.match(garbled.message, /not valid \(mistyped or truncated\)/)
  })

  it('403: names the missing right as the Console does', async () => {
    const err = await failure(apiRequest(target(), { path: '/api/v3/applications/app1/devices' }))
    assert.equal(err.status, 403)
    assert.equal(err.code, 'insufficient_application_rights')
    assert.equal(err.missingRight, 'RIGHT_APPLICATION_DEVICES_READ')
    assert.match(err.message, /lacks the right "View devices in application" \(RIGHT_APPLICATION_DEVICES_READ\): add it to the key/)
  })

  it('403 without a missing right: the key has no rights on this application', async () => {
    const err = await failure(apiRequest(target(), { path: '/api/v3/applications/other/devices' }))
    assert.equal(err.code, 'no_application_rights')
    assert.equal(err.missingRight, undefined)
    assert.match(err.message, /no rights on this application: use a key of this application, and check the application ID and tenant/)
  })

  it('404: says what was not found, as the caller words it', async () => {
    api.addKey({ key: 'NNSXS.READ.SECRET', appId: 'app1', rights: ['RIGHT_APPLICATION_DEVICES_READ'] })
    const err = await failure(apiRequest(target('NNSXS.READ.SECRET'), { path: '/api/v3/applications/app1/devices/nope', notFound: 'No device nope in application app1' }))
    assert.equal(err.status, 404)
    assert.equal(err.kind, 'not-found')
    assert.match(err.message, /^No device nope in application app1 \(HTTP 404\): check the ID/)
  })

  it('409: a conflict, read again and retry', async () => {
    api.injectFault({ type: 'status', status: 409, code: 6, name: 'end_device_euis_taken', message: 'EUIs taken' })
    const err = await failure(apiRequest(target(), { path: '/api/v3/auth_info' }))
    assert.equal(err.kind, 'conflict')
    assert.equal(err.code, 'end_device_euis_taken')
    assert.match(err.message, /HTTP 409: end_device_euis_taken/)
  })

  it('429: the wait the server asks for, from Retry-After or else X-Rate-Limit-Retry', async () => {
    api.injectFault({ type: 'rate-limit', retryAfterSeconds: 7 })
    const a = await failure(apiRequest(target(), { path: '/api/v3/auth_info' }))
    assert.equal(a.kind, 'rate-limited')
    assert.equal(a.retryAfterMs, 7000)
    assert.match(a.message, /asks to wait 7 s/)
    api.injectFault({ type: 'rate-limit', rateLimitRetrySeconds: 3 })
    const b = await failure(apiRequest(target(), { path: '/api/v3/auth_info' }))
    assert.equal(b.retryAfterMs, 3000)
  })

  it('5xx: the server failed, retry later', async () => {
    api.injectFault({ type: 'status', status: 503, code: 14, name: 'unavailable' })
    const err = await failure(apiRequest(target(), { path: '/api/v3/auth_info' }))
    assert.equal(err.kind, 'server')
    assert.match(err.message, /failed to answer .* \(HTTP 503\); retry later/)
  })

  it('network errors: a closed port, a dropped connection, a name that does not resolve', async () => {
    const url = api.url
    api.injectFault({ type: 'drop' })
    const dropped = await failure(apiRequest(target(), { path: '/api/v3/auth_info' }))
    assert.equal(dropped.kind, 'network')
    assert.match(dropped.message, /cannot be reached/)
    await api.stop()
    const refused = await failure(apiRequest({ root: url, apiKey: KEY }, { path: '/api/v3/auth_info' }))
    assert.equal(refused.code, 'ECONNREFUSED')
    assert.match(refused.message, /refused the connection \(ECONNREFUSED\): nothing listens there/)
    const unresolved = await failure(apiRequest({ root: 'http://no-such-host.invalid', apiKey: KEY }, { path: '/api/v3/auth_info' }))
    assert.match(unresolved.message, /The name no-such-host\.invalid does not resolve/)
  })

  it('a time-out names the address', async () => {
    // A server that accepts and never answers.
    const { createServer } = await import('node:net')
    const silent = createServer(() => undefined)
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    try {
      const port = (silent.address() as AddressInfo).port
      const err = await failure(apiRequest({ root: `http://127.0.0.1:${port}`, apiKey: KEY }, { path: '/api/v3/auth_info', timeoutMs: 200 }))
      assert.equal(err.kind, 'timeout')
      assert.match(err.message, /did not answer within 0\.2 s/)
    } finally {
      silent.close()
    }
  })

  describe('over TLS', () => {
    let pki: TestPki
    let server: Server
    let port: number
    before(async () => {
      pki = makeTestPki()
      server = createHttpsServer({ key: pki.serverKey, cert: pki.serverCert }, (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.end('{"ok":true}')
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      port = (server.address() as AddressInfo).port
    })
    after(() => {
      server.close()
      pki.remove()
    })

    it('verifies the certificate against the given CA', async () => {
      const res = await apiRequest<{ ok: boolean }>({ root: `https://127.0.0.1:${port}`, apiKey: KEY, tls: { ca: pki.caCert } }, { path: '/api/v3/x' })
      assert.equal(res.body.ok, true)
    })

    it('refuses a certificate it cannot verify, saying what to check', async () => {
      const err = await failure(apiRequest({ root: `https://127.0.0.1:${port}`, apiKey: KEY }, { path: '/api/v3/x' }))
      assert.equal(err.kind, 'tls')
      assert.match(err.message, /TLS with 127\.0\.0\.1:\d+ failed .*check the CA for private deployments/)
    })

    it('skips verification only when rejectUnauthorized is false', async () => {
      const res = await apiRequest<{ ok: boolean }>({ root: `https://127.0.0.1:${port}`, apiKey: KEY, tls: { rejectUnauthorized: false } }, { path: '/api/v3/x' })
      assert.equal(res.body.ok, true)
    })
  })
})

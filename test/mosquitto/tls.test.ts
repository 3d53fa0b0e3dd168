/**
 * TLS against Mosquitto with a CA and server certificates made at test time (openssl): verification
 * is on, so the generated CA must be configured; without it, and against a certificate for another
 * host name, the connection fails with TLS error 18 and a message that names certificate verification.
 */
import assert from 'node:assert/strict'
import { ConnectError, ConnectResult, MQTTClient, type MQTTClientOptions } from '../../src'
import type { Delivery } from '../../src/sdk/client'
import { type TestPki, makeTestPki } from '../support/certs'
import { Mosquitto, rawClient } from '../support/mosquitto'
import { waitFor } from '../support/wait'

const KEY = 'NNSXS.MOSQTLS.SECRET'

describe('MQTTClient over TLS to Mosquitto', function () {
  this.timeout(20_000)
  let pki: TestPki
  let broker: Mosquitto
  const clients: MQTTClient[] = []

  before(async () => {
    pki = makeTestPki()
    broker = await Mosquitto.start({ users: [{ username: 'app1@ttn', password: KEY }, { username: 'tts-server', password: 'server-secret', readwrite: ['v3/#'] }], pki })
  })
  after(async () => {
    await broker?.stop()
    pki?.remove()
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
  })

  function client(address: string, options: MQTTClientOptions = {}): MQTTClient {
    const c = new MQTTClient('app1', KEY, address, { tenant: 'ttn', autoConnect: false, connectTimeoutMs: 3000, reconnect: { minDelayMs: 5000 }, ...options })
    clients.push(c)
    return c
  }

  function refusedForCertificate(err: unknown, cause: RegExp): boolean {
    assert.ok(err instanceof ConnectError, String(err))
    assert.equal(err.code, ConnectResult.TlsError)
    assert.match(err.message, /certificate verification failed/)
    assert.match(err.message, cause)
    assert.match(err.hint, /CA for private deployments/)
    return true
  }

  it('connects with the generated CA configured, verifying 127.0.0.1 and localhost, and carries traffic', async () => {
    const byIp = client(`mqtts://127.0.0.1:${broker.tlsPort}`, { tls: { ca: pki.caCert } })
    const byName = client(`localhost:${broker.tlsPort}`, { tls: { enabled: true, ca: pki.caCert } })
    assert.equal(byIp.tls, true)
    assert.equal(byName.tls, true)
    await Promise.all([byIp.connect(), byName.connect()])

    const ups: Delivery[] = []
    byIp.onUplink(undefined, (d) => ups.push(d))
    await broker.waitForSubscriptions('v3/app1@ttn/devices/+/up', byIp.clientId)
    const server = await rawClient(broker.port, 'tts-server', 'server-secret')
    try {
      await server.publishAsync('v3/app1@ttn/devices/dev-a/up', JSON.stringify({ uplink_message: { f_port: 1, frm_payload: 'AQ==' } }))
      await waitFor(() => ups.length === 1, 5000, 'an uplink over TLS')
      assert.equal(ups[0].deviceId, 'dev-a')
    } finally {
      await server.endAsync(true)
    }
  })

  it('refuses the server without the CA: TLS error 18 naming certificate verification, on the callback and the status', async () => {
    const c = client(`mqtts://127.0.0.1:${broker.tlsPort}`)
    const results: number[] = []
    c.setConnectCallback((res) => results.push(res))
    await assert.rejects(c.connect(), (err) => refusedForCertificate(err, /self.signed|unable to (get|verify)/i))
    assert.deepEqual(results, [ConnectResult.TlsError])
    assert.equal(c.status.state, 'reconnecting')
    assert.equal(c.status.code, ConnectResult.TlsError)
    assert.equal(c.status.summary, 'TLS error')
    assert.match(c.status.hint ?? '', /certificate verification failed/)
  })

  it('refuses a certificate issued for another host name, even with the right CA', async () => {
    const c = client(`mqtts://127.0.0.1:${broker.wrongHostTlsPort}`, { tls: { ca: pki.caCert } })
    await assert.rejects(c.connect(), (err) => refusedForCertificate(err, /altnames/))
    const named = client(`mqtts://127.0.0.1:${broker.tlsPort}`, { tls: { ca: pki.caCert, servername: 'wrong.example' } })
    await assert.rejects(named.connect(), (err) => refusedForCertificate(err, /wrong\.example/))
  })
})

/**
 * TLS against the simulated server with certificates made at test time: verification is on by
 * default, a private CA can be given, a wrong host name fails, opting out is explicit and warned
 * about, and client certificates work for brokers that require them.
 */
import assert from 'node:assert/strict'
import { ConnectError, ConnectResult, MQTTClient, type MQTTClientOptions } from '../../src'
import { TtsBroker } from '../../src/simulator'
import { join } from 'node:path'
import { type TestPki, makeTestPki } from '../support/certs'
import { helper, ttnNodes } from '../support/node-red'
import { onceWithin, waitFor } from '../support/wait'

const tlsConfigNode: unknown = require(join(__dirname, '..', '..', '..', 'node_modules', '@node-red', 'nodes', 'core', 'network', '05-tls.js'))

const KEY = 'NNSXS.TLSTEST.SECRET'
const apps = [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }]

describe('MQTTClient over TLS', () => {
  let pki: TestPki
  let broker: TtsBroker
  const clients: MQTTClient[] = []
  before(() => {
    pki = makeTestPki()
  })
  after(() => pki.remove())
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await broker?.stop()
  })
  function client(host: string, options: MQTTClientOptions): MQTTClient {
    const c = new MQTTClient('app1', KEY, `mqtts://${host}:${broker.port}`, { tenant: 'ttn', autoConnect: false, connectTimeoutMs: 3000, reconnect: { minDelayMs: 5000 }, ...options })
    clients.push(c)
    return c
  }

  it('connects with the private CA configured, verifying the certificate', async () => {
    broker = await TtsBroker.start({ applications: apps, tls: { key: pki.serverKey, cert: pki.serverCert } })
    const c = client('127.0.0.1', { tls: { ca: pki.caCert } })
    assert.equal(c.tls, true)
    await c.connect()
    assert.equal(broker.connectionCount('app1@ttn'), 1)
  })

  it('refuses a certificate it cannot verify, with a TLS error that says what to check', async () => {
    broker = await TtsBroker.start({ applications: apps, tls: { key: pki.serverKey, cert: pki.serverCert } })
    const c = client('127.0.0.1', {})
    const results: number[] = []
    c.setConnectCallback((r) => results.push(r))
    await assert.rejects(c.connect(), (err: unknown) => {
      assert.ok(err instanceof ConnectError)
      assert.equal(err.code, ConnectResult.TlsError)
      assert.match(err.message, /TLS .* failed/)
      assert.match(err.message, /CA for private deployments/)
      return true
    })
    assert.deepEqual(results, [ConnectResult.TlsError])
    assert.equal(broker.connectionCount(), 0)
  })

  it('refuses a certificate for another host name', async () => {
    broker = await TtsBroker.start({ applications: apps, tls: { key: pki.wrongHostKey, cert: pki.wrongHostCert } })
    const c = client('127.0.0.1', { tls: { ca: pki.caCert } })
    await assert.rejects(c.connect(), (err: unknown) => err instanceof ConnectError && err.code === ConnectResult.TlsError && /altnames|host|IP/i.test(err.message))
  })

  it('connects without verification only when told to, and warns once', async () => {
    broker = await TtsBroker.start({ applications: apps, tls: { key: pki.serverKey, cert: pki.serverCert } })
    const c = client('127.0.0.1', { tls: { rejectUnauthorized: false } })
    const warning = onceWithin<[string]>(c, 'warning', 3000)
    await c.connect()
    const [text] = await warning
    assert.match(text, /verification is disabled/)
  })

  it('presents a client certificate to a broker that requires one', async () => {
    broker = await TtsBroker.start({ applications: apps, tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true } })
    const without = client('localhost', { tls: { ca: pki.caCert } })
    await assert.rejects(without.connect(), ConnectError)
    const withCert = client('localhost', { tls: { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey } })
    await withCert.connect()
    assert.equal(broker.connectionCount('app1@ttn'), 1)
  })

  it('in Node-RED: ttn-app uses the core tls-config node for a private CA and verifies the server', async () => {
    broker = await TtsBroker.start({ applications: apps, tls: { key: pki.serverKey, cert: pki.serverCert } })
    const flow = [
      { id: 'tlscfg', type: 'tls-config', cert: '', key: '', ca: pki.caPath, verifyservercert: true },
      { id: 'cfg', type: 'ttn-app', appId: 'app1', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: true, tlsConfig: 'tlscfg' },
      { id: 'up', type: 'ttn-uplink', app: 'cfg', wires: [] },
    ]
    try {
      await helper.load([ttnNodes, tlsConfigNode], flow, { cfg: { apiKey: KEY } })
      await waitFor(() => broker.connectionCount('app1@ttn') === 1, 5000, 'connected over TLS')
    } finally {
      await helper.unload()
    }
  })
})

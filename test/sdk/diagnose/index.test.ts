/**
 * The connection check against real servers on 127.0.0.1: the MQTT simulator (plain and TLS), the HTTP
 * API stand-in with keys of chosen rights, the Storage stand-in, and ports where nothing listens.
 */
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { type CheckReport, checkConnection, firstProblem } from '../../../src/sdk/diagnose'
import { HttpApiStandIn, StorageStandIn, TtsBroker } from '../../../src/simulator'
import { type TestPki, makeTestPki } from '../../support/certs'

const KEY = 'NNSXS.GOOD.SECRET'
const OTHER = 'NNSXS.OTHERAPP.SECRET'
const NO_TRAFFIC = 'NNSXS.DEVICESONLY.SECRET'
const EXPIRED = 'NNSXS.EXPIRED.SECRET'

function step(r: CheckReport, name: string) {
  const s = r.steps.find((x) => x.name === name)
  assert.ok(s, `no step ${name} in ${JSON.stringify(r.steps.map((x) => x.name))}`)
  return s
}

describe('checkConnection (src/sdk/diagnose)', () => {
  let broker: TtsBroker
  let storage: StorageStandIn
  let api: HttpApiStandIn
  beforeEach(async () => {
    broker = await TtsBroker.start({
      applications: [
        { appId: 'app1', tenant: 'ttn', apiKey: KEY },
        { appId: 'app2', tenant: 'ttn', apiKey: OTHER },
      ],
    })
    storage = await StorageStandIn.start({ applications: [{ appId: 'app1', apiKey: KEY }], broker })
    api = await HttpApiStandIn.start({
      applications: [{ appId: 'app1', devices: [{ deviceId: 'dev1', name: 'One' }] }, { appId: 'app2' }],
      keys: [
        { key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_ALL'], name: 'node-red' },
        { key: OTHER, appId: 'app2', rights: ['RIGHT_APPLICATION_ALL'] },
        { key: NO_TRAFFIC, appId: 'app1', rights: ['RIGHT_APPLICATION_DEVICES_READ', 'RIGHT_APPLICATION_INFO'] },
        { key: EXPIRED, appId: 'app1', rights: ['RIGHT_APPLICATION_ALL'], expiresAt: '2021-06-01T00:00:00Z' },
      ],
      broker,
      storage,
    })
  })
  afterEach(async () => {
    await api.stop()
    await storage.stop()
    await broker.stop()
  })
  const input = (apiKey: string, extra: Record<string, unknown> = {}) => ({
    appId: 'app1',
    apiKey,
    address: `127.0.0.1:${broker.port}`,
    options: { tenant: 'ttn', apiUrl: api.url, ...extra },
    needs: { readTraffic: true, writeDownlinks: true },
  })

  it('a good connection: every step ok, in order, and what each found', async () => {
    const r = await checkConnection(input(KEY))
    assert.equal(r.ok, true, JSON.stringify(r.steps, null, 1))
    assert.deepEqual(r.steps.map((s) => s.name), ['dns', 'tcp', 'tls', 'mqtt', 'key', 'rights', 'cluster', 'username'])
    assert.match(step(r, 'dns').message, /is an IP address/)
    assert.match(step(r, 'tcp').message, /accepts connections/)
    assert.equal(step(r, 'tls').warning, true)
    assert.match(step(r, 'tls').message, /Plain MQTT .* unencrypted/)
    assert.match(step(r, 'mqtt').message, /accepted the login as "app1@ttn" \(CONNACK 0\)/)
    assert.match(step(r, 'key').message, /The key "node-red" is valid and belongs to application app1\. It does not expire\./)
    assert.match(step(r, 'rights').message, /"Read application traffic \(uplink and downlink\)", "Write downlink application traffic"/)
    assert.match(step(r, 'cluster').message, /served by 127\.0\.0\.1, where the connection goes/)
    assert.match(step(r, 'username').message, /Logs in as "app1@ttn" \(the tenant "ttn" configured\)/)
  })

  it('a key of another application: CONNACK 5, and the key step says whose it is', async () => {
    const r = await checkConnection(input(OTHER))
    assert.equal(r.ok, false)
    assert.match(step(r, 'mqtt').message, /refused the login as "app1@ttn" \(CONNACK 5, not authorized\)\. The cause is below\./)
    const cause = firstProblem(r, ['mqtt'])
    assert.equal(cause?.name, 'key')
    assert.match(cause?.message ?? '', /belongs to application app2, not app1: create a key in app1/)
    assert.equal(step(r, 'rights').skipped, true)
  })

  it('an expired key: named as expired, with what to do', async () => {
    broker.setApiKey('app1', EXPIRED)
    const r = await checkConnection(input(EXPIRED))
    assert.match(firstProblem(r, ['mqtt'])?.message ?? '', /has expired\. Create a new key/)
  })

  it('a key that connects but lacks traffic rights: the rights step names the missing right and why it is needed', async () => {
    broker.setApiKey('app1', NO_TRAFFIC)
    const r = await checkConnection(input(NO_TRAFFIC))
    assert.equal(step(r, 'mqtt').ok, true, 'the server lets it connect')
    const rights = step(r, 'rights')
    assert.equal(rights.ok, false)
    assert.match(rights.message, /lacks "Read application traffic \(uplink and downlink\)" \(for receiving uplinks and events\) and "Write downlink application traffic" \(for sending downlinks\)/)
  })

  it('a key without the devices right: ok, with a warning that the device lists stay empty', async () => {
    api.addKey({ key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_TRAFFIC_READ', 'RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE'] })
    const r = await checkConnection(input(KEY))
    assert.equal(r.ok, true)
    assert.equal(step(r, 'rights').warning, true)
    assert.match(step(r, 'rights').message, /lacks "View devices in application": the device lists in the editor stay empty/)
    assert.equal(step(r, 'cluster').skipped, true)
  })

  it('device details need the devices right: then its absence is a failure', async () => {
    api.addKey({ key: KEY, appId: 'app1', rights: ['RIGHT_APPLICATION_TRAFFIC_READ'] })
    const r = await checkConnection({ ...input(KEY), needs: { readTraffic: true, readDevices: true } })
    assert.match(firstProblem(r)?.message ?? '', /lacks "View devices in application" \(for adding device details to uplinks\)/)
  })

  it('the application on another cluster: "no application app1 on …: it is on eu1"', async () => {
    api.putDevice('app1', { deviceId: 'dev1', applicationServerAddress: 'eu1.cloud.thethings.network' })
    const r = await checkConnection(input(KEY))
    const cause = firstProblem(r)
    assert.equal(cause?.name, 'cluster')
    assert.equal(cause?.message, 'No application app1 on 127.0.0.1: it is on eu1. Set the server to eu1.cloud.thethings.network.')
  })

  it('no such application (no rights at all): says both possibilities', async () => {
    const r = await checkConnection({ ...input(KEY), appId: 'app3' })
    assert.match(step(r, 'key').message, /belongs to application app1, not app3/)
  })

  it('recovery needs the Storage Integration: off says where to enable it', async () => {
    storage.setEnabled('app1', false)
    const r = await checkConnection({ ...input(KEY), needs: { readTraffic: true, recovery: true } })
    const s = step(r, 'storage')
    assert.equal(s.ok, false)
    assert.match(s.message, /not enabled for app1 .*Integrations → Storage Integration/)
  })

  it('nothing listens on the port: TCP fails, the login is not tried', async () => {
    const probe = createServer()
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
    const port = (probe.address() as AddressInfo).port
    await new Promise<void>((r) => probe.close(() => r()))
    const r = await checkConnection({ ...input(KEY), address: `127.0.0.1:${port}` })
    assert.match(step(r, 'tcp').message, new RegExp(`127\\.0\\.0\\.1 refused a connection on port ${port}: nothing listens there`))
    assert.equal(step(r, 'mqtt').skipped, true)
  })

  it('a name that does not resolve: the DNS step says so', async () => {
    const r = await checkConnection({ ...input(KEY), address: 'no-such-cluster.invalid:8883' })
    assert.equal(step(r, 'dns').ok, false)
    assert.match(step(r, 'dns').message, /no-such-cluster\.invalid does not resolve/)
    assert.equal(step(r, 'tcp').skipped, true)
  })

  it('a malformed address or application ID fails at once with the SDK message', async () => {
    const a = await checkConnection({ ...input(KEY), address: 'host:99999' })
    assert.match(a.steps[0].message, /Invalid port "99999"/)
    const b = await checkConnection({ ...input(KEY), appId: 'My_App' })
    assert.equal(b.steps[0].name, 'username')
    assert.match(b.steps[0].message, /not valid/)
    const c = await checkConnection({ ...input('  ') })
    assert.match(c.steps[0].message, /No API key/)
  })

  it('no key material in any message', async () => {
    for (const key of [KEY, OTHER, NO_TRAFFIC, EXPIRED, 'NNSXS.UNKNOWN.KEY']) {
      const r = await checkConnection(input(key))
      const text = JSON.stringify(r)
      assert.ok(!text.includes('SECRET') && !/NNSXS\.[A-Z0-9]+\.[A-Z0-9]+/.test(text), text)
    }
  })

  it('the runtime variant skips the network steps', async () => {
    const r = await checkConnection(input(OTHER), { network: false })
    assert.deepEqual(r.steps.map((s) => s.name), ['key', 'rights', 'username'])
  })

  describe('TLS', () => {
    let pki: TestPki
    let tlsBroker: TtsBroker
    before(() => {
      pki = makeTestPki()
    })
    after(() => pki.remove())
    afterEach(() => tlsBroker?.stop())

    it('with the private CA: the certificate is valid for the host', async () => {
      tlsBroker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], tls: { key: pki.serverKey, cert: pki.serverCert } })
      const r = await checkConnection({ ...input(KEY, { tls: { ca: pki.caCert } }), address: `mqtts://127.0.0.1:${tlsBroker.port}` })
      assert.match(step(r, 'tls').message, /The certificate is valid for 127\.0\.0\.1; issued by ttn-test-ca, valid until \d{4}-\d\d-\d\d/)
      assert.equal(step(r, 'mqtt').ok, true)
    })

    it('without the CA: not signed by a trusted CA, give its CA', async () => {
      tlsBroker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], tls: { key: pki.serverKey, cert: pki.serverCert } })
      const r = await checkConnection({ ...input(KEY), address: `mqtts://127.0.0.1:${tlsBroker.port}` })
      assert.equal(step(r, 'tls').ok, false)
      assert.match(step(r, 'tls').message, /not signed by a CA this machine trusts: for a private server, give its CA/)
      assert.equal(step(r, 'mqtt').skipped, true)
    })

    it('a certificate for another host: says it is not for this host', async () => {
      tlsBroker = await TtsBroker.start({ applications: [{ appId: 'app1', tenant: 'ttn', apiKey: KEY }], tls: { key: pki.wrongHostKey, cert: pki.wrongHostCert } })
      const r = await checkConnection({ ...input(KEY, { tls: { ca: pki.caCert } }), address: `mqtts://127.0.0.1:${tlsBroker.port}` })
      assert.match(step(r, 'tls').message, /it is not for 127\.0\.0\.1: connect with the host name the certificate names/)
    })

    it('TLS on a plain port: says to check the port', async () => {
      const r = await checkConnection({ ...input(KEY), address: `mqtts://127.0.0.1:${broker.port}` })
      assert.equal(step(r, 'tls').ok, false)
      assert.match(step(r, 'tls').message, /TLS with 127\.0\.0\.1:\d+ failed .*plain MQTT \(1883\)|did not finish/)
    })
  })
})

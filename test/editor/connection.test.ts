import assert from 'node:assert/strict'
import { type DialogValues, describeConnection, tlsImplied } from '../../src/editor/connection'

/** `${NAME}`: a Node-RED environment-variable reference. */
const env = (name: string) => `\${${name}}`

const base: DialogValues = {
  server: 'eu1.cloud.thethings.network',
  tls: true,
  appId: 'my-app',
  tenant: '',
  api: 'v3',
  broker: 'tts',
  username: '',
  apiKey: 'NNSXS.ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFG.ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRST',
}
const view = (v: Partial<DialogValues>) => describeConnection({ ...base, ...v })

describe('editor: what the ttn-app dialog says the runtime will do', () => {
  it('the address and username of The Things Network, and a link to the application in the Console', () => {
    const v = view({})
    assert.equal(v.address, 'mqtts://eu1.cloud.thethings.network:8883')
    assert.equal(v.username, 'my-app@ttn')
    assert.deepEqual(v.tenant, { value: 'ttn', source: 'server', overruled: [] })
    assert.equal(v.consoleUrl, 'https://eu1.cloud.thethings.network/console/applications/my-app')
    assert.equal(v.keyWarning, undefined)
    assert.equal(v.plainOnPublicServer, false)
  })
  it('derives the tenant of any The Things Stack Cloud cluster, as the runtime does', () => {
    assert.equal(view({ server: 'acme.eu3.cloud.thethings.industries' }).username, 'my-app@acme')
  })
  it('accepts tls:// and ssl:// as the SDK does, and lets a scheme decide TLS', () => {
    assert.equal(view({ server: 'tls://h.example', tls: false }).address, 'mqtts://h.example:8883')
    assert.equal(view({ server: 'ssl://h.example:9000', tls: false }).tlsDecidedBy, 'scheme')
    assert.equal(view({ server: 'mqtt://h.example', tls: true }).address, 'mqtt://h.example:1883')
  })
  it('lets the port that names TLS decide it: host:8883 is TLS, host:1883 plain', () => {
    assert.deepEqual(tlsImplied('h.example:8883'), { tls: true, by: 'port' })
    assert.deepEqual(tlsImplied('[::1]:1883'), { tls: false, by: 'port' })
    assert.equal(tlsImplied('h.example:9000'), undefined)
    assert.equal(tlsImplied('h.example'), undefined)
    assert.equal(view({ server: 'h.example:8883', tls: false }).address, 'mqtts://h.example:8883')
    assert.equal(view({ server: 'h.example:1883', tls: true }).address, 'mqtt://h.example:1883')
  })
  it('warns when TLS is off towards a public server', () => {
    assert.equal(view({ tls: false }).plainOnPublicServer, true)
    assert.equal(view({ server: 'acme.eu1.cloud.thethings.industries', tls: false }).plainOnPublicServer, true)
    assert.equal(view({ server: 'lorawan.example.com', tls: false }).plainOnPublicServer, false)
  })
  it('names the tenant that wins and the ones that lose (app@tenant, then the tenant field, then the server)', () => {
    const v = view({ appId: 'my-app@third', tenant: 'other' })
    assert.equal(v.username, 'my-app@third')
    assert.deepEqual(v.tenant, {
      value: 'third',
      source: 'app-id',
      overruled: [
        { value: 'other', source: 'tenant-field' },
        { value: 'ttn', source: 'server' },
      ],
    })
    assert.deepEqual(view({ tenant: 'ttn' }).tenant?.overruled, [], 'equal values do not disagree')
  })
  it('gives the SDK\'s words for an address or ID it refuses, and no made-up address', () => {
    const bad = view({ server: 'https://eu1.cloud.thethings.network/console' })
    assert.equal(bad.address, undefined)
    assert.match(bad.addressProblem ?? '', /Unsupported scheme "https:\/\/"/)
    assert.match(view({ appId: 'My App' }).usernameProblem ?? '', /not valid/)
    assert.match(view({ tenant: 'Acme!' }).usernameProblem ?? '', /tenant ID "Acme!" is not valid/)
  })
  it('resolves nothing for environment-variable servers, and flags keys that cannot work', () => {
    assert.equal(view({ server: env('TTN_SERVER') }).env, true)
    assert.equal(view({ server: env('TTN_SERVER') }).address, undefined)
    assert.equal(view({ apiKey: '' }).keyWarning, 'missing')
    assert.equal(view({ apiKey: 'ttn-account-v2.abcdefghijklmnop' }).keyWarning, 'v2')
    assert.equal(view({ apiKey: 'secret' }).keyWarning, 'other')
    assert.equal(view({ apiKey: env('TTN_KEY') }).keyWarning, undefined)
    assert.equal(view({ apiKey: undefined }).keyWarning, undefined, 'a stored key')
    assert.equal(view({ apiKey: 'broker-password', broker: 'generic' }).keyWarning, undefined)
    assert.equal(view({ apiKey: '', broker: 'generic' }).keyWarning, 'missing')
  })
  it('logs in as the configured user on another broker, and links no Console there', () => {
    const v = view({ broker: 'generic', username: 'bridge', server: 'mqtt.example.com' })
    assert.equal(v.username, 'bridge')
    assert.equal(v.consoleUrl, undefined)
    assert.equal(view({ server: '127.0.0.1:1883' }).consoleUrl, undefined)
  })
})

import assert from 'node:assert/strict'
import { cloudHost, hostOf, networkOf, readServerInput } from '../../src/editor/server-input'

/** `${NAME}`: a Node-RED environment-variable reference. */
const env = (name: string) => `\${${name}}`

describe('editor: reading the Server field', () => {
  it('reads a pasted Console URL as its host, whatever the path, port or credentials in it', () => {
    for (const url of [
      'https://eu1.cloud.thethings.network/console',
      'https://eu1.cloud.thethings.network/console/applications/my-app/devices',
      'HTTPS://EU1.cloud.thethings.network:443/console?x=1',
      'http://user@eu1.cloud.thethings.network/',
    ]) {
      assert.deepEqual(readServerInput(url), { server: 'eu1.cloud.thethings.network', note: 'console-url' }, url)
    }
    assert.deepEqual(readServerInput(' https://acme.nam1.cloud.thethings.industries/console '), {
      server: 'acme.nam1.cloud.thethings.industries',
      note: 'console-url',
    })
  })
  it('maps the bare cluster names of The Things Network to their hosts', () => {
    assert.deepEqual(readServerInput('eu1'), { server: 'eu1.cloud.thethings.network', note: 'cluster-name' })
    assert.deepEqual(readServerInput('NAM1'), { server: 'nam1.cloud.thethings.network', note: 'cluster-name' })
    assert.deepEqual(readServerInput(' au1 '), { server: 'au1.cloud.thethings.network', note: 'cluster-name' })
  })
  it('leaves everything else as typed (trimmed), never empty, never made up', () => {
    for (const s of ['eu2', 'lorawan.example.com:8883', 'mqtts://h.example', env('TTN_SERVER'), 'https://', 'as1', '']) {
      assert.deepEqual(readServerInput(s), { server: s.trim() }, s)
    }
  })
  it('recognises the network of a server: TTN clusters, The Things Stack Cloud on any cluster, custom', () => {
    assert.deepEqual(networkOf('eu1.cloud.thethings.network'), { preset: 'eu1' })
    assert.deepEqual(networkOf('mqtts://nam1.cloud.thethings.network:8883'), { preset: 'nam1' })
    assert.deepEqual(networkOf('acme.eu3.cloud.thethings.industries'), { preset: 'cloud', tenant: 'acme', cluster: 'eu3' })
    assert.deepEqual(networkOf('my-corp.au1.cloud.thethings.industries:8883'), { preset: 'cloud', tenant: 'my-corp', cluster: 'au1' })
    assert.deepEqual(networkOf('127.0.0.1:1883'), { preset: 'custom' })
    assert.deepEqual(networkOf('eu1'), { preset: 'custom' })
  })
  it('builds hosts and reads them back', () => {
    assert.equal(cloudHost('acme', 'eu1'), 'acme.eu1.cloud.thethings.industries')
    assert.equal(hostOf('mqtts://[::1]:8883'), '::1')
    assert.equal(hostOf('Broker.Example:1883/x'), 'broker.example')
  })
})

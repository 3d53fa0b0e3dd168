import assert from 'node:assert/strict'
import { isTheThingsNetwork, normalizeApiUrl, resolveApiBase } from '../../../src/sdk/api'

describe('API base URL (src/sdk/api/base-url.ts)', () => {
  it('derives https://<MQTT host> when no apiUrl is given', () => {
    assert.deepEqual(resolveApiBase('tts.example.com'), { app: 'https://tts.example.com', identity: 'https://tts.example.com' })
    assert.deepEqual(resolveApiBase('acme.eu1.cloud.thethings.industries', ''), {
      app: 'https://acme.eu1.cloud.thethings.industries',
      identity: 'https://acme.eu1.cloud.thethings.industries',
    })
  })

  it('sends Identity Server routes to eu1 on The Things Network, whatever the cluster', () => {
    assert.deepEqual(resolveApiBase('nam1.cloud.thethings.network'), {
      app: 'https://nam1.cloud.thethings.network',
      identity: 'https://eu1.cloud.thethings.network',
    })
    assert.deepEqual(resolveApiBase('au1.cloud.thethings.network', '  '), {
      app: 'https://au1.cloud.thethings.network',
      identity: 'https://eu1.cloud.thethings.network',
    })
    assert.deepEqual(resolveApiBase('eu1.cloud.thethings.network'), {
      app: 'https://eu1.cloud.thethings.network',
      identity: 'https://eu1.cloud.thethings.network',
    })
  })

  it('applies the eu1 rule to an explicit TTN apiUrl too, keeping its scheme and port', () => {
    assert.deepEqual(resolveApiBase('127.0.0.1', 'https://nam1.cloud.thethings.network:8443/api/v3/'), {
      app: 'https://nam1.cloud.thethings.network:8443',
      identity: 'https://eu1.cloud.thethings.network:8443',
    })
  })

  it('takes an explicit apiUrl as given, http:// allowed for local servers, /api/v3 and slashes trimmed', () => {
    assert.deepEqual(resolveApiBase('nam1.cloud.thethings.network', 'http://127.0.0.1:8080/api/v3'), {
      app: 'http://127.0.0.1:8080',
      identity: 'http://127.0.0.1:8080',
    })
    assert.equal(normalizeApiUrl('https://tts.example.com/prefix/'), 'https://tts.example.com/prefix')
  })

  it('brackets an IPv6 MQTT host', () => {
    assert.deepEqual(resolveApiBase('::1'), { app: 'https://[::1]', identity: 'https://[::1]' })
  })

  it('rejects addresses that cannot be an API root, saying what to give', () => {
    assert.throws(() => normalizeApiUrl('eu1.cloud.thethings.network'), /is not a URL: give the server's root, e\.g\. https:\/\/eu1/)
    assert.throws(() => normalizeApiUrl('mqtts://eu1.cloud.thethings.network'), /must start with https:\/\/ \(or http:\/\/ for a local test server\)/)
    assert.throws(() => normalizeApiUrl('https://h.example/?x=1'), /must not have a query/)
    assert.throws(() => normalizeApiUrl('https://u:p@h.example'), /must not carry a user or password/)
  })

  it('knows The Things Network hosts', () => {
    assert.equal(isTheThingsNetwork('EU1.cloud.thethings.network'), true)
    assert.equal(isTheThingsNetwork('cloud.thethings.network'), true)
    assert.equal(isTheThingsNetwork('eu1.cloud.thethings.industries'), false)
    assert.equal(isTheThingsNetwork('thethings.network.example.com'), false)
  })
})

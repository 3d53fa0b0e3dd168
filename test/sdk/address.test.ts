import assert from 'node:assert/strict'
import { checkId, deriveTenant, idProblem, isPublicTtsHost, parseAddress, resolveIdentity, tlsOverrideFor } from '../../src/sdk/address'

describe('address and identity', () => {
  it('parses host:port as in the seed, with TLS on 8883', () => {
    assert.deepEqual(parseAddress('eu1.cloud.thethings.network:8883'), { host: 'eu1.cloud.thethings.network', port: 8883, tls: true })
    assert.deepEqual(parseAddress('localhost:1883'), { host: 'localhost', port: 1883, tls: false })
  })
  it('defaults to eu1 on 8883 with TLS', () => {
    assert.deepEqual(parseAddress(), { host: 'eu1.cloud.thethings.network', port: 8883, tls: true })
  })
  it('parses mqtt:// and mqtts:// URLs with default ports', () => {
    assert.deepEqual(parseAddress('mqtt://broker.example.com'), { host: 'broker.example.com', port: 1883, tls: false })
    assert.deepEqual(parseAddress('mqtts://broker.example.com'), { host: 'broker.example.com', port: 8883, tls: true })
    assert.deepEqual(parseAddress('mqtts://broker.example.com:9883'), { host: 'broker.example.com', port: 9883, tls: true })
  })
  it('lets options.tls.enabled decide for a bare host or an unusual port, but not over a scheme', () => {
    assert.deepEqual(parseAddress('host.example', false), { host: 'host.example', port: 1883, tls: false })
    assert.deepEqual(parseAddress('host.example:9000', true), { host: 'host.example', port: 9000, tls: true })
    assert.equal(parseAddress('mqtt://host.example', true).tls, false)
  })
  it('parses IPv6 hosts', () => {
    assert.deepEqual(parseAddress('[::1]:1883'), { host: '::1', port: 1883, tls: false })
  })
  it('rejects bad addresses with a clear error', () => {
    assert.throws(() => parseAddress('ws://host'), /Unsupported scheme "ws:\/\/".*mqtts:\/\//)
    assert.throws(() => parseAddress('host:99999'), /Invalid port "99999"/)
    assert.throws(() => parseAddress('host:abc'), /Invalid port "abc"/)
    assert.throws(() => parseAddress('  '), /empty/)
  })
  it('derives the tenant from the cluster host', () => {
    assert.equal(deriveTenant('eu1.cloud.thethings.network'), 'ttn')
    assert.equal(deriveTenant('nam1.cloud.thethings.network'), 'ttn')
    assert.equal(deriveTenant('acme.eu1.cloud.thethings.industries'), 'acme')
    assert.equal(deriveTenant('lorawan.example.com'), undefined)
    assert.equal(deriveTenant('127.0.0.1'), undefined)
  })
  it('builds the username from app ID, host and explicit tenant', () => {
    assert.deepEqual(resolveIdentity('my-app', 'eu1.cloud.thethings.network'), { appId: 'my-app', tenant: 'ttn', username: 'my-app@ttn' })
    assert.deepEqual(resolveIdentity('my-app', 'acme.eu2.cloud.thethings.industries'), { appId: 'my-app', tenant: 'acme', username: 'my-app@acme' })
    assert.deepEqual(resolveIdentity('my-app', 'localhost'), { appId: 'my-app', tenant: undefined, username: 'my-app' })
    assert.deepEqual(resolveIdentity('my-app', 'localhost', 'corp'), { appId: 'my-app', tenant: 'corp', username: 'my-app@corp' })
  })
  it('uses app@tenant as given', () => {
    assert.deepEqual(resolveIdentity('my-app@other', 'eu1.cloud.thethings.network', 'ignored'), { appId: 'my-app', tenant: 'other', username: 'my-app@other' })
    assert.throws(() => resolveIdentity('my-app@', 'x'), /malformed "@tenant"/)
  })
  it('explains invalid IDs', () => {
    assert.match(idProblem('application', 'My-App') ?? '', /upper-case letters are not allowed/)
    assert.match(idProblem('device', 'dev/1') ?? '', /"\/", "\+" and "#" are not allowed/)
    assert.match(idProblem('device', 'dev_1') ?? '', /"_" is not allowed in v3/)
    assert.equal(idProblem('device', 'dev_1', 'v2'), undefined)
    assert.match(idProblem('device', 'a'.repeat(37)) ?? '', /37 characters long; at most 36/)
    assert.match(idProblem('device', '') ?? '', /missing/)
    assert.equal(idProblem('device', 'dev1'), undefined)
  })
})

describe('address: the rules the editor shares', () => {
  it('checkId gives the reason as codes', () => {
    assert.deepEqual(checkId('my-app'), { ok: true })
    assert.deepEqual(checkId(''), { ok: false, reason: 'missing' })
    assert.deepEqual(checkId('a'.repeat(37)), { ok: false, reason: 'too-long', length: 37 })
    assert.deepEqual(checkId('My_S'), { ok: false, reason: 'pattern', hints: ['upper-case', 'underscore'] })
    assert.deepEqual(checkId('ab'), { ok: false, reason: 'pattern', hints: ['too-short'] })
    assert.deepEqual(checkId('my_sensor', 'v2'), { ok: true })
  })
  it('refuses a tenant that cannot exist, from app@tenant or the tenant option', () => {
    assert.throws(() => resolveIdentity('my-app@Acme!', 'x'), /tenant ID "Acme!" is not valid/)
    assert.throws(() => resolveIdentity('my-app', 'x', 'a_b'), /tenant ID "a_b" is not valid/)
  })
  it('lets a scheme decide TLS, else the checkbox', () => {
    assert.equal(tlsOverrideFor('mqtts://h', false), undefined)
    assert.equal(tlsOverrideFor('h:8883', false), false)
    assert.equal(tlsOverrideFor('h', true), true)
  })
  it('knows the public servers', () => {
    assert.equal(isPublicTtsHost('eu1.cloud.thethings.network'), true)
    assert.equal(isPublicTtsHost('acme.eu1.cloud.thethings.industries'), true)
    assert.equal(isPublicTtsHost('thethings.network.example.com'), false)
  })
})

import assert from 'node:assert/strict'
import { apiKeyKind } from '../../src/sdk/api-key'

/** `${NAME}`: a Node-RED environment-variable reference. */
const env = (name: string) => `\${${name}}`

describe('API key forms', () => {
  it('tells v3 keys, v2 keys, environment references and missing keys apart', () => {
    assert.equal(apiKeyKind('NNSXS.ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFG.ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRST'), 'v3')
    assert.equal(apiKeyKind(' ttn-account-v2.Zm9vYmFy '), 'v2')
    assert.equal(apiKeyKind(env('TTN_API_KEY')), 'env')
    assert.equal(apiKeyKind(''), 'missing')
    assert.equal(apiKeyKind('   '), 'missing')
    assert.equal(apiKeyKind(undefined), 'missing')
    assert.equal(apiKeyKind('NNSXS.short.key'), 'other')
    assert.equal(apiKeyKind('password123'), 'other')
  })
})

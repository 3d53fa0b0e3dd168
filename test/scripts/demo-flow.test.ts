import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { demoFlow, GATEWAY_KEY_ENV, prepareFlows } from '../../scripts/demo-flow'

const EXAMPLES = join(__dirname, '..', '..', '..', 'examples')
const target = { name: 'demo-app (simulator)', appId: 'demo-app', tenant: 'ttn', server: '127.0.0.1:1883', tls: false }

describe('demo flow: tab 04 Device and gateway health', () => {
  it('points the gateway node at the demo Gateway Server, with its key only as an environment reference', () => {
    const gateways = { server: 'http://127.0.0.1:4321', gatewayIds: 'sim-gateway-roof, sim-gateway-basement' }
    const flow = demoFlow(EXAMPLES, { ...target, gateways })
    assert.ok(flow.some((n) => n.type === 'tab' && n.label === '04 Device and gateway health'))
    const gw = flow.find((n) => n.type === 'ttn-gateway')!
    assert.deepEqual([gw.server, gw.gatewayIds, gw.app], [gateways.server, gateways.gatewayIds, ''])
    const dir = mkdtempSync(join(tmpdir(), 'demo-flow-'))
    try {
      assert.equal(prepareFlows(dir, EXAMPLES, { ...target, gateways }, true), 'created')
      const creds = JSON.parse(readFileSync(join(dir, 'flows_cred.json'), 'utf8')) as Record<string, { apiKey: string }>
      assert.equal(creds[gw.id].apiKey, `\${${GATEWAY_KEY_ENV}}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('leaves the gateway node of the example alone for a real application', () => {
    const gw = demoFlow(EXAMPLES, target).find((n) => n.type === 'ttn-gateway')!
    assert.deepEqual([gw.server, gw.gatewayIds], ['eu1.cloud.thethings.network', 'my-gateway'])
  })
})

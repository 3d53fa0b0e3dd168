/**
 * The ttn-app dialog and the editor's checks, in a real headless Chromium against a real Node-RED 4 with
 * the packed package installed:
 * - one table of inputs goes to the editor's own validators and to the SDK (as the runtime calls it), and
 *   both must give the same verdict; the dialog's address and username lines must match what the SDK
 *   client really uses for the same values;
 * - the dialog's behaviour: tabs, one tenant input, TLS following the address, pasted Console URLs and
 *   cluster names, warnings, the missing key, the Open in Console link.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { demoFlow } from '../../scripts/demo-flow'
import { clientArguments } from '../../src/nodes/ttn-app'
import { resolveIdentity, parseAddress } from '../../src/sdk/address'
import { MQTTClient } from '../../src/sdk/client'
import { normalizeBaseUrl } from '../../src/sdk/recovery/base-url'
import { sharedGroupProblem, topicPrefixProblem } from '../../src/sdk/topics'
import { validateDeviceId, validatePort } from '../../src/sdk/validate'
import { TtsBroker } from '../../src/simulator/tts-broker'
import { EditorBrowser, type EditorWindow } from '../support/browser'
import {
  freePort,
  installTarball,
  NodeRedProcess,
  nodeRed4,
  packOnce,
  REPO,
  removeDir,
  tempDir,
} from '../support/node-red-process'

const APP = { appId: 'demo-app', tenant: 'ttn' }
const APP_NODE = 'ex-ttn-app'
const KEY = 'NNSXS.DIALOGTEST.SECRETKEY'

const accepts = (f: () => unknown): boolean => {
  try {
    f()
    return true
  } catch {
    return false
  }
}

/** The editor's node definitions, as far as these tests call them (inside page.evaluate). */
interface ValidatorsRED {
  nodes: {
    node(id: string): Record<string, unknown> | undefined
    getType(type: string): { defaults: Record<string, { validate?: (this: object, v: string, o: object) => unknown }> }
  }
}

/** One check of the editor: which node type's validator, for which property, in which API mode. */
interface Check {
  type: 'ttn-app' | 'ttn-uplink' | 'ttn-downlink' | 'ttn-event'
  prop: string
  api: 'v3' | 'v2'
  /** What the runtime does with the value: true when the SDK accepts it. */
  sdk: (value: string) => boolean
  values: string[]
}
const ID_INPUTS = ['my-device', 'my_sensor', 'ab', 'abc', 'My-Device', 'front_door', 'a-b', 'a--b', '-dev', 'dev-', 'x'.repeat(36), 'x'.repeat(37), 'dev/1', 'eui-70b3d57ed0001234']
const TABLE: Check[] = [
  { type: 'ttn-app', prop: 'appId', api: 'v3', sdk: (v) => accepts(() => resolveIdentity(v.trim(), '', undefined, 'v3')), values: [...ID_INPUTS, 'my-app@ttn', 'my-app@Acme', 'my-app@', 'my-app@a@b', '@ttn', 'my-app@acme-corp'] },
  { type: 'ttn-app', prop: 'appId', api: 'v2', sdk: (v) => accepts(() => resolveIdentity(v.trim(), '', undefined, 'v2')), values: ID_INPUTS },
  { type: 'ttn-app', prop: 'tenant', api: 'v3', sdk: (v) => accepts(() => resolveIdentity('my-app', '', v, 'v3')), values: ['', 'ttn', 'acme-corp', 'Acme', 'a_b', 'ab', 'x'.repeat(37)] },
  {
    type: 'ttn-app',
    prop: 'server',
    api: 'v3',
    sdk: (v) => accepts(() => parseAddress(v)),
    values: [
      'eu1.cloud.thethings.network',
      'eu1.cloud.thethings.network:8883',
      'acme.eu3.cloud.thethings.industries',
      'mqtt://h.example',
      'mqtts://h.example:9883',
      'tls://h.example',
      'ssl://h.example:8883',
      'tcp://h.example',
      'ws://h.example',
      'https://eu1.cloud.thethings.network/console',
      'h.example:99999',
      'h.example:0',
      'h.example:abc',
      '[::1]:1883',
      '[::1',
      'bad host',
      '127.0.0.1:1883',
    ],
  },
  { type: 'ttn-app', prop: 'topicPrefix', api: 'v3', sdk: (v) => v.trim() === '' || !topicPrefixProblem(v.trim()), values: ['', 'ttn/my-app', 'ttn/+', '#', '$SYS/x', '/a', 'a/', 'a//b', 'ttn/devices', 'devices'] },
  { type: 'ttn-app', prop: 'sharedGroup', api: 'v3', sdk: (v) => v.trim() === '' || !sharedGroupProblem(v.trim()), values: ['', 'node-red', 'a/b', 'a b', 'a+b', 'g#'] },
  { type: 'ttn-app', prop: 'recoverUrl', api: 'v3', sdk: (v) => v.trim() === '' || accepts(() => normalizeBaseUrl(v)), values: ['', 'https://eu1.cloud.thethings.network', 'http://127.0.0.1:8080/api/v3', 'ftp://x', 'eu1.cloud.thethings.network', 'https://x/?q=1', 'https://'] },
  ...(['ttn-uplink', 'ttn-downlink', 'ttn-event'] as const).flatMap((type) =>
    (['v3', 'v2'] as const).map(
      (api): Check => ({
        type,
        prop: 'deviceId',
        api,
        // Empty: every device (uplink, event) or msg.deviceId (downlink).
        sdk: (v) => v === '' || accepts(() => validateDeviceId(v, api)),
        values: ['', ...ID_INPUTS],
      }),
    ),
  ),
  { type: 'ttn-downlink', prop: 'port', api: 'v3', sdk: (v) => accepts(() => validatePort(v)), values: ['1', '223', '0', '224', '5', ' 5 ', '1.5', '0x5', '1e2', '', '-1', 'abc'] },
]

/** Rows for the address and username lines, compared with what the SDK client really uses. */
interface AddressRow {
  server: string
  tls: boolean
  appId: string
  tenant: string
}
const ADDRESS_ROWS: AddressRow[] = [
  { server: 'eu1.cloud.thethings.network', tls: true, appId: 'my-app', tenant: '' },
  { server: 'acme.eu3.cloud.thethings.industries', tls: true, appId: 'my-app', tenant: '' },
  { server: 'tls://broker.example', tls: false, appId: 'my-app', tenant: '' },
  { server: 'ssl://broker.example:9000', tls: false, appId: 'my-app', tenant: 'corp' },
  { server: 'mqtt://broker.example', tls: true, appId: 'my-app', tenant: '' },
  { server: 'broker.example:8883', tls: false, appId: 'my-app@third', tenant: 'other' },
  { server: 'broker.example:1883', tls: true, appId: 'my-app', tenant: '' },
  { server: 'broker.example', tls: false, appId: 'my-app', tenant: '' },
  { server: '[::1]:1883', tls: false, appId: 'my-app', tenant: 'ttn' },
]

describe('the ttn-app dialog and the editor checks in headless Chromium (Node-RED 4)', function () {
  this.timeout(60_000)
  let userDir: string | undefined
  let broker: TtsBroker | undefined
  let red: NodeRedProcess | undefined
  let browser: EditorBrowser | undefined
  const page = () => browser!.page
  const squash = (s: string | null): string => (s ?? '').replace(/\s+/g, ' ').trim()
  const noProblems = () => assert.deepEqual(browser!.problems, [], 'no page errors, console errors or requests off the machine')
  const hasError = async (selector: string) =>
    ((await page().locator(selector).getAttribute('class')) ?? '').split(/\s+/).includes('input-error')
  const type = async (selector: string, value: string) => {
    const field = page().locator(selector)
    await field.fill('')
    if (value) await field.pressSequentially(value)
    await field.blur()
  }
  /** Sets a text field at once (fill, then leaving it): for tables, where keystrokes add nothing. */
  const set = async (selector: string, value: string) => {
    await page().locator(selector).fill(value)
    await page().locator(selector).blur()
  }
  const text = async (selector: string) => squash(await page().locator(selector).textContent())
  const visible = (selector: string) => page().locator(selector).isVisible()
  const editApp = async () => {
    await page().evaluate((id) => (globalThis as unknown as EditorWindow).RED.editor.editConfig('', 'ttn-app', id), APP_NODE)
    return browser!.trayOpened(/Edit ttn-app node/)
  }
  /** Opens a tab of the dialog as a user does, and waits until its content shows. */
  const tab = async (id: string) => {
    const content = page().locator(`#ttn-app-tab-${id}`)
    for (let attempt = 0; attempt < 20 && !(await content.isVisible()); attempt++) {
      // Node-RED's tabs ignore a click while the previous tab change is still settling: try again.
      await page().locator(`#red-ui-tab-ttn-app-tab-${id}`).click()
      await page().waitForTimeout(50)
    }
    assert.equal(await content.isVisible(), true, `the ${id} tab shows`)
  }
  const warnings = async () => (await page().locator('#ttn-app-warnings li').allTextContents()).map(squash)

  before(async function () {
    this.timeout(120_000)
    const tarball = await packOnce()
    userDir = tempDir('ttn-dialog-')
    await installTarball(userDir, tarball)
    broker = await TtsBroker.start({ applications: [{ ...APP, apiKey: KEY }] })
    red = await NodeRedProcess.start({
      runtime: nodeRed4(),
      userDir,
      port: await freePort(),
      settings: { credentialSecret: false, editorTheme: { tours: false, palette: { catalogues: [] } } },
    })
    const flow = demoFlow(join(REPO, 'examples'), { name: 'demo-app (simulator)', ...APP, server: `127.0.0.1:${broker.port}`, tls: false })
    // The key stored with the flow: the dialog shows it as set (__PWRD__).
    const app = flow.find((n) => n.id === APP_NODE) as Record<string, unknown>
    app.credentials = { apiKey: KEY }
    await red.api('POST', 'flows', { flows: flow })
    browser = await EditorBrowser.launch()
    await browser.openEditor(red.url, 'ttn-uplink')
  })

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && browser) {
      await browser.screenshot(`dialog-failed-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}`, { picture: false }).catch(() => undefined)
    }
    while (browser && (await page().locator('.red-ui-tray').count()) > 0) {
      if (!(await browser.closeTray('cancel').then(() => true, () => false))) break
    }
  })

  after(async function () {
    this.timeout(60_000)
    const errors: unknown[] = []
    for (const step of [() => browser?.close(), () => red?.stop(), () => broker?.stop()]) {
      try {
        await step()
      } catch (err) {
        errors.push(err)
      }
    }
    removeDir(userDir)
    if (errors.length > 0) throw errors[0]
  })

  it('loads the SDK rules from the package (resources/) and holds no copy of them', async () => {
    const loaded = await page().evaluate(() => {
      const w = globalThis as unknown as { TtnRules?: Record<string, unknown> }
      return Object.keys(w.TtnRules ?? {}).sort()
    })
    for (const name of ['checkId', 'parseAddress', 'resolveIdentity', 'deriveTenant', 'applicationPort', 'describeConnection', 'readServerInput'])
      assert.ok(loaded.includes(name), `TtnRules.${name}`)
    const res = await fetch(`${red!.url}resources/node-red-contrib-things-stack/ttn-rules.js`)
    assert.equal(res.status, 200)
    noProblems()
  })

  it('gives the same verdict as the SDK for every input of the table (IDs, tenants, servers, ports, topics, URLs)', async () => {
    const verdicts = await page().evaluate(
      ({ table, appNode }) => {
        const { RED } = globalThis as unknown as { RED: ValidatorsRED }
        const app = RED.nodes.node(appNode) as { api?: string }
        const saved = app.api
        try {
          return table.map((check) => {
            app.api = check.api
            const validate = RED.nodes.getType(check.type).defaults[check.prop].validate
            // The validator's node: the ttn-app's own values, or a node using that ttn-app.
            const self = check.type === 'ttn-app' ? { api: check.api, _: (k: string) => k } : { app: appNode, _: (k: string) => k }
            return check.values.map((v) => (validate ? validate.call(self, v, {}) === true : true))
          })
        } finally {
          app.api = saved
        }
      },
      { table: TABLE.map(({ type, prop, api, values }) => ({ type, prop, api, values })), appNode: APP_NODE },
    )
    const disagreements: string[] = []
    TABLE.forEach((check, i) => {
      check.values.forEach((v, j) => {
        const sdk = check.sdk(v)
        if (verdicts[i][j] !== sdk) disagreements.push(`${check.type}.${check.prop} (${check.api}) "${v}": editor ${verdicts[i][j]}, SDK ${sdk}`)
      })
    })
    assert.deepEqual(disagreements, [], 'the editor and the SDK agree')
    // The table is not all-true or all-false for any check: each one can fail.
    TABLE.forEach((check, i) => {
      assert.ok(verdicts[i].includes(true) && verdicts[i].includes(false), `${check.type}.${check.prop} both ways`)
    })
    noProblems()
  })

  it('shows the address and username the SDK client really uses, for the same values', async () => {
    await editApp()
    const shown: string[] = []
    const expected: string[] = []
    for (const row of ADDRESS_ROWS) {
      await page().locator('#ttn-app-preset').selectOption('custom')
      await page().evaluate((tenant) => {
        const $ = (globalThis as unknown as { $: (s: string) => { val(v: string): void } }).$
        $('#node-config-input-tenant').val(tenant)
      }, row.tenant)
      await tab('security')
      const tls = page().locator('#node-config-input-tls')
      if (await tls.isEnabled()) await tls.setChecked(row.tls)
      await tab('connection')
      await set('#node-config-input-server', row.server)
      await tab('security')
      if (await tls.isEnabled()) await tls.setChecked(row.tls)
      await tab('connection')
      await set('#node-config-input-appId', row.appId)
      shown.push(`${await text('#ttn-app-address-hint')} ${await text('#ttn-app-username-hint')}`)
      // What the runtime does with the values the dialog saves (the checkbox as the dialog left it).
      const saved = { server: row.server, tls: await tls.isChecked(), appId: row.appId, tenant: row.tenant, api: 'v3' as const }
      const { address, options } = clientArguments(saved, undefined)
      const client = new MQTTClient(saved.appId, KEY, address, options)
      const url = `${client.tls ? 'mqtts' : 'mqtt'}://${client.host.includes(':') ? `[${client.host}]` : client.host}:${client.port}`
      expected.push(`Connects to ${url} as ${client.username}`)
      await client.close()
    }
    assert.deepEqual(shown, expected)
    noProblems()
  })

  it('is organised in tabs: Connection, Security, Advanced, Recovery; Recovery goes away in v2 mode, the key reads Password on another broker', async () => {
    await editApp()
    assert.deepEqual((await page().locator('#ttn-app-tabs li.red-ui-tab').allTextContents()).map(squash), ['Connection', 'Security', 'Advanced', 'Recovery'])
    for (const id of ['preset', 'server', 'appId', 'apiKey'].map((f) => (f === 'preset' ? '#ttn-app-preset' : `#node-config-input-${f}`)))
      assert.equal(await visible(id), true, `${id} on the Connection tab`)
    assert.equal(await visible('#node-config-input-api'), false, 'the API version is not on the Connection tab')
    await tab('security')
    assert.equal(await visible('#node-config-input-tls'), true)
    await tab('advanced')
    assert.equal(await visible('#node-config-input-api'), true)
    assert.equal(await visible('#node-config-input-broker'), true)
    assert.equal(await visible('#node-config-input-username'), false, 'broker fields only for another broker')
    await page().locator('#node-config-input-broker').selectOption('generic')
    assert.equal(await visible('#node-config-input-username'), true)
    assert.equal(await text('#ttn-app-apikey-label'), 'Password')
    await page().locator('#node-config-input-broker').selectOption('tts')
    assert.equal(await text('#ttn-app-apikey-label'), 'API key')
    await tab('recovery')
    assert.equal(await visible('#node-config-input-recover'), true)
    await tab('advanced')
    await page().locator('#node-config-input-api').selectOption('v2')
    assert.equal(await visible('#red-ui-tab-ttn-app-tab-recovery'), false, 'no Recovery tab in v2 mode')
    await page().locator('#node-config-input-api').selectOption('v3')
    assert.equal(await visible('#red-ui-tab-ttn-app-tab-recovery'), true)
    noProblems()
  })

  it('has one tenant input, in the place that fits the network, and says which tenant wins when values disagree', async () => {
    await editApp()
    const preset = page().locator('#ttn-app-preset')
    const server = page().locator('#node-config-input-server')
    await preset.selectOption('eu1')
    assert.equal(await visible('#ttn-app-row-tenant'), false, 'no tenant input on The Things Network: it is always ttn')
    assert.equal(await text('#ttn-app-username-hint'), 'as demo-app@ttn')
    assert.equal(await page().locator('input[id*="tenant"]:visible').count(), 0)

    await preset.selectOption('cloud')
    assert.equal(await page().locator('input[id*="tenant"]:visible').count(), 1, 'one tenant input')
    await type('#ttn-app-tenant', 'acme-corp')
    assert.equal(await server.inputValue(), 'acme-corp.eu1.cloud.thethings.industries')
    await page().locator('#ttn-app-cloud-cluster').selectOption('nam1')
    assert.equal(await server.inputValue(), 'acme-corp.nam1.cloud.thethings.industries')
    assert.equal(await text('#ttn-app-username-hint'), 'as demo-app@acme-corp')
    await type('#ttn-app-tenant', 'Acme!')
    assert.equal(await hasError('#ttn-app-tenant'), true, 'a tenant that cannot be a host part is marked')
    assert.equal(await server.inputValue(), 'acme-corp.nam1.cloud.thethings.industries', 'and the server is kept, not emptied')

    await preset.selectOption('custom')
    await type('#node-config-input-server', 'lorawan.example.com')
    assert.equal(await page().locator('input[id*="tenant"]:visible').count(), 1)
    await type('#ttn-app-tenant', 'other')
    await type('#node-config-input-appId', 'my-app@third')
    assert.equal(await text('#ttn-app-username-hint'), 'as my-app@third')
    assert.deepEqual(await warnings(), ['Tenant "third" (from the application ID) is used, not "other" (stored tenant). Remove the stored tenant'])
    await page().locator('#ttn-app-warnings a').click()
    assert.deepEqual(await warnings(), [])
    assert.equal(await page().locator('#ttn-app-tenant').inputValue(), '')
    await browser!.screenshot('dialog-tenant')
    noProblems()
  })

  it('lets the TLS checkbox follow the address, and warns when the key would travel in clear to a public server', async () => {
    await editApp()
    const tls = page().locator('#node-config-input-tls')
    const cases: [string, boolean, string][] = [
      ['mqtts://broker.example', true, 'mqtts://broker.example:8883'],
      ['mqtt://broker.example', false, 'mqtt://broker.example:1883'],
      ['broker.example:8883', true, 'mqtts://broker.example:8883'],
      ['broker.example:1883', false, 'mqtt://broker.example:1883'],
    ]
    for (const [server, on, address] of cases) {
      await type('#node-config-input-server', server)
      await tab('security')
      assert.equal(await tls.isChecked(), on, `${server}: TLS ${on}`)
      assert.equal(await tls.isEnabled(), false, `${server}: set by the address`)
      assert.equal(await visible('#ttn-app-tls-note'), true)
      assert.equal(await visible('#ttn-app-row-tlsconfig'), on, 'the TLS config row only with TLS')
      await tab('connection')
      assert.equal(await text('#ttn-app-address-hint'), `Connects to ${address}`)
    }
    await type('#node-config-input-server', 'broker.example')
    await tab('security')
    assert.equal(await tls.isEnabled(), true, 'a bare host: the checkbox decides')
    await tab('connection')
    await type('#node-config-input-server', 'eu1.cloud.thethings.network')
    await tab('security')
    await tls.setChecked(false)
    await tab('connection')
    assert.deepEqual(await warnings(), ['TLS is off: the API key would travel unencrypted to eu1.cloud.thethings.network. Turn TLS on (Security tab).'])
    await page().locator('#ttn-app-preset').selectOption('nam1')
    assert.equal(await tls.isChecked(), true, 'choosing a public network turns TLS on')
    assert.deepEqual(await warnings(), [])
    noProblems()
  })

  it('reads a pasted Console URL and bare cluster names, and never shows a made-up address', async () => {
    await editApp()
    const server = page().locator('#node-config-input-server')
    await type('#node-config-input-server', 'https://eu1.cloud.thethings.network/console')
    assert.equal(await server.inputValue(), 'eu1.cloud.thethings.network')
    assert.equal(await page().locator('#ttn-app-preset').inputValue(), 'eu1')
    assert.equal(await text('#ttn-app-server-note'), 'Read the Console URL as the server eu1.cloud.thethings.network.')
    assert.equal(await hasError('#node-config-input-server'), false)
    await type('#node-config-input-server', 'nam1')
    assert.equal(await server.inputValue(), 'nam1.cloud.thethings.network')
    assert.equal(await page().locator('#ttn-app-preset').inputValue(), 'nam1')
    assert.equal(await text('#ttn-app-username-hint'), 'as demo-app@ttn')
    await type('#node-config-input-server', 'ws://broker.example')
    assert.equal(await server.inputValue(), 'ws://broker.example', 'what the user typed stays')
    assert.equal(await hasError('#node-config-input-server'), true)
    assert.match(await text('#ttn-app-address-hint'), /^Unsupported scheme "ws:\/\/"/)
    assert.doesNotMatch(await text('#ttn-app-summary'), /Connects to/)
    noProblems()
  })

  it('marks a missing key, warns on a v2 key (not for an environment variable or another broker), and links the application in the Console', async () => {
    await editApp()
    await page().locator('#ttn-app-preset').selectOption('eu1')
    await type('#node-config-input-appId', 'my-app')
    assert.equal(await page().locator('#ttn-app-console-link').getAttribute('href'), 'https://eu1.cloud.thethings.network/console/applications/my-app')
    await type('#node-config-input-apiKey', '')
    assert.equal(await hasError('#node-config-input-apiKey'), true)
    assert.deepEqual(await warnings(), ['No API key yet: paste one from the Console (your application → API keys).'])
    await type('#node-config-input-apiKey', 'ttn-account-v2.Zm9vYmFyYmF6')
    assert.equal(await hasError('#node-config-input-apiKey'), false)
    assert.match((await warnings())[0] ?? '', /^This is a TTN v2 access key/)
    await browser!.screenshot('dialog-v2-key')
    await type('#node-config-input-apiKey', '$' + '{TTN_API_KEY}')
    assert.deepEqual(await warnings(), [])
    await type('#node-config-input-apiKey', 'ttn-account-v2.Zm9vYmFyYmF6')
    await tab('advanced')
    await page().locator('#node-config-input-broker').selectOption('generic')
    await tab('connection')
    assert.deepEqual(await warnings(), [], "another broker's password can look like anything")
    assert.equal(await visible('#ttn-app-console-link'), false, 'no Console for another broker')
    noProblems()
  })

  it('flags the device IDs the SDK refuses, and suggests lower case only when that is valid', async () => {
    await page().evaluate(() => (globalThis as unknown as EditorWindow).RED.workspaces.show('demo-tab-2'))
    await page().evaluate(() => {
      const { RED } = globalThis as unknown as EditorWindow
      RED.editor.edit(RED.nodes.node('ex2-downlink')!)
    })
    await browser!.trayOpened(/Edit ttn downlink .*node/)
    const messages = await page().evaluate(() => {
      const { RED } = globalThis as unknown as { RED: ValidatorsRED }
      const validate = RED.nodes.getType('ttn-downlink').defaults.deviceId.validate!
      const self = { app: 'ex-ttn-app', _: (k: string, o?: { value?: string }) => (o?.value ? `${k}:${o.value}` : k) }
      return ['my_sensor', 'ab', 'Front_Door', 'Front-Door'].map((v) => validate.call(self, v, {}))
    })
    assert.deepEqual(messages, ['ttn.validation.deviceId', 'ttn.validation.deviceId', 'ttn.validation.deviceId', 'ttn.validation.lowerCase:front-door'])
    for (const bad of ['my_sensor', 'ab']) {
      await type('#node-input-deviceId', bad)
      assert.equal(await hasError('#node-input-deviceId'), true, `"${bad}" flagged`)
    }
    noProblems()
  })
})

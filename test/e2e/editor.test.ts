/**
 * The editor half of the package, in a real headless Chromium against a real Node-RED process with the
 * packed package installed: the palette, every edit dialog with its fields and validation, the ttn-app
 * presets, a key typed into the dialog and deployed from the editor, node statuses, the debug sidebar,
 * and a credential that the editor shows as set but never receives back. Runs against Node-RED 4 and 5.
 *
 * Screenshots of each dialog and of the example flow go to test-artifacts/. With UPDATE_README_IMAGES=1
 * the Node-RED 4 run also writes the README's pictures (docs/images/), so they always show the real editor.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { demoFlow } from '../../scripts/demo-flow'
import { DeviceSimulator } from '../../src/simulator/devices'
import { TtsBroker } from '../../src/simulator/tts-broker'
import { EditorBrowser, type EditorWindow } from '../support/browser'
import {
  freePort,
  installTarball,
  NodeRedProcess,
  nodeRed4,
  nodeRed5,
  packOnce,
  REPO,
  type Runtime,
  removeDir,
  tempDir,
} from '../support/node-red-process'
import { findKeys } from '../support/secret-guard'
import { delay, waitFor } from '../support/wait'

const APP = { appId: 'demo-app', tenant: 'ttn' }
const USERNAME = `${APP.appId}@${APP.tenant}`
const APP_NODE = 'ex-ttn-app'
const README_IMAGES = process.env.UPDATE_README_IMAGES === '1'
const DOCS_IMAGES = join(REPO, 'docs', 'images')

/** The editor's texts, as a user reads them. */
const TEXTS = (
  JSON.parse(readFileSync(join(REPO, 'nodes', 'locales', 'en-US', 'ttn.json'), 'utf8')) as {
    ttn: {
      label: Record<string, string>
      paletteLabel: Record<string, string>
      status: Record<string, string>
    }
  }
).ttn

/** One edit dialog: the example node it edits and the fields (node-input-<field>) it must show. */
interface DialogSpec {
  type: string
  node: string
  tab: string
  fields: string[]
}
const DIALOGS: DialogSpec[] = [
  {
    type: 'ttn-uplink',
    node: 'ex1-uplink-all',
    tab: 'demo-tab-1',
    fields: ['app', 'deviceId', 'output', 'name'],
  },
  {
    type: 'ttn-downlink',
    node: 'ex2-downlink',
    tab: 'demo-tab-2',
    fields: [
      'app',
      'deviceId',
      'port',
      'confirmed',
      'schedule',
      'priority',
      'payloadFormat',
      'timeout',
      'retryAttempts',
      'retryTtl',
      'name',
    ],
  },
  {
    type: 'ttn-event',
    node: 'ex3-event-join',
    tab: 'demo-tab-3',
    fields: ['app', 'deviceId', 'event', 'name'],
  },
]
/** The ttn nodes of the example flow, by tab. */
const TTN_NODES: Record<string, string[]> = {
  'demo-tab-1': ['ex1-uplink-all', 'ex1-uplink-device'],
  'demo-tab-2': ['ex2-downlink'],
  'demo-tab-3': ['ex3-event-join', 'ex3-event-all'],
}

const squash = (s: string | null): string => (s ?? '').replace(/\s+/g, ' ').trim()

const runtimes: [string, () => Runtime, number][] = [
  ['Node-RED 4 on Node 20', nodeRed4, 4],
  ['Node-RED 5 on Node 22', nodeRed5, 5],
]

for (const [title, runtimeOf, major] of runtimes) {
  describe(`the editor in headless Chromium: ${title}`, function () {
    this.timeout(60_000)
    const key = `NNSXS.EDITORTEST${major}${randomBytes(5).toString('hex').toUpperCase()}.${randomBytes(20).toString('hex').toUpperCase()}`
    const shot = (name: string) => `nr${major}-${name}`
    /** The README's pictures come from one run only. */
    const docsCopy = (file: string): string[] => {
      if (!README_IMAGES || major !== 4) return []
      mkdirSync(DOCS_IMAGES, { recursive: true })
      return [join(DOCS_IMAGES, file)]
    }
    let userDir: string | undefined
    let broker: TtsBroker | undefined
    let red: NodeRedProcess | undefined
    let browser: EditorBrowser | undefined
    let devices: DeviceSimulator | undefined
    /** How many nodes of the example flows use the shared application node. */
    let appUsers = 0

    const page = () => browser!.page
    const noProblems = () =>
      assert.deepEqual(browser!.problems, [], 'no page errors, console errors or requests off the machine')
    const statusOf = async (id: string) =>
      squash(await page().locator(`[id='${id}'] .red-ui-flow-node-status-label`).textContent())
    /** Polls the status label under node `id` (on the shown tab) until it reads `text`. */
    const statusBecomes = async (id: string, text: string, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs
      let last = ''
      while (Date.now() < deadline) {
        last = await statusOf(id)
        if (last === text) return
        await delay(100)
      }
      assert.fail(`The status under node ${id} reads "${last}", expected "${text}"`)
    }
    const hasError = async (selector: string) =>
      ((await page().locator(selector).getAttribute('class')) ?? '').split(/\s+/).includes('input-error')
    /** Types `value` into a text field as a user does (keystrokes, then leaving the field). */
    const type = async (selector: string, value: string) => {
      const field = page().locator(selector)
      await field.fill('')
      if (value) await field.pressSequentially(value)
      await field.blur()
    }
    const showTab = (tab: string) =>
      page().evaluate((t) => (globalThis as unknown as EditorWindow).RED.workspaces.show(t), tab)
    const edit = async (spec: DialogSpec) => {
      await showTab(spec.tab)
      await page().evaluate((id) => {
        const { RED } = globalThis as unknown as EditorWindow
        const node = RED.nodes.node(id)
        if (!node) throw new Error(`no node ${id} in the editor`)
        RED.editor.edit(node)
      }, spec.node)
      const label = TEXTS.paletteLabel[spec.type.replace('ttn-', '')]
      return browser!.trayOpened(new RegExp(`Edit ${label.replace(/[()]/g, '\\$&')} node`))
    }
    const editApp = async () => {
      await page().evaluate(
        (id) => (globalThis as unknown as EditorWindow).RED.editor.editConfig('', 'ttn-app', id),
        APP_NODE,
      )
      return browser!.trayOpened(/Edit ttn-app node/)
    }
    const nodeProp = (id: string, prop: string) =>
      page().evaluate(([i, p]) => (globalThis as unknown as EditorWindow).RED.nodes.node(i)?.[p], [
        id,
        prop,
      ] as const)

    before(async function () {
      this.timeout(120_000)
      const runtime = runtimeOf()
      const tarball = await packOnce()
      userDir = tempDir(`ttn-editor-nr${major}-`)
      await installTarball(userDir, tarball)
      broker = await TtsBroker.start({
        applications: [{ ...APP, apiKey: key }],
        autoDeliver: { sentAfterMs: 200, ackAfterMs: 200 },
      })
      red = await NodeRedProcess.start({
        runtime,
        userDir,
        port: await freePort(),
        settings: {
          credentialSecret: false,
          // No palette catalogue: the editor must not reach out to nodered.org (and this machine cannot).
          editorTheme: { tours: false, palette: { catalogues: [] } },
        },
      })
      // The example flows, pointed at the simulator, without a key: the key is typed in the editor.
      const flow = demoFlow(join(REPO, 'examples'), {
        name: `${APP.appId} (simulator)`,
        ...APP,
        server: `127.0.0.1:${broker.port}`,
        tls: false,
      })
      appUsers = flow.filter((n) => n.app === APP_NODE).length
      await red.api('POST', 'flows', { flows: flow })
      browser = await EditorBrowser.launch()
      await browser.openEditor(red.url, 'ttn-uplink')
    })

    afterEach(async function () {
      if (this.currentTest?.state === 'failed' && browser) {
        await browser
          .screenshot(shot(`failed-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}`), {
            picture: false,
          })
          .catch(() => undefined)
        // An edit tray left open would fail the tests that follow for no reason of their own.
        while ((await page().locator('.red-ui-tray').count()) > 0) {
          if (
            !(await browser.closeTray('cancel').then(
              () => true,
              () => false,
            ))
          )
            break
        }
      }
    })

    after(async function () {
      this.timeout(60_000)
      devices?.stop()
      const steps = [() => browser?.close(), () => red?.stop(), () => broker?.stop()]
      const errors: unknown[] = []
      for (const step of steps) {
        try {
          await step()
        } catch (err) {
          errors.push(err)
        }
      }
      removeDir(userDir)
      if (errors.length > 0) throw errors[0]
    })

    it('shows our nodes: three in the palette under "network", ttn-app among the configuration nodes', async () => {
      for (const t of ['uplink', 'downlink', 'event']) {
        const entry = page().locator(
          `#red-ui-palette-container-network .red-ui-palette-node[data-palette-type='ttn-${t}']`,
        )
        assert.equal(await entry.isVisible(), true, `ttn-${t} in the network category`)
        // The palette breaks the label into lines (<br>): compare without the spaces.
        const words = (x: string | null) => (x ?? '').replace(/\s+/g, '')
        assert.equal(words(await entry.textContent()), words(TEXTS.paletteLabel[t]))
      }
      // Palette search finds all three by the words newcomers type.
      const search = page().locator('#red-ui-palette-search input')
      for (const term of ['lora', 'lorawan', 'things', 'ttn', 'LoRa']) {
        await search.fill('')
        await search.pressSequentially(term)
        for (const t of ['uplink', 'downlink', 'event']) {
          await page()
            .locator(`.red-ui-palette-node[data-palette-type='ttn-${t}']`)
            .waitFor({ state: 'visible', timeout: 5000 })
        }
      }
      // Cleared by keystrokes, so the palette's filter hears it.
      await search.fill('x')
      await search.press('Backspace')
      assert.equal(
        await page().evaluate(
          () => (globalThis as unknown as EditorWindow).RED.nodes.getType('ttn-app')?.category,
        ),
        'config',
      )
      await page().evaluate(() => (globalThis as unknown as EditorWindow).RED.sidebar.show('config'))
      const sidebar = page().locator('#red-ui-sidebar-node-config')
      await sidebar
        .locator('li.red-ui-palette-node-config-type', { hasText: /^ttn-app$/ })
        .waitFor({ timeout: 5000 })
      const entry = sidebar.locator('.red-ui-palette-node-config', { hasText: `${APP.appId} (simulator)` })
      assert.equal(await entry.count(), 1)
      // Used by every ttn node of the example tabs.
      assert.ok(appUsers >= 5)
      assert.equal(squash(await entry.locator('.red-ui-palette-icon-container').textContent()), String(appUsers))
      noProblems()
    })

    it('shows the runtime status under the nodes: no API key yet', async () => {
      for (const [tab, ids] of Object.entries(TTN_NODES)) {
        await showTab(tab)
        for (const id of ids) await statusBecomes(id, TEXTS.status.missingKey)
      }
      noProblems()
    })

    for (const spec of DIALOGS) {
      it(`opens the ${spec.type} dialog with its fields and flags a bad device ID`, async () => {
        const tray = await edit(spec)
        for (const field of spec.fields) {
          assert.equal(await tray.locator(`#node-input-${field}`).isVisible(), true, `field ${field} shown`)
          const label = squash(await tray.locator(`label[for='node-input-${field}']`).textContent())
          assert.ok(
            label.includes(TEXTS.label[field]),
            `field ${field} labelled "${TEXTS.label[field]}": "${label}"`,
          )
        }
        // Node-RED turns the config property into a select of ttn-app nodes.
        assert.equal(await tray.locator('#node-input-app').inputValue(), APP_NODE)
        for (const bad of ['My-Device', 'my device', 'a', '-dash-first', 'x'.repeat(37)]) {
          await type('#node-input-deviceId', bad)
          assert.equal(await hasError('#node-input-deviceId'), true, `device ID "${bad}" flagged`)
        }
        await browser!.screenshot(shot(`${spec.type}-dialog-invalid`))
        for (const good of ['my-device', 'eui-70b3d57ed0001234', '']) {
          await type('#node-input-deviceId', good)
          assert.equal(await hasError('#node-input-deviceId'), false, `device ID "${good}" accepted`)
        }
        await browser!.screenshot(shot(`${spec.type}-dialog`))
        await browser!.closeTray('cancel')
        noProblems()
      })
    }

    it('flags a bad FPort in the downlink dialog; Done with one marks the node invalid until it is fixed', async () => {
      const spec = DIALOGS[1]
      await edit(spec)
      for (const bad of ['0', '224', '1.5', '']) {
        await type('#node-input-port', bad)
        assert.equal(await hasError('#node-input-port'), true, `FPort "${bad}" flagged`)
      }
      for (const good of ['1', '223', '5']) {
        await type('#node-input-port', good)
        assert.equal(await hasError('#node-input-port'), false, `FPort "${good}" accepted`)
      }
      await type('#node-input-port', '300')
      await browser!.closeTray('ok')
      assert.equal(await nodeProp(spec.node, 'valid'), false)
      assert.equal(
        await page().locator(`[id='${spec.node}'] .red-ui-flow-node-error`).isVisible(),
        true,
        'the node shows its error',
      )

      await edit(spec)
      await type('#node-input-port', '5')
      await browser!.closeTray('ok')
      assert.equal(await nodeProp(spec.node, 'valid'), true)
      assert.equal(await nodeProp(spec.node, 'port'), '5')
      noProblems()
    })

    // Local codecs (docs/codecs.md): the Decode / Encode rows, the code editor, the repository fields.
    it('codec rows: Decode shows the codec and its code editor, Done keeps the JavaScript; Encode and the ttn-app fields too', async () => {
      const tabOf = (id: string) =>
        page().evaluate((i) => String((globalThis as unknown as EditorWindow).RED.nodes.node(i)?.z), id)
      const uplink: DialogSpec = { type: 'ttn-uplink', node: 'ex5-uplink-javascript', tab: await tabOf('ex5-uplink-javascript'), fields: [] }
      const tray = await edit(uplink)
      for (const field of ['decode', 'codec']) {
        const label = squash(await tray.locator(`label[for='node-input-${field}']`).textContent())
        assert.ok(label.includes(TEXTS.label[field]), `field ${field} labelled "${TEXTS.label[field]}": "${label}"`)
      }
      assert.equal(await tray.locator('#node-input-decode').inputValue(), 'local')
      assert.equal(await tray.locator('#node-input-codec').inputValue(), 'javascript')
      const editor = tray.locator('#node-input-codecScript-editor')
      assert.equal(await editor.isVisible(), true, 'the code editor is shown for JavaScript')
      assert.match(squash(await editor.textContent()), /function decodeUplink\(input\)/)
      await tray.locator('#node-input-codec').selectOption('cayennelpp')
      assert.equal(await editor.isVisible(), false, 'no code editor for Cayenne LPP')
      await tray.locator('#node-input-decode').selectOption('server')
      assert.equal(await tray.locator('#node-input-codec').isVisible(), false, 'no codec rows when the server decodes')
      await tray.locator('#node-input-decode').selectOption('fallback')
      await tray.locator('#node-input-codec').selectOption('javascript')
      assert.equal(await editor.isVisible(), true)
      await browser!.screenshot(shot('ttn-uplink-codec-dialog'))
      await browser!.closeTray('ok')
      assert.equal(await nodeProp(uplink.node, 'decode'), 'fallback')
      assert.match(String(await nodeProp(uplink.node, 'codecScript')), /function decodeUplink\(input\)/)

      const downlink: DialogSpec = { type: 'ttn-downlink', node: 'ex6-downlink-lpp', tab: await tabOf('ex6-downlink-lpp'), fields: [] }
      const down = await edit(downlink)
      assert.equal(await down.locator('#node-input-encode').inputValue(), 'local')
      assert.equal(await down.locator('#node-input-codec').inputValue(), 'cayennelpp')
      assert.equal(await down.locator('#node-input-codecScript-editor').isVisible(), false)
      await browser!.closeTray('cancel')

      const appTray = await editApp()
      // The codec fields are on the dialog's Advanced tab.
      while (!(await appTray.locator('#ttn-app-tab-advanced').isVisible())) {
        await appTray.locator('#red-ui-tab-ttn-app-tab-advanced').click()
        await delay(50)
      }
      for (const field of ['codecRepo', 'codecRepoUrl', 'codecTimeout', 'codecMemory']) {
        assert.equal(await page().locator(`#node-config-input-${field}`).isVisible(), true, `ttn-app field ${field} shown`)
      }
      await type('#node-config-input-codecRepoUrl', 'ftp://mirror.example/lorawan-devices/')
      assert.equal(await hasError('#node-config-input-codecRepoUrl'), true, 'a non-http(s) repository URL is flagged')
      await type('#node-config-input-codecRepoUrl', '')
      assert.equal(await hasError('#node-config-input-codecRepoUrl'), false)
      await browser!.closeTray('cancel')
      noProblems()
    })

    it('opens the ttn-monitor and ttn-gateway dialogs (tab 04): bad values flagged, the server row follows "Server from"', async () => {
      const health = JSON.parse(readFileSync(join(REPO, 'nodes', 'locales', 'en-US', 'ttn-health.json'), 'utf8'))['ttn-health'] as {
        paletteLabel: Record<string, string>
      }
      const open = async (id: string, label: string) => {
        await showTab('demo-tab-4')
        await page().evaluate((i) => {
          const { RED } = globalThis as unknown as EditorWindow
          const node = RED.nodes.node(i)
          if (!node) throw new Error(`no node ${i} in the editor`)
          RED.editor.edit(node)
        }, id)
        return browser!.trayOpened(new RegExp(`Edit ${label} node`))
      }
      let tray = await open('ex4-monitor', health.paletteLabel.monitor)
      for (const field of ['app', 'deviceId', 'silentAfter', 'summaryEvery', 'name']) {
        assert.equal(await tray.locator(`#node-input-${field}`).isVisible(), true, `monitor field ${field} shown`)
      }
      for (const [field, bad, good] of [
        ['silentAfter', 'soon', '90'],
        ['silentAfter', '-1', '0'],
        ['summaryEvery', 'x', '3600'],
        ['deviceId', 'My Device', ''],
      ]) {
        await type(`#node-input-${field}`, bad)
        assert.equal(await hasError(`#node-input-${field}`), true, `${field} "${bad}" flagged`)
        await type(`#node-input-${field}`, good)
        assert.equal(await hasError(`#node-input-${field}`), false, `${field} "${good}" accepted`)
      }
      await browser!.closeTray('cancel')

      tray = await open('ex4-gateway', health.paletteLabel.gateway)
      assert.equal(await tray.locator('#node-input-apiKey').getAttribute('type'), 'password')
      const serverRow = tray.locator('.ttn-health-row-server')
      const appRow = tray.locator('.ttn-health-row-app')
      assert.deepEqual([await serverRow.isVisible(), await appRow.isVisible()], [true, false])
      await tray.locator('#node-input-source').selectOption('app')
      assert.deepEqual([await serverRow.isVisible(), await appRow.isVisible()], [false, true])
      await tray.locator('#node-input-source').selectOption('server')
      assert.deepEqual([await serverRow.isVisible(), await appRow.isVisible()], [true, false])
      for (const [field, bad, good] of [
        ['gatewayIds', 'B827EBFFFE000001', 'gw-one, gw-two'],
        ['gatewayIds', '', 'my-gateway'],
        ['interval', '10', '60'],
      ]) {
        await type(`#node-input-${field}`, bad)
        assert.equal(await hasError(`#node-input-${field}`), true, `${field} "${bad}" flagged`)
        await type(`#node-input-${field}`, good)
        assert.equal(await hasError(`#node-input-${field}`), false, `${field} "${good}" accepted`)
      }
      await browser!.screenshot(shot('ttn-gateway-dialog'))
      await browser!.closeTray('cancel')
    })

    it('the downlink dialog: Retry rows show for more than one attempt, the ticked outcomes are saved, next-uplink explains itself', async () => {
      const spec = DIALOGS[1]
      const tray = await edit(spec)
      const visible = (selector: string) => tray.locator(selector).isVisible()
      assert.equal(await visible('#node-input-retryBackoff'), false, 'no wait field for a single attempt')
      assert.equal(await visible('#ttn-downlink-next-uplink-hint'), false)
      await type('#node-input-retryAttempts', '0')
      assert.equal(await hasError('#node-input-retryAttempts'), true, 'attempts 0 flagged')
      await type('#node-input-retryAttempts', '3')
      assert.equal(await hasError('#node-input-retryAttempts'), false)
      assert.equal(await visible('#node-input-retryBackoff'), true, 'the wait shows for retries')
      assert.equal(await tray.locator('#ttn-downlink-retry-on input[value=nack]').isChecked(), true, 'nack retried by default')
      await tray.locator('#ttn-downlink-retry-on input[value=invalidated]').uncheck()
      await type('#node-input-retryTtl', '-5')
      assert.equal(await hasError('#node-input-retryTtl'), true, 'a negative give-up time flagged')
      await type('#node-input-retryTtl', '600')
      await tray.locator('#node-input-schedule').selectOption('next-uplink')
      assert.equal(await visible('#ttn-downlink-next-uplink-hint'), true, 'next-uplink explained')
      await browser!.screenshot(shot('ttn-downlink-dialog-retry'))
      await browser!.closeTray('ok')
      assert.deepEqual(
        [await nodeProp(spec.node, 'retryAttempts'), await nodeProp(spec.node, 'retryTtl'), await nodeProp(spec.node, 'retryOn'), await nodeProp(spec.node, 'schedule')],
        ['3', '600', 'nack,timeout,failed', 'next-uplink'],
      )
      // Back as it was: the tests below press the demo's downlink buttons.
      const again = await edit(spec)
      await again.locator('#ttn-downlink-retry-on input[value=invalidated]').check()
      await type('#node-input-retryAttempts', '1')
      await type('#node-input-retryTtl', '0')
      await again.locator('#node-input-schedule').selectOption('replace')
      await browser!.closeTray('ok')
      assert.deepEqual([await nodeProp(spec.node, 'schedule'), await nodeProp(spec.node, 'retryOn')], ['replace', 'nack,timeout,failed,invalidated'])
      noProblems()
    })

    it('opens the ttn-app dialog: presets fill the server, The Things Stack Cloud asks for tenant and cluster', async () => {
      await showTab('demo-tab-1')
      const tray = await editApp()
      const server = tray.locator('#node-config-input-server')
      const preset = tray.locator('#ttn-app-preset')
      const cloudRow = tray.locator('#ttn-app-cluster-group')
      const hint = async () =>
        `${squash(await tray.locator('#ttn-app-address-hint').textContent())} ${squash(await tray.locator('#ttn-app-username-hint').textContent())}`
      /** The dialog's tabs (Connection, Security, Advanced, Recovery) and the fields each one shows. */
      const tabs: [string, string[]][] = [
        ['connection', ['name', 'appId', 'apiKey', 'server']],
        ['security', ['name', 'tls']],
        ['advanced', ['name', 'api', 'broker']],
        ['recovery', ['name', 'recover']],
      ]
      for (const [tab, fields] of tabs) {
        const content = tray.locator(`#ttn-app-tab-${tab}`)
        while (!(await content.isVisible())) {
          await tray.locator(`#red-ui-tab-ttn-app-tab-${tab}`).click()
          await delay(50)
        }
        for (const field of fields) {
          assert.equal(await tray.locator(`#node-config-input-${field}`).isVisible(), true, `field ${field} shown on ${tab}`)
        }
      }
      while (!(await tray.locator('#ttn-app-tab-connection').isVisible())) {
        await tray.locator('#red-ui-tab-ttn-app-tab-connection').click()
        await delay(50)
      }
      assert.equal(await tray.locator('#node-config-input-apiKey').getAttribute('type'), 'password')
      assert.equal(await tray.locator('#node-config-input-apiKey').inputValue(), '', 'no key yet')
      assert.equal(await hasError('#node-config-input-apiKey'), true, 'the missing key is marked')
      // The simulator's address is not a preset; its tenant is the one tenant input.
      assert.equal(await server.inputValue(), `127.0.0.1:${broker!.port}`)
      assert.equal(await preset.inputValue(), 'custom')
      assert.equal(await cloudRow.isVisible(), false)
      assert.equal(await tray.locator('#ttn-app-tenant').inputValue(), APP.tenant)
      assert.equal(await hint(), `Connects to mqtt://127.0.0.1:${broker!.port} as ${USERNAME}`)

      for (const [p, host] of [
        ['eu1', 'eu1.cloud.thethings.network'],
        ['nam1', 'nam1.cloud.thethings.network'],
        ['au1', 'au1.cloud.thethings.network'],
      ]) {
        await preset.selectOption(p)
        assert.equal(await server.inputValue(), host, `preset ${p}`)
        assert.equal(await hasError('#node-config-input-server'), false)
      }
      await preset.selectOption('cloud')
      assert.equal(await cloudRow.isVisible(), true, 'tenant and cluster shown for The Things Stack Cloud')
      await type('#ttn-app-tenant', 'acme-corp')
      assert.equal(await server.inputValue(), 'acme-corp.eu1.cloud.thethings.industries')
      await tray.locator('#ttn-app-cloud-cluster').selectOption('nam1')
      assert.equal(await server.inputValue(), 'acme-corp.nam1.cloud.thethings.industries')
      await type('#ttn-app-tenant', 'Acme!')
      assert.equal(await hasError('#ttn-app-tenant'), true, 'bad tenant flagged')
      await preset.selectOption('custom')
      assert.equal(await cloudRow.isVisible(), false)
      // Typing a known host selects its preset.
      await type('#node-config-input-server', 'au1.cloud.thethings.network')
      assert.equal(await preset.inputValue(), 'au1')
      await type('#node-config-input-server', 'mqtt://broker.example:99999')
      assert.equal(await hasError('#node-config-input-server'), true, 'port out of range flagged')
      await type('#node-config-input-appId', 'My App')
      assert.equal(await hasError('#node-config-input-appId'), true, 'bad application ID flagged')
      await browser!.screenshot(shot('ttn-app-dialog-invalid'))

      // As a user of The Things Network fills it in (the README's picture).
      await type('#node-config-input-name', 'my-app (eu1)')
      await type('#node-config-input-appId', 'my-app')
      await preset.selectOption('eu1')
      await type('#node-config-input-apiKey', key)
      assert.equal(await hint(), 'Connects to mqtts://eu1.cloud.thethings.network:8883 as my-app@ttn')
      assert.equal(
        await tray.locator('#ttn-app-console-link').getAttribute('href'),
        'https://eu1.cloud.thethings.network/console/applications/my-app',
      )
      for (const field of ['appId', 'server', 'apiKey']) {
        assert.equal(await hasError(`#node-config-input-${field}`), false, `${field} valid`)
      }
      await tray.locator('#node-config-input-name').blur()
      // No tab tooltip over the picture.
      await page().mouse.move(5, 710)
      await delay(300)
      await browser!.scrollTrayToTop()
      await browser!.screenshot(shot('ttn-app-dialog'), {
        element: tray,
        copies: docsCopy('ttn-app-dialog.png'),
      })
      await browser!.closeTray('cancel')
      assert.equal(
        await nodeProp(APP_NODE, 'server'),
        `127.0.0.1:${broker!.port}`,
        'Cancel keeps the node as it was',
      )
      noProblems()
    })

    it('deploys from the editor: the key typed into ttn-app reaches the runtime, the nodes connect', async () => {
      const credFile = join(userDir!, 'flows_cred.json')
      const keyStored = () => existsSync(credFile) && readFileSync(credFile, 'utf8').includes(key)
      assert.equal(keyStored(), false, 'no key before the deploy')
      const tray = await editApp()
      await tray.locator('#node-config-input-apiKey').fill(key)
      await browser!.closeTray('ok')

      const deployRequest = page().waitForRequest((r) => r.method() === 'POST' && /\/flows$/.test(r.url()), {
        timeout: 10_000,
      })
      await page().locator('#red-ui-header-button-deploy').click()
      const request = await deployRequest
      assert.equal((request.postData() ?? '').includes(key), true, 'the editor sent the key with the deploy')
      assert.equal((await request.response())?.status(), 200)
      await page()
        .locator('.red-ui-notification-success', { hasText: 'Successfully deployed' })
        .waitFor({ timeout: 10_000 })
      assert.equal(keyStored(), true, "the key became the config node's credential")

      await waitFor(() => broker!.connectionCount(USERNAME) === 1, 10_000, 'the deployed flow connected')
      for (const [tab, ids] of Object.entries(TTN_NODES)) {
        await showTab(tab)
        for (const id of ids) await statusBecomes(id, TEXTS.status.connected)
      }
      noProblems()
    })

    it('shows uplinks in the debug sidebar and a downlink outcome under the debug node', async () => {
      devices = new DeviceSimulator({ broker: broker!, username: USERNAME, intervalMs: 1000 })
      devices.start()
      await showTab('demo-tab-1')
      await page().evaluate(() => (globalThis as unknown as EditorWindow).RED.sidebar.show('debug'))
      const topics = page().locator('.red-ui-debug-msg-topic')
      for (const device of ['my-device', 'other-device', 'front-door']) {
        await topics
          .filter({ hasText: `v3/${USERNAME}/devices/${device}/up` })
          .first()
          .waitFor({ timeout: 15_000 })
      }
      // For the picture: only our nodes in the palette, the whole flow in view.
      await page().locator('#red-ui-palette-search input').pressSequentially('ttn')
      // The other categories fold away (animated): wait until only ours is left.
      await page().waitForFunction(() => {
        type El = { offsetHeight: number }
        const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<El> } })
          .document
        return (
          Array.from(doc.querySelectorAll('#red-ui-palette-container .red-ui-palette-category')).filter(
            (c) => c.offsetHeight > 0,
          ).length === 1
        )
      })
      await page()
        .locator('#red-ui-workspace-chart')
        .evaluate((chart) => {
          ;(chart as { scrollLeft: number }).scrollLeft = 70
        })
      await delay(300)
      await browser!.screenshot(shot('example-flow'), { copies: docsCopy('example-flow.png') })

      // The "confirmed" button of the downlink tab, pressed in the editor.
      await showTab('demo-tab-2')
      await page().locator(`[id='demo-inject-confirmed'] .red-ui-flow-node-button`).click()
      await statusBecomes('ex2-debug-outcome', 'ack')
      const down = broker!.downlinks.at(-1)
      assert.ok(down, 'the simulator received the downlink')
      assert.equal(down.deviceId, 'my-device')
      assert.deepEqual(
        (down.body as { downlinks: { f_port: number; confirmed: boolean }[] }).downlinks.map((d) => [
          d.f_port,
          d.confirmed,
        ]),
        [[5, true]],
        'the port set in the dialog, confirmed from the button',
      )
      // The README's picture of the downlink tab: the buttons, the nodes and their statuses.
      await page().locator(`[id='demo-inject-too-long'] .red-ui-flow-node-button`).click()
      await statusBecomes('ex2-debug-outcome', 'failed')
      await delay(300)
      await browser!.screenshot(shot('downlink-flow'), { copies: docsCopy('downlink-flow.png') })
      noProblems()
    })

    it('shows the stored key as set after a reload, but never sends it back to the browser', async () => {
      // Quiet devices: a debug message arriving while the editor reloads trips the core debug node.
      devices?.stop()
      await delay(300)
      await browser!.settled()
      const seenBefore = browser!.received.length
      await page().reload()
      await browser!.openEditor(red!.url, 'ttn-uplink')
      const tray = await editApp()
      assert.equal(await tray.locator('#node-config-input-apiKey').inputValue(), '__PWRD__', 'shown as set')
      assert.deepEqual(await nodeProp(APP_NODE, 'credentials'), { has_apiKey: true, _: { has_apiKey: true } })
      await browser!.screenshot(shot('ttn-app-dialog-key-set'), { element: tray })
      await browser!.closeTray('cancel')

      await browser!.settled()
      const credentials = browser!.received
        .slice(seenBefore)
        .filter((r) => r.url.endsWith(`/credentials/ttn-app/${APP_NODE}`))
      assert.equal(credentials.length, 1, 'the reloaded editor asked for the credentials once')
      assert.deepEqual(JSON.parse(credentials[0].body), { has_apiKey: true })
      assert.deepEqual(await red!.api('GET', `credentials/ttn-app/${APP_NODE}`), { has_apiKey: true })

      const http = browser!.received.filter((r) => r.url.startsWith('http'))
      const frames = browser!.received.filter((r) => r.url.startsWith('ws'))
      assert.ok(http.length > 20, `the page received ${http.length} HTTP responses`)
      assert.ok(frames.length > 5, `the page received ${frames.length} WebSocket frames`)
      const leaks = browser!.received.filter((r) => r.body.includes(key)).map((r) => r.url)
      assert.deepEqual(leaks, [], 'no response or frame holds the key')
      assert.deepEqual(findKeys(browser!.received.map((r) => r.body).join('\n')), [])
      assert.equal(red!.output.includes(key), false, "no key in Node-RED's log")
      noProblems()
    })
  })
}

/**
 * The editor's HTTP API helpers in real headless Chromium against a real Node-RED process with the packed
 * package installed (resources/ttn-editor.js served from the package): the ttn-app dialog's Check
 * connection button, the device picker of the Device ID fields and the diagnosed status of a refused key,
 * against the MQTT simulator and the HTTP API stand-in. The stored key never reaches the browser.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { HttpApiStandIn, TtsBroker } from '../../src/simulator'
import { EditorBrowser, type EditorWindow } from '../support/browser'
import {
  freePort,
  installTarball,
  NodeRedProcess,
  nodeRed4,
  nodeRed5,
  packOnce,
  REPO,
  removeDir,
  type Runtime,
  tempDir,
} from '../support/node-red-process'
import { findKeys } from '../support/secret-guard'
import { waitFor } from '../support/wait'

/** The edit tray's title of one of our nodes: "Edit <its palette label> node", the label from the catalog. */
function editTitle(node: 'uplink' | 'downlink'): RegExp {
  const texts = JSON.parse(readFileSync(join(REPO, 'nodes', 'locales', 'en-US', 'ttn.json'), 'utf8')) as {
    ttn: { paletteLabel: Record<string, string> }
  }
  return new RegExp(`Edit ${texts.ttn.paletteLabel[node].replace(/[()]/g, '\\$&')} node`)
}

const runtimes: [string, () => Runtime, number][] = [
  ['Node-RED 4 on Node 20', nodeRed4, 4],
  ['Node-RED 5 on Node 22', nodeRed5, 5],
]

for (const [title, runtimeOf, major] of runtimes) {
  describe(`Check connection and the device picker in headless Chromium: ${title}`, function () {
    this.timeout(60_000)
    const otherKey = `NNSXS.OTHERAPP${major}${randomBytes(4).toString('hex').toUpperCase()}.${randomBytes(16).toString('hex').toUpperCase()}`
    const key = `NNSXS.APIEDITOR${major}${randomBytes(4).toString('hex').toUpperCase()}.${randomBytes(16).toString('hex').toUpperCase()}`
    let userDir: string | undefined
    let broker: TtsBroker | undefined
    let api: HttpApiStandIn | undefined
    let red: NodeRedProcess | undefined
    let browser: EditorBrowser | undefined
    const page = () => browser!.page

    before(async function () {
      this.timeout(120_000)
      const tarball = await packOnce()
      userDir = tempDir(`ttn-api-editor-nr${major}-`)
      await installTarball(userDir, tarball)
      broker = await TtsBroker.start({ applications: [{ appId: 'demo-app', tenant: 'ttn', apiKey: key }] })
      api = await HttpApiStandIn.start({
        applications: [
          {
            appId: 'demo-app',
            devices: [
              { deviceId: 'front-door', name: 'Front door', lastSeenAt: '2026-11-30T10:00:00Z' },
              { deviceId: 'my-device', name: 'Kitchen sensor', lastSeenAt: '2026-11-30T12:00:00Z' },
              ...Array.from({ length: 60 }, (_, i) => ({ deviceId: `field-${String(i).padStart(2, '0')}`, name: `Field sensor ${i}` })),
            ],
          },
          { appId: 'other-app' },
        ],
        keys: [
          { key, appId: 'demo-app', rights: ['RIGHT_APPLICATION_ALL'] },
          { key: otherKey, appId: 'other-app', rights: ['RIGHT_APPLICATION_ALL'] },
        ],
        broker,
      })
      red = await NodeRedProcess.start({
        runtime: runtimeOf(),
        userDir,
        port: await freePort(),
        settings: { credentialSecret: false, editorTheme: { tours: false, palette: { catalogues: [] } } },
      })
      const flows = [
        { id: 'tab', type: 'tab', label: 'API' },
        { id: 'app', type: 'ttn-app', name: 'demo', appId: 'demo-app', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3', apiUrl: api.url, credentials: { apiKey: key } },
        { id: 'up', type: 'ttn-uplink', z: 'tab', app: 'app', deviceId: '', x: 150, y: 80, wires: [] },
        { id: 'down', type: 'ttn-downlink', z: 'tab', app: 'app', deviceId: '', port: 1, x: 150, y: 160, wires: [[]] },
        // A key of another application: refused with CONNACK 5, and the status says why.
        { id: 'app-wrong', type: 'ttn-app', name: 'wrong key', appId: 'demo-app', tenant: 'ttn', server: `127.0.0.1:${broker.port}`, tls: false, api: 'v3', apiUrl: api.url, credentials: { apiKey: otherKey } },
        { id: 'up-wrong', type: 'ttn-uplink', z: 'tab', app: 'app-wrong', deviceId: '', x: 150, y: 240, wires: [] },
      ]
      await red.api('POST', 'flows', { flows })
      await waitFor(() => broker!.connectionCount('demo-app@ttn') === 1, 10_000, 'the deployed flow connected')
      browser = await EditorBrowser.launch()
      await browser.openEditor(red.url, 'ttn-uplink')
    })

    after(async function () {
      this.timeout(60_000)
      for (const step of [() => browser?.close(), () => red?.stop(), () => api?.stop(), () => broker?.stop()]) {
        await step()?.catch(() => undefined)
      }
      removeDir(userDir)
    })

    afterEach(async function () {
      if (this.currentTest?.state !== 'failed' || !browser) return
      await browser.screenshot(`nr${major}-failed-${(this.currentTest.title ?? '').slice(0, 40).replace(/\W+/g, '-')}`, { picture: false }).catch(() => undefined)
      // A tray left open would fail the tests that follow for no reason of their own.
      while ((await page().locator('.red-ui-tray').count()) > 0) {
        if (!(await browser.closeTray('cancel').then(() => true, () => false))) break
      }
    })

    const editApp = async () => {
      await page().evaluate(() => (globalThis as unknown as EditorWindow).RED.editor.editConfig('', 'ttn-app', 'app'))
      return browser!.trayOpened(/Edit ttn-app node/)
    }
    const edit = async (id: string, title: RegExp) => {
      await page().evaluate((i) => {
        const { RED } = globalThis as unknown as EditorWindow
        RED.editor.edit(RED.nodes.node(i)!)
      }, id)
      return browser!.trayOpened(title)
    }
    const noKeyInBrowser = async () => {
      await browser!.settled()
      const leaked = browser!.received.filter((r) => findKeys(r.body).length > 0 || r.body.includes(key.split('.')[2]))
      assert.deepEqual(leaked.map((r) => r.url), [], 'the key never reaches the browser')
    }

    it('a refused key: the status under the node names the cause, in the catalog\'s words', async () => {
      const label = page().locator("[id='up-wrong'] .red-ui-flow-node-status-label")
      await label.filter({ hasText: 'not authorized: the key belongs to application other-app' }).waitFor({ timeout: 20_000 })
      assert.equal((await label.textContent())?.trim(), 'not authorized: the key belongs to application other-app')
      assert.match(red!.output, /The Things Stack refused the connection\. The HTTP API says why: The key belongs to application other-app, not demo-app/)
      assert.deepEqual(findKeys(red!.output), [], 'no key in the log')
    })

    it('Check connection with the stored key: every step, in plain words, none failing', async () => {
      const tray = await editApp()
      await tray.locator('.ttn-check-button').click()
      await tray.locator('li.ttn-check-step[data-step="username"]').waitFor({ timeout: 20_000 })
      const steps = await tray.locator('li.ttn-check-step').evaluateAll((els) =>
        els.map((e) => ({ step: e.getAttribute('data-step'), state: e.getAttribute('class'), text: e.textContent })),
      )
      assert.deepEqual(steps.map((s) => s.step), ['dns', 'tcp', 'tls', 'mqtt', 'key', 'rights', 'cluster', 'username'])
      assert.deepEqual(steps.filter((s) => /ttn-check-fail/.test(s.state ?? '')), [])
      assert.match(steps[3].text ?? '', /MQTT login \(CONNACK\).*accepted the login as "demo-app@ttn"/)
      assert.match(steps[4].text ?? '', /API key.*belongs to application demo-app/)
      assert.equal(await tray.locator('.ttn-check-summary').textContent(), 'Everything needed works.')
      await browser!.screenshot(`nr${major}-ttn-app-check-ok`, { element: tray })
      await browser!.closeTray('cancel')
      await noKeyInBrowser()
    })

    it('Check connection with changed, undeployed values: the failing step says what to change', async () => {
      const tray = await editApp()
      await tray.locator('#node-config-input-appId').fill('other-app')
      await tray.locator('.ttn-check-button').click()
      await tray.locator('li.ttn-check-step[data-step="username"]').waitFor({ timeout: 20_000 })
      const mqtt = tray.locator('li.ttn-check-step[data-step="mqtt"]')
      assert.match(await mqtt.getAttribute('class') ?? '', /ttn-check-fail/)
      assert.match((await mqtt.textContent()) ?? '', /refused the login as "other-app@ttn" \(CONNACK 5/)
      const keyStep = tray.locator('li.ttn-check-step[data-step="key"]')
      assert.match((await keyStep.textContent()) ?? '', /belongs to application demo-app, not other-app: create a key in other-app/)
      assert.equal(await tray.locator('.ttn-check-summary').textContent(), 'Something must change: see the steps marked ✗.')
      await browser!.screenshot(`nr${major}-ttn-app-check-failed`, { element: tray })
      await browser!.closeTray('cancel')
      await noKeyInBrowser()
    })

    it('the device picker lists the devices with name and last seen, searches on the server, and fills the field', async () => {
      const tray = await edit('up', editTitle('uplink'))
      await tray.locator('.ttn-device-pick').click()
      const menu = page().locator('.red-ui-autoComplete-container')
      await menu.locator('.ttn-device-option').first().waitFor({ timeout: 10_000 })
      assert.equal(await menu.locator('.ttn-device-option').count(), 50, 'one page of 50')
      assert.match((await tray.locator('.ttn-device-hint').textContent()) ?? '', /50 of 62 devices: type to search/)
      const parts = (i: number) => menu.locator('.ttn-device-option').nth(i).locator('span').allTextContents()
      assert.deepEqual(await parts(1), ['field-01', 'Field sensor 1', 'never seen'])
      await browser!.screenshot(`nr${major}-device-picker`)
      await tray.locator('#node-input-deviceId').pressSequentially('kitch')
      await waitFor(() => api!.requests.some((r) => r.query.query === 'kitch'), 5000, 'the server-side search')
      await page().waitForFunction(() => {
        const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> } }).document
        const opts = doc.querySelectorAll('.red-ui-autoComplete-container .ttn-device-option')
        return opts.length === 1 && (opts[0].textContent ?? '').includes('my-device')
      })
      const [id, name, seen] = await parts(0)
      assert.deepEqual([id, name], ['my-device', 'Kitchen sensor'])
      assert.match(seen, /^last seen .*2026/)
      await menu.locator('.ttn-device-option').first().click()
      assert.equal(await tray.locator('#node-input-deviceId').inputValue(), 'my-device')
      await browser!.closeTray('ok')
      assert.equal(await page().evaluate(() => (globalThis as unknown as EditorWindow).RED.nodes.node('up')?.deviceId), 'my-device')
      await noKeyInBrowser()
    })

    it('an empty list says why: the key lacks the devices right; free typing still works', async () => {
      api!.addKey({ key, appId: 'demo-app', rights: ['RIGHT_APPLICATION_TRAFFIC_READ', 'RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE'] })
      const tray = await edit('down', editTitle('downlink'))
      await tray.locator('.ttn-device-pick').click()
      const hint = tray.locator('.ttn-device-hint')
      await tray.locator('.ttn-device-hint', { hasText: /lacks/ }).waitFor({ timeout: 10_000 })
      assert.equal(
        await hint.textContent(),
        'The API key lacks "View devices in application", so the devices cannot be listed: type the device ID, or add that right to the key.',
      )
      await tray.locator('#node-input-deviceId').fill('typed-device')
      await browser!.closeTray('ok')
      assert.equal(await page().evaluate(() => (globalThis as unknown as EditorWindow).RED.nodes.node('down')?.deviceId), 'typed-device')
      assert.deepEqual(browser!.problems, [], 'an empty list is no error in the browser')
    })
  })
}

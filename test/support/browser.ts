/**
 * The Node-RED editor in a real headless Chromium (the build shipped inside the npm package
 * @sparticuz/chromium, unpacked by `npm test`'s set-up step scripts/test-prereqs.mjs, driven by
 * playwright-core; a test tool's own browser download is not available here). One `EditorBrowser` is one browser with a
 * fresh profile. It records what a user would not see but a test must: page errors, console errors,
 * requests that leave 127.0.0.1, and every response and WebSocket frame the page received (to look for
 * secrets in them).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core'
import { REPO, removeDir, tempDir } from './node-red-process'

/** Where the set-up step unpacked Chromium (it writes this file; the path rule lives there only). */
const CHROMIUM_INFO = join(REPO, 'node_modules', '.cache', 'ttn-chromium', 'current.json')

interface ChromiumInfo {
  executable: string
  /** Folder with fonts.conf: the build carries its own fonts, a bare machine may have none. */
  fontconfig: string
}

function chromiumInfo(): ChromiumInfo {
  try {
    return JSON.parse(readFileSync(CHROMIUM_INFO, 'utf8')) as ChromiumInfo
  } catch (err) {
    throw new Error(
      `Chromium is not unpacked (${(err as Error).message}). Run the tests with npm test, whose set-up step unpacks it.`,
    )
  }
}
/** Screenshots and other evidence of a test run (ignored by git). */
export const ARTIFACTS = join(REPO, 'test-artifacts')

/**
 * What the page received from Node-RED: HTTP responses (text bodies only) and WebSocket frames.
 * Kept whole so a test can search them for a key.
 */
export interface Received {
  url: string
  body: string
}

/** The parts of the editor's `RED` object the tests call (inside `page.evaluate`). */
export interface EditorNode {
  id: string
  type: string
  valid?: boolean
  changed?: boolean
  credentials?: Record<string, unknown>
  [prop: string]: unknown
}
export interface EditorRED {
  nodes: {
    node(id: string): EditorNode | undefined
    getType(type: string): { category: string } | undefined
  }
  editor: {
    edit(node: EditorNode): void
    editConfig(name: string, type: string, id: string): void
  }
  sidebar: { show(id: string): void }
  workspaces: { show(id: string): void }
}
/**
 * The browser globals the tests use; this project compiles without the DOM library. In code passed to
 * `page.evaluate` write `(globalThis as unknown as EditorWindow).RED`: that code runs in the page, where
 * nothing imported here exists (a type cast is all that survives compilation).
 */
export interface EditorWindow {
  RED: EditorRED
  innerWidth: number
}

const ARGS = [
  '--no-sandbox',
  // This build is a headless shell made to run as one process (no zygote, no separate GPU process).
  '--single-process',
  '--no-zygote',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
]

export class EditorBrowser {
  /** Page errors, console errors and requests to anywhere but 127.0.0.1, in order. */
  readonly problems: string[] = []
  /** Everything the page received so far (see `Received`). */
  readonly received: Received[] = []
  /** Bodies still being read; `settled()` waits for them. */
  private readonly pending = new Set<Promise<void>>()

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    private readonly profileDir: string,
  ) {}

  /** Starts Chromium with a fresh profile and one 1280x720 page. */
  static async launch(): Promise<EditorBrowser> {
    const chromiumBuild = chromiumInfo()
    const profileDir = tempDir('ttn-chromium-')
    let context: BrowserContext
    try {
      context = await chromium.launchPersistentContext(profileDir, {
        executablePath: chromiumBuild.executable,
        env: { ...process.env, FONTCONFIG_PATH: chromiumBuild.fontconfig },
        headless: true,
        args: ARGS,
        viewport: { width: 1280, height: 720 },
        deviceScaleFactor: 1,
        locale: 'en-US',
        timezoneId: 'UTC',
        timeout: 30_000,
      })
    } catch (err) {
      removeDir(profileDir)
      throw new Error(
        `Chromium (${chromiumBuild.executable}) did not start: ${(err as Error).message}. Reinstall it: rm -rf node_modules && npm install && npm test`,
      )
    }
    try {
      const page = context.pages()[0] ?? (await context.newPage())
      // Every wait is bounded well within a test's time.
      page.setDefaultTimeout(10_000)
      const browser = new EditorBrowser(context, page, profileDir)
      await browser.watch()
      return browser
    } catch (err) {
      await context.close().catch(() => undefined)
      removeDir(profileDir)
      throw err
    }
  }

  private async watch(): Promise<void> {
    const { page, context } = this
    page.on('pageerror', (err) => this.problems.push(`page error: ${err.stack ?? err.message}`))
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.problems.push(`console error: ${msg.text()} (${msg.location().url})`)
    })
    // The editor must work offline: nothing may leave the machine. Such requests are refused and reported.
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) => {
        this.problems.push(`request to ${route.request().url()}`)
        return route.abort('blockedbyclient')
      },
    )
    page.on('response', (res) => {
      const type = res.headers()['content-type'] ?? ''
      if (!/json|text|javascript|html|xml/.test(type)) return
      const read = res
        .text()
        .then((body) => {
          this.received.push({ url: res.url(), body })
        })
        .catch(() => {
          // A redirect, or a page that navigated away meanwhile: no body to read.
        })
        .finally(() => this.pending.delete(read))
      this.pending.add(read)
    })
    page.on('websocket', (ws) => {
      ws.on('framereceived', (frame) => {
        this.received.push({ url: ws.url(), body: String(frame.payload) })
      })
    })
  }

  /** Resolves once every response body seen so far has been read. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending])
  }

  /** Opens the editor at `url` and waits until its palette holds node type `type` and the flows are drawn. */
  async openEditor(url: string, type: string, timeoutMs = 30_000): Promise<void> {
    try {
      await this.page.goto(url, { timeout: timeoutMs })
      await this.page
        .locator(`.red-ui-palette-node[data-palette-type='${type}']`)
        .waitFor({ state: 'visible', timeout: timeoutMs })
      // The flows arrive after the palette; the editor is ready once they are drawn.
      await this.page
        .locator('#red-ui-workspace-chart g.red-ui-flow-node-group')
        .first()
        .waitFor({ state: 'attached', timeout: timeoutMs })
    } catch (err) {
      const shot = await this.screenshot('editor-did-not-open', { picture: false }).catch(
        () => 'no screenshot',
      )
      throw new Error(
        `The editor at ${url} did not show ${type} and the flows: ${(err as Error).message}\n` +
          `Problems seen: ${JSON.stringify(this.problems)}; screenshot: ${shot}`,
      )
    }
  }

  /** Waits until the edit tray titled `title` is open and has stopped sliding in. */
  async trayOpened(title: RegExp, timeoutMs = 10_000): Promise<Locator> {
    const tray = this.page.locator('.red-ui-tray').last()
    await tray.locator('.red-ui-tray-breadcrumbs li').last().filter({ hasText: title }).waitFor({
      timeout: timeoutMs,
    })
    // The tray slides in by animating its CSS `right` to 0 (its container is left of the sidebar).
    await this.page.waitForFunction(
      () => {
        const g = globalThis as unknown as {
          document: { querySelectorAll(s: string): ArrayLike<unknown> }
          getComputedStyle(e: unknown): { right: string }
        }
        const trays = g.document.querySelectorAll('.red-ui-tray')
        const last = trays[trays.length - 1]
        return last !== undefined && g.getComputedStyle(last).right === '0px'
      },
      undefined,
      { timeout: timeoutMs },
    )
    return tray
  }

  /** Presses the top tray's Cancel or Done button and waits until that tray has slid out and is gone. */
  async closeTray(button: 'cancel' | 'ok', timeoutMs = 10_000): Promise<void> {
    const trays = this.page.locator('.red-ui-tray')
    const open = await trays.count()
    if (open === 0) throw new Error(`No edit tray is open to press ${button} on`)
    await trays.last().locator(`button[id$="dialog-${button}"]`).click({ timeout: timeoutMs })
    const deadline = Date.now() + timeoutMs
    while ((await trays.count()) >= open) {
      if (Date.now() > deadline) throw new Error(`The edit tray stayed open ${timeoutMs} ms after ${button}`)
      await this.page.waitForTimeout(50)
    }
  }

  /** Scrolls the top tray's form back to its first row (typing into a lower field scrolled it). */
  async scrollTrayToTop(): Promise<void> {
    await this.page.evaluate(() => {
      type Scrollable = { scrollTop: number }
      const doc = (
        globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<Scrollable> } }
      ).document
      const parts = doc.querySelectorAll('.red-ui-tray:last-of-type, .red-ui-tray:last-of-type *')
      for (let i = 0; i < parts.length; i++) if (parts[i].scrollTop > 0) parts[i].scrollTop = 0
    })
  }

  /**
   * Saves a screenshot of the page (or of `element`) to test-artifacts/<name>.png and to `copies`.
   * `picture` leaves out the editor's passing notifications ("Successfully deployed"), which would cover
   * the flow; screenshots of failures keep them, they may tell what went wrong.
   */
  async screenshot(
    name: string,
    opts: { element?: Locator; copies?: string[]; picture?: boolean } = {},
  ): Promise<string> {
    mkdirSync(ARTIFACTS, { recursive: true })
    const file = join(ARTIFACTS, `${name}.png`)
    const options = {
      path: file,
      animations: 'disabled' as const,
      style: opts.picture === false ? undefined : '#red-ui-notifications { display: none !important; }',
    }
    const png = opts.element ? await opts.element.screenshot(options) : await this.page.screenshot(options)
    for (const copy of opts.copies ?? []) writeFileSync(copy, png)
    return file
  }

  /** Closes the browser and removes its profile. */
  async close(): Promise<void> {
    try {
      await this.context.close()
    } finally {
      removeDir(this.profileDir)
    }
  }
}

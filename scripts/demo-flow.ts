/**
 * The flow `npm start` deploys: the example flows of examples/, one tab each, sharing their one
 * application node, plus buttons that show a confirmed downlink's ack, a refused downlink and a retry.
 * The application node is pointed at the simulator (or a real application) on every start; a flow the
 * user changed in the editor is kept. The API key never reaches a file: the credential is the
 * reference `${TTN_API_KEY}`, which Node-RED resolves from the environment `npm start` gives it.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bytesInject, type FlowNode } from './flow-nodes'

export type { FlowNode }

/** The ID of the application (ttn-app) node that every example uses. */
export const DEMO_APP_NODE = 'ex-ttn-app'
/** The environment variable the application node's API key credential refers to. */
export const KEY_ENV = 'TTN_API_KEY'
/** The environment variable the gateway node's API key credential refers to (demo: the Gateway Server stand-in's key). */
export const GATEWAY_KEY_ENV = 'TTN_GATEWAY_KEY'

/** Where the demo's application node connects. */
export interface AppTarget {
  name: string
  appId: string
  tenant: string
  server: string
  tls: boolean
  /** When set, the example nodes that name one device (uplink of one device, downlink) use it. */
  deviceId?: string
  /** When set, missed uplinks are recovered from the Storage Integration at this address; else recovery is off. */
  recoverUrl?: string
  /** Device Repository folder for local decoding (the simulator's devices); unset: the online repository. */
  codecRepo?: string
  /** When set, the gateway nodes poll this Gateway Server for these gateways, with the key in GATEWAY_KEY_ENV. */
  gateways?: { server: string; gatewayIds: string }
  /** When set, the HTTP API (device lists, Check connection, device details) is at this address; else derived from the server. */
  apiUrl?: string
}

/** Node IDs, in the examples, of the nodes that name a device. */
const DEVICE_NODES = ['ex1-uplink-device', 'ex2-downlink', 'ex6-downlink-javascript', 'ex6-downlink-lpp']

/** The demo flow, from the example files in `examplesDir`. */
export function demoFlow(examplesDir: string, target: AppTarget): FlowNode[] {
  const files = readdirSync(examplesDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
  if (files.length === 0) throw new Error(`No example flows in ${examplesDir}`)
  const out: FlowNode[] = []
  const seen = new Set<string>()
  files.forEach((file, i) => {
    const tab: FlowNode = {
      id: `demo-tab-${i + 1}`,
      type: 'tab',
      label: file.replace(/\.json$/, ''),
      disabled: false,
      info: '',
    }
    out.push(tab)
    const nodes = JSON.parse(readFileSync(join(examplesDir, file), 'utf8')) as FlowNode[]
    for (const n of nodes) {
      // The examples share their config node; it is global (no tab), like Import → Examples makes it.
      if (seen.has(n.id)) continue
      seen.add(n.id)
      const isConfig = n.x === undefined && n.wires === undefined
      out.push(isConfig ? { ...n } : { ...n, z: tab.id })
    }
  })
  out.push(...demoExtras(out, target))
  pointAppAt(out, target)
  return out
}

/**
 * Comments that explain the demo where it runs (naming its real application node, every button, and
 * how to keep the debug sidebar readable), and three more downlink buttons when the downlink example is there.
 */
function demoExtras(flow: FlowNode[], target: AppTarget): FlowNode[] {
  const extras: FlowNode[] = []
  const tabs = flow.filter((n) => n.type === 'tab')
  const simulated = target.recoverUrl !== undefined || /^(127\.0\.0\.1|localhost)(:|$)/.test(target.server)
  const where = simulated
    ? 'the built-in simulated The Things Stack, where `my-device`, `other-device` and `front-door` join and ' +
      'send an uplink every few seconds (`other-device` has no payload formatter, so the function node decodes its bytes)'
    : `your application \`${target.appId}\` at \`${target.server}\``
  const sidebarTip =
    'In the debug sidebar (the bug icon, top right) choose **current flow** in its filter, so each tab shows only its own messages.'
  if (tabs[0]) {
    extras.push({
      id: 'demo-comment',
      type: 'comment',
      z: tabs[0].id,
      name: 'npm start: the examples, connected',
      info:
        "These tabs are the package's example flows, deployed by `npm start`. Their one application node, " +
        `**${target.name}** (double-click any ttn node, then the pencil next to *Application*), is connected to ${where}.\n\n` +
        `${sidebarTip}\n\n` +
        'The node *whole TTN message* shows its output under the node (its status), not in the sidebar: the top node ' +
        'already prints every uplink once. Turn its sidebar output on in its settings to read the whole message.\n\n' +
        'With `TTN_APP_ID` and `TTN_API_KEY` set, `npm start` points the same node at your application instead.',
      x: 720,
      y: 40,
      wires: [],
    })
  }
  const downlink = flow.find((n) => n.type === 'ttn-downlink')
  if (downlink) {
    const inject = (
      id: string,
      name: string,
      y: number,
      payload: string,
      props: FlowNode['props'],
    ): FlowNode =>
      bytesInject({ id, z: String(downlink.z), name, x: 190, y, payload, props, wires: [[downlink.id]] })
    extras.push(
      inject('demo-inject-confirmed', 'confirmed: acknowledged', 500, '[1]', [
        { p: 'payload' },
        { p: 'confirmed', v: 'true', vt: 'bool' },
      ]),
      inject(
        'demo-inject-too-long',
        '60 bytes: too long, fails',
        540,
        JSON.stringify(new Array(60).fill(0)),
        [{ p: 'payload' }],
      ),
      // The simulated front-door misses every other confirmed downlink: the first attempt is nacked, the retry acknowledged.
      inject('demo-inject-retry', 'front-door misses one: retried', 580, '[3]', [
        { p: 'payload' },
        { p: 'deviceId', v: 'front-door', vt: 'str' },
        { p: 'port', v: '3', vt: 'num' },
        { p: 'confirmed', v: 'true', vt: 'bool' },
        { p: 'retry', v: '{"attempts":3,"backoff":3}', vt: 'json' },
      ]),
      {
        id: 'demo-comment-downlinks',
        type: 'comment',
        z: String(downlink.z),
        name: 'npm start: press a button on the left',
        info:
          `Each button sends a downlink through **${target.name}** to \`${String(downlink.deviceId || 'my-device')}\`:\n\n` +
          '- **bytes 01 02 03**: a Buffer, sent as raw bytes;\n' +
          '- **base64 string "AQ=="**: a text payload, read as base64 (the single byte 0x01);\n' +
          "- **object {\"led\":\"on\"}**: handed to the application's downlink payload formatter;\n" +
          '- **another device, port 2**: `msg.deviceId` and `msg.port` override the node;\n' +
          '- **confirmed: acknowledged**: a confirmed downlink; the device acknowledges it (`ack`);\n' +
          '- **60 bytes: too long, fails**: more than the data rate carries, so The Things Stack refuses it (`failed`, also at the Catch node);\n' +
          '- **front-door misses one: retried**: a confirmed downlink with `msg.retry`; the simulated front-door misses the first attempt (`nack`), the retry is acknowledged.\n\n' +
          'The debug node *outcome* shows each step under itself: `queued`, `sent`, then `ack` or `failed`.\n\n' +
          `${sidebarTip}\n\n` +
          'A real class A device (most sensors) receives a downlink only after its next uplink: on a real application ' +
          'the outcome stays at `queued` until the device sends.',
        x: 720,
        y: 40,
        wires: [],
      },
    )
  }
  return extras
}

/** Points the demo's application node at `target`; false when the flow has no such node. */
export function pointAppAt(flow: FlowNode[], target: AppTarget): boolean {
  const app = flow.find((n) => n.id === DEMO_APP_NODE && n.type === 'ttn-app')
  if (!app) return false
  Object.assign(app, {
    name: target.name,
    appId: target.appId,
    tenant: target.tenant,
    server: target.server,
    tls: target.tls,
    tlsConfig: '',
    api: 'v3',
    // Off for a real application: a previous demo run may have left the simulator's storage address here.
    recover: target.recoverUrl !== undefined,
    recoverUrl: target.recoverUrl ?? '',
    lookback: 0,
    codecRepo: target.codecRepo ?? '',
    apiUrl: target.apiUrl ?? '',
  })
  if (target.deviceId) {
    for (const n of flow) if (DEVICE_NODES.includes(n.id)) n.deviceId = target.deviceId
  }
  pointGatewaysAt(flow, target)
  return true
}

/** The gateway nodes of the examples (04), pointed at the demo's Gateway Server. */
function pointGatewaysAt(flow: FlowNode[], target: AppTarget): void {
  if (!target.gateways) return
  for (const n of flow) {
    if (n.type === 'ttn-gateway' && n.id.startsWith('ex')) Object.assign(n, { server: target.gateways.server, app: '', gatewayIds: target.gateways.gatewayIds })
  }
}

export type PrepareResult =
  /** A new demo flow was written. */
  | 'created'
  /** The existing flow's application node was pointed at the target. */
  | 'updated'
  /** The existing flow has no demo application node; it was left alone. */
  | 'foreign'

/**
 * Writes (or updates) flows.json and flows_cred.json in `userDir`, for a Node-RED started with
 * `credentialSecret: false`. `reset` replaces whatever flow is there with the demo flow.
 */
export function prepareFlows(
  userDir: string,
  examplesDir: string,
  target: AppTarget,
  reset: boolean,
): PrepareResult {
  const flowsFile = join(userDir, 'flows.json')
  const credFile = join(userDir, 'flows_cred.json')
  let flow: FlowNode[] | undefined
  if (!reset && existsSync(flowsFile)) {
    const text = readFileSync(flowsFile, 'utf8').trim()
    try {
      flow = text === '' ? [] : (JSON.parse(text) as FlowNode[])
    } catch (err) {
      throw new Error(
        `${flowsFile} is not valid JSON (${(err as Error).message}): fix it, or start with --reset to replace it with the demo flow.`,
      )
    }
    if (!Array.isArray(flow))
      throw new Error(
        `${flowsFile} is not a Node-RED flow (an array of nodes): start with --reset to replace it.`,
      )
  }
  let result: PrepareResult
  if (!flow || flow.length === 0) {
    flow = demoFlow(examplesDir, target)
    result = 'created'
  } else {
    result = pointAppAt(flow, target) ? 'updated' : 'foreign'
  }
  writeFileSync(flowsFile, JSON.stringify(flow, null, 2))
  if (result !== 'foreign') {
    const creds = readCredentials(credFile)
    creds[DEMO_APP_NODE] = { ...creds[DEMO_APP_NODE], apiKey: '${' + KEY_ENV + '}' }
    if (target.gateways) {
      for (const n of flow) if (n.type === 'ttn-gateway' && n.id.startsWith('ex')) creds[n.id] = { ...creds[n.id], apiKey: '${' + GATEWAY_KEY_ENV + '}' }
    }
    writeFileSync(credFile, JSON.stringify(creds, null, 2))
  }
  return result
}

/** The plain-text credentials file (credentialSecret false); an encrypted or broken one is replaced. */
function readCredentials(file: string): Record<string, Record<string, string>> {
  if (!existsSync(file)) return {}
  try {
    const creds = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    if (creds && typeof creds === 'object' && !('$' in creds))
      return creds as Record<string, Record<string, string>>
  } catch {
    // Unreadable: start over, the demo node gets its reference below.
  }
  return {}
}

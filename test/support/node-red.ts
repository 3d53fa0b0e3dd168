/**
 * node-red-node-test-helper, typed for our tests, initialised with the Node-RED in node_modules.
 * The helper runs the real Node-RED runtime (flows, credentials, deploys) in this process.
 */
import type { EventEmitter } from 'node:events'
import { join } from 'node:path'

export interface SpyCall {
  args: unknown[]
}
export interface TestNode extends EventEmitter {
  id: string
  type: string
  credentials?: Record<string, unknown>
  receive(msg: Record<string, unknown>): void
  send(msg: unknown): void
  [key: string]: unknown
}
export interface TestHelper {
  init(runtimePath: string, settings?: object): void
  load(nodes: unknown[] | unknown, flow: object[], credentials?: Record<string, Record<string, string>>): Promise<void>
  unload(): Promise<void>
  getNode(id: string): TestNode
  setFlows(flow: object[], type: 'full' | 'flows' | 'nodes', credentials?: Record<string, Record<string, string>>): Promise<void>
  startServer(): Promise<void>
  stopServer(): Promise<void>
  log(): { args: unknown[] }[] & { getCalls?: () => SpyCall[] }
  _logSpy?: { getCalls(): SpyCall[] }
}

// biome-ignore lint/suspicious/noExplicitAny: the helper ships no types
const helper: TestHelper = require('node-red-node-test-helper') as any
helper.init(require.resolve('node-red'))
export { helper }

const REPO = join(__dirname, '..', '..', '..')
/** Our node set, loaded through the same entry file Node-RED uses. */
export const ttnNodes: unknown = require(join(REPO, 'nodes', 'ttn.js'))
/** The health node set (ttn-monitor, ttn-gateway), through its entry file. */
export const healthNodes: unknown = require(join(REPO, 'nodes', 'ttn-health.js'))
export const catchNode: unknown = require(join(REPO, 'node_modules', '@node-red', 'nodes', 'core', 'common', '25-catch.js'))
export const injectNode: unknown = require(join(REPO, 'node_modules', '@node-red', 'nodes', 'core', 'common', '20-inject.js'))
export const debugNode: unknown = require(join(REPO, 'node_modules', '@node-red', 'nodes', 'core', 'common', '21-debug.js'))
export const functionNode: unknown = require(join(REPO, 'node_modules', '@node-red', 'nodes', 'core', 'function', '10-function.js'))
export const commentNode: unknown = require(join(REPO, 'node_modules', '@node-red', 'nodes', 'core', 'common', '90-comment.js'))

/** Collect what a node passes to a spied method (status, error, warn, send), from now on. */
export function record(node: TestNode, method: 'status' | 'error' | 'warn' | 'send' | 'log'): unknown[][] {
  const calls: unknown[][] = []
  node.on(`call:${method}`, (call: SpyCall) => calls.push(call.args))
  return calls
}

/** Collect every message that reaches a helper node. */
export function collect(node: TestNode): Record<string, unknown>[] {
  const msgs: Record<string, unknown>[] = []
  node.on('input', (msg: Record<string, unknown>) => msgs.push(msg))
  return msgs
}

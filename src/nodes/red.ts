/**
 * The slice of Node-RED's runtime API these nodes use, typed here so the glue stays strict
 * without pulling in a types package for the whole runtime.
 */
export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey'
  shape?: 'ring' | 'dot'
  text?: string
}

export type NodeMessage = Record<string, unknown> & { _msgid?: string }

export interface NodeInstance {
  id: string
  type: string
  name?: string
  credentials?: Record<string, string | undefined>
  on(event: 'input', handler: (msg: NodeMessage, send: (msg: NodeMessage | NodeMessage[]) => void, done: (err?: Error) => void) => void): void
  on(event: 'close', handler: (removed: boolean, done: () => void) => void): void
  status(status: NodeStatus | Record<string, never>): void
  error(err: unknown, msg?: NodeMessage): void
  warn(msg: unknown): void
  log(msg: unknown): void
  send(msg: NodeMessage | NodeMessage[] | null): void
}

export interface NodeRedRuntime {
  nodes: {
    createNode(node: NodeInstance, config: object): void
    registerType(type: string, ctor: (this: NodeInstance, config: never) => void, options?: { credentials?: Record<string, { type: 'text' | 'password' }> }): void
    getNode(id: string): unknown
  }
  _: (key: string, substitutions?: Record<string, unknown>) => string
  util: { cloneMessage<T>(msg: T): T }
  /** Node-RED's settings; userDir holds the codec repository's download cache. */
  settings?: { userDir?: string }
}

/** The core tls-config node exposes this to fill TLS options. */
export interface TlsConfigNode {
  addTLSOptions(opts: Record<string, unknown>): Record<string, unknown>
}

/**
 * Builders for the core nodes our scripted flows use (the demo's inject buttons, the end-to-end test's
 * recorders), with every property the editor would write, so a deployed flow looks as if it were made
 * in the editor and opens there without "changed" markers.
 */
export type FlowNode = Record<string, unknown> & { id: string; type: string }

interface Placed {
  id: string
  z: string
  name: string
  x: number
  y: number
  wires: string[][]
}

/** An inject node whose `msg.payload` is a byte array given as JSON text (`'[1,2,3]'`). */
export function bytesInject(node: Placed & { payload: string; props: FlowNode['props'] }): FlowNode {
  const { id, z, name, x, y, wires, payload, props } = node
  return {
    id,
    type: 'inject',
    z,
    name,
    props,
    repeat: '',
    crontab: '',
    once: false,
    onceDelay: 0.1,
    topic: '',
    payload,
    payloadType: 'bin',
    x,
    y,
    wires,
  }
}

/** A function node running `func`, with one output. */
export function functionNode(node: Placed & { func: string }): FlowNode {
  const { id, z, name, x, y, wires, func } = node
  return {
    id,
    type: 'function',
    z,
    name,
    func,
    outputs: 1,
    timeout: 0,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    x,
    y,
    wires,
  }
}

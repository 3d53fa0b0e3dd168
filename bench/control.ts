/**
 * Shared state inside the Node-RED benchmark process: red-host (which talks to the orchestrator)
 * and the benchmark's nodes (loaded by Node-RED from the same dist/bench/ files) meet here.
 */
import { EventEmitter } from 'node:events'
import { Probe, type ProbeConfig, type ProbeResult } from './probe'

/** 'go' and 'stop' for the downlink driver. */
export const control = new EventEmitter()

/** What the isolated scenario needs of an MQTT.js client: its 'message' event. */
export interface MessageEmitter {
  emit(event: 'message', topic: string, payload: Buffer, packet: object): boolean
}

/** The MQTT.js clients of bench-ceiling nodes, by node ID (the isolated scenario injects into them). */
export const ceilingClients = new Map<string, MessageEmitter>()

/** Messages the downlink driver has sent since it started. */
export const driven = { count: 0 }

let probe: Probe | undefined

export function armProbe(config: ProbeConfig, onDone: (r: ProbeResult) => void, onOpen?: () => void): void {
  probe = new Probe(config, onDone, onOpen)
}

/** One message reached the end of the flow. */
export function arrive(message: unknown): void {
  probe?.arrive(message)
}

/**
 * What the ttn-health node set shares: its i18n namespace, and showing the application's connection
 * status (whose texts live in the "ttn" set's catalog) on a node of this set.
 */
import { join } from 'node:path'
import type { NodeRedRuntime, NodeStatus } from './red'

const PACKAGE_NAME: string = (require(join(__dirname, '..', '..', '..', 'package.json')) as { name: string }).name

/** The "ttn" node set's catalog, where the connection status texts are. */
const TTN_NAMESPACE = `${PACKAGE_NAME}/ttn`

/**
 * A status from the application node, made readable here: its bare catalog keys (`ttn.status.connected`)
 * are looked up in the "ttn" set's catalog, because the editor would look them up in this set's.
 */
export function appStatus(RED: NodeRedRuntime, s: NodeStatus | Record<string, never>): NodeStatus | Record<string, never> {
  const text = (s as NodeStatus).text
  if (typeof text === 'string' && /^ttn\.status\.[A-Za-z]+$/.test(text)) return { ...s, text: RED._(`${TTN_NAMESPACE}:${text}`) }
  return s
}

/** A number of seconds from a node property: a non-negative finite number, or undefined when it is not one. */
export function seconds(value: unknown, fallback: number): number | undefined {
  if (value === undefined || value === null || value === '') return fallback
  const n = Number(value)
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

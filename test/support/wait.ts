/** Small helpers for tests that wait on real network events, always bounded in time. */
import { once } from 'node:events'
import type { EventEmitter } from 'node:events'

export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(10)
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export async function onceWithin<T extends unknown[]>(emitter: EventEmitter, event: string, timeoutMs = 5000): Promise<T> {
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(), timeoutMs)
  try {
    return (await once(emitter, event, { signal: ac.signal })) as T
  } catch (err) {
    if (ac.signal.aborted) throw new Error(`Timed out after ${timeoutMs} ms waiting for "${event}"`)
    throw err
  } finally {
    clearTimeout(timer)
  }
}

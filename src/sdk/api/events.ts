/**
 * Watch an application's device registry for changes: The Things Stack publishes `end_device.update`
 * (and `end_device.delete`) on its events API when a device is changed, visible to keys with
 * "View devices in application" (shared/reference/tts-api.md §9: `POST /api/v3/events`, a stream of
 * `{"result": event}` objects, the first one `events.stream.start`). MQTT carries no such message.
 * The Identity Server publishes these events, so the stream goes to `base.identity` (eu1 on The Things
 * Network). The stream reconnects with back-off until stopped; a refused key (401/403) stops it for good.
 */
import { Backoff, type BackoffOptions } from '../backoff'
import { JsonObjectStream } from '../recovery/stream-parser'
import { ApiError, type HttpTarget, apiStream } from './http'

export const DEVICE_CHANGE_EVENTS = ['end_device.update', 'end_device.delete'] as const

export interface DeviceChange {
  deviceId: string
  /** end_device.update or end_device.delete. */
  event: string
}

export interface DeviceWatchOptions {
  target: HttpTarget
  appId: string
  onChange(change: DeviceChange): void
  /** The stream is open (again): changes made while it was down were missed. */
  onOpen?(): void
  /** A failure; `permanent` when the stream gives up (the key may not watch the application). */
  onError?(error: Error, permanent: boolean): void
  retry?: BackoffOptions
}

/** Start watching; returns the function that stops it. */
export function watchDeviceChanges(options: DeviceWatchOptions): () => void {
  const ac = new AbortController()
  const backoff = new Backoff({ minDelayMs: 2000, maxDelayMs: 120_000, ...options.retry })
  let timer: NodeJS.Timeout | undefined
  /** Retry later; a 429 waits at least as long as the server asked. */
  const again = (waitMs = 0) => {
    if (ac.signal.aborted) return
    timer = setTimeout(connect, Math.max(backoff.next(), waitMs))
  }
  const connect = () => {
    if (ac.signal.aborted) return
    apiStream(options.target, {
      method: 'POST',
      path: '/api/v3/events',
      body: { identifiers: [{ application_ids: { application_id: options.appId } }], names: [...DEVICE_CHANGE_EVENTS] },
      signal: ac.signal,
    }).then(
      (res) => {
        const parser = new JsonObjectStream()
        let opened = false
        res.setEncoding('utf8')
        res.on('data', (text: string) => {
          let objects: unknown[]
          try {
            objects = parser.push(text)
          } catch (err) {
            options.onError?.(err as Error, false)
            res.destroy()
            return
          }
          for (const obj of objects) {
            const event = (obj as { result?: { name?: unknown; identifiers?: unknown } }).result
            if (!event || typeof event.name !== 'string') continue
            if (event.name === 'events.stream.start') {
              if (!opened) {
                opened = true
                backoff.reset()
                options.onOpen?.()
              }
              continue
            }
            for (const deviceId of deviceIdsOf(event.identifiers, options.appId)) options.onChange({ deviceId, event: event.name })
          }
        })
        res.once('close', () => again())
        res.once('error', () => undefined)
      },
      (err: Error) => {
        if (ac.signal.aborted) return
        const permanent = err instanceof ApiError && (err.kind === 'unauthorized' || err.kind === 'forbidden' || err.kind === 'not-found')
        options.onError?.(err, permanent)
        if (!permanent) again(err instanceof ApiError ? (err.retryAfterMs ?? 0) : 0)
      },
    )
  }
  connect()
  return () => {
    clearTimeout(timer)
    ac.abort()
  }
}

function deviceIdsOf(identifiers: unknown, appId: string): string[] {
  if (!Array.isArray(identifiers)) return []
  const out: string[] = []
  for (const ids of identifiers) {
    const d = (ids as { device_ids?: { device_id?: unknown; application_ids?: { application_id?: unknown } } })?.device_ids
    if (typeof d?.device_id === 'string' && d.application_ids?.application_id === appId) out.push(d.device_id)
  }
  return out
}

/**
 * Recovering the uplinks an MQTT client missed while it was disconnected, from the Storage Integration.
 *
 * The Things Stack publishes at QoS 0 without sessions, so whatever it published while we were away is
 * gone from MQTT. This class keeps a checkpoint, the received_at up to which every uplink has been
 * delivered, and after each reconnect (and at start-up with a look-back) reads storage from there and
 * hands each missed uplink to the client, oldest first, once:
 * - live uplinks pass through admitLive(); those that recovery (or an earlier live copy) already
 *   delivered are dropped, and recovery drops what arrived live (UplinkMemory, bounded);
 * - while a gap is open, live uplinks do not move the checkpoint (there is a hole behind them); the
 *   recovered stream moves it as it goes, so a recovery cut short by another disconnect resumes where
 *   it stopped; a finished recovery closes the gap;
 * - reading starts settleMs after the connect, because storage writes in batches: an uplink received
 *   just before the reconnect may take seconds to become readable.
 */
import type { BackoffOptions } from '../backoff'
import { UplinkMemory, uplinkIdentity } from './dedup'
import { StorageClient, type StorageError, type StorageErrorKind } from './storage-client'
import { canonicalTime, humanDuration, msToTime, timeToMs } from './timestamp'

export interface RecoveryOptions {
  /** Turn recovery on (default off). */
  enabled: boolean
  /** Storage API root; default https://<MQTT host> (port 443). http:// only for local test servers. */
  baseUrl?: string
  /** At start-up, also recover this far back, ms (default 0: only gaps this client saw). */
  lookbackMs?: number
  /** `limit` per request (default 500). */
  pageSize?: number
  /** Abandon and retry a response that sends nothing for this long, ms (default 30000). */
  fetchTimeoutMs?: number
  /** Wait after (re)connecting before reading, so storage has written the last uplinks of the gap, ms (default 5000). */
  settleMs?: number
  /** How long the server keeps uplinks: default 24 h on The Things Network, 30 days on The Things Stack Cloud, else unknown. */
  retentionMs?: number
  /** Uplinks remembered per memory (live, recovered) to recognise duplicates (default 10000). */
  memory?: number
  /** Back-off between failed reads (default 1 s doubling to 60 s, with jitter). */
  retry?: BackoffOptions
  /** Continue from another client's recoveryCheckpoint (e.g. the previous instance, across a redeploy). */
  resumeFrom?: RecoveryCheckpoint
}

/** Where recovery stands: hand it to a new client as recover.resumeFrom to lose nothing in between. */
export interface RecoveryCheckpoint {
  /** Canonical received_at up to which every uplink was delivered (or, before any, since when we listened). */
  after: string
  /** Identity keys of the most recent uplinks, so the new client does not deliver them again. */
  recent: string[]
}

export type RecoveryEvent =
  | { phase: 'start'; after: string }
  | { phase: 'progress'; recovered: number }
  | { phase: 'done'; recovered: number; after: string; durationMs: number }
  /** Something the user should know; recovery goes on (retention exceeded, repeated failures, bad items). */
  | { phase: 'warning'; reason: 'retention' | 'retrying' | 'malformed'; message: string; lostMs?: number }
  /** Recovery is off for this connection; live traffic continues. Reported once per reason until a recovery succeeds. */
  | { phase: 'failed'; reason: StorageErrorKind; message: string }

export interface RecoveryHooks {
  /** Deliver one recovered uplink through the client's normal path. */
  deliver(message: Record<string, unknown>, deviceId: string): void
  /** True when someone listens to uplinks (otherwise there is nothing to recover for). */
  listening(): boolean
  /** Number of uplinks recovered so far while a recovery runs; undefined when it ends. */
  progress(recovered: number | undefined): void
  report(event: RecoveryEvent): void
}

/** Settings after defaults and checks, built by resolveRecovery(). */
export interface RecoverySettings {
  baseUrl: string
  appId: string
  apiKey: string
  lookbackMs: number
  settleMs: number
  retentionMs: number | undefined
  memory: number
  pageSize?: number
  fetchTimeoutMs?: number
  retry?: BackoffOptions
  resumeFrom?: RecoveryCheckpoint
}

const DAY = 24 * 3600 * 1000
/** Progress goes to the status at most this often, plus once at the end. */
const PROGRESS_INTERVAL_MS = 250
/** Failed reads in a row before the user is told (recovery keeps retrying). */
const WARN_AFTER_FAILURES = 3

/** Retention of the public deployments, from the docs; undefined for other hosts. */
export function defaultRetentionMs(host: string): number | undefined {
  const h = host.toLowerCase()
  if (h === 'thethings.network' || h.endsWith('.cloud.thethings.network')) return DAY
  if (h.endsWith('.cloud.thethings.industries')) return 30 * DAY
  return undefined
}

/** Check the options and apply defaults; throws an Error that says what to change. */
export function resolveRecovery(
  options: RecoveryOptions,
  context: { host: string; appId: string; apiKey: string; api: 'v3' | 'v2'; generic: boolean; sharedGroup?: string },
): RecoverySettings {
  if (context.api !== 'v3') {
    throw new Error('Recovering missed uplinks needs The Things Stack (api "v3"): the TTN v2 handler had no Storage Integration.')
  }
  if (context.sharedGroup) {
    throw new Error(
      'Recovering missed uplinks cannot be combined with a shared subscription group: every member would recover the whole gap, ' +
        'so each missed uplink would reach every member. Leave recover off, or sharedGroup unset.',
    )
  }
  if (context.generic && !options.baseUrl) {
    throw new Error(
      'With another broker (generic mode) the Storage Integration is not on the MQTT host: set recover.baseUrl (in Node-RED: ' +
        'the Storage API field) to The Things Stack address, e.g. https://eu1.cloud.thethings.network.',
    )
  }
  const host = context.host.includes(':') ? `[${context.host}]` : context.host
  const nonNegative = (v: number | undefined, fallback: number, name: string): number => {
    if (v === undefined) return fallback
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`recover.${name} must be a number of milliseconds, 0 or more; got ${v}.`)
    return v
  }
  const memory = options.memory ?? 10_000
  if (!Number.isInteger(memory) || memory < 1) throw new Error(`recover.memory must be a whole number of at least 1, got ${memory}.`)
  const resumeFrom = options.resumeFrom
  if (resumeFrom !== undefined && (canonicalTime(resumeFrom.after) === undefined || !Array.isArray(resumeFrom.recent))) {
    throw new Error('recover.resumeFrom must be a checkpoint from client.recoveryCheckpoint ({ after, recent }).')
  }
  return {
    baseUrl: options.baseUrl?.trim() || `https://${host}`,
    appId: context.appId,
    apiKey: context.apiKey,
    lookbackMs: nonNegative(options.lookbackMs, 0, 'lookbackMs'),
    settleMs: nonNegative(options.settleMs, 5000, 'settleMs'),
    retentionMs: options.retentionMs !== undefined ? nonNegative(options.retentionMs, 0, 'retentionMs') || undefined : defaultRetentionMs(context.host),
    memory,
    pageSize: options.pageSize,
    fetchTimeoutMs: options.fetchTimeoutMs,
    retry: options.retry,
    resumeFrom,
  }
}

export class Recovery {
  readonly storage: StorageClient
  private readonly memory: UplinkMemory
  private readonly settings: RecoverySettings
  private readonly hooks: RecoveryHooks
  private readonly now: () => number
  /** Every uplink received up to here was delivered (canonical received_at). */
  private checkpoint: string | undefined
  /** True from a disconnect (or a start-up look-back) until a recovery finishes. */
  private gapOpen = false
  /** Newest live uplink delivered while the gap was open: the checkpoint once the gap closes. */
  private liveMax: string | undefined
  private started = false
  private timer: NodeJS.Timeout | undefined
  private running: AbortController | undefined
  /** Failure reasons already reported; cleared by a successful recovery. */
  private readonly reported = new Set<string>()
  private disposed = false

  constructor(settings: RecoverySettings, hooks: RecoveryHooks, now: () => number = Date.now) {
    this.settings = settings
    this.hooks = hooks
    this.now = now
    this.storage = new StorageClient({
      baseUrl: settings.baseUrl,
      appId: settings.appId,
      apiKey: settings.apiKey,
      pageSize: settings.pageSize,
      fetchTimeoutMs: settings.fetchTimeoutMs,
      retry: settings.retry,
    })
    this.memory = new UplinkMemory(settings.memory)
    for (const key of settings.resumeFrom?.recent ?? []) if (typeof key === 'string') this.memory.recovered.add(key)
  }

  /** True while a recovery is waiting to read or reading. */
  get active(): boolean {
    return this.timer !== undefined || this.running !== undefined
  }

  /** The live path: false when this uplink was delivered already (drop it). O(1). */
  admitLive(message: Record<string, unknown>): boolean {
    const id = uplinkIdentity(message)
    // Without identity it cannot be a duplicate we could recognise: deliver it.
    if (!id) return true
    if (!this.memory.admit(id.keys, 'live')) return false
    if (this.gapOpen) {
      if (this.liveMax === undefined || id.receivedAt > this.liveMax) this.liveMax = id.receivedAt
    } else if (this.checkpoint === undefined || id.receivedAt > this.checkpoint) {
      this.checkpoint = id.receivedAt
    }
    return true
  }

  /** The MQTT session is up (subscriptions renewed): schedule a recovery when there is a gap. */
  connected(): void {
    if (this.disposed) return
    this.cancel()
    if (!this.started) {
      this.started = true
      const resume = this.settings.resumeFrom ? canonicalTime(this.settings.resumeFrom.after) : undefined
      const lookback = this.settings.lookbackMs > 0 ? msToTime(this.now() - this.settings.lookbackMs) : undefined
      const from = resume ?? lookback
      if (from === undefined) {
        // Only gaps this client sees: it has seen everything from now on.
        this.checkpoint ??= msToTime(this.now())
        return
      }
      this.checkpoint = from
      this.gapOpen = true
      this.liveMax = undefined
    }
    if (!this.gapOpen) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.recover()
    }, this.settings.settleMs)
  }

  /** The MQTT session is gone (or stopped): stop reading; the gap stays open and resumes from the checkpoint. */
  disconnected(): void {
    this.cancel()
    if (!this.started || this.disposed) return
    if (!this.gapOpen) {
      this.gapOpen = true
      this.liveMax = undefined
    }
  }

  /** The client is closed for good. */
  dispose(): void {
    this.disposed = true
    this.cancel()
  }

  /** Where recovery stands, for recover.resumeFrom of a later client. Undefined before the first connect. */
  checkpointState(): RecoveryCheckpoint | undefined {
    if (this.checkpoint === undefined) return undefined
    return { after: this.checkpoint, recent: this.memory.recent(100) }
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.running) {
      this.running.abort()
      this.running = undefined
      this.hooks.progress(undefined)
    }
  }

  private async recover(): Promise<void> {
    const after = this.checkpoint
    if (after === undefined || !this.gapOpen) return
    // Nobody listens to uplinks: keep the gap for a connect when someone does.
    if (!this.hooks.listening()) return
    const ac = new AbortController()
    this.running = ac
    const startedAt = this.now()
    let recovered = 0
    let lastProgress = 0
    this.hooks.report({ phase: 'start', after })
    this.hooks.progress(0)
    this.warnRetention(after, startedAt)
    let warnedRetry = false
    let warnedMalformed = false
    try {
      await this.storage.read({
        after,
        signal: ac.signal,
        onItem: ({ message, receivedAt }) => {
          if (ac.signal.aborted) return
          // The stream is ordered: everything up to this uplink has now been delivered, one way or the other.
          if (this.checkpoint === undefined || receivedAt > this.checkpoint) this.checkpoint = receivedAt
          const id = uplinkIdentity(message)
          const ids = message.end_device_ids as { application_ids?: { application_id?: unknown } } | undefined
          const app = ids?.application_ids?.application_id
          if (!id || !message.uplink_message || typeof message.uplink_message !== 'object' || (app !== undefined && app !== this.settings.appId)) {
            if (!warnedMalformed) {
              warnedMalformed = true
              this.hooks.report({ phase: 'warning', reason: 'malformed', message: 'Skipped a stored message that is not an uplink of this application.' })
            }
            return
          }
          if (!this.memory.admit(id.keys, 'recovered')) return
          recovered++
          this.hooks.deliver(message, id.deviceId)
          const t = this.now()
          if (t - lastProgress >= PROGRESS_INTERVAL_MS) {
            lastProgress = t
            this.hooks.progress(recovered)
            this.hooks.report({ phase: 'progress', recovered })
          }
        },
        onSkip: (reason) => {
          if (warnedMalformed) return
          warnedMalformed = true
          this.hooks.report({ phase: 'warning', reason: 'malformed', message: `Skipped ${reason}.` })
        },
        onRetry: (error: StorageError, delayMs: number, attempt: number) => {
          if (attempt < WARN_AFTER_FAILURES || warnedRetry) return
          warnedRetry = true
          this.hooks.report({
            phase: 'warning',
            reason: 'retrying',
            message: `Recovering missed uplinks failed ${attempt} times (${error.message}); still retrying, next in ${humanDuration(delayMs)}.`,
          })
        },
      })
    } catch (err) {
      if (ac.signal.aborted || this.running !== ac) return
      this.running = undefined
      this.hooks.progress(undefined)
      const e = err as StorageError
      // Permanent: recovery is off for this connection; the gap cannot be read, so give it up.
      this.closeGap()
      if (!this.reported.has(e.kind)) {
        this.reported.add(e.kind)
        this.hooks.report({
          phase: 'failed',
          reason: e.kind ?? 'protocol',
          message: `Missed uplinks were not recovered: ${e.message} Live uplinks are not affected; recovery is tried again after the next reconnect.`,
        })
      }
      return
    }
    if (this.running !== ac) return
    this.running = undefined
    this.closeGap()
    this.reported.clear()
    this.hooks.progress(undefined)
    this.hooks.report({ phase: 'done', recovered, after, durationMs: this.now() - startedAt })
  }

  private closeGap(): void {
    if (this.liveMax !== undefined && (this.checkpoint === undefined || this.liveMax > this.checkpoint)) this.checkpoint = this.liveMax
    this.liveMax = undefined
    this.gapOpen = false
  }

  private warnRetention(after: string, now: number): void {
    const retention = this.settings.retentionMs
    if (retention === undefined) return
    const oldest = now - retention
    const lostMs = oldest - timeToMs(after)
    if (lostMs <= 1000) return
    this.hooks.report({
      phase: 'warning',
      reason: 'retention',
      lostMs,
      message:
        `The gap began ${humanDuration(now - timeToMs(after))} ago but the Storage Integration keeps uplinks for ${humanDuration(retention)}: ` +
        `uplinks received from ${after} to ${msToTime(oldest)} (${humanDuration(lostMs)}) could not be recovered.`,
    })
  }
}

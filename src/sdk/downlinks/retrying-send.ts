/**
 * Downlinks that take more than one publish: retries (attempts, growing backoff, ttl) and schedule
 * 'next-uplink' (held until the device's next uplink). A layer over the client's plain send and its
 * downlink tracker: every attempt is an ordinary downlink with its own correlation ID, and all attempts
 * of one send also carry one shared ID (`groupId`), so the server's events of every attempt lead back to
 * the message that caused them. Attempts after the first are pushed (down/push), never replace the queue.
 *
 * Each step is reported (with attempt and attempts), then exactly one final step: ack, or sent for an
 * unconfirmed downlink; else failed (no attempt left, or an outcome that cannot pass by retrying) or
 * expired (ttl), with the last reason. State lives in memory: it survives a reconnect (attempts wait in
 * the client's offline queue), not a restart of the process.
 */
import { randomUUID } from 'node:crypto'
import type { SendOptions, SendResult } from '../client'
import { DownlinkError, type DownlinkOutcome, type WaitTarget } from '../downlink-tracker'
import { ValidationError } from '../errors'
import type { Api } from '../topics'
import { type DownlinkRequest, validateDownlink } from '../validate'
import { WatchedPromise } from '../watched-promise'
import { type HeldDownlink, HeldDownlinks, type ListenForUplinks } from './held-downlinks'
import { isRetryable, reasonOf, resolveRetry, type RetryPolicy, retryDelay } from './retry-policy'

/** The schedule that holds a downlink until the device's next uplink. */
export const NEXT_UPLINK = 'next-uplink'

/** What this layer needs from the client. */
export interface DownlinkHost {
  readonly api: Api
  /** Set when the client is a member of a shared subscription group (it sees only some uplinks). */
  readonly sharedGroup: string | undefined
  /** One plain downlink, tracked by the client (the options carry no retry and a plain schedule). */
  sendOnce(deviceId: string, payload: unknown, port: unknown, confirmed: unknown, schedule: unknown, options: SendOptions): Promise<SendResult>
  listenForUplinks: ListenForUplinks
  /** A listener (onStatus) threw: report it, as the client reports listener errors. */
  reportError(err: unknown): void
}

export function isNextUplink(schedule: unknown): boolean {
  // On every send: the length test keeps 'replace', 'last' and 'push' from allocating a trimmed copy.
  return typeof schedule === 'string' && schedule.length >= NEXT_UPLINK.length && schedule.trim().toLowerCase() === NEXT_UPLINK
}

/** True when `send` must go through this layer rather than straight to the broker. */
export function needsRetryingSend(schedule: unknown, options: SendOptions): boolean {
  return options.retry !== undefined || isNextUplink(schedule)
}

const GOOD_FINAL = (o: DownlinkOutcome) => o.status === 'ack' || (o.status === 'sent' && !o.confirmed)
const BAD: ReadonlySet<string> = new Set(['nack', 'timeout', 'failed', 'invalidated'])
const RANK: Record<string, number> = { queued: 1, sent: 2, ack: 3 }

export class RetryingSender {
  private readonly held: HeldDownlinks
  private readonly jobs = new Set<DownlinkJob>()

  constructor(private readonly host: DownlinkHost) {
    this.held = new HeldDownlinks(host.listenForUplinks)
  }

  /** Downlinks held for a next uplink: of one device, or all. */
  heldCount(deviceId?: string): number {
    return this.held.count(deviceId)
  }

  /** Send with retry and/or schedule 'next-uplink'. Rejects (never throws) on invalid input, before anything is published or held. */
  send(deviceId: string, payload: unknown, port: unknown, confirmed: unknown, schedule: unknown, options: SendOptions): Promise<SendResult> {
    try {
      const nextUplink = isNextUplink(schedule)
      const policy = resolveRetry(options.retry)
      if (this.host.api === 'v2' && (policy.attempts > 1 || policy.ttlMs !== undefined)) {
        throw new ValidationError('Retries need The Things Stack (v3): the TTN v2 API reports no downlink outcomes to retry on.', 'retry')
      }
      if (nextUplink && this.host.sharedGroup) {
        throw new ValidationError(
          `Schedule "next-uplink" does not work in the shared subscription group "${this.host.sharedGroup}": the group splits uplinks ` +
            'between its members, so this one may never see the device\'s next uplink. Use schedule "last" (push) instead, or a ' +
            'connection outside the group.',
          'schedule',
        )
      }
      const request = validateDownlink(
        {
          deviceId,
          payload,
          port,
          confirmed,
          schedule: nextUplink ? 'push' : schedule,
          priority: options.priority,
          payloadFormat: options.payloadFormat,
          classBC: options.classBC,
        },
        this.host.api,
      )
      if (options.signal?.aborted) throw new Error(`The downlink to ${request.deviceId} was aborted before it was sent.`)
      const job = new DownlinkJob(this.host, this.held, this.jobs, { schedule, nextUplink, policy, options, request })
      return job.start()
    } catch (err) {
      // Reported once: to the caller who handles the promise, else as an 'error' (never a crash).
      return new WatchedPromise<SendResult>((_, reject) => reject(err)).whenUnhandled((e) => this.host.reportError(e))
    }
  }

  /** Drop the held downlinks of one device (or all), reported as `cleared`. Returns how many. */
  clearHeld(deviceId?: string): number {
    return this.held.clear(deviceId)
  }

  /** The client is closing: stop every timer and hold; pending promises reject. */
  dispose(): void {
    for (const job of [...this.jobs]) job.abort('closed')
  }
}

interface JobInput {
  schedule: unknown
  nextUplink: boolean
  policy: RetryPolicy
  options: SendOptions
  request: DownlinkRequest
}

interface JobWaiter {
  target: WaitTarget
  resolve: (o: DownlinkOutcome) => void
  reject: (e: Error) => void
  timer?: NodeJS.Timeout
}

/** One send: its attempts, holds and timers, and the one final step. */
class DownlinkJob {
  private readonly groupId = `ttn-sdk:msg:${randomUUID()}`
  private readonly deviceId: string
  private readonly confirmed: boolean
  private readonly startedAt = Date.now()
  private attempt = 0
  private settled = false
  private final: DownlinkOutcome | undefined
  private best = 0
  private last: DownlinkOutcome | undefined
  private heldEntry: HeldDownlink | undefined
  private ttlTimer: NodeJS.Timeout | undefined
  private backoffTimer: NodeJS.Timeout | undefined
  private firstResult: SendResult | undefined
  private resolveFirst!: (r: SendResult) => void
  private rejectFirst!: (e: Error) => void
  private waiters: JobWaiter[] = []

  constructor(
    private readonly host: DownlinkHost,
    private readonly held: HeldDownlinks,
    private readonly jobs: Set<DownlinkJob>,
    private readonly input: JobInput,
  ) {
    this.deviceId = input.request.deviceId
    this.confirmed = input.request.confirmed
  }

  /** Resolves with the first attempt once it is published; rejects when the send ends before that. */
  start(): Promise<SendResult> {
    const first = new WatchedPromise<SendResult>((resolve, reject) => {
      this.resolveFirst = resolve
      this.rejectFirst = reject
    }).whenUnhandled((err) => this.host.reportError(err))
    this.jobs.add(this)
    this.input.options.signal?.addEventListener('abort', this.onAbort, { once: true })
    const ttl = this.input.policy.ttlMs
    if (ttl !== undefined) this.ttlTimer = setTimeout(() => this.guard(() => this.expire()), ttl)
    this.launch()
    return first
  }

  private readonly onAbort = () => this.guard(() => this.abort('aborted'))

  abort(why: 'closed' | 'aborted'): void {
    if (this.settled) return
    this.settle()
    const err = new Error(
      why === 'closed'
        ? `The client was closed before the downlink to ${this.deviceId} was final; no further attempts are made.`
        : `The downlink to ${this.deviceId} was aborted before it was final; no further attempts are made.`,
    )
    err.name = 'AbortError'
    if (!this.firstResult) this.rejectFirst(err)
    for (const w of this.waiters.splice(0)) this.rejectWaiter(w, err)
  }

  private launch(): void {
    this.attempt++
    if (!this.input.nextUplink) {
      this.push()
      return
    }
    const entry: HeldDownlink = {
      deviceId: this.deviceId,
      port: this.input.request.port,
      release: () => this.guard(() => this.release(entry)),
      drop: (status) => this.guard(() => this.dropped(entry, status)),
    }
    this.heldEntry = entry
    this.report(this.step({ status: 'held' }))
    this.held.hold(entry)
  }

  private release(entry: HeldDownlink): void {
    if (this.heldEntry !== entry || this.settled) return
    this.heldEntry = undefined
    this.push()
  }

  private dropped(entry: HeldDownlink, status: 'replaced' | 'cleared'): void {
    if (this.heldEntry !== entry || this.settled) return
    this.heldEntry = undefined
    this.finish(this.step({ status, reason: status === 'replaced' ? 'a newer downlink for the same device and FPort' : 'cleared' }))
  }

  private push(): void {
    const n = this.attempt
    const { request, options } = this.input
    // Only the first attempt may replace the queue: a retry must not wipe what was queued since.
    const schedule = n === 1 && !this.input.nextUplink ? this.input.schedule : 'push'
    const attemptOptions: SendOptions = {
      priority: options.priority,
      payloadFormat: options.payloadFormat,
      timeoutMs: options.timeoutMs,
      classBC: options.classBC,
      correlationIds: [this.groupId, ...(options.correlationIds ?? [])],
      onStatus: (o) => this.onAttempt(n, o),
      cancelled: () => this.settled,
    }
    // The payload as validated once (bytes or the decoded object): every attempt carries the same.
    const payload = request.payload.kind === 'bytes' ? request.payload.bytes : request.payload.decoded
    this.host.sendOnce(request.deviceId, payload, request.port, request.confirmed, schedule, attemptOptions).then(
      (result) => {
        if (this.firstResult) return
        this.firstResult = result
        this.resolveFirst({ ...result, wait: (target, timeoutMs) => this.wait(target ?? 'final', timeoutMs) })
      },
      (err: Error) =>
        this.guard(() => {
          if (this.settled) return
          if (!this.firstResult) {
            // As a plain send: the caller sees why it was not sent.
            this.settle()
            this.rejectFirst(err)
            for (const w of this.waiters.splice(0)) this.rejectWaiter(w, err)
            return
          }
          this.finish(this.step({ status: 'failed', reason: err.message }))
        }),
    )
  }

  private onAttempt(n: number, outcome: DownlinkOutcome): void {
    if (this.settled || n !== this.attempt) return
    const s = this.step(outcome)
    if (GOOD_FINAL(outcome)) {
      this.finish(s)
      return
    }
    if (!BAD.has(outcome.status)) {
      this.best = Math.max(this.best, RANK[outcome.status] ?? 0)
      this.report(s)
      this.resolveWaiters(s)
      return
    }
    this.last = outcome
    const { policy } = this.input
    const delay = retryDelay(policy, n + 1)
    const worthIt = n < policy.attempts && isRetryable(policy, outcome)
    if (worthIt && !this.fitsTtl(delay)) {
      // Attempts are left, but the next would start after the give-up time: that is the ttl's doing.
      this.finish({ ...s, status: 'expired', reason: reasonOf(outcome) })
      return
    }
    if (worthIt) {
      this.report({ ...s, retryInMs: delay })
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = undefined
        this.guard(() => {
          if (!this.settled) this.launch()
        })
      }, delay)
      return
    }
    // No retry configured: the attempt's own status is the final one, as with a plain send.
    const status = policy.attempts > 1 ? 'failed' : outcome.status
    this.finish({ ...s, status, reason: reasonOf(outcome) })
  }

  private fitsTtl(delay: number): boolean {
    const ttl = this.input.policy.ttlMs
    return ttl === undefined || Date.now() + delay < this.startedAt + ttl
  }

  private expire(): void {
    this.ttlTimer = undefined
    if (this.settled) return
    let reason = this.last ? reasonOf(this.last) : 'no outcome yet'
    if (this.heldEntry) {
      this.held.cancel(this.heldEntry)
      this.heldEntry = undefined
      reason = 'no uplink from the device in time'
    }
    this.finish({ ...this.step({ status: 'expired', reason }), error: this.last?.error })
  }

  /** Decorate an outcome with this send's attempt, attempts and group. */
  private step(o: Partial<DownlinkOutcome> & Pick<DownlinkOutcome, 'status'>): DownlinkOutcome {
    return {
      ...o,
      correlationId: o.correlationId || this.groupId,
      deviceId: this.deviceId,
      confirmed: this.confirmed,
      attempt: this.attempt,
      attempts: this.input.policy.attempts,
      groupId: this.groupId,
    }
  }

  private finish(o: DownlinkOutcome): void {
    if (this.settled) return
    this.settle()
    const final: DownlinkOutcome = { ...o, final: true }
    this.final = final
    this.report(final)
    const good = GOOD_FINAL(final)
    if (good) {
      this.resolveWaiters(final)
      return
    }
    const err = giveUpError(final)
    if (!this.firstResult) this.rejectFirst(err)
    for (const w of this.waiters.splice(0)) this.rejectWaiter(w, err)
  }

  private settle(): void {
    this.settled = true
    this.jobs.delete(this)
    this.input.options.signal?.removeEventListener('abort', this.onAbort)
    if (this.ttlTimer) clearTimeout(this.ttlTimer)
    if (this.backoffTimer) clearTimeout(this.backoffTimer)
    this.ttlTimer = this.backoffTimer = undefined
    if (this.heldEntry) this.held.cancel(this.heldEntry)
    this.heldEntry = undefined
  }

  private wait(target: WaitTarget, timeoutMs?: number): Promise<DownlinkOutcome> {
    return new Promise((resolve, reject) => {
      if (this.final) {
        if (GOOD_FINAL(this.final)) resolve(this.final)
        else reject(giveUpError(this.final))
        return
      }
      if (this.settled) {
        reject(new Error(`The downlink to ${this.deviceId} ended without an outcome (the client was closed).`))
        return
      }
      if (target !== 'final' && this.best >= RANK[target]) {
        resolve(this.step({ status: target }))
        return
      }
      const w: JobWaiter = { target, resolve, reject }
      if (timeoutMs !== undefined && timeoutMs > 0) {
        w.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w)
          reject(new DownlinkError(this.step({ status: 'timeout' })))
        }, timeoutMs)
        w.timer.unref?.()
      }
      this.waiters.push(w)
    })
  }

  private resolveWaiters(o: DownlinkOutcome): void {
    const rank = o.final ? 3 : (RANK[o.status] ?? 0)
    this.waiters = this.waiters.filter((w) => {
      const reached = w.target === 'final' ? o.final === true : rank >= RANK[w.target]
      if (!reached) return true
      if (w.timer) clearTimeout(w.timer)
      w.resolve(o)
      return false
    })
  }

  private rejectWaiter(w: JobWaiter, err: Error): void {
    if (w.timer) clearTimeout(w.timer)
    w.reject(err)
  }

  private report(o: DownlinkOutcome): void {
    try {
      this.input.options.onStatus?.(o)
    } catch (err) {
      this.host.reportError(err)
    }
  }

  /** Timer and hold callbacks run outside any caller: an exception there must not crash the process. */
  private guard(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.host.reportError(err)
    }
  }
}

/** The error a send that gave up rejects with: a DownlinkError that leads with the device and the reason. */
export function giveUpError(o: DownlinkOutcome): DownlinkError {
  const err = new DownlinkError(o)
  const tries = o.attempts && o.attempts > 1 ? ` after ${o.attempt} of ${o.attempts} attempts` : ''
  switch (o.status) {
    case 'expired':
      err.message = `Downlink to ${o.deviceId} expired${tries} (ttl reached; last: ${o.reason ?? 'none'}); ID ${o.groupId ?? o.correlationId}`
      break
    case 'replaced':
      err.message = `Downlink to ${o.deviceId} held for its next uplink was replaced by a newer one for the same FPort; ID ${o.groupId ?? o.correlationId}`
      break
    case 'cleared':
      err.message = `Downlink to ${o.deviceId} held for its next uplink was cleared; ID ${o.groupId ?? o.correlationId}`
      break
    case 'failed':
      if (o.attempts && o.attempts > 1) {
        err.message = `Downlink to ${o.deviceId} failed${tries}: ${o.reason ?? 'unknown'}${o.error?.message ? ` (${o.error.message})` : ''}; ID ${o.groupId ?? o.correlationId}`
      }
      break
  }
  return err
}

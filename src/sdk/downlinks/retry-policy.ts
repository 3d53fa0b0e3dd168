/**
 * When a downlink is tried again, and when not. The Things Stack leaves that step to the application
 * ("the application layer has the option to look at the error and decide if it wants to try again"):
 * a nack, a timeout, a dropped queue or a refusal that can pass later is worth another attempt; a
 * payload the network cannot carry is not, however often it is sent.
 */
import { ValidationError } from '../errors'
import type { DownlinkOutcome } from '../downlink-tracker'

/** The outcomes an attempt can end in that may be retried. `failed` covers only the reasons in RETRYABLE_FAILURES. */
export const RETRY_OUTCOMES = ['nack', 'timeout', 'failed', 'invalidated'] as const
export type RetryOutcome = (typeof RETRY_OUTCOMES)[number]

/**
 * `down/failed` reasons (the server's error names) that can succeed when tried later:
 * - `downlink_queue_capacity` (pkg/networkserver): the device's queue is full;
 * - `no_device_session` (pkg/applicationserver): the device has not joined (yet);
 * - `unknown_session` (pkg/networkserver, pkg/applicationserver): the session changed, e.g. a rejoin;
 * - `f_cnt_too_low` (pkg/networkserver): the queue moved on while this one was encoded;
 * - `schedule` (pkg/networkserver): no gateway could schedule it this time.
 * Everything else (application_downlink_too_long, no_f_port, no_payload, expired_downlink,
 * confirmed_multicast_downlink, no_path, device_not_found, encoder errors, ...) fails again the same way.
 */
export const RETRYABLE_FAILURES: ReadonlySet<string> = new Set([
  'downlink_queue_capacity',
  'no_device_session',
  'unknown_session',
  'f_cnt_too_low',
  'schedule',
])

/** `SendOptions.retry`: all optional. */
export interface RetryOptions {
  /** Attempts in all, including the first (default 1: no retry). */
  attempts?: number
  /** Wait before the second attempt, ms (default 5000); each further wait is `factor` times longer. */
  backoffMs?: number
  /** Growth of the wait per attempt (default 2). */
  factor?: number
  /** Longest wait between two attempts, ms (default 10 minutes). */
  maxBackoffMs?: number
  /** Give up after this long from the first attempt, whatever is left, ms (default: no limit). Reported as `expired`. */
  ttlMs?: number
  /** Which outcomes are retried (default all of RETRY_OUTCOMES). */
  on?: readonly RetryOutcome[]
}

export interface RetryPolicy {
  attempts: number
  backoffMs: number
  factor: number
  maxBackoffMs: number
  ttlMs: number | undefined
  on: ReadonlySet<RetryOutcome>
}

export const MAX_ATTEMPTS = 100
const DEFAULTS = { backoffMs: 5000, factor: 2, maxBackoffMs: 600_000 }

function number(value: unknown, name: string, min: number, integer: boolean, what: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined
  const n = typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new ValidationError(`retry.${name} is ${JSON.stringify(value)}: ${what}.`, 'retry')
  }
  return n
}

/** Validate retry options; throws a ValidationError that says what to change. */
export function resolveRetry(input: unknown): RetryPolicy {
  if (input === undefined || input === null) return { attempts: 1, ...DEFAULTS, ttlMs: undefined, on: new Set(RETRY_OUTCOMES) }
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ValidationError(`retry is ${JSON.stringify(input)}; give an object such as { attempts: 3, ttlMs: 600000 }.`, 'retry')
  }
  const r = input as Record<string, unknown>
  const attempts = number(r.attempts, 'attempts', 1, true, `a whole number of attempts from 1 (no retry) to ${MAX_ATTEMPTS}`) ?? 1
  if (attempts > MAX_ATTEMPTS) throw new ValidationError(`retry.attempts is ${attempts}; at most ${MAX_ATTEMPTS}.`, 'retry')
  const backoffMs = number(r.backoffMs, 'backoffMs', 0, false, 'milliseconds, 0 or more') ?? DEFAULTS.backoffMs
  const factor = number(r.factor, 'factor', 1, false, 'a growth factor of 1 (always the same wait) or more') ?? DEFAULTS.factor
  const maxBackoffMs = number(r.maxBackoffMs, 'maxBackoffMs', 0, false, 'milliseconds, 0 or more') ?? DEFAULTS.maxBackoffMs
  const ttlMs = number(r.ttlMs, 'ttlMs', 1, false, 'milliseconds, more than 0 (leave it out for no limit)')
  let on: ReadonlySet<RetryOutcome> = new Set(RETRY_OUTCOMES)
  if (r.on !== undefined) {
    const list = typeof r.on === 'string' ? r.on.split(',').map((s) => s.trim()).filter(Boolean) : r.on
    if (!Array.isArray(list) || list.some((o) => !(RETRY_OUTCOMES as readonly unknown[]).includes(o))) {
      throw new ValidationError(`retry.on is ${JSON.stringify(r.on)}: list some of ${RETRY_OUTCOMES.join(', ')}.`, 'retry')
    }
    on = new Set(list as RetryOutcome[])
  }
  return { attempts, backoffMs, factor, maxBackoffMs, ttlMs, on }
}

/** Whether an attempt that ended in `outcome` is worth another one under `policy` (attempts left aside). */
export function isRetryable(policy: RetryPolicy, outcome: DownlinkOutcome): boolean {
  switch (outcome.status) {
    case 'nack':
    case 'timeout':
    case 'invalidated':
      return policy.on.has(outcome.status)
    case 'failed':
      return policy.on.has('failed') && RETRYABLE_FAILURES.has(outcome.error?.name ?? '')
    default:
      return false
  }
}

/** Wait before attempt `next` (2 = the first retry), ms: growing by `factor`, capped. */
export function retryDelay(policy: RetryPolicy, next: number): number {
  return Math.min(policy.maxBackoffMs, policy.backoffMs * policy.factor ** Math.max(0, next - 2))
}

/** The reason an attempt failed, in a word: the server's error name, or the status (nack, timeout, ...). */
export function reasonOf(outcome: DownlinkOutcome): string {
  return outcome.status === 'failed' ? (outcome.error?.name ?? 'failed') : outcome.status
}

import assert from 'node:assert/strict'
import { RETRYABLE_FAILURES, resolveRetry } from '../../../src'
import type { DownlinkOutcome } from '../../../src/sdk/downlink-tracker'
import { isRetryable, reasonOf, retryDelay } from '../../../src/sdk/downlinks/retry-policy'

const outcome = (status: DownlinkOutcome['status'], name?: string): DownlinkOutcome => ({
  status,
  correlationId: 'c',
  deviceId: 'dev1',
  confirmed: true,
  ...(name ? { error: { name } } : {}),
})

describe('SDK downlinks: retry policy', () => {
  it('defaults to one attempt (no retry) on every retryable outcome', () => {
    const p = resolveRetry(undefined)
    assert.equal(p.attempts, 1)
    assert.equal(p.ttlMs, undefined)
    assert.deepEqual([...p.on], ['nack', 'timeout', 'failed', 'invalidated'])
  })

  it('retries nack, timeout, invalidated and only the failures that can pass later', () => {
    const p = resolveRetry({ attempts: 3 })
    for (const s of ['nack', 'timeout', 'invalidated'] as const) assert.equal(isRetryable(p, outcome(s)), true, s)
    for (const name of RETRYABLE_FAILURES) assert.equal(isRetryable(p, outcome('failed', name)), true, name)
    for (const name of ['application_downlink_too_long', 'no_f_port', 'no_payload', 'expired_downlink', 'confirmed_multicast_downlink', 'device_not_found', undefined]) {
      assert.equal(isRetryable(p, outcome('failed', name)), false, String(name))
    }
    assert.equal(isRetryable(p, outcome('ack')), false)
    assert.equal(isRetryable(resolveRetry({ attempts: 3, on: 'timeout' }), outcome('nack')), false)
  })

  it('waits longer before each attempt, up to the cap', () => {
    const p = resolveRetry({ attempts: 6, backoffMs: 1000, factor: 3, maxBackoffMs: 20_000 })
    assert.deepEqual([2, 3, 4, 5, 6].map((n) => retryDelay(p, n)), [1000, 3000, 9000, 20_000, 20_000])
  })

  it('names the reason in a word', () => {
    assert.equal(reasonOf(outcome('failed', 'downlink_queue_capacity')), 'downlink_queue_capacity')
    assert.equal(reasonOf(outcome('nack')), 'nack')
  })

  it('accepts numbers as the editor stores them (strings)', () => {
    const p = resolveRetry({ attempts: '3', backoffMs: '2000', ttlMs: '60000' })
    assert.deepEqual([p.attempts, p.backoffMs, p.ttlMs], [3, 2000, 60000])
  })
})

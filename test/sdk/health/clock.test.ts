import assert from 'node:assert/strict'
import { coarseNow, holdCoarseClock, RESOLUTION_MS } from '../../../src/sdk/health/clock'
import { delay } from '../../support/wait'

describe('health tracker clock', () => {
  it('is Date.now() while nobody holds it, and a value that keeps up while held', async () => {
    const before = Date.now()
    const t = coarseNow()
    assert.ok(t >= before && t <= Date.now())
    const release = holdCoarseClock()
    const again = holdCoarseClock()
    try {
      const start = coarseNow()
      await delay(RESOLUTION_MS * 10)
      const later = coarseNow()
      assert.ok(later > start, 'it moved on')
      assert.ok(later <= Date.now())
      release()
      release() // twice is once
      await delay(RESOLUTION_MS * 5)
      assert.ok(coarseNow() > later, 'still held by the second holder')
    } finally {
      again()
    }
    const free = coarseNow()
    assert.ok(Math.abs(free - Date.now()) <= 1)
  })
})

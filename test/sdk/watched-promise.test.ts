import assert from 'node:assert/strict'
import { WatchedPromise } from '../../src/sdk/watched-promise'
import { delay } from '../support/wait'

describe('WatchedPromise: a failure reported once', () => {
  const failing = () => new WatchedPromise<number>((_, reject) => reject(new Error('no')))

  it('reports a rejection nobody handles, once, and never as an unhandled rejection', async () => {
    const reported: Error[] = []
    const unhandled: unknown[] = []
    const onUnhandled = (r: unknown) => unhandled.push(r)
    process.on('unhandledRejection', onUnhandled)
    try {
      failing().whenUnhandled((e) => reported.push(e))
      await delay(20)
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
    assert.deepEqual(
      reported.map((e) => e.message),
      ['no'],
    )
    assert.deepEqual(unhandled, [])
  })

  for (const [how, handle] of [
    ['then(_, onRejected)', async (p: Promise<number>) => p.then(undefined, () => 0)],
    ['catch', async (p: Promise<number>) => p.catch(() => 0)],
    [
      'try/await',
      async (p: Promise<number>) => {
        try {
          return await p
        } catch {
          return 0
        }
      },
    ],
  ] as const) {
    it(`does not report what the caller handles (${how})`, async () => {
      const reported: Error[] = []
      await handle(failing().whenUnhandled((e) => reported.push(e)))
      await delay(20)
      assert.deepEqual(reported, [])
    })
  }

  it('resolves like any promise, and derived promises are plain ones', async () => {
    const p = new WatchedPromise<number>((resolve) => resolve(7)).whenUnhandled(() =>
      assert.fail('not a failure'),
    )
    const derived = p.then((v) => v + 1)
    assert.equal(derived instanceof WatchedPromise, false)
    assert.equal(await derived, 8)
  })
})

import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { StorageClient, StorageError, type StoredUplink, canonicalTime } from '../../src/sdk/recovery'
import { StorageStandIn, type StorageStandInOptions, buildUplink } from '../../src/simulator'

const KEY = 'NNSXS.TESTSTORAGE.KEY'
const OTHER_KEY = 'NNSXS.TESTOTHER.KEY'

/** A stored uplink of `device` with frame counter fCnt, received at `receivedAt`. */
function uplinkAt(device: string, fCnt: number, receivedAt: string, fPort = 1): Record<string, unknown> {
  const m = buildUplink({ applicationId: 'app1', deviceId: device, fCnt, tenant: 'ttn' }, { f_port: fPort })
  m.received_at = receivedAt
  return m
}

/** n uplinks one second apart, ending a minute ago, oldest first. */
function series(n: number, device = 'dev1'): Record<string, unknown>[] {
  const start = Date.now() - 60_000 - n * 1000
  return Array.from({ length: n }, (_, i) => uplinkAt(device, i + 1, new Date(start + i * 1000).toISOString().replace('Z', '123456Z')))
}

function fcnts(items: { message: Record<string, unknown> }[] | Record<string, unknown>[]): number[] {
  return items.map((i) => {
    const m = ('message' in i ? i.message : i) as { uplink_message: { f_cnt: number } }
    return m.uplink_message.f_cnt
  })
}

describe('Storage Integration: stand-in and client', () => {
  let storage: StorageStandIn
  const started: StorageStandIn[] = []

  async function standIn(opts: Partial<StorageStandInOptions> = {}): Promise<StorageStandIn> {
    const s = await StorageStandIn.start({ applications: [{ appId: 'app1', apiKey: KEY }, { appId: 'off', apiKey: KEY, enabled: false }], ...opts })
    started.push(s)
    return s
  }

  function client(base: string, extra: Partial<ConstructorParameters<typeof StorageClient>[0]> = {}): StorageClient {
    return new StorageClient({ baseUrl: base, appId: 'app1', apiKey: KEY, retry: { minDelayMs: 20, maxDelayMs: 100 }, ...extra })
  }

  /** Read everything after `after`; returns items and retry notes. */
  async function readAll(c: StorageClient, after: string, timeoutMs = 5000) {
    const items: StoredUplink[] = []
    const retries: { kind: string; delayMs: number }[] = []
    const summary = await c.read({
      after,
      signal: AbortSignal.timeout(timeoutMs),
      onItem: (i) => items.push(i),
      onRetry: (e, delayMs) => retries.push({ kind: e.kind, delayMs }),
    })
    return { items, retries, summary }
  }

  /** Unique by f_cnt, in first-seen order (what the recovery's duplicate memory makes of it). */
  function unique(items: StoredUplink[]): StoredUplink[] {
    const seen = new Set<number>()
    return items.filter((i) => {
      const f = (i.message.uplink_message as { f_cnt: number }).f_cnt
      if (seen.has(f)) return false
      seen.add(f)
      return true
    })
  }

  const EPOCH = '2000-01-01T00:00:00.000000000Z'

  beforeEach(async () => {
    storage = await standIn()
  })
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()))
  })

  describe('the stand-in follows the documented API', () => {
    it('frames results with a blank line for exactly Accept: text/event-stream, with a newline otherwise', async () => {
      const msgs = series(3)
      for (const m of msgs) storage.store('app1', m)
      const url = `${storage.url}/api/v3/as/applications/app1/packages/storage/uplink_message?order=received_at`
      const expected = msgs.map((m) => JSON.stringify({ result: m }))
      const sse = await fetch(url, { headers: { Authorization: `Bearer ${KEY}`, Accept: 'text/event-stream' } })
      assert.equal(sse.status, 200)
      assert.equal(sse.headers.get('content-type'), 'text/event-stream')
      assert.equal(await sse.text(), `${expected.join('\n\n')}\n\n`)
      for (const accept of ['application/json', 'text/event-stream, */*']) {
        const nl = await fetch(url, { headers: { Authorization: `Bearer ${KEY}`, Accept: accept } })
        assert.equal(await nl.text(), `${expected.join('\n')}\n`, accept)
      }
      // No messages: 200 with an empty body.
      const empty = await fetch(`${url}&after=2999-01-01T00:00:00Z`, { headers: { Authorization: `Bearer ${KEY}` } })
      assert.equal(empty.status, 200)
      assert.equal(await empty.text(), '')
    })

    it('answers 401 without a key, 403 with another key, 404 when the integration is off, with a JSON error body', async () => {
      const path = '/api/v3/as/applications/%s/packages/storage/uplink_message'
      const get = async (app: string, key?: string) => {
        const res = await fetch(storage.url + path.replace('%s', app), { headers: key ? { Authorization: `Bearer ${key}` } : {} })
        return { status: res.status, body: (await res.json()) as { code: number; message: string } }
      }
      const none = await get('app1')
      assert.equal(none.status, 401)
      assert.equal(none.body.code, 16)
      const wrong = await get('app1', OTHER_KEY)
      assert.equal(wrong.status, 403)
      assert.equal(wrong.body.code, 7)
      const off = await get('off', KEY)
      assert.equal(off.status, 404)
      assert.match(off.body.message, /not enabled/)
    })

    it('filters by after (exclusive), before, limit, f_port and device, orders newest first unless told, counts', async () => {
      const msgs = series(6)
      msgs[4] = uplinkAt('dev2', 5, msgs[4].received_at as string, 2)
      for (const m of msgs) storage.store('app1', m)
      const base = `${storage.url}/api/v3/as/applications/app1`
      const get = async (path: string) => {
        const res = await fetch(base + path, { headers: { Authorization: `Bearer ${KEY}` } })
        const text = await res.text()
        return text.trim() ? text.trim().split('\n').map((l) => (JSON.parse(l) as { result: { uplink_message: { f_cnt: number } } }).result.uplink_message.f_cnt) : []
      }
      assert.deepEqual(await get('/packages/storage/uplink_message'), [6, 5, 4, 3, 2, 1], 'default order: newest first')
      assert.deepEqual(await get('/packages/storage/uplink_message?order=received_at'), [1, 2, 3, 4, 5, 6])
      const t2 = encodeURIComponent(msgs[1].received_at as string)
      assert.deepEqual(await get(`/packages/storage/uplink_message?order=received_at&after=${t2}`), [3, 4, 5, 6])
      assert.deepEqual(await get(`/packages/storage/uplink_message?order=received_at&before=${t2}`), [1])
      assert.deepEqual(await get('/packages/storage/uplink_message?order=received_at&limit=2'), [1, 2])
      assert.deepEqual(await get('/packages/storage/uplink_message?order=received_at&f_port=2'), [5])
      assert.deepEqual(await get('/devices/dev2/packages/storage/uplink_message'), [5])
      assert.deepEqual(await get('/packages/storage/join_accept'), [])
      const count = await fetch(`${base}/packages/storage/uplink_message/count`, { headers: { Authorization: `Bearer ${KEY}` } })
      assert.deepEqual(await count.json(), { count: { dev1: 5, dev2: 1 } })
      const bad = await fetch(`${base}/packages/storage/uplink_message?after=yesterday`, { headers: { Authorization: `Bearer ${KEY}` } })
      assert.equal(bad.status, 400)
    })

    it('forgets uplinks older than its retention', async () => {
      const s = await standIn({ retentionMs: 30_000 })
      const old = uplinkAt('dev1', 1, new Date(Date.now() - 60_000).toISOString())
      const fresh = uplinkAt('dev1', 2, new Date(Date.now() - 1_000).toISOString())
      s.store('app1', old)
      s.store('app1', fresh)
      assert.deepEqual(fcnts(s.stored('app1')), [2])
    })
  })

  describe('StorageClient', () => {
    it('reads every stored uplink after a time, oldest first, sending the documented request', async () => {
      const msgs = series(5)
      for (const m of msgs) storage.store('app1', m)
      const c = client(`${storage.url}/api/v3/`)
      const { items, summary } = await readAll(c, canonicalTime(msgs[0].received_at)!)
      // Without a continuation token the end is a page that brings nothing newer: here the second
      // request, which repeats only the newest uplink (the recovery's duplicate memory drops it).
      assert.deepEqual(fcnts(items), [2, 3, 4, 5, 5])
      assert.deepEqual(storage.requests.map((r) => r.results), [4, 1])
      assert.equal(summary.last, canonicalTime(msgs[4].received_at))
      const first = storage.requests[0]
      assert.equal(first.path, '/api/v3/as/applications/app1/packages/storage/uplink_message')
      assert.equal(first.query.order, 'received_at')
      assert.equal(first.query.after, canonicalTime(msgs[0].received_at))
      assert.equal(first.accept, 'text/event-stream')
    })

    it('follows X-Continuation-Token pages when the server sends the header', async () => {
      const s = await standIn({ pageCap: 4, continuationTokens: true })
      for (const m of series(10)) s.store('app1', m)
      const { items } = await readAll(client(s.url), EPOCH)
      assert.deepEqual(fcnts(items), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      assert.equal(s.requests.length, 3, 'three pages of at most 4; the last without a token ends the read')
      assert.ok(s.requests[0].continuationToken)
      assert.equal(s.requests[1].query.continuation_token, s.requests[0].continuationToken)
      assert.equal(s.requests[1].query.after, undefined, 'only the token')
      assert.equal(s.requests[2].continuationToken, undefined)
    })

    it('pages by narrowing after when the header is absent, even when the server silently caps below limit', async () => {
      for (const afterMode of ['exclusive', 'inclusive'] as const) {
        const s = await standIn({ pageCap: 4, continuationTokens: false, afterMode })
        for (const m of series(10)) s.store('app1', m)
        const { items } = await readAll(client(s.url, { pageSize: 100 }), EPOCH)
        assert.deepEqual(fcnts(unique(items)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], afterMode)
        // Repeats happen only at page boundaries (the recovery drops them).
        assert.ok(items.length <= 10 + s.requests.length, afterMode)
        assert.ok(s.requests.every((r) => r.query.order === 'received_at' && r.query.after !== undefined && r.query.limit === '100'))
        assert.ok(s.requests.length <= 5, `${afterMode}: ${s.requests.length} requests`)
      }
    })

    it('loses none of several uplinks that share one received_at across a page boundary', async () => {
      const s = await standIn({ pageCap: 4, continuationTokens: false })
      const msgs = series(6)
      const tie = msgs[2].received_at
      for (const i of [2, 3, 4]) msgs[i] = uplinkAt(`dev${i}`, i + 1, tie as string)
      for (const m of msgs) s.store('app1', m)
      const { items } = await readAll(client(s.url, { pageSize: 4 }), EPOCH)
      assert.deepEqual(fcnts(unique(items)), [1, 2, 3, 4, 5, 6])
    })

    it('parses responses cut into 7-byte network writes', async () => {
      const s = await standIn({ fragmentBytes: 7 })
      for (const m of series(12)) s.store('app1', m)
      const { items } = await readAll(client(s.url), EPOCH)
      assert.deepEqual(fcnts(unique(items)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    })

    it('after an in-band error mid-stream, retries from the last uplink received', async () => {
      const msgs = series(8)
      for (const m of msgs) storage.store('app1', m)
      storage.injectFault({ type: 'in-band-error', afterResults: 3 })
      const { items, retries } = await readAll(client(storage.url), EPOCH)
      assert.deepEqual(fcnts(unique(items)), [1, 2, 3, 4, 5, 6, 7, 8])
      assert.deepEqual(retries.map((r) => r.kind), ['server'])
      assert.equal(storage.requests[0].results, 3)
      assert.ok(storage.requests[1].query.after! < canonicalTime(msgs[2].received_at)!, 'resumed just before the third uplink')
      assert.ok(storage.requests[1].query.after! > canonicalTime(msgs[1].received_at)!)
    })

    it('stops at an in-band permission error: retrying cannot help', async () => {
      for (const m of series(4)) storage.store('app1', m)
      storage.injectFault({ type: 'in-band-error', afterResults: 1, code: 7, message: 'no rights' })
      const got: StoredUplink[] = []
      await assert.rejects(
        client(storage.url).read({ after: EPOCH, signal: AbortSignal.timeout(5000), onItem: (i) => got.push(i) }),
        (e: unknown) => e instanceof StorageError && e.kind === 'forbidden' && e.permanent && /RIGHT_APPLICATION_TRAFFIC_READ/.test(e.message),
      )
      assert.equal(got.length, 1)
    })

    it('gives a clear, permanent error for 401, 403 and 404', async () => {
      const cases: [StorageClient, string, RegExp][] = [
        [new StorageClient({ baseUrl: storage.url, appId: 'app1', apiKey: OTHER_KEY }), 'forbidden', /Read application traffic/],
        [new StorageClient({ baseUrl: storage.url, appId: 'off', apiKey: KEY }), 'not-found', /enable it for the application in the Console/],
      ]
      for (const [c, kind, text] of cases) {
        await assert.rejects(c.read({ after: EPOCH, signal: AbortSignal.timeout(5000), onItem: () => undefined }), (e: unknown) => {
          assert.ok(e instanceof StorageError)
          assert.equal(e.kind, kind)
          assert.equal(e.permanent, true)
          assert.match(e.message, text)
          return true
        })
      }
      storage.injectFault({ type: 'status', status: 401, code: 16, message: 'token expired' })
      await assert.rejects(readAll(client(storage.url), EPOCH), (e: unknown) => e instanceof StorageError && e.kind === 'unauthorized' && /token expired/.test(e.message))
      assert.equal(storage.requests.length, 3, 'one request each, no retries')
    })

    it('on 429 waits as long as Retry-After says, or X-Rate-Limit-Retry without it', async () => {
      for (const m of series(3)) storage.store('app1', m)
      storage.injectFault({ type: 'rate-limit', retryAfterSeconds: 1 })
      const a = await readAll(client(storage.url), EPOCH)
      assert.deepEqual(fcnts(unique(a.items)), [1, 2, 3])
      assert.deepEqual(a.retries, [{ kind: 'rate-limited', delayMs: 1000 }])
      const gap = storage.requests[1].at - storage.requests[0].at
      assert.ok(gap >= 990, `second request ${gap} ms after the 429`)

      storage.requests.length = 0
      storage.injectFault({ type: 'rate-limit', rateLimitRetrySeconds: 0.3 })
      const b = await readAll(client(storage.url), EPOCH)
      assert.deepEqual(b.retries, [{ kind: 'rate-limited', delayMs: 300 }])
      assert.ok(storage.requests[1].at - storage.requests[0].at >= 290)
    })

    it('retries a dropped connection and a stalled response, from where they stopped', async () => {
      for (const m of series(6)) storage.store('app1', m)
      storage.injectFault({ type: 'drop', afterResults: 2 })
      storage.injectFault({ type: 'stall', afterResults: 1 })
      const { items, retries } = await readAll(client(storage.url, { fetchTimeoutMs: 300 }), EPOCH)
      assert.deepEqual(fcnts(unique(items)), [1, 2, 3, 4, 5, 6])
      assert.deepEqual(retries.map((r) => r.kind), ['network', 'network'])
    })

    it('keeps retrying an unreachable server with growing back-off until aborted', async () => {
      // A port that refuses connections: listen, note the port, close.
      const srv = createServer()
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
      const port = (srv.address() as { port: number }).port
      await new Promise<void>((r) => srv.close(() => r()))
      const c = new StorageClient({ baseUrl: `http://127.0.0.1:${port}`, appId: 'app1', apiKey: KEY, retry: { minDelayMs: 20, maxDelayMs: 160, jitter: 0 } })
      const delays: number[] = []
      const ac = new AbortController()
      const t0 = Date.now()
      const p = c.read({
        after: EPOCH,
        signal: ac.signal,
        onItem: () => undefined,
        onRetry: (e, d) => {
          assert.equal(e.kind, 'network')
          assert.match(e.message, /cannot be reached \(ECONNREFUSED\)/)
          delays.push(d)
          if (delays.length === 5) ac.abort()
        },
      })
      await assert.rejects(p, (e: unknown) => (e as Error).name === 'AbortError')
      assert.deepEqual(delays, [20, 40, 80, 160, 160])
      assert.ok(Date.now() - t0 < 3000)
    })

    it('refuses base URLs that are not http(s)', () => {
      assert.throws(() => client('ftp://example.com'), /must start with https:\/\//)
      assert.throws(() => client('not a url'), /is not a URL/)
      assert.equal(client('https://eu1.cloud.thethings.network/api/v3/').endpoint, 'https://eu1.cloud.thethings.network/api/v3/as/applications/app1/packages/storage/uplink_message')
    })
  })
})

import assert from 'node:assert/strict'
import {
  JsonObjectStream,
  RecentKeys,
  StreamFormatError,
  UplinkMemory,
  canonicalTime,
  humanDuration,
  oneNanosecondBefore,
  resolveRecovery,
  streamItem,
  uplinkIdentity,
} from '../../src/sdk/recovery'
import { fixture } from '../fixtures'

const UP = fixture('tts-v3/up.json') as Record<string, unknown>

function uplink(device: string, fCnt: number, receivedAt: string, asUp?: string): Record<string, unknown> {
  return {
    end_device_ids: { device_id: device, application_ids: { application_id: 'app1' } },
    correlation_ids: asUp ? [`as:up:${asUp}`, 'gs:uplink:01HX'] : [],
    received_at: receivedAt,
    uplink_message: { f_cnt: fCnt, frm_payload: 'AQ==' },
  }
}

/** Feed text to a parser in pieces cut at the given offsets; returns every object. */
function parseInPieces(text: string, cuts: number[]): unknown[] {
  const p = new JsonObjectStream()
  const out: unknown[] = []
  let from = 0
  for (const c of [...cuts, text.length]) {
    out.push(...p.push(text.slice(from, c)))
    from = c
  }
  p.end()
  return out
}

describe('recovery units', () => {
  describe('stream parser', () => {
    const objects = [{ result: UP }, { result: { ...UP, received_at: '2020-02-12T15:15:47Z' } }, { result: { note: 'brace } in "string" \\ and \u00e9\u20ac' } }]

    it('reads objects separated by a newline (any Accept) and by a blank line (text/event-stream)', () => {
      for (const sep of ['\n', '\n\n']) {
        const text = objects.map((o) => JSON.stringify(o)).join(sep) + sep
        assert.deepEqual(parseInPieces(text, []), objects, JSON.stringify(sep))
      }
    })

    it('reassembles objects split across chunks at every possible position', () => {
      const text = objects.map((o) => JSON.stringify(o)).join('\n\n')
      for (let cut = 1; cut < text.length; cut++) {
        assert.deepEqual(parseInPieces(text, [cut]), objects, `cut at ${cut}`)
      }
      // And one character per chunk.
      const every = Array.from({ length: text.length - 1 }, (_, i) => i + 1)
      assert.deepEqual(parseInPieces(text, every), objects)
    })

    it('hands out each object as soon as it is complete, before the body ends', () => {
      const p = new JsonObjectStream()
      assert.deepEqual(p.push('{"result":{"a":1}}\n{"res'), [{ result: { a: 1 } }])
      assert.deepEqual(p.push('ult":{"b":[1,{"c":"}"}]}}\n'), [{ result: { b: [1, { c: '}' }] } }])
      p.end()
    })

    it('decodes UTF-8 characters split across network chunks (with a streaming TextDecoder)', () => {
      const bytes = Buffer.from(`${JSON.stringify({ result: { s: 'é€😀' } })}\n`)
      const decoder = new TextDecoder('utf-8')
      const p = new JsonObjectStream()
      const out: unknown[] = []
      for (let i = 0; i < bytes.length; i++) out.push(...p.push(decoder.decode(bytes.subarray(i, i + 1), { stream: true })))
      out.push(...p.push(decoder.decode()))
      assert.deepEqual(out, [{ result: { s: 'é€😀' } }])
    })

    it('recognises an in-band error that arrives after results', () => {
      const text = `${JSON.stringify({ result: UP })}\n\n${JSON.stringify({ error: { code: 14, message: 'database unavailable', details: [] } })}\n\n`
      const items = parseInPieces(text, [10]).map(streamItem)
      assert.ok('result' in items[0])
      assert.deepEqual(items[1], { error: { code: 14, message: 'database unavailable', details: [] } })
    })

    it('rejects text between objects, a truncated body and objects of the wrong shape, saying what it got', () => {
      assert.throws(() => new JsonObjectStream().push('data: {"result":{}}'), (e: unknown) => e instanceof StreamFormatError && /unexpected "data: /.test(e.message))
      const p = new JsonObjectStream()
      p.push('{"result":{"a":')
      assert.throws(() => p.end(), /ended in the middle of a message/)
      assert.throws(() => new JsonObjectStream().push('{"result":{"a":1,}}'), /invalid JSON object/)
      assert.throws(() => streamItem({ something: 1 }), /expected \{"result"/)
      assert.throws(() => streamItem({ result: [1] }), /expected/)
      // An empty body (no stored messages) is fine.
      new JsonObjectStream().end()
    })
  })

  describe('timestamps', () => {
    it('makes received_at strings comparable whatever the number of fractional digits or the offset', () => {
      assert.equal(canonicalTime('2020-02-12T15:15:46.014773143Z'), '2020-02-12T15:15:46.014773143Z')
      assert.equal(canonicalTime('2020-02-12T15:15:46.1Z'), '2020-02-12T15:15:46.100000000Z')
      assert.equal(canonicalTime('2020-02-12T15:15:46Z'), '2020-02-12T15:15:46.000000000Z')
      assert.equal(canonicalTime('2020-02-12T17:15:46.5+02:00'), '2020-02-12T15:15:46.500000000Z')
      assert.equal(canonicalTime('yesterday'), undefined)
      assert.equal(canonicalTime(12), undefined)
      // As raw text "…46.1Z" sorts after "…46.12Z"; canonical forms sort in time order.
      assert.ok('2020-02-12T15:15:46.1Z' > '2020-02-12T15:15:46.12Z')
      assert.ok(canonicalTime('2020-02-12T15:15:46.1Z')! < canonicalTime('2020-02-12T15:15:46.12Z')!)
    })

    it('steps one nanosecond back, across second and day boundaries', () => {
      assert.equal(oneNanosecondBefore('2020-02-12T15:15:46.014773143Z'), '2020-02-12T15:15:46.014773142Z')
      assert.equal(oneNanosecondBefore('2020-02-12T15:15:46.000000000Z'), '2020-02-12T15:15:45.999999999Z')
      assert.equal(oneNanosecondBefore('2020-01-01T00:00:00.000000000Z'), '2019-12-31T23:59:59.999999999Z')
    })

    it('prints durations for warnings', () => {
      assert.equal(humanDuration(40_000), '40 s')
      assert.equal(humanDuration(5 * 60_000), '5 min')
      assert.equal(humanDuration(125 * 60_000), '2 h 5 min')
      assert.equal(humanDuration(6 * 24 * 3600_000), '6 days')
    })
  })

  describe('duplicate memory', () => {
    it('keeps exactly the last N keys (bounded, oldest forgotten first)', () => {
      const r = new RecentKeys(3)
      for (const k of ['a', 'b', 'c', 'a', 'd']) r.add(k)
      assert.equal(r.size, 3)
      assert.equal(r.has('a'), false, 'a was the oldest insertion when d came')
      assert.deepEqual(['b', 'c', 'd'].map((k) => r.has(k)), [true, true, true])
      assert.deepEqual(r.recent(2), ['c', 'd'])
      for (let i = 0; i < 10_000; i++) r.add(`k${i}`)
      assert.equal(r.size, 3)
      assert.throws(() => new RecentKeys(0), /at least 1/)
    })

    it('identifies an uplink by its as:up correlation ID and by device + f_cnt + received_at (to the microsecond)', () => {
      const id = uplinkIdentity(UP)!
      assert.equal(id.deviceId, 'dev1')
      assert.equal(id.receivedAt, '2020-02-12T15:15:46.014773143Z')
      assert.ok(id.keys.includes('as:up:01E0WZGT6Y7657CPFPE5WEYDSQ'))
      const m = new UplinkMemory(10)
      assert.equal(m.admit(id.keys, 'live'), true)
      // The same uplink from a database that keeps microseconds and lost its correlation IDs.
      const stored = { ...UP, correlation_ids: undefined, received_at: '2020-02-12T15:15:46.014773Z' }
      assert.equal(m.admit(uplinkIdentity(stored)!.keys, 'recovered'), false)
      // Same received_at and f_cnt, another device: a different uplink.
      assert.equal(m.admit(uplinkIdentity(uplink('dev2', 1, '2020-02-12T15:15:46.014773143Z'))!.keys, 'recovered'), true)
      // Another f_cnt but the same as:up ID: the same uplink (correlation wins).
      assert.equal(m.admit(uplinkIdentity(uplink('dev3', 7, '2021-01-01T00:00:00Z', 'X1'))!.keys, 'live'), true)
      assert.equal(m.admit(uplinkIdentity(uplink('dev3', 8, '2021-01-01T00:00:01Z', 'X1'))!.keys, 'recovered'), false)
      assert.equal(uplinkIdentity({ received_at: 'x', end_device_ids: { device_id: 'd' } }), undefined)
    })

    it('keeps live uplinks apart from recovered ones, so a long recovery cannot evict what arrived live', () => {
      const m = new UplinkMemory(5)
      const live = uplinkIdentity(uplink('dev1', 100, '2024-01-01T12:00:00Z', 'LIVE'))!
      assert.equal(m.admit(live.keys, 'live'), true)
      for (let i = 0; i < 50; i++) m.admit(uplinkIdentity(uplink('dev1', i, `2024-01-01T11:00:${String(i).padStart(2, '0')}Z`))!.keys, 'recovered')
      assert.equal(m.admit(live.keys, 'recovered'), false, 'the live uplink is still known when the stream reaches it')
    })
  })

  describe('options', () => {
    const ctx = { host: 'eu1.cloud.thethings.network', appId: 'app1', apiKey: 'NNSXS.TEST.KEY', api: 'v3' as const, generic: false }

    it('derives https://<MQTT host> and the retention of the public deployments', () => {
      const s = resolveRecovery({ enabled: true }, ctx)
      assert.equal(s.baseUrl, 'https://eu1.cloud.thethings.network')
      assert.equal(s.retentionMs, 24 * 3600_000)
      assert.equal(s.settleMs, 5000)
      assert.equal(s.lookbackMs, 0)
      assert.equal(resolveRecovery({ enabled: true }, { ...ctx, host: 'acme.eu1.cloud.thethings.industries' }).retentionMs, 30 * 24 * 3600_000)
      assert.equal(resolveRecovery({ enabled: true }, { ...ctx, host: 'lns.example.com' }).retentionMs, undefined)
      assert.equal(resolveRecovery({ enabled: true, baseUrl: 'http://127.0.0.1:1234' }, ctx).baseUrl, 'http://127.0.0.1:1234')
    })

    it('refuses what cannot work, saying what to change', () => {
      assert.throws(() => resolveRecovery({ enabled: true }, { ...ctx, api: 'v2' }), /needs The Things Stack \(api "v3"\)/)
      assert.throws(() => resolveRecovery({ enabled: true, baseUrl: 'https://x' }, { ...ctx, generic: true, sharedGroup: 'g' }), /shared subscription group/)
      assert.throws(() => resolveRecovery({ enabled: true }, { ...ctx, generic: true }), /set recover.baseUrl/)
      assert.throws(() => resolveRecovery({ enabled: true, lookbackMs: -1 }, ctx), /lookbackMs must be/)
      assert.throws(() => resolveRecovery({ enabled: true, memory: 0 }, ctx), /memory must be/)
      assert.throws(() => resolveRecovery({ enabled: true, resumeFrom: { after: 'x', recent: [] } }, ctx), /resumeFrom/)
    })
  })
})

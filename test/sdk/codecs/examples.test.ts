import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import {
  type CodecDefinition,
  checkCodecExamples,
  checkRepositoryExamples,
  type DeviceRepository,
  formatMismatches,
  jsonEqual,
  loadCodec,
  openDeviceRepository,
} from '../../../src/sdk/codecs'
import { FIXTURE_DIR } from '../../fixtures'

const REPO = join(FIXTURE_DIR, 'device-repository')

describe('codec examples: the Device Repository check', () => {
  let repo: DeviceRepository
  before(async () => {
    repo = await openDeviceRepository(REPO)
  })
  after(() => repo.close())

  const codecs: [string, number][] = [
    ['climate-pro-codec', 6], // 5 uplink examples + 1 normalizedOutput
    ['climate-pro-v2-codec', 1],
    ['valve-controller-codec', 5],
    ['field-logger-codec', 5],
  ]
  for (const [codecId, count] of codecs) {
    it(`${codecId}: every example matches`, async () => {
      const report = await checkRepositoryExamples(repo, 'tinkerworks', codecId, {
        endDeviceID: 'fixture',
        firmwareVersion: '1.0',
        region: 'EU863-870',
      })
      assert.equal(report.mismatches.length, 0, formatMismatches(report))
      assert.equal(report.checked, count)
    })
  }

  it('the large codec is over 40 KB, the formatter limit of The Things Stack', async () => {
    assert.ok(statSync(join(REPO, 'vendor', 'tinkerworks', 'field-logger.js')).size > 40 * 1024)
  })

  it('reports a wrong value, a missing or extra key and a wrong normalized output, as isEqual does', async () => {
    const definition = structuredClone(
      await repo.definition('tinkerworks', 'climate-pro-codec'),
    ) as CodecDefinition
    const examples = definition.uplinkDecoder?.examples ?? []
    const first = examples[0].output as { data: { temperature: number } }
    first.data.temperature = 21.8
    delete (examples[1].output as { warnings?: unknown }).warnings
    ;(examples[4].output as Record<string, unknown>).errors = []
    ;(examples[0].normalizedOutput as { data: { battery: number }[] }).data[0].battery = 3.4
    const codec = await repo.codec('tinkerworks', 'climate-pro-codec')
    const report = await checkCodecExamples(codec, definition)
    assert.deepEqual(
      report.mismatches.map((m) => `${m.routine}: ${m.description}`),
      [
        'decodeUplink: Measurement',
        'normalizeUplink: Measurement (normalized)',
        'decodeUplink: Frost, low battery and an open tamper switch',
        'decodeUplink: Settings',
      ],
    )
    assert.match(formatMismatches(report), /expected .*"temperature":21\.8.* got .*"temperature":21\.7/)
  })

  it('reports a routine that throws or is missing as a mismatch with the fault', async () => {
    const codec = loadCodec('function decodeUplink() { throw new Error("boom") }')
    try {
      const report = await checkCodecExamples(codec, {
        uplinkDecoder: {
          examples: [{ description: 'x', input: { bytes: [], fPort: 1 }, output: { data: {} } }],
        },
        downlinkEncoder: { examples: [{ description: 'y', input: { data: {} }, output: { bytes: [] } }] },
      })
      assert.deepEqual(
        report.mismatches.map((m) => m.actual),
        [{ fault: 'Error: boom' }, { fault: 'the codec has no encodeDownlink function' }],
      )
    } finally {
      codec.close()
    }
  })

  it('runs examples limited to hardware versions only for those versions', async () => {
    const codec = loadCodec('function decodeUplink() { return { data: { hw: "A" } } }')
    try {
      const definition: CodecDefinition = {
        uplinkDecoder: {
          examples: [
            {
              description: 'A',
              hardwareVersions: ['A'],
              input: { bytes: [], fPort: 1 },
              output: { data: { hw: 'A' } },
            },
            {
              description: 'B',
              hardwareVersions: ['B'],
              input: { bytes: [], fPort: 1 },
              output: { data: { hw: 'B' } },
            },
          ],
        },
      }
      assert.deepEqual(await checkCodecExamples(codec, definition, { hardwareVersion: 'A' }), {
        checked: 1,
        mismatches: [],
      })
      assert.equal((await checkCodecExamples(codec, definition)).mismatches.length, 1)
    } finally {
      codec.close()
    }
  })

  it('jsonEqual: key order does not matter, everything else does', () => {
    assert.equal(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }), true)
    assert.equal(jsonEqual({ a: 1 }, { a: 1, b: undefined }), false)
    assert.equal(jsonEqual([1, 2], [2, 1]), false)
    assert.equal(jsonEqual({ a: [] }, { a: {} }), false)
    assert.equal(jsonEqual(1, 1.0), true)
    assert.equal(jsonEqual(null, {}), false)
  })
})

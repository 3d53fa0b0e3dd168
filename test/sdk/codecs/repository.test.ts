import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DeviceRepository, openDeviceRepository, REGION_BY_BAND_ID } from '../../../src/sdk/codecs'
import { FIXTURE_DIR } from '../../fixtures'
import { RepositoryServer } from '../../support/device-repository-server'

const REPO = join(FIXTURE_DIR, 'device-repository')
const climate = (firmware = '1.0', band = 'EU_863_870') => ({
  brand_id: 'tinkerworks',
  model_id: 'climate-pro',
  firmware_version: firmware,
  hardware_version: 'A',
  band_id: band,
})
const MEASUREMENT = { bytes: [0x00, 0x08, 0x7a, 0x6e, 0x0c, 0xe4], fPort: 1 }

describe('codec repository: resolution by version_ids', () => {
  let repo: DeviceRepository
  before(async () => {
    repo = await openDeviceRepository(REPO)
  })
  after(() => repo.close())

  it('follows model → firmware version → region profile → codec → file, and decodes', async () => {
    assert.deepEqual(await repo.resolve(climate()), {
      brandId: 'tinkerworks',
      modelId: 'climate-pro',
      firmwareVersion: '1.0',
      region: 'EU863-870',
      codecId: 'climate-pro-codec',
    })
    const codec = await repo.codecFor(climate())
    assert.ok(codec)
    assert.equal(codec.name, 'tinkerworks/climate-pro-codec')
    assert.deepEqual((await codec.decodeUplink(MEASUREMENT)).data, {
      temperature: 21.7,
      humidity: 55,
      battery: 3.3,
      status: [],
    })
  })

  it('loads a codec once for every device, region and call that resolves to it', async () => {
    const eu = await repo.codecFor(climate('1.0', 'EU_863_870'))
    const us = await repo.codecFor(climate('1.0', 'US_902_928'))
    const again = await repo.codecFor({ ...climate(), hardware_version: 'B' })
    assert.equal(eu, us)
    assert.equal(eu, again)
  })

  it('picks the codec of the firmware version', async () => {
    const v2 = await repo.codecFor(climate('2.0'))
    assert.equal(v2?.name, 'tinkerworks/climate-pro-v2-codec')
    assert.equal(
      (await v2?.decodeUplink({ bytes: [0, 8, 0x7a, 0x6e, 0x0c, 0xe4, 1, 0xa4], fPort: 1 }))?.data?.co2,
      420,
    )
  })

  it('answers undefined where the repository has no codec for the device', async () => {
    for (const ids of [
      undefined,
      {},
      climate('2.0', 'US_902_928'), // firmware 2.0 has no US profile
      climate('9.9'),
      climate('1.0', 'XX_000'),
      { ...climate(), band_id: undefined },
      { ...climate(), model_id: 'no-such-model' },
      { ...climate(), brand_id: 'no-such-brand' },
      { ...climate(), brand_id: '..' },
      { ...climate(), model_id: '../../../../etc/passwd' },
    ]) {
      assert.equal(await repo.codecFor(ids as never), undefined, JSON.stringify(ids))
    }
  })

  it('takes each routine from the file its codec YAML names', async () => {
    const valve = await repo.codecFor({
      brand_id: 'tinkerworks',
      model_id: 'valve-controller',
      firmware_version: '1.2',
      band_id: 'EU_863_870',
    })
    assert.ok(valve)
    assert.deepEqual(await valve.encodeDownlink({ data: { valve: 'open', duration: 600 } }), {
      bytes: [1, 2, 88],
      fPort: 5,
      warnings: [],
      errors: [],
    })
    assert.deepEqual((await valve.decodeDownlink({ bytes: [1, 2, 88], fPort: 5 })).data, {
      valve: 'open',
      duration: 600,
    })
    assert.deepEqual((await valve.decodeUplink({ bytes: [1, 0, 125], fPort: 1 })).data, {
      valve: 'open',
      flow: 12.5,
    })
    assert.equal(valve.routines.has('normalizeUplink'), false)
  })

  it("knows The Things Stack's band IDs for the repository's regions", () => {
    assert.equal(REGION_BY_BAND_ID.EU_863_870, 'EU863-870')
    assert.equal(REGION_BY_BAND_ID.US_902_928, 'US902-928')
    assert.equal(REGION_BY_BAND_ID.AU_915_928, 'AU915-928')
    assert.equal(REGION_BY_BAND_ID.AS_923_2, 'AS923-2')
    assert.equal(Object.keys(REGION_BY_BAND_ID).length, 13)
  })
})

describe('codec repository: a broken or missing repository', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ttn-repo-'))
    cpSync(REPO, dir, { recursive: true })
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('refuses a folder that is not a Device Repository, saying what to point at', async () => {
    await assert.rejects(
      openDeviceRepository(join(dir, 'vendor')),
      /has no vendor\/index\.yaml: point at a clone of TheThingsNetwork\/lorawan-devices/,
    )
  })

  it('rejects (not undefined) when a profile names a codec file that is missing, or YAML that does not parse', async () => {
    rmSync(join(dir, 'vendor', 'tinkerworks', 'climate-pro.js'))
    writeFileSync(join(dir, 'vendor', 'tinkerworks', 'valve-controller.yaml'), 'firmwareVersions: [ {')
    const repo = await openDeviceRepository(dir)
    try {
      await assert.rejects(
        repo.codecFor(climate()),
        /vendor\/tinkerworks\/climate-pro\.js \(uplinkDecoder of codec climate-pro-codec\) is missing/,
      )
      await assert.rejects(
        repo.codecFor({
          brand_id: 'tinkerworks',
          model_id: 'valve-controller',
          firmware_version: '1.2',
          band_id: 'EU_863_870',
        }),
        /valve-controller\.yaml is not valid YAML/,
      )
    } finally {
      repo.close()
    }
  })

  it('rejects a codec whose script does not load, naming the file', async () => {
    writeFileSync(join(dir, 'vendor', 'tinkerworks', 'climate-pro.js'), 'function decodeUplink(input) {')
    const repo = await openDeviceRepository(dir)
    try {
      await assert.rejects(repo.codecFor(climate()), /vendor\/tinkerworks\/climate-pro\.js: SyntaxError/)
    } finally {
      repo.close()
    }
  })

  it('tries a failed lookup again after retryAfterMs', async () => {
    const file = join(dir, 'vendor', 'tinkerworks', 'climate-pro.js')
    const good = require('node:fs').readFileSync(file, 'utf8') as string
    rmSync(file)
    const repo = await openDeviceRepository(dir, { retryAfterMs: 30 })
    try {
      await assert.rejects(repo.codecFor(climate()), /is missing/)
      writeFileSync(file, good)
      await new Promise((r) => setTimeout(r, 60))
      assert.equal((await repo.codecFor(climate()))?.name, 'tinkerworks/climate-pro-codec')
    } finally {
      repo.close()
    }
  })
})

describe('codec repository: online, fetched on demand and cached on disk', () => {
  let server: RepositoryServer
  let cacheDir: string
  beforeEach(async () => {
    server = await RepositoryServer.start(REPO)
    cacheDir = mkdtempSync(join(tmpdir(), 'ttn-repo-cache-'))
  })
  afterEach(async () => {
    await server.stop()
    rmSync(cacheDir, { recursive: true, force: true })
  })

  it('fetches only the files one resolution needs, once however many uplinks ask at the same time', async () => {
    const repo = await openDeviceRepository(server.baseUrl, { cacheDir })
    try {
      const codecs = await Promise.all(Array.from({ length: 10 }, () => repo.codecFor(climate())))
      assert.ok(codecs.every((c) => c === codecs[0] && c !== undefined))
      assert.deepEqual(Object.fromEntries(server.requests), {
        'vendor/tinkerworks/climate-pro.yaml': 1,
        'vendor/tinkerworks/climate-pro-codec.yaml': 1,
        'vendor/tinkerworks/climate-pro.js': 1,
      })
      assert.equal((await codecs[0]?.decodeUplink(MEASUREMENT))?.data?.temperature, 21.7)
    } finally {
      repo.close()
    }
  })

  it('serves a later start from the disk cache without a request; fetches again once the cache is older than maxAgeMs', async () => {
    const first = await openDeviceRepository(server.baseUrl, { cacheDir })
    await first.codecFor(climate())
    first.close()
    const before = server.total()
    const second = await openDeviceRepository(server.baseUrl, { cacheDir })
    try {
      assert.equal((await second.codecFor(climate()))?.name, 'tinkerworks/climate-pro-codec')
      assert.equal(server.total(), before, 'no request: everything came from the cache')
    } finally {
      second.close()
    }
    const third = await openDeviceRepository(server.baseUrl, { cacheDir, maxAgeMs: 0 })
    try {
      await third.codecFor(climate())
      assert.equal(server.total(), before + 3)
    } finally {
      third.close()
    }
  })

  it('answers undefined for a model the repository does not have (404)', async () => {
    const repo = await openDeviceRepository(server.baseUrl, { cacheDir })
    try {
      assert.equal(await repo.codecFor({ ...climate(), model_id: 'unknown-model' }), undefined)
      assert.equal(server.requests.get('vendor/tinkerworks/unknown-model.yaml'), 1)
    } finally {
      repo.close()
    }
  })

  it('uses a stale cached copy when the server cannot be reached, and says so when there is none', async () => {
    const warm = await openDeviceRepository(server.baseUrl, { cacheDir })
    await warm.codecFor(climate())
    warm.close()
    const baseUrl = server.baseUrl
    await server.stop()
    const offline = await openDeviceRepository(baseUrl, { cacheDir, maxAgeMs: 0, requestTimeoutMs: 2000 })
    try {
      assert.equal((await offline.codecFor(climate()))?.name, 'tinkerworks/climate-pro-codec')
      await assert.rejects(
        offline.codecFor(climate('2.0')),
        /could not fetch http:\/\/127\.0\.0\.1:\d+\/TheThingsNetwork\/lorawan-devices\/master\/vendor\/tinkerworks\/climate-pro-v2-codec\.yaml/,
      )
    } finally {
      offline.close()
    }
    server = await RepositoryServer.start(REPO)
  })

  it('refuses a base URL that is not http(s)', async () => {
    await assert.rejects(openDeviceRepository('ftp://example.com/'), /has no vendor\/index\.yaml|not an http/)
  })
})

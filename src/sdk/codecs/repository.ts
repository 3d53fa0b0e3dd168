/**
 * openDeviceRepository: the codec for an uplink's version_ids, resolved exactly as the Device
 * Repository lays it out:
 *   vendor/<brand_id>/<model_id>.yaml → firmwareVersions[version = firmware_version]
 *   → profiles[region of band_id] → codec → vendor/<brand_id>/<codec>.yaml
 *   → uplinkDecoder / downlinkEncoder / downlinkDecoder .fileName → vendor/<brand_id>/<fileName>
 * Each codec is loaded (compiled) once and shared by every device that resolves to it.
 */
import { parse as parseYaml } from 'yaml'
import { JavaScriptCodec } from './javascript-codec'
import { regionOfBand } from './regions'
import {
  DEVICE_REPOSITORY_URL,
  FolderSource,
  OnlineSource,
  type OnlineSourceOptions,
  type RepositorySource,
} from './repository-source'
import type { Codec, SandboxLimits, ScriptSources, VersionIds } from './types'

/** A codec YAML's definition of one routine. */
export interface CodecRoutineDefinition {
  fileName?: string
  examples?: CodecExample[]
}
export interface CodecExample {
  description?: string
  input?: unknown
  output?: unknown
  normalizedOutput?: unknown
  hardwareVersions?: string[]
}
export interface CodecDefinition {
  uplinkDecoder?: CodecRoutineDefinition
  downlinkEncoder?: CodecRoutineDefinition
  downlinkDecoder?: CodecRoutineDefinition
  [key: string]: unknown
}

/** Where a resolution ended up: the codec, and the path that led there (for messages and examples). */
export interface ResolvedCodec {
  brandId: string
  modelId: string
  firmwareVersion: string
  region: string
  codecId: string
}

export interface DeviceRepositoryOptions extends SandboxLimits, OnlineSourceOptions {
  /** After a failed lookup (network, broken file), how long before it is tried again, in ms (default 60 s). */
  retryAfterMs?: number
}

export interface DeviceRepository {
  /** The folder or URL the files come from. */
  readonly location: string
  /** The codec for these version_ids, or undefined when the repository has none for them. */
  codecFor(versionIds: VersionIds | undefined): Promise<Codec | undefined>
  /** Where codecFor(versionIds) leads, without loading the codec; undefined where the chain breaks. */
  resolve(versionIds: VersionIds | undefined): Promise<ResolvedCodec | undefined>
  /** A codec by its ID in a vendor's folder, and its parsed YAML (for the examples check). */
  codec(brandId: string, codecId: string): Promise<Codec>
  definition(brandId: string, codecId: string): Promise<CodecDefinition>
  /** Free every loaded codec. */
  close(): void
}

/** IDs in the repository are lower-case slugs; anything else is not looked up (and cannot escape vendor/). */
const ID = /^[a-z0-9][a-z0-9._-]*$/i

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

class Repository implements DeviceRepository {
  private readonly codecs = new Map<string, Promise<Codec>>()
  private readonly byVersion = new Map<string, Promise<Codec | undefined>>()
  private readonly yamlCache = new Map<string, Promise<unknown>>()
  private closed = false

  constructor(
    private readonly source: RepositorySource,
    private readonly options: DeviceRepositoryOptions,
  ) {}

  get location(): string {
    return this.source.location
  }

  /** Remember a promise; forget it if it fails, after a while, so a fixed file or network is seen. */
  private remember<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
    let p = map.get(key)
    if (!p) {
      p = make()
      map.set(key, p)
      const retryMs = this.options.retryAfterMs ?? 60_000
      p.catch(() => {
        const timer = setTimeout(() => {
          if (map.get(key) === p) map.delete(key)
        }, retryMs)
        timer.unref()
      })
    }
    return p
  }

  private yaml(path: string): Promise<unknown> {
    return this.remember(this.yamlCache, path, async () => {
      const text = await this.source.read(path)
      if (text === undefined) return undefined
      try {
        return parseYaml(text)
      } catch (err) {
        throw new Error(
          `Device Repository: ${this.source.location} ${path} is not valid YAML: ${(err as Error).message}`,
        )
      }
    })
  }

  async resolve(ids: VersionIds | undefined): Promise<ResolvedCodec | undefined> {
    const brandId = ids?.brand_id
    const modelId = ids?.model_id
    const firmwareVersion = ids?.firmware_version
    const region = regionOfBand(ids?.band_id)
    if (typeof brandId !== 'string' || typeof modelId !== 'string' || !ID.test(brandId) || !ID.test(modelId))
      return undefined
    if (typeof firmwareVersion !== 'string' || !region) return undefined
    const model = await this.yaml(`vendor/${brandId}/${modelId}.yaml`)
    if (!isObject(model) || !Array.isArray(model.firmwareVersions)) return undefined
    // YAML may read an unquoted version (1.0) as a number: compare as text, as the server's string does.
    const version = model.firmwareVersions.find((v) => isObject(v) && String(v.version) === firmwareVersion)
    if (!isObject(version) || !isObject(version.profiles)) return undefined
    const profile = version.profiles[region]
    if (!isObject(profile) || typeof profile.codec !== 'string' || !ID.test(profile.codec)) return undefined
    return { brandId, modelId, firmwareVersion, region, codecId: profile.codec }
  }

  codecFor(ids: VersionIds | undefined): Promise<Codec | undefined> {
    if (this.closed) return Promise.reject(new Error('Device Repository: closed'))
    const key = `${ids?.brand_id}\n${ids?.model_id}\n${ids?.firmware_version}\n${ids?.band_id}`
    return this.remember(this.byVersion, key, async () => {
      const found = await this.resolve(ids)
      return found ? this.codec(found.brandId, found.codecId) : undefined
    })
  }

  async definition(brandId: string, codecId: string): Promise<CodecDefinition> {
    if (!ID.test(brandId) || !ID.test(codecId))
      throw new Error(`Device Repository: bad codec ID ${brandId}/${codecId}`)
    const path = `vendor/${brandId}/${codecId}.yaml`
    const def = await this.yaml(path)
    if (def === undefined)
      throw new Error(
        `Device Repository: ${path} is missing from ${this.source.location} (a profile names codec ${codecId})`,
      )
    if (!isObject(def)) throw new Error(`Device Repository: ${path} is not a codec definition`)
    return def as CodecDefinition
  }

  codec(brandId: string, codecId: string): Promise<Codec> {
    if (this.closed) return Promise.reject(new Error('Device Repository: closed'))
    return this.remember(this.codecs, `${brandId}/${codecId}`, async () => {
      const def = await this.definition(brandId, codecId)
      const sources: ScriptSources = {}
      const fileNames: Partial<Record<keyof ScriptSources, string>> = {}
      for (const key of ['uplinkDecoder', 'downlinkEncoder', 'downlinkDecoder'] as const) {
        const fileName = def[key]?.fileName
        if (fileName === undefined) continue
        if (typeof fileName !== 'string')
          throw new Error(
            `Device Repository: vendor/${brandId}/${codecId}.yaml: ${key}.fileName must be a file name`,
          )
        const path = `vendor/${brandId}/${fileName}`
        const text = await this.source.read(path)
        if (text === undefined)
          throw new Error(
            `Device Repository: ${path} (${key} of codec ${codecId}) is missing from ${this.source.location}`,
          )
        sources[key] = text
        fileNames[key] = path
      }
      if (!sources.uplinkDecoder && !sources.downlinkEncoder && !sources.downlinkDecoder) {
        throw new Error(
          `Device Repository: vendor/${brandId}/${codecId}.yaml defines no uplinkDecoder, downlinkEncoder or downlinkDecoder`,
        )
      }
      const codec = new JavaScriptCodec(`${brandId}/${codecId}`, sources, fileNames, this.options)
      await codec.ready
      if (this.closed) codec.close()
      return codec
    })
  }

  close(): void {
    this.closed = true
    for (const p of this.codecs.values())
      p.then(
        (c) => c.close(),
        () => undefined,
      )
    this.codecs.clear()
    this.byVersion.clear()
    this.yamlCache.clear()
  }
}

/**
 * Open the Device Repository in `location`: a folder (a clone of TheThingsNetwork/lorawan-devices,
 * the one that holds vendor/), or an http(s) URL of its raw files, fetched on demand and cached on
 * disk (DEVICE_REPOSITORY_URL is the public one).
 */
export async function openDeviceRepository(
  location: string = DEVICE_REPOSITORY_URL,
  options: DeviceRepositoryOptions = {},
): Promise<DeviceRepository> {
  if (typeof location !== 'string' || !location.trim())
    throw new TypeError('openDeviceRepository: give a folder (a clone of lorawan-devices) or an https:// URL')
  if (/^https?:\/\//i.test(location)) return new Repository(new OnlineSource(location, options), options)
  const source = new FolderSource(location)
  const index = await source.read('vendor/index.yaml')
  if (index === undefined) {
    throw new Error(
      `Device Repository: ${source.location} has no vendor/index.yaml: point at a clone of TheThingsNetwork/lorawan-devices (the folder that holds vendor/)`,
    )
  }
  return new Repository(source, options)
}

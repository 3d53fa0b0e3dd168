/**
 * Which codec a ttn-uplink or ttn-downlink node runs: the Device Repository's for each device (by its
 * version_ids), the JavaScript written in the node, or Cayenne LPP. Lookups are cached here so that,
 * once a device's codec is known, finding it again costs one Map lookup and no Promise.
 */
import { type Codec, loadCodec } from '../sdk/codecs'
import type { VersionIds } from '../sdk/codecs/types'
import type { CodecHost } from './codec-repo'

/** Node-RED's translator (RED._), so every text a user sees comes from the catalogs. */
export type Translate = (key: string, substitutions?: Record<string, unknown>) => string

export type CodecKind = 'repository' | 'javascript' | 'cayennelpp'

export interface CodecChoiceConfig {
  codec?: CodecKind
  codecScript?: string
}

/** The codec, or why there is none (a message for the user). */
export type CodecLookup = { codec: Codec } | { problem: string }

export interface CodecChoice {
  readonly kind: CodecKind
  /** Sync once the codec is known; a Promise while it loads. */
  lookup(versionIds: VersionIds | undefined, deviceId: string | undefined): CodecLookup | Promise<CodecLookup>
  close(): void
}

function versionKey(v: VersionIds | undefined): string {
  return v ? `${v.brand_id}/${v.model_id}/${v.firmware_version}/${v.band_id}` : ''
}

function describeVersion(v: VersionIds | undefined): string {
  return v
    ? `${v.brand_id ?? '?'}/${v.model_id ?? '?'} firmware ${v.firmware_version ?? '?'} band ${v.band_id ?? '?'}`
    : 'none'
}

/** A codec written in the node, or Cayenne LPP: loaded once per deploy. */
function fixedChoice(
  kind: 'javascript' | 'cayennelpp',
  load: Promise<Codec>,
  nodeName: string,
  t: Translate,
): CodecChoice {
  let known: CodecLookup | undefined
  const ready = load.then(
    (codec) => {
      known = { codec }
      return known
    },
    (err: Error) => {
      known = { problem: t('ttn.errors.codecNotLoaded', { node: nodeName, reason: err.message }) }
      return known
    },
  )
  return {
    kind,
    lookup: () => known ?? ready,
    close: () => {
      ready.then((l) => ('codec' in l ? l.codec.close() : undefined))
    },
  }
}

function repositoryChoice(host: CodecHost, t: Translate): CodecChoice {
  const known = new Map<string, CodecLookup>()
  return {
    kind: 'repository',
    lookup(versionIds, deviceId) {
      const key = versionKey(versionIds)
      const hit = known.get(key)
      if (hit) return hit
      if (!versionIds?.brand_id || !versionIds.model_id) {
        return { problem: t('ttn.errors.codecNoVersion', { deviceId: deviceId ?? '?' }) }
      }
      return host
        .deviceRepository()
        .then((repo) => repo.codecFor(versionIds))
        .then(
          (codec): CodecLookup => {
            const lookup: CodecLookup = codec
              ? { codec }
              : {
                  problem: t('ttn.errors.codecNotInRepository', {
                    location: host.codecRepoLocation,
                    version: describeVersion(versionIds),
                  }),
                }
            known.set(key, lookup)
            return lookup
          },
          // Not cached: the repository retries failed lookups after a while (a network error may pass).
          (err: Error): CodecLookup => ({ problem: err.message }),
        )
    },
    close: () => known.clear(),
  }
}

export function chooseCodec(
  config: CodecChoiceConfig,
  host: CodecHost,
  nodeName: string,
  t: Translate,
): CodecChoice {
  const kind: CodecKind =
    config.codec === 'javascript' || config.codec === 'cayennelpp' ? config.codec : 'repository'
  const ready = (codec: Codec) => codec.ready.then(() => codec)
  if (kind === 'cayennelpp') return fixedChoice(kind, ready(loadCodec({ type: 'cayennelpp' })), nodeName, t)
  if (kind === 'javascript') {
    const script = config.codecScript ?? ''
    const load = script.trim()
      ? ready(loadCodec({ type: 'javascript', script, name: `JavaScript of ${nodeName}` }, host.codecLimits))
      : Promise.reject(new Error(t('ttn.errors.codecEmpty')))
    return fixedChoice(kind, load, nodeName, t)
  }
  return repositoryChoice(host, t)
}

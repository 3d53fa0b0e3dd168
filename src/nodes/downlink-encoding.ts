/**
 * ttn-downlink's Encode setting: `local` runs the codec's encodeDownlink on msg.payload here and
 * sends the bytes and FPort it returns (`server`, the default, sends msg.payload for the server's
 * formatter). For a Device Repository codec the device's version_ids come from msg.versionIds, from
 * msg.ttn (an uplink passed through) or from the device's last uplink this application saw. Encoder
 * errors reject: the node calls done(err), so they reach Catch, and nothing is published.
 */
import type { Delivery } from '../sdk/client'
import type { VersionIds } from '../sdk/codecs/types'
import type { UplinkMessage } from '../sdk/messages'
import { deviceIdOf, isV3Uplink } from '../sdk/uplink'
import { type CodecChoiceConfig, chooseCodec, type Translate } from './codec-choice'
import type { CodecHost } from './codec-repo'
import type { NodeMessage } from './red'

export interface DownlinkEncodingConfig extends CodecChoiceConfig {
  encode?: 'server' | 'local'
}

export interface EncodedDownlink {
  bytes: Buffer
  /** The codec's FPort, when it chose one. */
  fPort?: number
  warnings: string[]
}

export interface DownlinkEncoding {
  encode(msg: NodeMessage, deviceId: string, port: unknown): Promise<EncodedDownlink>
  close(): void
}

interface UplinkSource {
  onUplink(deviceId: string | undefined, listener: (d: Delivery<UplinkMessage>) => void): () => void
}

export function createDownlinkEncoding(
  t: Translate,
  config: DownlinkEncodingConfig & { name?: string },
  host: CodecHost,
  uplinks: UplinkSource,
  nodeId: string,
): DownlinkEncoding | undefined {
  if (config.encode !== 'local') return undefined
  const nodeName = config.name?.trim() ? `"${config.name.trim()}"` : `ttn-downlink ${nodeId}`
  const choice = chooseCodec(config, host, nodeName, t)
  // Only a repository codec needs version_ids; then remember each device's from its uplinks.
  const lastVersions = new Map<string, VersionIds>()
  const stopWatching =
    choice.kind === 'repository'
      ? uplinks.onUplink(undefined, (d) => {
          const m = d.message
          const ids = isV3Uplink(m) ? m.uplink_message.version_ids : undefined
          const id = deviceIdOf(m)
          if (ids && id) lastVersions.set(id, { ...ids })
        })
      : undefined

  const versionIdsFor = (msg: NodeMessage, deviceId: string): VersionIds | undefined => {
    if (msg.versionIds && typeof msg.versionIds === 'object') return msg.versionIds as VersionIds
    const ttn = msg.ttn
    if (isV3Uplink(ttn) && ttn.uplink_message.version_ids && deviceIdOf(ttn) === deviceId)
      return ttn.uplink_message.version_ids
    return lastVersions.get(deviceId)
  }

  return {
    async encode(msg, deviceId, port) {
      const data = msg.payload
      if (!data || typeof data !== 'object' || Array.isArray(data) || Buffer.isBuffer(data)) {
        throw new Error(
          t('ttn.errors.encodePayload', { value: Buffer.isBuffer(data) ? 'a Buffer' : JSON.stringify(data) }),
        )
      }
      const lookup = await choice.lookup(versionIdsFor(msg, deviceId), deviceId)
      if ('problem' in lookup) {
        const hint = choice.kind === 'repository' ? t('ttn.errors.encodeNoVersionHint') : ''
        throw new Error(t('ttn.errors.encodeNoCodec', { deviceId, reason: lookup.problem + hint }))
      }
      const { codec } = lookup
      const n = Number(port)
      const result = await codec.encodeDownlink({
        data: data as Record<string, unknown>,
        ...(Number.isInteger(n) ? { fPort: n } : {}),
      })
      msg.codec = { name: codec.name, warnings: result.warnings, errors: result.errors }
      if (!result.bytes)
        throw new Error(
          t('ttn.errors.codecFailed', { deviceId, codec: codec.name, reason: result.errors.join('; ') }),
        )
      return { bytes: Buffer.from(result.bytes), fPort: result.fPort, warnings: result.warnings }
    },
    close() {
      stopWatching?.()
      choice.close()
    },
  }
}

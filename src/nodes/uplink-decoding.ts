/**
 * ttn-uplink's Decode setting: `fallback` decodes locally when the server sent no decoded_payload
 * (no formatter, or it failed), `local` always. The message is sent with msg.payload = the codec's
 * data (output auto), msg.decodedBy = 'server' | 'local' and msg.codec = { name, warnings, errors }.
 * Codec errors also go to Catch (node.error with the message), naming the device and the codec; the
 * uplink is still sent, with the bytes, as The Things Stack forwards an uplink its formatter failed on.
 *
 * Messages leave in the order they arrived: while one waits for its codec (first use: loading,
 * fetching), later ones queue behind it. Once codecs are known, decoding is synchronous.
 */
import type { DecodeResult } from '../sdk/codecs/types'
import type { UplinkMessage } from '../sdk/messages'
import { isV3Uplink } from '../sdk/uplink'
import { type CodecChoice, type CodecChoiceConfig, chooseCodec, type Translate } from './codec-choice'
import type { CodecHost } from './codec-repo'
import type { NodeInstance, NodeMessage } from './red'

export type DecodeMode = 'server' | 'fallback' | 'local'

export interface UplinkDecodingConfig extends CodecChoiceConfig {
  name?: string
  decode?: DecodeMode
  output?: 'auto' | 'bytes' | 'message'
}

export interface UplinkDecoding {
  handle(msg: NodeMessage, send: (msg: NodeMessage) => void): void
  close(): void
}

function versionIdsOf(message: unknown) {
  return isV3Uplink(message) ? message.uplink_message.version_ids : undefined
}

/** Undefined for decode = server: then ttn-uplink does exactly what it did before, at no cost. */
export function createUplinkDecoding(
  t: Translate,
  node: NodeInstance,
  config: UplinkDecodingConfig,
  host: CodecHost | undefined,
): UplinkDecoding | undefined {
  const mode = config.decode === 'fallback' || config.decode === 'local' ? config.decode : 'server'
  if (mode === 'server') return undefined
  const nodeName = config.name?.trim() ? `"${config.name.trim()}"` : `ttn-uplink ${node.id}`
  const choice: CodecChoice | undefined = host ? chooseCodec(config, host, nodeName, t) : undefined
  const payloadIsDecoded = (config.output ?? 'auto') === 'auto'
  const reported = new Set<string>()
  let tail: Promise<void> | undefined

  const apply = (
    msg: NodeMessage,
    name: string | undefined,
    result: DecodeResult,
    problemIsSetup: boolean,
  ) => {
    msg.codec = { name, warnings: result.warnings, errors: result.errors }
    if (result.data) {
      msg.decoded = result.data
      msg.decodedBy = 'local'
      if (payloadIsDecoded) msg.payload = result.data
      return
    }
    msg.decodedBy = msg.decoded ? 'server' : undefined
    const deviceId = (msg.deviceId as string | undefined) ?? '?'
    const text = t('ttn.errors.codecFailed', {
      deviceId,
      codec: name ?? '-',
      reason: result.errors.join('; '),
    })
    // A setup problem (no codec for this device) is logged once per device; payload errors every time.
    if (problemIsSetup) {
      if (reported.has(deviceId)) return
      reported.add(deviceId)
    }
    node.error(text, msg)
  }

  /** Decode into msg; returns a Promise only while the codec is not known yet. */
  const decodeInto = (msg: NodeMessage): void | Promise<void> => {
    const message = msg.ttn as UplinkMessage
    if (!choice) {
      apply(msg, undefined, { warnings: [], errors: [t('ttn.errors.noApp')] }, true)
      return
    }
    const found = choice.lookup(versionIdsOf(message), msg.deviceId as string | undefined)
    const withCodec = (lookup: Awaited<typeof found>): void | Promise<void> => {
      if ('problem' in lookup) {
        apply(msg, undefined, { warnings: [], errors: [lookup.problem] }, true)
        return
      }
      const { codec } = lookup
      const bytes = msg.bytes as Buffer
      const result = codec.decodeUplink({
        bytes,
        fPort: msg.port as number,
        recvTime: msg.receivedAt as string | undefined,
      })
      if (result instanceof Promise) return result.then((r) => apply(msg, codec.name, r, false))
      apply(msg, codec.name, result, false)
    }
    return found instanceof Promise ? found.then(withCodec) : withCodec(found)
  }

  /** The server's decoded_payload is used as is in fallback mode; FPort 0 is not decoded. */
  const step = (msg: NodeMessage): void | Promise<void> => {
    if (mode === 'fallback' && msg.decoded) {
      msg.decodedBy = 'server'
      return
    }
    // FPort 0 carries MAC commands, no application payload: the server runs no formatter on it either.
    if (msg.port === 0) return
    return decodeInto(msg)
  }

  /** Queue msg behind `after`; an unexpected failure still sends the message, with the reason. */
  const enqueue = (after: Promise<void>, msg: NodeMessage, send: (m: NodeMessage) => void) => {
    const next: Promise<void> = after
      .catch((err: Error) => apply(msg, undefined, { warnings: [], errors: [err.message] }, false))
      .then(() => {
        if (tail === next) tail = undefined
        send(msg)
      })
    tail = next
  }

  return {
    handle(msg, send) {
      if (tail) {
        enqueue(
          tail.then(() => step(msg)),
          msg,
          send,
        )
        return
      }
      const pending = step(msg)
      if (pending) enqueue(pending, msg, send)
      else send(msg)
    },
    close() {
      choice?.close()
    },
  }
}

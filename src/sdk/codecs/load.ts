/**
 * loadCodec: a codec from JavaScript in the formatter format, or the built-in Cayenne LPP. It returns
 * the codec at once (its engine starts in the background; `await codec.ready` to see a script that
 * does not load); every method returns a value, or a Promise while the engine is starting.
 */
import { CayenneLppCodec } from './cayenne-lpp'
import { JavaScriptCodec } from './javascript-codec'
import type { Codec, CodecSource, LoadCodecOptions } from './types'

export function loadCodec(source: CodecSource, options: LoadCodecOptions = {}): Codec {
  if (typeof source === 'string') source = { type: 'javascript', script: source }
  if (!source || typeof source !== 'object') {
    throw new TypeError(
      'loadCodec: the source must be JavaScript text, { type: "javascript", script } or { type: "cayennelpp" }',
    )
  }
  if (source.type === 'cayennelpp') return new CayenneLppCodec(options.name)
  if (source.type !== 'javascript') {
    throw new TypeError(
      `loadCodec: unknown source type ${JSON.stringify((source as { type?: unknown }).type)}: use "javascript" or "cayennelpp"`,
    )
  }
  const name = options.name ?? source.name ?? 'javascript'
  if ('script' in source) {
    if (typeof source.script !== 'string' || !source.script.trim())
      throw new TypeError(
        'loadCodec: the script is empty: write decodeUplink(input) and/or encodeDownlink(input)',
      )
    const s = source.script
    return new JavaScriptCodec(
      name,
      { uplinkDecoder: s, downlinkEncoder: s, downlinkDecoder: s },
      { uplinkDecoder: `${name}.js`, downlinkEncoder: `${name}.js`, downlinkDecoder: `${name}.js` },
      options,
    )
  }
  return new JavaScriptCodec(name, source.scripts, {}, options)
}

/** Payload codecs: The Things Stack's formatters, run locally and sandboxed. */
export { loadCodec } from './load'
export { CodecLoadError, DEFAULT_LIMITS } from './sandbox'
export type * from './types'
